//! The durable inbox and outbox: redeliveries, dead letters, and crashes
//! (`kill -9`) in the middle of a stream of events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::*;
use serde_json::json;
use switchboard::signature::sign;

#[tokio::test]
async fn a_body_posted_five_times_gets_one_reply() {
    let host = TestHost::start(vec![page("1001", "tok-1001", &["echo"])]).await;
    let body = text_messages(&[("1001", "u1", "mid.once", "only once")]);
    for _ in 0..5 {
        assert_eq!(host.post_signed(&body).await.status(), 200);
    }
    host.wait_sent(1).await;
    host.settle().await;
    assert_eq!(host.fake.sent_count(), 1);
    host.stop().await;
}

#[tokio::test]
async fn failing_events_become_dead_letters_that_can_be_replayed() {
    let fx = BinaryFixture::new(&["faulty"], "\n[dispatch]\nmax_attempts = 2\nretry_backoff_ms = 10\n").await;
    let (fake, config) = (&fx.fake, &fx.config);
    let host = fx.start().await;
    let client = reqwest::Client::new();
    let body = text_messages(&[("1001", "u1", "mid.dead", "err"), ("1001", "u1", "mid.after", "after")]);
    assert_eq!(host.post_signed(&client, &body).await, Some(200));
    // The failing event does not block its conversation for good.
    let sent = fake.wait_for_calls("/messages", 1, Duration::from_secs(10)).await;
    assert_eq!(sent[0].body["message"]["text"], "faulty ok: after");

    let dlq = |args: &[&str]| {
        let out = Command::new(host_binary()).arg("dlq").args(args).arg("--config").arg(config).output().expect("dlq runs");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (ok, listing) = dlq(&["list"]);
    assert!(ok, "{listing}");
    assert!(listing.contains("messaging:message:mid.dead") && listing.contains("attempts=2"), "{listing}");
    let (ok, shown) = dlq(&["show", "1001", "messaging:message:mid.dead"]);
    assert!(ok && shown.contains("\"text\":\"err\"") && shown.contains("asked to fail"), "{shown}");
    let (ok, out) = dlq(&["retry", "1001", "messaging:message:mid.dead"]);
    assert!(ok, "{out}");
    assert!(dlq(&["list"]).1.contains("\trequeued\t"), "retry marks it");
    // The host takes it back (within two seconds), it fails twice more, and
    // is a dead letter again.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, listing) = dlq(&["list"]);
        if listing.contains("\tdead\tattempts=2") {
            break;
        }
        assert!(Instant::now() < deadline, "the dead letter was not replayed: {listing}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(fake.calls_to("/messages").len(), 1, "the replayed event still sends nothing");
    let (ok, out) = dlq(&["drop", "1001", "messaging:message:mid.dead"]);
    assert!(ok, "{out}");
    assert!(dlq(&["list"]).1.contains("no dead letters"));
    assert!(!dlq(&["retry", "1001", "nope"]).0, "retrying an unknown id fails clearly");
}

/// Thousands of events from many users, `kill -9` several times mid-stream:
/// every acknowledged event is answered, each user's replies stay in order,
/// and duplicates are bounded by the events in flight at each kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_nothing_and_keeps_order() {
    const USERS: usize = 300;
    const EVENTS_PER_USER: usize = 12;
    const KILLS: usize = 4;
    const MAX_IN_FLIGHT: usize = 32; // dispatch.max_concurrent_conversations

    let fx = BinaryFixture::new(&["echo"], &format!("\n[dispatch]\nmax_concurrent_conversations = {MAX_IN_FLIGHT}\n")).await;
    let (fake, port) = (&fx.fake, fx.port);
    fake.set_delay(Duration::from_millis(3)); // keep sends in flight when the host dies
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    let mut host = fx.start().await;

    // Each user's events go out one after another, as Messenger delivers a
    // conversation; a webhook that is not acknowledged is redelivered.
    let base = now_ms();
    let acked = Arc::new(AtomicUsize::new(0));
    let redeliveries = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for worker in 0..30 {
        let (client, acked, redeliveries) = (client.clone(), acked.clone(), redeliveries.clone());
        senders.push(tokio::spawn(async move {
            for user in (worker..USERS).step_by(30) {
                for k in 0..EVENTS_PER_USER {
                    let n = user * EVENTS_PER_USER + k;
                    let body = json!({"object":"page","entry":[{"id":"1001","time":1,"messaging":[{
                        "sender":{"id":format!("user{user}")},"recipient":{"id":"1001"},
                        "timestamp":base + k as u64,
                        "message":{"mid":format!("mid.crash.{n}"),"text":format!("event {user}/{k}")}}]}]})
                    .to_string();
                    let (sha256, _) = sign(APP_SECRET, body.as_bytes());
                    loop {
                        let r = client
                            .post(format!("http://127.0.0.1:{port}/webhook/{APP_ID}"))
                            .header("x-hub-signature-256", &sha256)
                            .body(body.clone())
                            .send()
                            .await;
                        // Anything but a timely 200 is redelivered, as Messenger does.
                        if matches!(&r, Ok(r) if r.status() == 200) {
                            acked.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        redeliveries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }
    let total = USERS * EVENTS_PER_USER;
    let mut kills_done = 0;
    let mut in_flight_bound = 0;
    while kills_done < KILLS {
        // Let some events be acknowledged and handled, then pull the plug.
        let target = (kills_done + 1) * total / (KILLS + 2);
        while acked.load(Ordering::Relaxed) < target {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        host.child.kill().expect("SIGKILL");
        let _ = host.child.wait();
        kills_done += 1;
        in_flight_bound += MAX_IN_FLIGHT;
        host = fx.start().await;
    }
    for s in senders {
        s.await.expect("sender");
    }
    assert_eq!(acked.load(Ordering::Relaxed), total);

    // Wait until every event has a reply, then a little longer.
    let deadline = Instant::now() + Duration::from_secs(60);
    let replies = loop {
        let sent = fake.sent_messages();
        let distinct: HashSet<String> = sent.iter().filter_map(|c| c.body["message"]["text"].as_str().map(str::to_string)).collect();
        if distinct.len() >= total || Instant::now() > deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            break fake.sent_messages();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(host);

    let mut per_user: HashMap<String, Vec<usize>> = HashMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for call in &replies {
        let text = call.body["message"]["text"].as_str().unwrap_or_default();
        let Some(rest) = text.strip_prefix("You said: event ") else { panic!("unexpected reply {text}") };
        let (user, k) = rest.split_once('/').expect("user/k");
        per_user.entry(user.to_string()).or_default().push(k.parse().expect("k"));
        *counts.entry(text.to_string()).or_default() += 1;
    }
    assert_eq!(counts.len(), total, "every acknowledged event got its reply");
    for (user, ks) in &per_user {
        assert!(ks.windows(2).all(|w| w[0] <= w[1]), "user {user}'s replies out of order: {ks:?}");
    }
    let duplicates = replies.len() - total;
    eprintln!(
        "crash test: {total} events, {KILLS} kills, {} redeliveries by the sender, {} replies, {duplicates} duplicates (bound {in_flight_bound})",
        redeliveries.load(Ordering::Relaxed),
        replies.len()
    );
    assert!(duplicates <= in_flight_bound, "{duplicates} duplicates exceed the in-flight bound {in_flight_bound}");
}
