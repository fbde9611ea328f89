//! Send API calls that share batch requests.
//!
//! Group commit, for HTTP. Every send joins the [`SendQueue`], and a
//! request slot's task takes up to [`MAX_BATCH`] queued sends (the Batch
//! API's limit). One goes as a plain `POST me/messages`; several go as one
//! `POST /` with a `batch` parameter (reference §4, "Batch API"): one
//! request and one answer for all of them, with one `{code, headers, body}`
//! per item.
//!
//! When a send opens a request of its own:
//! * **Eagerly**, while fewer than [`EAGER_REQUESTS`] requests are out. The
//!   slot's task first yields once, so the other sends falling due in the
//!   same scheduler tick join it. A lone send waits one yield, until the
//!   tasks already ready to run have had their turn (microseconds on an
//!   idle host), never a timer.
//! * **For a crowd**, beyond that and up to `max_in_flight`, only once
//!   [`CROWD`] sends are waiting. Until then, sends wait for the next
//!   request to come back, and its slot takes them (up to [`MAX_BATCH`]
//!   of one app's; what is left may call for another slot at once).
//!
//! Either way, while a slot just opened has not taken its batch yet, the
//! sends queued meanwhile join it and open nothing. Under load this makes
//! fewer, fuller requests, and each request costs both sides more than an
//! item does: in stop 13's throughput bench, about 18 sends per request
//! instead of 8 cut the host's CPU per reply by 9 % to 24 %. A busy queue
//! still opens every slot, so the ceiling stays `max_in_flight ×
//! MAX_BATCH` sends per Graph round trip. The price is a wait for a send
//! that comes while the eager requests are out and the queue is short:
//! usually one Graph round trip, at most until a request in flight comes
//! back or times out.
//!
//! * **Tokens.** Each item carries its own Page's token, so the sends of
//!   many Pages of one app share one request (a batch never mixes apps);
//!   the top-level token is the first item's.
//!   A batch refused for its top-level token ran nothing: the other Pages'
//!   items go again as batches under their own tokens, so one Page's bad
//!   token never fails another Page's sends. Any other whole-request error
//!   (a 5xx, a rate limit, no answer) is every item's answer, `Retry-After`
//!   included, and each Page's gate retries or gives up as for a lone send.
//! * **Order.** The Page gate holds a person's lock for a send's whole life,
//!   retries included, so one batch never holds two sends to the same
//!   person, and a send never overtakes an earlier one.
//! * **Outcomes.** An item answered `null` did not complete in time: like a
//!   timeout, its outcome is unknown ([`GraphError::Unavailable`]).
//! * **Cancellation.** A send whose caller stopped waiting (its plugin timed
//!   out, say) before its batch left is not sent.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::{answer, classify, retry_after, ErrorClass, GraphClient, GraphError};
use crate::config::Secret;

/// The Batch API's limit on items per request.
pub const MAX_BATCH: usize = 50;

/// Requests a send may open as soon as it is due.
pub const EAGER_REQUESTS: usize = 2;

/// Sends waiting that justify a request beyond the eager ones: half a batch.
pub const CROWD: usize = MAX_BATCH / 2;

const MESSAGES: &str = "me/messages";

/// The Send API requests in flight, and the sends waiting for one.
pub struct SendQueue {
    max_in_flight: usize,
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    in_flight: usize,
    /// Slots opened whose task has not yet taken its batch. The sends
    /// queued meanwhile will be in it, so they open no slot of their own.
    opening: usize,
    waiting: VecDeque<Waiting>,
}

struct Waiting {
    /// The app whose Page sends: a batch holds one app's sends only.
    app: String,
    token: Secret,
    body: Value,
    reply: oneshot::Sender<Result<Value, GraphError>>,
}

