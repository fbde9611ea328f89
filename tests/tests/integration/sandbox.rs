//! Hostile plugins: each is stopped within its limit and its failure is
//! classified, counted and dead-lettered, while another Page keeps being
//! answered; a plugin that keeps failing trips its circuit (fail-open or
//! fail-closed); `GET /admin/plugins` and `switchboard plugins` report it.

use std::time::{Duration, Instant};

use crate::harness::*;

const API_TOKEN: &str = "admin-token-0123456789abcdef";

fn config(extra: &str) -> String {
    format!("\n[api]\ntoken = \"{API_TOKEN}\"\n\n[dispatch]\nmax_attempts = 1\nretry_backoff_ms = 10\n{extra}")
}

#[tokio::test]
async fn hostile_plugins_are_stopped_and_classified_while_another_page_keeps_answering() {
    let host = TestHost::start_with(
        vec![page("1001", "tok-1001", &["faulty"]), page("2002", "tok-2002", &["echo"])],
        &config("\n[limits]\ncpu_ms = 100\nmemory_mib = 32\nhost_calls = 10\nlog_bytes = 1024\n"),
    )
    .await;
    let started = Instant::now();
    let hostile = ["loop", "oom", "panic", "deep", "flood", "biglog", "toolong"];
    for (i, command) in hostile.iter().enumerate() {
        let (hostile_mid, echo_mid, echo_text) = (format!("h.{command}"), format!("e.{i}"), format!("still here {i}"));
        let body = text_messages(&[("1001", &format!("u{i}"), &hostile_mid, command), ("2002", "u9", &echo_mid, &echo_text)]);
        assert_eq!(host.post_signed(&body).await.status(), 200);
    }
    // Six failures, each a dead letter after its one attempt.
    let letters = host.wait_dead_letters(6).await;
    let error_of = |command: &str| {
        letters.iter().find(|l| l.event_id.ends_with(&format!(":h.{command}"))).map(|l| l.error.clone()).unwrap_or_default()
    };
    assert!(error_of("loop").contains("used more than 100ms of CPU time"), "{letters:?}");
    assert!(error_of("oom").contains("ran out of its 32 MiB of memory"), "{letters:?}");
    assert!(error_of("panic").starts_with("panicked at") && error_of("panic").ends_with("asked to panic"), "{letters:?}");
    assert!(error_of("deep").starts_with("overflowed its stack"), "{letters:?}");
    assert!(error_of("flood").contains("failed after using up its 10 host calls"), "{letters:?}");
    assert!(error_of("biglog").is_empty(), "a huge log line is cut, not a failure: {letters:?}");
    assert!(error_of("toolong").starts_with("failed after trying to send an invalid message"), "{letters:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "limits took {:?}", started.elapsed());

    // The other Page was answered throughout, and the flood stopped at the quota.
    host.wait_sent(7 + 10 + 1).await;
    let echoed = texts_to(&host.fake, "u9");
    assert_eq!(echoed, (0..7).map(|i| format!("You said: still here {i}")).collect::<Vec<_>>());
    assert_eq!(texts_to(&host.fake, "u4").len(), 10, "the flood got exactly its 10 host calls");
    assert_eq!(texts_to(&host.fake, "u5"), ["faulty ok: biglog"]);

    // An invocation is counted when it returns, just after its last send.
    host.settle().await;
    let report = host.admin_plugins(API_TOKEN).await;
    let faulty = &report["pages"][0]["plugins"][0];
    assert_eq!(faulty["name"], "faulty");
    let failures = &faulty["health"]["failures"];
    assert_eq!(
        ["cpu-timeout", "out-of-memory", "panic", "stack-overflow", "quota-exceeded", "invalid-output", "trap"]
            .map(|class| failures[class].as_u64()),
        [Some(1), Some(1), Some(1), Some(1), Some(1), Some(1), None],
        "{report:#}"
    );
    assert_eq!(faulty["health"]["invocations"], 7);
    assert_eq!(faulty["health"]["circuit"], "closed");
    assert_eq!(report["pages"][1]["plugins"][0]["health"]["invocations"], 7);
    host.stop().await;
}

/// A panic is read from the plugin's stderr, where the panic hook writes
/// it: a log line that looks like one does not make a trap a panic.
#[tokio::test]
async fn a_log_line_cannot_pass_for_a_panic() {
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["faulty"])], &config("")).await;
    let body = text_messages(&[("1001", "u1", "m1", "forge"), ("1001", "u2", "m2", "panic")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    let letters = host.wait_dead_letters(2).await;
    let error_of = |mid: &str| letters.iter().find(|l| l.event_id.ends_with(mid)).map(|l| l.error.clone()).unwrap_or_default();
    assert!(error_of(":m1").starts_with("trapped:"), "{letters:?}");
    assert!(error_of(":m2").starts_with("panicked at") && error_of(":m2").ends_with("asked to panic"), "{letters:?}");
    host.stop().await;
}

#[tokio::test]
async fn a_plugin_that_keeps_failing_is_skipped_when_its_circuit_fails_open() {
    let host = TestHost::start_with(
        vec![page("1001", "tok-1001", &["faulty", "echo"])],
        &config("\n[plugin_circuit]\nfailures = 3\nopen_secs = 60\nmode = \"fail-open\"\n"),
    )
    .await;
    let body = text_messages(&[("1001", "u1", "m1", "panic"), ("1001", "u2", "m2", "err"), ("1001", "u3", "m3", "panic")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    host.wait_dead_letters(3).await;
    // Tripped: the next event does not reach it, the rest of the chain runs.
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u4", "m4", "hello")])).await.status(), 200);
    host.wait_sent(4).await;
    host.settle().await;
    assert_eq!(texts_to(&host.fake, "u4"), ["You said: hello"], "faulty would have said `faulty ok: hello`");
    let health = &host.admin_plugins(API_TOKEN).await["pages"][0]["plugins"][0]["health"];
    assert_eq!(health["circuit"], "open", "{health:#}");
    assert_eq!(health["circuit_trips"], 1);
    assert_eq!(health["invocations"], 3, "not called while open");
    assert_eq!(health["failures"]["panic"], 2);
    assert_eq!(health["failures"]["error"], 1);
    assert!(health["last_failure"]["event_id"].as_str().is_some_and(|id| id.starts_with("messaging:message:m")), "{health:#}");
    host.stop().await;
}

#[tokio::test]
async fn a_failing_plugin_fails_its_events_when_its_circuit_fails_closed_then_a_probe_closes_it() {
    let host = TestHost::start_with(
        vec![page("1001", "tok-1001", &["faulty"])],
        &config("\n[plugin_circuit]\nfailures = 2\nopen_secs = 1\nmode = \"fail-closed\"\n"),
    )
    .await;
    let body = text_messages(&[("1001", "u1", "m1", "panic"), ("1001", "u2", "m2", "panic")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    host.wait_dead_letters(2).await;
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u3", "m3", "fine")])).await.status(), 200);
    let letters = host.wait_dead_letters(3).await;
    let refused = letters.iter().find(|l| l.event_id.ends_with(":m3")).map(|l| l.error.clone()).unwrap_or_default();
    assert!(refused.contains("circuit is open"), "{letters:?}");
    assert!(texts_to(&host.fake, "u3").is_empty());
    // After the pause one call goes through; it succeeds and closes it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u4", "m4", "fine again")])).await.status(), 200);
    host.wait_sent(1).await;
    assert_eq!(texts_to(&host.fake, "u4"), ["faulty ok: fine again"]);
    host.settle().await;
    let health = &host.admin_plugins(API_TOKEN).await["pages"][0]["plugins"][0]["health"];
    assert_eq!(health["circuit"], "closed", "{health:#}");
    assert_eq!(health["failures"]["circuit-open"], serde_json::Value::Null, "a refusal is not an invocation");
    host.stop().await;
}

#[tokio::test]
async fn the_admin_endpoint_needs_the_token() {
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["echo"])], &config("")).await;
    let anonymous = host.http.get(format!("{}/admin/plugins", host.url)).send().await.expect("answers");
    assert_eq!(anonymous.status(), 401);
    let wrong = host.http.get(format!("{}/admin/plugins", host.url)).bearer_auth("nope-nope-nope-nope").send().await.expect("answers");
    assert_eq!(wrong.status(), 401);
    let report = host.admin_plugins(API_TOKEN).await;
    let echo = &report["pages"][0]["plugins"][0];
    assert_eq!((echo["name"].as_str(), echo["version"].as_str()), (Some("echo"), Some("0.1.0")));
    assert_eq!(echo["hash"].as_str().map(str::len), Some(64));
    assert!(echo["loaded_at_ms"].as_u64().is_some_and(|t| t <= now_ms()));
    host.stop().await;
}

#[tokio::test]
async fn limits_can_be_set_per_page_and_per_plugin() {
    let host = TestHost::start_with(
        vec![
            page("1001", "tok-1001", &["faulty"]),
            page("2002", "tok-2002", &["faulty"]).with("limits = { host_calls = 5 }"),
            page("3003", "tok-3003", &["faulty"]).with("limits = { host_calls = 5 }\nplugin_limits.faulty = { host_calls = 2 }"),
            // Only for `[plugin_limits.echo]`, which must not reach `faulty`.
            page("4004", "tok-4004", &["echo"]),
        ],
        &config("\n[limits]\nhost_calls = 10\n\n[plugin_limits.echo]\nhost_calls = 1\n"),
    )
    .await;
    let body = text_messages(&[("1001", "u1", "m1", "flood"), ("2002", "u2", "m2", "flood"), ("3003", "u3", "m3", "flood")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    let letters = host.wait_dead_letters(3).await;
    let sent = |psid: &str| texts_to(&host.fake, psid).len();
    assert_eq!((sent("u1"), sent("u2"), sent("u3")), (10, 5, 2), "{letters:?}");
    assert!(letters.iter().any(|l| l.page_id == "3003" && l.error.contains("its 2 host calls")), "{letters:?}");
    host.stop().await;
}

#[tokio::test]
async fn outgoing_http_reaches_only_allow_listed_hosts_within_the_size_cap() {
    let fake = switchboard_tests::fake_graph::FakeGraph::start().await.expect("fake Graph API starts");
    let port = fake.addr().port();
    let policy = format!(
        "plugin_limits.probe = {{ http_allowed_hosts = [\"127.0.0.1\"], http_allowed_ports = [{port}], http_allowed_networks = [\"127.0.0.0/8\"], http_response_bytes = 1000 }}"
    );
    let pages = vec![page("1001", "tok-1001", &["probe"]).with(&policy), page("2002", "tok-2002", &["probe"])];
    let host = TestHost::start_on(fake, tempfile::tempdir().expect("temp dir"), pages, &config("")).await;
    let target = host.fake.addr().to_string();
    let say = |page: &'static str, mid: &'static str, text: String| text_messages(&[(page, "u1", mid, &text)]);
    assert_eq!(host.post_signed(&say("1001", "m1", format!("http {target} /_fake/bytes?n=500"))).await.status(), 200);
    assert_eq!(host.wait_reports(1).await[0], "http: 200 500");
    assert_eq!(host.post_signed(&say("1001", "m2", format!("http {target} /_fake/bytes?n=5000"))).await.status(), 200);
    let too_big = &host.wait_reports(2).await[1];
    assert!(too_big.starts_with("http: error") && too_big.contains("HttpResponseBodySize(Some(5000))"), "{too_big}");
    let other_name = target.replace("127.0.0.1", "localhost");
    assert_eq!(host.post_signed(&say("1001", "m3", format!("http {other_name} /_fake/bytes?n=5"))).await.status(), 200);
    let denied = &host.wait_reports(3).await[2];
    assert!(denied.starts_with("http: error") && denied.contains("HttpRequestDenied"), "not on the list: {denied}");
    assert_eq!(host.post_signed(&say("2002", "m4", format!("http {target} /_fake/bytes?n=5"))).await.status(), 200);
    let denied = &host.wait_reports(4).await[3];
    assert!(denied.starts_with("http: error") && denied.contains("HttpRequestDenied"), "no list, no HTTP: {denied}");
    host.stop().await;
}

#[tokio::test]
async fn sleeping_counts_toward_a_limit_of_its_own() {
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["faulty"]).with("limits = { sleep_ms = 300 }")], &config("")).await;
    let body = text_messages(&[("1001", "u1", "m1", "sleep 100"), ("1001", "u2", "m2", "sleep 5000")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    let letters = host.wait_dead_letters(1).await;
    host.wait_sent(1).await;
    assert_eq!(texts_to(&host.fake, "u1"), ["faulty ok: slept 100"], "within the limit: {letters:?}");
    assert!(texts_to(&host.fake, "u2").is_empty());
    assert!(letters[0].error.contains("asked to sleep past its 300ms"), "{letters:?}");
    let report = host.admin_plugins(API_TOKEN).await;
    assert_eq!(report["pages"][0]["plugins"][0]["health"]["failures"]["sleep-limit"], 1, "{report:#}");
    host.stop().await;
}

/// A Page whose conversations all sleep holds at most its share of the
/// slots (half of 4 here): another Page's message is answered while they
/// sleep, not after.
#[tokio::test]
async fn a_page_of_slow_conversations_leaves_slots_to_the_other_pages() {
    let extra = "[limits]\nsleep_ms = 5000\n[dispatch]\nmax_concurrent_conversations = 4\nretry_backoff_ms = 10\n";
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["faulty"]), page("2002", "tok-2002", &["echo"])], extra).await;
    let sleepers: Vec<(String, String)> = (0..6).map(|i| (format!("s{i}"), format!("m.s{i}"))).collect();
    let messages: Vec<(&str, &str, &str, &str)> =
        sleepers.iter().map(|(psid, mid)| ("1001", psid.as_str(), mid.as_str(), "sleep 1500")).collect();
    assert_eq!(host.post_signed(&text_messages(&messages)).await.status(), 200);
    // Wait until the sleepers run (the second Page's slot must already be free).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(host.post_signed(&text_messages(&[("2002", "quick", "m.quick", "hello")])).await.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while texts_to(&host.fake, "quick").is_empty() {
        assert!(Instant::now() < deadline, "the second Page was never answered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let slept: usize = sleepers.iter().map(|(psid, _)| texts_to(&host.fake, psid).len()).sum();
    assert_eq!(slept, 0, "the second Page's reply came only after the first Page's sleepers woke: it waited for their slots");
    assert_eq!(host.wait_sent(7).await.len(), 7, "every sleeper is answered in the end");
    host.stop().await;
}

/// An allowed name is not enough: what it resolves to must be public, or in
/// a range the operator allows, and the port must be allowed.
#[tokio::test]
async fn outgoing_http_cannot_reach_the_hosts_own_network_through_an_allowed_name() {
    let fake = switchboard_tests::fake_graph::FakeGraph::start().await.expect("fake Graph API starts");
    let port = fake.addr().port();
    let hosts = "http_allowed_hosts = [\"localhost\"]";
    let ranges = "http_allowed_networks = [\"127.0.0.0/8\"]";
    let pages = vec![
        page("1001", "tok-1001", &["probe"]).with(&format!("plugin_limits.probe = {{ {hosts}, http_allowed_ports = [{port}] }}")),
        page("2002", "tok-2002", &["probe"]).with(&format!("plugin_limits.probe = {{ {hosts}, http_allowed_ports = [{port}], {ranges} }}")),
        page("3003", "tok-3003", &["probe"]).with(&format!("plugin_limits.probe = {{ {hosts}, {ranges} }}")),
    ];
    let host = TestHost::start_on(fake, tempfile::tempdir().expect("temp dir"), pages, &config("")).await;
    let ask =
        |page: &'static str, mid: &'static str| text_messages(&[(page, "u1", mid, &format!("http localhost:{port} /_fake/bytes?n=5"))]);
    assert_eq!(host.post_signed(&ask("1001", "m1")).await.status(), 200);
    let refused = host.wait_reports(1).await[0].clone();
    assert!(
        refused.starts_with("http: error") && refused.contains("DestinationIpProhibited"),
        "loopback behind an allowed name: {refused}"
    );
    assert_eq!(host.post_signed(&ask("2002", "m2")).await.status(), 200);
    assert_eq!(host.wait_reports(2).await[1], "http: 200 5", "the operator allowed loopback");
    assert_eq!(host.post_signed(&ask("3003", "m3")).await.status(), 200);
    let refused = host.wait_reports(3).await[2].clone();
    assert!(refused.starts_with("http: error") && refused.contains("HttpRequestDenied"), "the port is not allowed: {refused}");
    host.stop().await;
}

/// HTTPS goes to the address that was checked, with TLS naming the host:
/// the connection lands on the checked loopback address (where a listener
/// sees the TLS hello for `localhost`), and nothing connects where loopback
/// is not allowed.
#[tokio::test]
async fn outgoing_https_connects_to_the_address_it_checked() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let port = listener.local_addr().expect("address").port();
    let hosts = format!("http_allowed_hosts = [\"localhost\"], http_allowed_ports = [{port}]");
    let pages = vec![
        page("1001", "tok-1001", &["probe"]).with(&format!("plugin_limits.probe = {{ {hosts} }}")),
        page("2002", "tok-2002", &["probe"])
            .with(&format!("plugin_limits.probe = {{ {hosts}, http_allowed_networks = [\"127.0.0.0/8\"] }}")),
    ];
    let host = TestHost::start_with(pages, &config("")).await;
    let ask = |page: &'static str, mid: &'static str| text_messages(&[(page, "u1", mid, &format!("https localhost:{port} /"))]);

    assert_eq!(host.post_signed(&ask("1001", "m1")).await.status(), 200);
    let refused = host.wait_reports(1).await[0].clone();
    assert!(refused.contains("DestinationIpProhibited"), "{refused}");
    let nothing = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(nothing.is_err(), "a refused request connects nowhere");

    assert_eq!(host.post_signed(&ask("2002", "m2")).await.status(), 200);
    let (mut stream, peer) =
        tokio::time::timeout(Duration::from_secs(10), listener.accept()).await.expect("a connection").expect("accepted");
    assert!(peer.ip().is_loopback());
    let mut hello = vec![0u8; 4096];
    let n = tokio::io::AsyncReadExt::read(&mut stream, &mut hello).await.expect("reads");
    assert_eq!(hello[0], 0x16, "a TLS handshake record");
    assert!(hello[..n].windows(9).any(|w| w == b"localhost"), "the hello names the host (SNI)");
    drop(stream);
    let failed = host.wait_reports(2).await[1].clone();
    assert!(failed.starts_with("https: error"), "no TLS server there: {failed}");
    host.stop().await;
}

