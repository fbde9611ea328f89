//! Editing the config file of a running host: Pages, plugin chains, Page
//! tokens, app secrets and the API token change without a restart; a broken
//! file is refused and the running config stays.

use std::time::Duration;

use crate::harness::*;
use switchboard::signature::sign;

const OLD_API_TOKEN: &str = "admin-token-before-0123456789";
const NEW_API_TOKEN: &str = "admin-token-after-0123456789";
const NEW_SECRET: &str = "rotated-app-secret";

/// A config for the binary with `secret` for the app and the given Pages.
fn config_text(port: u16, graph: &str, secret: &str, api_token: &str, pages: &[PageSpec]) -> String {
    let mut toml = format!(
        "listen = \"127.0.0.1:{port}\"\ngraph_api_url = \"{graph}\"\n[store]\npath = \"data\"\n[api]\ntoken = \"{api_token}\"\n\n\
         [[apps]]\nid = \"{APP_ID}\"\nsecret = \"{secret}\"\nverify_token = \"{VERIFY_TOKEN}\"\n"
    );
    for p in pages {
        toml.push_str(&p.toml());
    }
    toml
}

async fn post(client: &reqwest::Client, port: u16, secret: &str, body: &str) -> u16 {
    let (sha256, _) = sign(secret, body.as_bytes());
    let url = format!("http://127.0.0.1:{port}/webhook/{APP_ID}");
    client.post(url).header("x-hub-signature-256", sha256).body(body.to_string()).send().await.expect("answers").status().as_u16()
}

async fn admin_pages(client: &reqwest::Client, port: u16, token: &str) -> Option<usize> {
    let response = client.get(format!("http://127.0.0.1:{port}/admin/plugins")).bearer_auth(token).send().await.ok()?;
    let report: serde_json::Value = response.json().await.ok()?;
    report["pages"].as_array().map(Vec::len)
}

#[tokio::test]
async fn editing_the_config_file_applies_pages_tokens_and_secrets_without_a_restart() {
    let fx = BinaryFixture::new(&["echo"], "").await;
    let (fake, port, client) = (&fx.fake, fx.port, reqwest::Client::new());
    let graph = fake.base_url();
    std::fs::write(&fx.config, config_text(port, &graph, APP_SECRET, OLD_API_TOKEN, &[page("1001", "tok-1001", &["echo"])]))
        .expect("written");
    let _host = fx.start().await;
    assert_eq!(post(&client, port, APP_SECRET, &text_messages(&[("1001", "u1", "m1", "before")])).await, 200);
    fake.wait_for_calls("/messages", 1, Duration::from_secs(10)).await;

    // Rotate the Page token, the app secret and the API token; add a Page.
    fake.register_page("1001", "tok-1001-rotated", APP_ID);
    fake.register_page("2002", "tok-2002", APP_ID);
    let pages = [page("1001", "tok-1001-rotated", &["echo"]), page("2002", "tok-2002", &["echo"])];
    let staging = fx.dir.path().join("switchboard.toml.new");
    std::fs::write(&staging, config_text(port, &graph, NEW_SECRET, NEW_API_TOKEN, &pages)).expect("written");
    std::fs::rename(&staging, &fx.config).expect("renamed");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while admin_pages(&client, port, NEW_API_TOKEN).await != Some(2) {
        assert!(tokio::time::Instant::now() < deadline, "the new config never went live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(admin_pages(&client, port, OLD_API_TOKEN).await, None, "the old API token no longer works");
    let body = text_messages(&[("1001", "u1", "m2", "after"), ("2002", "u2", "m3", "new page")]);
    assert_eq!(post(&client, port, APP_SECRET, &body).await, 403, "the old app secret no longer verifies");
    assert_eq!(post(&client, port, NEW_SECRET, &body).await, 200);
    let sent = fake.wait_for_calls("/messages", 3, Duration::from_secs(10)).await;
    let token_of = |text: &str| sent.iter().find(|c| c.body["message"]["text"] == text).and_then(|c| c.access_token.clone());
    assert_eq!(token_of("You said: before").as_deref(), Some("tok-1001"));
    assert_eq!(token_of("You said: after").as_deref(), Some("tok-1001-rotated"));
    assert_eq!(token_of("You said: new page").as_deref(), Some("tok-2002"));

    // A broken file is refused; the running config stays.
    std::fs::write(&staging, "listen = [this is not toml").expect("written");
    std::fs::rename(&staging, &fx.config).expect("renamed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(admin_pages(&client, port, NEW_API_TOKEN).await, Some(2));
    assert_eq!(post(&client, port, NEW_SECRET, &text_messages(&[("2002", "u2", "m4", "still served")])).await, 200);
    let sent = fake.wait_for_calls("/messages", 4, Duration::from_secs(10)).await;
    assert!(sent.iter().any(|c| c.body["message"]["text"] == "You said: still served"));
}
