//! How each loaded plugin is doing, and the per-plugin circuit.
//!
//! [`PluginHealth`] counts, per Page and plugin (by the id the operator gave
//! it, see `config::PluginEntry`), invocations and failures by
//! class ([`PluginFailure::class`]: CPU or wall timeout, out of memory,
//! panic, stack overflow, trap, error, host-call quota, invalid output), and
//! remembers the last failure (Page, event, version, when) and the last
//! rejected file.
//! `switchboard plugins` and `GET /admin/plugins` show it.
//!
//! A plugin that fails `plugin_circuit.failures` times in a row on a Page
//! trips its circuit there, instead of burning CPU on every event: for
//! `plugin_circuit.open_secs` it is not called at all. What happens to its
//! events then is the operator's choice (`plugin_circuit.mode`):
//! * `fail-closed` (default): the event fails as if the plugin had, so it is
//!   retried and then dead-lettered, and nothing is lost (`dlq retry` after
//!   the fix);
//! * `fail-open`: the plugin is skipped and the rest of the chain runs.
//!
//! After the pause one invocation goes through as a probe: success closes
//! the circuit, failure opens it again. A new version of the file (hot
//! reload) starts with a closed circuit.
//!
//! Only the plugin's own faults count ([`PluginFailure::is_plugin_fault`]:
//! traps, timeouts, running out of memory, panics, invalid output, its own
//! errors). A send Meta refused, a Page whose token is dead, the host's
//! rules: those are counted by class for the operator, but they say
//! nothing of the plugin, and one Page's trouble never closes the plugin
//! to another Page: every (Page, plugin) pair has a circuit of its own.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{CircuitMode, PluginCircuitConfig};
use crate::model::now_ms;
use crate::sandbox::{CompiledPlugin, PluginFailure};
use crate::store::problems::{Problem, ProblemKind, ProblemLog};

/// Whether to call a plugin now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Call,
    /// Circuit open, fail-open: go on without it.
    Skip,
    /// Circuit open, fail-closed: fail the event.
    Refuse(PluginFailure),
}

/// The last failure of a plugin.
#[derive(Debug, Clone, Serialize)]
pub struct LastFailure {
    pub page_id: String,
    pub event_id: String,
    pub version: String,
    pub class: &'static str,
    pub error: String,
    pub at_ms: u64,
}

/// One plugin file's record, as `switchboard plugins` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HealthReport {
    pub invocations: u64,
    pub failures: BTreeMap<&'static str, u64>,
    pub consecutive_failures: u32,
    /// `closed`, `open` or `half-open`.
    pub circuit: &'static str,
    pub circuit_trips: u64,
    pub last_failure: Option<LastFailure>,
    /// The last new file that was rejected (hot reload), and when.
    pub last_rejected_file: Option<(String, u64)>,
}

#[derive(Default)]
struct Health {
    /// The version (file hash) the circuit applies to.
    hash: String,
    report: HealthReport,
    open_until: Option<Instant>,
    probing: bool,
}

#[derive(Clone)]
pub struct PluginHealth {
    policy: PluginCircuitConfig,
    /// By (Page id, plugin id).
    plugins: Arc<Mutex<HashMap<(String, String), Health>>>,
    /// The last new file rejected at each path (hot reload), and when.
    rejected: Arc<Mutex<HashMap<PathBuf, (String, u64)>>>,
    /// Where failures and opened circuits are filed for the operator.
    problems: ProblemLog,
}

impl PluginHealth {
    pub fn new(policy: PluginCircuitConfig, problems: ProblemLog) -> Self {
        PluginHealth { policy, plugins: Arc::default(), rejected: Arc::default(), problems }
    }

    /// Where problems are filed (the dispatcher files dead letters there).
    pub fn problems(&self) -> &ProblemLog {
        &self.problems
    }

    fn with<T>(&self, page_id: &str, id: &str, plugin: &CompiledPlugin, f: impl FnOnce(&mut Health) -> T) -> T {
        let mut plugins = self.plugins.lock().unwrap_or_else(|p| p.into_inner());
        let health = plugins.entry((page_id.to_string(), id.to_string())).or_default();
        if health.hash != plugin.hash {
            // A new version gets a fresh chance; its history stays.
            health.hash = plugin.hash.clone();
            health.open_until = None;
            health.probing = false;
            health.report.consecutive_failures = 0;
        }
        f(health)
    }

