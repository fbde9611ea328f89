//! Isolation and failure semantics: a refusal by Meta or the host is not a
//! plugin fault and is not retried; one Page's trouble never closes a
//! plugin to another Page; an app speaks only for its own Pages; a config
//! reload keeps each Page's gate; a plugin is who the config says, not
//! who it says it is; hot reload works with a relative
//! `--config` and ignores reads of the config file.

use std::time::Duration;

use crate::harness::*;
use switchboard::signature::sign;
use switchboard_tests::fake_graph::{ErrorRule, GraphErrorSpec};

const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";

#[tokio::test]
async fn a_send_meta_refuses_for_good_finishes_the_event_without_retries() {
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["echo"])], &format!("[api]\ntoken = \"{ADMIN_TOKEN}\"\n")).await;
    host.fake.inject_error(ErrorRule::new(GraphErrorSpec::user_unavailable_551()).path("/messages").recipient("u551"));
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u551", "m.551", "hello?")])).await.status(), 200);
    host.fake.wait_for_calls("/messages", 1, Duration::from_secs(10)).await;
    // Retries (10 ms backoff, 3 attempts) would have happened by now.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(calls_to_recipient(&host.fake, "u551").len(), 1, "551 is final: one Graph call, no retry of the event");
    assert!(host.wait_dead_letters(0).await.is_empty(), "a refusal by Meta is no dead letter");
    let report = host.admin_plugins(ADMIN_TOKEN).await;
    let health = &report["pages"][0]["plugins"][0]["health"];
    assert_eq!(health["failures"]["host-refused"], 1, "{health:#}");
    assert_eq!(health["consecutive_failures"], 0, "not the plugin's fault: {health:#}");
    let last = health["last_failure"]["error"].as_str().unwrap_or_default();
    assert!(last.contains("graph error 551/1545041"), "the cause the plugin saw is kept: {last}");
    host.stop().await;
}

#[tokio::test]
async fn a_dead_token_on_one_page_does_not_close_the_plugin_to_another_page() {
    let extra = format!("[api]\ntoken = \"{ADMIN_TOKEN}\"\n[plugin_circuit]\nfailures = 2\nopen_secs = 60\n");
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["echo"]), page("1002", "tok-1002", &["echo"])], &extra).await;
    host.fake.revoke_token("tok-1002");
    let body = text_messages(&[("1002", "b1", "m.b1", "one"), ("1002", "b2", "m.b2", "two"), ("1002", "b3", "m.b3", "three")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    // Each fails (190, then the Page's circuit) until it is a dead letter.
    assert_eq!(host.wait_dead_letters(3).await.len(), 3);

    assert_eq!(host.post_signed(&text_messages(&[("1001", "a1", "m.a1", "still here?")])).await.status(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while texts_to(&host.fake, "a1").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "Page 1001's echo was not called: {:?}", host.wait_dead_letters(0).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(texts_to(&host.fake, "a1"), ["You said: still here?"]);
    let report = host.admin_plugins(ADMIN_TOKEN).await;
    for page in report["pages"].as_array().expect("pages") {
        let health = &page["plugins"][0]["health"];
        assert_eq!(health["circuit"], "closed", "page {}: {health:#}", page["page_id"]);
    }
    host.stop().await;
}

#[tokio::test]
async fn an_app_cannot_deliver_events_for_a_page_of_another_app() {
    let echo = format!("{:?}", plugin("echo").display().to_string());
    let extra = format!(
        "[api]\ntoken = \"{ADMIN_TOKEN}\"\n[[apps]]\nid = \"5678\"\nsecret = \"other-app-secret\"\nverify_token = \"vt\"\n\
         [[pages]]\nid = \"2002\"\napp = \"5678\"\naccess_token = \"tok-2002\"\nplugins = [{echo}]\n"
    );
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["echo"])], &extra).await;
    host.fake.register_page("2002", "tok-2002", "5678");

    // Signed by app 1234, for app 5678's Page: acknowledged, not handled.
    let forged = text_messages(&[("2002", "victim", "m.forged", "pretend"), ("1001", "u1", "m.own", "mine")]);
    assert_eq!(host.post_signed(&forged).await.status(), 200);
    host.fake.wait_for_calls("/messages", 1, Duration::from_secs(10)).await;
    host.settle().await;
    assert_eq!(texts_to(&host.fake, "u1"), ["You said: mine"], "the app's own Page is served");
    assert!(calls_to_recipient(&host.fake, "victim").is_empty(), "another app's Page token never answers it");
    let report = host.admin_plugins(ADMIN_TOKEN).await;
    assert_eq!(report["refused_events"]["page_of_another_app"], 1, "{report:#}");

    // The right app's signature is accepted.
    let own = text_messages(&[("2002", "friend", "m.right", "hello")]);
    let (sha256, _) = sign("other-app-secret", own.as_bytes());
    let response =
        host.http.post(format!("{}/webhook/5678", host.url)).header("x-hub-signature-256", sha256).body(own).send().await.expect("answers");
    assert_eq!(response.status(), 200);
    host.fake.wait_for_calls("/messages", 2, Duration::from_secs(10)).await;
    let calls = calls_to_recipient(&host.fake, "friend");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].access_token.as_deref(), Some("tok-2002"));
    host.stop().await;
}

