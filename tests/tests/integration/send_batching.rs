//! Sends share Batch API requests when they fall due together, or while
//! requests are out (past two, a new one opens only for half a batch; at
//! most `graph.max_send_requests`), and each still gets its own answer:
//! its own Page's token, its own errors and retries, its person's order.

use std::collections::HashMap;
use std::time::Duration;

use crate::harness::*;
use serde_json::{json, Value};
use switchboard::config::Secret;
use switchboard::messenger::graph::{GraphClient, GraphError};
use switchboard_tests::fake_graph::{ErrorRule, FakeGraph, GraphErrorSpec};

/// Retries come quickly, and one Send API request at a time is out, so
/// everything due meanwhile queues for a batch.
const ONE_REQUEST: &str = "\n[graph]\nmax_send_requests = 1\nretry_first_backoff_ms = 20\nretry_max_backoff_ms = 100\n";

/// The fake's successful sends, per recipient, in order, with the token.
fn replies_by_recipient(host: &TestHost) -> HashMap<String, Vec<(String, String)>> {
    let mut by = HashMap::<String, Vec<(String, String)>>::new();
    for call in host.fake.sent_messages() {
        let to = call.body["recipient"]["id"].as_str().unwrap_or_default().to_string();
        let text = call.body["message"]["text"].as_str().unwrap_or_default().to_string();
        by.entry(to).or_default().push((call.access_token.unwrap_or_default(), text));
    }
    by
}

#[tokio::test]
async fn queued_sends_share_batches_and_each_gets_its_own_answer() {
    let host = TestHost::start_with(vec![page("1001", "tok-1001", &["echo"]), page("2002", "tok-2002", &["echo"])], ONE_REQUEST).await;
    // Each request waits, so sends pile up behind the one in flight.
    host.fake.set_delay_for("/messages", Duration::from_millis(150));
    // One person is rate limited once, one is gone for good, and two batch
    // items do not complete (answered null, not run).
    host.fake.inject_error(ErrorRule::new(GraphErrorSpec::rate_limited_613()).path("/messages").recipient("u3").times(1));
    host.fake.inject_error(ErrorRule::new(GraphErrorSpec::user_unavailable_551()).path("/messages").recipient("u7"));
    host.fake.leave_batch_items_unanswered(2);

    let mut messages = Vec::new();
    let texts: Vec<String> = (0..24).map(|i| format!("hello {i}")).collect();
    let mids: Vec<String> = (0..24).map(|i| format!("m{i}")).collect();
    let users: Vec<String> = (0..24).map(|i| format!("u{i}")).collect();
    for i in 0..24 {
        let page = if i % 2 == 0 { "1001" } else { "2002" };
        messages.push((page, users[i].as_str(), mids[i].as_str(), texts[i].as_str()));
    }
    // Alice writes three times: her replies must keep their order.
    let alice = [("1001", "alice", "a0", "first"), ("1001", "alice", "a1", "second"), ("1001", "alice", "a2", "third")];
    messages.extend(alice);
    assert_eq!(host.post_signed(&text_messages(&messages)).await.status(), 200);

    // 24 people but u7 get one reply each, and alice three.
    let sent = host.wait_sent(23 + 3).await;
    assert_eq!(sent.len(), 26, "{sent:?}");
    host.settle().await;

    let batches = host.fake.batch_sizes();
    assert!(batches.iter().any(|&n| n > 1), "sends queued behind the one request in flight share batches: {batches:?}");
    assert!(batches.iter().all(|&n| n <= 50), "{batches:?}");

    let by = replies_by_recipient(&host);
    for i in (0..24).filter(|&i| i != 7) {
        let token = if i % 2 == 0 { "tok-1001" } else { "tok-2002" };
        let want = vec![(token.to_string(), format!("You said: hello {i}"))];
        assert_eq!(by.get(&format!("u{i}")), Some(&want), "u{i}: exactly its reply, with its own Page's token");
    }
    assert_eq!(by.get("u7"), None, "551 is permanent");
    let alice_texts: Vec<&str> = by["alice"].iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(alice_texts, ["You said: first", "You said: second", "You said: third"]);

    let u3: Vec<u16> = calls_to_recipient(&host.fake, "u3").iter().map(|c| c.status).collect();
    assert_eq!(u3, [400, 200], "the rate-limited item alone was retried");
    assert_eq!(host.fake.unanswered_batch_items_left(), 0, "two items were answered null, and their sends retried");
    host.stop().await;
}

