//! The host's own sections: `[server]`, `[webhook]`, `[dispatch]`, `[store]`,
//! `[graph]`, `[messaging]` and `[api]`, each with its defaults and the
//! checks that need only itself.

use std::path::PathBuf;

use serde::Deserialize;

use super::{weak_token, Secret};

/// How the HTTP server treats connections, whoever opens them.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Most connections open at once; past it, new ones wait in the
    /// kernel's backlog until one closes.
    pub max_connections: usize,
    /// Time a client has to send a request's head (line and headers), and
    /// so also how long an idle connection stays open between requests.
    pub header_read_timeout_secs: u64,
    /// Time a client has to send a request's body, once its head is in.
    pub body_read_timeout_secs: u64,
}

impl ServerConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        if self.max_connections == 0 {
            problems.push("server.max_connections must be above 0".into());
        }
        for (what, secs) in
            [("header_read_timeout_secs", self.header_read_timeout_secs), ("body_read_timeout_secs", self.body_read_timeout_secs)]
        {
            if secs == 0 {
                problems.push(format!("server.{what} must be above 0"));
            }
        }
    }

    pub fn header_read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.header_read_timeout_secs)
    }

    pub fn body_read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.body_read_timeout_secs)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { max_connections: 10_000, header_read_timeout_secs: 10, body_read_timeout_secs: 10 }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Larger bodies get 413.
    pub max_body_bytes: usize,
}

impl WebhookConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        if self.max_body_bytes == 0 {
            problems.push("webhook.max_body_bytes must be above 0".into());
        }
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig { max_body_bytes: 1024 * 1024 }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Conversations processed at the same time.
    pub max_concurrent_conversations: usize,
    /// Of those, the most one Page may hold (default: half), so a Page
    /// whose plugins are slow leaves slots to the others.
    pub max_conversations_per_page: Option<usize>,
    /// Events accepted but not yet handled; past this, webhooks get 503 so
    /// Messenger redelivers later instead of the host running out of memory.
    pub max_queued_events: usize,
    /// On shutdown, how long in-flight events may take to finish.
    pub shutdown_grace_secs: u64,
    /// Tries per event before it becomes a dead letter.
    pub max_attempts: u32,
    /// Wait before the first retry; doubles each time, up to a minute.
    pub retry_backoff_ms: u64,
    /// Threads that run conversations (plugins, Send API calls); 0: one
    /// per core. The webhook has threads of its own.
    pub worker_threads: usize,
    /// How far below the webhook's scheduling priority those threads run
    /// (Unix nice steps, 0 to 19; 0: the same), so that plugins busy on
    /// every core do not slow the acks down (see `worker_runtime`).
    pub worker_nice: i32,
}

impl DispatchConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        if self.max_attempts == 0 {
            problems.push("dispatch.max_attempts must be at least 1".into());
        }
        if self.max_concurrent_conversations == 0 || self.max_queued_events == 0 {
            problems.push("dispatch.max_concurrent_conversations and dispatch.max_queued_events must be above 0".into());
        }
        if self.max_conversations_per_page == Some(0) {
            problems.push("dispatch.max_conversations_per_page must be at least 1".into());
        }
        if !(0..=19).contains(&self.worker_nice) {
            problems.push("dispatch.worker_nice must be 0 to 19 (Unix nice steps below the webhook's priority)".into());
        }
    }
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            max_concurrent_conversations: 256,
            max_conversations_per_page: None,
            max_queued_events: 100_000,
            shutdown_grace_secs: 10,
            max_attempts: 5,
            retry_backoff_ms: 500,
            worker_threads: 0,
            worker_nice: 5,
        }
    }
}

impl DispatchConfig {
    /// The slots one Page may hold.
    pub fn conversations_per_page(&self) -> usize {
        let all = self.max_concurrent_conversations;
        self.max_conversations_per_page.unwrap_or(all / 2).clamp(1, all.max(1))
    }
}

/// The embedded store.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Data directory, relative to the config file.
    pub path: PathBuf,
    /// Finished events (and so their de-duplication keys) are kept this long.
    pub retention_hours: u64,
    /// What the host knows of a conversation (window, owner, account link)
    /// is deleted this long after it last changed; 0 keeps it.
    pub conversation_retention_days: u64,
    /// Under concurrent writes, how long the writer waits for more of them
    /// to share a commit (0: commit at once). Adds at most this much to an
    /// acknowledgement.
    pub commit_delay_us: u64,
    /// Where compiled plugins are kept across restarts, relative to the
    /// config file (default: `compiled` in the data directory).
    pub compile_cache: Option<PathBuf>,
}

impl StoreConfig {
    pub fn commit_delay(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.commit_delay_us)
    }

    /// The compiled-plugin cache's directory.
    pub fn compile_cache_dir(&self) -> PathBuf {
        self.compile_cache.clone().unwrap_or_else(|| self.path.join("compiled"))
    }
}

