//! Hot reload under load: the plugin file is replaced while signed events
//! stream in; every event is answered exactly once, by the old or the new
//! version, and a broken file never goes live.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crate::harness::*;

/// Replaces `target` atomically, as a deploy tool should.
fn deploy(source: &Path, target: &Path) {
    let staging = target.with_extension("staging");
    std::fs::copy(source, &staging).expect("copy");
    std::fs::rename(&staging, target).expect("rename");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_the_plugin_file_under_load_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let live = dir.path().join("bot.wasm");
    deploy(&plugin("probe"), &live);
    let host = TestHost::start(vec![page_files("1001", "tok-1001", vec![live.clone()])]).await;

    const EVENTS: usize = 400;
    let stream = {
        let (url, http) = (host.url.clone(), host.http.clone());
        tokio::spawn(async move {
            for i in 0..EVENTS {
                let body = text_messages(&[("1001", &format!("user{}", i % 20), &format!("mid.reload.{i}"), &format!("n{i}"))]);
                let (sha256, _) = switchboard::signature::sign(APP_SECRET, body.as_bytes());
                let r = http
                    .post(format!("{url}/webhook/{APP_ID}"))
                    .header("x-hub-signature-256", sha256)
                    .body(body)
                    .send()
                    .await
                    .expect("host answers");
                assert_eq!(r.status(), 200);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    deploy(&plugin("chain"), &live); // a new version
    tokio::time::sleep(Duration::from_millis(700)).await;
    std::fs::write(dir.path().join("broken.staging"), b"\0asm garbage").expect("write");
    std::fs::rename(dir.path().join("broken.staging"), &live).expect("rename"); // a broken file
    tokio::time::sleep(Duration::from_millis(700)).await;
    deploy(&plugin("probe"), &live); // and back
    stream.await.expect("stream");

    let sent = host.wait_sent(EVENTS).await;
    host.settle().await;
    let replies = texts(&host.fake.sent_messages().iter().map(|c| c.body.clone()).collect::<Vec<_>>());
    let mut per_event: HashMap<String, usize> = HashMap::new();
    let (mut by_probe, mut by_chain) = (0, 0);
    for reply in &replies {
        let n = if let Some(n) = reply.strip_prefix("probe: ") {
            by_probe += 1;
            n
        } else if let Some(n) = reply.strip_prefix("chain: ") {
            by_chain += 1;
            n
        } else {
            panic!("unexpected reply {reply:?}")
        };
        *per_event.entry(n.to_string()).or_default() += 1;
    }
    assert_eq!(per_event.len(), EVENTS, "every event answered");
    assert!(per_event.values().all(|&c| c == 1), "no event answered twice");
    assert!(by_chain > 0, "the new version served events");
    assert!(by_probe > 0, "the old version served events");
    // The last deploy (probe) is live: the broken file in between never was.
    let last = sent.len();
    assert!(replies[last - 1].starts_with("probe: "), "{:?}", &replies[last - 5..]);
    host.stop().await;
}