#[tokio::test]
async fn a_revoked_token_fails_its_own_pages_sends_only() {
    // Sends of a Page whose token was revoked share batches with another
    // Page's: whichever token heads a batch, the other Page's replies go
    // out, and only the revoked Page's circuit opens.
    let host = TestHost::start_with(
        vec![page("1001", "tok-1001", &["echo"]), page("2002", "tok-2002", &["echo"])],
        &format!("{ONE_REQUEST}circuit_open_secs = 60\n[dispatch]\nmax_attempts = 1\nretry_backoff_ms = 10\n"),
    )
    .await;
    host.fake.revoke_token("tok-2002");
    host.fake.set_delay_for("/messages", Duration::from_millis(100));
    let mut messages = Vec::new();
    let users: Vec<String> = (0..16).map(|i| format!("u{i}")).collect();
    for (i, user) in users.iter().enumerate() {
        messages.push((if i < 8 { "2002" } else { "1001" }, user.as_str(), user.as_str(), "hi"));
    }
    assert_eq!(host.post_signed(&text_messages(&messages)).await.status(), 200);
    let sent = host.wait_sent(8).await;
    assert_eq!(sent.len(), 8);
    assert!(host.fake.batch_sizes().iter().any(|&n| n > 1), "{:?}", host.fake.batch_sizes());
    assert!(sent.iter().all(|s| s["_access_token"] == "tok-1001"), "{sent:?}");

    // The revoked Page's events are dead letters, and Page 1001 still sends.
    let letters = host.wait_dead_letters(8).await;
    assert_eq!(letters.len(), 8, "{letters:?}");
    assert!(letters.iter().all(|l| l.page_id == "2002"), "{letters:?}");
    assert_eq!(host.post_signed(&text_messages(&[("1001", "later", "x1", "still there?")])).await.status(), 200);
    assert_eq!(host.wait_sent(9).await.len(), 9);
    let refused: Vec<Value> = host.fake.calls().iter().filter(|c| c.status != 200).map(|c| json!([c.access_token, c.status])).collect();
    assert!(refused.iter().all(|r| r[0] == "tok-2002"), "only the revoked Page's calls failed: {refused:?}");
    host.stop().await;
}

fn text(psid: &str) -> Value {
    json!({"recipient":{"id":psid},"messaging_type":"RESPONSE","message":{"text":"hi"}})
}

/// Runs `sends` once the fake has received its `n`-th request: the send
/// started first holds the one request slot (the fake answers it after
/// 200 ms), so these fall due while it is out.
async fn once_request_arrived<T>(fake: &FakeGraph, n: usize, sends: impl std::future::Future<Output = T>) -> T {
    assert!(fake.wait_for_requests(n, Duration::from_secs(5)).await, "the first send reached the fake");
    sends.await
}

#[tokio::test]
async fn sends_due_together_share_a_request_while_slots_are_free_and_a_lone_send_goes_alone() {
    let fake = FakeGraph::start().await.expect("fake starts");
    fake.register_page("1001", "tok-1001", APP_ID);
    let graph = GraphClient::new(&fake.base_url(), Duration::from_secs(5), 32).expect("client");
    let token = Secret::new("tok-1001");
    let bodies: Vec<Value> = (0..5).map(|i| text(&format!("u{i}"))).collect();

    let lone = graph.send_message(APP_ID, &token, &bodies[0]).await.expect("sent");
    assert_eq!(lone["recipient_id"], "u0");
    assert!(fake.batch_sizes().is_empty(), "a lone send is a plain call");

    let send = |i: usize| graph.send_message(APP_ID, &token, &bodies[i]);
    let (a, b, c, d, e) = tokio::join!(send(0), send(1), send(2), send(3), send(4));
    for (i, result) in [a, b, c, d, e].into_iter().enumerate() {
        assert_eq!(result.expect("sent")["recipient_id"], format!("u{i}"), "each send gets its own answer");
    }
    assert_eq!(fake.batch_sizes(), [5], "31 slots were free, yet the five sends due together shared one request");
    assert_eq!(fake.calls_to("/messages").len(), 6);
}

#[tokio::test]
async fn beyond_two_requests_out_sends_wait_for_one_to_return_unless_half_a_batch_is_waiting() {
    let fake = FakeGraph::start().await.expect("fake starts");
    fake.register_page("1001", "tok-1001", APP_ID);
    // Every request is out for 1.5 s: long enough to see who waits.
    fake.set_delay_for("/messages", Duration::from_millis(1500));
    let graph = GraphClient::new(&fake.base_url(), Duration::from_secs(10), 32).expect("client");
    let send = |i: usize| {
        let graph = graph.clone();
        tokio::spawn(async move { graph.send_message(APP_ID, &Secret::new("tok-1001"), &text(&format!("u{i}"))).await })
    };

    // The first two sends each open a request at once.
    let first = send(0);
    assert!(fake.wait_for_requests(1, Duration::from_secs(2)).await, "the first send went out");
    let eager = [first, send(1)];
    assert!(fake.wait_for_requests(2, Duration::from_secs(2)).await, "a second eager request went out");
    // A third waits for one of them to come back, and goes in its slot.
    let third = send(2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.requests_arrived(), 2, "with two requests out and few sends waiting, no third request");

    // Half a batch waiting opens a request at once, and it takes them all.
    let crowd: Vec<_> = (3..3 + CROWD_FOR_TEST).map(send).collect();
    assert!(fake.wait_for_requests(3, Duration::from_secs(1)).await, "25 sends waiting opened a third request");
    for (i, handle) in eager.into_iter().chain([third]).chain(crowd).enumerate() {
        let answer = handle.await.expect("joins").expect("sent");
        assert_eq!(answer["recipient_id"], format!("u{i}"), "each send gets its own answer");
    }
    assert_eq!(fake.max_requests_out(), 3, "the crowd's request went out while both eager ones were out");
    assert_eq!(fake.requests_arrived(), 3, "{:?}", fake.batch_sizes());
    assert_eq!(fake.batch_sizes(), [1 + CROWD_FOR_TEST], "the waiting send joined the crowd's request");
}

