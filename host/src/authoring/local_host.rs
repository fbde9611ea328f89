//! A host serving one plugin on one local Page, in this process, against
//! an in-process fake Graph API: what `switchboard dev` chats with and
//! `switchboard test` runs conversations on. Nothing is short-circuited:
//! each event is signed and posted to the host's webhook, stored,
//! dispatched to the plugin in its sandbox, and what the plugin sends
//! reaches the fake Graph API over HTTP, which answers as Meta does.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{json, Value};
use switchboard_fake_graph::FakeGraph;

use super::replies::Action;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::engine::dispatch::Dispatcher;
use crate::engine::registry::PluginRegistry;
use crate::store::Store;

/// What the plugin did about some inputs.
pub struct Outcome {
    pub actions: Vec<Action>,
    /// The errors of the events that ended as dead letters, in order.
    pub failures: Vec<String>,
}

/// The local Page, its app and the person who writes to it, unless a test
/// names another PSID.
pub const PAGE_ID: &str = "1000000000001";
pub const APP_ID: &str = "1000000000002";
pub const USER: &str = "42";
const APP_SECRET: &str = "local-app-secret";
const PAGE_TOKEN: &str = "local-page-token";
const API_TOKEN: &str = "local-api-token-for-authoring";
/// The id the plugin has in the local config: its KV namespace.
pub const PLUGIN_ID: &str = "bot";

/// How long an event may take, plugin and sends included, before the
/// local host says so.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

