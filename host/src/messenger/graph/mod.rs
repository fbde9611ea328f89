//! The Graph API client: HTTP calls to `{graph_api_url}/...` with a Page's
//! access token, and the typed error every failure becomes.
//!
//! One [`GraphClient`] (one connection pool) serves every Page; the token is
//! passed per call by the capability that acts for a Page, so a call can only
//! carry the token of the Page whose event is being handled. The client makes
//! one attempt per call: what to do about a failure ([`classify`]) is the
//! business of [`crate::messenger::page_gate`], which retries, paces and trips circuits.
//! Send API calls go through [`GraphClient::send_message`], which shares
//! batch requests between sends due together ([`batch`]).

mod batch;
mod classify;

pub use classify::{classify, ErrorClass};

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::config::Secret;
use crate::telemetry::Metrics;

/// A failed Graph call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The Graph API answered with an `{"error": ...}` body.
    #[error("Graph API error {code}{}: {message}", subcode.map(|s| format!("/{s}")).unwrap_or_default())]
    Api {
        http_status: u16,
        code: i32,
        subcode: Option<i32>,
        message: String,
        fbtrace_id: Option<String>,
        /// The body said `"is_transient": true`.
        is_transient: bool,
        /// How long Meta asked us to wait (`Retry-After`, or
        /// `estimated_time_to_regain_access` in `X-Business-Use-Case-Usage`).
        retry_after: Option<Duration>,
    },
    /// No usable answer: connection refused, timeout, a non-JSON body.
    #[error("Graph API unavailable: {0}")]
    Unavailable(String),
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorFields,
}

#[derive(Deserialize)]
struct ErrorFields {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i32,
    error_subcode: Option<i32>,
    fbtrace_id: Option<String>,
    #[serde(default)]
    is_transient: bool,
}

/// Shared HTTP client for the Graph API.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    /// Parsed once: every call extends it instead of parsing a string.
    base: reqwest::Url,
    sends: Arc<batch::SendQueue>,
    metrics: Metrics,
}

impl GraphClient {
    /// `max_send_requests`: the most Send API requests in flight at once
    /// (at least 1). Sends due together share a batch request; past two
    /// requests out, sends wait to share the next one unless half a batch
    /// is waiting (see [`batch`]).
    pub fn new(base_url: &str, timeout: Duration, max_send_requests: usize) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(256)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let base = reqwest::Url::parse(base_url)
            .map_err(|e| anyhow::anyhow!("graph_api_url {base_url:?} is not a URL ({e}); use e.g. https://graph.facebook.com/v21.0"))?;
        anyhow::ensure!(!base.cannot_be_a_base(), "graph_api_url {base_url:?} cannot have paths under it");
        let sends = Arc::new(batch::SendQueue::new(max_send_requests));
        Ok(GraphClient { http, base, sends, metrics: Metrics::default() })
    }

    /// Records how many sends each Send API request carries in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// `POST {base}/me/messages` with `body`, alone or in a batch request
    /// shared with other sends of Pages of `app` (see [`batch`]); same
    /// answer either way.
    pub async fn send_message(&self, app: &str, token: &Secret, body: &Value) -> Result<Value, GraphError> {
        batch::SendQueue::send(self, app, token, body).await
    }

    /// `POST {base}/{path}` with a JSON body.
    pub async fn post(&self, token: &Secret, path: &str, body: &Value) -> Result<Value, GraphError> {
        let request = self.http.post(self.url(token, path)).json(body);
        self.execute(request).await
    }

    /// `DELETE {base}/{path}` with a JSON body (the Messenger Profile API's
    /// way to remove properties).
    pub async fn delete(&self, token: &Secret, path: &str, body: &Value) -> Result<Value, GraphError> {
        let request = self.http.delete(self.url(token, path)).json(body);
        self.execute(request).await
    }

    /// `GET {base}/{path}?query...`.
    pub async fn get(&self, token: &Secret, path: &str, query: &[(&str, &str)]) -> Result<Value, GraphError> {
        let request = self.http.get(self.url(token, path)).query(query);
        self.execute(request).await
    }

    /// `{base}/{path}?access_token=...`; each `/`-separated part of `path`
    /// is one segment, percent-encoded.
    fn url(&self, token: &Secret, path: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path.split('/').filter(|s| !s.is_empty()));
        }
        url.query_pairs_mut().append_pair("access_token", token.expose());
        url
    }

    async fn execute(&self, request: reqwest::RequestBuilder) -> Result<Value, GraphError> {
        // reqwest errors can echo the URL, which carries the token: strip it.
        let response = request.send().await.map_err(|e| GraphError::Unavailable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(|name| response.headers().get(name).and_then(|v| v.to_str().ok()));
        let bytes = response.bytes().await.map_err(|e| GraphError::Unavailable(e.without_url().to_string()))?;
        answer(status, retry_after, &bytes)
    }
}

/// What one Graph answer (a response, or an item of a batch response) means.
fn answer(status: u16, retry_after: Option<Duration>, bytes: &[u8]) -> Result<Value, GraphError> {
    let body: Result<Value, _> = serde_json::from_slice(bytes);
    let error = match &body {
        Ok(body) if body.get("error").is_some() => ErrorBody::deserialize(body).ok(),
        _ => None,
    };
    if let Some(ErrorBody { error }) = error {
        return Err(GraphError::Api {
            http_status: status,
            code: error.code,
            subcode: error.error_subcode,
            message: error.message,
            fbtrace_id: error.fbtrace_id,
            is_transient: error.is_transient,
            retry_after,
        });
    }
    if !(200..300).contains(&status) {
        return Err(GraphError::Unavailable(format!("HTTP {status} without a Graph error body")));
    }
    body.map_err(|e| GraphError::Unavailable(format!("HTTP {status} with a body that is not JSON: {e}")))
}

/// The wait a rate-limited answer asks for: `Retry-After` (seconds), or the
/// largest `estimated_time_to_regain_access` (minutes) of the business use
/// case usage header. `header` looks a header up by its lowercase name.
fn retry_after<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<Duration> {
    if let Some(secs) = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    let usage: Value = serde_json::from_str(header("x-business-use-case-usage")?).ok()?;
    let minutes = usage
        .as_object()?
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|u| u.get("estimated_time_to_regain_access").and_then(Value::as_u64))
        .max()?;
    (minutes > 0).then(|| Duration::from_secs(minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_extend_the_base_path_and_carry_the_token() {
        let token = Secret::new("t&k");
        for base in ["http://127.0.0.1:9/v21.0", "http://127.0.0.1:9/v21.0/"] {
            let graph = GraphClient::new(base, Duration::from_secs(1), 1).expect("client");
            assert_eq!(graph.url(&token, "me/messages").as_str(), "http://127.0.0.1:9/v21.0/me/messages?access_token=t%26k");
            assert_eq!(graph.url(&token, "/1234").as_str(), "http://127.0.0.1:9/v21.0/1234?access_token=t%26k");
        }
        let graph = GraphClient::new("http://127.0.0.1:9", Duration::from_secs(1), 1).expect("client");
        assert_eq!(graph.url(&token, "me/thread_owner").as_str(), "http://127.0.0.1:9/me/thread_owner?access_token=t%26k");
        assert!(GraphClient::new("not a url", Duration::from_secs(1), 1).is_err());
    }
}
