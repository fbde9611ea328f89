//! Recent problems: a durable, bounded record of what went wrong, per Page
//! (the App Dashboard's "Show recent errors", for every Page the host
//! serves): refused webhooks, plugin failures, Graph API errors, dead
//! letters and circuits opened. `GET /admin/errors` and `switchboard
//! errors` read it.
//!
//! [`ProblemLog`] is the sending side every layer above the store holds.
//! Recording never waits: a problem goes into a bounded queue (dropped,
//! with a debug line in the log, when it is full) that one task drains
//! into the store, a batch per group commit. A flood of one problem (a
//! stream of forged webhooks, a plugin failing on every event) is recorded
//! at most [`PER_SECOND`] times a second per Page, kind, class and plugin,
//! the rest counted in the next record's `repeated`: the store is not
//! flooded, and other problems still get their records. A problem that
//! lasts for minutes does push a Page's older problems out of its ring. The store keeps the last [`KEPT_PER_PAGE`] per Page, and as
//! many for the host's own (a refused webhook names no Page it can be
//! trusted with).
//!
//! Dead letters are written by the store itself, in the transaction that
//! makes the event dead, so none is missing from the record.
//!
//! The drain also raises the alerts problems call for
//! ([`crate::telemetry::alerts`]): circuits opened, a token refused, and
//! dead letters (filed here for that alone), before any rate limit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use super::{Store, WriteOp};
use crate::telemetry::{Alert, AlertKind, Alerts};

/// Problems kept per Page (and for the host), the oldest dropped first.
pub const KEPT_PER_PAGE: usize = 500;
/// Problems of one kind recorded per Page and second; more are counted.
pub const PER_SECOND: u32 = 5;
/// The longest message kept, in bytes (a plugin's error can be long).
pub const MESSAGE_LIMIT: usize = 1024;
/// Problems waiting for the store; more are dropped.
const QUEUE: usize = 4096;

/// `message` cut to at most [`MESSAGE_LIMIT`] bytes (ending in `…` if
/// cut), with control characters (a terminal's escapes, a forged line
/// break) replaced: problems are printed to operators' terminals, and some
/// text in them comes from outside (a URL's app id, a plugin's error).
pub fn capped(message: String) -> String {
    let mut message = if message.chars().any(char::is_control) {
        message.chars().map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect()
    } else {
        message
    };
    if message.len() > MESSAGE_LIMIT {
        let mut end = MESSAGE_LIMIT - '…'.len_utf8();
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A webhook or an event of one refused: bad signature, unknown app or
    /// Page, too large, malformed, replayed, the queue full.
    WebhookRefused,
    /// A plugin call failed (`class`: trap, timeout, fuel, memory...).
    PluginFailed,
    PluginCircuitOpened,
    /// The Graph API refused a call (`code`, `subcode`, `fbtrace_id`).
    GraphError,
    PageCircuitOpened,
    /// An event failed for good.
    DeadLetter,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 6] = [
        ProblemKind::WebhookRefused,
        ProblemKind::PluginFailed,
        ProblemKind::PluginCircuitOpened,
        ProblemKind::GraphError,
        ProblemKind::PageCircuitOpened,
        ProblemKind::DeadLetter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::WebhookRefused => "webhook_refused",
            ProblemKind::PluginFailed => "plugin_failed",
            ProblemKind::PluginCircuitOpened => "plugin_circuit_opened",
            ProblemKind::GraphError => "graph_error",
            ProblemKind::PageCircuitOpened => "page_circuit_opened",
            ProblemKind::DeadLetter => "dead_letter",
        }
    }

    pub fn parse(text: &str) -> Option<ProblemKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One problem, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// When it happened (epoch µs), not when it reached the store: the
    /// record is ordered by it, so a failure comes before the dead letter
    /// it caused (milliseconds would tie).
    #[serde(skip)]
    pub at_us: i64,
    /// The Page it concerns; `None` for the host's own (a webhook refused
    /// before any Page could be trusted from it).
    #[serde(rename = "page")]
    pub page_id: Option<String>,
    pub kind: ProblemKind,
    /// A finer cause: the refusal's reason, the failure's class, the Graph
    /// error's class.
    pub class: Option<String>,
    pub plugin: Option<String>,
    #[serde(rename = "event")]
    pub event_id: Option<String>,
    /// At most [`MESSAGE_LIMIT`] bytes.
    pub message: String,
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    pub fbtrace_id: Option<String>,
}

impl Problem {
    pub fn new(page_id: Option<&str>, kind: ProblemKind, message: impl Into<String>) -> Problem {
        let message = capped(message.into());
        Problem {
            at_us: now_us(),
            page_id: page_id.map(str::to_string),
            kind,
            class: None,
            plugin: None,
            event_id: None,
            message,
            code: None,
            subcode: None,
            fbtrace_id: None,
        }
    }

    pub fn class(mut self, class: &str) -> Problem {
        self.class = Some(class.to_string());
        self
    }

    pub fn plugin(mut self, plugin: &str) -> Problem {
        self.plugin = Some(plugin.to_string());
        self
    }

