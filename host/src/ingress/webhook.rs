//! The HTTP face of the host: Messenger's webhook endpoints.
//!
//! * `GET /webhook[/{app_id}]`: the subscription handshake (`hub.challenge`).
//! * `POST /webhook/{app_id}` (and `POST /webhook` when one app is
//!   configured): verify the signature over the raw bytes, parse every event,
//!   append the batch to the durable inbox (group commit), hand the new
//!   events to the [`Dispatcher`] and answer 200. Plugins and Graph calls run
//!   later, so they can never delay the acknowledgement; the 200 goes out
//!   only once the events are on disk.
//!
//! Every POST is counted in the metrics by how it ended
//! ([`WebhookOutcome`]), with the time to its answer.
//!
//! Status codes: 200 accepted (or ignored: another `object`, unknown Pages,
//! redeliveries); 400 a signed body that is not a webhook envelope; 401 no
//! signature; 403 wrong signature or verify token; 404 unknown app; 413 body
//! over the limit; 500 the store failed; 503 queue full or shutting down
//! (Messenger redelivers in both cases).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::config::{Config, Secret};
use crate::ingress::inbox::{Inbox, Refused};
use crate::ingress::signature::{SignatureError, SignatureVerifier, SHA1_HEADER, SHA256_HEADER};
use crate::store::problems::{Problem, ProblemKind, ProblemLog};
use crate::telemetry::{Metrics, WebhookOutcome};

struct App {
    verifier: SignatureVerifier,
    verify_token: Secret,
    /// For the app access token (`{id}|{secret}`) of the data deletion
    /// callback's ID-matching call.
    secret: Secret,
}

/// The configured apps, with their secrets, and which app each Page is
/// under. Taken from the config, not from the plugin routes, so webhooks
/// are verified and taken in while the plugins still compile at start.
struct Apps {
    by_id: HashMap<String, App>,
    /// Page id → the id of the app it is configured under.
    page_apps: HashMap<String, String>,
    /// The app `POST /webhook` means, when exactly one is configured.
    only_app: Option<String>,
}

/// The apps the webhook verifies against; replaced whole when the config
/// is reloaded (a rotated app secret or verify token), without a restart.
#[derive(Clone)]
pub struct WebhookApps(Arc<RwLock<Arc<Apps>>>);

impl WebhookApps {
    pub fn new(config: &Config) -> Self {
        WebhookApps(Arc::new(RwLock::new(Arc::new(Self::from_config(config)))))
    }

    fn from_config(config: &Config) -> Apps {
        let by_id: HashMap<String, App> = config
            .apps
            .iter()
            .map(|a| {
                (
                    a.id.clone(),
                    App {
                        verifier: SignatureVerifier::new(a.secret.clone()),
                        verify_token: a.verify_token.clone(),
                        secret: a.secret.clone(),
                    },
                )
            })
            .collect();
        let only_app = (by_id.len() == 1).then(|| config.apps[0].id.clone());
        let page_apps = config.pages.iter().map(|p| (p.id.clone(), p.app.clone())).collect();
        Apps { by_id, page_apps, only_app }
    }

    /// Takes the apps of `config`; requests already verifying finish with
    /// the old ones.
    pub fn replace(&self, config: &Config) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Self::from_config(config));
    }

    fn current(&self) -> Arc<Apps> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The verifier of app `app_id`'s signatures, if it is configured.
    pub fn verifier(&self, app_id: &str) -> Option<SignatureVerifier> {
        self.current().by_id.get(app_id).map(|a| a.verifier.clone())
    }

    /// App `app_id`'s access token (`{id}|{secret}`) and its
    /// `appsecret_proof`, if it is configured.
    pub fn app_token(&self, app_id: &str) -> Option<(Secret, String)> {
        let apps = self.current();
        let app = apps.by_id.get(app_id)?;
        let token = format!("{app_id}|{}", app.secret.expose());
        let proof = hex::encode(app.verifier.sha256(token.as_bytes()));
        Some((Secret::new(token), proof))
    }

    /// The Pages configured under app `app_id`.
    pub fn pages_of(&self, app_id: &str) -> Vec<String> {
        let mut pages: Vec<String> = self.current().page_apps.iter().filter(|(_, app)| *app == app_id).map(|(p, _)| p.clone()).collect();
        pages.sort();
        pages
    }
}

