//! The webhook endpoint end to end: handshake, signatures, limits, batching,
//! fast acknowledgements, routing, and the echo plugin's replies.

use std::time::{Duration, Instant};

use crate::harness::*;
use serde_json::json;

#[tokio::test]
async fn verification_handshake() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["echo"])]).await;
    for path in ["/webhook", "/webhook/1234"] {
        let ok = host
            .http
            .get(format!("{}{path}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444", host.url))
            .send()
            .await
            .expect("answers");
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.text().await.expect("body"), "1158201444");
    }
    let challenges = [
        "/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=abc".to_string(),
        format!("/webhook/1234?hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=abc"),
        format!("/webhook/9999?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=abc"),
    ];
    for path in challenges {
        let refused = host.http.get(format!("{}{path}", host.url)).send().await.expect("answers");
        assert_eq!(refused.status(), 403, "{path}");
    }
    host.stop().await;
}

#[tokio::test]
async fn echo_replies_to_text_with_the_pages_token() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["echo"])]).await;
    let response = host.post_signed(&text_messages(&[("1001", "u1", "m1", "hello there")])).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "EVENT_RECEIVED");
    let sent = host.wait_sent(1).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["recipient"], json!({"id": "u1"}));
    assert_eq!(sent[0]["messaging_type"], "RESPONSE");
    assert!(sent[0]["message"]["text"].as_str().expect("text").contains("hello there"));
    assert_eq!(sent[0]["_access_token"], "tok-1001");
    host.stop().await;
}

#[tokio::test]
async fn batched_body_with_two_pages_uses_each_pages_token() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["echo"]), page("2002", "tok-2002", &["echo"])]).await;
    let body = text_messages(&[("1001", "u1", "m1", "for page one"), ("2002", "u2", "m2", "for page two")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    let sent = host.wait_sent(2).await;
    assert_eq!(sent.len(), 2);
    for reply in &sent {
        let text = reply["message"]["text"].as_str().expect("text");
        let expected = if text.contains("page one") { "tok-1001" } else { "tok-2002" };
        assert_eq!(reply["_access_token"], expected, "{reply}");
    }
    host.stop().await;
}

#[tokio::test]
async fn every_event_of_a_batch_is_read() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["echo"])]).await;
    // One entry with three messaging events, and a standby entry.
    // The standby event reaches the plugin, which must not answer it:
    // another app owns that thread.
    let body = json!({"object":"page","entry":[
        {"id":"1001","time":1,"messaging":[
            {"sender":{"id":"a"},"recipient":{"id":"1001"},"timestamp":1700000000001u64,"message":{"mid":"m.a","text":"one"}},
            {"sender":{"id":"b"},"recipient":{"id":"1001"},"timestamp":1700000000002u64,"message":{"mid":"m.b","text":"two"}},
            {"sender":{"id":"c"},"recipient":{"id":"1001"},"timestamp":1700000000003u64,"message":{"mid":"m.c","text":"three"}}]},
        {"id":"1001","time":1,"standby":[
            {"sender":{"id":"d"},"recipient":{"id":"1001"},"timestamp":1700000000004u64,"message":{"mid":"m.d","text":"four"}}]}
    ]});
    assert_eq!(host.post_signed(&fresh(&body.to_string())).await.status(), 200);
    host.wait_sent(3).await;
    host.settle().await;
    let got = texts(&host.wait_sent(3).await);
    assert_eq!(got.len(), 3, "{got:?}");
    for word in ["one", "two", "three"] {
        assert!(got.iter().any(|t| t.contains(word)), "{word} missing from {got:?}");
    }
    host.stop().await;
}

#[tokio::test]
async fn reference_signed_payload_verifies_with_either_header() {
    // messenger4j's fixture: its own secret, body and SHA-1 header, plus the
    // SHA-256 computed by the reference's author.
    let fixture = reference_payload("webhook_text_message_signed");
    let secret = fixture["app_secret"].as_str().expect("secret");
    let raw = fixture["raw_body"].as_str().expect("raw body");
    let sha1 = fixture["headers"]["X-Hub-Signature"].as_str().expect("sha1");
    let sha256 = fixture["headers"]["X-Hub-Signature-256"].as_str().expect("sha256");
    let verifier = switchboard::signature::SignatureVerifier::new(switchboard::config::Secret::new(secret));
    assert!(verifier.verify(raw.as_bytes(), None, Some(sha1)).is_ok());
    assert!(verifier.verify(raw.as_bytes(), Some(sha256), None).is_ok());

    // And over HTTP, against our own app secret.
    let host = TestHost::start(vec![page("1717527131834678", "tok", &["echo"])]).await;
    let (sha256, sha1) = switchboard::signature::sign(APP_SECRET, raw.as_bytes());
    assert_eq!(host.post(raw, &[("X-Hub-Signature", &sha1)]).await.status(), 200, "SHA-1 only");
    assert_eq!(host.post(raw, &[("X-Hub-Signature-256", &sha256)]).await.status(), 200, "SHA-256 only");
    host.stop().await;
}

