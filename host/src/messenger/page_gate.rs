//! Everything between one Page's capabilities and the Graph API.
//!
//! A [`PageGate`] owns, for one Page:
//! * **the circuit**: an auth error (190) or a restricted Page (10/1893063)
//!   opens it, and calls are refused locally ([`GateError::CircuitOpen`])
//!   for `circuit_open_secs`; then one call is let through as a probe, and
//!   its result closes or re-opens the circuit. The host stops hammering an
//!   API that will only say no, and says so in the logs.
//! * **pacing**: calls start at most `send_rate_per_sec` per second (a GCRA
//!   limiter with a small burst), under the reference's 300 calls/s per
//!   Page. A rate-limit answer that says how long to wait pushes the whole
//!   Page back by that much.
//! * **per-recipient ordering**: calls to one person hold that person's lock
//!   for their whole life, retries included, so two replies reach them in
//!   the order they were issued even when the first needed retries.
//! * **retries**: transient and rate-limited failures ([`ErrorClass`]) are
//!   tried again with exponential backoff and full jitter (or Meta's own
//!   wait), until `retry_deadline_secs` from the first attempt; permanent
//!   ones return at once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::messenger::graph::{classify, ErrorClass, GraphError};
use crate::store::problems::{Problem, ProblemKind, ProblemLog};
use crate::telemetry::{GraphOutcome, Metrics};

/// Why a gated call did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GateError {
    /// The Page's circuit is open; no call was made.
    #[error("the Page's circuit is open ({0}); no Graph call made")]
    CircuitOpen(String),
    /// The Graph call failed: permanently, or still after retrying.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// A Page's gate settings (from `[graph]` and the Page's own config).
#[derive(Debug, Clone)]
pub struct GatePolicy {
    pub rate_per_sec: f64,
    /// Calls that may start at once after a quiet spell.
    pub burst: u32,
    pub retry_deadline: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub circuit_open: Duration,
}

/// A Graph API refusal as the operator's record of problems keeps it.
fn graph_problem(page_id: &str, error: &GraphError, class: ErrorClass) -> Problem {
    let problem = Problem::new(Some(page_id), ProblemKind::GraphError, error.to_string()).class(class.label());
    match error {
        GraphError::Api { code, subcode, fbtrace_id, .. } => {
            Problem { code: Some(i64::from(*code)), subcode: subcode.map(i64::from), fbtrace_id: fbtrace_id.clone(), ..problem }
        }
        GraphError::Unavailable(_) => problem,
    }
}

pub struct PageGate {
    page_id: String,
    /// Replaced in place by a config reload (the gate itself outlives it).
    policy: Mutex<GatePolicy>,
    /// GCRA: the theoretical arrival time of the next call.
    next_start: Mutex<Instant>,
    circuit: Mutex<Circuit>,
    recipients: RecipientLocks,
    metrics: Metrics,
    problems: ProblemLog,
}

#[derive(Default)]
struct Circuit {
    /// Set while open: until when, and why.
    open: Option<(Instant, String)>,
    /// A probe call is out after the open period ended.
    probing: bool,
}

impl PageGate {
    pub fn new(page_id: &str, policy: GatePolicy) -> Self {
        PageGate {
            page_id: page_id.to_string(),
            policy: Mutex::new(policy),
            next_start: Mutex::new(Instant::now()),
            circuit: Mutex::new(Circuit::default()),
            recipients: RecipientLocks::default(),
            metrics: Metrics::default(),
            problems: ProblemLog::default(),
        }
    }

    /// Counts each attempt's outcome in `metrics`, and files each refusal
    /// and opened circuit in `problems`.
    pub fn reporting_to(mut self, metrics: Metrics, problems: ProblemLog) -> Self {
        self.metrics = metrics;
        self.problems = problems;
        self
    }

