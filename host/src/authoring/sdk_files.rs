//! The Rust plugin SDK (`plugin-sdk/rust/`, its WIT included), carried inside
//! the `switchboard` binary so `switchboard new` can give a project its
//! own copy wherever it is created, with no checkout of this repository.
//! A test checks that this list is the SDK's whole source.

/// (path inside the SDK crate, contents).
pub const FILES: &[(&str, &str)] = &[
    ("src/context.rs", include_str!("../../../plugin-sdk/rust/src/context.rs")),
    ("src/error.rs", include_str!("../../../plugin-sdk/rust/src/error.rs")),
    ("src/event.rs", include_str!("../../../plugin-sdk/rust/src/event.rs")),
    ("src/kv.rs", include_str!("../../../plugin-sdk/rust/src/kv.rs")),
    ("src/lib.rs", include_str!("../../../plugin-sdk/rust/src/lib.rs")),
    ("src/log.rs", include_str!("../../../plugin-sdk/rust/src/log.rs")),
    ("src/outgoing.rs", include_str!("../../../plugin-sdk/rust/src/outgoing.rs")),
    ("src/plugin.rs", include_str!("../../../plugin-sdk/rust/src/plugin.rs")),
    ("wit/switchboard.wit", include_str!("../../../plugin-sdk/rust/wit/switchboard.wit")),
    ("wit/deps/cli.wit", include_str!("../../../plugin-sdk/rust/wit/deps/cli.wit")),
    ("wit/deps/clocks.wit", include_str!("../../../plugin-sdk/rust/wit/deps/clocks.wit")),
    ("wit/deps/filesystem.wit", include_str!("../../../plugin-sdk/rust/wit/deps/filesystem.wit")),
    ("wit/deps/http.wit", include_str!("../../../plugin-sdk/rust/wit/deps/http.wit")),
    ("wit/deps/io.wit", include_str!("../../../plugin-sdk/rust/wit/deps/io.wit")),
    ("wit/deps/random.wit", include_str!("../../../plugin-sdk/rust/wit/deps/random.wit")),
    ("wit/deps/sockets.wit", include_str!("../../../plugin-sdk/rust/wit/deps/sockets.wit")),
];

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

    #[test]
    fn the_carried_sdk_is_the_whole_sdk() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk/rust");
        let mut on_disk = Vec::new();
        files_under(&root, &root.join("src"), &mut on_disk);
        files_under(&root, &root.join("wit"), &mut on_disk);
        on_disk.sort();
        let mut carried: Vec<String> = super::FILES.iter().map(|(p, _)| p.to_string()).collect();
        carried.sort();
        assert_eq!(carried, on_disk, "list every SDK file in host/src/authoring/sdk_files.rs");
    }

    #[test]
    fn the_carried_manifest_asks_for_the_workspace_wit_bindgen() {
        let workspace = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml")).expect("readable");
        assert!(workspace.contains(&format!("wit-bindgen = \"{}\"", super::WIT_BINDGEN)), "update WIT_BINDGEN");
    }
}