pub struct LocalHost {
    fake: FakeGraph,
    url: String,
    http: reqwest::Client,
    dispatcher: Dispatcher,
    registry: PluginRegistry,
    store: Store,
    /// The plugin file the config names; a new build is copied over it.
    live: PathBuf,
    /// Graph calls and dead letters already reported by [`LocalHost::outcome`].
    seen_calls: usize,
    seen_dead_letters: usize,
    /// Makes every event's mid and timestamp unique and increasing.
    sequence: AtomicU64,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl LocalHost {
    /// Starts a host in `data` (its store, config and the live plugin
    /// file: whatever a previous run left there is removed) serving
    /// `wasm`, with compiled plugins kept in `compile_cache`.
    pub async fn start(wasm: &Path, data: &Path, compile_cache: &Path) -> anyhow::Result<LocalHost> {
        if data.exists() {
            std::fs::remove_dir_all(data).with_context(|| format!("clearing {}", data.display()))?;
        }
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        let live = data.join("plugin.wasm");
        std::fs::copy(wasm, &live).with_context(|| format!("copying {} to {}", wasm.display(), live.display()))?;
        let fake = FakeGraph::start().await?;
        fake.register_page(PAGE_ID, PAGE_TOKEN, APP_ID);
        let toml = format!(
            r#"listen = "127.0.0.1:0"
graph_api_url = "{graph}"

[store]
path = "store"
commit_delay_us = 0
compile_cache = {cache:?}

[api]
token = "{API_TOKEN}"

[dispatch]
max_attempts = 2
retry_backoff_ms = 100

[[apps]]
id = "{APP_ID}"
secret = "{APP_SECRET}"
verify_token = "local"

[[pages]]
id = "{PAGE_ID}"
app = "{APP_ID}"
access_token = "{PAGE_TOKEN}"
plugins = [{{ id = "{PLUGIN_ID}", path = "plugin.wasm" }}]
"#,
            graph = fake.base_url(),
            cache = std::path::absolute(compile_cache)?.display().to_string(),
        );
        let config_path = data.join("switchboard.toml");
        std::fs::write(&config_path, &toml).with_context(|| format!("writing {}", config_path.display()))?;
        let config = Config::load(&config_path)?;
        let server = crate::server::Server::build(config).await?;
        let url = format!("http://{}", server.local_addr());
        let (dispatcher, registry) = (server.dispatcher().clone(), server.registry().clone());
        let store = server.store().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let mut task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        tokio::select! {
            () = registry.loaded() => {}
            // The load failed: the host stopped, saying why.
            ended = &mut task => {
                ended.context("the local host panicked")??;
                anyhow::bail!("the local host stopped");
            }
        }
        Ok(LocalHost {
            fake,
            url,
            http: reqwest::Client::new(),
            dispatcher,
            registry,
            store,
            live,
            seen_calls: 0,
            seen_dead_letters: 0,
            sequence: AtomicU64::new(0),
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Copies a new build over the live plugin file, as a deploy does, and
    /// waits until the host serves it (hot reload), or says why it refused it.
    pub async fn deploy(&self, wasm: &Path) -> anyhow::Result<()> {
        let hash = crate::sandbox::file_hash(&std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?);
        let copied_at = crate::model::now_ms();
        std::fs::copy(wasm, &self.live).with_context(|| format!("copying over {}", self.live.display()))?;
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let routes = self.registry.snapshot();
            if let Some(serving) = routes.pages.get(PAGE_ID).and_then(|route| route.plugins.first()) {
                if serving.compiled.hash == hash {
                    return Ok(());
                }
                let rejected = self.registry.health().report(PAGE_ID, PLUGIN_ID, &serving.compiled.path).last_rejected_file;
                if let Some((error, _)) = rejected.filter(|(_, at)| *at >= copied_at) {
                    anyhow::bail!("the host did not take the new build: {error}");
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "the host did not pick up the new build within {SETTLE_TIMEOUT:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A text message from `psid`.
    pub async fn message(&self, psid: &str, text: &str) -> anyhow::Result<()> {
        let mid = self.mid();
        self.post_event(psid, json!({ "message": { "mid": mid, "text": text } })).await
    }

    /// A tap on a quick reply: its title as the text, with its payload.
    pub async fn quick_reply(&self, psid: &str, title: &str, payload: &str) -> anyhow::Result<()> {
        let mid = self.mid();
        self.post_event(psid, json!({ "message": { "mid": mid, "text": title, "quick_reply": { "payload": payload } } })).await
    }

    /// A tap on a postback button (or the Get Started button, or a menu item).
    pub async fn postback(&self, psid: &str, title: &str, payload: &str) -> anyhow::Result<()> {
        let mid = self.mid();
        self.post_event(psid, json!({ "postback": { "mid": mid, "title": title, "payload": payload } })).await
    }

    /// An opt-in: a one-time-notification token for `payload` (the topic),
    /// as Messenger sends it when the person taps "Notify me".
    pub async fn optin(&self, psid: &str, payload: &str) -> anyhow::Result<String> {
        let token = format!("otn-{}", self.sequence.fetch_add(1, Ordering::Relaxed));
        let optin = json!({ "type": "one_time_notif_req", "payload": payload, "one_time_notif_token": token });
        self.post_event(psid, json!({ "optin": optin })).await?;
        Ok(token)
    }

    /// A business event, posted to the host's API as a backend would.
    pub async fn business(&self, event: &Value, psid: Option<&str>) -> anyhow::Result<()> {
        let mut request = self.http.post(format!("{}/api/pages/{PAGE_ID}/events", self.url)).bearer_auth(API_TOKEN).json(event);
        if let Some(psid) = psid {
            request = request.query(&[("psid", psid)]);
        }
        let response = request.send().await?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "the host refused the business event: {status} {}", response.text().await.unwrap_or_default());
        Ok(())
    }

    fn mid(&self) -> String {
        format!("m.local.{}.{}", crate::model::now_ms(), self.sequence.fetch_add(1, Ordering::Relaxed))
    }

    /// Signs a webhook with one messaging event from `psid` and posts it.
    async fn post_event(&self, psid: &str, mut event: Value) -> anyhow::Result<()> {
        let timestamp = crate::model::now_ms() + self.sequence.fetch_add(1, Ordering::Relaxed) % 1000;
        event["sender"] = json!({ "id": psid });
        event["recipient"] = json!({ "id": PAGE_ID });
        event["timestamp"] = json!(timestamp);
        let body = json!({ "object": "page", "entry": [{ "id": PAGE_ID, "time": timestamp, "messaging": [event] }] }).to_string();
        let (sha256, _) = crate::ingress::signature::sign(APP_SECRET, body.as_bytes());
        let response = self
            .http
            .post(format!("{}/webhook/{APP_ID}", self.url))
            .header(crate::ingress::signature::SHA256_HEADER, sha256)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "the host refused the webhook: {status} {}", response.text().await.unwrap_or_default());
        Ok(())
    }

    /// Waits until every event taken in is handled (replies sent, retries
    /// done or given up).
    async fn settle(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        // Let the event reach the queue before it is seen empty.
        tokio::time::sleep(Duration::from_millis(5)).await;
        while self.dispatcher.queued() > 0 {
            anyhow::ensure!(Instant::now() < deadline, "the plugin did not finish within {SETTLE_TIMEOUT:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// What the plugin did about the inputs sent since the last call: waits
    /// until they are handled, then returns the Graph calls a person would
    /// notice and the errors of the events that ended as dead letters.
    pub async fn outcome(&mut self) -> anyhow::Result<Outcome> {
        self.settle().await?;
        let calls = self.fake.calls();
        let actions = calls.get(self.seen_calls..).unwrap_or_default().iter().filter_map(Action::of).collect();
        self.seen_calls = calls.len();
        // Newest first: the new ones lead.
        let letters = self.store.read(|b| b.dead_letters(usize::MAX >> 1)).await?;
        let new = letters.len().saturating_sub(self.seen_dead_letters);
        self.seen_dead_letters = letters.len();
        let failures = letters.into_iter().take(new).rev().map(|l| l.error).collect();
        Ok(Outcome { actions, failures })
    }

    /// The plugin's KV value at `key`.
    pub async fn kv(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let key = key.to_string();
        self.store.read(move |b| b.kv_get(PAGE_ID, PLUGIN_ID, &key)).await
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.context("the local host panicked")?,
            None => Ok(()),
        }
    }
}
