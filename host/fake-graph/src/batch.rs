//! The Batch API: `POST /` with `batch`, a JSON array of
//! `{method, relative_url, body}` whose `body` is form-encoded (reference
//! §4). Each item is answered, and recorded, as the call it stands for;
//! the response is one `{code, headers, body}` per item, `body` being the
//! JSON text, or `null` for an item that did not complete.
//!
//! Items take their token from their own `body` or `relative_url`, else the
//! request's. More than 50 items, no `batch`, a missing or unknown
//! top-level token, or an error injected for the path `/` fail the whole
//! request, as Graph errors.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::routes::{self, url_decode_pairs, Answer};
use super::{FakeGraph, GraphErrorSpec, RecordedCall};

/// The reference's limit (MAPIS refuses more).
const MAX_ITEMS: usize = 50;

/// Answers a batch request. `token` is the one in the URL or header, if
/// any; the JSON body's `access_token` is used otherwise.
pub(super) async fn answer(fake: &FakeGraph, token: Option<String>, json_body: &Value, raw_body: &str) -> Response {
    // The batch may come as JSON (as the reference shows) or form-encoded.
    let form = if json_body.is_null() { url_decode_pairs(raw_body) } else { BTreeMap::new() };
    let token = token.or_else(|| json_body["access_token"].as_str().map(str::to_string)).or_else(|| form.get("access_token").cloned());
    let from_form: Vec<Value>;
    let items: &[Value] = match &json_body["batch"] {
        Value::Array(items) => items,
        _ => {
            from_form = form.get("batch").and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default();
            &from_form
        }
    };
    let trace = "Abatch00000";
    let whole = |status, code, message: &str| {
        fake.lock().refused_batches += 1;
        Answer::error(&GraphErrorSpec::new(status, code, None, message), trace).into_response()
    };
    // Injected errors for the request itself (`ErrorRule::path("/")`).
    let injected = fake.lock().take_injected("/", token.as_deref(), json_body);
    if let Some(spec) = injected {
        fake.lock().refused_batches += 1;
        return Answer::error(&spec, trace).into_response();
    }
    if items.is_empty() {
        return whole(400, 100, "(#100) The parameter batch is required");
    }
    if items.len() > MAX_ITEMS {
        return whole(400, 100, "(#100) Too many requests in batch message. Maximum batch size is 50");
    }
    let Some(token) = token else {
        return whole(400, 2500, "An active access token must be used to query information about the current user.");
    };
    if !fake.lock().tokens.contains_key(&token) {
        return whole(400, 190, "Invalid OAuth access token - Cannot parse access token");
    }

    let calls: Vec<ItemCall> = items.iter().map(|item| ItemCall::parse(item, &token)).collect();
    // One wait for the whole request: the longest any of its items has.
    let delay = calls.iter().map(|c| routes::delay_for(fake, &c.path)).max().unwrap_or_default();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    fake.lock().batch_sizes.push(items.len());

    let mut answers = Vec::with_capacity(calls.len());
    for call in calls {
        if fake.take_unanswered_batch_item() {
            answers.push(Value::Null);
            continue;
        }
        let at = Instant::now();
        let answer = routes::answer(fake, &call.method, &call.path, Some(&call.token), &call.query, &call.body);
        let mut headers = vec![json!({"name": "Content-Type", "value": "text/javascript; charset=UTF-8"})];
        headers.extend(answer.headers.iter().map(|(name, value)| json!({"name": name, "value": value})));
        answers.push(json!({"code": answer.status, "headers": headers, "body": answer.body.to_string()}));
        fake.record(RecordedCall {
            method: call.method.to_string(),
            path: call.path,
            access_token: Some(call.token),
            query: call.query,
            body: call.body,
            raw_body: call.raw_body,
            status: answer.status,
            response: answer.body,
            at,
        });
    }
    Answer::ok(Value::Array(answers)).into_response()
}

/// One item, as the call it stands for.
struct ItemCall {
    method: Method,
    /// Without the version, with a leading `/`: `/me/messages`.
    path: String,
    token: String,
    query: BTreeMap<String, String>,
    /// The form fields as JSON: objects and arrays parsed, the rest strings.
    body: Value,
    raw_body: String,
}

impl ItemCall {
    fn parse(item: &Value, batch_token: &str) -> ItemCall {
        let method = item["method"].as_str().and_then(|m| m.parse().ok()).unwrap_or(Method::GET);
        let relative = item["relative_url"].as_str().unwrap_or_default();
        let (path, query) = relative.split_once('?').unwrap_or((relative, ""));
        let mut query = url_decode_pairs(query);
        let raw_body = item["body"].as_str().unwrap_or_default().to_string();
        let mut fields = url_decode_pairs(&raw_body);
        let token = fields.remove("access_token").or_else(|| query.remove("access_token")).unwrap_or_else(|| batch_token.to_string());
        let body = if fields.is_empty() {
            Value::Null
        } else {
            Value::Object(
                fields
                    .into_iter()
                    .map(|(name, value)| {
                        let parsed = match value.trim_start().chars().next() {
                            Some('{' | '[') => serde_json::from_str(&value).unwrap_or(Value::String(value)),
                            _ => Value::String(value),
                        };
                        (name, parsed)
                    })
                    .collect(),
            )
        };
        ItemCall { method, path: format!("/{}", path.trim_start_matches('/')), token, query, body, raw_body }
    }
}
