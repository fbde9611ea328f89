//! Host capabilities: what a plugin can ask the host to do.
//!
//! Each WIT import interface has its own unit here, implementing the trait
//! `bindgen!` generated for it, and [`add_to_linker`] registers them all in
//! one place (the Spin pattern):
//!
//! | WIT interface | unit |
//! |---|---|
//! | `switchboard:plugin/events`    | [`Events`] (the `event` resource's accessors) |
//! | `switchboard:plugin/messenger` | [`Messenger`] (Send API) |
//! | `switchboard:plugin/handover`  | [`Handover`] (thread control) |
//! | `switchboard:plugin/conversation` | [`Conversation`] (host-kept state) |
//! | `switchboard:plugin/profile`   | [`Profile`] (User Profile API, cached) |
//! | `switchboard:plugin/kv`        | [`Kv`] (per-plugin state in the store) |
//! | `switchboard:plugin/log`       | [`Log`] (structured logs) |
//! | `wasi:http/outgoing-handler`   | [`OutgoingHttp`] (allow-listed hosts only) |
//! | `wasi:clocks/monotonic-clock`  | `clocks::SleepBudgetedClock` (sleeping within `limits.sleep_ms`) |
//!
//! The interfaces are those of `switchboard:plugin@0.2.0`; [`v0_1`] serves
//! 0.1.0's with the same units, converting at the border.
//!
//! Every unit acts for exactly one invocation: one plugin handling one event
//! of one Page ([`CallContext`]). It can only use that Page's token, and it
//! draws on the invocation's [`Budget`] of host calls. Graph calls go through
//! the Page's [`PageGate`] (circuit, pacing, per-person order, retries).

mod clocks;
mod conversation;
mod events;
mod handover;
mod http;
mod kv;
mod log;
mod messenger;
mod profile;
mod v0_1;
mod wit_message;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker};

pub use self::clocks::SleepLimitExceeded;
pub use self::conversation::Conversation;
pub use self::events::Events;
pub use self::handover::{pass_thread, Handover};
pub use self::http::OutgoingHttp;
pub use self::kv::Kv;
pub use self::log::Log;
pub use self::messenger::Messenger;
pub use self::profile::Profile;
use crate::config::PluginLimits;
use crate::messenger::conversation::Refusal;
use crate::messenger::graph::GraphError;
use crate::messenger::outbox::SendLedger;
use crate::messenger::page::PageAccess;
use crate::messenger::page_gate::GateError;
use crate::sandbox::bindings::v0_2::switchboard::plugin::types::{self, MessengerError};

/// What a `Store`'s data gives the capabilities: each unit, and the
/// invocation they act for (`sandbox::InvocationState` is the one).
pub trait CapabilityView: wasmtime_wasi::WasiView + wasmtime_wasi_http::WasiHttpView + Send + 'static {
    fn messenger(&mut self) -> &mut Messenger;
    fn handover(&mut self) -> &mut Handover;
    fn conversation(&mut self) -> &mut Conversation;
    fn profile(&mut self) -> &mut Profile;
    fn kv(&mut self) -> &mut Kv;
    fn log(&mut self) -> &mut Log;
    fn events(&mut self) -> Events<'_>;
    fn call(&self) -> &Arc<CallContext>;
}