    fn policy(&self) -> GatePolicy {
        self.policy.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes new settings from a config reload. Calls under way keep their
    /// retry deadline; pacing, backoff and the circuit's pause use the new
    /// values from now on.
    pub fn set_policy(&self, policy: GatePolicy) {
        *self.policy.lock().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    /// The Page's access token was replaced: an open circuit (opened by
    /// the old token's refusal) closes, so the new one gets a call at once.
    pub fn token_replaced(&self) {
        let mut circuit = self.circuit.lock().unwrap_or_else(|p| p.into_inner());
        if circuit.open.take().is_some() {
            tracing::info!(page = %self.page_id, "circuit closed: the Page has a new access token");
        }
        circuit.probing = false;
    }

    /// Runs `call` under the gate's rules. `recipient` (a PSID or another
    /// recipient key) orders calls to the same person; `None` for calls
    /// that address nobody in particular.
    pub async fn call<T, F, Fut>(&self, recipient: Option<&str>, mut call: F) -> Result<T, GateError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, GraphError>>,
    {
        let _turn = match recipient {
            Some(r) => Some(self.recipients.lock(r).await),
            None => None,
        };
        let deadline = Instant::now() + self.policy().retry_deadline;
        let mut attempt: u32 = 0;
        loop {
            // Held across the awaits below: if this future is dropped (the
            // plugin's wall time ran out) while it is the probe, dropping
            // the ticket lets the next call probe instead.
            let ticket = self.admit()?;
            self.pace().await;
            let error = match call().await {
                Ok(value) => {
                    self.metrics.graph_call(&self.page_id, GraphOutcome::Ok, None);
                    ticket.settle();
                    self.record_success();
                    return Ok(value);
                }
                Err(error) => error,
            };
            ticket.settle();
            let class = classify(&error);
            match &error {
                GraphError::Api { code, .. } => self.metrics.graph_call(&self.page_id, GraphOutcome::Error(class.label()), Some(*code)),
                GraphError::Unavailable(_) => self.metrics.graph_call(&self.page_id, GraphOutcome::Unavailable, None),
            }
            self.problems.record(graph_problem(&self.page_id, &error, class));
            if class.trips_circuit() {
                self.trip(&error, class);
                return Err(error.into());
            }
            // Any other answer proves the Page itself is fine: close the
            // circuit if this was the probe.
            self.record_success();
            if !class.retryable() {
                return Err(error.into());
            }
            attempt += 1;
            let hinted = match &error {
                GraphError::Api { retry_after, .. } => *retry_after,
                GraphError::Unavailable(_) => None,
            };
            let wait = hinted.unwrap_or_else(|| self.backoff(attempt));
            if Instant::now() + wait > deadline {
                tracing::warn!(page = %self.page_id, attempts = attempt, %error,
                    "Graph call still failing at the retry deadline; giving up");
                return Err(error.into());
            }
            if class == ErrorClass::RateLimited {
                self.hold_back(wait);
            }
            tracing::info!(page = %self.page_id, attempt, ?wait, ?class, %error, "Graph call failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Refuses the call while the circuit is open; after the open period,
    /// lets exactly one probe through (the ticket says which).
    fn admit(&self) -> Result<Ticket<'_>, GateError> {
        let mut circuit = self.circuit.lock().unwrap_or_else(|p| p.into_inner());
        let Some((until, why)) = &circuit.open else { return Ok(Ticket { gate: self, probe: false }) };
        if Instant::now() < *until || circuit.probing {
            return Err(GateError::CircuitOpen(why.clone()));
        }
        circuit.probing = true;
        tracing::info!(page = %self.page_id, "circuit half-open: trying one Graph call");
        Ok(Ticket { gate: self, probe: true })
    }

    fn record_success(&self) {
        let mut circuit = self.circuit.lock().unwrap_or_else(|p| p.into_inner());
        if circuit.open.take().is_some() {
            tracing::warn!(page = %self.page_id, "circuit closed: the Graph API accepts this Page's calls again");
        }
        circuit.probing = false;
    }

    fn trip(&self, error: &GraphError, class: ErrorClass) {
        let mut circuit = self.circuit.lock().unwrap_or_else(|p| p.into_inner());
        let why = match class {
            ErrorClass::Auth => format!("the Page's access token was refused: {error}"),
            _ => format!("the Page may not send for now: {error}"),
        };
        let circuit_open = self.policy().circuit_open;
        let secs = circuit_open.as_secs();
        tracing::error!(page = %self.page_id, %error, open_for_secs = secs,
            "circuit opened: no Graph calls for this Page until it cools down{}",
            if class == ErrorClass::Auth { "; put a valid Page access token in the config" } else { "" });
        self.problems.record(
            Problem::new(Some(&self.page_id), ProblemKind::PageCircuitOpened, format!("{why}; no Graph calls for {secs} s"))
                .class(class.label()),
        );
        circuit.open = Some((Instant::now() + circuit_open, why));
        circuit.probing = false;
    }

    /// Whether the circuit is open now (for status reports).
    pub fn circuit_open(&self) -> bool {
        let circuit = self.circuit.lock().unwrap_or_else(|p| p.into_inner());
        circuit.open.as_ref().is_some_and(|(until, _)| Instant::now() < *until)
    }

    /// Waits for this call's start slot (GCRA with `burst`).
    async fn pace(&self) {
        let policy = self.policy();
        let interval = Duration::from_secs_f64(1.0 / policy.rate_per_sec.max(0.001));
        let start = {
            let mut next = self.next_start.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let earliest = now.checked_sub(interval * policy.burst).unwrap_or(now);
            let at = (*next).max(earliest);
            *next = at + interval;
            at.max(now)
        };
        if start > Instant::now() {
            tokio::time::sleep_until(start.into()).await;
        }
    }

    /// Meta asked the Page to slow down: no call starts before `wait`.
    fn hold_back(&self, wait: Duration) {
        let mut next = self.next_start.lock().unwrap_or_else(|p| p.into_inner());
        *next = (*next).max(Instant::now() + wait);
    }

    /// Exponential backoff with full jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let policy = self.policy();
        let cap = (policy.first_backoff * (1u32 << attempt.saturating_sub(1).min(16))).min(policy.max_backoff);
        let low = cap / 2;
        low + (cap - low).mul_f64(fastrand::f64())
    }
}

/// A call's admission. The probe's ticket, dropped before the call's
/// outcome was recorded (the caller's future was dropped), frees the probe
/// slot, so the circuit cannot stay half-open with no probe out forever.
struct Ticket<'a> {
    gate: &'a PageGate,
    probe: bool,
}

impl Ticket<'_> {
    /// The call came back: its outcome (recorded next) decides the circuit.
    fn settle(mut self) {
        self.probe = false;
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.gate.circuit.lock().unwrap_or_else(|p| p.into_inner()).probing = false;
        }
    }
}

