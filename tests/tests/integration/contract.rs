//! The WIT contract's versions: a plugin built against 0.1.0 keeps
//! answering beside 0.2.0 plugins; 0.2's additions (a failure that is not
//! worth retrying, raw message content, the event's raw JSON read on
//! demand) reach the host and the Send API.

use crate::harness::*;

const API_TOKEN: &str = "admin-token-0123456789abcdef";
const RETRIES: &str = "\n[dispatch]\nmax_attempts = 3\nretry_backoff_ms = 10\n";

#[tokio::test]
async fn a_plugin_built_against_0_1_still_answers_beside_0_2_plugins() {
    let config = format!("\n[api]\ntoken = \"{API_TOKEN}\"\n{RETRIES}");
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["legacy"]), page("2002", "tok-2002", &["echo"])], &config).await;
    let report = host.admin_plugins(API_TOKEN).await;
    let contracts: Vec<&str> =
        report["pages"].as_array().expect("pages").iter().map(|p| p["plugins"][0]["contract"].as_str().unwrap_or("?")).collect();
    let mut sorted = contracts.clone();
    sorted.sort();
    assert_eq!(sorted, ["0.1.0", "0.2.0"], "the operator sees which contract each plugin uses: {report:#}");
    let body = text_messages(&[("1001", "u1", "m1", "hi"), ("2002", "u2", "m2", "hi")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    host.wait_sent(2).await;
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m3", "again")])).await.status(), 200);
    host.wait_sent(3).await;
    assert_eq!(texts_to(&host.fake, "u1"), ["0.1 says: hi (#1)", "0.1 says: again (#2)"], "0.1's messenger and kv imports work");
    assert_eq!(texts_to(&host.fake, "u2"), ["You said: hi"]);

    // A 0.1 plugin's error is worth retrying (0.1 cannot say otherwise).
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u3", "m4", "fail")])).await.status(), 200);
    let letters = host.wait_dead_letters(1).await;
    assert_eq!((letters[0].attempts, letters[0].error.as_str()), (3, "returned an error: asked to fail"), "{letters:?}");
    host.stop().await;
}

#[tokio::test]
async fn a_permanent_failure_is_dead_lettered_at_once_and_a_transient_one_is_retried() {
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["faulty"])], RETRIES).await;
    let body = text_messages(&[("1001", "u1", "m1", "permanent"), ("1001", "u2", "m2", "err"), ("1001", "u3", "m3", "refused permanent")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    let letters = host.wait_dead_letters(3).await;
    let letter = |mid: &str| letters.iter().find(|l| l.event_id.ends_with(mid)).expect("a dead letter per event");
    assert_eq!(letter(":m1").attempts, 1, "not retried: {letters:?}");
    assert_eq!(letter(":m1").error, "returned a permanent error: asked to fail for good");
    assert_eq!(letter(":m2").attempts, 3, "retried: {letters:?}");
    // A permanent failure after a refusal the plugin got past is still the
    // plugin's own: a dead letter at once, with the refusal named.
    assert_eq!(letter(":m3").attempts, 1, "{letters:?}");
    assert!(
        letter(":m3")
            .error
            .starts_with("returned a permanent error: failed for good (the send was refused: true) (after the host refused a call:"),
        "{letters:?}"
    );
    host.stop().await;
}

#[tokio::test]
async fn raw_message_content_reaches_the_send_api_and_the_raw_event_is_readable() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["probe"])]).await;
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m1", "sticker")])).await.status(), 200);
    let sent = host.wait_sent(1).await;
    let sticker = sent.iter().find(|b| addressed_to(b, "u1") && b["message"].get("sticker_id").is_some()).expect("the sticker was sent");
    assert_eq!(sticker["message"], serde_json::json!({"sticker_id": 369239263222822u64}), "{sent:?}");

    let body = text_messages(&[("1001", "u2", "m2", "raw")]);
    let raw_len = serde_json::from_str::<serde_json::Value>(&body).expect("json")["entry"][0]["messaging"][0].to_string().len();
    assert_eq!(host.post_signed(&body).await.status(), 200);
    let reports = host.wait_reports(1).await;
    assert!(reports.iter().any(|r| r == &format!("raw: {raw_len} bytes")), "{reports:?}");
    host.stop().await;
}
