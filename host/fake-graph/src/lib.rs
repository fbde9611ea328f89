//! A fake Facebook Graph API over real HTTP: for the tests and benchmarks,
//! and for plugin authors' `switchboard dev` and `switchboard test`.
//!
//! It answers like the reference (`shared/docs/messenger-platform.md`):
//! Send API success bodies, handover calls, thread owner, Messenger Profile,
//! user profile, attachment upload, and Graph error bodies
//! (`{"error":{message,type,code,error_subcode,fbtrace_id}}`) for missing or
//! unknown tokens, invalid requests and anything unsupported, and the Batch
//! API (a batch's items are answered and recorded as calls of their own).
//! Tests inject errors ([`ErrorRule`]) and delays, and read back every call
//! ([`RecordedCall`]).
//!
//! Choices where the reference is silent: HTTP 400 for every client error
//! (codes 4, 10, 17, 32, 100, 190, 551, 613...), 500 with `is_transient` for
//! codes 1 and 2; a missing token is code 2500, an unknown token code 190;
//! a token used on another Page's `/{page_id}/messages` is code 190 too.

mod batch;
mod errors;
mod routes;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Notify;

pub use errors::{ErrorRule, GraphErrorSpec};

/// One call the fake received, whatever it answered.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    pub method: String,
    /// Without the version prefix, e.g. `/me/messages`.
    pub path: String,
    pub access_token: Option<String>,
    pub query: BTreeMap<String, String>,
    /// The JSON body, or `Null` when there was none or it was not JSON.
    pub body: Value,
    pub raw_body: String,
    pub status: u16,
    pub response: Value,
    pub at: Instant,
}

impl RecordedCall {
    /// A successful Send API call with a `message` (not a sender action).
    pub fn is_sent_message(&self) -> bool {
        self.status == 200 && self.path.ends_with("/messages") && self.body.get("message").is_some()
    }
}

#[derive(Debug, Clone)]
struct Page {
    id: String,
    app_id: String,
}

#[derive(Default)]
struct State {
    /// access token → Page
    tokens: HashMap<String, Page>,
    calls: Vec<RecordedCall>,
    /// Count calls without keeping them (see [`FakeGraph::forget_calls`]).
    forget_calls: bool,
    /// How many calls were sent messages (benchmarks poll this).
    sent_messages: usize,
    /// Items per Batch API request, in arrival order.
    batch_sizes: Vec<usize>,
    /// Batch requests refused as a whole.
    refused_batches: usize,
    /// The next this many batch items are answered `null`, not run.
    unanswered_batch_items: usize,
    /// Requests received (plain or batch), counted on arrival.
    requests_arrived: usize,
    /// Requests being answered now, and the most at once.
    requests_out: usize,
    max_requests_out: usize,
    rules: Vec<ErrorRule>,
    delay: Duration,
    delays_for: Vec<(String, Duration)>,
    /// (page, psid) → owning app id; absent means idle.
    owners: HashMap<(String, String), String>,
    enforce_thread_control: HashMap<String, bool>,
    secondary_receivers: Vec<(String, String)>,
    profiles: HashMap<String, Value>,
    /// page → messenger profile properties
    messenger_profiles: HashMap<String, serde_json::Map<String, Value>>,
    /// app-scoped user id → (page, PSID), for `/{user}/ids_for_pages`.
    page_scoped_ids: HashMap<String, Vec<(String, String)>>,
    next_id: u64,
}

impl State {
    /// The injected error for this call, if a rule matches; counts the
    /// rule's firing.
    fn take_injected(&mut self, path: &str, token: Option<&str>, body: &Value) -> Option<GraphErrorSpec> {
        let rule = self.rules.iter_mut().find(|r| r.matches(path, token, body))?;
        if let Some(times) = rule.times.as_mut() {
            *times -= 1;
        }
        Some(rule.error.clone())
    }
}

/// The fake server. Dropping it does not stop the server task; it lives as
/// long as the test's runtime.
#[derive(Clone)]
pub struct FakeGraph {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// Woken when a request arrives or a call is recorded.
    changed: Arc<Notify>,
}

