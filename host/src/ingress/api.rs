//! The HTTP API for systems other than Messenger.
//!
//! `POST /api/pages/{page_id}/events`: a **business event** (an inventory
//! service saying a product is back, a CRM saying an order shipped) for the
//! Page's plugins, which may answer with proactive messages (a
//! one-time-notification send, a tagged message...).
//!
//! * `Authorization: Bearer <api.token>` (compared in constant time). With
//!   no `[api] token` configured the API is off and answers 404.
//! * Body: any JSON value up to `api.max_body_bytes`; plugins receive it as
//!   is, and its top-level `"type"` string, if any, as the event's kind.
//! * `?psid=<PSID>`: deliver it in that person's conversation (ordered with
//!   their messages); without it, in the Page's own lane.
//! * `Idempotency-Key: <key>`: the same key within the store's retention is
//!   the same event, accepted once (a retrying caller cannot double-send).
//!
//! Answers: 202 `{"id": ..., "duplicate": false}` once the event is on disk;
//! 400 not JSON or a bad psid; 401 missing or wrong token; 404 unknown Page
//! or API off; 413 too large; 500 store failure; 503 queue full or shutting
//! down (retry later).
//!
//! `GET /admin/plugins` (same token): every Page's plugin chain as loaded,
//! with version, hash, load time, and each plugin's health (invocations,
//! failures by class, circuit, last failure, last rejected file). This is
//! what `switchboard plugins` prints.
//!
//! `GET /admin/pages/{page_id}/people` (same token): the people the Page
//! has talked with (see [`crate::messenger::conversation::people`]):
//! `?window=open`, `?topic=` (holds an open one-time-notification token for
//! it), `?after=` a PSID (the previous answer's `next_after`), `?limit=`
//! (default 100, at most 1000). What `switchboard people` prints.
//!
//! `GET /admin/pages/{page_id}/people/{psid}` (same token): everything the
//! host keeps about that person on the Page, as JSON (an export: events,
//! sends, conversation state, tokens, problems). What `switchboard people
//! export` prints.
//!
//! `DELETE /admin/pages/{page_id}/people/{psid}` (same token): erases the
//! person. Answers 202 `{"request": ..., "id": ...}` once a person-erased
//! event is in the inbox; handled in the person's conversation (after what
//! they sent before), it deletes their rows, then the Page's plugins get it
//! to delete theirs. `GET /admin/pages/{page_id}/erasures/{request}`
//! answers 200 with what went once it is done, 404 before. What
//! `switchboard people erase` does.
//!
//! `GET /admin/errors` (same token): the recent problems (see
//! [`crate::store::problems`]), oldest first: `?page=` one Page's (`host`
//! for the host's own), `?since=` an age (`15m`), an RFC 3339 time or
//! epoch milliseconds, `?after=` an id (what reached the store since a previous
//! answer's `next_after`), `?limit=` (default 100, at most 1000). What `switchboard
//! errors` prints.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::config::{Config, Secret};
use crate::engine::registry::PluginRegistry;
use crate::ingress::inbox::{Inbox, Refused};
use crate::ingress::webhook::{constant_time_eq, RefusedEvents};
use crate::messenger::conversation::people::{self, PeopleQuery};
use crate::model::now_ms;
use crate::model::InboundEvent;
use crate::store::problems::{ProblemQuery, RecordedProblem};
use crate::store::Store;

/// The API's bearer tokens: `[api] token`, and the Pages this host serves
/// with their own business-events token if they have one. From the config
/// (so business events are taken in while plugins still compile at start);
/// replaced when it is reloaded.
#[derive(Clone, Default)]
pub struct ApiToken(Arc<std::sync::RwLock<Arc<ApiTokens>>>);

#[derive(Default)]
struct ApiTokens {
    api: Option<Secret>,
    /// Page id → its own token, if any.
    pages: HashMap<String, Option<Secret>>,
}

impl ApiToken {
    pub fn new(config: &Config) -> Self {
        let token = ApiToken::default();
        token.replace(config);
        token
    }

