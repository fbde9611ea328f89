//! The host's Prometheus metrics: one registry per host, every family
//! named `switchboard_…` in base units, labelled by Page, plugin and
//! outcome (never by person: a PSID would make a series per user).
//!
//! [`Metrics`] is a cheap handle; each layer records through the methods
//! named for what happened. `[metrics] enabled = false` makes every method
//! a no-op and `/metrics` answer 404 (the throughput bench compares both).
//! Gauges of state others own (queue depth, circuits, plugins loaded) are
//! set by `ingress::health` at each scrape, from their owners.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// How a webhook POST ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    Accepted,
    /// No signature header (401).
    Unsigned,
    /// A signature that does not match the app secret (403).
    BadSignature,
    /// Posted for an app this host does not have (404).
    UnknownApp,
    /// Over `webhook.max_body_bytes` (413).
    TooLarge,
    /// Signed, but not a webhook envelope (400).
    Malformed,
    /// The body could not be read (the client stopped, or too slow).
    BodyUnread,
    /// The queue was full or the host stopping (503).
    Busy,
    /// The store failed (500).
    StoreFailed,
}

impl WebhookOutcome {
    pub fn label(self) -> &'static str {
        match self {
            WebhookOutcome::Accepted => "accepted",
            WebhookOutcome::Unsigned => "unsigned",
            WebhookOutcome::BadSignature => "bad_signature",
            WebhookOutcome::UnknownApp => "unknown_app",
            WebhookOutcome::TooLarge => "too_large",
            WebhookOutcome::Malformed => "malformed",
            WebhookOutcome::BodyUnread => "body_unread",
            WebhookOutcome::Busy => "busy",
            WebhookOutcome::StoreFailed => "store_failed",
        }
    }
}

/// How an event's handling ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Every plugin that wanted it ran.
    Complete,
    /// Finished without a retry: the host or Meta refused a plugin's call.
    Finished,
    DeadLetter,
}

/// What one Graph API call came back with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphOutcome {
    Ok,
    /// A Graph error of this class (see `messenger::graph::ErrorClass`).
    Error(&'static str),
    /// No usable answer (connection, timeout, not JSON).
    Unavailable,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PageLabels {
    page: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PageOutcomeLabels {
    page: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    page: String,
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginOutcomeLabels {
    page: String,
    plugin: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GraphLabels {
    page: String,
    outcome: &'static str,
    /// The Graph error code, empty when there is none.
    code: String,
}

/// Graph error codes kept as label values (the Send API's, handover's,
/// tokens' and rate limits'); any other is `other`.
const GRAPH_CODES: &[i32] =
    &[1, 2, 4, 9, 10, 17, 32, 100, 102, 190, 200, 230, 341, 368, 551, 613, 1200, 2018001, 2018108, 2018278, 2018300, 2018321];

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;
type Gauges<L> = Family<L, Gauge>;

/// Latencies from 100 µs to about 105 s (an event's includes its retries'
/// backoff).
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 21))
}

/// Plugin run times from 10 µs to about 84 s (`limits.wall_ms` is 30 s by
/// default).
fn run_time() -> Histogram {
    Histogram::new(exponential_buckets(0.00001, 2.0, 24))
}

/// One Page's series on the path every event takes, found by the Page id
/// without allocating: a family lookup needs its labels owned, and would
/// build the Strings on every event.
struct PageSeries {
    accepted: Counter,
    duplicate: Counter,
    complete: Counter,
    latency: Histogram,
    graph_ok: Counter,
    /// By plugin id.
    plugins: RwLock<HashMap<String, Arc<PluginSeries>>>,
}

/// One plugin's series on one Page, for calls that succeed.
struct PluginSeries {
    ok: Counter,
    wall: Histogram,
    cpu: Counter<f64, AtomicU64>,
}

/// The entry for `key`, made by `make` the first time.
fn series<T>(map: &RwLock<HashMap<String, Arc<T>>>, key: &str, make: impl FnOnce() -> T) -> Arc<T> {
    if let Some(found) = map.read().unwrap_or_else(|p| p.into_inner()).get(key) {
        return found.clone();
    }
    let mut map = map.write().unwrap_or_else(|p| p.into_inner());
    map.entry(key.to_string()).or_insert_with(|| Arc::new(make())).clone()
}

struct Families {
    registry: Registry,
    /// By Page id: only configured Pages get here (events of others are
    /// dropped before they are stored), so the map is bounded.
    pages: RwLock<HashMap<String, Arc<PageSeries>>>,
    webhooks: Family<WebhookLabels, Counter>,
    ack: Histogram,
    events_refused: Family<ReasonLabels, Counter>,
    events_accepted: Family<PageLabels, Counter>,
    events_duplicate: Family<PageLabels, Counter>,
    events_done: Family<PageOutcomeLabels, Counter>,
    events_retried: Family<PageLabels, Counter>,
    event_latency: Histograms<PageLabels>,
    queue_depth: Gauge,
    queue_capacity: Gauge,
    plugins_loaded: Gauge,
    invocations: Family<PluginOutcomeLabels, Counter>,
    plugin_wall: Histograms<PluginLabels>,
    plugin_cpu: Family<PluginLabels, Counter<f64, AtomicU64>>,
    plugin_circuit: Gauges<PluginLabels>,
    graph_calls: Family<GraphLabels, Counter>,
    batch_fill: Histogram,
    page_circuit: Gauges<PageLabels>,
    commit: Histogram,
    commit_writes: Histogram,
}

/// The host's metrics; clones share them. `Metrics::default()` records
/// nothing (the tools and tests that build parts of a host alone use it).
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Families>>);

