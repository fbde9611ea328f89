//! The operator's commands that work beside a host: what `switchboard
//! people` prints and does, and the client they (and `switchboard plugins`)
//! ask a running host's admin API with.

pub mod people;

use std::path::Path;

use anyhow::Context as _;
use serde_json::Value;

use crate::config::{Config, Secret};

/// A running host's admin API, found from its config file (`listen`,
/// `[api] token`).
pub struct HostApi {
    base: String,
    token: Secret,
    config_path: String,
    http: reqwest::Client,
}

impl HostApi {
    /// `command` names what needs the host, for the error without a token.
    pub fn from_config(config: &Config, path: &Path, command: &str) -> anyhow::Result<HostApi> {
        let token = config.api.token.clone().ok_or_else(|| {
            anyhow::anyhow!("`switchboard {command}` asks the running host, which needs `[api] token` in {}", path.display())
        })?;
        // A host listening on all interfaces is reachable on loopback.
        let addr = config.listen.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
        Ok(HostApi { base: format!("http://{addr}"), token, config_path: path.display().to_string(), http: reqwest::Client::new() })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::GET, path).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::DELETE, path).await
    }

    /// The status and JSON answer of `method path`; an error only when no
    /// host answers with JSON.
    async fn call(&self, method: reqwest::Method, path: &str) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .request(method, &url)
            .bearer_auth(self.token.expose())
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .with_context(|| format!("no host answers at {url}: start it with `switchboard run --config {}`", self.config_path))?;
        let status = response.status();
        let body: Value = response.json().await.with_context(|| format!("{url} answered {status} without JSON"))?;
        Ok((status.as_u16(), body))
    }

    /// The answer of `GET path`, which must succeed.
    pub async fn get_ok(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.get(path).await?;
        anyhow::ensure!((200..300).contains(&status), "{}{path} answered {status}: {}", self.base, body["error"].as_str().unwrap_or("?"));
        Ok(body)
    }
}
