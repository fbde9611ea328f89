//! What plugins may use: the per-invocation [`PluginLimits`], their
//! overrides per plugin and per Page, and the per-plugin circuit.
//!
//! ```toml
//! [limits]                      # every plugin on every Page
//! cpu_ms = 200
//! [plugin_limits.translator]    # the plugin with id "translator", everywhere
//! cpu_ms = 1000
//! [[pages]]
//! limits = { host_calls = 200 } # every plugin of this Page
//! plugin_limits.translator = { memory_mib = 128 }   # that plugin on this Page
//! ```
//!
//! Later, more specific tables win, field by field: `[limits]`, then
//! `[plugin_limits.ID]`, then the Page's `limits`, then the Page's
//! `plugin_limits.ID`. An id is the one the Page's `plugins` give (see
//! `pages`), never the name a plugin declares.

use std::time::Duration;

use serde::Deserialize;

/// When a failing plugin stops being called (see `plugin_health`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginCircuitConfig {
    /// Consecutive failures (retries included) that open the circuit.
    pub failures: u32,
    /// How long it stays open before one probe call.
    pub open_secs: u64,
    pub mode: CircuitMode,
}

/// What happens to a plugin's events while its circuit is open.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CircuitMode {
    /// The event fails (retried, then dead-lettered): nothing is lost.
    FailClosed,
    /// The plugin is skipped; the rest of the chain runs.
    FailOpen,
}

impl Default for PluginCircuitConfig {
    fn default() -> Self {
        PluginCircuitConfig { failures: 20, open_secs: 30, mode: CircuitMode::FailClosed }
    }
}

/// What one plugin invocation (one event, one plugin) may use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginLimits {
    /// CPU time spent in the guest itself, host calls excluded.
    pub cpu_ms: u64,
    /// Wall time of the whole call, host calls included.
    pub wall_ms: u64,
    /// Time the plugin may ask to sleep (`wasi:clocks` waits), in all.
    pub sleep_ms: u64,
    /// Linear memory, per plugin instance.
    pub memory_mib: u64,
    /// Host calls (sends, handover, profile and key-value calls) per invocation.
    pub host_calls: u32,
    /// Bytes of log text per invocation; longer lines are cut.
    pub log_bytes: usize,
    /// Largest key-value value, in bytes.
    pub kv_value_bytes: usize,
    /// Bytes (keys plus values) one plugin may keep per Page.
    pub kv_namespace_bytes: usize,
    /// Hosts the plugin may send HTTP requests to (`wasi:http`): exact
    /// names, or `*.example.com` for subdomains. Empty: no outgoing HTTP.
    pub http_allowed_hosts: Vec<String>,
    /// Ports outgoing HTTP may use (80 only where listed).
    pub http_allowed_ports: Vec<u16>,
    /// Address ranges (`10.0.0.0/8`, `::1/128`) outgoing HTTP may reach
    /// besides public addresses; loopback, private, link-local, unique-local,
    /// multicast and unspecified addresses are refused unless listed here.
    pub http_allowed_networks: Vec<String>,
    /// Connect, first-byte and between-bytes timeout, and the whole request.
    pub http_timeout_ms: u64,
    /// Response bodies are cut off (an error for the plugin) past this.
    pub http_response_bytes: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            cpu_ms: 200,
            wall_ms: 30_000,
            sleep_ms: 1_000,
            memory_mib: 64,
            host_calls: 64,
            log_bytes: 16 * 1024,
            kv_value_bytes: 64 * 1024,
            kv_namespace_bytes: 1024 * 1024,
            http_allowed_hosts: Vec::new(),
            http_allowed_ports: vec![443],
            http_allowed_networks: Vec::new(),
            http_timeout_ms: 10_000,
            http_response_bytes: 1024 * 1024,
        }
    }
}

/// Some fields of [`PluginLimits`]; the rest keep what they override.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    pub cpu_ms: Option<u64>,
    pub wall_ms: Option<u64>,
    pub sleep_ms: Option<u64>,
    pub memory_mib: Option<u64>,
    pub host_calls: Option<u32>,
    pub log_bytes: Option<usize>,
    pub kv_value_bytes: Option<usize>,
    pub kv_namespace_bytes: Option<usize>,
    pub http_allowed_hosts: Option<Vec<String>>,
    pub http_allowed_ports: Option<Vec<u16>>,
    pub http_allowed_networks: Option<Vec<String>>,
    pub http_timeout_ms: Option<u64>,
    pub http_response_bytes: Option<usize>,
}