impl SendQueue {
    pub fn new(max_in_flight: usize) -> Self {
        SendQueue { max_in_flight: max_in_flight.max(1), state: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `body` for the Page of `token` (of `app`), alone or in a batch
    /// with the sends queued beside it.
    pub async fn send(graph: &GraphClient, app: &str, token: &Secret, body: &Value) -> Result<Value, GraphError> {
        let (reply, answer) = oneshot::channel();
        let opens_slot = {
            let mut state = graph.sends.lock();
            state.waiting.push_back(Waiting { app: app.to_string(), token: token.clone(), body: body.clone(), reply });
            graph.sends.open_if_due(&mut state)
        };
        if opens_slot {
            spawn_open_slot(graph.clone());
        }
        answer.await.unwrap_or_else(|_| {
            Err(GraphError::Unavailable("the host stopped while this send was queued or out; it may or may not have been sent".into()))
        })
    }

    /// Whether the sends waiting call for a request of their own (see the
    /// module doc); if so, the slot is counted as taken and opening.
    fn open_if_due(&self, state: &mut QueueState) -> bool {
        let due = state.opening == 0
            && !state.waiting.is_empty()
            && state.in_flight < self.max_in_flight
            && (state.in_flight < EAGER_REQUESTS || state.waiting.len() >= CROWD);
        if due {
            state.in_flight += 1;
            state.opening += 1;
        }
        due
    }

    /// The next batch for a slot just opened (`opened`) or freed: up to
    /// [`MAX_BATCH`] waiting sends of the first one's app, whose callers
    /// still wait; the others keep their place. Empty means the slot is
    /// released. Also says whether the sends left waiting call for another
    /// slot, now counted as opening.
    fn next_batch(&self, opened: bool) -> (Vec<Waiting>, bool) {
        let mut state = self.lock();
        if opened {
            state.opening -= 1;
        }
        let mut batch: Vec<Waiting> = Vec::new();
        let mut other_apps = Vec::new();
        while batch.len() < MAX_BATCH {
            let Some(item) = state.waiting.pop_front() else { break };
            if item.reply.is_closed() {
                continue;
            }
            match batch.first() {
                Some(first) if first.app != item.app => other_apps.push(item),
                _ => batch.push(item),
            }
        }
        for item in other_apps.into_iter().rev() {
            state.waiting.push_front(item);
        }
        if batch.is_empty() {
            state.in_flight -= 1;
        }
        let another = self.open_if_due(&mut state);
        (batch, another)
    }
}

/// A request slot; dropping it (when its send is done, cancelled or has
/// panicked) hands the slot to the waiting sends, or frees it.
struct Slot<'a> {
    graph: &'a GraphClient,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let (batch, another) = self.graph.sends.next_batch(false);
        if another {
            spawn_open_slot(self.graph.clone());
        }
        if !batch.is_empty() {
            tokio::spawn(drain(self.graph.clone(), batch));
        }
    }
}

/// Runs a slot just opened on its own task: a caller that stops waiting
/// must not cancel a request that may carry other callers' sends.
fn spawn_open_slot(graph: GraphClient) {
    tokio::spawn(open_slot(graph));
}

/// A slot just opened. It first lets the other tasks that are
/// ready in this scheduler tick run, so sends that fall due together share
/// one request; alone, a send waits one yield.
async fn open_slot(graph: GraphClient) {
    tokio::task::yield_now().await;
    let (batch, another) = graph.sends.next_batch(true);
    if another {
        spawn_open_slot(graph.clone());
    }
    if !batch.is_empty() {
        drain(graph, batch).await;
    }
}

/// Sends one batch on a taken slot, then hands the slot on.
async fn drain(graph: GraphClient, batch: Vec<Waiting>) {
    let _slot = Slot { graph: &graph };
    send_batch(&graph, batch).await;
}

async fn send_batch(graph: &GraphClient, mut items: Vec<Waiting>) {
    graph.metrics.send_request(items.len());
    if items.len() == 1 {
        if let Some(mut item) = items.pop() {
            // Alone, the request is its caller's, as a direct call would be:
            // if the caller stops waiting (its plugin timed out), the request
            // is dropped, not left out while the Page gate frees the
            // person's turn for their next send.
            tokio::select! {
                result = graph.post(&item.token, MESSAGES, &item.body) => {
                    let _ = item.reply.send(result);
                }
                () = item.reply.closed() => {}
            }
        }
        return;
    }
    let error = match post_batch(graph, &items).await {
        Ok(answers) => return answer_each(items, answers),
        Err(error) => error,
    };
    // The batch's own token was refused: nothing ran. Items of other Pages
    // go again under their own token, so one Page's bad token never fails
    // another Page's sends. (At most once: a regrouped batch has one token.)
    let head = items[0].token.expose().to_string();
    if refuses_token(&error) && items.iter().any(|item| item.token.expose() != head) {
        tracing::warn!(%error, items = items.len(), "the Graph API refused a batch request's token; sending each Page's items under its own token");
        let mut groups: Vec<Vec<Waiting>> = Vec::new();
        for item in items {
            match groups.iter_mut().find(|g| g[0].token.expose() == item.token.expose()) {
                Some(group) => group.push(item),
                None => groups.push(vec![item]),
            }
        }
        for group in groups {
            if group[0].token.expose() == head {
                fail_each(group, &error);
            } else {
                Box::pin(send_batch(graph, group)).await;
            }
        }
        return;
    }
    // Anything else (a 5xx, a rate limit, no answer) is every item's answer:
    // each Page's gate retries or gives up as for a send of its own.
    fail_each(items, &error);
}

