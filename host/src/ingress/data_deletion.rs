//! Meta's data deletion callback: a person asked Facebook to delete what
//! the app keeps about them.
//!
//! `POST /meta/data-deletion/{app_id}` (form field `signed_request`,
//! verified with that app's secret, see
//! [`crate::ingress::signed_request`]) records the request, answers
//! `{"url": ".../meta/data-deletion/status/{code}", "confirmation_code":
//! code}` at once, and wakes the [`DeletionResolver`]. The code is derived
//! from the signed payload with the app secret: a request Meta sends again
//! gets the same code, and nobody without the secret can guess one.
//!
//! The request names the person by their **app-scoped** id; the host knows
//! them by their Page-scoped ids. The resolver asks the Graph API's
//! ID-matching edge (`GET /{user-id}/ids_for_pages`, with the app access
//! token and `appsecret_proof`) and queues a person-erased event for each
//! of the app's Pages that knows them (see [`crate::ingress::api`]'s
//! erasure: handled in the person's conversation, the host's rows first,
//! then the plugins'). Where Meta does not answer (the edge is restricted
//! in Europe and Japan, or the call fails), the request stays pending, the
//! status page says why, and the resolver tries again every ten minutes
//! (and whenever Meta sends the request again).
//! The app-scoped id is kept only until it is matched.
//!
//! `GET /meta/data-deletion/status/{code}` (no token: the person opens it
//! from Facebook) says what was deleted and when, in JSON, or as a small
//! HTML page for a browser. It names neither the person nor their ids.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::engine::registry::PluginRegistry;
use crate::ingress::inbox::Inbox;
use crate::ingress::signed_request::SignedRequest;
use crate::ingress::webhook::WebhookApps;
use crate::messenger::graph::GraphClient;
use crate::model::{now_ms, InboundEvent};
use crate::store::{DeletionRequest, DeletionState, Store, WriteOp};

/// How often pending requests are tried again.
const RETRY_EVERY: Duration = Duration::from_secs(600);

/// Turns recorded requests into erasures: matches the person's ids, queues
/// the erasures. One per host; cheap to clone.
#[derive(Clone)]
pub struct DeletionResolver {
    inner: Arc<Resolver>,
}

struct Resolver {
    apps: WebhookApps,
    store: Store,
    inbox: Inbox,
    registry: PluginRegistry,
    graph: GraphClient,
    wake: Notify,
}

impl DeletionResolver {
    pub fn new(apps: WebhookApps, store: Store, inbox: Inbox, registry: PluginRegistry, graph: GraphClient) -> Self {
        DeletionResolver { inner: Arc::new(Resolver { apps, store, inbox, registry, graph, wake: Notify::new() }) }
    }

    /// Resolves pending requests now, when woken, and every
    /// [`RETRY_EVERY`]; ends with the task it runs in.
    pub async fn run(self) {
        loop {
            if let Err(e) = self.resolve_pending().await {
                tracing::error!(error = %e, "could not go through the pending data deletion requests");
            }
            let _ = tokio::time::timeout(RETRY_EVERY, self.inner.wake.notified()).await;
        }
    }

    async fn resolve_pending(&self) -> anyhow::Result<()> {
        if !self.inner.registry.is_loaded() {
            // The Pages' routes are needed to queue erasures: wait for them.
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.inner.wake.notify_one();
            return Ok(());
        }
        let pending = self.inner.store.read(|b| b.deletion_requests(None)).await?;
        for request in pending {
            self.resolve(request).await?;
        }
        Ok(())
    }