/// Registers every capability's WIT interface in `linker`, of every
/// published version, after wasmtime-wasi's own interfaces.
pub fn add_to_linker<T: CapabilityView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    use crate::sandbox::bindings::v0_2::switchboard::plugin as wit;
    wit::events::add_to_linker::<T, events::EventsData>(linker, T::events)?;
    wit::types::add_to_linker::<T, HasSelf<Messenger>>(linker, T::messenger)?;
    wit::messenger::add_to_linker::<T, HasSelf<Messenger>>(linker, T::messenger)?;
    wit::handover::add_to_linker::<T, HasSelf<Handover>>(linker, T::handover)?;
    wit::conversation::add_to_linker::<T, HasSelf<Conversation>>(linker, T::conversation)?;
    wit::profile::add_to_linker::<T, HasSelf<Profile>>(linker, T::profile)?;
    wit::kv::add_to_linker::<T, HasSelf<Kv>>(linker, T::kv)?;
    wit::log::add_to_linker::<T, HasSelf<Log>>(linker, T::log)?;
    v0_1::add_to_linker(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    // Over wasmtime-wasi's own monotonic clock, which the linker has by now.
    linker.allow_shadowing(true);
    wasmtime_wasi::p2::bindings::clocks::monotonic_clock::add_to_linker::<T, clocks::SleepBudgeted>(linker, clocks::clock::<T>)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Who is calling: a plugin, handling one event, for one Page.
#[derive(Clone)]
pub struct Invocation {
    /// The plugin's id on its Page (`config::PluginEntry`): its key-value
    /// namespace; the file's path in `describe()`.
    pub plugin: Arc<str>,
    pub event_id: Arc<str>,
    /// None while a plugin only describes itself: it cannot act then.
    pub page: Option<Arc<PageAccess>>,
    /// Where this invocation's sends are recorded; None when not durable.
    pub ledger: Option<SendLedger>,
}

impl Invocation {
    /// The load-time `describe()` call, which acts for no Page.
    pub fn describe(path: &std::path::Path) -> Self {
        Invocation { plugin: Arc::from(path.display().to_string()), event_id: Arc::from("describe"), page: None, ledger: None }
    }
}

/// Per-invocation quotas and the accounting of time spent in host calls.
pub struct Budget {
    host_calls_left: AtomicU32,
    log_bytes_left: AtomicI64,
    host_nanos: AtomicU64,
    sleep_nanos_left: AtomicU64,
    sleep_limit: Duration,
    quota_hit: AtomicBool,
    kv_value_bytes: usize,
    kv_namespace_bytes: usize,
}

impl Budget {
    pub fn new(limits: &PluginLimits) -> Self {
        Budget {
            host_calls_left: AtomicU32::new(limits.host_calls),
            log_bytes_left: AtomicI64::new(limits.log_bytes as i64),
            host_nanos: AtomicU64::new(0),
            sleep_nanos_left: AtomicU64::new(limits.sleep().as_nanos() as u64),
            sleep_limit: limits.sleep(),
            quota_hit: AtomicBool::new(false),
            kv_value_bytes: limits.kv_value_bytes,
            kv_namespace_bytes: limits.kv_namespace_bytes,
        }
    }

    /// Takes one host call from the quota.
    fn take_call(&self) -> Result<(), MessengerError> {
        self.host_calls_left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).map(drop).map_err(|_| {
            self.quota_hit.store(true, Ordering::Relaxed);
            MessengerError::QuotaExceeded
        })
    }

    /// Whether a host call was refused for the quota.
    pub fn quota_hit(&self) -> bool {
        self.quota_hit.load(Ordering::Relaxed)
    }

    /// Takes up to `wanted` log bytes; returns how many may be written.
    fn take_log_bytes(&self, wanted: usize) -> usize {
        let before = self.log_bytes_left.fetch_sub(wanted as i64, Ordering::Relaxed);
        before.clamp(0, wanted as i64) as usize
    }

    /// Takes `wait` from the sleeping budget; past it, the limit.
    fn take_sleep(&self, wait: Duration) -> Result<(), Duration> {
        let wait = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        self.sleep_nanos_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(wait))
            .map(drop)
            .map_err(|_| self.sleep_limit)
    }

    pub fn host_time(&self) -> Duration {
        Duration::from_nanos(self.host_nanos.load(Ordering::Relaxed))
    }

    pub(crate) fn add_host_time(&self, since: Instant) {
        self.host_nanos.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

/// What every capability of one invocation shares.
pub struct CallContext {
    pub invocation: Invocation,
    pub budget: Budget,
    /// Why the host refused the first message the plugin tried to send as
    /// invalid (over a documented limit...), if it did.
    pub invalid_output: std::sync::OnceLock<String>,
    /// The last error a Send API or handover call returned to the plugin:
    /// the likely cause if the plugin then fails (see [`HostVerdict`]).
    pub last_verdict: std::sync::Mutex<Option<HostVerdict>>,
}

/// What the host (or Meta, through it) answered a plugin's call with, when
/// it was a refusal: the cause of a failure that follows is then the
/// host's verdict, not the plugin's fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVerdict {
    /// The WIT error the plugin saw, as text.
    pub cause: String,
    /// Whether trying the event again could succeed: rate limits, the
    /// Graph API unreachable, the Page's circuit open (a token being
    /// fixed). Not: a permanent Graph error (551, 10/2018278...), the
    /// window closed, another app owning the thread, a used or expired
    /// token, a request the host refuses as invalid.
    pub retryable: bool,
}