impl StoreConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        if self.commit_delay_us > 10_000 {
            problems.push(format!(
                "store.commit_delay_us = {} is over 10000 (10 ms): every acknowledgement under load can wait that long; a few hundred is enough",
                self.commit_delay_us
            ));
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("data"),
            retention_hours: 24,
            conversation_retention_days: 365,
            commit_delay_us: 300,
            compile_cache: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GraphConfig {
    /// Timeout of one Graph API request.
    pub request_timeout_secs: u64,
    /// Transient and rate-limited failures are retried until this long
    /// after the first attempt (keep it under `limits.wall_ms`).
    pub retry_deadline_secs: u64,
    /// First retry backoff; it doubles (with jitter) up to `retry_max_backoff_ms`.
    pub retry_first_backoff_ms: u64,
    pub retry_max_backoff_ms: u64,
    /// How long a Page's circuit stays open after an auth error or a
    /// restriction, before one probe call.
    pub circuit_open_secs: u64,
    /// Graph calls per second per Page, unless the Page sets its own (the
    /// reference allows 300 Send API calls/s per Page).
    pub send_rate_per_sec: f64,
    /// The most Send API requests in flight at once, all Pages together.
    /// Sends due together, or while requests are out, share one: up to 50
    /// go out as one Batch API request. A lone send goes alone. Past two
    /// requests out, another opens only for half a batch of waiting sends.
    pub max_send_requests: usize,
    /// How long a fetched user profile is reused.
    pub profile_cache_secs: u64,
    /// User Profile API fields to fetch; `locale`, `timezone` and `gender`
    /// need permissions the app may not have.
    pub profile_fields: Vec<String>,
}

impl GraphConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        if !(self.send_rate_per_sec > 0.0 && self.send_rate_per_sec <= 300.0) {
            problems.push("graph.send_rate_per_sec must be above 0 and at most 300 (the Send API's limit per Page)".into());
        }
        if self.max_send_requests == 0 {
            problems.push("graph.max_send_requests must be at least 1 (Send API requests in flight at once)".into());
        }
    }
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            request_timeout_secs: 20,
            retry_deadline_secs: 15,
            retry_first_backoff_ms: 200,
            retry_max_backoff_ms: 5_000,
            circuit_open_secs: 60,
            send_rate_per_sec: 250.0,
            max_send_requests: 32,
            profile_cache_secs: 3600,
            profile_fields: ["name", "first_name", "last_name", "profile_pic"].map(String::from).to_vec(),
        }
    }
}

/// The host's messaging rules.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MessagingConfig {
    /// Tags plugins may send MESSAGE_TAG messages with. Meta refuses
    /// CONFIRMED_EVENT_UPDATE, ACCOUNT_UPDATE and POST_PURCHASE_UPDATE
    /// since 27 April 2026, so only HUMAN_AGENT is allowed by default.
    pub allowed_tags: Vec<String>,
    /// How long a Click-to-Messenger ad interaction keeps the window open.
    pub ad_referral_window_hours: u64,
}

impl MessagingConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        if self.allowed_tags.iter().any(|t| t.trim().is_empty()) {
            problems.push("messaging.allowed_tags has an empty tag".into());
        }
    }
}

impl Default for MessagingConfig {
    fn default() -> Self {
        MessagingConfig { allowed_tags: vec!["HUMAN_AGENT".into()], ad_referral_window_hours: 72 }
    }
}

/// The HTTP API for systems other than Messenger (business events).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Bearer token callers must present; without one the API is off.
    pub token: Option<Secret>,
    /// Larger business-event bodies get 413.
    pub max_body_bytes: usize,
}

impl ApiConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        problems.extend(weak_token("api.token", self.token.as_ref()));
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { token: None, max_body_bytes: 64 * 1024 }
    }
}

/// `[metrics]`: `GET /metrics` in the Prometheus text format.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Off: nothing is recorded and `/metrics` answers 404.
    pub enabled: bool,
    /// When set, `/metrics` asks for `Authorization: Bearer <token>` (the
    /// webhook's listener is public: Meta must reach it). Read at start.
    pub token: Option<Secret>,
}

impl MetricsConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        problems.extend(weak_token("metrics.token", self.token.as_ref()));
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true, token: None }
    }
}

/// `[alerts]`: a webhook the host POSTs JSON to when something needs an
/// operator (read at start).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Without one, no alerts are sent.
    pub webhook_url: Option<String>,
    /// Dead letters on one Page within an hour that raise an alert.
    pub dead_letters_per_hour: u32,
    /// The same alert (kind, Page, plugin) is sent at most once in this
    /// many seconds; the ones in between are counted in the next.
    pub repeat_after_secs: u64,
}

impl AlertsConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        if let Some(url) = &self.webhook_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                problems.push(format!("alerts.webhook_url = {url:?} must be an http:// or https:// URL"));
            }
        }
        if self.dead_letters_per_hour == 0 {
            problems.push("alerts.dead_letters_per_hour must be at least 1".into());
        }
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig { webhook_url: None, dead_letters_per_hour: 10, repeat_after_secs: 300 }
    }
}

/// `[log]`: how the host writes its log lines (to stdout), read at start.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per record.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the
    /// message and every field (`page`, `plugin`, `event`...) at the top level.
    Json,
}
