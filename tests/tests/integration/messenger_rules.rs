//! The Messenger Platform rules the host enforces for plugins, shown
//! against the fake Graph API: the messaging window and tags, one-time
//! notifications, thread ownership and standby, error classes with their
//! retries and the Page circuit, per-person order, rate shaping, the
//! business-events API and the user-profile cache.
//!
//! The `probe` plugin reports what happened to `user_ref` `probe-report`,
//! which the host applies no conversation rules to.

use std::time::Duration;

use crate::harness::*;
use serde_json::json;
use switchboard_tests::fake_graph::{ErrorRule, GraphErrorSpec};

const API_TOKEN: &str = "business-api-token-0123456789";

/// Fast Graph retries, and the business-events API on.
fn rules_config() -> String {
    rules_config_with("")
}

/// [`rules_config`] with more lines for its `[graph]` table.
fn rules_config_with(graph: &str) -> String {
    format!("\n[graph]\nretry_first_backoff_ms = 20\nretry_max_backoff_ms = 200\n{graph}\n\n[api]\ntoken = \"{API_TOKEN}\"\n")
}

async fn probe_host() -> TestHost {
    TestHost::start_with(vec![page("1001", "tok-1001", &["probe"])], &rules_config()).await
}

#[tokio::test]
async fn a_response_outside_the_window_is_refused_without_a_graph_call_and_tags_pass() {
    let host = probe_host().await;
    let day_ago = now_ms() - 25 * HOUR_MS;
    // A read now does not reopen the window: only the person's own actions do.
    let read = event("1001", "u1", now_ms() - 1000, json!({"read": {"watermark": now_ms() - 1000}}));
    assert_eq!(host.post_signed(&entry_body("1001", "messaging", vec![read])).await.status(), 200);
    host.settle().await;
    let body = entry_body(
        "1001",
        "messaging",
        vec![
            text_at("1001", "u1", day_ago, "m.old.1", "hello"),
            text_at("1001", "u1", day_ago + 1, "m.old.2", "update"),
            text_at("1001", "u1", day_ago + 2, "m.old.3", "human"),
            text_at("1001", "u1", day_ago + 3, "m.old.4", "tag CONFIRMED_EVENT_UPDATE"),
        ],
    );
    assert_eq!(host.post_signed(&body).await.status(), 200);
    let reports = host.wait_reports(3).await;
    assert_eq!(reports[..2], ["send failed: outside-window standby=false", "send failed: outside-window standby=false"], "{reports:?}");
    assert!(reports[2].starts_with("send failed: invalid-request") && reports[2].contains("CONFIRMED_EVENT_UPDATE"), "{reports:?}");
    // Only the HUMAN_AGENT reply (a person wrote it, within 7 days) went out.
    let calls = calls_to_recipient(&host.fake, "u1");
    assert_eq!(calls.len(), 1, "the refused sends made no Graph call: {calls:?}");
    assert_eq!(calls[0].body["messaging_type"], "MESSAGE_TAG");
    assert_eq!(calls[0].body["tag"], "HUMAN_AGENT");
    assert_eq!(calls[0].body["message"]["text"], "probe: human");

    // A new message reopens the window.
    assert_eq!(
        host.post_signed(&entry_body("1001", "messaging", vec![text_at("1001", "u1", now_ms(), "m.new", "hi")])).await.status(),
        200
    );
    host.wait_sent(5).await;
    assert_eq!(texts_to(&host.fake, "u1"), ["probe: human", "probe: hi"]);
    host.stop().await;
}

#[tokio::test]
async fn a_one_time_notification_token_works_once_outside_the_window_then_fails_locally() {
    let host = probe_host().await;
    let optin = |psid: &str, at: u64, token: &str| {
        event("1001", psid, at, json!({"optin": {"type": "one_time_notif_req", "payload": "restock:lamp", "one_time_notif_token": token}}))
    };
    // Two days ago (the window is closed) and thirteen months ago (expired).
    let body = entry_body(
        "1001",
        "messaging",
        vec![optin("u1", now_ms() - 48 * HOUR_MS, "T-fresh"), optin("u2", now_ms() - 400 * 24 * HOUR_MS, "T-old")],
    );
    assert_eq!(host.post_signed(&body).await.status(), 200);
    assert_eq!(host.wait_reports(2).await, ["optin: restock:lamp", "optin: restock:lamp"]);

    let notify = |token: &str| json!({"token": token, "text": "The lamp is back"});
    assert_eq!(host.post_business("1001", Some(API_TOKEN), &notify("T-fresh"), None).await.status(), 202);
    assert_eq!(host.wait_reports(3).await[2], "notified 1");
    assert_eq!(host.post_business("1001", Some(API_TOKEN), &notify("T-fresh"), None).await.status(), 202);
    let reports = host.wait_reports(5).await;
    assert_eq!(reports[3..], ["notify failed: notification-token-used", "notified 0"], "{reports:?}");
    assert_eq!(host.post_business("1001", Some(API_TOKEN), &notify("T-old"), None).await.status(), 202);
    let reports = host.wait_reports(7).await;
    assert_eq!(reports[5..], ["notify failed: notification-token-expired", "notified 0"], "{reports:?}");

    let calls = calls_to_recipient(&host.fake, "T-fresh");
    assert_eq!(calls.len(), 1, "a token reaches the Graph API once: {calls:?}");
    assert_eq!(calls[0].body["message"]["text"], "The lamp is back");
    assert!(calls[0].body.get("messaging_type").is_none_or(|t| t != "RESPONSE"), "{:?}", calls[0].body);
    assert!(calls_to_recipient(&host.fake, "T-old").is_empty());
    host.stop().await;
}

