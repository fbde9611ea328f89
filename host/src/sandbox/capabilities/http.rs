//! `wasi:http/outgoing-handler` for plugins: outgoing HTTP requests, only to
//! the hosts on the plugin's allow-list (`limits.http_allowed_hosts`; empty,
//! the default, denies everything), with the plugin's timeouts capped at
//! `limits.http_timeout_ms` and the response body cut off after
//! `limits.http_response_bytes`. Each request is one host call.
//!
//! The host's wasi-http implementation does the protocol work; this unit is
//! the policy, as its `send_request` hook.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::CallContext;
use crate::config::PluginLimits;

pub struct OutgoingHttp {
    call: Arc<CallContext>,
    /// Cloned per invocation: usually empty, which costs no allocation.
    allowed_hosts: Vec<String>,
    timeout: Duration,
    response_bytes: usize,
}

impl OutgoingHttp {
    pub fn new(call: Arc<CallContext>, limits: &PluginLimits) -> Self {
        OutgoingHttp {
            call,
            allowed_hosts: limits.http_allowed_hosts.clone(),
            timeout: Duration::from_millis(limits.http_timeout_ms),
            response_bytes: limits.http_response_bytes,
        }
    }

    /// Whether `host` is on the allow-list: an exact name, or `*.domain`
    /// for its subdomains.
    fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed_hosts.iter().map(|a| a.to_ascii_lowercase()).any(|allowed| match allowed.strip_prefix("*.") {
            Some(domain) => host.strip_suffix(domain).is_some_and(|sub| sub.ends_with('.') && sub.len() > 1),
            None => allowed == host,
        })
    }
}

type Sent = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>;

impl WasiHttpHooks for OutgoingHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        drop(fut);
        let inv = &self.call.invocation;
        let host = request.uri().host().unwrap_or_default().to_string();
        if !self.allows(&host) {
            tracing::warn!(plugin = %inv.plugin, event = %inv.event_id, host, "outgoing HTTP refused: the host is not on the plugin's http_allowed_hosts");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        if self.call.budget.take_call().is_err() {
            return Box::new(async { Err(Error::ConnectionLimitReached) });
        }
        // The plugin may ask for shorter timeouts, never longer ones.
        let cap = |asked: Option<Duration>| Some(asked.map_or(self.timeout, |a| a.min(self.timeout)));
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: cap(options.connect_timeout),
            first_byte_timeout: cap(options.first_byte_timeout),
            between_bytes_timeout: cap(options.between_bytes_timeout),
        };
        let (limit, timeout, call) = (self.response_bytes, self.timeout, self.call.clone());
        tracing::debug!(plugin = %inv.plugin, event = %inv.event_id, host, "outgoing HTTP request");
        Box::new(async move {
            let started = std::time::Instant::now();
            let sent = tokio::time::timeout(timeout, wasmtime_wasi_http::default_send_request(request, Some(options))).await;
            call.budget.add_host_time(started);
            let (response, io) = sent.map_err(|_| Error::ConnectionTimeout)??;
            // A declared length over the cap is refused before the body is
            // read; `Limited` below catches bodies without one.
            let declared = response.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if let Some(length) = declared.filter(|&l| l > limit as u64) {
                return Err(Error::HttpResponseBodySize(Some(length)));
            }
            let response = response.map(|body| {
                http_body_util::Limited::new(body, limit).map_err(move |_| Error::HttpResponseBodySize(Some(limit as u64))).boxed_unsync()
            });
            Ok((response, Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>))
        })
    }
}