/// Events of signed webhooks that were not taken in, by reason. Shown by
/// `GET /admin/plugins` (and `switchboard plugins`).
#[derive(Clone, Default)]
pub struct RefusedEvents(Arc<RefusedCounts>);

#[derive(Default)]
struct RefusedCounts {
    unknown_page: AtomicU64,
    other_app: AtomicU64,
    older_than_retention: AtomicU64,
}

impl RefusedEvents {
    pub fn report(&self) -> serde_json::Value {
        serde_json::json!({
            "unknown_page": self.0.unknown_page.load(Ordering::Relaxed),
            "page_of_another_app": self.0.other_app.load(Ordering::Relaxed),
            "older_than_retention": self.0.older_than_retention.load(Ordering::Relaxed),
        })
    }
}

struct WebhookState {
    apps: WebhookApps,
    inbox: Inbox,
    refused: RefusedEvents,
    metrics: Metrics,
    problems: ProblemLog,
    /// `store.retention_hours`: how long the inbox remembers an event for
    /// de-duplication, and so the oldest event it can take in.
    retention_ms: u64,
}

/// What the webhook reports to: counters, and the record of problems.
pub struct Reporting {
    pub refused: RefusedEvents,
    pub metrics: Metrics,
    pub problems: ProblemLog,
}

pub fn router(config: &Config, apps: WebhookApps, inbox: Inbox, reporting: Reporting) -> Router {
    let retention_ms = config.store.retention_hours.saturating_mul(3_600_000);
    let Reporting { refused, metrics, problems } = reporting;
    let state = Arc::new(WebhookState { apps, inbox, refused, metrics, problems, retention_ms });
    Router::new()
        .route("/webhook", get(verify_any).post(receive_default))
        .route("/webhook/{app_id}", get(verify_app).post(receive_app))
        .layer(DefaultBodyLimit::max(config.webhook.max_body_bytes))
        .with_state(state)
}

type Params = Query<HashMap<String, String>>;

async fn verify_any(State(state): State<Arc<WebhookState>>, Query(q): Params) -> Response {
    let token_ok = |app: &App| q.get("hub.verify_token").is_some_and(|t| constant_time_eq(t, app.verify_token.expose()));
    handshake(&q, state.apps.current().by_id.values().any(token_ok))
}

async fn verify_app(State(state): State<Arc<WebhookState>>, Path(app_id): Path<String>, Query(q): Params) -> Response {
    let ok = state
        .apps
        .current()
        .by_id
        .get(&app_id)
        .zip(q.get("hub.verify_token"))
        .is_some_and(|(app, t)| constant_time_eq(t, app.verify_token.expose()));
    handshake(&q, ok)
}

fn handshake(q: &HashMap<String, String>, token_ok: bool) -> Response {
    match (q.get("hub.mode").map(String::as_str), q.get("hub.challenge")) {
        (Some("subscribe"), Some(challenge)) if token_ok => (StatusCode::OK, challenge.clone()).into_response(),
        _ => {
            tracing::warn!("webhook verification refused: wrong hub.mode or verify token");
            (StatusCode::FORBIDDEN, "Forbidden").into_response()
        }
    }
}

/// The body, or why it could not be read (413 past the size limit).
type Body = Result<Bytes, BytesRejection>;