impl HostVerdict {
    fn of(error: &MessengerError) -> Option<HostVerdict> {
        let retryable = match error {
            MessengerError::Graph(g) => {
                let class = crate::messenger::graph::classify(&GraphError::Api {
                    http_status: g.http_status,
                    code: g.code,
                    subcode: g.subcode,
                    message: g.message.clone(),
                    fbtrace_id: None,
                    is_transient: false,
                    retry_after: None,
                });
                // An auth error or a restricted Page opened the Page's
                // circuit: the operator's fix makes a retry work.
                class.retryable() || class.trips_circuit()
            }
            MessengerError::Unavailable(_) | MessengerError::PageCircuitOpen => true,
            MessengerError::OutsideWindow
            | MessengerError::NotThreadOwner
            | MessengerError::NotificationTokenUsed
            | MessengerError::NotificationTokenExpired
            | MessengerError::InvalidRequest(_) => false,
            // The plugin's own excess, classified as such.
            MessengerError::QuotaExceeded => return None,
        };
        Some(HostVerdict { cause: wit_error_text(error), retryable })
    }
}

/// A WIT `messenger-error` as an operator reads it.
fn wit_error_text(error: &MessengerError) -> String {
    match error {
        MessengerError::Graph(g) => format!(
            "graph error {}{} (HTTP {}): {}{}",
            g.code,
            g.subcode.map(|s| format!("/{s}")).unwrap_or_default(),
            g.http_status,
            g.message,
            g.fbtrace_id.as_deref().map(|t| format!(" [fbtrace_id {t}]")).unwrap_or_default()
        ),
        MessengerError::InvalidRequest(why) => format!("invalid-request: {why}"),
        MessengerError::Unavailable(why) => format!("unavailable: {why}"),
        MessengerError::OutsideWindow => "outside-window".into(),
        MessengerError::NotThreadOwner => "not-thread-owner".into(),
        MessengerError::NotificationTokenUsed => "notification-token-used".into(),
        MessengerError::NotificationTokenExpired => "notification-token-expired".into(),
        MessengerError::PageCircuitOpen => "page-circuit-open".into(),
        MessengerError::QuotaExceeded => "quota-exceeded".into(),
    }
}

impl CallContext {
    /// Notes `error` as the last verdict the plugin saw, and returns it.
    fn noted(&self, error: MessengerError) -> MessengerError {
        if let Some(verdict) = HostVerdict::of(&error) {
            *self.last_verdict.lock().unwrap_or_else(|p| p.into_inner()) = Some(verdict);
        }
        error
    }