/// The binary's config for `pages`, with the admin token and a long Page
/// circuit.
fn config_text(port: u16, graph: &str, pages: &[PageSpec]) -> String {
    let mut toml = format!(
        "listen = \"127.0.0.1:{port}\"\ngraph_api_url = \"{graph}\"\n[store]\npath = \"data\"\n[api]\ntoken = \"{ADMIN_TOKEN}\"\n\
         [graph]\ncircuit_open_secs = 60\n[dispatch]\nretry_backoff_ms = 10\nmax_attempts = 2\n\
         [[apps]]\nid = \"{APP_ID}\"\nsecret = \"{APP_SECRET}\"\nverify_token = \"{VERIFY_TOKEN}\"\n"
    );
    for p in pages {
        toml.push_str(&p.toml());
    }
    toml
}

async fn admin(client: &reqwest::Client, port: u16) -> Option<serde_json::Value> {
    let response = client.get(format!("http://127.0.0.1:{port}/admin/plugins")).bearer_auth(ADMIN_TOKEN).send().await.ok()?;
    response.json().await.ok()
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_config_reload_keeps_an_unchanged_pages_gate_and_its_open_circuit() {
    let fx = BinaryFixture::new(&["echo"], "").await;
    let (fake, port, client) = (&fx.fake, fx.port, reqwest::Client::new());
    std::fs::write(&fx.config, config_text(port, &fake.base_url(), &[page("1001", "tok-1001", &["echo"])])).expect("written");
    let host = fx.start().await;
    fake.revoke_token("tok-1001");
    assert_eq!(host.post_signed(&client, &text_messages(&[("1001", "u1", "m1", "one")])).await, Some(200));
    fake.wait_for_calls("/messages", 1, Duration::from_secs(10)).await;

    // Another Page is added; Page 1001 is unchanged.
    fake.register_page("2002", "tok-2002", APP_ID);
    let pages = [page("1001", "tok-1001", &["echo"]), page("2002", "tok-2002", &["echo"])];
    let staging = fx.dir.path().join("switchboard.toml.new");
    std::fs::write(&staging, config_text(port, &fake.base_url(), &pages)).expect("written");
    std::fs::rename(&staging, &fx.config).expect("renamed");
    wait_for("the new config", async || admin(&client, port).await.is_some_and(|r| r["pages"].as_array().map(Vec::len) == Some(2))).await;

    assert_eq!(host.post_signed(&client, &text_messages(&[("1001", "u2", "m2", "two")])).await, Some(200));
    assert_eq!(host.post_signed(&client, &text_messages(&[("2002", "u3", "m3", "three")])).await, Some(200));
    fake.wait_for_calls("/messages", 2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let page_1001_calls = fake.calls_to("/messages").iter().filter(|c| c.access_token.as_deref() == Some("tok-1001")).count();
    assert_eq!(page_1001_calls, 1, "Page 1001's circuit stayed open across the reload: no second call with the refused token");
    assert_eq!(texts_to(fake, "u3"), ["You said: three"]);
}

#[tokio::test]
async fn hot_reload_works_with_a_relative_config_and_ignores_reads_of_it() {
    let fake = switchboard_tests::fake_graph::FakeGraph::start().await.expect("fake starts");
    fake.register_page("1001", "tok-1001", APP_ID);
    let dir = tempfile::tempdir().expect("tmp");
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).expect("mkdir");
    std::fs::copy(plugin("echo"), conf.join("bot.wasm")).expect("copy");
    let port = free_port();
    let text = config_text(port, &fake.base_url(), &[])
        + "\n[[pages]]\nid = \"1001\"\napp = \"1234\"\naccess_token = \"tok-1001\"\nplugins = [\"bot.wasm\"]\n";
    std::fs::write(conf.join("switchboard.toml"), text).expect("written");
    let log = dir.path().join("host.log");
    // From the directory above the config, with a relative path, as the
    // quick start does.
    let child = std::process::Command::new(host_binary())
        .args(["run", "--config", "conf/switchboard.toml"])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("host starts");
    let _host = RunningHost { child, port };
    let client = reqwest::Client::new();
    let hash = |report: &serde_json::Value| report["pages"][0]["plugins"][0]["hash"].as_str().map(str::to_string);
    wait_for("the host", async || admin(&client, port).await.is_some()).await;

    // Deploy a new version with `mv`, as people do.
    std::fs::copy(plugin("probe"), conf.join("bot.wasm.new")).expect("copy");
    std::fs::rename(conf.join("bot.wasm.new"), conf.join("bot.wasm")).expect("mv");
    let want = switchboard::sandbox::file_hash(&std::fs::read(plugin("probe")).expect("read"));
    wait_for("the new plugin version", async || admin(&client, port).await.is_some_and(|r| hash(&r).as_deref() == Some(want.as_str())))
        .await;

    // Reading the config (cat, `switchboard plugins --config`) is no change.
    for _ in 0..20 {
        let _ = std::fs::read_to_string(conf.join("switchboard.toml")).expect("read");
    }
    let status = std::process::Command::new(host_binary())
        .args(["plugins", "--config", "conf/switchboard.toml"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("runs");
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(800)).await;
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(logged.contains("plugin reloaded"), "{logged}");
    assert_eq!(logged.matches("config reloaded").count(), 0, "reads reloaded the config:\n{logged}");
}

/// Room in the queue is taken before the append, so webhooks that arrive
/// together cannot all pass a check and overfill it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_webhooks_cannot_overfill_the_queue() {
    let extra = "[dispatch]\nmax_queued_events = 4\nmax_concurrent_conversations = 1\nmax_attempts = 1\nretry_backoff_ms = 10\n";
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["faulty"])], extra).await;
    let posts = (0..16).map(|i| {
        let (url, http) = (host.url.clone(), host.http.clone());
        // Each spins until its CPU limit: the queue drains slowly.
        let body = text_messages(&[("1001", &format!("q{i}"), &format!("m.q{i}"), "loop")]);
        async move {
            let (sha256, _) = sign(APP_SECRET, body.as_bytes());
            http.post(format!("{url}/webhook/{APP_ID}"))
                .header("x-hub-signature-256", sha256)
                .body(body)
                .send()
                .await
                .expect("answers")
                .status()
                .as_u16()
        }
    });
    let statuses = futures_join_all(posts.collect()).await;
    let accepted = statuses.iter().filter(|&&s| s == 200).count();
    let refused = statuses.iter().filter(|&&s| s == 503).count();
    assert_eq!(accepted + refused, 16, "{statuses:?}");
    // Four places, and perhaps one freed by an event finished meanwhile.
    assert!(accepted <= 5, "{accepted} accepted with room for 4: {statuses:?}");
    host.stop().await;
}

