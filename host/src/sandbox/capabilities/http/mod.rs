//! `wasi:http/outgoing-handler` for plugins: outgoing HTTP requests, only to
//! the hosts on the plugin's allow-list (`limits.http_allowed_hosts`; empty,
//! the default, denies everything), with the plugin's timeouts capped at
//! `limits.http_timeout_ms` and the response body cut off after
//! `limits.http_response_bytes`. Each request is one host call.
//!
//! The name is resolved here and every address checked: loopback, private,
//! link-local, unique-local, shared, multicast and unspecified addresses are
//! refused (`destination-ip-prohibited`) unless in the plugin's
//! `http_allowed_networks`, and only the ports in `http_allowed_ports`
//! (443 by default) are used. The request then goes to the address that
//! was checked ([`connect`]), never to a second answer; redirects are not
//! followed.
//!
//! The host's wasi-http implementation does the protocol work up to the
//! connection; this unit is the policy, as its `send_request` hook.

mod connect;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::CallContext;
use crate::config::{Network, PluginLimits};

pub struct OutgoingHttp {
    call: Arc<CallContext>,
    /// Cloned per invocation: usually empty, which costs no allocation.
    allowed_hosts: Vec<String>,
    allowed_ports: Vec<u16>,
    allowed_networks: Vec<Network>,
    timeout: Duration,
    response_bytes: usize,
}

impl OutgoingHttp {
    pub fn new(call: Arc<CallContext>, limits: &PluginLimits) -> Self {
        OutgoingHttp {
            call,
            allowed_hosts: limits.http_allowed_hosts.clone(),
            allowed_ports: limits.http_allowed_ports.clone(),
            allowed_networks: limits.http_networks(),
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

type Sent = Result<(http::Response<WasiBody>, connect::Connection), Error>;

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
        let https = request.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = request.uri().port_u16().unwrap_or(if https { 443 } else { 80 });
        if !self.allowed_ports.contains(&port) {
            tracing::warn!(plugin = %inv.plugin, event = %inv.event_id, host, port, "outgoing HTTP refused: the port is not on the plugin's http_allowed_ports");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        if self.call.budget.take_call().is_err() {
            return Box::new(async { Err(Error::ConnectionLimitReached) });
        }
        let networks = self.allowed_networks.clone();
        let (plugin, event_id) = (inv.plugin.clone(), inv.event_id.clone());
        // The plugin may ask for shorter timeouts, never longer ones.
        let cap = |asked: Option<Duration>| asked.map_or(self.timeout, |a| a.min(self.timeout));
        let options = options.unwrap_or_default();
        let timeouts = connect::Timeouts {
            connect: cap(options.connect_timeout),
            first_byte: cap(options.first_byte_timeout),
            between_bytes: cap(options.between_bytes_timeout),
        };
        let (limit, timeout, call) = (self.response_bytes, self.timeout, self.call.clone());
        tracing::debug!(plugin = %inv.plugin, event = %inv.event_id, host, "outgoing HTTP request");
        Box::new(async move {
            let started = std::time::Instant::now();
            let checked = tokio::time::timeout(timeout, reachable_address(&host, port, &networks)).await;
            let address = match checked.map_err(|_| Error::DnsTimeout)? {
                Ok(address) => address,
                Err(refused) => {
                    call.budget.add_host_time(started);
                    tracing::warn!(plugin = %plugin, event = %event_id, host, port, ?refused,
                        "outgoing HTTP refused: the name resolves to an address outside the public internet and the plugin's http_allowed_networks");
                    return Err(refused);
                }
            };
            let sent = tokio::time::timeout(timeout, connect::send(address, request, timeouts)).await;
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
            Ok((response, io))
        })
    }
}

/// The first address of `host` the plugin may reach: public, or in one of
/// `networks`. A name with none is refused.
async fn reachable_address(host: &str, port: u16, networks: &[Network]) -> Result<SocketAddr, Error> {
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match name.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| Error::DnsError { rcode: Some(e.to_string()), info_code: None })?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(Error::DestinationNotFound);
    }
    addresses.into_iter().find(|a| is_public(a.ip()) || networks.iter().any(|n| n.contains(a.ip()))).ok_or(Error::DestinationIpProhibited)
}

/// Whether `ip` is on the public internet: not loopback, private,
/// link-local, shared (100.64/10), unique-local, multicast, broadcast or
/// unspecified (an IPv4-mapped IPv6 address is judged as its IPv4).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || a == 0
                || (a == 100 && (b & 0xc0) == 64))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass_unless_their_range_is_allowed() {
        for blocked in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert!(!is_public(blocked.parse().expect("an address")), "{blocked}");
        }
        for open in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(is_public(open.parse().expect("an address")), "{open}");
        }
        let loopback: Network = "127.0.0.0/8".parse().expect("a range");
        assert!(loopback.contains("127.9.9.9".parse().expect("an address")));
        assert!(!loopback.contains("128.0.0.1".parse().expect("an address")));
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("0.0.0.0/0".parse::<Network>().expect("everything").contains("1.2.3.4".parse().expect("an address")));
    }
}
