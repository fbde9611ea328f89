//! `switchboard new --lang LANG DIR`: a plugin project of its own, outside
//! any checkout of Switchboard: the bot's source with an echo to start
//! from, a README saying how to build, try and deploy it, a build script,
//! a conversation test, and the SDK (with the WIT) vendored under
//! `vendor/`, so it builds without a checkout of Switchboard (its
//! toolchain's packages still come from crates.io, npm or PyPI).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{sdk_files, Language};

/// Where a project's vendored SDK lives, inside it.
const SDK_DIR: &str = "vendor/switchboard-plugin-sdk";

/// Creates the project in `dir` (which must not exist, or be empty) and
/// returns the files written, relative to it.
pub fn create(language: Language, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if dir.exists() && std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.next().is_some() {
        anyhow::bail!("{} exists and is not empty; name a new directory", dir.display());
    }
    let name = project_name(dir)?;
    // Names cargo would refuse for a package, or that clash with the SDK's.
    const TAKEN: &[&str] = &[
        "switchboard-plugin-sdk",
        "switchboard_plugin",
        "test",
        "core",
        "std",
        "alloc",
        "proc-macro",
        "proc_macro",
        "self",
        "super",
        "crate",
    ];
    if TAKEN.contains(&name.as_str()) {
        anyhow::bail!("`{name}` cannot name a plugin project (a reserved or SDK name); choose another directory name");
    }
    let files = match language {
        Language::Rust => rust(&name),
        Language::TypeScript => from_template(&name, sdk_files::TYPESCRIPT_TEMPLATE, sdk_files::TYPESCRIPT),
        Language::Python => from_template(&name, sdk_files::PYTHON_TEMPLATE, sdk_files::PYTHON),
    };
    let mut written = Vec::with_capacity(files.len());
    for (relative, contents) in files {
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        written.push(relative);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("build.sh");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).with_context(|| format!("{}", script.display()))?;
    }
    Ok(written)
}

/// The package name a directory gives: its last component, lower-case,
/// with anything but letters, digits, `-` and `_` as `-`.
fn project_name(dir: &Path) -> anyhow::Result<String> {
    let absolute = std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let last = absolute.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let name: String =
        last.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c.to_ascii_lowercase() } else { '-' }).collect();
    let name = name.trim_matches('-').to_string();
    match name.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => Ok(name),
        _ => anyhow::bail!("{} does not make a plugin name; use a directory name that starts with a letter", dir.display()),
    }
}

fn rust(name: &str) -> Vec<(PathBuf, String)> {
    let mut files = vec![
        (PathBuf::from("Cargo.toml"), RUST_MANIFEST.replace("{name}", name).replace("{sdk}", SDK_DIR)),
        (PathBuf::from(".cargo/config.toml"), RUST_CARGO_CONFIG.to_string()),
        (PathBuf::from("src/lib.rs"), RUST_LIB.replace("{name}", name)),
        (PathBuf::from("README.md"), RUST_README.replace("{name}", name).replace("{wasm}", &name.replace('-', "_"))),
        (PathBuf::from("build.sh"), RUST_BUILD.to_string()),
        (PathBuf::from(".gitignore"), "/target\n/.switchboard/\n".to_string()),
        (PathBuf::from("tests/echo.toml"), template_test()),
        (Path::new(SDK_DIR).join("Cargo.toml"), sdk_files::manifest()),
    ];
    files.extend(vendored(&[sdk_files::RUST, sdk_files::WIT]));
    files
}

/// A TypeScript or Python project: the template (with `mybot` as the
/// name), and the SDK with its WIT vendored.
fn from_template(name: &str, template: &[(&str, &str)], sdk: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = template
        .iter()
        .map(|(path, contents)| (PathBuf::from(path.strip_prefix("template/").unwrap_or(path)), contents.replace("mybot", name)))
        .collect();
    files.extend(vendored(&[sdk, sdk_files::WIT]));
    files
}

fn vendored(lists: &[&[(&str, &str)]]) -> Vec<(PathBuf, String)> {
    lists.iter().flat_map(|l| l.iter()).map(|(path, contents)| (Path::new(SDK_DIR).join(path), contents.to_string())).collect()
}

/// Every template's conversation test is the same: the scaffolds are all
/// the same echo bot.
fn template_test() -> String {
    let (_, test) = sdk_files::PYTHON_TEMPLATE.iter().find(|(p, _)| *p == "template/tests/echo.toml").copied().unwrap_or_default();
    test.to_string()
}

const RUST_MANIFEST: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
switchboard-plugin-sdk = { path = "{sdk}" }

[profile.release]
opt-level = "s"
strip = "debuginfo"

# The plugin is a project of its own, wherever it sits.
[workspace]
"#;

const RUST_CARGO_CONFIG: &str = r#"[build]
# Plugins are WebAssembly components; `rustup target add wasm32-wasip2`.
target = "wasm32-wasip2"

[target.wasm32-wasip2]
# The host gives each event a fresh instance: a small stack keeps it cheap.
rustflags = ["-Clink-arg=-zstack-size=131072"]
"#;

const RUST_LIB: &str = r#"//! {name}: a Switchboard plugin. Edit the reply, then build the `.wasm`
//! with `switchboard build .`.

use switchboard_plugin_sdk::prelude::*;

struct Bot;

impl Plugin for Bot {
    fn info() -> PluginInfo {
        PluginInfo::default().event_kinds(["message"])
    }

    fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
        if let Some(text) = &message.text {
            cx.reply(format!("You said: {text}"))?;
        }
        Ok(Verdict::Continue)
    }
}

export_plugin!(Bot);
"#;

const RUST_BUILD: &str = r#"#!/bin/sh
# Builds the plugin into target/wasm32-wasip2/release/*.wasm.
# `switchboard build .` does the same, checks the component against the
# host's contract and prints its path.
set -e
cd "$(dirname "$0")"
cargo build --release
"#;

const RUST_README: &str = r#"# {name}

A Switchboard Messenger plugin in Rust. The bot is `src/lib.rs`: implement the `Plugin` trait's
`on_message`, `on_postback`, ... methods and act through the `Context`
(`cx.reply(...)`, quick replies, templates, `kv` state, handover).

## Build

    switchboard build .

builds the component and prints its path as the last line
(`target/wasm32-wasip2/release/{wasm}.wasm`); `./build.sh` runs the same
`cargo build`. It needs the `wasm32-wasip2` target
(`rustup target add wasm32-wasip2`).

## Deploy

List the `.wasm` under a Page's `plugins` in the host's configuration:

    [[pages]]
    id = "YOUR_PAGE_ID"
    app = "YOUR_APP_ID"
    access_token = "..."
    plugins = ["plugins/{wasm}.wasm"]

To deploy a new version to a running host, copy the new build over that
file: the host reloads it without a restart and without losing an event.

## The SDK

`vendor/switchboard-plugin-sdk` is the Switchboard plugin SDK (with the
WIT contract it builds against, `switchboard:plugin@0.2.0`), copied here by
`switchboard new` so the project builds anywhere. Its documentation:
`cargo doc --open -p switchboard-plugin-sdk`.
"#;

#[cfg(test)]
mod tests {
    use super::project_name;
    use std::path::Path;

    #[test]
    fn a_directory_names_its_package() {
        assert_eq!(project_name(Path::new("bots/My Bot")).expect("valid"), "my-bot");
        assert_eq!(project_name(Path::new("weather_bot")).expect("valid"), "weather_bot");
        assert!(project_name(Path::new("42")).is_err());
    }
}