/// Runs the futures concurrently, each on its own task.
async fn futures_join_all<T: Send + 'static>(futures: Vec<impl std::future::Future<Output = T> + Send + 'static>) -> Vec<T> {
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    out
}

/// Two plugins on one Page that declare the same name (here: the probe,
/// and a copy of it under another file name) each get what is theirs by
/// their ids: their own key-value namespace and their own limits.
#[tokio::test]
async fn a_plugin_cannot_take_another_plugins_state_or_limits_by_declaring_its_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let twin = dir.path().join("twin.wasm");
    std::fs::copy(plugin("probe"), &twin).expect("copies the probe");
    let fake = switchboard_tests::fake_graph::FakeGraph::start().await.expect("fake Graph API starts");
    let port = fake.addr().port();
    let allow = format!(
        "plugin_limits.probe = {{ http_allowed_hosts = [\"127.0.0.1\"], http_allowed_ports = [{port}], http_allowed_networks = [\"127.0.0.0/8\"] }}"
    );
    let extra = format!("[api]\ntoken = \"{ADMIN_TOKEN}\"\n");
    let pages = vec![page_files("1001", "tok-1001", vec![plugin("probe"), twin]).with(&allow)];
    let host = TestHost::start_on(fake, tempfile::tempdir().expect("temp dir"), pages, &extra).await;
    let say = |mid: &'static str, text: String| text_messages(&[("1001", "u1", mid, &text)]);

    assert_eq!(host.post_signed(&say("m1", "kv inc visits 1".into())).await.status(), 200);
    let reports = host.wait_reports(2).await;
    assert_eq!(reports, ["kv: 1", "kv: 1"], "one counter each, not one shared under the declared name");

    let target = host.fake.addr().to_string();
    assert_eq!(host.post_signed(&say("m2", format!("http {target} /_fake/bytes?n=5"))).await.status(), 200);
    let reports = host.wait_reports(4).await;
    assert_eq!(reports[2], "http: 200 5", "the probe has the allow-list: {reports:?}");
    assert!(reports[3].contains("HttpRequestDenied"), "the twin does not get the probe's allow-list: {reports:?}");

    let all_twice =
        |r: &serde_json::Value| r["pages"][0]["plugins"].as_array().is_some_and(|p| p.iter().all(|p| p["health"]["invocations"] == 2));
    let report = host.admin_plugins_when(ADMIN_TOKEN, all_twice).await;
    let plugins = report["pages"][0]["plugins"].as_array().expect("plugins").clone();
    let ids: Vec<&str> = plugins.iter().map(|p| p["id"].as_str().unwrap_or_default()).collect();
    assert_eq!(ids, ["probe", "twin"]);
    assert!(plugins.iter().all(|p| p["name"] == "probe" && p["health"]["invocations"] == 2), "one record each: {plugins:#?}");
    host.stop().await;
}

