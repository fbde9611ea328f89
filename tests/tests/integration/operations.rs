//! What operators watch (issue 20): `/metrics`, `/livez`, `/readyz` and the
//! JSON log format, against the real host and its binary.

use std::time::Duration;

use crate::harness::*;
use switchboard_tests::fake_graph::{ErrorRule, GraphErrorSpec};

/// The value of the sample `name{labels…}`, where every `(key, value)` of
/// `labels` is among its labels (others may be there too).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        let has_all = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        (metric == name && has_all).then(|| value.parse().ok()).flatten()
    })
}

/// The sum of every sample `name{labels…}` (over the labels not given).
fn total(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            let has_all = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            (metric == name && has_all).then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

async fn scrape(host: &TestHost) -> String {
    let response = host.http.get(format!("{}/metrics", host.url)).send().await.expect("host answers");
    assert_eq!(response.status(), 200);
    let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    response.text().await.expect("body")
}

/// Scrapes until `ready` holds for the text (the host records some
/// outcomes just after the reply is sent), for up to 10 s.
async fn scrape_until(host: &TestHost, ready: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(host).await;
        if ready(&text) || std::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn metrics_count_webhooks_events_plugins_graph_calls_and_commits_by_page_never_by_person() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["echo"]), page("1002", "tok-1002", &["faulty"])]).await;
    let person = "48151623420815";
    let good = text_messages(&[("1001", person, "m1", "hello")]);
    assert_eq!(host.post_signed(&good).await.status(), 200);
    assert_eq!(host.post_signed(&good).await.status(), 200, "a redelivery");
    assert_eq!(host.post(&good, &[]).await.status(), 401);
    let (forged, _) = switchboard::signature::sign("not-the-secret", good.as_bytes());
    assert_eq!(host.post(&good, &[("X-Hub-Signature-256", &forged)]).await.status(), 403);
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(5 * 1024 * 1024));
    assert_eq!(host.post_signed(&big).await.status(), 413);
    assert_eq!(host.post_signed(&text_messages(&[("7777", person, "m2", "who")])).await.status(), 200);
    assert_eq!(host.wait_sent(1).await.len(), 1);
    // A plugin that fails every attempt (3 in these tests), and a send Meta
    // refuses with a code.
    assert_eq!(host.post_signed(&text_messages(&[("1002", "u2", "m3", "err")])).await.status(), 200);
    host.fake.inject_error(ErrorRule::new(GraphErrorSpec::user_unavailable_551()).times(1));
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u3", "m4", "refused")])).await.status(), 200);

    let text = scrape_until(&host, |t| {
        sample(t, "switchboard_events_processed_total", &[("page", "1002"), ("outcome", "dead_letter")]) == Some(1.0)
            && sample(t, "switchboard_graph_calls_total", &[("code", "551")]).is_some()
            && total(t, "switchboard_events_processed_total", &[("page", "1001")]) == 2.0
            && sample(t, "switchboard_queue_depth", &[]) == Some(0.0)
    })
    .await;
    let value =
        |name: &str, labels: &[(&str, &str)]| sample(&text, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in\n{text}"));
    assert_eq!(value("switchboard_webhooks_total", &[("outcome", "accepted")]), 5.0);
    assert_eq!(value("switchboard_webhooks_total", &[("outcome", "unsigned")]), 1.0);
    assert_eq!(value("switchboard_webhooks_total", &[("outcome", "bad_signature")]), 1.0);
    assert_eq!(value("switchboard_webhooks_total", &[("outcome", "too_large")]), 1.0);
    assert_eq!(value("switchboard_webhook_ack_duration_seconds_count", &[]), 8.0);
    assert_eq!(value("switchboard_events_refused_total", &[("reason", "unknown_page")]), 1.0);
    assert_eq!(value("switchboard_events_accepted_total", &[("page", "1001")]), 2.0);
    assert_eq!(value("switchboard_events_duplicate_total", &[("page", "1001")]), 1.0);
    // m1 complete; m4's send refused by Meta: complete or finished, by
    // what echo makes of the refusal. Either way, two events ended.
    assert!(value("switchboard_events_processed_total", &[("page", "1001"), ("outcome", "complete")]) >= 1.0);
    assert_eq!(total(&text, "switchboard_events_processed_total", &[("page", "1001")]), 2.0);
    assert_eq!(value("switchboard_events_retried_total", &[("page", "1002")]), 2.0);
    assert!(value("switchboard_plugin_invocations_total", &[("page", "1001"), ("plugin", "echo"), ("outcome", "ok")]) >= 1.0);
    assert_eq!(total(&text, "switchboard_plugin_invocations_total", &[("page", "1001"), ("plugin", "echo")]), 2.0);
    assert_eq!(value("switchboard_plugin_invocations_total", &[("page", "1002"), ("plugin", "faulty"), ("outcome", "error")]), 3.0);
    assert!(value("switchboard_plugin_cpu_seconds_total", &[("plugin", "echo")]) > 0.0);
    assert_eq!(value("switchboard_plugin_duration_seconds_count", &[("page", "1001"), ("plugin", "echo")]), 2.0);
    assert_eq!(value("switchboard_graph_calls_total", &[("page", "1001"), ("outcome", "ok")]), 1.0);
    assert_eq!(value("switchboard_graph_calls_total", &[("page", "1001"), ("outcome", "permanent"), ("code", "551")]), 1.0);
    assert_eq!(value("switchboard_graph_batch_sends_count", &[]), 2.0);
    assert!(value("switchboard_store_commit_duration_seconds_count", &[]) >= 1.0);
    assert_eq!(value("switchboard_queue_depth", &[]), 0.0);
    assert_eq!(value("switchboard_plugins_loaded", &[]), 1.0);
    assert_eq!(value("switchboard_page_circuit_open", &[("page", "1001")]), 0.0);
    assert_eq!(value("switchboard_plugin_circuit_open", &[("page", "1002"), ("plugin", "faulty")]), 0.0);
    assert!(!text.contains(person), "a person's id must never label a series:\n{text}");
    host.stop().await;
}