    pub fn replace(&self, config: &Config) {
        let pages = config.pages.iter().map(|p| (p.id.clone(), p.api_token.clone())).collect();
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ApiTokens { api: config.api.token.clone(), pages });
    }

    fn tokens(&self) -> Arc<ApiTokens> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn current(&self) -> Option<Secret> {
        self.tokens().api.clone()
    }
}

struct ApiState {
    token: ApiToken,
    registry: PluginRegistry,
    inbox: Inbox,
    refused: RefusedEvents,
    store: Store,
}

pub fn router(config: &Config, token: ApiToken, registry: PluginRegistry, inbox: Inbox, refused: RefusedEvents, store: Store) -> Router {
    let state = Arc::new(ApiState { token, registry, inbox, refused, store });
    Router::new()
        .route("/api/pages/{page_id}/events", post(business_event))
        .route("/admin/plugins", axum::routing::get(admin_plugins))
        .route("/admin/errors", axum::routing::get(admin_errors))
        .route("/admin/pages/{page_id}/people", axum::routing::get(admin_people))
        .route("/admin/pages/{page_id}/people/{psid}", axum::routing::get(admin_person).delete(admin_erase_person))
        .route("/admin/pages/{page_id}/erasures/{request}", axum::routing::get(admin_erasure))
        .layer(DefaultBodyLimit::max(config.api.max_body_bytes))
        .with_state(state)
}

fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    (status, Json(json!({ "error": why.into() }))).into_response()
}

/// A store read that failed: logged as `what`, answered 500.
fn read_failed(what: &str, e: anyhow::Error) -> Response {
    tracing::error!(error = %e, "{what}");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "could not read the store")
}

/// Why a caller was turned away.
#[derive(Debug, Clone, Copy)]
enum Unauthorized {
    /// No `[api] token`: the API is off.
    ApiOff,
    BadToken,
}

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        match self {
            Unauthorized::ApiOff => refuse(StatusCode::NOT_FOUND, "the HTTP API is off: set [api] token in the config"),
            Unauthorized::BadToken => refuse(StatusCode::UNAUTHORIZED, "send `Authorization: Bearer <api.token>`"),
        }
    }
}

/// Checks the bearer token against `[api] token`.
fn authorize(state: &ApiState, headers: &HeaderMap, what: &str) -> Result<(), Unauthorized> {
    authorize_with(state.token.current(), headers, what)
}

/// Checks the bearer token against `expected` (none: the API is off).
fn authorize_with(expected: Option<Secret>, headers: &HeaderMap, what: &str) -> Result<(), Unauthorized> {
    let Some(token) = expected else {
        return Err(Unauthorized::ApiOff);
    };
    let presented = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !presented.is_some_and(|p| constant_time_eq(p.trim(), token.expose())) {
        tracing::warn!("{what} refused: missing or wrong bearer token");
        return Err(Unauthorized::BadToken);
    }
    Ok(())
}

/// Every Page's loaded plugins and their health, as JSON.
pub fn plugins_report(registry: &PluginRegistry) -> Value {
    let routes = registry.snapshot();
    let mut pages: Vec<_> = routes.pages.iter().collect();
    pages.sort_by(|a, b| a.0.cmp(b.0));
    let pages: Vec<Value> = pages
        .into_iter()
        .map(|(page_id, route)| {
            let plugins: Vec<Value> = route
                .plugins
                .iter()
                .map(|link| {
                    let p = &link.compiled;
                    json!({
                        "id": &*link.id,
                        "name": p.info.name,
                        "version": p.info.version,
                        "event_kinds": p.info.event_kinds,
                        "contract": p.contract(),
                        "path": p.path.display().to_string(),
                        "hash": p.hash,
                        "loaded_at_ms": p.loaded_at_ms,
                        "from_cache": p.compilation == crate::sandbox::Compilation::Cached,
                        "health": registry.health().report(page_id, &link.id, &p.path),
                    })
                })
                .collect();
            json!({ "page_id": page_id, "plugins": plugins })
        })
        .collect();
    json!({ "plugins_loaded": registry.is_loaded(), "pages": pages })
}

async fn admin_plugins(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&state, &headers, "admin request") {
        return refused.into_response();
    }
    let mut report = plugins_report(&state.registry);
    report["refused_events"] = state.refused.report();
    Json(report).into_response()
}