impl FakeGraph {
    /// Starts on a free loopback port.
    pub async fn start() -> anyhow::Result<FakeGraph> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(addr: SocketAddr) -> anyhow::Result<FakeGraph> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let fake =
            FakeGraph { addr: listener.local_addr()?, state: Arc::new(Mutex::new(State::default())), changed: Arc::new(Notify::new()) };
        let app = routes::router(fake.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("fake Graph API stopped: {e}");
            }
        });
        Ok(fake)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the host's `graph_api_url` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}/v23.0", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register_page(&self, page_id: &str, access_token: &str, app_id: &str) {
        self.lock().tokens.insert(access_token.into(), Page { id: page_id.into(), app_id: app_id.into() });
    }

    /// The token stops working, as when a Page's token is invalidated:
    /// calls with it get code 190.
    pub fn revoke_token(&self, access_token: &str) {
        self.lock().tokens.remove(access_token);
    }

    /// Refuse sends from apps that do not own the thread (10/2018300).
    pub fn enforce_thread_control(&self, page_id: &str, on: bool) {
        self.lock().enforce_thread_control.insert(page_id.into(), on);
    }

    pub fn set_thread_owner(&self, page_id: &str, psid: &str, app_id: Option<&str>) {
        let mut s = self.lock();
        let key = (page_id.to_string(), psid.to_string());
        match app_id {
            Some(app) => s.owners.insert(key, app.to_string()),
            None => s.owners.remove(&key),
        };
    }

    pub fn thread_owner(&self, page_id: &str, psid: &str) -> Option<String> {
        self.lock().owners.get(&(page_id.to_string(), psid.to_string())).cloned()
    }

    pub fn set_secondary_receivers(&self, apps: &[(&str, &str)]) {
        self.lock().secondary_receivers = apps.iter().map(|(i, n)| (i.to_string(), n.to_string())).collect();
    }

    /// What `GET /{user_id}/ids_for_pages` answers (the ID-matching API):
    /// the person's PSID on each Page, of those registered under the
    /// calling app.
    pub fn set_page_scoped_ids(&self, user_id: &str, ids: &[(&str, &str)]) {
        self.lock().page_scoped_ids.insert(user_id.into(), ids.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect());
    }

    pub fn set_user_profile(&self, psid: &str, profile: Value) {
        self.lock().profiles.insert(psid.into(), profile);
    }

    pub fn messenger_profile(&self, page_id: &str) -> serde_json::Map<String, Value> {
        self.lock().messenger_profiles.get(page_id).cloned().unwrap_or_default()
    }

    pub fn inject_error(&self, rule: ErrorRule) {
        self.lock().rules.push(rule);
    }

    pub fn clear_injections(&self) {
        let mut s = self.lock();
        s.rules.clear();
        s.delay = Duration::ZERO;
        s.delays_for.clear();
    }

    /// Every call waits this long before being answered.
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Calls whose path ends with `suffix` wait this long.
    pub fn set_delay_for(&self, suffix: &str, delay: Duration) {
        self.lock().delays_for.push((suffix.into(), delay));
    }

    /// Items per Batch API request received (each item is also a call).
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.lock().batch_sizes.clone()
    }

    /// The next `n` batch items do not complete: they are answered `null`,
    /// as the Graph API does on a timeout, and are not run.
    pub fn leave_batch_items_unanswered(&self, n: usize) {
        self.lock().unanswered_batch_items = n;
    }

    /// How many of the `leave_batch_items_unanswered` are still to come.
    pub fn unanswered_batch_items_left(&self) -> usize {
        self.lock().unanswered_batch_items
    }

    /// Batch requests refused as a whole (bad token, too many items,
    /// injected errors for `/`).
    pub fn refused_batches(&self) -> usize {
        self.lock().refused_batches
    }

    fn take_unanswered_batch_item(&self) -> bool {
        let mut s = self.lock();
        let take = s.unanswered_batch_items > 0;
        s.unanswered_batch_items -= usize::from(take);
        take
    }

    /// From now on, counts calls (`sent_count`, `batch_sizes`...) without
    /// keeping them: `calls` and its kin stay empty. For the benchmark,
    /// where keeping every call grew the load generator's heap and the
    /// page faults alone cost it about a sixth of its CPU. Do not combine
    /// with `wait_for_calls`: it would wait out its timeout.
    pub fn forget_calls(&self) {
        self.lock().forget_calls = true;
    }

    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    pub fn calls_to(&self, suffix: &str) -> Vec<RecordedCall> {
        self.lock().calls.iter().filter(|c| c.path.ends_with(suffix)).cloned().collect()
    }

    /// Successful Send API calls carrying a message, in arrival order.
    pub fn sent_messages(&self) -> Vec<RecordedCall> {
        self.lock().calls.iter().filter(|c| c.is_sent_message()).cloned().collect()
    }

    /// How many calls `sent_messages` would return, without copying them.
    pub fn sent_count(&self) -> usize {
        self.lock().sent_messages
    }

    /// Requests received so far (plain calls and batch requests), counted
    /// on arrival, before any delay.
    pub fn requests_arrived(&self) -> usize {
        self.lock().requests_arrived
    }

    /// The most requests the fake was answering at once.
    pub fn max_requests_out(&self) -> usize {
        self.lock().max_requests_out
    }

    /// Waits until `n` requests have arrived (see [`Self::requests_arrived`]);
    /// false if `timeout` passed first.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.requests_arrived() >= n).await
    }

    /// Waits until `done` holds, checking again at each arrival and each
    /// recorded call; false if `timeout` passed first.
    async fn wait_until(&self, timeout: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            if done() {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return done();
            }
        }
    }

    /// Counts a request from its arrival until the guard drops.
    fn request_arrived(&self) -> RequestOut<'_> {
        let mut s = self.lock();
        s.requests_arrived += 1;
        s.requests_out += 1;
        s.max_requests_out = s.max_requests_out.max(s.requests_out);
        drop(s);
        self.changed.notify_waiters();
        RequestOut(self)
    }

    /// Waits until `n` calls to paths ending with `suffix` were recorded.
    pub async fn wait_for_calls(&self, suffix: &str, n: usize, timeout: Duration) -> Vec<RecordedCall> {
        self.wait_until(timeout, || self.calls_to(suffix).len() >= n).await;
        self.calls_to(suffix)
    }

    pub fn reset(&self) {
        let mut s = self.lock();
        s.calls.clear();
        s.sent_messages = 0;
        s.batch_sizes.clear();
        s.refused_batches = 0;
        s.unanswered_batch_items = 0;
        s.rules.clear();
        s.delay = Duration::ZERO;
        s.delays_for.clear();
        s.owners.clear();
    }

    fn record(&self, call: RecordedCall) {
        let mut s = self.lock();
        s.sent_messages += usize::from(call.is_sent_message());
        if !s.forget_calls {
            s.calls.push(call);
        }
        drop(s);
        self.changed.notify_waiters();
    }
}

/// A request the fake is answering; see [`FakeGraph::max_requests_out`].
struct RequestOut<'a>(&'a FakeGraph);

impl Drop for RequestOut<'_> {
    fn drop(&mut self) {
        self.0.lock().requests_out -= 1;
    }
}
