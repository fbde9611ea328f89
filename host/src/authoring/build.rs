//! `switchboard build DIR`: builds a plugin project into a WebAssembly
//! component with its language's toolchain, then loads it the way a host
//! does (compile, link against the contract, `describe()`), so a plugin
//! that would not load fails here, with the host's reason.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;

use super::Language;
use crate::config::PluginLimits;
use crate::sandbox::PluginRuntime;

const WASM_TARGET: &str = "wasm32-wasip2";

/// A plugin built and checked.
#[derive(Debug)]
pub struct Built {
    pub wasm: PathBuf,
    pub name: String,
    pub version: String,
    /// The `switchboard:plugin` version it exports.
    pub contract: &'static str,
    pub event_kinds: Vec<String>,
}

/// Builds the project in `dir` and checks the component it makes.
pub async fn build(dir: &Path) -> anyhow::Result<Built> {
    let wasm = match Language::of_project(dir)? {
        Language::Rust => build_rust(dir)?,
    };
    let runtime = PluginRuntime::new(PluginLimits::default())?;
    let plugin = runtime.load(&wasm).await.with_context(|| format!("the build made {}, but a host would not load it", wasm.display()))?;
    Ok(Built {
        wasm,
        name: plugin.info.name.clone(),
        version: plugin.info.version.clone(),
        contract: plugin.contract(),
        event_kinds: plugin.info.event_kinds.clone(),
    })
}

/// The cargo that runs this (under `cargo run`), or the one on the PATH.
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Adds the wasm target through rustup when it is missing; without rustup,
/// cargo's own error says what is missing.
fn ensure_wasm_target() -> anyhow::Result<()> {
    let Ok(listed) = Command::new("rustup").args(["target", "list", "--installed"]).output() else { return Ok(()) };
    if String::from_utf8_lossy(&listed.stdout).lines().any(|t| t.trim() == WASM_TARGET) {
        return Ok(());
    }
    eprintln!("switchboard: adding the {WASM_TARGET} target (rustup target add {WASM_TARGET})");
    let status = Command::new("rustup").args(["target", "add", WASM_TARGET]).status().context("running rustup")?;
    anyhow::ensure!(status.success(), "`rustup target add {WASM_TARGET}` failed; run it yourself and build again");
    Ok(())
}

/// `cargo build --release --target wasm32-wasip2`; the `.wasm` it made,
/// as cargo reports it (not guessed from the package name).
fn build_rust(dir: &Path) -> anyhow::Result<PathBuf> {
    ensure_wasm_target()?;
    let output = Command::new(cargo())
        .args(["build", "--release", "--target", WASM_TARGET, "--message-format=json-render-diagnostics"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo (is Rust installed? https://rustup.rs)")?;
    anyhow::ensure!(output.status.success(), "cargo build failed in {} (its messages are above)", dir.display());
    let mut built = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let is_cdylib = message["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib"));
        if message["reason"] == "compiler-artifact" && is_cdylib {
            let wasm = message["filenames"].as_array().into_iter().flatten().filter_map(|f| f.as_str()).find(|f| f.ends_with(".wasm"));
            built = wasm.map(PathBuf::from).or(built);
        }
    }
    built.ok_or_else(|| anyhow::anyhow!("cargo built no .wasm in {}: the package needs `[lib] crate-type = [\"cdylib\"]`", dir.display()))
}