    /// Matches one pending request's person to PSIDs and queues their
    /// erasures; on a refusal from Meta, notes why and leaves it pending.
    async fn resolve(&self, mut request: DeletionRequest) -> anyhow::Result<()> {
        let Some(user_id) = request.user_id.clone() else { return Ok(()) };
        let Some((token, proof)) = self.inner.apps.app_token(&request.app_id) else {
            request.note = format!("app {} is no longer in the host's config", request.app_id);
            return self.save(request).await;
        };
        let answer =
            self.inner.graph.get(&token, &format!("{user_id}/ids_for_pages"), &[("appsecret_proof", &proof), ("limit", "100")]).await;
        let ids = match answer {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(app = %request.app_id, code = %request.code, error = %e, "Meta did not match a data deletion request's person; tried again later");
                request.note = format!(
                    "waiting for Meta to match the person's app-scoped id to their Page-scoped ids ({e}); tried again every {} minutes",
                    RETRY_EVERY.as_secs() / 60
                );
                return self.save(request).await;
            }
        };
        let ours = self.inner.apps.pages_of(&request.app_id);
        let mut pages = Vec::new();
        for entry in ids["data"].as_array().into_iter().flatten() {
            let (Some(psid), Some(page)) = (crate::model::id_string(&entry["id"]), entry["page"]["id"].as_str().map(str::to_string)) else {
                continue;
            };
            if !ours.contains(&page) || pages.contains(&page) {
                continue;
            }
            let event = InboundEvent::person_erased(&page, &psid, &request.code, now_ms()).map_err(anyhow::Error::msg)?;
            self.inner.inbox.accept(vec![event]).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            pages.push(page);
        }
        tracing::info!(app = %request.app_id, code = %request.code, pages = pages.len(), "data deletion request matched; erasures queued");
        request.note = format!("the person was found on {} of the app's {} Pages served here", pages.len(), ours.len());
        request.pages = pages;
        request.state = DeletionState::Erasing;
        request.user_id = None;
        request.resolved_ms = Some(now_ms() as i64);
        self.save(request).await
    }

    async fn save(&self, request: DeletionRequest) -> anyhow::Result<()> {
        self.inner.store.write(WriteOp::DeletionRequest(request)).await.map(|_| ())
    }
}

pub fn router(resolver: DeletionResolver) -> Router {
    Router::new()
        .route("/meta/data-deletion/{app_id}", post(callback))
        .route("/meta/data-deletion/status/{code}", get(status))
        .with_state(resolver)
}

fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    (status, Json(json!({ "error": why.into() }))).into_response()
}

async fn callback(State(resolver): State<DeletionResolver>, Path(app_id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(verifier) = resolver.inner.apps.verifier(&app_id) else {
        return refuse(StatusCode::NOT_FOUND, format!("no app {app_id} in this host's config"));
    };
    let field = form_urlencoded::parse(&body).find(|(k, _)| k == "signed_request").map(|(_, v)| v.into_owned());
    let Some(field) = field else {
        return refuse(StatusCode::BAD_REQUEST, "the body must be a form with a `signed_request` field");
    };
    let signed = match SignedRequest::verify(&field, &verifier) {
        Ok(signed) => signed,
        Err(e) => {
            tracing::warn!(app = %app_id, error = %e, "data deletion request refused");
            return refuse(StatusCode::FORBIDDEN, e.to_string());
        }
    };
    let code = hex::encode(verifier.sha256(format!("data-deletion:{}", signed.payload).as_bytes()))[..24].to_string();
    let lookup = code.clone();
    let known = match resolver.inner.store.read(move |b| b.deletion_requests(Some(&lookup))).await {
        Ok(found) => !found.is_empty(),
        Err(e) => return store_failed(e),
    };
    if !known {
        let request = DeletionRequest {
            code: code.clone(),
            app_id: app_id.clone(),
            user_id: Some(signed.user_id),
            received_ms: now_ms() as i64,
            state: DeletionState::Pending,
            note: "received; matching the person's app-scoped id to their Page-scoped ids".into(),
            pages: Vec::new(),
            resolved_ms: None,
        };
        if let Err(e) = resolver.inner.store.write(WriteOp::DeletionRequest(request)).await {
            return store_failed(e);
        }
        tracing::info!(app = %app_id, %code, "data deletion request received");
    }
    // Meta sending it again is a reason to try a pending one again now.
    resolver.inner.wake.notify_one();
    let url = format!("{}/meta/data-deletion/status/{code}", public_base(&headers));
    Json(json!({ "url": url, "confirmation_code": code })).into_response()
}

fn store_failed(e: anyhow::Error) -> Response {
    tracing::error!(error = %e, "data deletion: the store failed");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "could not store the request; try again")
}