impl PluginLimits {
    /// These limits with `overrides` applied.
    pub fn with(&self, overrides: &LimitOverrides) -> PluginLimits {
        let o = overrides;
        PluginLimits {
            cpu_ms: o.cpu_ms.unwrap_or(self.cpu_ms),
            wall_ms: o.wall_ms.unwrap_or(self.wall_ms),
            sleep_ms: o.sleep_ms.unwrap_or(self.sleep_ms),
            memory_mib: o.memory_mib.unwrap_or(self.memory_mib),
            host_calls: o.host_calls.unwrap_or(self.host_calls),
            log_bytes: o.log_bytes.unwrap_or(self.log_bytes),
            kv_value_bytes: o.kv_value_bytes.unwrap_or(self.kv_value_bytes),
            kv_namespace_bytes: o.kv_namespace_bytes.unwrap_or(self.kv_namespace_bytes),
            http_allowed_hosts: o.http_allowed_hosts.clone().unwrap_or_else(|| self.http_allowed_hosts.clone()),
            http_allowed_ports: o.http_allowed_ports.clone().unwrap_or_else(|| self.http_allowed_ports.clone()),
            http_allowed_networks: o.http_allowed_networks.clone().unwrap_or_else(|| self.http_allowed_networks.clone()),
            http_timeout_ms: o.http_timeout_ms.unwrap_or(self.http_timeout_ms),
            http_response_bytes: o.http_response_bytes.unwrap_or(self.http_response_bytes),
        }
    }

    pub fn cpu(&self) -> Duration {
        Duration::from_millis(self.cpu_ms)
    }
    pub fn wall(&self) -> Duration {
        Duration::from_millis(self.wall_ms)
    }
    pub fn sleep(&self) -> Duration {
        Duration::from_millis(self.sleep_ms)
    }
    pub fn memory_bytes(&self) -> usize {
        (self.memory_mib as usize) * 1024 * 1024
    }
}

/// An address range, `10.0.0.0/8` or `fd00::/8` (a bare address is the
/// range of that one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Network {
    type Err = String;
    fn from_str(text: &str) -> Result<Network, String> {
        let bad = || format!("{text:?} is not an address range like \"10.0.0.0/8\" or \"::1/128\"");
        let (addr, prefix) = text.split_once('/').map_or((text, None), |(a, p)| (a, Some(p)));
        let addr: std::net::IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Network { addr, prefix })
    }
}

impl Network {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        let (a, b, bits) = match (self.addr, ip) {
            (V4(a), V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
            (V6(a), V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (a >> shift) == (b >> shift)
    }
}

impl PluginLimits {
    /// `http_allowed_networks`, parsed (the config was checked, so a
    /// range that does not parse is skipped).
    pub fn http_networks(&self) -> Vec<Network> {
        self.http_allowed_networks.iter().filter_map(|n| n.parse().ok()).collect()
    }
}

impl LimitOverrides {
    /// The mistakes in this table (`what` names it).
    pub fn problems(&self, what: &str) -> Vec<String> {
        network_problems(what, self.http_allowed_networks.iter().flatten())
    }
}

/// The ranges of `what`'s `http_allowed_networks` that do not parse.
pub(super) fn network_problems<'a>(what: &str, networks: impl Iterator<Item = &'a String>) -> Vec<String> {
    networks.filter_map(|n| n.parse::<Network>().err()).map(|e| format!("{what}.http_allowed_networks: {e}")).collect()
}

impl super::Config {
    /// The limits of the plugin with id `plugin` on `page`.
    pub fn limits_for(&self, page: &super::PageConfig, plugin: &str) -> PluginLimits {
        let none = LimitOverrides::default();
        self.limits
            .with(self.plugin_limits.get(plugin).unwrap_or(&none))
            .with(&page.limits)
            .with(page.plugin_limits.get(plugin).unwrap_or(&none))
    }

    /// The most linear memory any plugin may get: the size of the
    /// engine's instance pool slots.
    pub fn largest_memory_mib(&self) -> u64 {
        let pages = self.pages.iter().flat_map(|p| std::iter::once(&p.limits).chain(p.plugin_limits.values()));
        self.plugin_limits.values().chain(pages).filter_map(|o| o.memory_mib).fold(self.limits.memory_mib, u64::max)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_most_specific_override_wins_field_by_field() {
        let toml = r#"
            [[apps]]
            id = "1"
            secret = "s"
            verify_token = "v"
            [limits]
            cpu_ms = 100
            host_calls = 10
            [plugin_limits.bot]
            cpu_ms = 300
            memory_mib = 96
            [[pages]]
            id = "7"
            app = "1"
            access_token = "t"
            plugins = ["bot.wasm", "other.wasm"]
            limits = { host_calls = 20 }
            plugin_limits.bot = { host_calls = 30 }
            [[pages]]
            id = "8"
            app = "1"
            access_token = "t"
            plugins = ["bot.wasm"]
        "#;
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["bot.wasm", "other.wasm"] {
            std::fs::write(dir.path().join(name), b"\0asm").expect("writes");
        }
        let config = crate::Config::parse(toml, dir.path(), &|_| None).expect("valid");
        let (seven, eight) = (&config.pages[0], &config.pages[1]);
        let limits = |page, name| {
            let l = config.limits_for(page, name);
            (l.cpu_ms, l.host_calls, l.memory_mib)
        };
        assert_eq!(limits(seven, "bot"), (300, 30, 96));
        assert_eq!(limits(seven, "other"), (100, 20, 64));
        assert_eq!(limits(eight, "bot"), (300, 10, 96));
        assert_eq!(limits(eight, "other"), (100, 10, 64));
        assert_eq!(config.largest_memory_mib(), 96);
    }
}