/// The largest `?limit=` of `GET /admin/errors`.
const MOST_ERRORS: usize = 1000;

async fn admin_errors(State(state): State<Arc<ApiState>>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(refused) = authorize(&state, &headers, "admin request") {
        return refused.into_response();
    }
    let query = match errors_query(&q) {
        Ok(query) => query,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let after = query.after_id;
    match state.store.read(move |b| b.problems(&query)).await {
        Ok(problems) => {
            let next_after = problems.iter().map(|p| p.id).max().unwrap_or(after).max(after);
            let errors: Vec<Value> = problems.iter().map(RecordedProblem::to_json).collect();
            Json(json!({ "errors": errors, "next_after": next_after })).into_response()
        }
        Err(e) => read_failed("could not read the recent problems", e),
    }
}

async fn admin_people(
    State(state): State<Arc<ApiState>>,
    Path(page_id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(refused) = authorize(&state, &headers, "admin request") {
        return refused.into_response();
    }
    let routes = state.registry.snapshot();
    let Some(route) = routes.pages.get(&page_id) else {
        if !state.registry.is_loaded() {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "the plugins are still loading; ask again in a moment");
        }
        return refuse(StatusCode::NOT_FOUND, format!("this host does not serve Page {page_id}"));
    };
    let query = match people_query(&q) {
        Ok(query) => query,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let app_id = route.access.app_id.clone();
    let policy = route.access.conversations.policy().clone();
    let listed = state.store.read(move |b| people::list(b, &page_id, &app_id, &policy, &query, now_ms())).await;
    match listed {
        Ok(people) => Json(json!(people)).into_response(),
        Err(e) => read_failed("could not list a Page's people", e),
    }
}

/// A PSID from a URL or a query: digits and letters only.
fn valid_psid(psid: &str) -> bool {
    !psid.is_empty() && psid.len() <= 64 && psid.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The checks of the admin calls about one person: the token, a Page this
/// host serves (by its config: plugins need not be loaded), a valid PSID.
/// The refusal, if one fails.
fn person_call_refused(state: &ApiState, headers: &HeaderMap, page_id: &str, psid: &str) -> Option<Response> {
    if let Err(refused) = authorize(state, headers, "admin request") {
        return Some(refused.into_response());
    }
    if !state.token.tokens().pages.contains_key(page_id) {
        return Some(refuse(StatusCode::NOT_FOUND, format!("this host does not serve Page {page_id}")));
    }
    if !valid_psid(psid) {
        return Some(refuse(StatusCode::BAD_REQUEST, "psid must be a page-scoped user id (digits)"));
    }
    None
}

async fn admin_person(State(state): State<Arc<ApiState>>, Path((page_id, psid)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Some(refused) = person_call_refused(&state, &headers, &page_id, &psid) {
        return refused;
    }
    match state.store.read(move |b| b.person(&page_id, &psid)).await {
        Ok(record) => Json(record).into_response(),
        Err(e) => read_failed("could not read a person's records", e),
    }
}

async fn admin_erase_person(
    State(state): State<Arc<ApiState>>,
    Path((page_id, psid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = person_call_refused(&state, &headers, &page_id, &psid) {
        return refused;
    }
    let request = format!("op-{}-{:08x}", now_ms(), fastrand::u32(..));
    queue_erasure(&state.inbox, &page_id, &psid, &request).await
}

/// Queues the erasure of `psid` on `page_id` as a person-erased event;
/// 202 once it is durable.
async fn queue_erasure(inbox: &Inbox, page_id: &str, psid: &str, request: &str) -> Response {
    let event = match InboundEvent::person_erased(page_id, psid, request, now_ms()) {
        Ok(e) => e,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let id = event.id.clone();
    match inbox.accept(vec![event]).await {
        Ok(_) => {
            tracing::info!(page = %page_id, event = %id, "erasure of a person queued");
            (StatusCode::ACCEPTED, Json(json!({ "request": request, "id": id }))).into_response()
        }
        Err(Refused::Busy(busy)) => refuse(StatusCode::SERVICE_UNAVAILABLE, busy.to_string()),
        Err(Refused::Store(e)) => {
            tracing::error!(page = %page_id, error = %e, "could not store an erasure");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "could not store the erasure; try again")
        }
    }
}

async fn admin_erasure(
    State(state): State<Arc<ApiState>>,
    Path((page_id, request)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = authorize(&state, &headers, "admin request") {
        return refused.into_response();
    }
    match state.store.read(move |b| b.erasure(&request, &page_id)).await {
        Ok(Some(done)) => Json(json!({ "page_id": done.page_id, "erased_ms": done.erased_ms, "erased": done.erased })).into_response(),
        Ok(None) => refuse(StatusCode::NOT_FOUND, "not erased yet (or no such erasure)"),
        Err(e) => read_failed("could not read an erasure", e),
    }
}

fn people_query(q: &HashMap<String, String>) -> Result<PeopleQuery, String> {
    let limit = match q.get("limit") {
        Some(v) => v.trim().parse::<usize>().map_err(|_| format!("limit must be a number, not `{v}`"))?,
        None => 100,
    };
    let limit = people::check_limit(limit)?;
    let window_open = match q.get("window").map(String::as_str) {
        None => false,
        Some("open") => true,
        Some(other) => return Err(format!("window can only be `open`, not `{other}`")),
    };
    Ok(PeopleQuery { window_open, topic: q.get("topic").cloned(), after: q.get("after").cloned().unwrap_or_default(), limit })
}

fn errors_query(q: &HashMap<String, String>) -> Result<ProblemQuery, String> {
    let number = |name: &str| -> Result<Option<i64>, String> {
        q.get(name).map(|v| v.trim().parse::<i64>().map_err(|_| format!("{name} must be a number, not `{v}`"))).transpose()
    };
    let limit = number("limit")?.unwrap_or(100);
    if !(1..=MOST_ERRORS as i64).contains(&limit) {
        return Err(format!("limit must be between 1 and {MOST_ERRORS}"));
    }
    Ok(ProblemQuery {
        page_id: q.get("page").map(|p| ProblemQuery::page_key(p)),
        after_id: number("after")?.unwrap_or(0),
        since_ms: q.get("since").map(|s| ProblemQuery::parse_since(s, now_ms())).transpose()?.unwrap_or(0),
        limit: limit as usize,
    })
}

async fn business_event(
    State(state): State<Arc<ApiState>>,
    Path(page_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A Page with a token of its own takes only that one; the others, and
    // a Page this host does not serve, `[api] token`.
    let tokens = state.token.tokens();
    let page_token = tokens.pages.get(&page_id);
    let expected = page_token.cloned().flatten().or_else(|| tokens.api.clone());
    if let Err(refused) = authorize_with(expected, &headers, "business event") {
        return refused.into_response();
    }
    if page_token.is_none() {
        return refuse(StatusCode::NOT_FOUND, format!("this host does not serve Page {page_id}"));
    }
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("the body is not JSON: {e}")),
    };
    let psid = query.get("psid").map(String::as_str);
    if psid.is_some_and(|p| !valid_psid(p)) {
        return refuse(StatusCode::BAD_REQUEST, "psid must be a page-scoped user id (digits)");
    }
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::trim).filter(|k| !k.is_empty());
    if key.is_some_and(|k| k.len() > 200) {
        return refuse(StatusCode::BAD_REQUEST, "Idempotency-Key is limited to 200 characters");
    }
    let id = match key {
        Some(key) => format!("key:{key}"),
        None => format!("{}-{:016x}", now_ms(), fastrand::u64(..)),
    };
    let event = match InboundEvent::business(&page_id, psid, &id, body, now_ms()) {
        Ok(e) => e,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let event_id = event.id.clone();
    match state.inbox.accept(vec![event]).await {
        Ok(fresh) => {
            let duplicate = !fresh.first().copied().unwrap_or(true);
            tracing::info!(page = %page_id, event = %event_id, duplicate, "business event accepted");
            (StatusCode::ACCEPTED, Json(json!({ "id": event_id, "duplicate": duplicate }))).into_response()
        }
        Err(Refused::Busy(busy)) => refuse(StatusCode::SERVICE_UNAVAILABLE, busy.to_string()),
        Err(Refused::Store(e)) => {
            tracing::error!(page = %page_id, error = %e, "could not store a business event");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "could not store the event; try again")
        }
    }
}
