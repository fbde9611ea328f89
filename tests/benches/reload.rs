//! Hot-reload latency: a new version of a plugin file written (atomic
//! rename) → the host serving it, for a small and a large component.
//!
//! ```text
//! cargo build-plugins && cargo bench -p switchboard-tests --bench reload
//! ```
//!
//! The host runs in this process (router, watcher, runtime and store as in
//! production) with three Pages: `echo` (about 100 KB), `bulky` (about
//! 1.9 MB of code: regex, encoding and Unicode tables) and the TypeScript
//! echo (`plugins/ts/echo`, about 16 MB: the JavaScript engine; build it
//! first with its `build.sh`). Each round writes a
//! new version of one file (the same code with a new custom section, so a
//! new hash: the compile cache cannot help) and polls `GET /admin/plugins`
//! every millisecond until that Page reports the new hash. `ROUNDS` (8)
//! rounds per plugin; reported: median and max.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use switchboard::{Config, Server};
use switchboard_tests::with_custom_section;

const TOKEN: &str = "bench-admin-token-0123456789";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn deploy(bytes: &[u8], target: &Path) -> anyhow::Result<()> {
    let staging = target.with_extension("staging");
    std::fs::write(&staging, bytes)?;
    std::fs::rename(&staging, target)?;
    Ok(())
}

/// The hash `page` serves for its first plugin, from the admin endpoint.
async fn served_hash(http: &reqwest::Client, url: &str, page: &str) -> anyhow::Result<String> {
    let report: serde_json::Value = http.get(format!("{url}/admin/plugins")).bearer_auth(TOKEN).send().await?.json().await?;
    let pages = report["pages"].as_array().cloned().unwrap_or_default();
    let page = pages.iter().find(|p| p["page_id"] == page).ok_or_else(|| anyhow::anyhow!("no page {page}"))?;
    Ok(page["plugins"][0]["hash"].as_str().unwrap_or_default().to_string())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let rounds = env_or("ROUNDS", 8).max(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir()?;
    let mut plugins = Vec::new();
    for (name, page, source) in [
        ("echo", "1001", "target/wasm32-wasip2/release/echo.wasm"),
        ("bulky", "2002", "target/wasm32-wasip2/release/bulky.wasm"),
        ("ts-echo", "3003", "plugins/ts/echo/dist/echo.wasm"),
    ] {
        let source = root.join(source);
        let code = std::fs::read(&source)
            .map_err(|e| anyhow::anyhow!("{}: {e} (run cargo build-plugins, and sh plugins/ts/echo/build.sh)", source.display()))?;
        let live = dir.path().join(format!("{name}.wasm"));
        deploy(&code, &live)?;
        plugins.push((name, page, code, live));
    }
    let mut toml = format!(
        "listen = \"127.0.0.1:0\"\ngraph_api_url = \"http://127.0.0.1:9/v23.0\"\n[store]\npath = {:?}\n[api]\ntoken = \"{TOKEN}\"\n\
         [[apps]]\nid = \"1\"\nsecret = \"bench-secret\"\nverify_token = \"bench\"\n",
        dir.path().join("data").display().to_string()
    );
    for (_, page, _, live) in &plugins {
        toml.push_str(&format!(
            "[[pages]]\nid = \"{page}\"\napp = \"1\"\naccess_token = \"t\"\nplugins = [{:?}]\n",
            live.display().to_string()
        ));
    }
    let config = Config::parse(&toml, dir.path(), &|_| None).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let server = Server::build(config).await?;
    let url = format!("http://{}", server.local_addr());
    let registry = server.registry().clone();
    tokio::spawn(server.run(std::future::pending()));
    registry.loaded().await;
    let http = reqwest::Client::new();

    println!("| plugin | size | reload: file written → new version serving (median of {rounds}) | max |");
    println!("|---|---|---|---|");
    for (name, page, code, live) in &plugins {
        let mut times = Vec::new();
        // A 16 MB component compiles for seconds: fewer rounds.
        for round in 0..if code.len() > 4 << 20 { rounds.div_ceil(3) } else { rounds } {
            let version = with_custom_section(code, &format!("switchboard-bench-version-{round}"));
            let hash = switchboard::sandbox::file_hash(&version);
            let written = Instant::now();
            deploy(&version, live)?;
            loop {
                if served_hash(&http, &url, page).await? == hash {
                    break;
                }
                anyhow::ensure!(written.elapsed() < Duration::from_secs(120), "{name} was not reloaded");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            times.push(written.elapsed());
            // Let the watcher settle so rounds do not overlap.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        times.sort();
        println!(
            "| {name} | {:.0} KB | {:.0} ms | {:.0} ms |",
            code.len() as f64 / 1000.0,
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3
        );
    }
    Ok(())
}
