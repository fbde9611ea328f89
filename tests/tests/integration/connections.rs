//! Slow and idle clients against the host binary: thousands of connections
//! that send nothing, or half a request head, or a body too slowly, do not
//! keep webhooks from being acknowledged, and are closed after
//! `server.header_read_timeout_secs` / `body_read_timeout_secs`; past
//! `server.max_connections`, a new connection waits until one closes.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::harness::*;

/// Whether the server closes `stream` within `within` (reads to its end,
/// discarding whatever response comes first).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// A `GET /healthz` on `stream`, kept alive; the response's status line.
async fn get_health(stream: &mut TcpStream) -> String {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").await.expect("writes");
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !response.ends_with(b"ok") {
        let n = stream.read(&mut buf).await.expect("reads");
        assert!(n > 0, "closed before answering");
        response.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&response).lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn thousands_of_idle_and_slow_clients_neither_block_acks_nor_stay_open() {
    let server = "\n[server]\nheader_read_timeout_secs = 2\nbody_read_timeout_secs = 2\n";
    let fx = BinaryFixture::new(&["echo"], server).await;
    let host = fx.start().await;
    let addr = format!("127.0.0.1:{}", fx.port);

    const IDLE: usize = 1500;
    const SLOW_HEAD: usize = 500;
    let mut idle = Vec::with_capacity(IDLE + SLOW_HEAD);
    for i in 0..IDLE + SLOW_HEAD {
        let mut stream = TcpStream::connect(&addr).await.expect("connects");
        if i >= IDLE {
            stream.write_all(b"POST /webhook/1234 HTTP/1.1\r\nHost: t\r\n").await.expect("writes");
        }
        idle.push(stream);
    }
    let mut slow_body = TcpStream::connect(&addr).await.expect("connects");
    slow_body.write_all(b"POST /webhook/1234 HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{\"obj").await.expect("writes");

    // Acknowledged meanwhile, each promptly.
    let client = reqwest::Client::new();
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let body = text_messages(&[("1001", &format!("u{i}"), &format!("m{i}"), "hello")]);
        let started = Instant::now();
        assert_eq!(host.post_signed(&client, &body).await, Some(200));
        slowest = slowest.max(started.elapsed());
    }
    assert!(slowest < Duration::from_secs(1), "an ack took {slowest:?} beside {} idle connections", idle.len());

    // Every idle or slow connection is closed once its time is up.
    let started = Instant::now();
    assert!(closed_within(&mut slow_body, Duration::from_secs(6)).await, "a body trickling in is cut off");
    let mut open = 0;
    for stream in &mut idle {
        let left = Duration::from_secs(8).saturating_sub(started.elapsed()).max(Duration::from_millis(10));
        open += usize::from(!closed_within(stream, left).await);
    }
    assert_eq!(open, 0, "connections still open {:?} after the header timeout", started.elapsed());
    assert_eq!(fx.fake.sent_messages().len(), 20, "every acknowledged event was answered");
    drop(host);
}

#[tokio::test]
async fn a_connection_past_the_bound_waits_until_another_closes() {
    let server = "\n[server]\nmax_connections = 8\nheader_read_timeout_secs = 30\n";
    let fx = BinaryFixture::new(&["echo"], server).await;
    let host = fx.start().await;
    let addr = format!("127.0.0.1:{}", fx.port);
    let mut held = Vec::new();
    for _ in 0..7 {
        let mut stream = TcpStream::connect(&addr).await.expect("connects");
        assert_eq!(get_health(&mut stream).await, "HTTP/1.1 200 OK");
        held.push(stream);
    }
    // The start-up probe's connection may not have closed yet: it takes the
    // eighth place then. Fill up to the bound whichever way it is.
    let mut extra = TcpStream::connect(&addr).await.expect("connects");
    let filled = tokio::time::timeout(Duration::from_millis(500), get_health(&mut extra)).await.is_ok();
    if filled {
        held.push(extra);
        extra = TcpStream::connect(&addr).await.expect("connects");
    }
    let waiting = tokio::time::timeout(Duration::from_millis(500), get_health(&mut extra)).await;
    assert!(waiting.is_err(), "a connection past max_connections is not served while the others stay open");
    drop(held.pop());
    let served = tokio::time::timeout(Duration::from_secs(5), get_health(&mut extra)).await;
    assert_eq!(served.expect("served once one closed"), "HTTP/1.1 200 OK");
    drop(host);
}
