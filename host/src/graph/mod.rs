//! The Graph API client: HTTP calls to `{graph_api_url}/...` with a Page's
//! access token, and the typed error every failure becomes.
//!
//! One [`GraphClient`] (one connection pool) serves every Page; the token is
//! passed per call by the capability that acts for a Page, so a call can only
//! carry the token of the Page whose event is being handled. The client makes
//! one attempt per call: what to do about a failure ([`classify`]) is the
//! business of [`crate::page_gate`], which retries, paces and trips circuits.

mod classify;

pub use classify::{classify, ErrorClass};

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::config::Secret;

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
    base_url: String,
}

impl GraphClient {
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(256)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(GraphClient { http, base_url: base_url.trim_end_matches('/').to_string() })
    }

    /// `POST {base}/{path}` with a JSON body.
    pub async fn post(&self, token: &Secret, path: &str, body: &Value) -> Result<Value, GraphError> {
        let request = self.http.post(self.url(path)).query(&[("access_token", token.expose())]).json(body);
        self.execute(request).await
    }

    /// `DELETE {base}/{path}` with a JSON body (the Messenger Profile API's
    /// way to remove properties).
    pub async fn delete(&self, token: &Secret, path: &str, body: &Value) -> Result<Value, GraphError> {
        let request = self.http.delete(self.url(path)).query(&[("access_token", token.expose())]).json(body);
        self.execute(request).await
    }

    /// `GET {base}/{path}?query...`.
    pub async fn get(&self, token: &Secret, path: &str, query: &[(&str, &str)]) -> Result<Value, GraphError> {
        let request = self.http.get(self.url(path)).query(&[("access_token", token.expose())]).query(query);
        self.execute(request).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }

    async fn execute(&self, request: reqwest::RequestBuilder) -> Result<Value, GraphError> {
        // reqwest errors can echo the URL, which carries the token: strip it.
        let response = request.send().await.map_err(|e| GraphError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| GraphError::Unavailable(e.without_url().to_string()))?;
        if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(&bytes) {
            return Err(GraphError::Api {
                http_status: status.as_u16(),
                code: error.code,
                subcode: error.error_subcode,
                message: error.message,
                fbtrace_id: error.fbtrace_id,
                is_transient: error.is_transient,
                retry_after,
            });
        }
        if !status.is_success() {
            return Err(GraphError::Unavailable(format!("HTTP {status} without a Graph error body")));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| GraphError::Unavailable(format!("HTTP {status} with a body that is not JSON: {e}")))
    }
}

/// The wait a rate-limited answer asks for: `Retry-After` (seconds), or the
/// largest `estimated_time_to_regain_access` (minutes) of the business use
/// case usage header.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(secs) = headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    let usage: Value = serde_json::from_slice(headers.get("x-business-use-case-usage")?.as_bytes()).ok()?;
    let minutes = usage
        .as_object()?
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|u| u.get("estimated_time_to_regain_access").and_then(Value::as_u64))
        .max()?;
    (minutes > 0).then(|| Duration::from_secs(minutes * 60))
}
