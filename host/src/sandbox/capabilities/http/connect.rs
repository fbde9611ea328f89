//! Sending a plugin's request to the one address the policy checked: TCP to
//! that address, TLS verified for the request's host name against the
//! webpki roots, then HTTP/1.1. Nothing resolves the name a second time,
//! so it cannot change its answer between the check and the connection
//! (DNS rebinding).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, WasiBody};

/// Largest response head (status line and headers) read into memory.
const RESPONSE_HEAD_BYTES: usize = 64 * 1024;

/// How long each step may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

pub type Connection = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// Sends `request` over a new connection to `address`; TLS (for `https`)
/// names the request's host. Returns the response and the connection's
/// remaining work, which the caller drives.
pub async fn send(
    address: SocketAddr,
    mut request: http::Request<WasiBody>,
    timeouts: Timeouts,
) -> Result<(http::Response<WasiBody>, Connection), Error> {
    let https = request.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
    let host = request.uri().host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
    let tcp = match tokio::time::timeout(timeouts.connect, TcpStream::connect(address)).await {
        Ok(stream) => stream.map_err(Error::Connect)?,
        Err(_) => return Err(Error::ConnectionTimeout),
    };
    let stream: Box<dyn Stream> = if https {
        let name = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => rustls::pki_types::ServerName::from(ip),
            Err(_) => rustls::pki_types::ServerName::try_from(host)?,
        };
        let tls = tokio_rustls::TlsConnector::from(tls_config());
        match tokio::time::timeout(timeouts.connect, tls.connect(name, tcp)).await {
            Ok(stream) => Box::new(stream.map_err(Error::Tls)?),
            Err(_) => return Err(Error::ConnectionTimeout),
        }
    } else {
        Box::new(tcp)
    };
    let mut builder = hyper::client::conn::http1::Builder::new();
    builder.max_buf_size(RESPONSE_HEAD_BYTES);
    let (mut sender, connection) = builder.handshake(TokioIo::new(stream)).await?;
    // Only the path goes on the request line; the Host header stays.
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(request.uri().path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let mut connection = Box::pin(connection);
    let response = tokio::select! {
        biased;
        response = tokio::time::timeout(timeouts.first_byte, sender.send_request(request)) => response,
        // The connection ended before the response: its error says why.
        ended = &mut connection => {
            ended?;
            return Err(Error::HttpResponseIncomplete);
        }
    };
    let response = response.map_err(|_| Error::ConnectionReadTimeout)??;
    let response = response.map(|body| Paced::new(body, timeouts.between_bytes).boxed_unsync());
    let connection = async move { connection.await.map_err(Error::from) };
    Ok((response, Box::new(connection)))
}

/// One TLS configuration for every plugin request: the webpki roots, with
/// ring, as wasi-http's own client.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots).with_no_client_auth())
                .unwrap_or_else(|e| unreachable!("ring supports the default TLS versions: {e}"));
            Arc::new(config)
        })
        .clone()
}

/// A response body that fails when no data arrives for `between_bytes`.
struct Paced {
    body: hyper::body::Incoming,
    between_bytes: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Paced {
    fn new(body: hyper::body::Incoming, between_bytes: Duration) -> Self {
        Paced { body, between_bytes, deadline: Box::pin(tokio::time::sleep(between_bytes)) }
    }
}

impl http_body::Body for Paced {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + self.between_bytes;
                self.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