    pub fn event(mut self, event_id: &str) -> Problem {
        self.event_id = Some(event_id.to_string());
        self
    }
}

/// Now, in microseconds since the epoch.
pub fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// A problem as the store keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedProblem {
    /// Increasing in the order problems reached the store: `?after=` the
    /// largest id seen reads what came since.
    pub id: i64,
    /// When it happened, in epoch milliseconds.
    pub at_ms: i64,
    /// Similar problems (same Page and kind) not recorded one by one just
    /// before this one.
    pub repeated: u32,
    #[serde(flatten)]
    pub problem: Problem,
}

/// Which problems to read: the newest `limit` matching, oldest first (by
/// when they happened).
#[derive(Debug, Clone, Default)]
pub struct ProblemQuery {
    /// `None`: every Page's and the host's own.
    pub page_id: Option<String>,
    /// Only ids above this one.
    pub after_id: i64,
    /// Only problems recorded at or after this time.
    pub since_ms: i64,
    pub limit: usize,
}

impl ProblemQuery {
    /// The page filter for what an operator wrote: a Page id, or `host` for
    /// the host's own problems (kept under the empty id).
    pub fn page_key(page: &str) -> String {
        if page == "host" {
            String::new()
        } else {
            page.to_string()
        }
    }

    /// Reads `since` as a time: an age (`90s`, `15m`, `2h`, `3days`), an
    /// RFC 3339 time (`2026-12-03T10:00:00Z`) or milliseconds since the
    /// epoch; gives the earliest time in milliseconds since the epoch.
    pub fn parse_since(since: &str, now_ms: u64) -> Result<i64, String> {
        let since = since.trim();
        if !since.is_empty() && since.bytes().all(|b| b.is_ascii_digit()) {
            return since.parse().map_err(|_| format!("`{since}` is too large for milliseconds since the epoch"));
        }
        if let Ok(age) = humantime::parse_duration(since) {
            return Ok(now_ms.saturating_sub(age.as_millis() as u64) as i64);
        }
        match humantime::parse_rfc3339_weak(since) {
            Ok(at) => Ok(at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)),
            Err(_) => {
                Err(format!("since: `{since}` is neither an age (15m, 2h, 3days), an RFC 3339 time nor milliseconds since the epoch"))
            }
        }
    }
}

impl RecordedProblem {
    /// When it was recorded, as an RFC 3339 time in UTC.
    pub fn at(&self) -> String {
        let at = std::time::UNIX_EPOCH + Duration::from_millis(self.at_ms.max(0) as u64);
        humantime::format_rfc3339_seconds(at).to_string()
    }

    /// As `GET /admin/errors` and `switchboard errors --json` show it: its
    /// fields, and `at`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut item = serde_json::json!(self);
        item["at"] = serde_json::json!(self.at());
        item
    }
}

/// Where the host files problems. Cheap to clone; `ProblemLog::default()`
/// files nothing (tools, and tests that build parts of a host alone).
#[derive(Clone, Default)]
pub struct ProblemLog(Option<mpsc::Sender<Filed>>);

/// What goes through the log's queue.
enum Filed {
    Problem(Problem),
    /// A dead letter, which the store records itself: for the alerts only.
    DeadLetter {
        page_id: String,
        error: String,
    },
}

impl ProblemLog {
    /// The log, and the task that moves its problems into `store` and
    /// raises the alerts they call for (run it for as long as the host runs).
    pub fn start(store: Store, alerts: Alerts) -> (ProblemLog, impl std::future::Future<Output = ()> + Send + 'static) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (ProblemLog(Some(tx)), drain(rx, store, alerts))
    }

    /// Files `problem`; never waits.
    pub fn record(&self, problem: Problem) {
        self.file(Filed::Problem(problem));
    }

    /// Says an event of `page_id` became a dead letter (the store records
    /// the problem in that transaction); never waits.
    pub fn dead_lettered(&self, page_id: &str, error: &str) {
        self.file(Filed::DeadLetter { page_id: page_id.to_string(), error: capped(error.to_string()) });
    }

    fn file(&self, filed: Filed) {
        let Some(tx) = &self.0 else { return };
        if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(filed) {
            tracing::debug!("problem log full; a problem was not recorded");
        }
    }
}

/// The alert `problem` calls for, if any.
fn alert_for(problem: &Problem) -> Option<Alert> {
    let kind = match (problem.kind, problem.class.as_deref()) {
        (ProblemKind::PageCircuitOpened, _) => AlertKind::PageCircuitOpened,
        (ProblemKind::PluginCircuitOpened, _) => AlertKind::PluginCircuitOpened,
        (ProblemKind::GraphError, Some("auth")) => AlertKind::TokenRefused,
        _ => return None,
    };
    Some(Alert { kind, page_id: problem.page_id.clone(), plugin: problem.plugin.clone(), message: problem.message.clone() })
}

/// Per Page and kind: how many were recorded in the current second, and
/// the last one held back since, with how many were.
struct Window {
    started: Instant,
    recorded: u32,
    held: Option<(Problem, u32)>,
}

