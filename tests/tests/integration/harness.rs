//! Test harness: a real host (router, dispatcher, wasm plugins) on a real
//! port, in front of the fake Graph API over real HTTP.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use switchboard::signature::sign;
use switchboard::{Config, Server};
use switchboard_tests::fake_graph::FakeGraph;
use tokio::sync::oneshot;

pub const APP_ID: &str = "1234";
pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";

/// `target/wasm32-wasip2/release/{name}.wasm`, built by `cargo build-plugins`.
pub fn plugin(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let path = target.join("wasm32-wasip2/release").join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} is missing: run `cargo build-plugins` first", path.display());
    path
}

/// A Page served by the test host.
pub struct PageSpec {
    pub id: &'static str,
    pub token: &'static str,
    /// Plugin files, in chain order.
    pub plugins: Vec<PathBuf>,
    /// The plugins' ids, in the same order (see [`PageSpec::ids`]); none:
    /// each file's stem.
    pub ids: Vec<&'static str>,
    /// More lines for the `[[pages]]` table (see [`PageSpec::with`]).
    pub options: String,
}

impl PageSpec {
    /// The `[[pages]]` table for this Page.
    pub fn toml(&self) -> String {
        let plugins: Vec<String> = self
            .plugins
            .iter()
            .enumerate()
            .map(|(i, p)| match self.ids.get(i) {
                Some(id) => format!("{{ id = {id:?}, path = {:?} }}", p.display().to_string()),
                None => format!("{:?}", p.display().to_string()),
            })
            .collect();
        format!(
            "\n[[pages]]\nid = \"{}\"\napp = \"{APP_ID}\"\naccess_token = \"{}\"\nplugins = [{}]\n{}\n",
            self.id,
            self.token,
            plugins.join(", "),
            self.options
        )
    }