#[tokio::test]
async fn bad_signatures_are_refused_and_nothing_is_processed() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["echo"])]).await;
    let body = text_messages(&[("1001", "u1", "m1", "forged")]);
    let (_, right_sha1) = switchboard::signature::sign(APP_SECRET, body.as_bytes());
    let (wrong_sha256, wrong_sha1) = switchboard::signature::sign("not-the-secret", body.as_bytes());

    let r = host.post(&body, &[("X-Hub-Signature-256", &wrong_sha256), ("X-Hub-Signature", &right_sha1)]).await;
    assert_eq!(r.status(), 403, "a wrong SHA-256 is refused even with a right SHA-1");
    assert_eq!(host.post(&body, &[("X-Hub-Signature", &wrong_sha1)]).await.status(), 403);
    assert_eq!(host.post(&body, &[]).await.status(), 401);
    assert_eq!(host.post(&body, &[("X-Hub-Signature-256", "sha256=zz")]).await.status(), 403);
    // A body changed after signing.
    let (sha256, _) = switchboard::signature::sign(APP_SECRET, body.as_bytes());
    assert_eq!(host.post(&body.replace("forged", "forgeD"), &[("X-Hub-Signature-256", &sha256)]).await.status(), 403);
    host.settle().await;
    assert!(host.fake.calls().is_empty(), "nothing from a refused body reaches the Graph API");
    host.stop().await;
}

#[tokio::test]
async fn unicode_escaped_bodies_verify_over_the_raw_bytes() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["echo"])]).await;
    // Meta escapes non-ASCII and may escape slashes; the HMAC is over these
    // exact bytes, not over a re-serialization.
    let body = &fresh(
        r#"{"object":"page","entry":[{"id":"1001","time":1700000000000,"messaging":[{"sender":{"id":"u1"},"recipient":{"id":"1001"},"timestamp":1700000000000,"message":{"mid":"m.u","text":"\u00e4\u00f6\u00e5 http:\/\/x.y \ud83d\ude00"}}]}]}"#,
    );
    assert_eq!(host.post_signed(body).await.status(), 200);
    let sent = host.wait_sent(1).await;
    assert!(texts(&sent)[0].contains("äöå http://x.y 😀"), "{sent:?}");
    host.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["echo"])]).await;
    let big = format!("{{\"object\":\"page\",\"entry\":[],\"pad\":\"{}\"}}", "x".repeat(5 * 1024 * 1024));
    assert_eq!(host.post_signed(&big).await.status(), 413);
    // The host is still fine afterwards.
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m1", "after")])).await.status(), 200);
    assert_eq!(host.wait_sent(1).await.len(), 1);
    host.stop().await;
}

#[tokio::test]
async fn acks_stay_fast_while_the_graph_api_is_slow() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["echo"])]).await;
    host.fake.set_delay(Duration::from_secs(3));
    // Warm the connection so the measurement is the handler, not TCP setup.
    assert_eq!(host.post_signed(&text_messages(&[("1001", "warm", "m0", "warm")])).await.status(), 200);
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let body = text_messages(&[("1001", &format!("user{i}"), &format!("mid{i}"), "slow graph")]);
        let started = Instant::now();
        assert_eq!(host.post_signed(&body).await.status(), 200);
        slowest = slowest.max(started.elapsed());
    }
    assert!(slowest < Duration::from_millis(50), "slowest ack took {slowest:?}");
    host.fake.set_delay(Duration::ZERO);
    host.stop().await;
}