async fn receive_default(State(state): State<Arc<WebhookState>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let only_app = state.apps.current().only_app.clone();
    match only_app {
        Some(app_id) => counted(&state, &app_id, &headers, body).await,
        None => {
            state.metrics.webhook(WebhookOutcome::UnknownApp, started.elapsed());
            state.problems.record(
                Problem::new(
                    None,
                    ProblemKind::WebhookRefused,
                    "POST /webhook answered 404: several apps are configured; point each app's callback URL at /webhook/{app_id}",
                )
                .class(WebhookOutcome::UnknownApp.label()),
            );
            (StatusCode::NOT_FOUND, "several apps are configured: point each app's callback URL at /webhook/{app_id}").into_response()
        }
    }
}

async fn receive_app(State(state): State<Arc<WebhookState>>, Path(app_id): Path<String>, headers: HeaderMap, body: Body) -> Response {
    counted(&state, &app_id, &headers, body).await
}

/// [`receive`], with its outcome and time recorded.
async fn counted(state: &WebhookState, app_id: &str, headers: &HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let (outcome, response) = match body {
        Ok(body) => receive(state, app_id, headers, &body).await,
        Err(rejection) => {
            tracing::warn!(app = app_id, error = %rejection, "webhook body not read");
            let outcome = match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => WebhookOutcome::TooLarge,
                _ => WebhookOutcome::BodyUnread,
            };
            (outcome, rejection.into_response())
        }
    };
    state.metrics.webhook(outcome, started.elapsed());
    if outcome != WebhookOutcome::Accepted {
        state.problems.record(refused_webhook(app_id, outcome, response.status()));
    }
    response
}

/// A refused webhook, for the record of problems. Filed as the host's own:
/// nothing in a body that was refused can be trusted to name a Page. The
/// app id comes from the URL, so it is cut short.
fn refused_webhook(app_id: &str, outcome: WebhookOutcome, status: StatusCode) -> Problem {
    let app: String = app_id.chars().take(40).collect();
    let why = match outcome {
        WebhookOutcome::Unsigned => "no X-Hub-Signature-256 header",
        WebhookOutcome::BadSignature => "the signature does not match the app secret (a forged body, or the wrong secret in the config)",
        WebhookOutcome::UnknownApp => "no such app in the config",
        WebhookOutcome::TooLarge => "the body is over webhook.max_body_bytes",
        WebhookOutcome::BodyUnread => "the body could not be read",
        WebhookOutcome::Malformed => "a signed body that is not a webhook envelope",
        WebhookOutcome::Busy => "the queue is full (dispatch.max_queued_events) or the host is stopping; Messenger redelivers",
        WebhookOutcome::StoreFailed => "the store could not write the events; Messenger redelivers",
        WebhookOutcome::Accepted => "accepted",
    };
    Problem::new(None, ProblemKind::WebhookRefused, format!("webhook for app {app} answered {}: {why}", status.as_u16()))
        .class(outcome.label())
}

