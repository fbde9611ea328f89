//! Per-event cost of the sandbox: a fresh instance of the echo plugin from
//! its `InstancePre` (pooling allocator), plus one `handle` call.
//!
//! `cargo build-plugins && cargo bench -p switchboard-tests --bench plugin_cost`
//!
//! Three measurements, side by side in one run:
//! * `instantiate+handle (no send)`: an attachment-only message, which echo
//!   receives and ignores: the sandbox's own cost per event.
//! * `instantiate+handle (send)`: a text message, whose reply goes over
//!   loopback HTTP to the fake Graph API: the whole per-event path.
//! * the same two with two concurrent workers (this machine has 2 cores);
//! * `0.1 plugin (no send)`: the same event through `tests/plugins/legacy`,
//!   built against the 0.1.0 contract (the whole event record copied in)
//!   beside echo on 0.2.0 (an `event` resource read through accessors);
//! * the first two again with limits **off** (no epoch interruption, no
//!   timeout, no memory limiter: `PluginRuntime::without_limits`), to show
//!   what enforcing the limits costs per event;
//! * the TypeScript and Python echo examples (`plugins/ts/echo`,
//!   `plugins/python/echo`, built first with their `build.sh`), with and
//!   without a send, on `ITERATIONS / 20` events; and without a send on a
//!   runtime that copies the initial memory into each instance instead of
//!   mapping it copy-on-write (`PluginRuntime::copying_memory_images`).
//!
//! `ROWS=TypeScript` runs only the rows whose label contains `TypeScript`
//! (to profile one of them).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard::config::{PluginLimits, Secret};
use switchboard::ingress::envelope;
use switchboard::messenger::conversation::{Conversations, MessagingPolicy};
use switchboard::messenger::graph::GraphClient;
use switchboard::messenger::page::PageAccess;
use switchboard::messenger::page_gate::{GatePolicy, PageGate};
use switchboard::messenger::profiles::UserProfiles;
use switchboard::model::InboundEvent;
use switchboard::sandbox::capabilities::Invocation;
use switchboard::sandbox::PluginRuntime;
use switchboard::store::Store;
use switchboard_tests::fake_graph::FakeGraph;