    /// Whether the plugin `id` (running `plugin`) may be called now for an
    /// event of `page_id`.
    pub fn admit(&self, page_id: &str, id: &str, plugin: &CompiledPlugin) -> Admission {
        let open = Duration::from_secs(self.policy.open_secs);
        let mode = self.policy.mode;
        self.with(page_id, id, plugin, |h| {
            let Some(until) = h.open_until else { return Admission::Call };
            if Instant::now() >= until && !h.probing {
                h.probing = true;
                return Admission::Call;
            }
            match mode {
                CircuitMode::FailOpen => Admission::Skip,
                CircuitMode::FailClosed => Admission::Refuse(PluginFailure::CircuitOpen(open)),
            }
        })
    }

    /// Records how an invocation of the plugin `id` for `event_id` of
    /// `page_id` ended.
    pub fn record(&self, page_id: &str, id: &str, plugin: &CompiledPlugin, event_id: &str, failure: Option<&PluginFailure>) {
        let threshold = self.policy.failures.max(1);
        let open = Duration::from_secs(self.policy.open_secs);
        self.with(page_id, id, plugin, |h| {
            h.report.invocations += 1;
            if let Some(failure) = failure {
                self.problems.record(
                    Problem::new(Some(page_id), ProblemKind::PluginFailed, failure.to_string())
                        .class(failure.class())
                        .plugin(id)
                        .event(event_id),
                );
                // Every failure is counted and shown to the operator.
                *h.report.failures.entry(failure.class()).or_default() += 1;
                h.report.last_failure = Some(LastFailure {
                    page_id: page_id.to_string(),
                    event_id: event_id.to_string(),
                    version: plugin.info.version.clone(),
                    class: failure.class(),
                    error: failure.to_string(),
                    at_ms: now_ms(),
                });
            }
            // Not the plugin's fault: it ran and answered, so for its
            // circuit this is no failure.
            let Some(failure) = failure.filter(|f| f.is_plugin_fault()) else {
                if h.open_until.take().is_some() {
                    tracing::warn!(page = page_id, plugin = id, version = %plugin.info.version, "plugin circuit closed: the probe call succeeded");
                }
                h.probing = false;
                h.report.consecutive_failures = 0;
                return;
            };
            h.report.consecutive_failures += 1;
            if h.probing || (h.open_until.is_none() && h.report.consecutive_failures >= threshold) {
                h.probing = false;
                h.open_until = Some(Instant::now() + open);
                h.report.circuit_trips += 1;
                self.problems.record(
                    Problem::new(
                        Some(page_id),
                        ProblemKind::PluginCircuitOpened,
                        format!("{} failures in a row (last: {failure}); not called for {open:?}", h.report.consecutive_failures),
                    )
                    .class(failure.class())
                    .plugin(id)
                    .event(event_id),
                );
                tracing::error!(
                    page = page_id, plugin = id, version = %plugin.info.version, path = %plugin.path.display(),
                    consecutive_failures = h.report.consecutive_failures, last = %failure,
                    "plugin circuit open on this Page: not calling this plugin for {open:?}; fix or replace the file (a new version resets the circuit)"
                );
            }
        })
    }

    /// Records that a new file at `path` was rejected and not loaded.
    pub fn rejected(&self, path: &Path, error: &str) {
        let mut rejected = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        rejected.insert(path.to_path_buf(), (error.to_string(), now_ms()));
    }

    /// The record of the plugin `id` (loaded from `path`) on `page_id`.
    pub fn report(&self, page_id: &str, id: &str, path: &Path) -> HealthReport {
        let last_rejected_file = self.rejected.lock().unwrap_or_else(|p| p.into_inner()).get(path).cloned();
        let plugins = self.plugins.lock().unwrap_or_else(|p| p.into_inner());
        let Some(h) = plugins.get(&(page_id.to_string(), id.to_string())) else {
            return HealthReport { circuit: "closed", last_rejected_file, ..HealthReport::default() };
        };
        let circuit = match h.open_until {
            None => "closed",
            Some(_) if h.probing => "half-open",
            Some(until) if Instant::now() >= until => "half-open",
            Some(_) => "open",
        };
        HealthReport { circuit, last_rejected_file, ..h.report.clone() }
    }
}