/// Page, kind, class and plugin: one failing plugin, or one flood of
/// forgeries, does not hide another's problems.
type WindowKey = (Option<String>, ProblemKind, Option<String>, Option<String>);

async fn drain(mut rx: mpsc::Receiver<Filed>, store: Store, alerts: Alerts) {
    let mut windows: HashMap<WindowKey, Window> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut incoming = Vec::with_capacity(256);
    loop {
        let mut out: Vec<(Problem, u32)> = Vec::new();
        tokio::select! {
            n = rx.recv_many(&mut incoming, 256) => {
                if n == 0 {
                    flush(&mut windows, &mut out, None);
                    write(&store, out).await;
                    return;
                }
                let now = Instant::now();
                for filed in incoming.drain(..) {
                    match filed {
                        Filed::Problem(problem) => {
                            if let Some(alert) = alert_for(&problem) {
                                alerts.raise(alert);
                            }
                            admit(&mut windows, problem, now, &mut out);
                        }
                        Filed::DeadLetter { page_id, error } => {
                            alerts.raise(Alert { kind: AlertKind::DeadLetter, page_id: Some(page_id), plugin: None, message: error })
                        }
                    }
                }
            }
            _ = tick.tick() => flush(&mut windows, &mut out, Some(Instant::now())),
        }
        write(&store, out).await;
    }
}

fn admit(windows: &mut HashMap<WindowKey, Window>, problem: Problem, now: Instant, out: &mut Vec<(Problem, u32)>) {
    let key = (problem.page_id.clone(), problem.kind, problem.class.clone(), problem.plugin.clone());
    let window = windows.entry(key).or_insert(Window { started: now, recorded: 0, held: None });
    if now.duration_since(window.started) >= Duration::from_secs(1) {
        if let Some(held) = window.held.take() {
            out.push(held);
        }
        *window = Window { started: now, recorded: 0, held: None };
    }
    if window.recorded < PER_SECOND {
        window.recorded += 1;
        out.push((problem, 0));
    } else {
        // Keep the newest, counting the one it replaces.
        let before = window.held.take().map_or(0, |(_, n)| n + 1);
        window.held = Some((problem, before));
    }
}

/// Records what each ended window held back; with `now: None`, every
/// window's. Forgets windows that ended.
fn flush(windows: &mut HashMap<WindowKey, Window>, out: &mut Vec<(Problem, u32)>, now: Option<Instant>) {
    windows.retain(|_, w| {
        let ended = now.is_none_or(|now| now.duration_since(w.started) >= Duration::from_secs(1));
        if ended {
            out.extend(w.held.take());
        }
        !ended
    });
}

async fn write(store: &Store, problems: Vec<(Problem, u32)>) {
    if problems.is_empty() {
        return;
    }
    if let Err(e) = store.write(WriteOp::Problems(problems)).await {
        tracing::warn!(error = %e, "could not record problems in the store");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_one_problem_is_recorded_a_few_times_a_second_and_counted() {
        let mut windows = HashMap::new();
        let mut out = Vec::new();
        let start = Instant::now();
        for n in 0..100 {
            admit(&mut windows, Problem::new(Some("P"), ProblemKind::WebhookRefused, format!("forged {n}")), start, &mut out);
        }
        // Another kind and another Page have windows of their own.
        admit(&mut windows, Problem::new(Some("P"), ProblemKind::GraphError, "x"), start, &mut out);
        admit(&mut windows, Problem::new(None, ProblemKind::WebhookRefused, "y"), start, &mut out);
        assert_eq!(out.len(), PER_SECOND as usize + 2);
        out.clear();
        flush(&mut windows, &mut out, Some(start + Duration::from_millis(500)));
        assert!(out.is_empty(), "the window has not ended");
        flush(&mut windows, &mut out, Some(start + Duration::from_secs(1)));
        assert_eq!(out.len(), 1, "{out:?}");
        let (last, repeated) = &out[0];
        assert_eq!((last.message.as_str(), *repeated), ("forged 99", 100 - PER_SECOND - 1));
        assert!(windows.is_empty());
    }

    #[test]
    fn since_is_an_age_a_time_or_epoch_milliseconds() {
        let now = 1_800_000_000_000;
        assert_eq!(ProblemQuery::parse_since("15m", now), Ok(now as i64 - 900_000));
        assert_eq!(ProblemQuery::parse_since("2026-12-03T10:00:00Z", now), Ok(1_796_292_000_000));
        assert_eq!(ProblemQuery::parse_since("1796292000000", now), Ok(1_796_292_000_000));
        assert!(ProblemQuery::parse_since("yesterday", now).unwrap_err().contains("neither an age"));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let p = Problem::new(None, ProblemKind::PluginFailed, "é".repeat(MESSAGE_LIMIT));
        assert!(p.message.len() <= MESSAGE_LIMIT);
        assert!(p.message.ends_with('…'));
        let escaped = Problem::new(None, ProblemKind::WebhookRefused, "app \u{1b}[2J\nforged line");
        assert!(!escaped.message.chars().any(char::is_control), "{:?}", escaped.message);
    }
}
