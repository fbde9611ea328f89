//! The operator's configuration file: parsing, `${VAR}` expansion, defaults
//! and validation.
//!
//! `Config::load` reads the TOML, expands environment references in secrets,
//! resolves plugin paths relative to the config file and checks every rule,
//! collecting *all* mistakes so `switchboard check` can explain them at once.
//! Secrets are wrapped in [`Secret`], whose `Debug` never prints the value.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod limits;
pub mod messenger_profile;
mod pages;
mod sections;

pub use limits::{CircuitMode, LimitOverrides, Network, PluginCircuitConfig, PluginLimits};
pub use messenger_profile::{MenuItem, MessengerProfileConfig};
pub use pages::{AppConfig, PageConfig, PluginEntry};
pub use sections::{
    AlertsConfig, ApiConfig, DispatchConfig, GraphConfig, LogConfig, LogFormat, MessagingConfig, MetricsConfig, ServerConfig, StoreConfig,
    WebhookConfig,
};

/// A value that must never reach a log line.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Why `token`, the value of `key`, is too easy to guess for a bearer
/// token, if it is.
fn weak_token(key: &str, token: Option<&Secret>) -> Option<String> {
    token
        .filter(|t| t.expose().len() < 16)
        .map(|_| format!("{key} must be at least 16 characters; generate one with `openssl rand -hex 32`"))
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The whole configuration, validated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the webhook server listens on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Graph API base URL, version included; tests point it at the fake.
    #[serde(default = "default_graph_api_url")]
    pub graph_api_url: String,
    #[serde(default)]
    pub apps: Vec<AppConfig>,
    #[serde(default)]
    pub pages: Vec<PageConfig>,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub webhook: WebhookConfig,
    #[serde(default)]
    pub dispatch: DispatchConfig,
    #[serde(default)]
    pub graph: GraphConfig,
    #[serde(default)]
    pub limits: PluginLimits,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub messaging: MessagingConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub plugin_circuit: PluginCircuitConfig,
    /// Limits for one plugin (by its id) on every Page.
    #[serde(default)]
    pub plugin_limits: std::collections::BTreeMap<String, LimitOverrides>,
    /// Directory of the config file; plugin paths are relative to it.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file this was loaded from; the host watches it and reloads.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

fn default_graph_api_url() -> String {
    "https://graph.facebook.com/v23.0".into()
}

/// Every mistake found in a configuration file, one per line.
#[derive(Debug)]
pub struct ConfigErrors {
    pub path: PathBuf,
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} has {} problem(s):", self.path.display(), self.problems.len())?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Reads, expands and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let fail = |problem: String| ConfigErrors { path: path.to_path_buf(), problems: vec![problem] };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read the file: {e}")))?;
        // Absolute, with the directories' symlinks resolved: the file
        // watcher reports paths that way, and hot reload compares them.
        let path = watchable_path(path);
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut config = Config::parse(&text, &base_dir, &|name| std::env::var(name).ok())
            .map_err(|problems| ConfigErrors { path: path.clone(), problems })?;
        config.source = Some(path);
        Ok(config)
    }

    /// The settings that differ between `self` and `new` and take effect
    /// only at the next start; a config reload applies the rest.
    pub fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut check = |name, differs: bool| {
            if differs {
                changed.push(name);
            }
        };
        check("listen", self.listen != new.listen);
        check("[server]", self.server != new.server);
        check("graph_api_url", self.graph_api_url != new.graph_api_url);
        check("[webhook]", self.webhook != new.webhook);
        check("[dispatch]", self.dispatch != new.dispatch);
        check("[store]", self.store != new.store);
        check("[graph] request_timeout_secs, max_send_requests, profile_cache_secs, profile_fields", {
            let (a, b) = (&self.graph, &new.graph);
            (a.request_timeout_secs, a.max_send_requests, a.profile_cache_secs, &a.profile_fields)
                != (b.request_timeout_secs, b.max_send_requests, b.profile_cache_secs, &b.profile_fields)
        });
        check("[messaging]", self.messaging != new.messaging);
        check("[api] max_body_bytes", self.api.max_body_bytes != new.api.max_body_bytes);
        check("[plugin_circuit]", self.plugin_circuit != new.plugin_circuit);
        check("[alerts]", self.alerts != new.alerts);
        changed
    }

    /// Parses `text`; `env` resolves `${VAR}` references (injected for tests).
    pub fn parse(text: &str, base_dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Vec<String>> {
        let mut config = deserialize(text)?;
        config.base_dir = base_dir.to_path_buf();
        let mut problems = Vec::new();
        config.expand_env(env, &mut problems);
        config.validate(&mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    fn expand_env(&mut self, env: &dyn Fn(&str) -> Option<String>, problems: &mut Vec<String>) {
        let mut expand = |what: String, value: &mut String, secret: bool| match expand_vars(value, env, secret) {
            Ok(v) => *value = v,
            Err(e) => problems.push(format!("{what}: {e}")),
        };
        expand("graph_api_url".into(), &mut self.graph_api_url, false);
        expand("listen".into(), &mut self.listen, false);
        for (i, app) in self.apps.iter_mut().enumerate() {
            expand(format!("apps[{i}].id"), &mut app.id, false);
            expand(format!("apps[{i}].secret"), &mut app.secret.0, true);
            expand(format!("apps[{i}].verify_token"), &mut app.verify_token.0, true);
        }
        for (i, page) in self.pages.iter_mut().enumerate() {
            expand(format!("pages[{i}].id"), &mut page.id, false);
            expand(format!("pages[{i}].app"), &mut page.app, false);
            expand(format!("pages[{i}].access_token"), &mut page.access_token.0, true);
            if let Some(token) = &mut page.api_token {
                expand(format!("pages[{i}].api_token"), &mut token.0, true);
            }
        }
        if let Some(token) = &mut self.api.token {
            expand("api.token".into(), &mut token.0, true);
        }
    }

    fn validate(&mut self, problems: &mut Vec<String>) {
        if self.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!("listen = {:?} is not an address like \"127.0.0.1:8080\"", self.listen));
        }
        let url = self.graph_api_url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            problems.push(format!("graph_api_url = {url:?} must start with https:// (or http:// for a local fake)"));
        }
        self.graph_api_url = url;
        if self.apps.is_empty() {
            problems.push("no [[apps]]: add at least one app with its id, secret and verify_token".into());
        }
        let mut app_ids = HashSet::new();
        for (i, app) in self.apps.iter().enumerate() {
            if app.id.trim().is_empty() {
                problems.push(format!("apps[{i}].id is empty"));
            }
            if !app_ids.insert(app.id.as_str()) {
                problems.push(format!("apps[{i}]: app id {} is listed twice", app.id));
            }
            if app.secret.expose().is_empty() {
                problems.push(format!(
                    "apps[{i}] ({}): secret is empty; the host cannot verify webhook signatures without the app secret",
                    app.id
                ));
            }
            if app.verify_token.expose().is_empty() {
                problems.push(format!("apps[{i}] ({}): verify_token is empty; set the token you typed in the App Dashboard", app.id));
            }
        }
        let mut page_ids = HashSet::new();
        for (i, page) in self.pages.iter_mut().enumerate() {
            if page.id.trim().is_empty() {
                problems.push(format!("pages[{i}].id is empty"));
            }
            if !page_ids.insert(page.id.clone()) {
                problems.push(format!("pages[{i}]: page id {} is listed twice", page.id));
            }
            page.validate(i, &app_ids, &self.base_dir, problems);
        }
        let ids: HashSet<&String> = self.pages.iter().flat_map(|p| p.plugins.iter().map(|e| &e.id)).collect();
        for name in self.plugin_limits.keys().filter(|name| !ids.contains(name)) {
            problems.push(format!("plugin_limits.{name} names no plugin of any Page; {}", pages::known_ids(ids.iter().copied())));
        }
        if self.store.path.is_relative() {
            self.store.path = self.base_dir.join(&self.store.path);
        }
        if let Some(cache) = self.store.compile_cache.as_mut().filter(|c| c.is_relative()) {
            *cache = self.base_dir.join(&*cache);
        }
        self.store.validate(problems);
        self.dispatch.validate(problems);
        self.server.validate(problems);
        self.webhook.validate(problems);
        self.graph.validate(problems);
        self.messaging.validate(problems);
        self.metrics.validate(problems);
        self.api.validate(problems);
        self.alerts.validate(problems);
        if self.graph.retry_deadline_secs * 1000 >= self.limits.wall_ms {
            problems.push(format!(
                "graph.retry_deadline_secs ({}) must be under limits.wall_ms ({} ms): a plugin waiting on a retried send would time out first",
                self.graph.retry_deadline_secs, self.limits.wall_ms
            ));
        }
        self.refuse_demo_secrets(problems);
        problems.extend(limits::network_problems("limits", self.limits.http_allowed_networks.iter()));
        for (name, overrides) in &self.plugin_limits {
            problems.extend(overrides.problems(&format!("plugin_limits.{name}")));
        }
        for (i, page) in self.pages.iter().enumerate() {
            problems.extend(page.limits.problems(&format!("pages[{i}].limits")));
            for (name, overrides) in &page.plugin_limits {
                problems.extend(overrides.problems(&format!("pages[{i}].plugin_limits.{name}")));
            }
        }
        if self.limits.cpu_ms == 0 || self.limits.wall_ms == 0 || self.limits.memory_mib == 0 {
            problems.push("limits.cpu_ms, limits.wall_ms and limits.memory_mib must be above 0".into());
        }
    }

    /// The demo config's secrets are public: fine on loopback, refused on
    /// an address other machines can reach.
    fn refuse_demo_secrets(&self, problems: &mut Vec<String>) {
        const DEMO: &[(&str, &str)] = &[
            ("demo-app-secret", "APP_SECRET"),
            ("demo-verify-token", "VERIFY_TOKEN"),
            ("demo-page-token", "PAGE_TOKEN"),
            ("demo-shop-token", "SHOP_PAGE_TOKEN"),
            ("demo-api-token-change-me", "SWITCHBOARD_API_TOKEN"),
        ];
        let Ok(addr) = self.listen.parse::<SocketAddr>() else { return };
        if addr.ip().is_loopback() {
            return;
        }
        let mut secrets: Vec<(String, &Secret)> = Vec::new();
        for (i, app) in self.apps.iter().enumerate() {
            secrets.push((format!("apps[{i}].secret"), &app.secret));
            secrets.push((format!("apps[{i}].verify_token"), &app.verify_token));
        }
        for (i, page) in self.pages.iter().enumerate() {
            secrets.push((format!("pages[{i}].access_token"), &page.access_token));
            secrets.extend(page.api_token.as_ref().map(|t| (format!("pages[{i}].api_token"), t)));
        }
        if let Some(token) = &self.api.token {
            secrets.push(("api.token".into(), token));
        }
        for (what, secret) in secrets {
            if let Some((_, var)) = DEMO.iter().find(|(demo, _)| secret.expose() == *demo) {
                problems.push(format!(
                    "{what} is the demo config's public value, and listen = {} is reachable from other machines: set your own (the demo config reads {var}), or listen on 127.0.0.1",
                    self.listen
                ));
            }
        }
    }

    pub fn listen_addr(&self) -> SocketAddr {
        // validate() refused anything else.
        self.listen.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    pub fn app(&self, id: &str) -> Option<&AppConfig> {
        self.apps.iter().find(|a| a.id == id)
    }
}