impl Families {
    fn page(&self, page: &str) -> Arc<PageSeries> {
        series(&self.pages, page, || {
            let labels = PageLabels { page: page.to_string() };
            let ended = |outcome| PageOutcomeLabels { page: page.to_string(), outcome };
            let graph_ok = GraphLabels { page: page.to_string(), outcome: "ok", code: String::new() };
            PageSeries {
                accepted: self.events_accepted.get_or_create(&labels).clone(),
                duplicate: self.events_duplicate.get_or_create(&labels).clone(),
                complete: self.events_done.get_or_create(&ended("complete")).clone(),
                latency: self.event_latency.get_or_create(&labels).clone(),
                graph_ok: self.graph_calls.get_or_create(&graph_ok).clone(),
                plugins: RwLock::default(),
            }
        })
    }

    fn plugin(&self, page: &str, plugin: &str) -> Arc<PluginSeries> {
        series(&self.page(page).plugins, plugin, || {
            let labels = PluginLabels { page: page.to_string(), plugin: plugin.to_string() };
            let ok = PluginOutcomeLabels { page: page.to_string(), plugin: plugin.to_string(), outcome: "ok" };
            PluginSeries {
                ok: self.invocations.get_or_create(&ok).clone(),
                wall: self.plugin_wall.get_or_create(&labels).clone(),
                cpu: self.plugin_cpu.get_or_create(&labels).clone(),
            }
        })
    }
}

