//! The recent problems (issue 20, point 4): what went wrong per Page and on
//! the host, at `GET /admin/errors` and in `switchboard errors`, against
//! the real host and its binary.

use std::io::BufRead as _;
use std::process::Stdio;
use std::time::Duration;

use crate::harness::*;
use serde_json::Value;
use switchboard_tests::fake_graph::{ErrorRule, GraphErrorSpec};

const TOKEN: &str = "admin-token-0123456789";

async fn admin_errors(host: &TestHost, query: &str) -> (u16, Value) {
    let response = host.http.get(format!("{}/admin/errors{query}", host.url)).bearer_auth(TOKEN).send().await.expect("host answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// `GET /admin/errors{query}` once `ready` holds of its list (or after 10
/// s): problems reach the store a moment after the event that caused them.
async fn errors_when(host: &TestHost, query: &str, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = admin_errors(host, query).await;
        assert_eq!(status, 200, "{body}");
        let errors = body["errors"].as_array().cloned().unwrap_or_default();
        if ready(&errors) || std::time::Instant::now() > deadline {
            return errors;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn of_kind<'a>(errors: &'a [Value], kind: &str) -> Vec<&'a Value> {
    errors.iter().filter(|e| e["kind"] == kind).collect()
}

#[tokio::test]
async fn refused_webhooks_plugin_failures_graph_errors_dead_letters_and_circuits_are_recorded_per_page() {
    let extra = format!("\n[api]\ntoken = \"{TOKEN}\"\n");
    let pages = vec![page("1001", "tok-1001", &["echo"]), page("1002", "tok-1002", &["faulty"]), page("1003", "tok-1003", &["echo"])];
    let host = TestHost::start_with(pages, &extra).await;
    let (status, _) = {
        let r = host.http.get(format!("{}/admin/errors", host.url)).send().await.expect("answers");
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 401, "the admin token is asked for");

    let good = text_messages(&[("1001", "u1", "m1", "hello")]);
    let (forged, _) = switchboard::signature::sign("not-the-secret", good.as_bytes());
    assert_eq!(host.post(&good, &[("X-Hub-Signature-256", &forged)]).await.status(), 403);
    assert_eq!(host.post_signed(&text_messages(&[("7777", "u1", "m0", "who")])).await.status(), 200);
    // A plugin failing every attempt (3 here) ends in the dead letters.
    assert_eq!(host.post_signed(&text_messages(&[("1002", "u2", "m2", "err")])).await.status(), 200);
    // Meta refuses a send; and another Page's token, which opens its circuit.
    host.fake.inject_error(ErrorRule::new(GraphErrorSpec::user_unavailable_551()).token("tok-1001").times(1));
    host.fake.inject_error(ErrorRule::new(GraphErrorSpec::invalid_token_190()).token("tok-1003"));
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u3", "m3", "refused")])).await.status(), 200);
    assert_eq!(host.post_signed(&text_messages(&[("1003", "u4", "m4", "hi")])).await.status(), 200);

    let all = errors_when(&host, "", |e| {
        // 1003's event dead-letters last, after its circuit refused it.
        ["1002", "1003"].iter().all(|p| of_kind(e, "dead_letter").iter().any(|d| d["page"] == *p))
            && of_kind(e, "graph_error").len() >= 2
            && of_kind(e, "page_circuit_opened").len() == 1
    })
    .await;
    let shown = serde_json::to_string_pretty(&all).expect("JSON");
    let refused = of_kind(&all, "webhook_refused");
    assert!(
        refused
            .iter()
            .any(|e| e["page"].is_null() && e["class"] == "bad_signature" && e["message"].as_str().is_some_and(|m| m.contains("403"))),
        "{shown}"
    );
    assert!(refused.iter().any(|e| e["class"] == "unknown_page" && e["message"].as_str().is_some_and(|m| m.contains("7777"))), "{shown}");
    assert!(refused.iter().all(|e| e["page"].is_null()), "refusals are the host's own: {shown}");
    let failed: Vec<&Value> = of_kind(&all, "plugin_failed").into_iter().filter(|e| e["page"] == "1002").collect();
    assert_eq!(failed.len(), 3, "each attempt: {shown}");
    assert!(failed.iter().all(|e| e["plugin"] == "faulty" && e["class"] == "error"), "{shown}");
    // A plugin's call the host or Meta refused is a failure of another class.
    assert!(
        of_kind(&all, "plugin_failed").iter().any(|e| e["page"] == "1001" && e["class"] == "host-refused" && e["plugin"] == "echo"),
        "{shown}"
    );
    assert!(failed[0]["event"].as_str().is_some_and(|e| e.contains("m2")), "{shown}");
    let dead: Vec<&Value> = of_kind(&all, "dead_letter").into_iter().filter(|e| e["page"] == "1002").collect();
    assert_eq!((dead.len(), dead[0]["event"].as_str().is_some_and(|e| e.contains("m2"))), (1, true), "{shown}");
    let graph: Vec<&Value> = of_kind(&all, "graph_error").into_iter().filter(|e| e["page"] == "1001").collect();
    assert_eq!(graph.len(), 1, "{shown}");
    assert_eq!((&graph[0]["code"], &graph[0]["class"]), (&551.into(), &"permanent".into()), "{shown}");
    assert!(graph[0]["fbtrace_id"].as_str().is_some_and(|t| !t.is_empty()), "Meta's trace id, for a bug report: {shown}");
    let circuit = of_kind(&all, "page_circuit_opened");
    assert_eq!(circuit.iter().map(|c| (&c["page"], &c["class"])).collect::<Vec<_>>(), [(&"1003".into(), &"auth".into())], "{shown}");
    assert!(all.iter().all(|e| e["at"].as_str().is_some_and(|t| t.ends_with('Z')) && e["id"].is_i64()), "{shown}");
    assert!(all.windows(2).all(|w| w[0]["at_ms"].as_i64() <= w[1]["at_ms"].as_i64()), "oldest first: {shown}");
    // A failure comes before the dead letter it caused.
    let position = |e: &Value| all.iter().position(|x| x["id"] == e["id"]).expect("listed");
    assert!(failed.iter().all(|f| position(f) < position(dead[0])), "{shown}");

    // Filters: one Page's, the host's own, what came after an id, since.
    let page_1002 = errors_when(&host, "?page=1002", |_| true).await;
    assert!(!page_1002.is_empty() && page_1002.iter().all(|e| e["page"] == "1002"), "{page_1002:?}");
    let own = errors_when(&host, "?page=host", |_| true).await;
    assert!(own.len() >= 2 && own.iter().all(|e| e["page"].is_null()), "{own:?}");
    let (_, body) = admin_errors(&host, "").await;
    let next = body["next_after"].as_i64().expect("next_after");
    let (_, after) = admin_errors(&host, &format!("?after={next}")).await;
    assert_eq!(after["errors"], serde_json::json!([]), "nothing new");
    assert_eq!(after["next_after"], next);
    let (_, limited) = admin_errors(&host, "?limit=2").await;
    let newest: Vec<&Value> = all.iter().rev().take(2).rev().collect();
    let limited: Vec<&Value> = limited["errors"].as_array().into_iter().flatten().map(|e| &e["id"]).collect();
    assert_eq!(limited, newest.iter().map(|e| &e["id"]).collect::<Vec<_>>());
    let (_, future) = admin_errors(&host, &format!("?since={}", now_ms() + 60_000)).await;
    assert_eq!(future["errors"], serde_json::json!([]));
    let (status, bad) = admin_errors(&host, "?since=yesterday").await;
    assert_eq!(status, 400);
    assert!(bad["error"].as_str().is_some_and(|e| e.contains("neither an age")), "{bad}");
    host.stop().await;
}

/// A flood of forged webhooks is recorded a few times a second, the rest
/// counted, so it neither floods the store nor pushes a Page's problems
/// out of the record; nothing is lost from the count.
#[tokio::test]
async fn a_flood_of_forged_webhooks_is_counted_without_pushing_out_the_pages_problems() {
    let host = TestHost::start_with(vec![page("1002", "tok-1002", &["faulty"])], &format!("\n[api]\ntoken = \"{TOKEN}\"\n")).await;
    assert_eq!(host.post_signed(&text_messages(&[("1002", "u2", "m2", "err")])).await.status(), 200);
    errors_when(&host, "?page=1002", |e| !of_kind(e, "dead_letter").is_empty()).await;
    let body = text_messages(&[("1002", "u1", "m1", "hello")]);
    let (forged, _) = switchboard::signature::sign("not-the-secret", body.as_bytes());
    const FLOOD: u64 = 600;
    for _ in 0..FLOOD {
        assert_eq!(host.post(&body, &[("X-Hub-Signature-256", &forged)]).await.status(), 403);
    }
    let counted = |e: &[Value]| -> u64 { of_kind(e, "webhook_refused").iter().map(|p| 1 + p["repeated"].as_u64().unwrap_or(0)).sum() };
    // The last second's held-back problem is written when its second ends.
    let own = errors_when(&host, "?page=host&limit=1000", |e| counted(e) == FLOOD).await;
    assert_eq!(counted(&own), FLOOD, "every forged webhook is in the count: {own:?}");
    assert!(own.len() < 100, "recorded {} rows for {FLOOD} forgeries", own.len());
    let page = errors_when(&host, "?page=1002", |_| true).await;
    assert_eq!(of_kind(&page, "dead_letter").len(), 1, "the Page's own problems are still there");
    host.stop().await;
}

/// `switchboard errors`, as an operator runs it: from another directory,
/// with a relative `--config`, beside a running host; `--follow` prints
/// what happens next.
#[tokio::test]
async fn switchboard_errors_prints_and_follows_the_recent_problems() {
    let fx = BinaryFixture::new(&["faulty"], "\n[dispatch]\nretry_backoff_ms = 10\nmax_attempts = 3\n").await;
    let errors = |args: &[&str]| fx.run_from_parent("errors", args);
    let host = fx.start().await;
    let client = reqwest::Client::new();
    assert_eq!(host.post_signed(&client, &text_messages(&[("1001", "u1", "m1", "err")])).await, Some(200));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let out = loop {
        let (ok, out) = errors(&["--page", "1001"]);
        assert!(ok, "{out}");
        if out.contains("dead_letter") || std::time::Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(out.lines().any(|l| l.contains("page 1001  plugin_failed (error)  plugin faulty  event ") && l.contains("m1")), "{out}");
    assert!(out.lines().any(|l| l.contains("page 1001  dead_letter")), "{out}");
    let (ok, json) = errors(&["--json", "--limit", "1"]);
    assert!(ok, "{json}");
    let last: Value = serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(last["kind"], "dead_letter", "the newest, of\n{}", errors(&["--json"]).1);
    let (ok, none) = errors(&["--since", "2099-01-01T00:00:00Z"]);
    assert!(ok && none.contains("no problems recorded in that time"), "{none}");
    let (ok, bad) = errors(&["--since", "soon"]);
    assert!(!ok && bad.contains("neither an age"), "{bad}");

    let mut follow = fx.command_from_parent("errors").args(["--follow", "--since", "1s"]).stdout(Stdio::piped()).spawn().expect("runs");
    let stdout = follow.stdout.take().expect("piped");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(host.post_signed(&client, &text_messages(&[("1001", "u2", "m-later", "err")])).await, Some(200));
    let seen = (0..40).find_map(|_| lines_rx.recv_timeout(Duration::from_millis(500)).ok().filter(|l| l.contains("m-later")));
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(seen.is_some_and(|l| l.contains("plugin_failed")), "--follow printed the new failure");
}
