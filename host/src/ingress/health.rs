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
//!   Unauthenticated, as scrapers expect: it carries Page and plugin ids,
//!   never people; keep it off the public internet.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::engine::dispatch::Dispatcher;
use crate::engine::registry::PluginRegistry;
use crate::model::now_ms;
use crate::store::{Store, WriteOp};
use crate::telemetry::Metrics;

/// How long `/readyz` waits for the store's probe write.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

struct HealthState {
    store: Store,
    registry: PluginRegistry,
    dispatcher: Dispatcher,
    metrics: Metrics,
}

pub fn router(store: Store, registry: PluginRegistry, dispatcher: Dispatcher, metrics: Metrics) -> Router {
    let state = Arc::new(HealthState { store, registry, dispatcher, metrics });
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(scrape))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<HealthState>>) -> Response {
    // A real write through the writer thread: a full disk, a lost volume or
    // a stuck writer all show here, not only an unreadable file.
    let probe = WriteOp::PageStatePut { page_id: String::new(), key: "host:readiness-probe".into(), value: now_ms().to_string() };
    let store = match tokio::time::timeout(STORE_PROBE_TIMEOUT, state.store.write(probe)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!("no commit within {STORE_PROBE_TIMEOUT:?}")),
    };
    let plugins_loaded = state.registry.is_loaded();
    let (queued, capacity) = (state.dispatcher.queued(), state.dispatcher.capacity());
    let ready = store.is_ok() && plugins_loaded && queued < capacity;
    let body = json!({
        "ready": ready,
        "store": store.map_or_else(|e| json!({ "ok": false, "error": e }), |()| json!({ "ok": true })),
        "plugins_loaded": plugins_loaded,
        "queue": { "ok": queued < capacity, "depth": queued, "capacity": capacity },
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

async fn scrape(State(state): State<Arc<HealthState>>) -> Response {
    let m = &state.metrics;
    if !m.is_enabled() {
        return (StatusCode::NOT_FOUND, "metrics are off: remove `enabled = false` from [metrics]").into_response();
    }
    m.set_queue(state.dispatcher.queued(), state.dispatcher.capacity(), state.registry.is_loaded());
    let routes = state.registry.snapshot();
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
