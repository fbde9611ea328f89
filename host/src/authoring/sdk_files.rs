//! The plugin SDKs (`plugin-sdk/rust`, `ts`, `python`, each with the WIT)
//! and the TypeScript and Python project templates, carried inside the
//! `switchboard` binary so `switchboard new` can give a project its own
//! copy wherever it is created, with no checkout of this repository.
//! A test checks that each list is the whole of what it carries.

/// `(path, contents)` of files under `plugin-sdk/$dir/`.
macro_rules! carried {
    ($dir:literal: $($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../plugin-sdk/", $dir, "/", $path)))),*]
    };
}

/// The contract, as every SDK carries it (under `wit/`).
pub const WIT: &[(&str, &str)] = carried!("rust":
    "wit/switchboard.wit", "wit/deps/cli.wit", "wit/deps/clocks.wit", "wit/deps/filesystem.wit",
    "wit/deps/http.wit", "wit/deps/io.wit", "wit/deps/random.wit", "wit/deps/sockets.wit",
);

/// The Rust SDK crate's source (its manifest is [`manifest`]).
pub const RUST: &[(&str, &str)] = carried!("rust":
    "src/context.rs", "src/error.rs", "src/event.rs", "src/kv.rs", "src/lib.rs", "src/log.rs", "src/outgoing.rs", "src/plugin.rs",
);

/// The TypeScript SDK package (`@switchboard/plugin-sdk`), with its build
/// script (`build.mjs`: types from the WIT, type check, bundle,
/// componentize).
pub const TYPESCRIPT: &[(&str, &str)] = carried!("ts":
    "package.json", "tsconfig.json", "README.md", "build.mjs",
    "src/context.ts", "src/errors.ts", "src/event.ts", "src/index.ts", "src/kv.ts", "src/log.ts", "src/outgoing.ts", "src/plugin.ts",
);

/// A TypeScript plugin project; `mybot` stands for its name.
pub const TYPESCRIPT_TEMPLATE: &[(&str, &str)] = carried!("ts":
    "template/package.json", "template/package-lock.json", "template/tsconfig.json", "template/src/index.ts",
    "template/build.sh", "template/README.md", "template/.gitignore", "template/tests/echo.toml",
);

/// The Python SDK package (`switchboard_plugin`).
pub const PYTHON: &[(&str, &str)] = carried!("python":
    "pyproject.toml", "README.md", "build.sh",
    "src/switchboard_plugin/__init__.py", "src/switchboard_plugin/context.py", "src/switchboard_plugin/errors.py",
    "src/switchboard_plugin/kv.py", "src/switchboard_plugin/log.py", "src/switchboard_plugin/outgoing.py",
    "src/switchboard_plugin/plugin.py", "src/switchboard_plugin/py.typed",
);

/// A Python plugin project; `mybot` stands for its name.
pub const PYTHON_TEMPLATE: &[(&str, &str)] = carried!("python":
    "template/app.py", "template/build.sh", "template/README.md", "template/.gitignore", "template/tests/echo.toml",
);

/// The SDK's version: the workspace's, which the SDK inherits.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The SDK's manifest outside the workspace (its own inherits from it).
pub fn manifest() -> String {
    format!(
        r#"[package]
name = "switchboard-plugin-sdk"
description = "Write Switchboard Messenger plugins in idiomatic Rust"
version = "{VERSION}"
edition = "2021"
license = "Apache-2.0"

[dependencies]
wit-bindgen = "{WIT_BINDGEN}"
"#
    )
}

/// The `wit-bindgen` requirement of the workspace (checked by a test).
const WIT_BINDGEN: &str = "0.61";

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    fn files_under(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("readable") {
            let path = entry.expect("entry").path();
            let relative = path.strip_prefix(root).expect("under root").to_string_lossy().to_string();
            // The old contract versions are the host's, not the SDK's.
            if relative == "wit/versions" {
                continue;
            }
            if path.is_dir() {
                files_under(root, &path, out);
            } else {
                out.push(relative);
            }
        }
    }

    /// Every file under `plugin-sdk/{dir}/{sub}`, relative to `plugin-sdk/{dir}`, but
    /// what git ignores there (tools' output) and what `skip` names.
    fn on_disk(dir: &str, subs: &[&str], skip: &[&str]) -> Vec<String> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk").join(dir);
        let mut out = Vec::new();
        for sub in subs {
            let path = root.join(sub);
            if path.is_file() {
                out.push(sub.to_string());
            } else {
                files_under(&root, &path, &mut out);
            }
        }
        out.retain(|f| !skip.iter().any(|s| f == s || f.starts_with(&format!("{s}/"))));
        out.sort();
        out
    }

    fn listed(files: &[&[(&str, &str)]]) -> Vec<String> {
        let mut listed: Vec<String> = files.iter().flat_map(|f| f.iter().map(|(p, _)| p.to_string())).collect();
        listed.sort();
        listed
    }

    #[test]
    fn each_carried_sdk_is_the_whole_sdk() {
        let message = "list every SDK file in host/src/authoring/sdk_files.rs";
        assert_eq!(listed(&[super::RUST, super::WIT]), on_disk("rust", &["src", "wit"], &[]), "{message}");
        let ts_ignored = ["template/node_modules", "template/dist", "template/vendor", "template/generated"];
        assert_eq!(
            listed(&[super::TYPESCRIPT, super::TYPESCRIPT_TEMPLATE]),
            on_disk("ts", &["package.json", "tsconfig.json", "README.md", "build.mjs", "src", "template"], &ts_ignored),
            "{message}"
        );
        let py_ignored = ["src/switchboard_plugin/__pycache__", "template/.venv", "template/dist", "template/vendor"];
        assert_eq!(
            listed(&[super::PYTHON, super::PYTHON_TEMPLATE]),
            on_disk("python", &["pyproject.toml", "README.md", "build.sh", "src", "template"], &py_ignored),
            "{message}"
        );
    }

    #[test]
    fn the_carried_manifest_asks_for_the_workspace_wit_bindgen() {
        let workspace = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml")).expect("readable");
        assert!(workspace.contains(&format!("wit-bindgen = \"{}\"", super::WIT_BINDGEN)), "update WIT_BINDGEN");
    }
}
