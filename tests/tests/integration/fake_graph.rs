//! The fake Graph API itself behaves like the reference, errors included:
//! the tests of everything else are only as good as it is.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard_tests::fake_graph::{ErrorRule, FakeGraph, GraphErrorSpec};

async fn post(fake: &FakeGraph, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut url = format!("{}{path}", fake.base_url());
    if let Some(t) = token {
        url.push_str(&format!("?access_token={t}"));
    }
    let r = reqwest::Client::new().post(url).json(&body).send().await.expect("fake answers");
    (r.status().as_u16(), r.json().await.expect("JSON body"))
}

fn text(psid: &str, text: &str) -> Value {
    json!({"recipient":{"id":psid},"messaging_type":"RESPONSE","message":{"text":text}})
}

#[tokio::test]
async fn send_api_success_and_token_errors() {
    let fake = FakeGraph::start().await.expect("starts");
    fake.register_page("1001", "tok", "1234");
    let (status, body) = post(&fake, "/me/messages", Some("tok"), text("u1", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(body["recipient_id"], "u1");
    assert!(body["message_id"].as_str().expect("message id").starts_with("m_"));

    let (status, body) = post(&fake, "/me/messages", None, text("u1", "hi")).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(2500)));
    let (status, body) = post(&fake, "/me/messages", Some("nope"), text("u1", "hi")).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(190)));
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(body["error"]["fbtrace_id"].is_string());
    let (status, _) = post(&fake, "/2002/messages", Some("tok"), text("u1", "hi")).await;
    assert_eq!(status, 400, "a Page token cannot send for another Page");

    // Sender actions answer without a message id.
    let (status, body) = post(&fake, "/me/messages", Some("tok"), json!({"recipient":{"id":"u1"},"sender_action":"typing_on"})).await;
    assert_eq!((status, body), (200, json!({"recipient_id":"u1"})));
    assert_eq!(fake.sent_count(), 1, "only messages count as sent");
    assert_eq!(fake.calls().len(), 5, "every call is recorded, failures included");
}

#[tokio::test]
async fn validation_follows_the_reference_limits() {
    let fake = FakeGraph::start().await.expect("starts");
    fake.register_page("1001", "tok", "1234");
    let (status, body) = post(&fake, "/me/messages", Some("tok"), json!({"message":{"text":"x"}})).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(100)));
    let long = "x".repeat(2001);
    assert_eq!(post(&fake, "/me/messages", Some("tok"), text("u", &long)).await.0, 400);
    let both = json!({"recipient":{"id":"u"},"message":{"text":"x"},"sender_action":"mark_seen"});
    let (_, body) = post(&fake, "/me/messages", Some("tok"), both).await;
    assert_eq!(body["error"]["error_subcode"], 2018014);
    let (status, body) = post(&fake, "/me/unknown_edge", Some("tok"), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(100)));
}

#[tokio::test]
async fn injected_errors_fire_as_often_as_asked() {
    let fake = FakeGraph::start().await.expect("starts");
    fake.register_page("1001", "tok", "1234");
    fake.inject_error(ErrorRule::new(GraphErrorSpec::rate_limited_613()).path("/messages").times(1));
    fake.inject_error(ErrorRule::new(GraphErrorSpec::transient_2()).recipient("flaky"));
    let (status, body) = post(&fake, "/me/messages", Some("tok"), text("u1", "a")).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(613)));
    assert_eq!(post(&fake, "/me/messages", Some("tok"), text("u1", "b")).await.0, 200, "fires once");
    let (status, body) = post(&fake, "/me/messages", Some("tok"), text("flaky", "c")).await;
    assert_eq!((status, body["error"]["is_transient"].as_bool()), (500, Some(true)));
    assert_eq!(post(&fake, "/me/messages", Some("tok"), text("flaky", "d")).await.0, 500, "fires every time");
    fake.clear_injections();
    assert_eq!(post(&fake, "/me/messages", Some("tok"), text("flaky", "e")).await.0, 200);
}

#[tokio::test]
async fn thread_control_is_tracked_and_enforced() {
    let fake = FakeGraph::start().await.expect("starts");
    fake.register_page("1001", "tok", "1234");
    fake.enforce_thread_control("1001", true);
    let pass = json!({"recipient":{"id":"u1"},"target_app_id":263902037430900u64});
    assert_eq!(post(&fake, "/me/pass_thread_control", Some("tok"), pass).await, (200, json!({"success":true})));
    assert_eq!(fake.thread_owner("1001", "u1").as_deref(), Some("263902037430900"));
    let (status, body) = post(&fake, "/me/messages", Some("tok"), text("u1", "mine?")).await;
    assert_eq!((status, body["error"]["error_subcode"].as_i64()), (400, Some(2018300)));
    let owner: Value = reqwest::get(format!("{}/me/thread_owner?recipient=u1&access_token=tok", fake.base_url()))
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(owner["data"][0]["thread_owner"]["app_id"], "263902037430900");
    assert_eq!(post(&fake, "/me/take_thread_control", Some("tok"), json!({"recipient":{"id":"u1"}})).await.0, 200);
    assert_eq!(post(&fake, "/me/messages", Some("tok"), text("u1", "mine again")).await.0, 200);
}

