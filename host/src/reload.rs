//! Hot reload of plugin files: drop a new `.wasm` in place and the host
//! serves it, without a restart and without losing an event.
//!
//! The watcher observes the *directories* of the configured plugin files (an
//! atomic `rename` over a file is invisible to a watch on the file itself),
//! debounces bursts of changes (50 ms of quiet ends a burst), then for each
//! changed file: skips it if its
//! content hash is unchanged; compiles it off the request path; checks it
//! against the `switchboard:plugin` world and runs its `describe()` (all in
//! [`PluginRuntime::load`]); and only then swaps a new routes snapshot in.
//! Events already running keep the snapshot they started with, so in-flight
//! events finish on the old version and the next event uses the new one. A
//! file that fails any step is rejected with a log line and the last good
//! version stays live.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::registry::PluginRegistry;
use crate::runtime::{file_hash, PluginRuntime};

/// A burst of file events ends after this long without another: an atomic
/// rename is one event, a copy in place is many while the file is written.
const QUIET: Duration = Duration::from_millis(50);
/// A burst is cut off after this long, so a file rewritten nonstop still
/// gets (re)loaded.
const BURST_MAX: Duration = Duration::from_secs(1);

/// Keeps the file watcher alive; dropping it stops hot reload.
pub struct PluginWatcher {
    _watcher: notify::RecommendedWatcher,
}

impl PluginWatcher {
    /// Watches `paths` (the configured plugin files) and reloads them into
    /// `registry` when they change.
    pub fn spawn(paths: Vec<PathBuf>, runtime: PluginRuntime, registry: PluginRegistry) -> anyhow::Result<PluginWatcher> {
        let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
        let watched: HashSet<PathBuf> = paths.iter().cloned().collect();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event {
                for path in event.paths {
                    if watched.contains(&path) {
                        let _ = tx.send(path);
                    }
                }
            }
        })?;
        let dirs: HashSet<PathBuf> = paths.iter().filter_map(|p| p.parent().map(PathBuf::from)).collect();
        for dir in &dirs {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut changed = HashSet::from([first]);
                let cutoff = tokio::time::Instant::now() + BURST_MAX;
                while let Ok(Some(more)) = tokio::time::timeout_at(cutoff.min(tokio::time::Instant::now() + QUIET), rx.recv()).await {
                    changed.insert(more);
                }
                for path in changed {
                    reload(&path, &runtime, &registry).await;
                }
            }
        });
        Ok(PluginWatcher { _watcher: watcher })
    }
}

async fn reload(path: &std::path::Path, runtime: &PluginRuntime, registry: &PluginRegistry) {
    let Some(live) = registry.snapshot().plugin_at(path) else { return };
    match std::fs::read(path) {
        Ok(bytes) if file_hash(&bytes) == live.hash => return,
        Ok(_) => {}
        // Mid-replacement (removed before the new file is renamed in):
        // the rename's own event triggers the reload.
        Err(_) => return,
    }
    match runtime.load(path).await {
        Ok(new) => {
            let new = Arc::new(new);
            let routes = registry.snapshot().with_plugin(&new);
            registry.replace(routes);
            tracing::info!(path = %path.display(), plugin = %new.info.name, version = %new.info.version,
                old_version = %live.info.version, hash = %&new.hash[..12], "plugin reloaded; new events use the new version");
        }
        Err(e) => {
            tracing::error!(path = %path.display(), live_version = %live.info.version,
                "new plugin file rejected, the last good version stays live: {e:#}");
            registry.health().rejected(path, &format!("{e:#}"));
        }
    }
}
