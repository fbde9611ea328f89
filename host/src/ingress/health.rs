//! Endpoints for load balancers, orchestrators and Prometheus.
//!
//! * `GET /livez` (and `/healthz`, kept for older probes): the process
//!   serves HTTP. Nothing else is checked: a restart would not help with
//!   anything `/readyz` reports.
//! * `GET /readyz`: 200 when the host can take events in and handle them:
//!   the store commits a write within 2 s, the configured plugins are
//!   loaded, and the queue is below `dispatch.max_queued_events`; 503
//!   otherwise. Either way the body is JSON naming each check.
//! * `GET /metrics`: the Prometheus text format (see
//!   [`crate::telemetry::Metrics`]); 404 with `[metrics] enabled = false`.
//!   It carries Page and plugin ids, never people; on the webhook's
//!   listener, which Meta must reach, so `[metrics] token` makes it ask
//!   for a bearer token.
//!
//! `/readyz` answers from one probe at a time, and reuses a result less
//! than a second old: a flood of probes costs one write a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::config::Secret;
use crate::engine::dispatch::Dispatcher;
use crate::engine::registry::PluginRegistry;
use crate::ingress::webhook::constant_time_eq;
use crate::model::now_ms;
use crate::store::{Store, WriteOp};
use crate::telemetry::Metrics;

/// How long `/readyz` waits for the store's probe write.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a probe's result answers `/readyz`.
const STORE_PROBE_REUSE: Duration = Duration::from_secs(1);

struct HealthState {
    store: Store,
    registry: PluginRegistry,
    dispatcher: Dispatcher,
    metrics: Metrics,
    metrics_token: Option<Secret>,
    /// The last store probe: when, and whether it committed.
    last_probe: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

pub fn router(store: Store, registry: PluginRegistry, dispatcher: Dispatcher, metrics: Metrics, metrics_token: Option<Secret>) -> Router {
    let state = Arc::new(HealthState { store, registry, dispatcher, metrics, metrics_token, last_probe: Default::default() });
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(scrape))
        .with_state(state)
}

/// Whether the store commits a write: a real one through the writer
/// thread, so a full disk, a lost volume or a stuck writer all show, not
/// only an unreadable file. (Page ids are never empty: the row is the
/// probe's own.)
async fn store_commits(state: &HealthState) -> bool {
    let mut last = state.last_probe.lock().await;
    if let Some((at, ok)) = *last {
        if at.elapsed() < STORE_PROBE_REUSE {
            return ok;
        }
    }
    let probe = WriteOp::PageStatePut { page_id: String::new(), key: "host:readiness-probe".into(), value: now_ms().to_string() };
    let ok = match tokio::time::timeout(STORE_PROBE_TIMEOUT, state.store.write(probe)).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            tracing::error!(error = %format!("{e:#}"), "not ready: the store did not commit the readiness probe");
            false
        }
        Err(_) => {
            tracing::error!("not ready: the store did not commit the readiness probe within {STORE_PROBE_TIMEOUT:?}");
            false
        }
    };
    *last = Some((Instant::now(), ok));
    ok
}

async fn readyz(State(state): State<Arc<HealthState>>) -> Response {
    let store = store_commits(&state).await;
    let plugins_loaded = state.registry.is_loaded();
    let (queued, capacity, room) = (state.dispatcher.queued(), state.dispatcher.capacity(), state.dispatcher.has_room());
    let ready = store && plugins_loaded && room;
    let body = json!({
        "ready": ready,
        "store": { "ok": store },
        "plugins_loaded": plugins_loaded,
        "queue": { "ok": room, "depth": queued, "capacity": capacity },
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

async fn scrape(State(state): State<Arc<HealthState>>, headers: HeaderMap) -> Response {
    let m = &state.metrics;
    if !m.is_enabled() {
        return (StatusCode::NOT_FOUND, "metrics are off: remove `enabled = false` from [metrics]").into_response();
    }
    if let Some(token) = &state.metrics_token {
        let presented = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if !presented.is_some_and(|p| constant_time_eq(p.trim(), token.expose())) {
            return (StatusCode::UNAUTHORIZED, "send `Authorization: Bearer <metrics.token>`").into_response();
        }
    }
    m.set_queue(state.dispatcher.queued(), state.dispatcher.capacity(), state.registry.is_loaded());
    let routes = state.registry.snapshot();
    m.clear_circuits();
    for (page_id, route) in &routes.pages {
        m.set_page_circuit(page_id, route.access.gate.circuit_open());
        for link in &route.plugins {
            let report = state.registry.health().report(page_id, &link.id, &link.compiled.path);
            m.set_plugin_circuit(page_id, &link.id, report.circuit != "closed");
        }
    }
    match m.encode() {
        Some(text) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response(),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "could not encode the metrics").into_response(),
    }
}