#[tokio::test]
async fn delays_apply_and_profiles_are_stored() {
    let fake = FakeGraph::start().await.expect("starts");
    fake.register_page("1001", "tok", "1234");
    fake.set_delay_for("/messages", Duration::from_millis(200));
    let started = Instant::now();
    post(&fake, "/me/messages", Some("tok"), text("u1", "slow")).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    let started = Instant::now();
    let greeting = json!({"greeting":[{"locale":"default","text":"Hello!"}]});
    assert_eq!(post(&fake, "/me/messenger_profile", Some("tok"), greeting).await, (200, json!({"result":"success"})));
    assert!(started.elapsed() < Duration::from_millis(200), "other paths are not delayed");
    assert_eq!(fake.messenger_profile("1001")["greeting"][0]["text"], "Hello!");
}

#[tokio::test]
async fn the_batch_api_answers_each_item_as_its_own_call() {
    let fake = FakeGraph::start().await.expect("starts");
    fake.register_page("1001", "tok", "1234");
    fake.register_page("2002", "tok2", "1234");
    fake.inject_error(ErrorRule::new(GraphErrorSpec::rate_limited_613().header("Retry-After", "3")).recipient("u2").times(1));
    // The reference's request shape: form-encoded item bodies, JSON fields.
    let item = |psid: &str, token: Option<&str>| {
        let mut body = format!("messaging_type=UPDATE&recipient=%7B%22id%22%3A%22{psid}%22%7D&message=%7B%22text%22%3A%22Hello%22%7D");
        if let Some(t) = token {
            body.push_str(&format!("&access_token={t}"));
        }
        json!({"method":"POST","relative_url":"me/messages","body":body})
    };
    let batch = json!({"access_token":"tok","include_headers":true,"batch":[item("u1", None), item("u2", None), item("u3", Some("tok2"))]});
    let (status, answers) = post(&fake, "/", None, batch).await;
    assert_eq!(status, 200);
    let answers = answers.as_array().expect("one answer per item");
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0]["code"], 200);
    assert_eq!(answers[0]["headers"][0], json!({"name":"Content-Type","value":"text/javascript; charset=UTF-8"}));
    let body = |i: usize| serde_json::from_str::<Value>(answers[i]["body"].as_str().expect("body is JSON text")).expect("JSON");
    assert_eq!(body(0)["recipient_id"], "u1");
    assert_eq!(answers[1]["code"], 400);
    assert_eq!(body(1)["error"]["code"], 613);
    assert!(answers[1]["headers"].as_array().expect("headers").contains(&json!({"name":"Retry-After","value":"3"})));
    assert_eq!(answers[2]["code"], 200);

    // Each item is recorded as the call it stands for, with its own token.
    let calls = fake.calls_to("/me/messages");
    let seen: Vec<(Option<&str>, &Value, u16)> =
        calls.iter().map(|c| (c.access_token.as_deref(), &c.body["recipient"]["id"], c.status)).collect();
    assert_eq!(seen, [(Some("tok"), &json!("u1"), 200), (Some("tok"), &json!("u2"), 400), (Some("tok2"), &json!("u3"), 200)]);
    assert_eq!(calls[0].body["message"], json!({"text":"Hello"}));
    assert_eq!(fake.batch_sizes(), [3]);

    // Items left unanswered are null and not run.
    fake.leave_batch_items_unanswered(1);
    let (_, answers) = post(&fake, "/", None, json!({"access_token":"tok","batch":[item("u4", None), item("u5", None)]})).await;
    assert_eq!(answers[0], Value::Null);
    assert_eq!(answers[1]["code"], 200);
    assert!(fake.calls_to("/me/messages").iter().all(|c| c.body["recipient"]["id"] != "u4"));

    // Whole-request errors: too many items, no batch, a bad token.
    let many = json!({"access_token":"tok","batch":(0..51).map(|i| item(&format!("x{i}"), None)).collect::<Vec<_>>()});
    let (status, error) = post(&fake, "/", None, many).await;
    assert_eq!((status, error["error"]["code"].as_i64()), (400, Some(100)));
    assert!(error["error"]["message"].as_str().expect("message").contains("Maximum batch size is 50"));
    assert_eq!(post(&fake, "/", None, json!({"access_token":"tok"})).await.0, 400);
    let (status, error) = post(&fake, "/", None, json!({"access_token":"nope","batch":[item("u6", None)]})).await;
    assert_eq!((status, error["error"]["code"].as_i64()), (400, Some(190)));
    assert_eq!(fake.batch_sizes(), [3, 2], "refused requests run nothing");
}
