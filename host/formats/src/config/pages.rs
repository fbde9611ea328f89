//! `[[apps]]` and `[[pages]]`: the Facebook apps whose webhooks the host
//! answers, the Pages it serves, and each Page's plugin chain.
//!
//! A chain entry is a [`PluginEntry`]: the plugin's file and the id the
//! operator gives it. The id, not the name a plugin declares about itself,
//! keys what belongs to the plugin (its key-value namespace, its
//! `plugin_limits`, its health record), so no plugin can pass for another
//! by declaring its name.
//!
//! ```toml
//! plugins = ["echo.wasm", { id = "shop", path = "bots/back_in_stock.wasm" }]
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{weak_token, LimitOverrides, MessengerProfileConfig, Secret};

/// A Facebook app: the webhook's signing secret and verify token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub id: String,
    pub secret: Secret,
    pub verify_token: Secret,
}

/// A Facebook Page served by this host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageConfig {
    pub id: String,
    /// The id of the app (in `[[apps]]`) whose webhook delivers this Page.
    pub app: String,
    pub access_token: Secret,
    /// The plugins, in the order they see each event.
    #[serde(default)]
    pub plugins: Vec<PluginEntry>,
    /// Graph calls per second for this Page (default `graph.send_rate_per_sec`).
    #[serde(default)]
    pub send_rate_per_sec: Option<f64>,
    /// Answer every `request_thread_control` by passing the thread to the
    /// app that asked.
    #[serde(default)]
    pub auto_pass_thread_requests: bool,
    /// Get Started, greeting, persistent menu and whitelisted domains,
    /// applied through the Messenger Profile API at start when changed.
    #[serde(default)]
    pub messenger_profile: Option<MessengerProfileConfig>,
    /// This Page's own bearer token for business events: with one, only it
    /// (not `[api] token`) may post events to this Page.
    #[serde(default)]
    pub api_token: Option<Secret>,
    /// Limits for this Page's plugins, over `[limits]` and `[plugin_limits]`.
    #[serde(default)]
    pub limits: LimitOverrides,
    /// Limits for one plugin (by its id) on this Page.
    #[serde(default)]
    pub plugin_limits: BTreeMap<String, LimitOverrides>,
}

/// One plugin of a Page's chain. Written as a path (the id is the file's
/// stem: `back_in_stock.wasm` is `back_in_stock`) or as
/// `{ id = "shop", path = "back_in_stock.wasm" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEntry {
    pub id: String,
    pub path: PathBuf,
}

/// The longest plugin id.
const ID_MAX: usize = 64;

impl PluginEntry {
    fn new(id: Option<String>, path: PathBuf) -> PluginEntry {
        let id = id.unwrap_or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
        PluginEntry { id, path }
    }

    fn id_problem(&self) -> Option<String> {
        let id = &self.id;
        let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if id.is_empty() || id.len() > ID_MAX || !id.chars().all(fits) {
            Some(format!(
                "plugin id {id:?} (of {}) must be 1 to {ID_MAX} letters, digits, '-', '_' or '.'; give one with {{ id = \"...\", path = \"...\" }}",
                self.path.display()
            ))
        } else {
            None
        }
    }
}

impl<'de> Deserialize<'de> for PluginEntry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            id: Option<String>,
            path: PathBuf,
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = PluginEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a plugin file's path, or { id = \"...\", path = \"...\" }")
            }
            fn visit_str<E: serde::de::Error>(self, path: &str) -> Result<PluginEntry, E> {
                Ok(PluginEntry::new(None, PathBuf::from(path)))
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<PluginEntry, M::Error> {
                let table = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(PluginEntry::new(table.id, table.path))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl PageConfig {
    /// Checks this Page (the `i`th) and resolves its plugin paths against
    /// `base_dir`.
    pub(super) fn validate(&mut self, i: usize, app_ids: &HashSet<&str>, base_dir: &Path, problems: &mut Vec<String>) {
        let mut problem = |text: String| problems.push(format!("pages[{i}] ({}): {text}", self.id));
        if !app_ids.contains(self.app.as_str()) {
            problem(format!("app = {:?} is not one of the [[apps]] ids", self.app));
        }
        if self.access_token.expose().is_empty() {
            problem("access_token is empty".into());
        }
        if let Some(weak) = weak_token("api_token", self.api_token.as_ref()) {
            problem(weak);
        }
        if self.send_rate_per_sec.is_some_and(|r| !(r > 0.0 && r <= 300.0)) {
            problem("send_rate_per_sec must be above 0 and at most 300 (the Send API's limit per Page)".into());
        }
        if let Some(profile) = &self.messenger_profile {
            for p in profile.problems() {
                problems.push(format!("pages[{i}] ({}).messenger_profile: {p}", self.id));
            }
        }
        let mut problem = |text: String| problems.push(format!("pages[{i}] ({}): {text}", self.id));
        let mut ids = HashSet::new();
        for plugin in self.plugins.iter_mut() {
            if let Some(p) = plugin.id_problem() {
                problem(p);
            }
            if !ids.insert(plugin.id.clone()) {
                problem(format!(
                    "two plugins have the id {:?} (the second is {}); an id is the file's stem unless given: write {{ id = \"...\", path = \"...\" }}",
                    plugin.id,
                    plugin.path.display()
                ));
            }
            if plugin.path.is_relative() {
                plugin.path = base_dir.join(&plugin.path);
            }
            plugin.path = super::watchable_path(&plugin.path);
            if !plugin.path.is_file() {
                problem(format!(
                    "plugin {} does not exist; build it first (`cargo build-plugins`) or fix the path (relative paths are relative to the config file)",
                    plugin.path.display()
                ));
            }
        }
        for name in self.plugin_limits.keys().filter(|name| !ids.contains(*name)) {
            problem(format!("plugin_limits.{name} names no plugin of this Page; {}", known_ids(ids.iter())));
        }
    }
}

/// The hint for a `plugin_limits` key that names no plugin.
pub(super) fn known_ids<'a>(ids: impl Iterator<Item = &'a String>) -> String {
    let mut ids: Vec<&str> = ids.map(String::as_str).collect();
    ids.sort_unstable();
    ids.dedup();
    format!(
        "plugin_limits are keyed by plugin id (the file's stem, or the `id` of {{ id, path }}), and the ids are: {}",
        if ids.is_empty() { "none".to_string() } else { ids.join(", ") }
    )
}