#[tokio::test]
async fn a_standby_event_reaches_the_plugin_marked_standby_and_its_send_is_refused() {
    let host = probe_host().await;
    let body = entry_body("1001", "standby", vec![text_at("1001", "u1", now_ms(), "m.sb", "hi from standby")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    assert_eq!(host.wait_reports(1).await, ["send failed: not-thread-owner standby=true"]);
    assert!(calls_to_recipient(&host.fake, "u1").is_empty(), "refused locally");

    // The Page Inbox passes the thread back: this app owns it again.
    let pass = event("1001", "u1", now_ms(), json!({"pass_thread_control": {"new_owner_app_id": APP_ID, "metadata": "back to the bot"}}));
    let message = text_at("1001", "u1", now_ms() + 1, "m.back", "hi again");
    assert_eq!(host.post_signed(&entry_body("1001", "messaging", vec![pass, message])).await.status(), 200);
    host.wait_sent(2).await;
    assert_eq!(texts_to(&host.fake, "u1"), ["probe: hi again"]);
    host.stop().await;
}

#[tokio::test]
async fn request_thread_control_is_answered_when_the_page_says_so() {
    let host = TestHost::start_with(
        vec![page("1001", "tok-1001", &["probe"]).with("auto_pass_thread_requests = true"), page("2002", "tok-2002", &["probe"])],
        &rules_config(),
    )
    .await;
    for page_id in ["1001", "2002"] {
        let request = event(
            page_id,
            "u1",
            now_ms(),
            json!({"request_thread_control": {"requested_owner_app_id": "263902037430900", "metadata": "agent"}}),
        );
        assert_eq!(host.post_signed(&entry_body(page_id, "messaging", vec![request])).await.status(), 200);
    }
    let passes = host.fake.wait_for_calls("/pass_thread_control", 1, Duration::from_secs(10)).await;
    host.settle().await;
    let passes: Vec<_> = passes.into_iter().chain(host.fake.calls_to("/pass_thread_control")).map(|c| (c.access_token, c.body)).collect();
    assert!(passes.iter().all(|(token, _)| token.as_deref() == Some("tok-1001")), "only the Page with the option answers: {passes:?}");
    assert_eq!(passes[0].1["target_app_id"], 263902037430900u64);
    assert_eq!(passes[0].1["recipient"]["id"], "u1");
    host.stop().await;
}

#[tokio::test]
async fn rate_limit_then_success_is_retried_and_a_permanent_error_is_not() {
    let host = probe_host().await;
    host.fake.inject_error(ErrorRule::new(GraphErrorSpec::rate_limited_613()).path("/messages").recipient("u1").times(1));
    host.fake.inject_error(ErrorRule::new(GraphErrorSpec::user_unavailable_551()).path("/messages").recipient("u2"));
    let body = text_messages(&[("1001", "u1", "m1", "busy"), ("1001", "u2", "m2", "gone")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    assert_eq!(host.wait_reports(1).await, ["send failed: graph code=551 subcode=1545041 status=400 standby=false"]);
    host.wait_sent(2).await;
    let u1: Vec<u16> = calls_to_recipient(&host.fake, "u1").iter().map(|c| c.status).collect();
    assert_eq!(u1, [400, 200], "613 once, then the retry succeeded");
    assert_eq!(texts_to(&host.fake, "u1"), ["probe: busy"]);
    assert_eq!(calls_to_recipient(&host.fake, "u2").len(), 1, "551 is permanent: no retry");
    host.stop().await;
}

#[tokio::test]
async fn replies_to_one_person_keep_their_order_when_the_first_needed_retries() {
    let host = probe_host().await;
    host.fake.inject_error(ErrorRule::new(GraphErrorSpec::rate_limited_613()).path("/messages").recipient("u1").times(2));
    let body = text_messages(&[("1001", "u1", "m1", "twice"), ("1001", "u1", "m2", "third")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    host.wait_sent(3).await;
    let u1: Vec<(u16, String)> = calls_to_recipient(&host.fake, "u1")
        .iter()
        .map(|c| (c.status, c.body["message"]["text"].as_str().unwrap_or_default().to_string()))
        .collect();
    let expected = [(400, "first"), (400, "first"), (200, "first"), (200, "second"), (200, "probe: third")];
    assert_eq!(u1, expected.map(|(s, t)| (s, t.to_string())), "{u1:?}");
    host.stop().await;
}

#[tokio::test]
async fn an_auth_error_opens_the_page_circuit_and_other_pages_go_on() {
    let host = TestHost::start_with(
        vec![page("1001", "tok-1001", &["probe"]), page("2002", "tok-2002", &["echo"])],
        &(rules_config_with("circuit_open_secs = 60") + "\n[dispatch]\nmax_attempts = 1\nretry_backoff_ms = 10\n"),
    )
    .await;
    host.fake.inject_error(ErrorRule::new(GraphErrorSpec::invalid_token_190()).token("tok-1001"));
    let body = text_messages(&[("1001", "u1", "m1", "first"), ("2002", "u9", "m9", "other page")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    host.wait_sent(1).await;
    assert_eq!(texts_to(&host.fake, "u9"), ["You said: other page"]);
    // Once m1 has failed on its 190 (the circuit opened then), later events
    // of the Page make no Graph call at all.
    assert_eq!(host.wait_dead_letters(1).await.len(), 1);
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u2", "m2", "second"), ("1001", "u3", "m3", "third")])).await.status(), 200);
    let letters = host.wait_dead_letters(3).await;
    assert_eq!(letters.len(), 3, "{letters:?}");
    let error_of = |mid: &str| letters.iter().find(|l| l.event_id.ends_with(mid)).map(|l| l.error.clone()).unwrap_or_default();
    assert!(error_of(":m1").contains("graph code=190"), "{letters:?}");
    for mid in [":m2", ":m3"] {
        assert!(error_of(mid).contains("send failed: page-circuit-open"), "{letters:?}");
    }
    // m1 and m9 fell due together, so they may have shared a batch request
    // that the fake refused for tok-1001 (then only m9 went again).
    let page_calls = host.fake.calls().into_iter().filter(|c| c.access_token.as_deref() == Some("tok-1001")).count();
    assert_eq!(page_calls + host.fake.refused_batches(), 1, "only the request that got the 190 reached the Graph API");
    host.stop().await;
}

#[tokio::test]
async fn a_page_send_rate_spreads_replies_out() {
    const USERS: usize = 30;
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["echo"]).with("send_rate_per_sec = 20")], &rules_config()).await;
    let messages: Vec<(String, String)> = (0..USERS).map(|i| (format!("u{i}"), format!("m{i}"))).collect();
    let refs: Vec<(&str, &str, &str, &str)> = messages.iter().map(|(u, m)| ("1001", u.as_str(), m.as_str(), "hi")).collect();
    assert_eq!(host.post_signed(&text_messages(&refs)).await.status(), 200);
    let sent = host.wait_sent(USERS).await;
    assert_eq!(sent.len(), USERS);
    let times: Vec<_> = host.fake.sent_messages().iter().map(|c| c.at).collect();
    let spread = *times.iter().max().expect("sends") - *times.iter().min().expect("sends");
    // 20/s with a burst of 2: the last of 30 sends waits at least 28/20 s.
    assert!(spread >= Duration::from_millis(1200), "30 sends at 20/s took only {spread:?}");
    host.stop().await;
}

#[tokio::test]
async fn the_business_events_api_authenticates_and_deduplicates() {
    let host = probe_host().await;
    let event = json!({"token": "T-none", "text": "hello"});
    assert_eq!(host.post_business("1001", None, &event, None).await.status(), 401);
    assert_eq!(host.post_business("1001", Some("wrong-token-wrong-token"), &event, None).await.status(), 401);
    assert_eq!(host.post_business("9999", Some(API_TOKEN), &event, None).await.status(), 404);
    let not_json =
        host.http.post(format!("{}/api/pages/1001/events", host.url)).bearer_auth(API_TOKEN).body("{nope").send().await.expect("answers");
    assert_eq!(not_json.status(), 400);

    let first = host.post_business("1001", Some(API_TOKEN), &event, Some("order-17")).await;
    assert_eq!(first.status(), 202);
    let first: serde_json::Value = first.json().await.expect("JSON answer");
    assert_eq!(first["duplicate"], false);
    let again: serde_json::Value = host.post_business("1001", Some(API_TOKEN), &event, Some("order-17")).await.json().await.expect("JSON");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], first["id"]);
    // The probe saw the event once: an unknown token is sent as is (the
    // host cannot know tokens issued before it ran), and the fake accepts it.
    host.wait_reports(1).await;
    host.settle().await;
    assert_eq!(host.wait_reports(1).await, ["notified 1"]);
    host.stop().await;
}

#[tokio::test]
async fn user_profiles_are_fetched_once_and_cached() {
    let host = probe_host().await;
    host.fake.set_user_profile("u1", json!({"first_name": "Ada", "last_name": "Lovelace", "profile_pic": "https://example.com/ada.jpg"}));
    let body = text_messages(&[("1001", "u1", "m1", "profile"), ("1001", "u1", "m2", "profile")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    assert_eq!(host.wait_reports(2).await, ["profile: Ada Lovelace", "profile: Ada Lovelace"]);
    let lookups = host.fake.calls().into_iter().filter(|c| c.method == "GET" && c.path == "/u1").count();
    assert_eq!(lookups, 1, "the second lookup came from the cache");
    host.stop().await;
}
