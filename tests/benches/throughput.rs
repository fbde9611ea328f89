//! Webhook throughput with durability on, end to end through the echo
//! plugin (or the heavy probe, or none) to the fake Graph API.
//!
//! ```text
//! cargo build-plugins && cargo build --profile production -p switchboard \
//!   && cargo bench -p switchboard-tests --bench throughput
//! ```
//!
//! The real `switchboard` binary runs as its own process on the embedded
//! store; this process is the load generator and the fake Graph API, on the
//! same machine. Every request is a distinct, signed webhook (one message
//! from one of `USERS` people). Reported: signed events acked per second,
//! ack latency percentiles, and replies per second (first request → last
//! reply recorded by the fake Graph API).
//!
//! Knobs (environment): `EVENTS` (default 40000), `CONNECTIONS` (64),
//! `USERS` (2000), `BATCH` events per webhook (1), `PLUGINS=none` for a Page
//! with an empty plugin chain (the durable webhook path alone: events are
//! stored, acknowledged, dispatched and marked complete, nothing is sent),
//! `WORK=n` for a heavy plugin instead of echo: the probe test plugin, which
//! runs `n` rounds of a xorshift before it replies (about 2 ns each here:
//! 300000 is about 0.6 ms), so plugins keep the cores busy while webhooks
//! are acked;
//! `SWITCHBOARD_BIN` for another build of the host, `SEND_REQUESTS` for the
//! host's `graph.max_send_requests` (32): Send API requests in flight; sends
//! due together share Batch API requests whatever its value.
//! `COMMIT_DELAY_US` for the host's `store.commit_delay_us` (unset: the
//! host's default, 300). `WORKER_NICE` for the host's
//! `dispatch.worker_nice` (unset: the host's default, 5). `METRICS=off`
//! for `[metrics] enabled = false` (what the metrics cost, side by side).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard::signature::sign;
use switchboard_tests::fake_graph::FakeGraph;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "bench-secret";

// The load generator shares the two cores with the host: keep it lean.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A knob that has no default of its own here (unset: the host's): parsed,
/// and refused with `what` it should be when it is not one.
fn env_knob<T: std::str::FromStr>(name: &str, what: &str) -> anyhow::Result<Option<T>> {
    match std::env::var(name) {
        Ok(value) => value.parse().map(Some).map_err(|_| anyhow::anyhow!("{name}={value:?} is not {what}")),
        Err(_) => Ok(None),
    }
}

struct Host(Child);

impl Host {
    /// CPU time (user + system) the host process has used so far.
    fn cpu_time(&self) -> Duration {
        process_cpu_time(&self.0.id().to_string())
    }
}

