//! Hot reload, without a restart and without losing an event: of plugin
//! files (drop a new `.wasm` in place) and of the config file (Pages,
//! their plugin chains and limits, tokens, app secrets, the API token).
//!
//! One watcher observes the *directories* of the plugin files and of the
//! config file (an atomic `rename` over a file is invisible to a watch on
//! the file itself) and debounces bursts of changes (50 ms of quiet ends a
//! burst). Then:
//! * **a plugin file**: skipped if its content hash is unchanged; compiled
//!   off the request path; checked against the `switchboard:plugin` world;
//!   its `describe()` run (all in [`PluginRuntime::load`]); only then is a
//!   new routes snapshot swapped in.
//! * **the config file**: parsed and validated whole; the routes are rebuilt
//!   (unchanged plugin files are reused, changed ones compiled); only then
//!   are the routes, the webhook's app secrets and the API token swapped.
//!   Settings that only take effect at start (`listen`, `[store]`,
//!   `[dispatch]`...) are logged as waiting for a restart.
//!
//! Events already running keep the snapshot they started with, so in-flight
//! events finish on the old version and the next event uses the new one. A
//! file that fails any step is rejected with a log line, and what was live
//! stays live.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::engine::registry::{PluginRegistry, Routes, SharedServices};
use crate::ingress::api::ApiToken;
use crate::ingress::webhook::WebhookApps;
use crate::sandbox::{file_hash, PluginRuntime};

/// A burst of file events ends after this long without another: an atomic
/// rename is one event, a copy in place is many while the file is written.
const QUIET: Duration = Duration::from_millis(50);
/// A burst is cut off after this long, so a file rewritten nonstop still
/// gets (re)loaded.
const BURST_MAX: Duration = Duration::from_secs(1);

/// What a config reload replaces, besides the routes.
pub struct LiveConfig {
    pub services: SharedServices,
    pub apps: WebhookApps,
    pub api_token: ApiToken,
    /// Where the Graph calls a reload starts (Messenger Profiles) run, and
    /// the watcher's own loop: both stop at shutdown.
    pub tasks: crate::background::BackgroundTasks,
}

/// Keeps the file watcher alive; dropping it stops hot reload.
pub struct HotReload {
    _watcher: Arc<Mutex<notify::RecommendedWatcher>>,
}

struct Reloader {
    runtime: PluginRuntime,
    registry: PluginRegistry,
    live: LiveConfig,
    /// The config the host started with (restart-only settings) and the
    /// one in force now.
    started: Config,
    current: Config,
    /// The hash of the config file's text in force: a write that leaves it
    /// the same (an editor's save, a `touch`) reloads nothing.
    config_hash: Option<String>,
    watcher: Arc<Mutex<notify::RecommendedWatcher>>,
    watched_dirs: HashSet<PathBuf>,
}

impl HotReload {
    /// Watches `config`'s plugin files, and its file if it came from one.
    pub fn spawn(config: Config, runtime: PluginRuntime, registry: PluginRegistry, live: LiveConfig) -> anyhow::Result<HotReload> {
        let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if !changes_content(&event.kind) {
                return;
            }
            for path in event.paths {
                let _ = tx.send(path);
            }
        })?;
        let watcher = Arc::new(Mutex::new(watcher));
        let mut reloader = Reloader {
            runtime,
            registry,
            live,
            config_hash: config.source.as_deref().and_then(|p| std::fs::read(p).ok()).map(|b| file_hash(&b)),
            started: config.clone(),
            current: config,
            watcher: watcher.clone(),
            watched_dirs: HashSet::new(),
        };
        reloader.watch_dirs()?;
        let tasks = reloader.live.tasks.clone();
        tasks.spawn_here(async move {
            // Changes made while the plugins load at start wait here, then
            // apply to what was loaded.
            reloader.registry.loaded().await;
            while let Some(first) = rx.recv().await {
                let mut changed = HashSet::from([first]);
                let cutoff = tokio::time::Instant::now() + BURST_MAX;
                while let Ok(Some(more)) = tokio::time::timeout_at(cutoff.min(tokio::time::Instant::now() + QUIET), rx.recv()).await {
                    changed.insert(more);
                }
                // The config first: its rebuild also picks up changed plugin files.
                if reloader.current.source.as_ref().is_some_and(|c| changed.contains(c)) {
                    reloader.reload_config().await;
                    continue;
                }
                for path in changed {
                    reloader.reload_plugin(&path).await;
                }
            }
        });
        Ok(HotReload { _watcher: watcher })
    }
}