#[tokio::test]
async fn metrics_ask_for_the_token_when_one_is_set() {
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["echo"])], "\n[metrics]\ntoken = \"metrics-token-0123456789\"\n").await;
    let url = format!("{}/metrics", host.url);
    assert_eq!(host.http.get(&url).send().await.expect("answers").status(), 401);
    assert_eq!(host.http.get(&url).bearer_auth("wrong-token-0123456789").send().await.expect("answers").status(), 401);
    let ok = host.http.get(&url).bearer_auth("metrics-token-0123456789").send().await.expect("answers");
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.expect("body").contains("switchboard_queue_depth"));
    host.stop().await;
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["echo"])], "\n[metrics]\nenabled = false\n").await;
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m1", "hi")])).await.status(), 200);
    assert_eq!(host.wait_sent(1).await.len(), 1);
    let response = host.http.get(format!("{}/metrics", host.url)).send().await.expect("answers");
    assert_eq!(response.status(), 404);
    host.stop().await;
}

async fn readyz(host: &TestHost) -> (u16, serde_json::Value) {
    let response = host.http.get(format!("{}/readyz", host.url)).send().await.expect("host answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn readyz_fails_while_the_queue_is_full_and_livez_does_not() {
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["echo"])], "\n[dispatch]\nmax_queued_events = 2\n").await;
    let (status, body) = readyz(&host).await;
    assert_eq!(
        (status, &body["ready"], &body["store"]["ok"], &body["plugins_loaded"]),
        (200, &true.into(), &true.into(), &true.into()),
        "{body}"
    );
    // The first reply waits on a slow Graph API; the second waits behind it.
    host.fake.set_delay(Duration::from_secs(3));
    for (mid, at) in [("m1", 0), ("m2", 1)] {
        let body = serde_json::json!({"object": "page", "entry": [{"id": "1001", "time": now_ms(), "messaging": [
            text_at("1001", "u1", now_ms() + at, mid, "hi")]}]});
        assert_eq!(host.post_signed(&body.to_string()).await.status(), 200);
    }
    let (status, body) = readyz(&host).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        (&body["queue"]["ok"], &body["queue"]["depth"], &body["queue"]["capacity"]),
        (&false.into(), &2.into(), &2.into()),
        "{body}"
    );
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u2", "m3", "more")])).await.status(), 503, "the webhook agrees");
    for path in ["/livez", "/healthz"] {
        let live = host.http.get(format!("{}{path}", host.url)).send().await.expect("answers");
        assert_eq!(live.status(), 200, "{path}: the process serves; restarting it would not help");
    }
    host.fake.set_delay(Duration::ZERO);
    assert_eq!(host.wait_sent(2).await.len(), 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while readyz(&host).await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "ready again once the queue drained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    host.stop().await;
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_page_plugin_and_event_fields() {
    let fx = BinaryFixture::new(&["faulty"], "\n[log]\nformat = \"json\"\n").await;
    let child = std::process::Command::new(host_binary())
        .args(["run", "--config"])
        .arg(&fx.config)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("host binary starts");
    let mut child = ChildGuard(child);
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while client.get(format!("http://127.0.0.1:{}/livez", fx.port)).send().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "host did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let forged = "m-forge";
    // `forge` logs a line and aborts; `hi`, from someone else, is answered.
    let body = text_messages(&[("1001", "u1", forged, "forge"), ("1001", "u2", "m-hi", "hi")]);
    let (sha256, _) = switchboard::signature::sign(APP_SECRET, body.as_bytes());
    let posted = client
        .post(format!("http://127.0.0.1:{}/webhook/{APP_ID}", fx.port))
        .header("x-hub-signature-256", sha256)
        .body(body)
        .send()
        .await
        .expect("host answers");
    assert_eq!(posted.status(), 200);
    // Then stop the host, so its output (logs go to stdout) ends.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while fx.fake.sent_messages().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no reply");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs").success());
    let mut output = String::new();
    std::io::Read::read_to_string(child.0.stdout.as_mut().expect("piped"), &mut output).expect("stdout reads");
    let lines: Vec<serde_json::Value> = output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l:?}\n{output}")))
        .collect();
    assert!(lines.iter().any(|l| l["message"] == "listening for Messenger webhooks" && l["level"] == "INFO"), "{output}");
    let plugin_line = lines.iter().find(|l| l["target"] == "plugin").unwrap_or_else(|| panic!("no plugin log line in\n{output}"));
    assert_eq!((&plugin_line["plugin"], &plugin_line["page"]), (&"faulty".into(), &"1001".into()), "{plugin_line}");
    assert!(plugin_line["event"].as_str().is_some_and(|e| e.contains(forged)), "{plugin_line}");
    assert!(plugin_line["timestamp"].is_string(), "{plugin_line}");
}

/// Kills the child if the test fails before it stopped it.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
