//! The fake's HTTP surface: Graph endpoints under `/v{N}.{M}/...` and, for
//! out-of-process drivers, admin endpoints under `/_fake/`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{batch, ErrorRule, FakeGraph, GraphErrorSpec, RecordedCall};

/// `GET /_fake/bytes?n=N`: N bytes of `x`, for tests of plugins' outgoing
/// HTTP (it is not a Graph endpoint).
async fn admin_bytes(axum::extract::Query(q): axum::extract::Query<BTreeMap<String, String>>) -> String {
    let n = q.get("n").and_then(|n| n.parse().ok()).unwrap_or(0usize).min(16 << 20);
    "x".repeat(n)
}

pub fn router(fake: FakeGraph) -> Router {
    Router::new()
        .route("/_fake/calls", get(admin_calls))
        .route("/_fake/reset", post(admin_reset))
        .route("/_fake/errors", post(admin_inject).delete(admin_clear))
        .route("/_fake/delay", post(admin_delay))
        .route("/_fake/bytes", get(admin_bytes))
        .fallback(graph)
        .with_state(fake)
}

/// A Graph answer: status and JSON body (plus injected headers).
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Value,
    pub(super) headers: Vec<(String, String)>,
}

impl Answer {
    pub(super) fn ok(body: Value) -> Self {
        Answer { status: 200, body, headers: Vec::new() }
    }
    pub(super) fn error(spec: &GraphErrorSpec, trace: &str) -> Self {
        Answer { status: spec.http_status, body: spec.body(trace), headers: spec.headers.clone() }
    }
    pub(super) fn invalid(message: &str, subcode: Option<i32>, trace: &str) -> Self {
        Self::error(&GraphErrorSpec::new(400, 100, subcode, message), trace)
    }
}

/// How long a call to `path` waits before its answer.
pub(super) fn delay_for(fake: &FakeGraph, path: &str) -> Duration {
    let s = fake.lock();
    s.delays_for.iter().find(|(suffix, _)| path.ends_with(suffix.as_str())).map(|(_, d)| *d).unwrap_or(s.delay)
}

async fn graph(State(fake): State<FakeGraph>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    let _out = fake.request_arrived();
    // Strip the version segment: /v23.0/me/messages → /me/messages.
    let full = uri.path();
    let path = match full.strip_prefix("/v") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]).to_string(),
        None => full.to_string(),
    };
    let query: BTreeMap<String, String> = uri.query().map(url_decode_pairs).unwrap_or_default();
    let token = query
        .get("access_token")
        .cloned()
        .or_else(|| headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::to_string));
    let raw_body = String::from_utf8_lossy(&body).into_owned();
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if method == Method::POST && path == "/" {
        return batch::answer(&fake, token, &json_body, &raw_body).await;
    }

    let delay = delay_for(&fake, &path);
    if delay > Duration::ZERO {
        tokio::time::sleep(delay).await;
    }

    let answer = answer(&fake, &method, &path, token.as_deref(), &query, &json_body);
    fake.record(RecordedCall {
        method: method.to_string(),
        path,
        access_token: token,
        query,
        body: json_body,
        raw_body,
        status: answer.status,
        response: answer.body.clone(),
        at,
    });
    answer.into_response()
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST), Json(self.body)).into_response();
        for (name, value) in self.headers {
            if let (Ok(n), Ok(v)) = (name.parse::<axum::http::HeaderName>(), value.parse()) {
                response.headers_mut().insert(n, v);
            }
        }
        response
    }
}