/// CPU time (user + system) process `pid` (or `self`) has used so far.
fn process_cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = fields.get(11..13).map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum()).unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let events = env_or("EVENTS", 40_000);
    let connections = env_or("CONNECTIONS", 64);
    let users = env_or("USERS", 2_000);
    // Many Pages, as an operator runs: one Page alone is paced to
    // `graph.send_rate_per_sec` (250/s, under the Send API's 300/s).
    let pages = env_or("PAGES", 64).max(1);
    let batch = env_or("BATCH", 1).max(1);
    let with_plugin = std::env::var("PLUGINS").map(|p| p != "none").unwrap_or(true);
    let send_requests = env_or("SEND_REQUESTS", 32).max(1);
    let commit_delay_us: Option<u64> = env_knob("COMMIT_DELAY_US", "a number of microseconds")?;
    let commit_delay = commit_delay_us.map(|us| format!("commit_delay_us = {us}\n")).unwrap_or_default();
    let worker_nice: Option<i32> = env_knob("WORKER_NICE", "a nice value (0 to 19)")?;
    let worker_nice_line = worker_nice.map(|nice| format!("worker_nice = {nice}\n")).unwrap_or_default();
    let metrics_on = std::env::var("METRICS").map(|m| m != "off").unwrap_or(true);

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let binary = switchboard_tests::bench_host_binary()?;
    let work: Option<u64> = env_knob("WORK", "a number of rounds")?;
    anyhow::ensure!(with_plugin || work.is_none(), "WORK needs a plugin to do it: unset PLUGINS=none");
    let plugin = root.join(format!("target/wasm32-wasip2/release/{}.wasm", if work.is_some() { "probe" } else { "echo" }));
    anyhow::ensure!(!with_plugin || plugin.is_file(), "{} is missing: cargo build-plugins", plugin.display());

    let fake = FakeGraph::start().await?;
    // Only counts are read here; keeping every call would cost this
    // process page faults that the host's figures would pay for.
    fake.forget_calls();
    let mut page_tables = String::new();
    for p in 0..pages {
        fake.register_page(&format!("{}", 1001 + p), &format!("tok-{}", 1001 + p), "1234");
        page_tables.push_str(&format!(
            "[[pages]]\nid = \"{}\"\napp = \"1234\"\naccess_token = \"tok-{}\"\nplugins = [{}]\n",
            1001 + p,
            1001 + p,
            if with_plugin { format!("{:?}", plugin.display().to_string()) } else { String::new() }
        ));
    }
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ngraph_api_url = \"{}\"\n[store]\npath = \"data\"\n{commit_delay}[dispatch]\nmax_queued_events = 1000000\n{worker_nice_line}\
             [graph]\nmax_send_requests = {send_requests}\n[metrics]\nenabled = {metrics_on}\n\
             [[apps]]\nid = \"1234\"\nsecret = \"{SECRET}\"\nverify_token = \"v\"\n{page_tables}",
            fake.base_url(),
        ),
    )?;
    let host = Host(Command::new(&binary).args(["run", "--config"]).arg(&config).env("RUST_LOG", "warn").stdout(Stdio::null()).spawn()?);
    let client = reqwest::Client::new();
    let ready = Instant::now();
    while client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_err() {
        anyhow::ensure!(ready.elapsed() < Duration::from_secs(30), "the host did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let text = |n: usize| work.map_or_else(|| format!("bench {n}"), |rounds| format!("work {rounds}"));
    // Distinct signed requests, serialised before the clock starts.
    let requests = events.div_ceil(batch);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let wire: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..requests)
            .map(|r| {
                // One entry per event: a batch may span Pages, as Meta's do.
                let entries: Vec<_> = (0..batch)
                    .map(|b| {
                        let n = r * batch + b;
                        let page = (1001 + n % pages).to_string();
                        json!({"id":page,"time":now,"messaging":[{"sender":{"id":format!("user{}", n % users)},"recipient":{"id":page},
                               "timestamp":now + n as u64,
                               "message":{"mid":format!("mid.bench.{n}"),"text":text(n)}}]})
                    })
                    .collect();
                let body = json!({"object":"page","entry":entries}).to_string();
                let (sha256, _) = sign(SECRET, body.as_bytes());
                format!(
                    "POST /webhook/1234 HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nx-hub-signature-256: {sha256}\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            })
            .collect(),
    );

    let (cpu_before, own_cpu_before) = (host.cpu_time(), process_cpu_time("self"));
    let started = Instant::now();
    let load = client_load(addr, wire, connections).await?;
    let acked_events = (load.requests - load.refused) * batch;

    let expected_replies = if with_plugin { acked_events } else { 0 };
    let deadline = Instant::now() + Duration::from_secs(120);
    while fake.sent_count() < expected_replies && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let replied_in = started.elapsed();
    let replies = fake.sent_count();
    let host_cpu = host.cpu_time().saturating_sub(cpu_before);
    let own_cpu = process_cpu_time("self").saturating_sub(own_cpu_before);

    let chain = match (with_plugin, work) {
        (false, _) => "no plugins".to_string(),
        (true, None) => "echo plugin".to_string(),
        (true, Some(rounds)) => format!("probe plugin, {rounds} rounds of work per event"),
    };
    let metrics = if metrics_on { "metrics on" } else { "metrics off" };
    println!("switchboard throughput ({chain}, {metrics}): {events} events in {requests} signed webhooks ({batch}/webhook), {users} users, {connections} connections");
    println!(
        "  durability: SQLite WAL, synchronous=FULL, group commit (commit_delay_us = {}); worker_nice = {}; load generator and fake Graph API on the same 2 cores",
        commit_delay_us.map_or("default".to_string(), |us| us.to_string()),
        worker_nice.map_or("default".to_string(), |nice| nice.to_string())
    );
    println!(
        "  acked      {:>8.0} events/s   ({acked_events} acked, {} webhooks refused, in {:.2?})",
        acked_events as f64 / load.elapsed.as_secs_f64(),
        load.refused,
        load.elapsed
    );
    println!("  ack latency  p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}", load.p50, load.p99, load.max);
    println!(
        "  host CPU   {:>8.1?} per event ({:.2?} of CPU for {acked_events} events; the rest of the 2 cores went to the load generator and the fake)",
        host_cpu / acked_events.max(1) as u32,
        host_cpu
    );
    println!("  bench CPU  {:>8.1?} per event (load generator and fake Graph API, this process)", own_cpu / acked_events.max(1) as u32);
    if with_plugin {
        println!(
            "  replies    {:>8.0} replies/s  ({replies} replies, last one {:.2?} after the first request)",
            replies as f64 / replied_in.as_secs_f64(),
            replied_in
        );
        let batches = fake.batch_sizes();
        let batched: usize = batches.iter().sum();
        println!(
            "  Send API   {} requests for {replies} replies: {} batch requests carried {batched} ({:.1} per batch; max_send_requests = {send_requests})",
            replies.saturating_sub(batched) + batches.len(),
            batches.len(),
            batched as f64 / batches.len().max(1) as f64
        );
    }
    anyhow::ensure!(replies >= expected_replies, "only {replies} replies for {acked_events} acked events");
    Ok(())
}

/// What a load run measured.
struct Load {
    elapsed: Duration,
    /// Webhooks sent.
    requests: usize,
    refused: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

/// Sends every request once from `connections` concurrent keep-alive
/// connections, each its own task.
///
/// The client is plain HTTP/1.1 over a `TcpStream`, writing requests
/// serialised before the clock started: the load generator shares the two
/// cores with the host, and a general-purpose client (reqwest) spent about
/// 60 µs of CPU per request here, a third of what the host needs per event.
async fn client_load(addr: SocketAddr, requests: Arc<Vec<Vec<u8>>>, connections: usize) -> anyhow::Result<Load> {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (requests, next) = (requests.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let mut buffer = Vec::with_capacity(1024);
            let mut latencies = Vec::new();
            let mut refused = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = requests.get(i) else { break };
                let t = Instant::now();
                stream.write_all(request).await?;
                let status = read_response(&mut stream, &mut buffer).await?;
                latencies.push(t.elapsed());
                refused += usize::from(status != 200);
            }
            anyhow::Ok((latencies, refused))
        }));
    }
    let mut latencies = Vec::new();
    let mut refused = 0;
    for w in workers {
        let (l, r) = w.await??;
        latencies.extend(l);
        refused += r;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    Ok(Load { elapsed, requests: latencies.len(), refused, p50: pct(0.5), p99: pct(0.99), max: pct(1.0) })
}

/// Reads one HTTP/1.1 response (the host always sends `content-length`);
/// returns its status code.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<u16> {
    buffer.clear();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buffer[..end])?;
            let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| anyhow::anyhow!("bad status line in {head:?}"))?;
            let length: usize = head
                .lines()
                .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim()))
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("response without content-length: {head:?}"))?;
            while buffer.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await?;
                anyhow::ensure!(n > 0, "the host closed the connection mid-response");
                buffer.extend_from_slice(&chunk[..n]);
            }
            return Ok(status);
        }
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "the host closed the connection");
        buffer.extend_from_slice(&chunk[..n]);
    }
}
