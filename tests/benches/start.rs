//! Host start time with many Pages, from a cold and a warm compile cache.
//!
//! ```text
//! cargo build-plugins && cargo build --profile production -p switchboard \
//!   && cargo bench -p switchboard-tests --bench start
//! ```
//!
//! `PAGES` Pages (default 100) with two plugins each, every file distinct
//! (the echo and probe components, each with its own custom section, so
//! nothing is shared between Pages and every file is compiled once). The
//! real `switchboard` binary starts on a fresh store: **cold** compiles
//! everything and fills the cache in the store directory; **warm** starts
//! again on the same store. Reported, best and median of `RUNS` (3) warm
//! starts: process spawn → first `/healthz` answer (listening: webhooks
//! are taken in from then on) and → `/admin/plugins` saying the plugins are
//! loaded (serving). `SWITCHBOARD_BIN` runs another build of the host.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_tests::with_custom_section;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Host(Child);

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const TOKEN: &str = "bench-admin-token-0123456789";

/// Starts the host; the times until it listened (`/healthz`) and until its
/// plugins were loaded.
fn start(binary: &Path, config: &Path, port: u16) -> anyhow::Result<(Duration, Duration, Host)> {
    let started = Instant::now();
    let host = Host(Command::new(binary).args(["run", "--config"]).arg(config).env("RUST_LOG", "warn").stdout(Stdio::null()).spawn()?);
    let mut listening = None;
    loop {
        match listening {
            None if get(port, "/healthz", "").is_some_and(|r| r.starts_with("HTTP/1.1 200")) => listening = Some(started.elapsed()),
            Some(listening) if get(port, "/admin/plugins", TOKEN).is_some_and(|r| r.contains("\"plugins_loaded\":true")) => {
                return Ok((listening, started.elapsed(), host));
            }
            _ => {}
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "the host did not come up");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One GET over a plain socket (with the bearer token, if any): the whole
/// response.
fn get(port: u16, path: &str, token: &str) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let _ = socket.set_read_timeout(Some(Duration::from_secs(120)));
    let auth = if token.is_empty() { String::new() } else { format!("Authorization: Bearer {token}\r\n") };
    socket.write_all(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{auth}Connection: close\r\n\r\n").as_bytes()).ok()?;
    let mut response = String::new();
    socket.read_to_string(&mut response).ok()?;
    Some(response)
}

fn main() -> anyhow::Result<()> {
    let pages = env_or("PAGES", 100);
    let runs = env_or("RUNS", 3).max(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let binary = switchboard_tests::bench_host_binary()?;
    let read = |name: &str| {
        let path = root.join(format!("target/wasm32-wasip2/release/{name}.wasm"));
        std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e} (run cargo build-plugins)", path.display()))
    };
    let (echo, probe) = (read("echo")?, read("probe")?);

    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut toml = format!(
        "listen = \"127.0.0.1:{port}\"\ngraph_api_url = \"http://127.0.0.1:9/v23.0\"\n[store]\npath = \"data\"\n[api]\ntoken = \"{TOKEN}\"\n\n\
         [[apps]]\nid = \"1\"\nsecret = \"bench-secret\"\nverify_token = \"bench\"\n"
    );
    let mut bytes = 0;
    for page in 0..pages {
        let mut files = Vec::new();
        for (name, code) in [("echo", &echo), ("probe", &probe)] {
            let file = dir.path().join(format!("{name}-{page}.wasm"));
            let unique = with_custom_section(code, &format!("switchboard-bench-{page}"));
            bytes += unique.len();
            std::fs::write(&file, unique)?;
            files.push(format!("{:?}", file.display().to_string()));
        }
        toml.push_str(&format!(
            "\n[[pages]]\nid = \"{}\"\napp = \"1\"\naccess_token = \"t{page}\"\nplugins = [{}]\n",
            10_000 + page,
            files.join(", ")
        ));
    }
    let config = dir.path().join("switchboard.toml");
    std::fs::write(&config, toml)?;
    println!("{pages} Pages × 2 plugins: {} distinct files, {:.1} MiB", pages * 2, bytes as f64 / (1 << 20) as f64);

    let (cold_listening, cold, host) = start(&binary, &config, port)?;
    drop(host);
    let cache = dir.path().join("data/compiled");
    let entries = std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    let mut warm = Vec::new();
    for _ in 0..runs {
        let (listening, serving, host) = start(&binary, &config, port)?;
        drop(host);
        warm.push((serving, listening));
    }
    warm.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("cache: {entries} entries in {}", cache.display());
    println!("| start | spawn → listening (/healthz) | spawn → plugins loaded |");
    println!("|---|---|---|");
    println!("| cold (empty cache) | {:.0} ms | {:.0} ms |", ms(cold_listening), ms(cold));
    println!("| warm, best of {runs} | {:.0} ms | {:.0} ms |", ms(warm[0].1), ms(warm[0].0));
    let median = warm[warm.len() / 2];
    println!("| warm, median of {runs} | {:.0} ms | {:.0} ms |", ms(median.1), ms(median.0));
    println!("cold / warm (median), plugins loaded: {:.1}×", cold.as_secs_f64() / median.0.as_secs_f64());
    Ok(())
}
