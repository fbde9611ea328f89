//! The example plugins in `plugins/`, end to end: the back-in-stock bot
//! (one-time notifications triggered by a business event) and the
//! human-handover bot (the Page Inbox and back).

use crate::harness::*;
use serde_json::json;

const API_TOKEN: &str = "inventory-service-token-0123456789";

fn api_config() -> String {
    format!("\n[api]\ntoken = \"{API_TOKEN}\"\n")
}

#[tokio::test]
async fn back_in_stock_asks_for_a_notification_and_sends_it_once_when_the_product_is_back() {
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["back_in_stock"])], &api_config()).await;
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m1", "notify Red  Lamp")])).await.status(), 200);
    let sent = host.wait_sent(1).await;
    let template = &sent[0]["message"]["attachment"]["payload"];
    assert_eq!(template["template_type"], "one_time_notif_req", "{sent:?}");
    assert_eq!(template["payload"], "restock:red lamp");
    assert_eq!(template["title"], "Tell me when Red  Lamp is back");

    // u1 taps "Notify me"; u2 asked about another product two days ago (its
    // window is closed now, so it gets no thanks).
    let optin = |psid: &str, at: u64, topic: &str, token: &str| {
        event("1001", psid, at, json!({"optin": {"type": "one_time_notif_req", "payload": topic, "one_time_notif_token": token}}))
    };
    let body = entry_body(
        "1001",
        "messaging",
        vec![optin("u1", now_ms(), "restock:red lamp", "T1"), optin("u2", now_ms() - 48 * HOUR_MS, "restock:blue vase", "T2")],
    );
    assert_eq!(host.post_signed(&body).await.status(), 200);
    host.wait_sent(2).await;
    assert_eq!(texts_to(&host.fake, "u1"), ["Thanks! I'll message you once when red lamp is back in stock."]);

    let restock = json!({"type": "restock", "product": "red lamp"});
    let response = host
        .http
        .post(format!("{}/api/pages/1001/events", host.url))
        .bearer_auth(API_TOKEN)
        .json(&restock)
        .send()
        .await
        .expect("host answers");
    assert_eq!(response.status(), 202);
    host.wait_sent(3).await;
    assert_eq!(texts_to(&host.fake, "T1"), ["Good news: red lamp is back in stock!"]);
    // The same restock again: the token is used, nobody is messaged twice.
    assert_eq!(host.post_business("1001", Some(API_TOKEN), &restock, None).await.status(), 202);
    host.settle().await;
    host.settle().await;
    assert_eq!(host.fake.sent_count(), 3, "{:?}", texts(&host.wait_sent(3).await));
    assert!(texts_to(&host.fake, "T2").is_empty());
    host.stop().await;
}

#[tokio::test]
async fn human_handover_passes_to_the_page_inbox_and_takes_the_thread_back() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["human_handover", "echo"])]).await;
    let say = |field: &'static str, psid: &'static str, mid: &'static str, text: &'static str| {
        entry_body("1001", field, vec![text_at("1001", psid, now_ms(), mid, text)])
    };
    assert_eq!(host.post_signed(&say("messaging", "u1", "m1", "hello")).await.status(), 200);
    host.wait_sent(1).await;
    assert_eq!(host.post_signed(&say("messaging", "u1", "m2", "I want a human")).await.status(), 200);
    let passes = host.fake.wait_for_calls("/pass_thread_control", 1, std::time::Duration::from_secs(10)).await;
    assert_eq!(passes[0].body["target_app_id"], 263902037430900u64);
    assert_eq!(passes[0].body["recipient"]["id"], "u1");

    // With the Page Inbox owning the thread, messages arrive in standby:
    // the bot stays quiet until asked back.
    assert_eq!(host.post_signed(&say("standby", "u1", "m3", "is anyone there?")).await.status(), 200);
    host.settle().await;
    assert_eq!(host.post_signed(&say("standby", "u1", "m4", "bot")).await.status(), 200);
    host.fake.wait_for_calls("/take_thread_control", 1, std::time::Duration::from_secs(10)).await;
    host.wait_sent(3).await;
    assert_eq!(host.post_signed(&say("messaging", "u1", "m5", "thanks")).await.status(), 200);
    host.wait_sent(4).await;
    assert_eq!(
        texts_to(&host.fake, "u1"),
        [
            "You said: hello",
            "I'm connecting you with a person; they will answer here. Write \"bot\" anytime to come back to me.",
            "I'm back. How can I help?",
            "You said: thanks",
        ]
    );

    // u2 talked to an agent (in standby), who then passes the thread back.
    let talk = text_at("1001", "u2", now_ms() - 1000, "m6", "thanks, agent");
    assert_eq!(host.post_signed(&entry_body("1001", "standby", vec![talk])).await.status(), 200);
    let pass = event(
        "1001",
        "u2",
        now_ms(),
        json!({"pass_thread_control": {"previous_owner_app_id": "263902037430900", "new_owner_app_id": APP_ID, "metadata": "done"}}),
    );
    assert_eq!(host.post_signed(&entry_body("1001", "messaging", vec![pass])).await.status(), 200);
    host.wait_sent(5).await;
    assert_eq!(texts_to(&host.fake, "u2"), ["You're back with the bot. How can I help?"]);
    host.stop().await;
}

/// The README's quick start, its own shell lines: the webhook it signs (with
/// `openssl`, stamped now) reaches the demo config's echo through the real
/// binary, and the reply shows at the fake Graph API.
#[tokio::test]
async fn the_readme_quick_start_gets_a_reply() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let lines: Vec<&str> = readme.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("BODY=")).expect("the README signs a webhook body");
    let fake = switchboard_tests::fake_graph::FakeGraph::start().await.expect("fake starts");
    fake.register_page("1001", "demo-page-token", "1234");
    let port = free_port();
    // The demo config as it is, but with a store and port of the test's own.
    let dir = tempfile::tempdir().expect("tmp");
    let demo = std::fs::read_to_string(root.join("plugins/switchboard.toml")).expect("demo config");
    let target = root.join("target").canonicalize().expect("target");
    let config = demo
        .replace("../target/switchboard-data", &dir.path().join("data").display().to_string())
        .replace("../target", &target.display().to_string());
    std::fs::write(dir.path().join("switchboard.toml"), config).expect("written");
    let child = std::process::Command::new(host_binary())
        .args(["run", "--config", "switchboard.toml"])
        .current_dir(dir.path())
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .env("GRAPH_API_URL", fake.base_url())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("host starts");
    let _host = RunningHost { child, port };
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    while client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_err() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the demo host did not come up");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let script = lines[at..at + 3].join("\n").replace("localhost:8080", &format!("127.0.0.1:{port}"));
    let out = std::process::Command::new("bash").args(["-c", &script]).output().expect("bash runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "EVENT_RECEIVED", "{script}\n{}", String::from_utf8_lossy(&out.stderr));
    fake.wait_for_calls("/messages", 1, std::time::Duration::from_secs(15)).await;
    assert_eq!(texts_to(&fake, "42"), ["You said: hi"], "{:?}", fake.calls());
}
