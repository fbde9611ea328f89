//! Which plugins serve which Page.
//!
//! [`PluginRegistry`] holds an immutable [`Routes`] snapshot behind an
//! `RwLock<Arc<_>>`: each event takes the current snapshot once and keeps it
//! until it is handled, so a snapshot swapped in later (reload) never changes
//! an event mid-chain. A plugin file used by several Pages is compiled once.
//!
//! At start the registry is *loading*: the host already takes webhooks in
//! while plugins compile, and events wait in the inbox until
//! [`PluginRegistry::loaded`] says the first routes are in.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;

use crate::config::{Config, PluginLimits};
use crate::engine::plugin_health::PluginHealth;
use crate::messenger::conversation::Conversations;
use crate::messenger::graph::GraphClient;
use crate::messenger::page::PageAccess;
use crate::messenger::page_gate::{GatePolicy, PageGate};
use crate::messenger::profiles::UserProfiles;
use crate::sandbox::{CompiledPlugin, PluginRuntime};
use crate::store::problems::ProblemLog;
use crate::store::{Store, WriteOp, WriteResult};
use crate::telemetry::Metrics;

/// A Page and its plugin chain, in configured order.
pub struct PageRoute {
    pub access: Arc<PageAccess>,
    pub plugins: Vec<ChainPlugin>,
    /// Pass the thread to any app that requests it.
    pub auto_pass_thread_requests: bool,
}

/// A plugin in a Page's chain.
#[derive(Clone)]
pub struct ChainPlugin {
    /// The id the operator gave it (`config::PluginEntry`): it keys the
    /// plugin's key-value namespace, limits and health, whatever name the
    /// plugin declares.
    pub id: Arc<str>,
    pub compiled: Arc<CompiledPlugin>,
    /// Its limits on this Page.
    pub limits: Arc<PluginLimits>,
}

/// What every Page's access shares: one Graph client (one connection
/// pool), the conversation state and the profile cache.
#[derive(Clone)]
pub struct SharedServices {
    pub graph: GraphClient,
    pub conversations: Conversations,
    pub profiles: UserProfiles,
    pub store: Store,
    pub metrics: Metrics,
    pub problems: ProblemLog,
}

/// Every configured Page, by Page id.
#[derive(Default)]
pub struct Routes {
    pub pages: HashMap<String, PageRoute>,
}

impl Routes {
    /// Builds the Page routes of `config`, compiling every plugin file it
    /// names once; a file whose content is what `previous` runs is reused
    /// as it is (a config reload does not recompile unchanged plugins).
    pub async fn build(config: &Config, runtime: &PluginRuntime, services: &SharedServices, previous: &Routes) -> anyhow::Result<Routes> {
        let mut compiled: HashMap<PathBuf, Arc<CompiledPlugin>> = HashMap::new();
        for page in &config.pages {
            for entry in &page.plugins {
                let Some(live) = previous.plugin_at(&entry.path) else { continue };
                if std::fs::read(&entry.path).is_ok_and(|bytes| crate::sandbox::file_hash(&bytes) == live.hash) {
                    compiled.insert(entry.path.clone(), live);
                }
            }
        }
        let mut pages = HashMap::new();
        for page in &config.pages {
            let mut plugins = Vec::with_capacity(page.plugins.len());
            for entry in &page.plugins {
                let path = &entry.path;
                let plugin = match compiled.get(path) {
                    Some(p) => p.clone(),
                    None => {
                        let p = Arc::new(runtime.load(path).await.with_context(|| format!("loading a plugin of Page {}", page.id))?);
                        tracing::info!(page = %page.id, plugin = %entry.id, declared = %p.info.name, version = %p.info.version, compilation = ?p.compilation,
                            kinds = ?p.info.event_kinds, path = %path.display(), "plugin loaded");
                        compiled.insert(path.clone(), p.clone());
                        p
                    }
                };
                let limits = Arc::new(config.limits_for(page, &entry.id));
                plugins.push(ChainPlugin { id: Arc::from(entry.id.as_str()), compiled: plugin, limits });
            }
            if !previous.pages.contains_key(&page.id) {
                adopt_declared_namespaces(&services.store, &page.id, &plugins).await?;
            }
            let g = &config.graph;
            let policy = GatePolicy {
                rate_per_sec: page.send_rate_per_sec.unwrap_or(g.send_rate_per_sec),
                burst: ((page.send_rate_per_sec.unwrap_or(g.send_rate_per_sec) / 10.0).ceil() as u32).max(1),
                retry_deadline: Duration::from_secs(g.retry_deadline_secs),
                first_backoff: Duration::from_millis(g.retry_first_backoff_ms),
                max_backoff: Duration::from_millis(g.retry_max_backoff_ms),
                circuit_open: Duration::from_secs(g.circuit_open_secs),
            };
            // The gate outlives reloads: its recipient locks, circuit and
            // pacing are mid-flight state, and a new gate would let a new
            // send overtake a retry still holding the old one's lock.
            let gate = match previous.pages.get(&page.id) {
                Some(live) => {
                    let gate = live.access.gate.clone();
                    gate.set_policy(policy);
                    if live.access.access_token != page.access_token {
                        gate.token_replaced();
                    }
                    gate
                }
                None => Arc::new(PageGate::new(&page.id, policy).reporting_to(services.metrics.clone(), services.problems.clone())),
            };
            let access = Arc::new(PageAccess {
                page_id: page.id.clone(),
                app_id: page.app.clone(),
                access_token: page.access_token.clone(),
                graph: services.graph.clone(),
                gate,
                conversations: services.conversations.clone(),
                profiles: services.profiles.clone(),
                store: services.store.clone(),
            });
            pages.insert(page.id.clone(), PageRoute { access, plugins, auto_pass_thread_requests: page.auto_pass_thread_requests });
        }
        Ok(Routes { pages })
    }
}