    /// The last refusal the plugin was given, if any.
    pub fn last_verdict(&self) -> Option<HostVerdict> {
        self.last_verdict.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The Page to act for, after charging one host call.
    fn page_for_call(&self) -> Result<&PageAccess, MessengerError> {
        self.budget.take_call()?;
        self.invocation
            .page
            .as_deref()
            .ok_or_else(|| MessengerError::InvalidRequest("plugins cannot call the Graph API from describe()".into()))
    }

    /// Runs a Graph call through the Page's gate (to `recipient`, kept in
    /// order with other calls to them), counting its time as host time, not
    /// guest CPU.
    async fn graph<T, F, Fut>(&self, page: &PageAccess, recipient: Option<&str>, call: F) -> Result<T, GateError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, GraphError>>,
    {
        let started = Instant::now();
        let result = page.gate.call(recipient, call).await;
        self.budget.add_host_time(started);
        if let Err(e) = &result {
            tracing::debug!(plugin = %self.invocation.plugin, event = %self.invocation.event_id, error = %e, "Graph call failed");
        }
        result
    }

    /// Times a wait on the host's own state (the store) as host time.
    async fn host_work<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let result = work.await;
        self.budget.add_host_time(started);
        result
    }
}

/// Whether a failed call says another app owns the thread.
fn is_not_thread_owner(e: &GateError) -> bool {
    matches!(e, GateError::Graph(GraphError::Api { code: 10, subcode: Some(2018300), .. }))
}

/// Gate failures as plugins see them; "another app owns the thread" gets
/// its own case so plugins need not know the subcode.
fn to_wit_error(e: GateError) -> MessengerError {
    if is_not_thread_owner(&e) {
        return MessengerError::NotThreadOwner;
    }
    match e {
        GateError::CircuitOpen(_) => MessengerError::PageCircuitOpen,
        GateError::Graph(GraphError::Api { http_status, code, subcode, message, fbtrace_id, .. }) => {
            MessengerError::Graph(types::GraphError { http_status, code, subcode, message, fbtrace_id })
        }
        GateError::Graph(GraphError::Unavailable(why)) => MessengerError::Unavailable(why),
    }
}

/// Checks a PSID a plugin names ([`crate::bounds::psid`]), as the error
/// plugins see.
fn wit_psid(value: &str) -> Result<&str, MessengerError> {
    crate::bounds::psid(value).map_err(MessengerError::InvalidRequest)
}

/// A local refusal as plugins see it.
fn refusal_to_wit(r: Refusal) -> MessengerError {
    match r {
        Refusal::OutsideWindow => MessengerError::OutsideWindow,
        Refusal::NotThreadOwner => MessengerError::NotThreadOwner,
        Refusal::TokenUsed => MessengerError::NotificationTokenUsed,
        Refusal::TokenExpired => MessengerError::NotificationTokenExpired,
        Refusal::Invalid(why) => MessengerError::InvalidRequest(why),
    }
}

// The `types` interface declares no functions; its (empty) host trait
// rides on the messenger unit.
impl types::Host for Messenger {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messenger::outbox::EventOutbox;
    use crate::store::Store;

    fn ledger(dir: &std::path::Path) -> SendLedger {
        let store = Store::open_sqlite(dir, Duration::ZERO, Default::default()).expect("store");
        SendLedger::new(EventOutbox::new(store, "P", "e", false), 0)
    }

    /// Slots name what a send is: the same sends in another order, or with
    /// one of them gone, keep their slots; a repeat gets a slot of its own.
    #[tokio::test]
    async fn slots_follow_the_content_not_the_order() {
        let to = |token: &str| serde_json::json!({"recipient": {"one_time_notif_token": token}, "message": {"text": "back"}});
        let dir = tempfile::tempdir().expect("tmp");
        let ledger = || ledger(dir.path());
        let first = ledger();
        let (a, b) = (first.slot_for(&to("T1")), first.slot_for(&to("T2")));
        let retry = ledger();
        assert_eq!(retry.slot_for(&to("T2")), b, "T1 was spent meanwhile: T2's send keeps its slot");
        assert_ne!(a, b);
        let twice = ledger();
        let (x, y) = (twice.slot_for(&to("T1")), twice.slot_for(&to("T1")));
        assert_eq!(x, a);
        assert_ne!(x, y, "the same message twice is two sends");
    }
}