/// `graph::batch::CROWD`: half of the Batch API's 50.
const CROWD_FOR_TEST: usize = 25;

#[tokio::test]
async fn batches_hold_one_apps_sends_go_again_per_page_when_the_token_is_refused_and_share_other_errors() {
    let fake = FakeGraph::start().await.expect("fake starts");
    fake.register_page("1001", "tok-1001", APP_ID);
    fake.register_page("2002", "tok-2002", APP_ID);
    fake.revoke_token("tok-2002");
    fake.set_delay_for("/messages", Duration::from_millis(200));
    let graph = GraphClient::new(&fake.base_url(), Duration::from_secs(5), 1).expect("client");
    let (good, bad) = (Secret::new("tok-1001"), Secret::new("tok-2002"));
    let bodies: Vec<Value> = (0..9).map(|i| text(&format!("u{i}"))).collect();

    // The first send takes the one request slot; the others queue in call
    // order, so the revoked token heads the batch.
    let (first, (u1, u2, u3, u4)) = tokio::join!(
        graph.send_message(APP_ID, &good, &bodies[0]),
        once_request_arrived(&fake, fake.requests_arrived() + 1, async {
            tokio::join!(
                graph.send_message(APP_ID, &bad, &bodies[1]),
                graph.send_message(APP_ID, &good, &bodies[2]),
                graph.send_message(APP_ID, &bad, &bodies[3]),
                graph.send_message(APP_ID, &good, &bodies[4]),
            )
        }),
    );
    assert_eq!(first.expect("alone")["recipient_id"], "u0");
    for refused in [u1, u3] {
        assert!(matches!(refused, Err(GraphError::Api { code: 190, .. })), "{refused:?}");
    }
    assert_eq!(u2.expect("re-sent under its own token")["recipient_id"], "u2");
    assert_eq!(u4.expect("re-sent under its own token")["recipient_id"], "u4");
    assert_eq!(fake.refused_batches(), 1);
    assert_eq!(fake.batch_sizes(), [2], "Page 1001's two items went again as one batch");

    // A server error for the request as a whole is every item's answer,
    // with its Retry-After; nothing is re-sent behind the gates' backs.
    fake.inject_error(ErrorRule::new(GraphErrorSpec::transient_2().header("Retry-After", "1")).path("/").times(1));
    let before = fake.calls_to("/messages").len();
    let (first, (a, b, c)) = tokio::join!(
        graph.send_message(APP_ID, &good, &bodies[5]),
        once_request_arrived(&fake, fake.requests_arrived() + 1, async {
            tokio::join!(
                graph.send_message(APP_ID, &good, &bodies[6]),
                graph.send_message(APP_ID, &good, &bodies[7]),
                graph.send_message(APP_ID, &good, &bodies[8]),
            )
        }),
    );
    assert!(first.is_ok());
    for failed in [a, b, c] {
        match failed {
            Err(GraphError::Api { http_status: 500, code: 2, retry_after, .. }) => assert_eq!(retry_after, Some(Duration::from_secs(1))),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(fake.calls_to("/messages").len(), before + 1, "only the lone send ran");
    assert_eq!(fake.refused_batches(), 2);

    // A batch holds one app's sends: another app's send waits its turn.
    fake.register_page("3003", "tok-3003", "5678");
    let other_app = Secret::new("tok-3003");
    let batches_before = fake.batch_sizes().len();
    let (first, (a, b, c)) = tokio::join!(
        graph.send_message(APP_ID, &good, &bodies[0]),
        once_request_arrived(&fake, fake.requests_arrived() + 1, async {
            tokio::join!(
                graph.send_message(APP_ID, &good, &bodies[1]),
                graph.send_message("5678", &other_app, &bodies[2]),
                graph.send_message(APP_ID, &good, &bodies[3]),
            )
        }),
    );
    for result in [first, a, b, c] {
        assert!(result.is_ok(), "{result:?}");
    }
    assert_eq!(fake.batch_sizes()[batches_before..], [2], "app 1234's queued sends shared a batch; app 5678's went alone");
    assert_eq!(fake.max_requests_out(), 1, "with one request slot, the sends due meanwhile waited for it");
}