/// A store written when namespaces were keyed by the declared name: the
/// first host with ids moves each Page's namespace to its plugin's id,
/// once; a plugin added later that declares the same name gets nothing.
#[tokio::test]
async fn key_value_state_kept_under_a_declared_name_moves_to_the_plugins_id_once() {
    let data = tempfile::tempdir().expect("temp dir");
    {
        use switchboard::store::{KvOp, KvWrite, Store, WriteOp};
        let old = Store::open_sqlite(data.path(), Duration::ZERO, Default::default()).expect("store opens");
        let op = KvOp::Set { value: b"hello".to_vec(), ttl_ms: None };
        let write = KvWrite { page_id: "1001".into(), plugin: "probe".into(), key: "greeting".into(), op, namespace_limit: 1 << 20 };
        old.write(WriteOp::Kv(write)).await.expect("an old host's write");
    }
    let shop = || page("1001", "tok-1001", &["probe"]).ids(&["shop"]);
    let host = TestHost::start_in(data, vec![shop()], "").await;
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m1", "kv get greeting")])).await.status(), 200);
    assert_eq!(host.wait_reports(1).await, ["kv: hello"], "the old namespace is the plugin's now");
    let data = host.stop_keeping_data().await;

    let both = page_files("1001", "tok-1001", vec![plugin("probe"), plugin("probe")]).ids(&["shop", "newcomer"]);
    let host = TestHost::start_in(data, vec![both], "").await;
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m2", "kv get greeting")])).await.status(), 200);
    assert_eq!(host.wait_reports(2).await, ["kv: hello", "kv: none"], "the newcomer declares \"probe\" and gets nothing");
    host.stop().await;
}

/// One inventory system cannot post into every Page: a Page with its own
/// API token takes business events only with it, and that token opens
/// nothing else (other Pages, the admin endpoint).
#[tokio::test]
async fn a_pages_own_api_token_is_the_only_key_to_its_business_events() {
    const SHOP_TOKEN: &str = "shop-page-token-0123456789abcdef";
    let extra = format!("[api]\ntoken = \"{ADMIN_TOKEN}\"\n");
    let pages =
        vec![page("1001", "tok-1001", &["echo"]), page("1002", "tok-1002", &["echo"]).with(&format!("api_token = \"{SHOP_TOKEN}\""))];
    let host = TestHost::start_with(pages, &extra).await;
    let event = serde_json::json!({"type": "restock"});
    let post = |page: &'static str, token: &'static str, key: &'static str| host.post_business(page, Some(token), &event, Some(key));
    assert_eq!(post("1001", ADMIN_TOKEN, "k1").await.status(), 202, "a Page without a token of its own takes [api] token");
    assert_eq!(post("1002", ADMIN_TOKEN, "k2").await.status(), 401, "the shop Page takes only its own token");
    assert_eq!(post("1002", SHOP_TOKEN, "k3").await.status(), 202);
    assert_eq!(post("1001", SHOP_TOKEN, "k4").await.status(), 401, "the shop's token is no key to another Page");
    let admin = host.http.get(format!("{}/admin/plugins", host.url)).bearer_auth(SHOP_TOKEN).send().await.expect("answers");
    assert_eq!(admin.status(), 401, "nor to the admin endpoint");
    host.stop().await;
}
