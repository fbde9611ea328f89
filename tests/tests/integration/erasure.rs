//! Data deletion (issue 20, point 8): exporting and erasing a person
//! (`GET`/`DELETE /admin/pages/{page}/people/{psid}`, `switchboard people
//! export|erase`), plugins told through `person-erased`, and Meta's data
//! deletion callback (`POST /meta/data-deletion/{app}`, signed_request,
//! ID matching, the status page).

use std::time::Duration;

use crate::harness::*;
use serde_json::{json, Value};
use switchboard::ingress::signed_request::sign_request;
use switchboard_tests::fake_graph::{ErrorRule, GraphErrorSpec};

const TOKEN: &str = "admin-token-0123456789";

fn api() -> String {
    format!("\n[api]\ntoken = \"{TOKEN}\"\n")
}

async fn admin(host: &TestHost, method: reqwest::Method, path: &str) -> (u16, Value) {
    let response = host.http.request(method, format!("{}{path}", host.url)).bearer_auth(TOKEN).send().await.expect("host answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn export(host: &TestHost, page: &str, psid: &str) -> Value {
    let (status, body) = admin(host, reqwest::Method::GET, &format!("/admin/pages/{page}/people/{psid}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits until `path` answers 200; its body.
async fn until_ok(host: &TestHost, path: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = admin(host, reqwest::Method::GET, path).await;
        if status == 200 {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "{path} still answers {status}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn psids(people: &Value) -> Vec<String> {
    people["people"].as_array().into_iter().flatten().filter_map(|p| p["psid"].as_str().map(str::to_string)).collect()
}

/// Two people talk to the probe; one is exported, then erased: every row
/// about them goes (events, sends, conversation, token, problems), the
/// plugin deletes its own keys for them, and the other person keeps all.
#[tokio::test]
async fn erasing_a_person_removes_what_the_host_and_its_plugins_keep_and_nothing_else() {
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["probe"])], &api()).await;
    let now = now_ms();
    let events = vec![
        text_at("1001", "555", now, "m1", "kv set 555:color blue"),
        event(
            "1001",
            "555",
            now + 1,
            json!({"optin": {"type": "one_time_notif_req", "payload": "restock", "one_time_notif_token": "otn-555"}}),
        ),
        text_at("1001", "666", now, "m2", "kv set 666:color red"),
    ];
    assert_eq!(host.post_signed(&entry_body("1001", "messaging", events)).await.status(), 200);
    host.wait_sent(5).await; // two kv reports, two echoes, one optin report
    host.settle().await;

    let before = export(&host, "1001", "555").await;
    assert_eq!(before["events"].as_array().map(Vec::len), Some(2), "{before:#}");
    assert!(before["sends"].as_array().is_some_and(|s| !s.is_empty()), "{before:#}");
    assert!(before["conversation"]["state"].is_object(), "{before:#}");
    assert_eq!(before["notification_tokens"][0]["token"], "otn-555");
    assert!(!before.to_string().contains("666"), "another person's rows are not in the export: {before:#}");

    let (status, queued) = admin(&host, reqwest::Method::DELETE, "/admin/pages/1001/people/555").await;
    assert_eq!(status, 202, "{queued}");
    let request = queued["request"].as_str().expect("a request id").to_string();
    let done = until_ok(&host, &format!("/admin/pages/1001/erasures/{request}")).await;
    let erased = &done["erased"];
    assert_eq!((&erased["events"], &erased["conversations"], &erased["tokens"]), (&json!(2), &json!(1), &json!(1)), "{done}");
    // (m1's first send is recorded before its second; the others were
    // covered by their event's completion.)
    assert_eq!(erased["sends"], 1, "{done}");
    let reports = host.wait_reports(4).await;
    assert!(reports.contains(&"erased 555: 1 keys".to_string()), "the plugin heard of it and deleted its key: {reports:?}");

    let after = export(&host, "1001", "555").await;
    let kinds: Vec<&str> = after["events"].as_array().into_iter().flatten().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["person-erased"], "only the erasure itself is left (until retention): {after:#}");
    assert_eq!((&after["conversation"], &after["notification_tokens"]), (&Value::Null, &json!([])), "{after:#}");
    assert!(!after.to_string().contains("otn-555") && !after.to_string().contains("blue"), "{after:#}");
    let (_, people) = admin(&host, reqwest::Method::GET, "/admin/pages/1001/people").await;
    assert_eq!(psids(&people), ["666"], "{people}");

    // The other person's plugin state and records are untouched; the erased
    // person's key is gone.
    let other = export(&host, "1001", "666").await;
    assert_eq!(other["events"].as_array().map(Vec::len), Some(1));
    let body = text_messages(&[("1001", "666", "m3", "kv get 666:color"), ("1001", "555", "m4", "kv get 555:color")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    let reports = host.wait_reports(6).await;
    assert!(reports.contains(&"kv: red".to_string()) && reports.contains(&"kv: none".to_string()), "{reports:?}");

    // Refusals.
    assert_eq!(admin(&host, reqwest::Method::DELETE, "/admin/pages/4242/people/555").await.0, 404);
    assert_eq!(admin(&host, reqwest::Method::DELETE, "/admin/pages/1001/people/a%20b").await.0, 400);
    let anonymous = host.http.delete(format!("{}/admin/pages/1001/people/666", host.url)).send().await.expect("answers");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(admin(&host, reqwest::Method::GET, "/admin/pages/1001/erasures/op-nope").await.0, 404);
    host.stop().await;
}

/// A webhook cannot erase anyone: an event carrying the person-erased key,
/// even correctly signed, is skipped.
#[tokio::test]
async fn a_webhook_event_posing_as_an_erasure_erases_nothing() {
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["probe"])], &api()).await;
    assert_eq!(host.post_signed(&text_messages(&[("1001", "555", "m1", "hello")])).await.status(), 200);
    host.wait_sent(1).await;
    host.settle().await;
    let forged = event("1001", "555", now_ms(), json!({"switchboard_person_erased": {"request": "forged"}}));
    assert_eq!(host.post_signed(&entry_body("1001", "messaging", vec![forged])).await.status(), 200);
    host.settle().await;
    let (_, people) = admin(&host, reqwest::Method::GET, "/admin/pages/1001/people").await;
    assert_eq!(psids(&people), ["555"], "{people}");
    assert_eq!(admin(&host, reqwest::Method::GET, "/admin/pages/1001/erasures/forged").await.0, 404);
    host.stop().await;
}