/// One async lock per recipient, created on demand and dropped when nobody
/// holds or waits for it.
#[derive(Default)]
struct RecipientLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct RecipientTurn<'a> {
    owner: &'a RecipientLocks,
    key: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl RecipientLocks {
    async fn lock(&self, key: &str) -> RecipientTurn<'_> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(key.to_string()).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        RecipientTurn { owner: self, key: key.to_string(), lock, _guard: guard }
    }
}

impl Drop for RecipientTurn<'_> {
    fn drop(&mut self) {
        let mut locks = self.owner.locks.lock().unwrap_or_else(|p| p.into_inner());
        // The map's reference and ours: nobody else waits for this person.
        if Arc::strong_count(&self.lock) == 2 {
            locks.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> GatePolicy {
        GatePolicy {
            rate_per_sec: 1000.0,
            burst: 10,
            retry_deadline: Duration::from_secs(5),
            first_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            circuit_open: Duration::from_secs(60),
        }
    }

    fn api(code: i32) -> GraphError {
        GraphError::Api {
            http_status: 400,
            code,
            subcode: None,
            message: format!("code {code}"),
            fbtrace_id: None,
            is_transient: false,
            retry_after: None,
        }
    }

    #[tokio::test]
    async fn retries_rate_limits_and_not_permanent_errors() {
        let gate = PageGate::new("p", policy());
        let calls = AtomicU32::new(0);
        let result = gate
            .call(Some("u"), || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        Err(api(613))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(result.unwrap(), 2);

        let calls = AtomicU32::new(0);
        let result: Result<(), _> = gate
            .call(None, || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(api(551)) }
            })
            .await;
        assert!(matches!(result, Err(GateError::Graph(GraphError::Api { code: 551, .. }))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn auth_error_opens_the_circuit() {
        let gate = PageGate::new("p", policy());
        let first: Result<(), _> = gate.call(None, || async { Err(api(190)) }).await;
        assert!(matches!(first, Err(GateError::Graph(_))));
        let calls = AtomicU32::new(0);
        let second: Result<(), _> = gate
            .call(None, || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok(()) }
            })
            .await;
        assert!(matches!(second, Err(GateError::CircuitOpen(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert!(gate.circuit_open());
    }

    /// A probe whose caller gave up (a plugin's wall-time timeout drops
    /// the future mid-call) does not leave the circuit half-open forever.
    #[tokio::test]
    async fn a_dropped_probe_lets_the_next_call_probe() {
        let mut p = policy();
        p.circuit_open = Duration::from_millis(20);
        let gate = PageGate::new("p", p);
        let _: Result<(), _> = gate.call(None, || async { Err(api(190)) }).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        let hanging = gate.call(None, std::future::pending::<Result<(), GraphError>>);
        assert!(tokio::time::timeout(Duration::from_millis(20), hanging).await.is_err(), "the probe hangs");
        let next = gate.call(None, || async { Ok::<_, GraphError>(7) }).await;
        assert_eq!(next.expect("the next call is the probe, and closes the circuit"), 7);
        assert!(!gate.circuit_open());
    }

    #[tokio::test]
    async fn pacing_spaces_calls_after_the_burst() {
        let mut p = policy();
        p.rate_per_sec = 100.0;
        p.burst = 1;
        let gate = PageGate::new("p", p);
        let started = Instant::now();
        for _ in 0..6 {
            gate.call(None, || async { Ok::<_, GraphError>(()) }).await.unwrap();
        }
        // 6 calls at 100/s with a burst of 1: the last starts >= 40 ms in.
        assert!(started.elapsed() >= Duration::from_millis(40), "{:?}", started.elapsed());
    }
}