pub(super) fn answer(
    fake: &FakeGraph,
    method: &Method,
    path: &str,
    token: Option<&str>,
    query: &BTreeMap<String, String>,
    body: &Value,
) -> Answer {
    let mut s = fake.lock();
    s.next_id += 1;
    let n = s.next_id;
    let trace = format!("A{:010x}", n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 24);

    // Injected errors first: they model the Graph API's own failures.
    if let Some(spec) = s.take_injected(path, token, body) {
        return Answer::error(&spec, &trace);
    }

    let Some(token) = token else {
        return Answer::error(
            &GraphErrorSpec::new(400, 2500, None, "An active access token must be used to query information about the current user."),
            &trace,
        );
    };
    if let Some(user) = path.strip_suffix("/ids_for_pages") {
        return ids_for_pages(&s, user.trim_matches('/'), token, query, &trace);
    }
    let Some(page) = s.tokens.get(token).cloned() else {
        return Answer::error(&GraphErrorSpec::new(400, 190, None, "Invalid OAuth access token - Cannot parse access token"), &trace);
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let node = segments.first().copied().unwrap_or_default();
    let edge = segments.get(1).copied();
    let is_page = node == "me" || node == page.id;
    if !is_page && edge.is_some() && edge != Some("subscribed_apps") {
        // Another Page's edge with this Page's token.
        return Answer::error(
            &GraphErrorSpec::new(400, 190, None, "(#190) This Page access token belongs to a Page that is not the requested one."),
            &trace,
        );
    }
    let psid = body["recipient"]["id"].as_str().map(str::to_string);
    match (method.as_str(), edge) {
        ("POST", Some("messages")) => {
            if body.get("recipient").is_none() {
                return Answer::invalid("(#100) The parameter recipient is required", None, &trace);
            }
            let has_message = body.get("message").is_some();
            let has_action = body.get("sender_action").is_some();
            if has_message && has_action {
                return Answer::invalid("(#100) Only one of message or sender_action can be sent at a time", Some(2018014), &trace);
            }
            if !has_message && !has_action {
                return Answer::invalid("(#100) Must send either message or state", None, &trace);
            }
            if let Some(text) = body["message"]["text"].as_str() {
                if text.chars().count() > 2000 {
                    return Answer::invalid("(#100) Length of param message[text] must be less than or equal to 2000", None, &trace);
                }
            }
            if body["message"]["quick_replies"].as_array().is_some_and(|q| q.len() > 13) {
                return Answer::invalid("(#100) param message[quick_replies] must have a maximum of 13 elements", None, &trace);
            }
            if let Some(psid) = &psid {
                let enforce = s.enforce_thread_control.get(&page.id).copied().unwrap_or(false);
                let owner = s.owners.get(&(page.id.clone(), psid.clone()));
                if enforce && owner.is_some_and(|o| *o != page.app_id) {
                    return Answer::error(&GraphErrorSpec::not_thread_owner_2018300(), &trace);
                }
            }
            let mut reply = json!({});
            // No recipient_id for user_ref and phone_number recipients.
            if let Some(psid) = &psid {
                reply["recipient_id"] = json!(psid);
            }
            if has_message {
                reply["message_id"] = json!(format!("m_fake{n:016x}"));
            }
            if body["message"]["attachment"]["payload"]["is_reusable"] == json!(true) {
                reply["attachment_id"] = json!(format!("{}", 1_857_777_774_000_000u64 + n));
            }
            Answer::ok(reply)
        }
        ("POST", Some(call @ ("pass_thread_control" | "take_thread_control" | "request_thread_control" | "release_thread_control"))) => {
            let Some(psid) = psid else {
                return Answer::invalid("(#100) The parameter recipient is required", None, &trace);
            };
            let key = (page.id.clone(), psid);
            match call {
                "pass_thread_control" => {
                    let Some(target) = id_text(&body["target_app_id"]) else {
                        return Answer::invalid("(#100) The parameter target_app_id is required", None, &trace);
                    };
                    s.owners.insert(key, target);
                }
                "take_thread_control" => {
                    s.owners.insert(key, page.app_id.clone());
                }
                "release_thread_control" => {
                    s.owners.remove(&key);
                }
                _ => {}
            }
            Answer::ok(json!({ "success": true }))
        }
        ("GET", Some("thread_owner")) => {
            let Some(psid) = query.get("recipient") else {
                return Answer::invalid("(#100) The parameter recipient is required", None, &trace);
            };
            match s.owners.get(&(page.id.clone(), psid.clone())) {
                Some(app) => Answer::ok(json!({ "data": [{ "thread_owner": { "app_id": app } }] })),
                None => Answer::ok(json!({ "data": [] })),
            }
        }
        ("GET", Some("secondary_receivers")) => Answer::ok(json!({
            "data": s.secondary_receivers.iter().map(|(id, name)| json!({"id": id, "name": name})).collect::<Vec<_>>()
        })),
        ("POST", Some("message_attachments")) => Answer::ok(json!({ "attachment_id": format!("{}", 1_854_626_884_000_000u64 + n) })),
        (_, Some("messenger_profile")) => {
            let profile = s.messenger_profiles.entry(page.id.clone()).or_default();
            match method.as_str() {
                "POST" => {
                    let Some(props) = body.as_object() else {
                        return Answer::invalid("(#100) Invalid parameter", None, &trace);
                    };
                    for (k, v) in props {
                        profile.insert(k.clone(), v.clone());
                    }
                    Answer::ok(json!({ "result": "success" }))
                }
                "DELETE" => {
                    for f in body["fields"].as_array().cloned().unwrap_or_default() {
                        if let Some(f) = f.as_str() {
                            profile.remove(f);
                        }
                    }
                    Answer::ok(json!({ "result": "success" }))
                }
                _ => {
                    let fields: Vec<String> = query.get("fields").map(|f| f.split(',').map(str::to_string).collect()).unwrap_or_default();
                    let data: Vec<Value> = fields
                        .iter()
                        .filter_map(|f| profile.get(f).map(|v| json!({ f.clone(): v.clone() })))
                        .collect();
                    Answer::ok(json!({ "data": data }))
                }
            }
        }
        ("GET", None) if !is_page => {
            // User profile: GET /{psid}?fields=...
            let profile = s.profiles.get(node).cloned().unwrap_or_else(|| json!({}));
            let fields: Vec<&str> = query.get("fields").map(|f| f.split(',').collect()).unwrap_or_default();
            let mut out = json!({ "id": node });
            for f in fields {
                if let Some(v) = profile.get(f) {
                    out[f] = v.clone();
                }
            }
            Answer::ok(if profile.as_object().is_some_and(|o| o.is_empty()) { json!({}) } else { out })
        }
        (m, _) => Answer::invalid(
            &format!(
                "Unsupported {} request. Object with ID '{node}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.",
                m.to_lowercase()
            ),
            Some(33),
            &trace,
        ),
    }
}

/// The ID-matching API, as Meta answers it: an app access token
/// (`{app}|{secret}`) with its `appsecret_proof`; the person's ids on the
/// Pages of that app.
fn ids_for_pages(s: &super::State, user: &str, token: &str, query: &BTreeMap<String, String>, trace: &str) -> Answer {
    let Some((app_id, _secret)) = token.split_once('|') else {
        return Answer::error(&GraphErrorSpec::new(400, 190, None, "(#190) This method must be called with an app access token."), trace);
    };
    if !query.contains_key("appsecret_proof") {
        return Answer::invalid("API calls from the server require an appsecret_proof argument", None, trace);
    }
    let app_pages: Vec<&str> = s.tokens.values().filter(|p| p.app_id == app_id).map(|p| p.id.as_str()).collect();
    let data: Vec<Value> = s
        .page_scoped_ids
        .get(user)
        .into_iter()
        .flatten()
        .filter(|(page, _)| app_pages.contains(&page.as_str()))
        .map(|(page, psid)| json!({ "id": psid, "page": { "id": page, "name": format!("Page {page}") } }))
        .collect();
    Answer::ok(json!({ "data": data }))
}

pub(crate) fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(super) fn url_decode_pairs(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    // The bench sends tens of thousands of form-encoded items through here.
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

async fn admin_calls(State(fake): State<FakeGraph>) -> Json<Value> {
    Json(Value::Array(
        fake.calls()
            .into_iter()
            .map(|c| {
                json!({
                    "method": c.method, "path": c.path, "access_token": c.access_token, "query": c.query,
                    "body": c.body, "status": c.status, "response": c.response,
                })
            })
            .collect(),
    ))
}

async fn admin_reset(State(fake): State<FakeGraph>) -> StatusCode {
    fake.reset();
    StatusCode::NO_CONTENT
}

async fn admin_inject(State(fake): State<FakeGraph>, Json(rule): Json<ErrorRule>) -> StatusCode {
    fake.inject_error(rule);
    StatusCode::NO_CONTENT
}

async fn admin_clear(State(fake): State<FakeGraph>) -> StatusCode {
    fake.clear_injections();
    StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
struct Delay {
    ms: u64,
}

async fn admin_delay(State(fake): State<FakeGraph>, Json(d): Json<Delay>) -> StatusCode {
    fake.set_delay(Duration::from_millis(d.ms));
    StatusCode::NO_CONTENT
}