fn signed(user_id: &str, secret: &str) -> String {
    let payload = json!({"algorithm": "HMAC-SHA256", "issued_at": now_ms() / 1000, "user_id": user_id});
    format!("signed_request={}", sign_request(secret, &payload))
}

async fn callback(host: &TestHost, app: &str, form: &str) -> (u16, Value) {
    let response = host
        .http
        .post(format!("{}/meta/data-deletion/{app}", host.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .expect("host answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn status_of(host: &TestHost, code: &str, want: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let response = host.http.get(format!("{}/meta/data-deletion/status/{code}", host.url)).send().await.expect("answers");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("JSON");
        if body["status"] == want {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "still {body:#}, not {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Meta's data deletion callback, end to end: the signed request verified,
/// the app-scoped id matched to the person's PSIDs on both Pages of the
/// app, both erased, and a status page that says so without naming them.
#[tokio::test]
async fn metas_data_deletion_callback_erases_the_person_on_every_page_of_the_app() {
    let pages = vec![page("1001", "tok-1001", &["probe"]), page("1002", "tok-1002", &["probe"])];
    let host = TestHost::start_with(pages, &api()).await;
    host.fake.set_page_scoped_ids("8800112233", &[("1001", "555"), ("1002", "556")]);
    let body = text_messages(&[("1001", "555", "m1", "hi"), ("1002", "556", "m2", "hi"), ("1001", "666", "m3", "hi")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    host.wait_sent(3).await;
    host.settle().await;

    let form = signed("8800112233", APP_SECRET);
    let (status, answer) = callback(&host, APP_ID, &form).await;
    assert_eq!(status, 200, "{answer}");
    let code = answer["confirmation_code"].as_str().expect("a code").to_string();
    let url = answer["url"].as_str().expect("a url");
    assert!(url.starts_with("https://127.0.0.1:") && url.ends_with(&format!("/meta/data-deletion/status/{code}")), "{url}");

    let done = status_of(&host, &code, "done").await;
    assert_eq!(done["pages"].as_array().map(Vec::len), Some(2), "{done:#}");
    for page in done["pages"].as_array().into_iter().flatten() {
        assert_eq!(page["erased"]["events"], 1, "{done:#}");
        assert!(page["erased_at_ms"].is_u64());
    }
    let text = done.to_string();
    assert!(!["555", "556", "8800112233", "1001", "1002"].iter().any(|id| text.contains(id)), "the status names no one: {text}");
    for (page_id, gone, kept) in [("1001", "555", Some("666")), ("1002", "556", None)] {
        let (_, people) = admin(&host, reqwest::Method::GET, &format!("/admin/pages/{page_id}/people")).await;
        assert!(!psids(&people).contains(&gone.to_string()), "{people}");
        assert_eq!(psids(&people).first().map(String::as_str), kept);
    }
    let matched = host.fake.calls_to("/ids_for_pages");
    assert_eq!(matched.len(), 1);
    assert_eq!(matched[0].access_token.as_deref(), Some(format!("{APP_ID}|{APP_SECRET}").as_str()));
    assert!(matched[0].query.contains_key("appsecret_proof"));

    // Meta sending it again gets the same code, and nothing runs twice.
    let (_, again) = callback(&host, APP_ID, &form).await;
    assert_eq!(again["confirmation_code"], answer["confirmation_code"]);
    let page = host
        .http
        .get(url.replace("https://", "http://"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");
    assert!(page.contains("Your data has been deleted.") && page.contains(&code), "{page}");

    // Refusals: another secret, an unknown app, no field, an unknown code.
    assert_eq!(callback(&host, APP_ID, &signed("8800112233", "not-the-secret")).await.0, 403);
    assert_eq!(callback(&host, "999", &signed("8800112233", APP_SECRET)).await.0, 404);
    assert_eq!(callback(&host, APP_ID, "user_id=8800112233").await.0, 400);
    let unknown = host.http.get(format!("{}/meta/data-deletion/status/0123abcd", host.url)).send().await.expect("answers");
    assert_eq!(unknown.status(), 404);
    host.stop().await;
}

/// Where Meta does not match the id (restricted in Europe), the request
/// stays pending and says why; when Meta sends it again and the match
/// works, it is carried out.
#[tokio::test]
async fn a_request_meta_cannot_match_stays_pending_and_says_why() {
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["probe"])], &api()).await;
    host.fake.set_page_scoped_ids("77001", &[("1001", "555")]);
    assert_eq!(host.post_signed(&text_messages(&[("1001", "555", "m1", "hi")])).await.status(), 200);
    host.wait_sent(1).await;
    host.settle().await;
    let restricted = GraphErrorSpec::new(400, 10, None, "(#10) This API is not available in your region");
    host.fake.inject_error(ErrorRule::new(restricted).path("/ids_for_pages"));

    let form = signed("77001", APP_SECRET);
    let (status, answer) = callback(&host, APP_ID, &form).await;
    assert_eq!(status, 200);
    let code = answer["confirmation_code"].as_str().expect("code").to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let pending = loop {
        let body = status_of(&host, &code, "pending").await;
        if body["note"].as_str().is_some_and(|n| n.contains("waiting for Meta")) || std::time::Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(pending["note"].as_str().is_some_and(|n| n.contains("not available in your region")), "{pending:#}");
    let (_, people) = admin(&host, reqwest::Method::GET, "/admin/pages/1001/people").await;
    assert_eq!(psids(&people), ["555"], "nothing erased while pending");

    host.fake.clear_injections();
    let (_, again) = callback(&host, APP_ID, &form).await;
    assert_eq!(again["confirmation_code"], code.as_str());
    status_of(&host, &code, "done").await;
    let (_, people) = admin(&host, reqwest::Method::GET, "/admin/pages/1001/people").await;
    assert_eq!(psids(&people), Vec::<String>::new());
    host.stop().await;
}

/// `switchboard people export` and `erase`, as an operator types them in
/// another directory with a relative `--config`.
#[tokio::test]
async fn switchboard_people_export_and_erase_from_another_directory() {
    let fx = BinaryFixture::new(&["echo"], &api()).await;
    let host = fx.start().await;
    let client = reqwest::Client::new();
    assert_eq!(host.post_signed(&client, &text_messages(&[("1001", "555", "m1", "hello there")])).await, Some(200));
    fx.fake.wait_for_calls("/messages", 1, Duration::from_secs(10)).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let exported = loop {
        let (ok, out) = fx.run_from_parent("people", &["export", "1001", "555"]);
        assert!(ok, "{out}");
        let record: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        if record["conversation"].is_object() || std::time::Instant::now() > deadline {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(exported["events"][0]["event"]["message"]["text"], "hello there", "{exported:#}");
    let (ok, out) = fx.run_from_parent("people", &["export", "1001", "555", "--output", "555.json"]);
    assert!(ok, "{out}");
    let parent = fx.dir.path().parent().expect("parent");
    let written = std::fs::read_to_string(parent.join("555.json")).expect("written beside where it ran");
    let _ = std::fs::remove_file(parent.join("555.json"));
    assert!(written.contains("hello there"));

    let (ok, out) = fx.run_from_parent("people", &["erase", "1001", "555"]);
    assert!(ok, "{out}");
    assert!(out.contains("erased: 1 events (0 dead letters)") && out.contains("1 conversation"), "{out}");
    let (ok, out) = fx.run_from_parent("people", &["1001"]);
    assert!(ok && out.trim() == "nobody", "{out}");
    let (ok, out) = fx.run_from_parent("people", &["erase", "4242", "555"]);
    assert!(!ok && out.contains("has no Page 4242"), "{out}");
}
