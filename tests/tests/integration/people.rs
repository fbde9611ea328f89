//! People per Page (issue 20, point 5): who a Page has talked with, with
//! their window, thread owner, account link and open tokens, at `GET
//! /admin/pages/{page}/people` and in `switchboard people`.

use std::time::Duration;

use crate::harness::*;
use serde_json::{json, Value};

const TOKEN: &str = "admin-token-0123456789";

async fn people(host: &TestHost, page: &str, query: &str) -> (u16, Value) {
    let url = format!("{}/admin/pages/{page}/people{query}", host.url);
    let response = host.http.get(url).bearer_auth(TOKEN).send().await.expect("host answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

fn psids(body: &Value) -> Vec<&str> {
    body["people"].as_array().into_iter().flatten().filter_map(|p| p["psid"].as_str()).collect()
}

#[tokio::test]
async fn a_pages_people_are_listed_with_window_owner_link_and_tokens_and_filtered() {
    let pages = vec![page("1001", "tok-1001", &["echo"]), page("1002", "tok-1002", &["echo"])];
    let host = TestHost::start_with(pages, &format!("\n[api]\ntoken = \"{TOKEN}\"\n")).await;
    let now = now_ms();
    let two_days_ago = now - 48 * HOUR_MS;
    let events = vec![
        text_at("1001", "111", now, "m1", "hi"),
        // An old message: the window is closed.
        text_at("1001", "222", two_days_ago, "m2", "old"),
        event(
            "1001",
            "333",
            now,
            json!({"optin": {"type": "one_time_notif_req", "payload": "restock", "one_time_notif_token": "otn-333"}}),
        ),
        event("1001", "444", now, json!({"account_linking": {"status": "linked", "authorization_code": "c"}})),
    ];
    assert_eq!(host.post_signed(&entry_body("1001", "messaging", events)).await.status(), 200);
    assert_eq!(host.post_signed(&text_messages(&[("1002", "999", "m9", "other page")])).await.status(), 200);

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let all = loop {
        let (status, body) = people(&host, "1001", "").await;
        assert_eq!(status, 200, "{body}");
        // The token is written apart from the conversation: wait for both.
        let token_in = body["people"].as_array().into_iter().flatten().any(|p| p["psid"] == "333" && p["tokens"] != json!([]));
        if (psids(&body).len() == 4 && token_in) || std::time::Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(psids(&all), ["111", "222", "333", "444"], "{all:#}");
    assert_eq!(all["next_after"], Value::Null);
    let person = |psid: &str| all["people"].as_array().and_then(|a| a.iter().find(|p| p["psid"] == psid)).cloned().expect("listed");
    let p111 = person("111");
    assert_eq!(
        (&p111["window_open"], &p111["last_interaction"], &p111["last_interaction_ms"]),
        (&true.into(), &"message".into(), &now.into())
    );
    assert_eq!(p111["window_open_until_ms"], json!(now + 24 * HOUR_MS));
    let p222 = person("222");
    assert_eq!((&p222["window_open"], &p222["window_open_until_ms"]), (&false.into(), &json!(two_days_ago + 24 * HOUR_MS)));
    let p333 = person("333");
    assert_eq!(p333["tokens"], json!([{"topic": "restock", "expires_ms": now + 365 * 24 * HOUR_MS}]), "{p333}");
    assert!(!all.to_string().contains("otn-333"), "a token is not shown, only its topic");
    assert_eq!(person("444")["account_link"], "linked");
    assert!(!psids(&all).contains(&"999"), "another Page's people are not listed");

    let (_, open) = people(&host, "1001", "?window=open").await;
    assert_eq!(psids(&open), ["111", "333"], "{open:#}");
    let (_, topic) = people(&host, "1001", "?topic=restock").await;
    assert_eq!(psids(&topic), ["333"]);
    let (_, first) = people(&host, "1001", "?limit=2").await;
    assert_eq!((psids(&first), &first["next_after"]), (vec!["111", "222"], &json!("222")));
    let (_, rest) = people(&host, "1001", "?limit=2&after=222").await;
    assert_eq!(psids(&rest), ["333", "444"]);
    assert_eq!(people(&host, "4242", "").await.0, 404);
    assert_eq!(people(&host, "1001", "?window=closed").await.0, 400);
    let unauthorised = host.http.get(format!("{}/admin/pages/1001/people", host.url)).send().await.expect("answers");
    assert_eq!(unauthorised.status(), 401);
    host.stop().await;
}

#[tokio::test]
async fn switchboard_people_lists_them_from_another_directory() {
    let fx = BinaryFixture::new(&["echo"], "").await;
    let host = fx.start().await;
    let client = reqwest::Client::new();
    let body = entry_body(
        "1001",
        "messaging",
        vec![
            text_at("1001", "111", now_ms(), "m1", "hi"),
            event(
                "1001",
                "333",
                now_ms(),
                json!({"optin": {"type": "one_time_notif_req", "payload": "restock", "one_time_notif_token": "otn-333"}}),
            ),
        ],
    );
    assert_eq!(host.post_signed(&client, &body).await, Some(200));
    fx.fake.wait_for_calls("/messages", 1, Duration::from_secs(10)).await;
    let run = |args: &[&str]| fx.run_from_parent("people", args);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let out = loop {
        let (ok, out) = run(&["1001"]);
        assert!(ok, "{out}");
        if out.lines().count() >= 2 || std::time::Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let line = |psid: &str| out.lines().find(|l| l.starts_with(psid)).unwrap_or_else(|| panic!("no {psid} in\n{out}")).to_string();
    assert!(line("111").contains("(message)") && line("111").contains("window open 23h"), "{out}");
    assert!(line("333").contains("tokens: restock"), "{out}");
    let (ok, topic) = run(&["1001", "--topic", "restock", "--json"]);
    assert!(ok, "{topic}");
    let listed: Value = serde_json::from_str(&topic).unwrap_or_else(|e| panic!("{e}: {topic}"));
    assert_eq!(psids(&listed), ["333"]);
    let (ok, paged) = run(&["1001", "--limit", "1"]);
    assert!(ok && paged.contains("next: --after 111"), "{paged}");
    let (ok, unknown) = run(&["4242"]);
    assert!(!ok && unknown.contains("has no Page 4242"), "{unknown}");
}
