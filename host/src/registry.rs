//! Which plugins serve which Page.
//!
//! [`PluginRegistry`] holds an immutable [`Routes`] snapshot behind an
//! `RwLock<Arc<_>>`: each event takes the current snapshot once and keeps it
//! until it is handled, so a snapshot swapped in later (reload) never changes
//! an event mid-chain. A plugin file used by several Pages is compiled once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;

use crate::capabilities::{PageAccess, UserProfiles};
use crate::config::{Config, PageConfig, PluginLimits};
use crate::conversation::Conversations;
use crate::graph::GraphClient;
use crate::page_gate::{GatePolicy, PageGate};
use crate::runtime::{CompiledPlugin, PluginRuntime};
use crate::plugin_health::PluginHealth;
use crate::store::Store;

/// A Page and its plugin chain, in configured order.
pub struct PageRoute {
    pub access: Arc<PageAccess>,
    pub plugins: Vec<Arc<CompiledPlugin>>,
    /// Pass the thread to any app that requests it.
    pub auto_pass_thread_requests: bool,
    pub limits: PageLimits,
}

/// The limits of a Page's plugins, by plugin name (a reloaded plugin is
/// looked up by the name it declares).
#[derive(Clone)]
pub struct PageLimits {
    /// For plugins without an override of their own.
    pub default: Arc<PluginLimits>,
    pub by_plugin: HashMap<String, Arc<PluginLimits>>,
}

impl PageLimits {
    fn new(config: &Config, page: &PageConfig) -> PageLimits {
        let names = config.plugin_limits.keys().chain(page.plugin_limits.keys());
        PageLimits {
            default: Arc::new(config.limits.with(&page.limits)),
            by_plugin: names.map(|name| (name.clone(), Arc::new(config.limits_for(page, name)))).collect(),
        }
    }

    pub fn for_plugin(&self, name: &str) -> &PluginLimits {
        self.by_plugin.get(name).unwrap_or(&self.default)
    }
}

/// What every Page's access shares: one Graph client (one connection
/// pool), the conversation state and the profile cache.
#[derive(Clone)]
pub struct SharedServices {
    pub graph: GraphClient,
    pub conversations: Conversations,
    pub profiles: UserProfiles,
    pub store: Store,
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
            for path in &page.plugins {
                let Some(live) = previous.plugin_at(path) else { continue };
                if std::fs::read(path).is_ok_and(|bytes| crate::runtime::file_hash(&bytes) == live.hash) {
                    compiled.insert(path.clone(), live);
                }
            }
        }
        let mut pages = HashMap::new();
        for page in &config.pages {
            let mut plugins = Vec::with_capacity(page.plugins.len());
            for path in &page.plugins {
                let plugin = match compiled.get(path) {
                    Some(p) => p.clone(),
                    None => {
                        let p = Arc::new(
                            runtime.load(path).await.with_context(|| format!("loading a plugin of Page {}", page.id))?,
                        );
                        tracing::info!(page = %page.id, plugin = %p.info.name, version = %p.info.version, compilation = ?p.compilation,
                            kinds = ?p.info.event_kinds, path = %path.display(), "plugin loaded");
                        compiled.insert(path.clone(), p.clone());
                        p
                    }
                };
                plugins.push(plugin);
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
                None => Arc::new(PageGate::new(&page.id, policy)),
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
            let auto_pass_thread_requests = page.auto_pass_thread_requests;
            let limits = PageLimits::new(config, page);
            pages.insert(page.id.clone(), PageRoute { access, plugins, auto_pass_thread_requests, limits });
        }
        Ok(Routes { pages })
    }
}

impl Routes {
    /// The file hashes of every plugin in use.
    pub fn plugin_hashes(&self) -> Vec<String> {
        self.pages.values().flat_map(|p| p.plugins.iter().map(|c| c.hash.clone())).collect()
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
                    .map(|p| if p.path == new.path { new.clone() } else { p.clone() })
                    .collect();
                let (auto_pass_thread_requests, limits) = (route.auto_pass_thread_requests, route.limits.clone());
                (id.clone(), PageRoute { access: route.access.clone(), plugins, auto_pass_thread_requests, limits })
            })
            .collect();
        Routes { pages }
    }

    /// The live plugin loaded from `path`, if any Page uses it.
    pub fn plugin_at(&self, path: &std::path::Path) -> Option<Arc<CompiledPlugin>> {
        self.pages.values().flat_map(|r| r.plugins.iter()).find(|p| p.path == path).cloned()
    }
}

/// The live routes, swapped whole on reload, and how each plugin is doing.
#[derive(Clone)]
pub struct PluginRegistry {
    current: Arc<RwLock<Arc<Routes>>>,
    health: PluginHealth,
}

impl PluginRegistry {
    pub fn new(routes: Routes, health: PluginHealth) -> Self {
        PluginRegistry { current: Arc::new(RwLock::new(Arc::new(routes))), health }
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
    }

    pub fn knows_page(&self, page_id: &str) -> bool {
        self.snapshot().pages.contains_key(page_id)
    }
}