/// Whether a file event can mean new content: a creation, a write, a
/// rename. Reads (`cat`, `switchboard plugins` reading the config), opens,
/// closes and metadata changes cannot, and must not trigger a reload.
fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::event::{EventKind, ModifyKind};
    matches!(kind, EventKind::Create(_) | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any))
}

impl Reloader {
    /// Watches the directories of the config file and of every plugin file
    /// not watched yet.
    fn watch_dirs(&mut self) -> anyhow::Result<()> {
        let files = self.current.pages.iter().flat_map(|p| p.plugins.iter().map(|e| &e.path)).chain(self.current.source.as_ref());
        let new_dirs: HashSet<PathBuf> =
            files.filter_map(|p| p.parent().map(PathBuf::from)).filter(|d| !self.watched_dirs.contains(d)).collect();
        let mut watcher = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        for dir in new_dirs {
            watcher.watch(&dir, RecursiveMode::NonRecursive)?;
            self.watched_dirs.insert(dir);
        }
        Ok(())
    }

    async fn reload_plugin(&self, path: &Path) {
        let Some(live) = self.registry.snapshot().plugin_at(path) else { return };
        match std::fs::read(path) {
            Ok(bytes) if file_hash(&bytes) == live.hash => return,
            Ok(_) => {}
            // Mid-replacement (removed before the new file is renamed in):
            // the rename's own event triggers the reload.
            Err(_) => return,
        }
        match self.runtime.load(path).await {
            Ok(new) => {
                let new = Arc::new(new);
                let routes = self.registry.snapshot().with_plugin(&new);
                self.registry.replace(routes);
                tracing::info!(path = %path.display(), plugin = %new.info.name, version = %new.info.version,
                    old_version = %live.info.version, hash = %&new.hash[..12], "plugin reloaded; new events use the new version");
            }
            Err(e) => {
                tracing::error!(path = %path.display(), live_version = %live.info.version,
                    "new plugin file rejected, the last good version stays live: {e:#}");
                self.registry.health().rejected(path, &format!("{e:#}"));
            }
        }
    }

    async fn reload_config(&mut self) {
        let Some(path) = self.current.source.clone() else { return };
        let Ok(text) = std::fs::read(&path) else {
            // Mid-replacement: the rename's own event triggers the reload.
            return;
        };
        let hash = file_hash(&text);
        if self.config_hash.as_deref() == Some(hash.as_str()) {
            tracing::debug!(path = %path.display(), "config file written without a change; nothing to reload");
            return;
        }
        let new = match Config::load(&path) {
            Ok(new) => new,
            Err(e) => {
                tracing::error!("config reload rejected, the running config stays: {e}");
                return;
            }
        };
        let waiting = self.started.restart_only_changes(&new);
        if new.largest_memory_mib() > self.started.largest_memory_mib() {
            tracing::error!(
                "config reload rejected: plugins may not get more memory than at start ({} MiB) without a restart",
                self.started.largest_memory_mib()
            );
            return;
        }
        let routes = match Routes::build(&new, &self.runtime, &self.live.services, &self.registry.snapshot()).await {
            Ok(routes) => routes,
            Err(e) => {
                tracing::error!("config reload rejected, the running config stays: {e:#}");
                return;
            }
        };
        self.registry.replace(routes);
        self.live.apps.replace(&new);
        self.live.api_token.replace(&new);
        if !waiting.is_empty() {
            tracing::warn!(settings = ?waiting, "config reloaded, but these settings take effect only at the next start");
        }
        tracing::info!(path = %path.display(), pages = new.pages.len(), "config reloaded; new events use it");
        self.current = new;
        self.config_hash = Some(hash);
        if let Err(e) = self.watch_dirs() {
            tracing::error!(error = %e, "cannot watch a new plugin directory; its files reload only at the next config change");
        }
        let (config, routes, store) = (self.current.clone(), self.registry.snapshot(), self.live.services.store.clone());
        self.live.tasks.spawn_on_workers(async move {
            crate::messenger::messenger_profile::apply_all(&config, |id| routes.pages.get(id).map(|r| r.access.clone()), &store).await
        });
    }
}