/// The host's address as Meta reached it (behind a proxy, as the proxy
/// says). Meta calls only HTTPS callbacks, so that is the default scheme.
fn public_base(headers: &HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(|v| v.split(',').next().unwrap_or("").trim().to_string());
    let host = header("x-forwarded-host").or_else(|| header("host")).unwrap_or_else(|| "localhost".into());
    let proto = header("x-forwarded-proto").unwrap_or_else(|| "https".into());
    format!("{proto}://{host}")
}

async fn status(State(resolver): State<DeletionResolver>, Path(code): Path<String>, headers: HeaderMap) -> Response {
    let store = resolver.inner.store.clone();
    let report = store
        .read(move |b| {
            let Some(request) = b.deletion_requests(Some(&code))?.into_iter().next() else { return Ok(None) };
            let mut pages = Vec::new();
            for page in &request.pages {
                pages.push((page.clone(), b.erasure(&request.code, page)?));
            }
            Ok(Some((request, pages)))
        })
        .await;
    let (request, pages) = match report {
        Ok(Some(found)) => found,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "no data deletion request has this confirmation code"),
        Err(e) => return store_failed(e),
    };
    let done = pages.iter().all(|(_, erasure)| erasure.is_some());
    let state = match request.state {
        DeletionState::Pending => "pending",
        DeletionState::Erasing if done => "done",
        DeletionState::Erasing => "in_progress",
    };
    let pages: Vec<Value> = pages
        .iter()
        .enumerate()
        .map(|(i, (_, erasure))| match erasure {
            // Pages by their position: their ids would tell who the person talked to.
            Some(e) => json!({ "page": i + 1, "erased_at_ms": e.erased_ms, "erased": e.erased }),
            None => json!({ "page": i + 1, "erased_at_ms": null }),
        })
        .collect();
    let body = json!({
        "confirmation_code": request.code,
        "status": state,
        "received_at_ms": request.received_ms,
        "matched_at_ms": request.resolved_ms,
        "note": request.note,
        "pages": pages,
    });
    let wants_html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if wants_html {
        return Html(status_page(&body)).into_response();
    }
    Json(body).into_response()
}

/// The status as a page a person can read.
fn status_page(status: &Value) -> String {
    let when = |ms: &Value| {
        ms.as_u64()
            .map(|ms| humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string())
            .unwrap_or_else(|| "not yet".into())
    };
    let headline = match status["status"].as_str() {
        Some("done") => "Your data has been deleted.",
        Some("in_progress") => "Your data is being deleted.",
        _ => "Your request is received; deletion has not started yet.",
    };
    let mut rows = String::new();
    for page in status["pages"].as_array().into_iter().flatten() {
        let e = &page["erased"];
        let what = if e.is_object() {
            format!(
                "{} messages and events, {} replies, {} conversation records, {} notification tokens",
                e["events"], e["sends"], e["conversations"], e["tokens"]
            )
        } else {
            "pending".into()
        };
        rows.push_str(&format!("<li>Page {}: {} (deleted: {})</li>", page["page"], when(&page["erased_at_ms"]), what));
    }
    let code = status["confirmation_code"].as_str().unwrap_or("");
    let note = html_escape(status["note"].as_str().unwrap_or(""));
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Data deletion {code}</title></head><body>\
         <h1>{headline}</h1><p>Confirmation code: <code>{code}</code></p><p>Received: {}</p><p>{note}</p><ul>{rows}</ul></body></html>",
        when(&status["received_at_ms"])
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