/// The file's tables as a [`Config`]; on failure, every parse-level
/// mistake that can be found: a syntax error stops the reading, but past
/// that each top-level key, and each of `[[apps]]` and `[[pages]]`, is
/// checked on its own, so an unknown key in one table and a wrong type in
/// another are both reported.
fn deserialize(text: &str) -> Result<Config, Vec<String>> {
    let table: toml::Table = toml::from_str(text).map_err(|e| vec![located(&e, text)])?;
    let whole = Config::deserialize(toml::Value::Table(table.clone()));
    let Err(first) = whole else { return whole.map_err(|_| Vec::new()) };
    let mut problems = Vec::new();
    fn check<T: serde::de::DeserializeOwned>(what: &str, value: &toml::Value, problems: &mut Vec<String>) {
        if let Err(e) = T::deserialize(value.clone()) {
            problems.push(format!("{what}: {}", e.to_string().trim()));
        }
    }
    fn each<T: serde::de::DeserializeOwned>(what: &str, value: &toml::Value, problems: &mut Vec<String>) {
        match value.as_array() {
            Some(items) => items.iter().enumerate().for_each(|(i, item)| check::<T>(&format!("{what}[{i}]"), item, problems)),
            None => problems.push(format!("{what} must be an array of tables ([[{what}]])")),
        }
    }
    for (key, value) in &table {
        match key.as_str() {
            "listen" | "graph_api_url" => check::<String>(key, value, &mut problems),
            "apps" => each::<AppConfig>(key, value, &mut problems),
            "pages" => each::<PageConfig>(key, value, &mut problems),
            "server" => check::<ServerConfig>(key, value, &mut problems),
            "webhook" => check::<WebhookConfig>(key, value, &mut problems),
            "dispatch" => check::<DispatchConfig>(key, value, &mut problems),
            "graph" => check::<GraphConfig>(key, value, &mut problems),
            "limits" => check::<PluginLimits>(key, value, &mut problems),
            "store" => check::<StoreConfig>(key, value, &mut problems),
            "messaging" => check::<MessagingConfig>(key, value, &mut problems),
            "api" => check::<ApiConfig>(key, value, &mut problems),
            "metrics" => check::<MetricsConfig>(key, value, &mut problems),
            "log" => check::<LogConfig>(key, value, &mut problems),
            "alerts" => check::<AlertsConfig>(key, value, &mut problems),
            "plugin_circuit" => check::<PluginCircuitConfig>(key, value, &mut problems),
            "plugin_limits" => check::<std::collections::BTreeMap<String, LimitOverrides>>(key, value, &mut problems),
            _ => problems.push(format!("unknown field `{key}` at the top level")),
        }
    }
    if problems.is_empty() {
        // Read from the text, the error says where.
        let found = toml::from_str::<Config>(text).err().map(|e| located(&e, text));
        problems.push(found.unwrap_or_else(|| first.to_string()).trim().to_string());
    }
    Err(problems)
}