fn answer_each(items: Vec<Waiting>, answers: Vec<Result<Value, GraphError>>) {
    let mut answers = answers.into_iter();
    for item in items {
        let result = answers.next().unwrap_or_else(|| {
            Err(GraphError::Unavailable("the batch response had no answer for this item; it may or may not have been sent".into()))
        });
        let _ = item.reply.send(result);
    }
}

fn fail_each(items: Vec<Waiting>, error: &GraphError) {
    for item in items {
        let _ = item.reply.send(Err(error.clone()));
    }
}

/// Whether a whole-request error is about the request's access token
/// (invalid, expired, missing): then no item ran.
fn refuses_token(error: &GraphError) -> bool {
    matches!(classify(error), ErrorClass::Auth) || matches!(error, GraphError::Api { code: 2500, .. })
}

/// `POST {base}/` with `batch`: each item's answer, in order, or the error
/// the request as a whole got.
async fn post_batch(graph: &GraphClient, items: &[Waiting]) -> Result<Vec<Result<Value, GraphError>>, GraphError> {
    let batch: Vec<Value> = items
        .iter()
        .map(|item| json!({ "method": "POST", "relative_url": MESSAGES, "body": form_body(&item.body, &item.token) }))
        .collect();
    let token = items.first().map(|item| item.token.expose()).unwrap_or_default();
    let request = json!({ "access_token": token, "include_headers": true, "batch": batch });
    let mut url = graph.base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push("");
    }
    match graph.execute(graph.http.post(url).json(&request)).await? {
        Value::Array(answers) => Ok(answers.iter().map(item_answer).collect()),
        other => Err(GraphError::Unavailable(format!("a batch response that is not an array: {}", truncated(&other.to_string())))),
    }
}

/// One item of a batch response: `{code, headers: [{name, value}], body}`
/// with `body` a JSON string, or `null` when it did not complete.
fn item_answer(item: &Value) -> Result<Value, GraphError> {
    let Some(code) = item.get("code").and_then(Value::as_u64) else {
        return Err(GraphError::Unavailable("a batch item did not complete; it may or may not have been sent".into()));
    };
    let body = item.get("body").and_then(Value::as_str).unwrap_or_default();
    let header = |name: &str| {
        item.get("headers")?
            .as_array()?
            .iter()
            .find(|h| h.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(name)))?
            .get("value")?
            .as_str()
    };
    let retry_after = if (200..300).contains(&code) { None } else { retry_after(header) };
    answer(u16::try_from(code).unwrap_or(u16::MAX), retry_after, body.as_bytes())
}

/// A Send API body as a batch item's `body`: form-encoded, each top-level
/// field a string or its JSON, plus the item's own `access_token`.
fn form_body(body: &Value, token: &Secret) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    if let Some(fields) = body.as_object() {
        for (name, value) in fields {
            match value {
                Value::String(text) => form.append_pair(name, text),
                other => form.append_pair(name, &other.to_string()),
            };
        }
    }
    form.append_pair("access_token", token.expose());
    form.finish()
}

fn truncated(text: &str) -> &str {
    text.char_indices().nth(200).map_or(text, |(i, _)| &text[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_form_encoded_with_their_own_token() {
        let body = json!({"recipient":{"id":"1QAZ2WSX"},"messaging_type":"UPDATE","message":{"text":"Hello & bye"}});
        let form = form_body(&body, &Secret::new("tok&1"));
        let pairs: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes()).into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("message".into(), r#"{"text":"Hello & bye"}"#.into()),
                ("messaging_type".into(), "UPDATE".into()),
                ("recipient".into(), r#"{"id":"1QAZ2WSX"}"#.into()),
                ("access_token".into(), "tok&1".into()),
            ]
        );
    }

    #[test]
    fn item_answers_become_results_or_errors() {
        let ok = json!({"code":200,"headers":[{"name":"Content-Type","value":"text/javascript; charset=UTF-8"}],
                        "body":"{\"recipient_id\":\"1\",\"message_id\":\"m_1\"}"});
        assert_eq!(item_answer(&ok), Ok(json!({"recipient_id":"1","message_id":"m_1"})));

        let limited = json!({"code":400,"headers":[{"name":"Retry-After","value":"7"}],
                             "body":"{\"error\":{\"message\":\"(#613) Calls to this api have exceeded the rate limit.\",\"code\":613}}"});
        match item_answer(&limited) {
            Err(GraphError::Api { http_status: 400, code: 613, retry_after, .. }) => {
                assert_eq!(retry_after, Some(std::time::Duration::from_secs(7)))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(item_answer(&Value::Null), Err(GraphError::Unavailable(_))));
        assert!(matches!(item_answer(&json!({"code":502,"body":"<html>"})), Err(GraphError::Unavailable(_))));
    }
}