    /// Gives the plugins these ids (`{ id, path }`), in chain order.
    pub fn ids(mut self, ids: &[&'static str]) -> Self {
        self.ids = ids.to_vec();
        self
    }

    /// Adds TOML to this Page's table, e.g. `send_rate_per_sec = 20` or a
    /// `[pages.messenger_profile]` sub-table.
    pub fn with(mut self, toml: &str) -> Self {
        self.options.push_str(toml);
        self.options.push('\n');
        self
    }
}

/// A Page whose chain is the named plugins from `target/`.
pub fn page(id: &'static str, token: &'static str, plugins: &[&'static str]) -> PageSpec {
    PageSpec { id, token, plugins: plugins.iter().map(|n| plugin(n)).collect(), ids: Vec::new(), options: String::new() }
}

/// A Page whose chain is the given plugin files.
pub fn page_files(id: &'static str, token: &'static str, files: Vec<PathBuf>) -> PageSpec {
    PageSpec { id, token, plugins: files, ids: Vec::new(), options: String::new() }
}

pub struct TestHost {
    pub url: String,
    /// The host's store directory, removed when the test ends.
    pub data: tempfile::TempDir,
    pub fake: FakeGraph,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestHost {
    pub async fn start(pages: Vec<PageSpec>) -> TestHost {
        Self::start_with(pages, "").await
    }

    /// Starts a host for `pages`; `extra` is appended to the TOML config.
    pub async fn start_with(pages: Vec<PageSpec>, extra: &str) -> TestHost {
        Self::start_in(tempfile::tempdir().expect("temp dir"), pages, extra).await
    }

    /// Starts a host whose store is in `data` (a store an earlier host, or
    /// the test, left there).
    pub async fn start_in(data: tempfile::TempDir, pages: Vec<PageSpec>, extra: &str) -> TestHost {
        Self::start_on(FakeGraph::start().await.expect("fake Graph API starts"), data, pages, extra).await
    }

    /// Starts a host in front of `fake` (started first, so the config may
    /// name its address).
    pub async fn start_on(fake: FakeGraph, data: tempfile::TempDir, pages: Vec<PageSpec>, extra: &str) -> TestHost {
        let mut toml = format!(
            "listen = \"127.0.0.1:0\"\ngraph_api_url = \"{}\"\n\n[[apps]]\nid = \"{APP_ID}\"\nsecret = \"{APP_SECRET}\"\nverify_token = \"{VERIFY_TOKEN}\"\n",
            fake.base_url()
        );
        for p in &pages {
            fake.register_page(p.id, p.token, APP_ID);
            toml.push_str(&p.toml());
        }
        // Events are remembered (and taken in) for TEST_RETENTION_HOURS, so
        // tests may send events from the past: a closed window, an old token.
        toml.push_str(&format!("\n[store]\npath = {:?}\nretention_hours = {TEST_RETENTION_HOURS}\n", data.path().display().to_string()));
        if !extra.contains("[dispatch]") {
            // Fast retries so failing plugins do not slow the tests down.
            toml.push_str("\n[dispatch]\nretry_backoff_ms = 10\nmax_attempts = 3\n");
        }
        toml.push_str(extra);
        let config = Config::parse(&toml, std::path::Path::new("."), &|_| None).unwrap_or_else(|p| panic!("config: {p:?}\n{toml}"));
        let server = Server::build(config).await.expect("host starts");
        let url = format!("http://{}", server.local_addr());
        let registry = server.registry().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        // Tests start from a host serving its plugins (which load after it
        // listens; `languages.rs` covers that).
        registry.loaded().await;
        TestHost { url, data, fake, http: reqwest::Client::new(), stop: Some(stop), task: Some(task) }
    }

    /// POSTs `body` signed with both headers, as Meta does.
    pub async fn post_signed(&self, body: &str) -> reqwest::Response {
        let (sha256, sha1) = sign(APP_SECRET, body.as_bytes());
        self.post(body, &[("X-Hub-Signature-256", &sha256), ("X-Hub-Signature", &sha1)]).await
    }

    pub async fn post(&self, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.post(format!("{}/webhook/{APP_ID}", self.url)).body(body.to_string());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.header("content-type", "application/json").send().await.expect("host answers")
    }

    /// Waits until `n` messages were sent (successfully) through the fake.
    pub async fn wait_sent(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let sent = self.fake.sent_messages();
            if sent.len() >= n || tokio::time::Instant::now() > deadline {
                return sent
                    .into_iter()
                    .map(|c| {
                        let mut body = c.body.clone();
                        body["_access_token"] = serde_json::json!(c.access_token);
                        body
                    })
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Gives the host time to do anything it was (wrongly) going to do.
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    pub async fn stop(self) {
        self.stop_keeping_data().await;
    }

    /// Stops the host cleanly; its store stays, for the next host.
    pub async fn stop_keeping_data(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("host task").expect("host ran cleanly");
        }
        self.data
    }
}

/// Now, in epoch milliseconds: events must be recent, or the messaging
/// window the host enforces is closed.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_millis() as u64
}

/// `body` with the sample timestamps (`1700000000…`, Nov 2023) moved to now.
pub fn fresh(body: &str) -> String {
    body.replace("1700000000", &(now_ms() / 1000).to_string())
}

/// A webhook body with one text message per (page, psid, mid, text).
pub fn text_messages(messages: &[(&str, &str, &str, &str)]) -> String {
    let base = now_ms();
    let entries: Vec<serde_json::Value> = messages
        .iter()
        .enumerate()
        .map(|(i, (page, psid, mid, text))| {
            serde_json::json!({
                "id": page, "time": base + i as u64,
                "messaging": [{
                    "sender": {"id": psid}, "recipient": {"id": page},
                    "timestamp": base + i as u64,
                    "message": {"mid": mid, "text": text}
                }]
            })
        })
        .collect();
    serde_json::json!({"object": "page", "entry": entries}).to_string()
}

/// Waits (up to 20 s) until the store in `dir` holds `n` dead letters, as
/// a running host (router or binary) writes them; returns them.
pub async fn wait_dead_letters_in(dir: &std::path::Path, n: usize) -> Vec<switchboard::store::DeadLetter> {
    let store = switchboard::store::Store::open_sqlite(dir, std::time::Duration::ZERO, Default::default()).expect("store opens");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let letters = store.read(|b| b.dead_letters(1000)).await.expect("dead letters read");
        if letters.len() >= n || tokio::time::Instant::now() > deadline {
            return letters;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The reference payloads, by name (`tests/payloads/`, a copy of the
/// project's shared reference samples, so a checkout alone runs the tests).
pub fn reference_payload(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("payloads/messenger_payloads.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let all: Vec<serde_json::Value> = serde_json::from_str(&text).expect("payloads file is JSON");
    all.into_iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no payload {name}"))["payload"].clone()
}

pub fn texts(sent: &[serde_json::Value]) -> Vec<String> {
    sent.iter().filter_map(|b| b["message"]["text"].as_str().map(str::to_string)).collect()
}

/// The real `switchboard` binary, built (once per test process) if needed.
pub fn host_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "--release", "-p", "switchboard", "--bin", "switchboard"])
                .current_dir(&root)
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building the switchboard binary failed");
            let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
            target.join("release/switchboard")
        })
        .clone()
}

/// A config file for the binary: one app, the given Pages, a store in `dir`.
pub fn write_config(dir: &std::path::Path, port: u16, graph_url: &str, pages: &[PageSpec], extra: &str) -> PathBuf {
    let mut toml = format!(
        "listen = \"127.0.0.1:{port}\"\ngraph_api_url = \"{graph_url}\"\n[store]\npath = \"data\"\n\n[[apps]]\nid = \"{APP_ID}\"\nsecret = \"{APP_SECRET}\"\nverify_token = \"{VERIFY_TOKEN}\"\n"
    );
    for p in pages {
        toml.push_str(&p.toml());
    }
    toml.push_str(extra);
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, toml).expect("config written");
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The host binary running as a child process; killed when dropped.
pub struct RunningHost {
    pub child: std::process::Child,
    pub port: u16,
}

impl RunningHost {
    /// Starts `switchboard run --config config` and waits for /healthz.
    pub async fn start(config: &std::path::Path, port: u16) -> RunningHost {
        let child = std::process::Command::new(host_binary())
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("host binary starts");
        let host = RunningHost { child, port };
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        while client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "host did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        host
    }

    /// POSTs `body` signed with the SHA-256 header; the status, if any.
    pub async fn post_signed(&self, client: &reqwest::Client, body: &str) -> Option<u16> {
        let (sha256, _) = sign(APP_SECRET, body.as_bytes());
        client
            .post(format!("http://127.0.0.1:{}/webhook/{APP_ID}", self.port))
            .header("x-hub-signature-256", sha256)
            .body(body.to_string())
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a test of the host binary needs: the fake Graph API with Page 1001
/// registered, a temp dir with a config for `plugins`, and a free port.
pub struct BinaryFixture {
    pub fake: FakeGraph,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub config: PathBuf,
}

impl BinaryFixture {
    /// `extra` is appended to the config (e.g. a `[dispatch]` table).
    pub async fn new(plugins: &[&'static str], extra: &str) -> BinaryFixture {
        let fake = FakeGraph::start().await.expect("fake Graph API starts");
        fake.register_page("1001", "tok-1001", APP_ID);
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let config = write_config(dir.path(), port, &fake.base_url(), &[page("1001", "tok-1001", plugins)], extra);
        BinaryFixture { fake, dir, port, config }
    }

    pub async fn start(&self) -> RunningHost {
        RunningHost::start(&self.config, self.port).await
    }

    /// `switchboard <subcommand> --config <dir>/switchboard.toml`, run from
    /// the fixture directory's parent with the config's relative path, as
    /// an operator in another directory types it.
    pub fn command_from_parent(&self, subcommand: &str) -> std::process::Command {
        let parent = self.dir.path().parent().expect("temp dirs have a parent");
        let relative = self.config.strip_prefix(parent).expect("the config is under its parent");
        let mut command = std::process::Command::new(host_binary());
        command.arg(subcommand).arg("--config").arg(relative).current_dir(parent);
        command
    }

    /// Runs [`Self::command_from_parent`] with `args`: whether it succeeded,
    /// and its stdout then stderr.
    pub fn run_from_parent(&self, subcommand: &str, args: &[&str]) -> (bool, String) {
        let out = self.command_from_parent(subcommand).args(args).output().expect("the binary runs");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    }
}

/// Whether a Send API body is addressed to `to`: a PSID, a `user_ref` or a
/// one-time-notification token.
pub fn addressed_to(body: &serde_json::Value, to: &str) -> bool {
    let r = &body["recipient"];
    ["id", "user_ref", "one_time_notif_token"].iter().any(|k| r[*k].as_str() == Some(to))
}

/// Texts sent successfully to `to`, in the order the fake received them.
pub fn texts_to(fake: &FakeGraph, to: &str) -> Vec<String> {
    fake.sent_messages()
        .iter()
        .filter(|c| addressed_to(&c.body, to))
        .filter_map(|c| c.body["message"]["text"].as_str().map(str::to_string))
        .collect()
}

/// Every Send API call addressed to `to`, whatever its outcome.
pub fn calls_to_recipient(fake: &FakeGraph, to: &str) -> Vec<switchboard_tests::fake_graph::RecordedCall> {
    fake.calls_to("/messages").into_iter().filter(|c| addressed_to(&c.body, to)).collect()
}

impl TestHost {
    /// Waits until the probe plugin has made `n` reports; returns them all.
    pub async fn wait_reports(&self, n: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let reports = texts_to(&self.fake, "probe-report");
            if reports.len() >= n || tokio::time::Instant::now() > deadline {
                return reports;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// POSTs a business event to the host's API with `token`.
    pub async fn post_business(
        &self,
        page: &str,
        token: Option<&str>,
        body: &serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.http.post(format!("{}/api/pages/{page}/events", self.url)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("host answers")
    }
}

/// One `messaging` (or `standby`) event from `psid` to `page` at
/// `timestamp`, with the kind-specific fields of `fields` (e.g.
/// `{"message": {...}}`).
pub fn event(page: &str, psid: &str, timestamp: u64, fields: serde_json::Value) -> serde_json::Value {
    let mut event = serde_json::json!({"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": timestamp});
    if let (Some(e), Some(f)) = (event.as_object_mut(), fields.as_object()) {
        e.extend(f.clone());
    }
    event
}

/// A webhook body with one entry for `page` carrying `events` under `field`
/// (`messaging` or `standby`).
pub fn entry_body(page: &str, field: &str, events: Vec<serde_json::Value>) -> String {
    serde_json::json!({"object": "page", "entry": [{"id": page, "time": now_ms(), field: events}]}).to_string()
}

/// A text message event.
pub fn text_at(page: &str, psid: &str, timestamp: u64, mid: &str, text: &str) -> serde_json::Value {
    event(page, psid, timestamp, serde_json::json!({"message": {"mid": mid, "text": text}}))
}

pub const HOUR_MS: u64 = 3_600_000;

/// `store.retention_hours` of a [`TestHost`]: about 14 months.
pub const TEST_RETENTION_HOURS: u64 = 10_000;

impl TestHost {
    /// Waits until the host's store holds `n` dead letters; returns them.
    pub async fn wait_dead_letters(&self, n: usize) -> Vec<switchboard::store::DeadLetter> {
        wait_dead_letters_in(self.data.path(), n).await
    }

    /// `GET /admin/plugins` with `token`, once `ready` holds of it (or
    /// after 10 s): an invocation is counted when it returns, just after
    /// the send a test waits for.
    pub async fn admin_plugins_when(&self, token: &str, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let report = self.admin_plugins(token).await;
            if ready(&report) || tokio::time::Instant::now() > deadline {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `GET /admin/plugins` with `token`.
    pub async fn admin_plugins(&self, token: &str) -> serde_json::Value {
        let response = self.http.get(format!("{}/admin/plugins", self.url)).bearer_auth(token).send().await.expect("host answers");
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON")
    }
}
