//! Plugins in the real runtime: chains, faults that stay contained, and
//! Graph errors that reach plugins as typed errors.

use std::time::{Duration, Instant};

use crate::harness::*;
use switchboard_tests::fake_graph::{ErrorRule, GraphErrorSpec};

#[tokio::test]
async fn a_trapping_plugin_does_not_affect_the_chain_or_other_pages() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["faulty", "echo"]), page("2002", "tok-2002", &["echo"])]).await;
    let body = text_messages(&[("1001", "u1", "m1", "panic"), ("2002", "u2", "m2", "unaffected")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    let body = text_messages(&[("1001", "u1", "m3", "err"), ("1001", "u3", "m4", "deep")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    let sent = texts(&host.wait_sent(4).await);
    // The echo plugin after the faulty one still answered each event, and
    // the other Page was served.
    for word in ["panic", "unaffected", "err", "deep"] {
        assert!(sent.iter().any(|t| t.starts_with("You said") && t.contains(word)), "{word}: {sent:?}");
    }
    // The faulty plugin keeps working for inputs that do not break it.
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m5", "fine")])).await.status(), 200);
    let sent = texts(&host.wait_sent(6).await);
    assert!(sent.iter().any(|t| t == "faulty ok: fine"), "{sent:?}");
    host.stop().await;
}

#[tokio::test]
async fn runaway_plugins_are_stopped_by_cpu_and_memory_limits() {
    let host =
        TestHost::start_with(vec![page("1001", "tok-1001", &["faulty", "echo"])], "\n[limits]\ncpu_ms = 100\nmemory_mib = 32\n").await;
    let started = Instant::now();
    let body = text_messages(&[("1001", "u1", "m1", "loop"), ("1001", "u2", "m2", "oom")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);
    let sent = texts(&host.wait_sent(2).await);
    assert!(sent.iter().any(|t| t.contains("loop")) && sent.iter().any(|t| t.contains("oom")), "{sent:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "limits took {:?}", started.elapsed());
    host.stop().await;
}

#[tokio::test]
async fn graph_errors_reach_the_plugin_typed() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["probe"])]).await;
    host.fake.inject_error(ErrorRule::new(GraphErrorSpec::user_unavailable_551()).path("/messages").times(1));
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m1", "hi")])).await.status(), 200);
    let sent = texts(&host.wait_sent(1).await);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].starts_with("send failed: graph code=551 subcode=1545041 status=400"), "{sent:?}");

    host.fake.inject_error(ErrorRule::new(GraphErrorSpec::not_thread_owner_2018300()).path("/messages").times(1));
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m2", "again")])).await.status(), 200);
    let sent = texts(&host.wait_sent(2).await);
    assert_eq!(sent[1], "send failed: not-thread-owner standby=false", "{sent:?}");
    host.stop().await;
}

#[tokio::test]
async fn stop_ends_the_chain_and_continue_passes_the_event_on() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["probe", "chain"])]).await;
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m1", "go on")])).await.status(), 200);
    let sent = texts(&host.wait_sent(2).await);
    assert_eq!(sent, ["probe: go on", "chain: go on"]);
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m2", "stop")])).await.status(), 200);
    host.wait_sent(3).await;
    host.settle().await;
    let sent = texts(&host.wait_sent(3).await);
    assert_eq!(sent.len(), 3, "the chain plugin must not see a stopped event: {sent:?}");
    assert_eq!(sent[2], "probe: stop");
    host.stop().await;
}

#[tokio::test]
async fn handover_calls_use_the_graph_api() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["probe"])]).await;
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m1", "handover")])).await.status(), 200);
    let sent = texts(&host.wait_sent(2).await);
    // After the pass the Page Inbox owns the thread: the probe's reply is
    // refused by the host without a Graph call.
    assert_eq!(sent, ["handover: ok", "send failed: not-thread-owner standby=false"]);
    assert!(host.fake.calls_to("/messages").iter().all(|c| c.body["recipient"]["id"] != "u1"), "no send to u1 was attempted");
    let passes = host.fake.calls_to("/pass_thread_control");
    assert_eq!(passes.len(), 1);
    assert_eq!(passes[0].body["target_app_id"], 263902037430900u64);
    assert_eq!(passes[0].access_token.as_deref(), Some("tok-1001"));
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u1", "m2", "owner")])).await.status(), 200);
    let sent = texts(&host.wait_sent(3).await);
    assert_eq!(sent[2], "owner: 263902037430900", "{sent:?}");
    host.stop().await;
}