impl Routes {
    /// The file hashes of every plugin in use.
    pub fn plugin_hashes(&self) -> Vec<String> {
        self.pages.values().flat_map(|p| p.plugins.iter().map(|c| c.compiled.hash.clone())).collect()
    }

    /// These routes with every use of the plugin at `new.path` replaced by
    /// `new`; everything else is shared with `self`.
    pub fn with_plugin(&self, new: &Arc<CompiledPlugin>) -> Routes {
        let pages = self
            .pages
            .iter()
            .map(|(id, route)| {
                let plugins = route
                    .plugins
                    .iter()
                    .map(|p| if p.compiled.path == new.path { ChainPlugin { compiled: new.clone(), ..p.clone() } } else { p.clone() })
                    .collect();
                (
                    id.clone(),
                    PageRoute { access: route.access.clone(), plugins, auto_pass_thread_requests: route.auto_pass_thread_requests },
                )
            })
            .collect();
        Routes { pages }
    }

    /// The live plugin loaded from `path`, if any Page uses it.
    pub fn plugin_at(&self, path: &std::path::Path) -> Option<Arc<CompiledPlugin>> {
        self.pages.values().flat_map(|r| r.plugins.iter()).find(|p| p.compiled.path == path).map(|p| p.compiled.clone())
    }
}

/// Key-value state was once keyed by the name a plugin declares; the
/// first time a Page is served by a host that keys it by plugin id, each
/// plugin's old namespace becomes its id's. Only once per Page (the store
/// remembers it), and never into a namespace already in use, so a plugin
/// added later that declares another's name gets nothing of it.
async fn adopt_declared_namespaces(store: &Store, page_id: &str, plugins: &[ChainPlugin]) -> anyhow::Result<()> {
    let ids: std::collections::HashSet<&str> = plugins.iter().map(|p| &*p.id).collect();
    let moves = plugins
        .iter()
        .filter(|p| p.compiled.info.name != *p.id && !ids.contains(p.compiled.info.name.as_str()))
        .map(|p| (p.compiled.info.name.clone(), p.id.to_string()))
        .collect();
    let op = WriteOp::KvAdopt { page_id: page_id.to_string(), moves };
    match store.write(op).await.with_context(|| format!("moving the key-value state of Page {page_id}'s plugins to their ids"))? {
        WriteResult::Adopted(moved) if moved > 0 => {
            tracing::info!(page = page_id, keys = moved, "key-value state moved from the names plugins declare to their ids");
        }
        _ => {}
    }
    Ok(())
}

/// The live routes, swapped whole on reload, and how each plugin is doing.
#[derive(Clone)]
pub struct PluginRegistry {
    current: Arc<RwLock<Arc<Routes>>>,
    /// False until the first routes are in.
    loaded: Arc<tokio::sync::watch::Sender<bool>>,
    health: PluginHealth,
}

impl PluginRegistry {
    /// A registry serving `routes` at once.
    pub fn new(routes: Routes, health: PluginHealth) -> Self {
        let registry = Self::loading(health);
        registry.replace(routes);
        registry
    }

    /// A registry with no routes yet: [`PluginRegistry::loaded`] waits for
    /// the first [`PluginRegistry::replace`].
    pub fn loading(health: PluginHealth) -> Self {
        let (loaded, _) = tokio::sync::watch::channel(false);
        PluginRegistry { current: Arc::new(RwLock::new(Arc::new(Routes::default()))), loaded: Arc::new(loaded), health }
    }

    /// Returns once the first routes are in (at once after that).
    pub async fn loaded(&self) {
        if *self.loaded.borrow() {
            return;
        }
        let mut loaded = self.loaded.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = loaded.wait_for(|loaded| *loaded).await;
    }

    /// Whether the first routes are in.
    pub fn is_loaded(&self) -> bool {
        *self.loaded.borrow()
    }

    /// Invocation counters, failures and circuits, per plugin file.
    pub fn health(&self) -> &PluginHealth {
        &self.health
    }

    /// The routes in force now.
    pub fn snapshot(&self) -> Arc<Routes> {
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Swaps in new routes; events already running keep the old ones.
    pub fn replace(&self, routes: Routes) {
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(routes);
        self.loaded.send_replace(true);
    }
}