/// A TOML error as "line L, column C: what", without the source line toml
/// quotes: that line may hold a secret.
fn located(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().trim();
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

/// `path` as the file watcher reports it: absolute, its directory
/// canonical (symlinks and `..` resolved), its file name kept as written so
/// that a symlink swapped over the file is still seen as a change of it.
/// A path whose directory does not exist is only made absolute.
pub fn watchable_path(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent().and_then(|d| std::fs::canonicalize(d).ok()), absolute.file_name()) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => absolute,
    }
}

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`. In a
/// `secret`, a variable set but empty is an error, not a reason to fall
/// back to the default (the demo config's defaults are public), and the
/// value is never quoted in an error.
fn expand_vars(input: &str, env: &dyn Fn(&str) -> Option<String>, secret: bool) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| {
                if secret {
                    "unclosed ${ in the value".to_string()
                } else {
                    format!("unclosed ${{ in {input:?}")
                }
            })?;
            let reference = &body[..end];
            let (name, default) = match reference.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (reference, None),
            };
            match (env(name), default) {
                (Some(v), _) if !v.is_empty() => out.push_str(&v),
                (Some(_), Some(_)) if secret => {
                    return Err(format!(
                        "environment variable {name} is set but empty; a secret does not fall back to its default: set it"
                    ));
                }
                (_, Some(d)) => out.push_str(d),
                _ => return Err(format!("environment variable {name} is not set; export it, or write ${{{name}:-default}}")),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SECRET" => Some("s3cret".into()),
            "TOKEN" => Some("vt".into()),
            _ => None,
        }
    }

    const GOOD: &str = r#"
        [[apps]]
        id = "1234"
        secret = "${SECRET}"
        verify_token = "${TOKEN}"
        [[pages]]
        id = "1001"
        app = "1234"
        access_token = "${PAGE_TOKEN:-fallback}"
    "#;

    #[test]
    fn expands_variables_and_defaults() {
        let c = Config::parse(GOOD, Path::new("/etc"), &env).expect("valid");
        assert_eq!(c.apps[0].secret.expose(), "s3cret");
        assert_eq!(c.pages[0].access_token.expose(), "fallback");
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(format!("{:?}", c.apps[0].secret), "Secret(***)");
    }

    #[test]
    fn refuses_missing_secret_and_explains_every_problem() {
        let text = GOOD.replace("${SECRET}", "${MISSING}").replace("app = \"1234\"", "app = \"999\"");
        let problems = Config::parse(&text, Path::new("/etc"), &env).expect_err("invalid");
        assert!(problems.iter().any(|p| p.contains("MISSING is not set")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("not one of the [[apps]] ids")), "{problems:?}");
    }

    #[test]
    fn rejects_unknown_keys_and_missing_plugins() {
        let problems = Config::parse(&format!("{GOOD}\nlisen = \"x\""), Path::new("/"), &env).expect_err("typo");
        assert!(problems[0].contains("unknown field `lisen`"), "{problems:?}");
        let text = format!("{GOOD}\nplugins = [\"nope.wasm\"]");
        let problems = Config::parse(&text, Path::new("/nonexistent"), &env).expect_err("missing plugin");
        assert!(problems[0].contains("/nonexistent/nope.wasm does not exist"), "{problems:?}");
    }

    #[test]
    fn plugins_have_ids_of_their_own_and_unique_per_page() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["shop.wasm", "back_in_stock.wasm"] {
            std::fs::write(dir.path().join(name), b"\0asm").expect("writes");
        }
        let with = |plugins: &str, more: &str| format!("{GOOD}\nplugins = {plugins}\n{more}");
        let c =
            Config::parse(&with(r#"["shop.wasm", { id = "stock", path = "back_in_stock.wasm" }]"#, ""), dir.path(), &env).expect("valid");
        let ids: Vec<&str> = c.pages[0].plugins.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["shop", "stock"]);
        assert!(c.pages[0].plugins[1].path.ends_with("back_in_stock.wasm"));

        let twice = with(r#"["shop.wasm", { id = "shop", path = "back_in_stock.wasm" }]"#, "");
        let problems = Config::parse(&twice, dir.path(), &env).expect_err("one id twice");
        assert!(problems.iter().any(|p| p.contains(r#"two plugins have the id "shop""#)), "{problems:?}");
        let bad = with(r#"[{ id = "a b", path = "shop.wasm" }]"#, "");
        let problems = Config::parse(&bad, dir.path(), &env).expect_err("bad id");
        assert!(problems.iter().any(|p| p.contains(r#"plugin id "a b""#)), "{problems:?}");
        let unknown = with(r#"["shop.wasm"]"#, "plugin_limits.back-in-stock = { cpu_ms = 5 }");
        let problems = Config::parse(&unknown, dir.path(), &env).expect_err("limits of no plugin");
        assert!(
            problems.iter().any(|p| p.contains("plugin_limits.back-in-stock names no plugin") && p.contains("ids are: shop")),
            "{problems:?}"
        );
        let typo = with(r#"[{ id = "x", pth = "shop.wasm" }]"#, "");
        let problems = Config::parse(&typo, dir.path(), &env).expect_err("unknown key");
        assert!(problems.iter().any(|p| p.contains("unknown field `pth`")), "{problems:?}");
    }

    #[test]
    fn every_parse_level_mistake_is_reported_at_once() {
        let text = format!("lisen = \"x\"\n[dispatch]\nmax_attempts = \"five\"\n{GOOD}\n[[pages]]\nid = \"2\"\naccess_token = \"t\"\n");
        let problems = Config::parse(&text, Path::new("/"), &env).expect_err("three mistakes");
        assert!(problems.iter().any(|p| p.contains("unknown field `lisen`")), "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("dispatch:") && p.contains("max_attempts")), "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("pages[1]:") && p.contains("missing field `app`")), "{problems:?}");
    }

    #[test]
    fn errors_never_quote_a_secret_and_demo_secrets_stay_on_loopback() {
        let typo = GOOD.replace("secret = \"${SECRET}\"", "secret = \"hunter2-the-real-secret\" oops");
        let problems = Config::parse(&typo, Path::new("/"), &env).expect_err("a syntax error");
        assert!(problems.iter().all(|p| !p.contains("hunter2")), "{problems:?}");
        assert!(problems[0].starts_with("line 4, column"), "{problems:?}");

        let demo = GOOD.replace("${SECRET}", "demo-app-secret");
        assert!(Config::parse(&demo, Path::new("/"), &env).is_ok(), "the demo on 127.0.0.1 is fine");
        let exposed = format!("listen = \"0.0.0.0:8080\"\n{demo}");
        let problems = Config::parse(&exposed, Path::new("/"), &env).expect_err("public demo secret");
        assert!(
            problems.iter().any(|p| p.contains("apps[0].secret is the demo config's public value") && p.contains("APP_SECRET")),
            "{problems:?}"
        );
    }

    #[test]
    fn worker_nice_is_a_nice_step_count() {
        // [dispatch] goes before the first [[apps]] table.
        let with = |nice: &str| format!("[dispatch]\nworker_nice = {nice}\n{GOOD}");
        assert_eq!(Config::parse(&with("19"), Path::new("/"), &env).expect("valid").dispatch.worker_nice, 19);
        for bad in ["20", "-1"] {
            let problems = Config::parse(&with(bad), Path::new("/"), &env).expect_err("out of range");
            assert!(problems.iter().any(|p| p.contains("dispatch.worker_nice must be 0 to 19")), "{bad}: {problems:?}");
        }
    }

    #[test]
    fn expand_handles_literals() {
        assert_eq!(expand_vars("a$$b$c", &env, false).as_deref(), Ok("a$b$c"));
        assert!(expand_vars("${SECRET", &env, false).is_err());
        let set_but_empty = |name: &str| (name == "EMPTY").then(String::new);
        assert_eq!(expand_vars("${EMPTY:-demo}", &set_but_empty, false).as_deref(), Ok("demo"));
        let refused = expand_vars("${EMPTY:-demo}", &set_but_empty, true).expect_err("a secret does not fall back");
        assert!(refused.contains("EMPTY is set but empty"), "{refused}");
        let unclosed = expand_vars("hunter2${X", &set_but_empty, true).expect_err("unclosed");
        assert!(!unclosed.contains("hunter2"), "{unclosed}");
    }
}
