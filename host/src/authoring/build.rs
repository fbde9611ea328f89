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
        Language::TypeScript => up_to_date(dir).map_or_else(|| build_script(dir, "Node.js and npm (https://nodejs.org)"), Ok)?,
        Language::Python => up_to_date(dir).map_or_else(|| build_script(dir, "Python 3.10 or later with venv and pip"), Ok)?,
    };
    // The project's own cache: `switchboard dev` and `test` use it too, so
    // a Python or JavaScript plugin (seconds to compile) compiles once.
    let runtime = PluginRuntime::new(PluginLimits::default())?.with_compile_cache(&compile_cache(dir))?;
    let plugin = runtime.load(&wasm).await.with_context(|| format!("the build made {}, but a host would not load it", wasm.display()))?;
    for kind in &plugin.info.event_kinds {
        if crate::model::EventKind::from_name(kind).is_none() {
            eprintln!("switchboard: warning: the plugin asks for event kind `{kind}`, which this host does not know: it will never get such events");
        }
    }
    Ok(Built {
        wasm,
        name: plugin.info.name.clone(),
        version: plugin.info.version.clone(),
        contract: plugin.contract(),
        event_kinds: plugin.info.event_kinds.clone(),
    })
}

/// What the toolchains and the authoring commands write inside a project,
/// and its conversation tests: changes there are not the plugin's.
pub const NOT_SOURCES: &[&str] =
    &[".switchboard", "target", "node_modules", "dist", ".venv", "__pycache__", ".git", "generated", "wit_world", "tests"];

/// Whether `path` (inside `dir`) is part of the plugin's source.
pub fn is_source(dir: &Path, path: &Path) -> bool {
    let relative = path.strip_prefix(dir).unwrap_or(path);
    // Tools write their output aside first (`*.tmp`), and npm rewrites the
    // lockfile as it installs.
    let written_by_tools = |name: &std::ffi::OsStr| name.to_string_lossy().ends_with(".tmp") || name == "package-lock.json";
    !relative.components().any(|c| NOT_SOURCES.iter().any(|n| c.as_os_str() == *n) || written_by_tools(c.as_os_str()))
}

/// The `.wasm` the last `build.sh` run made, if no source file changed
/// since: componentizing takes seconds, and `switchboard test` or `dev`
/// right after a build need not do it again.
fn up_to_date(dir: &Path) -> Option<PathBuf> {
    let wasm = PathBuf::from(std::fs::read_to_string(last_build(dir)).ok()?.trim());
    let built = std::fs::metadata(&wasm).ok()?.modified().ok()?;
    let newest = newest_source(dir, dir)?;
    (newest < built).then(|| {
        eprintln!("switchboard: {} is up to date", wasm.display());
        wasm
    })
}

fn last_build(dir: &Path) -> PathBuf {
    work_dir(dir).join("last-build")
}

/// The latest modification time of the sources under `path`.
fn newest_source(dir: &Path, path: &Path) -> Option<std::time::SystemTime> {
    let mut newest = std::fs::symlink_metadata(path).ok()?.modified().ok()?;
    for entry in std::fs::read_dir(path).ok()? {
        let entry = entry.ok()?;
        let (child, kind) = (entry.path(), entry.file_type().ok()?);
        if !is_source(dir, &child) {
            continue;
        }
        let time = if kind.is_dir() { newest_source(dir, &child)? } else { entry.metadata().ok()?.modified().ok()? };
        newest = newest.max(time);
    }
    Some(newest)
}

/// Where the authoring commands keep their state in a project: the
/// compiled-plugin cache, and the stores of `dev` and `test` runs.
pub fn work_dir(project: &Path) -> PathBuf {
    project.join(".switchboard")
}

/// The compiled-plugin cache of a project.
pub fn compile_cache(project: &Path) -> PathBuf {
    work_dir(project).join("compiled")
}

/// The cargo that runs this (under `cargo run`), or the one on the PATH.
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Adds the wasm target through rustup when it is missing; without rustup,
/// cargo's own error says what is missing.
fn ensure_wasm_target(dir: &Path) -> anyhow::Result<()> {
    // In the project, so its rust-toolchain.toml (if any) is the one used.
    let Ok(listed) = Command::new("rustup").args(["target", "list", "--installed"]).current_dir(dir).output() else { return Ok(()) };
    if String::from_utf8_lossy(&listed.stdout).lines().any(|t| t.trim() == WASM_TARGET) {
        return Ok(());
    }
    eprintln!("switchboard: adding the {WASM_TARGET} target (rustup target add {WASM_TARGET})");
    let status = Command::new("rustup").args(["target", "add", WASM_TARGET]).current_dir(dir).status().context("running rustup")?;
    anyhow::ensure!(status.success(), "`rustup target add {WASM_TARGET}` failed; run it yourself and build again");
    Ok(())
}

/// `cargo build --release --target wasm32-wasip2`; the `.wasm` it made,
/// as cargo reports it (not guessed from the package name).
fn build_rust(dir: &Path) -> anyhow::Result<PathBuf> {
    ensure_wasm_target(dir)?;
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

/// TypeScript and Python projects build with their own `build.sh` (it
/// installs the project's pinned toolchain on first use); its last line of
/// output is the component it made.
fn build_script(dir: &Path, needs: &str) -> anyhow::Result<PathBuf> {
    let script = dir.join("build.sh");
    anyhow::ensure!(script.is_file(), "{} has no build.sh; `switchboard new` makes one", dir.display());
    let output = Command::new("sh")
        .arg("build.sh")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running sh build.sh")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = lines.pop();
    for line in lines {
        eprintln!("{line}");
    }
    anyhow::ensure!(output.status.success(), "build.sh failed in {} (its messages are above; it needs {needs})", dir.display());
    let wasm = last.map(|l| dir.join(l.trim())).filter(|p| p.is_file());
    let wasm =
        wasm.ok_or_else(|| anyhow::anyhow!("build.sh in {} did not print the path of the .wasm it made as its last line", dir.display()))?;
    // Best effort: without the record, the next build simply runs.
    let _ = std::fs::create_dir_all(work_dir(dir)).and_then(|()| std::fs::write(last_build(dir), wasm.display().to_string()));
    Ok(wasm)
}
