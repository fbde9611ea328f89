//! Accepting HTTP connections, on terms no client can stretch: at most
//! `server.max_connections` open at once (each holds a permit; past the
//! bound new ones wait in the kernel's backlog), a request's head must
//! arrive within `server.header_read_timeout_secs` (which also closes a
//! connection idle that long between requests), and its body within
//! `server.body_read_timeout_secs`. A stop closes the listener, lets
//! requests in flight finish and closes idle connections.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::ServerConfig;

/// Serves `app` on `listener` until `shutdown` resolves, then waits up to
/// `drain` for requests in flight.
pub async fn serve(listener: TcpListener, app: Router, config: &ServerConfig, shutdown: impl Future<Output = ()>, drain: Duration) {
    raise_open_file_limit(config.max_connections);
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let body_timeout = config.body_read_timeout();
    let app = app.layer(axum::middleware::map_request(move |request: axum::extract::Request| async move {
        request.map(|body| Body::new(Deadline::new(body, body_timeout)))
    }));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(config.header_read_timeout());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = accept(&listener, &permits) => accepted,
        };
        let Some((stream, permit)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone())));
        tokio::spawn(async move {
            // Timeouts and clients that hang up end up here: routine.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::warn!(?drain, "connections still open after the shutdown grace period; closing them");
    }
}

/// The next connection, once a permit is free; None after an accept error
/// (out of file descriptors, say), after a short pause so the loop does not
/// spin on it.
async fn accept(listener: &TcpListener, permits: &Arc<Semaphore>) -> Option<(tokio::net::TcpStream, tokio::sync::OwnedSemaphorePermit)> {
    let permit = permits.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, _)) => Some((stream, permit)),
        Err(e) => {
            tracing::warn!(error = %e, "could not accept a connection");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// Raises the soft limit on open files towards the hard one, so
/// `max_connections` sockets fit beside the store's files; warns when they
/// cannot.
fn raise_open_file_limit(max_connections: usize) {
    let wanted = max_connections as u64 + 256;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < wanted {
            let raised = libc::rlimit { rlim_cur: wanted.min(limit.rlim_max), rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    if limit.rlim_cur < wanted {
        tracing::warn!(
            max_connections,
            open_files = limit.rlim_cur,
            "the open-file limit is below server.max_connections: raise it (ulimit -n, LimitNOFILE=) or lower max_connections"
        );
    }
}

/// A request body that fails once `timeout` has passed since its head came
/// in: a client trickling its body cannot hold the connection longer.
struct Deadline {
    body: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Deadline {
    fn new(body: Body, timeout: Duration) -> Self {
        Deadline { body, deadline: Box::pin(tokio::time::sleep(timeout)) }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within server.body_read_timeout_secs")]
struct BodyTimeout;

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
