//! Test support for Switchboard: the fake Graph API (the crate
//! `switchboard-fake-graph`, also runnable on its own as `fake-graph`),
//! used by the integration tests in `tests/tests/` and the benchmarks in
//! `tests/benches/`.

pub use switchboard_fake_graph as fake_graph;

use std::path::PathBuf;

/// The host binary the out-of-process benchmarks run: `SWITCHBOARD_BIN`
/// when set (another build, for side-by-side runs), else the production
/// build (see `[profile.production]` in the workspace's `Cargo.toml`).
pub fn bench_host_binary() -> anyhow::Result<PathBuf> {
    if let Some(binary) = std::env::var_os("SWITCHBOARD_BIN").map(PathBuf::from) {
        anyhow::ensure!(binary.is_file(), "SWITCHBOARD_BIN={} is not a file", binary.display());
        return Ok(binary);
    }
    let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/production/switchboard");
    anyhow::ensure!(binary.is_file(), "{} is missing: cargo build --profile production -p switchboard", binary.display());
    Ok(binary)
}

/// `component` with a custom section named `name` appended: a different
/// file (another hash) with the same code, as a new "version" for the
/// start and reload benchmarks.
pub fn with_custom_section(component: &[u8], name: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut payload = Vec::new();
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section id
    leb(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}
