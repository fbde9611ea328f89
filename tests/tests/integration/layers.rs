//! The host's structure, as ARCHITECTURE.md states it: layers that use only
//! the layers below them, no import cycle between modules, and no source
//! file over 600 lines. Read from the source, so a change that breaks a
//! rule fails here, not in a review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first; each may use only the ones before it. The
/// first four are `switchboard-formats` (`host/formats`), re-exported: a
/// crate of its own cannot use the host at all.
const LAYERS: &[&str] = &["model", "config", "bounds", "send_api", "telemetry", "store", "messenger", "sandbox", "engine", "ingress"];
/// Assembling and running the host: above every layer.
const TOP: &[&str] = &["background", "reload", "server", "authoring", "tools", "main", "lib"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("host/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn host_sources() -> (PathBuf, Vec<PathBuf>) {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../host/src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    (src, files)
}

/// `engine::dispatch` for `engine/dispatch.rs`, `sandbox` for
/// `sandbox/mod.rs`, `sandbox::capabilities` for `sandbox/capabilities/kv.rs`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.truncate(2);
    parts.join("::")
}

/// The modules a file's code names through `crate::` paths (comments
/// skipped), at the same depth as [`module_of`].
fn references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':' || *c == '{').collect();
            let mut segments = path.split("::").map(|s| s.trim_matches('{'));
            let Some(first) = segments.next().filter(|s| !s.is_empty()) else { continue };
            // A lower-case second segment names a submodule; anything else
            // (a type, a brace list) is the first module's own item.
            match segments.next().filter(|s| s.chars().next().is_some_and(|c| c.is_ascii_lowercase())) {
                Some(second) => found.insert(format!("{first}::{second}")),
                None => found.insert(first.to_string()),
            };
        }
    }
    found
}

fn layer(module: &str) -> Option<usize> {
    let top = module.split("::").next().unwrap_or_default();
    LAYERS.iter().position(|l| *l == top).or_else(|| TOP.contains(&top).then_some(LAYERS.len()))
}

#[test]
fn each_layer_uses_only_the_layers_below_it_and_no_modules_import_each_other() {
    let (src, files) = host_sources();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for file in &files {
        let from = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("readable");
        // Tests may reach further down (a test store, a test outbox).
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for to in references(code) {
            if let (Some(a), Some(b)) = (layer(&from), layer(&to)) {
                if b > a {
                    wrong.push(format!("{} ({from}) uses {to}, a layer above it", file.display()));
                }
            }
            // Known names only: `crate::X` where X is not a module of the
            // host is a macro path or similar.
            if to != from && layer(&to).is_some() {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    assert!(wrong.is_empty(), "layer rule broken:\n{}", wrong.join("\n"));

    // A module's children are part of it: a cycle through a parent and its
    // own child (`sandbox` and `sandbox::capabilities`) counts too, since
    // the child then depends on the whole parent.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
    // The rule must see the code: the engine does use the sandbox.
    assert!(edges.get("engine::dispatch").is_some_and(|e| e.contains("sandbox::capabilities")), "{edges:#?}");
}

#[test]
fn no_host_source_file_is_over_600_lines() {
    let (_, mut files) = host_sources();
    sources(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../host/formats/src"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).expect("readable").lines().count();
            (lines > 600).then(|| format!("{} has {lines} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these: {long:?}");
    assert!(files.len() > 40, "the host's sources were found: {}", files.len());
}