#[tokio::test]
async fn malformed_and_foreign_bodies_never_crash_the_host() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["echo"])]).await;
    assert_eq!(host.post_signed("not json at all").await.status(), 400);
    assert_eq!(host.post_signed("[1,2,3]").await.status(), 400);
    assert_eq!(host.post_signed(r#"{"object":"instagram","entry":[{"id":"1001"}]}"#).await.status(), 200);
    let weird = r#"{"object":"page","entry":[7,{"time":1},{"id":"1001","messaging":["x",{"sender":{"id":"u"},"recipient":{"id":"1001"},"timestamp":"1700000000","message":{"mid":"m.w","text":"still here"}}]}]}"#;
    assert_eq!(host.post_signed(&fresh(weird)).await.status(), 200);
    let sent = host.wait_sent(1).await;
    assert!(texts(&sent)[0].contains("still here"));
    host.stop().await;
}

#[tokio::test]
async fn events_for_unknown_pages_are_acknowledged_and_dropped() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["echo"])]).await;
    let body = text_messages(&[("9999", "u1", "m1", "nobody home"), ("1001", "u2", "m2", "someone home")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    let sent = host.wait_sent(1).await;
    host.settle().await;
    let sent_after = host.fake.sent_messages();
    assert_eq!(sent_after.len(), 1, "only the known Page's event is handled");
    assert!(texts(&sent)[0].contains("someone home"));
    host.stop().await;
}

#[tokio::test]
async fn echo_answers_text_and_nothing_else_across_the_reference_payloads() {
    let host = TestHost::start(vec![page("PAGE", "tok", &["echo"])]).await;
    // Every reference webhook, re-addressed to our Page and signed by us.
    let names = [
        "webhook_text_message_basic",
        "webhook_quick_reply",
        "webhook_attachments_image_fallback_location_legacy",
        "webhook_fallback_v6",
        "webhook_text_echo",
        "webhook_standby_echo_media_template",
        "webhook_postback_with_referral",
        "webhook_optin_checkbox_user_ref",
        "webhook_optin_one_time_notif",
        "webhook_optin_notification_messages",
        "webhook_referral_ads",
        "webhook_referral_messenger_code",
        "webhook_referral_customer_chat_plugin",
        "webhook_account_linking_linked",
        "webhook_delivery_with_mids",
        "webhook_read",
        "webhook_reaction",
        "webhook_message_edit",
        "webhook_handover_events",
        "webhook_policy_enforcement",
        "webhook_game_play",
    ];
    let mut expected_texts = Vec::new();
    for name in names {
        let mut payload = reference_payload(name);
        if payload.get("object").is_none() {
            continue;
        }
        for entry in payload["entry"].as_array_mut().expect("entries") {
            entry["id"] = json!("PAGE");
            for lane in ["messaging", "standby"] {
                for event in entry.get_mut(lane).and_then(|l| l.as_array_mut()).map(|a| a.iter_mut()).into_iter().flatten() {
                    // Samples are years old: move them into the messaging window.
                    if event.get("timestamp").is_some() {
                        event["timestamp"] = json!(now_ms());
                    }
                    let m = &event["message"];
                    // Standby messages belong to another app's thread: echo
                    // must stay silent there.
                    if lane == "messaging" && m["text"].is_string() && !m["is_echo"].as_bool().unwrap_or(false) {
                        expected_texts.push(m["text"].as_str().unwrap_or_default().to_string());
                    }
                }
            }
        }
        let status = host.post_signed(&payload.to_string()).await.status();
        assert_eq!(status, 200, "{name}");
    }
    assert!(!expected_texts.is_empty());
    let sent = host.wait_sent(expected_texts.len()).await;
    host.settle().await;
    let replies = texts(&host.fake.sent_messages().iter().map(|c| c.body.clone()).collect::<Vec<_>>());
    assert_eq!(replies.len(), expected_texts.len(), "one reply per user text message: {replies:?} vs {expected_texts:?}");
    for text in &expected_texts {
        assert!(replies.iter().any(|r| r.contains(text.as_str())), "no reply for {text:?}");
    }
    drop(sent);
    host.stop().await;
}

#[tokio::test]
async fn replies_to_one_user_keep_their_order() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["echo"])]).await;
    host.fake.set_delay(Duration::from_millis(20));
    // Twenty messages from one user in separate webhooks, plus noise from
    // others: each user's replies must come back in order.
    for i in 0..20 {
        let body = text_messages(&[
            ("1001", "alice", &format!("a{i}"), &format!("alice #{i:02}")),
            ("1001", &format!("other{i}"), &format!("o{i}"), "noise"),
        ]);
        assert_eq!(host.post_signed(&body).await.status(), 200);
    }
    host.wait_sent(40).await;
    let alice: Vec<String> = host
        .fake
        .sent_messages()
        .iter()
        .filter(|c| c.body["recipient"]["id"] == "alice")
        .filter_map(|c| c.body["message"]["text"].as_str().map(str::to_string))
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("alice #{i:02}")).collect();
    assert_eq!(alice.len(), 20);
    for (got, want) in alice.iter().zip(&expected) {
        assert!(got.contains(want.as_str()), "{alice:?}");
    }
    host.fake.set_delay(Duration::ZERO);
    host.stop().await;
}

/// A signed body captured and posted again after the inbox forgot it
/// (`store.retention_hours`) would run the plugins a second time: an event
/// older than the window is acknowledged and dropped, and counted.
#[tokio::test]
async fn an_event_older_than_the_retention_window_is_dropped_not_replayed() {
    let token = "admin-token-0123456789abcdef";
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["echo"])], &format!("[api]\ntoken = \"{token}\"\n")).await;
    let captured = now_ms() - (TEST_RETENTION_HOURS + 1) * HOUR_MS;
    let recent = now_ms() - HOUR_MS;
    let body = entry_body(
        "1001",
        "messaging",
        vec![text_at("1001", "u1", captured, "m.old", "again"), text_at("1001", "u2", recent, "m.new", "hi")],
    );
    assert_eq!(host.post_signed(&body).await.status(), 200, "acknowledged: Messenger must not redeliver it");
    host.wait_sent(1).await;
    assert_eq!(texts_to(&host.fake, "u2"), ["You said: hi"]);
    let report = host.admin_plugins_when(token, |r| r["pages"][0]["plugins"][0]["health"]["invocations"] == 1).await;
    assert_eq!(report["refused_events"]["older_than_retention"], 1, "{report:#}");
    assert_eq!(report["pages"][0]["plugins"][0]["health"]["invocations"], 1, "echo never saw the old event: {report:#}");
    assert!(host.wait_dead_letters(0).await.is_empty());
    host.stop().await;
}
