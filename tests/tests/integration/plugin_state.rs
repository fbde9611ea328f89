//! Per-plugin key-value state (`switchboard:plugin/kv`): each plugin's own
//! namespace per Page, atomic compare-and-swap and increment, TTLs, and the
//! size limits, through the probe plugin against the real store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::harness::*;

/// Sends `text` from u1 to `page` and returns the probe's report on it.
async fn say(host: &TestHost, page: &str, text: &str) -> String {
    static MID: AtomicUsize = AtomicUsize::new(0);
    let before = texts_to(&host.fake, "probe-report").len();
    let mid = format!("kv.{}", MID.fetch_add(1, Ordering::Relaxed));
    assert_eq!(host.post_signed(&text_messages(&[(page, "u1", &mid, text)])).await.status(), 200);
    let reports = host.wait_reports(before + 1).await;
    assert!(reports.len() > before, "no report for {text:?}");
    reports[before].clone()
}

#[tokio::test]
async fn plugins_keep_their_own_durable_key_value_state_within_limits() {
    let host = TestHost::start_with(
        vec![page("1001", "tok-1001", &["probe", "chain"]), page("2002", "tok-2002", &["probe"])],
        "\n[limits]\nkv_value_bytes = 1000\nkv_namespace_bytes = 4000\n",
    )
    .await;
    assert_eq!(say(&host, "1001", "kv set color blue").await, "kv: ok");
    assert_eq!(say(&host, "1001", "kv get color").await, "kv: blue");
    // Another plugin on the same Page, and the same plugin on another Page,
    // see nothing of it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !texts_to(&host.fake, "u1").iter().any(|t| t.starts_with("chain kv: ")) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let chain_saw: Vec<String> = texts_to(&host.fake, "u1").into_iter().filter(|t| t.starts_with("chain kv: ")).collect();
    assert_eq!(chain_saw, ["chain kv: none"]);
    assert_eq!(say(&host, "2002", "kv get color").await, "kv: none");

    assert_eq!(say(&host, "1001", "kv inc visits 5").await, "kv: 5");
    assert_eq!(say(&host, "1001", "kv inc visits -2").await, "kv: 3");
    assert_eq!(say(&host, "1001", "kv get visits").await, "kv: 3");
    assert_eq!(say(&host, "1001", "kv inc color 1").await, "kv: error not-a-number");

    assert_eq!(say(&host, "1001", "kv cas lock - a").await, "kv: true");
    assert_eq!(say(&host, "1001", "kv cas lock - b").await, "kv: false", "only if absent");
    assert_eq!(say(&host, "1001", "kv cas lock b c").await, "kv: false", "only if it still holds the expected value");
    assert_eq!(say(&host, "1001", "kv cas lock a c").await, "kv: true");
    assert_eq!(say(&host, "1001", "kv get lock").await, "kv: c");

    assert_eq!(say(&host, "1001", "kv set cart:2 y").await, "kv: ok");
    assert_eq!(say(&host, "1001", "kv set cart:1 x").await, "kv: ok");
    assert_eq!(say(&host, "1001", "kv set cartography z").await, "kv: ok");
    assert_eq!(say(&host, "1001", "kv list cart:").await, "kv: cart:1,cart:2");
    assert_eq!(say(&host, "1001", "kv del cartography").await, "kv: true");
    assert_eq!(say(&host, "1001", "kv del cartography").await, "kv: false");

    // Limits: one value, then the namespace (about 40 bytes used so far).
    assert_eq!(say(&host, "1001", "kv big b1 1001").await, "kv: error too-large the value is 1001 bytes; the limit is 1000");
    for key in ["b2", "b3", "b4"] {
        assert_eq!(say(&host, "1001", &format!("kv big {key} 1000")).await, "kv: ok");
    }
    let full = say(&host, "1001", "kv big b5 1000").await;
    assert!(full.starts_with("kv: error too-large the namespace would pass its 4000 bytes"), "{full}");
    assert_eq!(say(&host, "1001", "kv del b2").await, "kv: true");
    assert_eq!(say(&host, "1001", "kv big b5 1000").await, "kv: ok", "deleting made room");
    // The other Page's namespace is separate, and has room.
    assert_eq!(say(&host, "2002", "kv big b1 1000").await, "kv: ok");

    // A TTL: gone once expired.
    assert_eq!(say(&host, "1001", "kv ttl temp v 400").await, "kv: ok");
    assert_eq!(say(&host, "1001", "kv get temp").await, "kv: v");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(say(&host, "1001", "kv get temp").await, "kv: none");
    host.stop().await;
}