impl Metrics {
    /// A registry with every family the host records.
    pub fn enabled() -> Metrics {
        let mut registry = Registry::with_prefix("switchboard");
        let f = Families {
            pages: RwLock::default(),
            webhooks: Family::default(),
            ack: latency(),
            events_refused: Family::default(),
            events_accepted: Family::default(),
            events_duplicate: Family::default(),
            events_done: Family::default(),
            events_retried: Family::default(),
            event_latency: Family::new_with_constructor(latency as fn() -> Histogram),
            queue_depth: Gauge::default(),
            queue_capacity: Gauge::default(),
            plugins_loaded: Gauge::default(),
            invocations: Family::default(),
            plugin_wall: Family::new_with_constructor(run_time as fn() -> Histogram),
            plugin_cpu: Family::default(),
            plugin_circuit: Family::default(),
            graph_calls: Family::default(),
            batch_fill: Histogram::new([1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0]),
            page_circuit: Family::default(),
            commit: latency(),
            commit_writes: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register("webhooks", "Webhook POSTs, by how they ended", f.webhooks.clone());
        r.register_with_unit("webhook_ack_duration", "Time from a webhook's body read to its answer", Unit::Seconds, f.ack.clone());
        r.register(
            "events_refused",
            "Events of signed webhooks not taken in (unknown Page, a Page of another app, older than retention)",
            f.events_refused.clone(),
        );
        r.register("events_accepted", "Events stored in the inbox for the first time", f.events_accepted.clone());
        r.register("events_duplicate", "Redelivered events recognised and not handled again", f.events_duplicate.clone());
        r.register("events_processed", "Events whose handling ended, by outcome", f.events_done.clone());
        r.register("events_retried", "Event attempts that failed and will be tried again", f.events_retried.clone());
        r.register_with_unit(
            "event_duration",
            "Time from an event's queueing to the end of its handling",
            Unit::Seconds,
            f.event_latency.clone(),
        );
        r.register("queue_depth", "Events accepted and not yet handled", f.queue_depth.clone());
        r.register("queue_capacity", "dispatch.max_queued_events: webhooks get 503 past it", f.queue_capacity.clone());
        r.register("plugins_loaded", "1 once the configured plugins are compiled and serving", f.plugins_loaded.clone());
        r.register("plugin_invocations", "Plugin calls (instantiate + handle), by outcome: ok or the failure class", f.invocations.clone());
        r.register_with_unit("plugin_duration", "Wall time of a plugin call", Unit::Seconds, f.plugin_wall.clone());
        r.register_with_unit("plugin_cpu", "CPU time spent in plugin calls", Unit::Seconds, f.plugin_cpu.clone());
        r.register("plugin_circuit_open", "1 while a plugin's circuit is open or half-open on a Page", f.plugin_circuit.clone());
        r.register(
            "graph_calls",
            "Graph API calls (each attempt), by outcome (ok, an error class, unavailable) and Graph error code",
            f.graph_calls.clone(),
        );
        r.register(
            "graph_batch_sends",
            "Sends carried by one Send API request (1: a plain call; more: a Batch API request)",
            f.batch_fill.clone(),
        );
        r.register("page_circuit_open", "1 while a Page's Graph circuit is open", f.page_circuit.clone());
        r.register_with_unit("store_commit_duration", "Time to apply and make durable one group commit", Unit::Seconds, f.commit.clone());
        r.register("store_commit_writes", "Writes that shared one group commit", f.commit_writes.clone());
        Metrics(Some(Arc::new(Families { registry, ..f })))
    }

    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// The registry in the Prometheus (OpenMetrics) text format.
    pub fn encode(&self) -> Option<String> {
        let f = self.0.as_ref()?;
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &f.registry).ok()?;
        Some(text)
    }

    pub fn webhook(&self, outcome: WebhookOutcome, took: Duration) {
        if let Some(f) = &self.0 {
            f.webhooks.get_or_create(&WebhookLabels { outcome: outcome.label() }).inc();
            f.ack.observe(took.as_secs_f64());
        }
    }

    /// An event of a signed webhook dropped for `reason`.
    pub fn event_refused(&self, reason: &'static str) {
        if let Some(f) = &self.0 {
            f.events_refused.get_or_create(&ReasonLabels { reason }).inc();
        }
    }

    /// An event appended to the inbox: `fresh` or a redelivery.
    pub fn event_stored(&self, page: &str, fresh: bool) {
        if let Some(f) = &self.0 {
            let series = f.page(page);
            if fresh { &series.accepted } else { &series.duplicate }.inc();
        }
    }

    pub fn event_done(&self, page: &str, outcome: EventOutcome, since_queued: Duration) {
        if let Some(f) = &self.0 {
            let series = f.page(page);
            series.latency.observe(since_queued.as_secs_f64());
            let outcome = match outcome {
                EventOutcome::Complete => {
                    series.complete.inc();
                    return;
                }
                EventOutcome::Finished => "finished",
                EventOutcome::DeadLetter => "dead_letter",
            };
            f.events_done.get_or_create(&PageOutcomeLabels { page: page.to_string(), outcome }).inc();
        }
    }

    pub fn event_retried(&self, page: &str) {
        if let Some(f) = &self.0 {
            f.events_retried.get_or_create(&PageLabels { page: page.to_string() }).inc();
        }
    }