async fn receive(state: &WebhookState, app_id: &str, headers: &HeaderMap, body: &[u8]) -> (WebhookOutcome, Response) {
    let apps = state.apps.current();
    let Some(app) = apps.by_id.get(app_id) else {
        tracing::warn!(app = app_id, "webhook for an app that is not configured");
        return (WebhookOutcome::UnknownApp, (StatusCode::NOT_FOUND, "unknown app id").into_response());
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = app.verifier.verify(body, header(SHA256_HEADER), header(SHA1_HEADER)) {
        tracing::warn!(app = app_id, error = %e, bytes = body.len(), "webhook refused");
        let (status, outcome) = if e == SignatureError::Missing {
            (StatusCode::UNAUTHORIZED, WebhookOutcome::Unsigned)
        } else {
            (StatusCode::FORBIDDEN, WebhookOutcome::BadSignature)
        };
        return (outcome, (status, e.to_string()).into_response());
    }
    let parsed = match crate::ingress::envelope::parse(body) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(app = app_id, error = %e, "signed webhook body refused");
            return (WebhookOutcome::Malformed, (StatusCode::BAD_REQUEST, e.to_string()).into_response());
        }
    };
    let received = || (WebhookOutcome::Accepted, (StatusCode::OK, "EVENT_RECEIVED").into_response());
    if let Some(object) = parsed.ignored_object {
        tracing::debug!(app = app_id, object, "webhook for another object type ignored");
        return received();
    }
    for why in &parsed.skipped {
        tracing::warn!(app = app_id, "webhook item skipped: {why}");
    }
    let mut events = parsed.events;
    // An app's signature vouches only for its own Pages: an entry for a Page
    // configured under another app is not that app's to deliver, and its
    // Page's token must not answer it.
    events.retain(|e| match apps.page_apps.get(&e.page_id) {
        Some(page_app) if page_app == app_id => true,
        Some(page_app) => {
            state.refused.0.other_app.fetch_add(1, Ordering::Relaxed);
            state.metrics.event_refused("page_of_another_app");
            // The host's own: one app's signature cannot file problems
            // under another app's Page.
            let page: String = e.page_id.chars().take(40).collect();
            state.problems.record(
                Problem::new(
                    None,
                    ProblemKind::WebhookRefused,
                    format!("event for Page {page} signed by app {app_id}, but the Page is configured under app {page_app}; dropped"),
                )
                .class("page_of_another_app"),
            );
            tracing::warn!(app = app_id, page = %e.page_id, page_app = %page_app, event = %e.id,
                "event for a Page of another app, signed with this app's secret; dropped");
            false
        }
        None => {
            state.refused.0.unknown_page.fetch_add(1, Ordering::Relaxed);
            state.metrics.event_refused("unknown_page");
            let page: String = e.page_id.chars().take(40).collect();
            state.problems.record(
                Problem::new(
                    None,
                    ProblemKind::WebhookRefused,
                    format!("event for Page {page}, which this host does not serve; dropped (add it to the config?)"),
                )
                .class("unknown_page"),
            );
            tracing::warn!(page = %e.page_id, event = %e.id, "event for a Page this host does not serve; dropped");
            false
        }
    });
    // The inbox remembers an event (to recognise a redelivery) for the
    // retention window after it finished: one older than that could be a
    // captured body posted again, and would run the plugins a second time.
    let oldest = crate::model::now_ms().saturating_sub(state.retention_ms);
    events.retain(|e| {
        if e.timestamp >= oldest {
            return true;
        }
        state.refused.0.older_than_retention.fetch_add(1, Ordering::Relaxed);
        state.metrics.event_refused("older_than_retention");
        state.problems.record(
            Problem::new(
                Some(&e.page_id),
                ProblemKind::WebhookRefused,
                format!("event from {} ms since the epoch is older than store.retention_hours (a replayed body?); dropped", e.timestamp),
            )
            .class("older_than_retention")
            .event(&e.id),
        );
        tracing::warn!(app = app_id, page = %e.page_id, event = %e.id, timestamp = e.timestamp,
            "event older than store.retention_hours, past what de-duplication remembers (a replayed body?); dropped");
        false
    });
    // Per-conversation order is timestamp order; the sort is stable so
    // equal timestamps keep their order in the body.
    events.sort_by_key(|e| e.timestamp);
    if events.is_empty() {
        return received();
    }
    match state.inbox.accept(events).await {
        Ok(_) => received(),
        Err(Refused::Busy(busy)) => {
            tracing::warn!(app = app_id, "{busy}");
            (WebhookOutcome::Busy, (StatusCode::SERVICE_UNAVAILABLE, busy.to_string()).into_response())
        }
        Err(Refused::Store(e)) => {
            tracing::error!(app = app_id, error = %e, "could not store a webhook; Messenger will redeliver it");
            (WebhookOutcome::StoreFailed, (StatusCode::INTERNAL_SERVER_ERROR, "could not store the events").into_response())
        }
    }
}

pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