/// The resident memory of process `pid`, in MiB.
fn resident_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    kib.expect("VmRSS") / 1024
}

/// A plugin hands the host 48 MiB strings wherever it takes one (PSIDs,
/// URLs, ids, metadata, KV keys, topics, log lines, its error message):
/// each is refused or cut before the host keeps it, so the host's resident
/// memory stays within 300 MiB of where it was, its error is stored cut,
/// and the other Page is answered throughout.
#[tokio::test]
async fn plugin_strings_cannot_make_the_host_hold_memory() {
    let fake = switchboard_tests::fake_graph::FakeGraph::start().await.expect("fake Graph API starts");
    for (id, token) in [("1001", "tok-1001"), ("2002", "tok-2002")] {
        fake.register_page(id, token, APP_ID);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let pages = [
        page("1001", "tok-1001", &["faulty"])
            .with("plugin_limits.faulty = { memory_mib = 320, cpu_ms = 20000, wall_ms = 30000, log_bytes = 1024 }"),
        page("2002", "tok-2002", &["echo"]),
    ];
    let config = write_config(dir.path(), port, &fake.base_url(), &pages, "\n[dispatch]\nmax_attempts = 1\n");
    let host = RunningHost::start(&config, port).await;
    let client = reqwest::Client::new();
    let wait_for = |to: &'static str, n: usize| {
        let fake = &fake;
        async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let texts = texts_to(fake, to);
                if texts.len() >= n || Instant::now() > deadline {
                    return texts;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };

    let warm = text_messages(&[("1001", "u1", "w", "hoard 1 0"), ("2002", "u9", "w9", "warm")]);
    assert_eq!(host.post_signed(&client, &warm).await, Some(200));
    assert_eq!(wait_for("u1", 1).await, ["faulty ok: hoarded 0, 10 of 10 refused"]);
    let before = resident_mib(host.child.id());

    const ROUNDS: usize = 8;
    for n in 1..=ROUNDS {
        let (mid, echo_mid, echo) = (format!("h{n}"), format!("e{n}"), format!("still here {n}"));
        let body = text_messages(&[("1001", "u1", &mid, &format!("hoard 48 {n}")), ("2002", "u9", &echo_mid, &echo)]);
        assert_eq!(host.post_signed(&client, &body).await, Some(200));
    }
    assert_eq!(host.post_signed(&client, &text_messages(&[("1001", "u2", "err", "hugeerr 48")])).await, Some(200));
    let hoarded = wait_for("u1", ROUNDS + 1).await;
    let expected: Vec<String> = (0..=ROUNDS).map(|n| format!("faulty ok: hoarded {n}, 10 of 10 refused")).collect();
    assert_eq!(hoarded, expected, "every string was refused");
    assert_eq!(wait_for("u9", ROUNDS + 1).await.len(), ROUNDS + 1, "the other Page was answered throughout");

    let letters = wait_dead_letters_in(&dir.path().join("data"), 1).await;
    let error = &letters.first().expect("the failing event is a dead letter").error;
    assert!(error.starts_with("returned an error: eee") && error.len() < 4096, "stored cut: {} bytes", error.len());

    let after = resident_mib(host.child.id());
    eprintln!("host resident memory: {before} MiB before, {after} MiB after {ROUNDS} rounds of 48 MiB strings");
    assert!(after < before + 300, "the host kept {} MiB", after.saturating_sub(before));
}