fn event(body: &str) -> InboundEvent {
    envelope::parse(body.as_bytes()).expect("valid").events.remove(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p) as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let wasm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release/echo.wasm");
    anyhow::ensure!(wasm.is_file(), "{} is missing: run `cargo build-plugins` first", wasm.display());
    let iterations: usize = std::env::var("ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);

    let fake = FakeGraph::start().await?;
    fake.register_page("1001", "tok", "1234");
    let runtime = PluginRuntime::new(PluginLimits::default())?;
    let plugin = Arc::new(runtime.load(&wasm).await?);
    let legacy_wasm = wasm.with_file_name("legacy.wasm");
    let legacy_plugin = Arc::new(runtime.load(&legacy_wasm).await?);
    // The TypeScript and Python components take seconds to compile: cached.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let runtime = runtime.with_compile_cache(&root.join("target/bench-compiled"))?;
    let copying = PluginRuntime::copying_memory_images(PluginLimits::default())?.with_compile_cache(&root.join("target/bench-compiled"))?;
    let mut other_languages = Vec::new();
    for (language, dir) in [("TypeScript", "plugins/ts/echo"), ("Python", "plugins/python/echo")] {
        let wasm = root.join(dir).join("dist/echo.wasm");
        anyhow::ensure!(wasm.is_file(), "{} is missing: build it with `sh {dir}/build.sh`", wasm.display());
        let bytes = std::fs::metadata(&wasm)?.len();
        other_languages.push((language, bytes, Arc::new(runtime.load(&wasm).await?), Arc::new(copying.load(&wasm).await?)));
    }
    let unlimited = PluginRuntime::without_limits(PluginLimits::default())?;
    let unlimited_plugin = Arc::new(unlimited.load(&wasm).await?);
    let data = tempfile::tempdir()?;
    let store = Store::open_sqlite(data.path(), std::time::Duration::ZERO, Default::default())?;
    let policy = MessagingPolicy { allowed_tags: vec!["HUMAN_AGENT".into()], ad_referral_window: Duration::from_secs(72 * 3600) };
    let gate = GatePolicy {
        rate_per_sec: 1e9,
        burst: 1_000_000,
        retry_deadline: Duration::from_secs(5),
        first_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        circuit_open: Duration::from_secs(60),
    };
    let page = Arc::new(PageAccess {
        page_id: "1001".into(),
        app_id: "1234".into(),
        access_token: Secret::new("tok"),
        graph: GraphClient::new(&fake.base_url(), Duration::from_secs(5), 32)?,
        gate: std::sync::Arc::new(PageGate::new("1001", gate)),
        conversations: Conversations::new(store.clone(), policy),
        profiles: UserProfiles::new(Duration::from_secs(60), &[]),
        store,
    });
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis().to_string();
    let silent = Arc::new(event(&r#"{"object":"page","entry":[{"id":"1001","messaging":[{"sender":{"id":"u"},"recipient":{"id":"1001"},"timestamp":NOW,"message":{"mid":"m1","attachments":[{"type":"image","payload":{"url":"https://x/y.png"}}]}}]}]}"#.replace("NOW", &now)));
    let talking = Arc::new(event(&r#"{"object":"page","entry":[{"id":"1001","messaging":[{"sender":{"id":"u"},"recipient":{"id":"1001"},"timestamp":NOW,"message":{"mid":"m2","text":"hello benchmark"}}]}]}"#.replace("NOW", &now)));
    // The host learns of the message before plugins run: the window opens.
    page.conversations.observe(&talking, "1234").await.expect("the conversation state is read");

    println!("echo plugin: {} bytes; {iterations} events per row\n", std::fs::metadata(&wasm)?.len());
    println!("{:<38} {:>10} {:>10} {:>10} {:>12}", "measurement", "mean", "p50", "p99", "events/s");
    let limited = (&runtime, &plugin);
    let off = (&unlimited, &unlimited_plugin);
    let legacy = (&runtime, &legacy_plugin);
    let (ts, py) = ((&runtime, &other_languages[0].2), (&runtime, &other_languages[1].2));
    let (ts_copying, py_copying) = ((&copying, &other_languages[0].3), (&copying, &other_languages[1].3));
    let echo_copying = Arc::new(copying.load(&wasm).await?);
    let rust_copying = (&copying, &echo_copying);
    for (language, bytes, ..) in &other_languages {
        println!("{language} echo: {bytes} bytes; {} events per row", iterations / 20);
    }
    let mut means = std::collections::HashMap::new();
    // `ROWS=TypeScript` runs only the rows whose label contains it (for a profile).
    let rows = std::env::var("ROWS").ok();
    for (label, (runtime, plugin), ev, workers, iterations) in [
        ("instantiate+handle (no send)", limited, &silent, 1, iterations),
        ("  no send, limits off", off, &silent, 1, iterations),
        ("  no send, 0.1 plugin", legacy, &silent, 1, iterations),
        ("  no send, image copied", rust_copying, &silent, 1, iterations),
        ("  no send, TypeScript echo", ts, &silent, 1, iterations / 20),
        ("  no send, Python echo", py, &silent, 1, iterations / 20),
        ("  no send, TypeScript, image copied", ts_copying, &silent, 1, iterations / 20),
        ("  no send, Python, image copied", py_copying, &silent, 1, iterations / 20),
        ("instantiate+handle (send over HTTP)", limited, &talking, 1, iterations),
        ("  send, limits off", off, &talking, 1, iterations),
        ("  send, TypeScript echo", ts, &talking, 1, iterations / 20),
        ("  send, Python echo", py, &talking, 1, iterations / 20),
        ("instantiate+handle (no send), 2 tasks", limited, &silent, 2, iterations),
        ("instantiate+handle (send), 2 tasks", limited, &talking, 2, iterations),
    ] {
        if rows.as_deref().is_some_and(|rows| !label.contains(rows)) {
            continue;
        }
        // Warm-up: fill the pooling allocator's warm slots and the HTTP pool.
        for _ in 0..200.min(iterations) {
            let inv = Invocation { plugin: "echo".into(), event_id: "warm".into(), page: Some(page.clone()), ledger: None };
            runtime.invoke(plugin, ev, inv, runtime.limits()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..workers {
            let (runtime, plugin, page, ev) = ((*runtime).clone(), (*plugin).clone(), page.clone(), (*ev).clone());
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::with_capacity(iterations / workers);
                for _ in 0..iterations / workers {
                    let inv = Invocation { plugin: "echo".into(), event_id: "bench".into(), page: Some(page.clone()), ledger: None };
                    let t = Instant::now();
                    runtime.invoke(&plugin, &ev, inv, runtime.limits()).await.expect("echo handles the event");
                    times.push(t.elapsed());
                }
                times
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.extend(t.await?);
        }
        let wall = started.elapsed();
        times.sort();
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        means.insert(label, mean);
        println!(
            "{label:<38} {:>10.1?} {:>10.1?} {:>10.1?} {:>12.0}",
            mean,
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.len() as f64 / wall.as_secs_f64()
        );
    }
    let overhead = |on: &str, off: &str| Some((means.get(on)?.as_secs_f64() / means.get(off)?.as_secs_f64() - 1.0) * 100.0);
    if let (Some(silent), Some(sending)) = (
        overhead("instantiate+handle (no send)", "  no send, limits off"),
        overhead("instantiate+handle (send over HTTP)", "  send, limits off"),
    ) {
        println!("\nlimits on vs off, per event: {silent:+.1}% without a send, {sending:+.1}% with one");
    }
    println!("\nsends recorded by the fake Graph API: {}", fake.sent_count());
    Ok(())
}