    /// A plugin call ended: `outcome` is `ok` or its failure class.
    pub fn plugin_invoked(&self, page: &str, plugin: &str, outcome: &'static str, wall: Duration, cpu: Duration) {
        if let Some(f) = &self.0 {
            let series = f.plugin(page, plugin);
            series.wall.observe(wall.as_secs_f64());
            series.cpu.inc_by(cpu.as_secs_f64());
            if outcome == "ok" {
                series.ok.inc();
            } else {
                let labels = PluginOutcomeLabels { page: page.to_string(), plugin: plugin.to_string(), outcome };
                f.invocations.get_or_create(&labels).inc();
            }
        }
    }

    /// One attempt of a Graph call for `page`.
    pub fn graph_call(&self, page: &str, outcome: GraphOutcome, code: Option<i32>) {
        if let Some(f) = &self.0 {
            let outcome = match outcome {
                GraphOutcome::Ok => {
                    f.page(page).graph_ok.inc();
                    return;
                }
                GraphOutcome::Error(class) => class,
                GraphOutcome::Unavailable => "unavailable",
            };
            // Only codes Meta documents for the calls the host makes: a code
            // is the answer's to choose, and each new one would be a series.
            let code = match code {
                None => String::new(),
                Some(c) if GRAPH_CODES.contains(&c) => c.to_string(),
                Some(_) => "other".to_string(),
            };
            f.graph_calls.get_or_create(&GraphLabels { page: page.to_string(), outcome, code }).inc();
        }
    }

    /// A Send API request went out carrying `sends` sends.
    pub fn send_request(&self, sends: usize) {
        if let Some(f) = &self.0 {
            f.batch_fill.observe(sends as f64);
        }
    }

    /// A group commit of `writes` writes took `took`.
    pub fn store_commit(&self, writes: usize, took: Duration) {
        if let Some(f) = &self.0 {
            f.commit.observe(took.as_secs_f64());
            f.commit_writes.observe(writes as f64);
        }
    }

    /// Scrape-time state: the dispatcher's queue and whether plugins serve.
    pub fn set_queue(&self, depth: usize, capacity: usize, plugins_loaded: bool) {
        if let Some(f) = &self.0 {
            f.queue_depth.set(depth as i64);
            f.queue_capacity.set(capacity as i64);
            f.plugins_loaded.set(i64::from(plugins_loaded));
        }
    }

    /// Before the scrape-time circuit gauges are set again: Pages and
    /// plugins removed by a reload must not keep their last value.
    pub fn clear_circuits(&self) {
        if let Some(f) = &self.0 {
            f.page_circuit.clear();
            f.plugin_circuit.clear();
        }
    }

    /// Scrape-time state: whether `page`'s Graph circuit is open.
    pub fn set_page_circuit(&self, page: &str, open: bool) {
        if let Some(f) = &self.0 {
            f.page_circuit.get_or_create(&PageLabels { page: page.to_string() }).set(i64::from(open));
        }
    }

    /// Scrape-time state: whether `plugin`'s circuit on `page` is open.
    pub fn set_plugin_circuit(&self, page: &str, plugin: &str, open: bool) {
        if let Some(f) = &self.0 {
            f.plugin_circuit.get_or_create(&PluginLabels { page: page.to_string(), plugin: plugin.to_string() }).set(i64::from(open));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_named_in_base_units_and_labelled_by_page_and_outcome() {
        let metrics = Metrics::enabled();
        metrics.webhook(WebhookOutcome::BadSignature, Duration::from_millis(2));
        metrics.event_stored("1001", true);
        metrics.plugin_invoked("1001", "echo", "ok", Duration::from_micros(40), Duration::from_micros(30));
        metrics.graph_call("1001", GraphOutcome::Error("auth"), Some(190));
        let text = metrics.encode().expect("enabled");
        for line in [
            r#"switchboard_webhooks_total{outcome="bad_signature"} 1"#,
            r#"switchboard_events_accepted_total{page="1001"} 1"#,
            r#"switchboard_plugin_invocations_total{page="1001",plugin="echo",outcome="ok"} 1"#,
            r#"switchboard_graph_calls_total{page="1001",outcome="auth",code="190"} 1"#,
            "# TYPE switchboard_webhook_ack_duration_seconds histogram",
            "# UNIT switchboard_plugin_cpu_seconds seconds",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(Metrics::default().encode().is_none(), "a disabled handle has nothing to serve");
    }
}
