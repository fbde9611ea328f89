//! Alerts (issue 20, point 7): `[alerts] webhook_url` gets a JSON POST when
//! a token is refused, a Page's circuit opens, or dead letters pass the
//! threshold; retried when the receiver fails, and not repeated within
//! `repeat_after_secs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::*;
use serde_json::Value;
use switchboard_tests::fake_graph::{ErrorRule, GraphErrorSpec};

/// An alert receiver on loopback: every body it was sent, and how many
/// POSTs came (its first answer is a 503, so the host must retry).
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
    posts: Arc<Mutex<usize>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("addr");
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let me = me.clone();
                async move {
                    let first = {
                        let mut posts = me.posts.lock().expect("lock");
                        *posts += 1;
                        *posts == 1
                    };
                    if first {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    me.bodies.lock().expect("lock").push(body);
                    axum::http::StatusCode::OK
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        format!("http://{addr}/hook")
    }

    fn of(&self, alert: &str, page: &str) -> Vec<Value> {
        self.bodies.lock().expect("lock").iter().filter(|b| b["alert"] == alert && b["page"] == page).cloned().collect()
    }

    async fn wait_for(&self, alert: &str, page: &str) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let found = self.of(alert, page);
            if !found.is_empty() {
                return found;
            }
            let all = self.bodies.lock().expect("lock").clone();
            assert!(std::time::Instant::now() < deadline, "no {alert} alert for {page}; got {all:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_refused_token_an_open_circuit_and_dead_letters_are_alerted_once_each_with_retries() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let extra = format!("\n[alerts]\nwebhook_url = \"{url}\"\ndead_letters_per_hour = 2\nrepeat_after_secs = 300\n");
    let pages = vec![page("1001", "tok-1001", &["echo"]), page("1002", "tok-1002", &["faulty"])];
    let host = TestHost::start_with(pages, &extra).await;
    host.fake.inject_error(ErrorRule::new(GraphErrorSpec::invalid_token_190()).token("tok-1001"));
    let body = text_messages(&[("1001", "u1", "m1", "hello"), ("1001", "u2", "m2", "hello"), ("1002", "u3", "m3", "err")]);
    assert_eq!(host.post_signed(&body).await.status(), 200);

    let token = receiver.wait_for("token_refused", "1001").await;
    assert!(token[0]["message"].as_str().is_some_and(|m| m.contains("190")), "{token:#?}");
    assert!(token[0]["at"].as_str().is_some_and(|a| a.ends_with('Z')));
    receiver.wait_for("page_circuit_opened", "1001").await;
    // One dead letter is under the threshold of two; the second passes it.
    host.wait_dead_letters(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.of("dead_letters", "1002").is_empty(), "one dead letter is below the threshold");
    assert_eq!(host.post_signed(&text_messages(&[("1002", "u4", "m4", "err")])).await.status(), 200);
    let dead = receiver.wait_for("dead_letters", "1002").await;
    assert!(dead[0]["message"].as_str().is_some_and(|m| m.starts_with("2 dead letters in the last hour")), "{dead:#?}");

    // More refusals of the same token within the interval: no new alert.
    assert_eq!(host.post_signed(&text_messages(&[("1001", "u5", "m5", "again")])).await.status(), 200);
    host.settle().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.of("token_refused", "1001").len(), 1);
    let posts = *receiver.posts.lock().expect("lock");
    let received = receiver.bodies.lock().expect("lock").len();
    assert_eq!(posts, received + 1, "the first POST was answered 503 and sent again");
    host.stop().await;
}

#[test]
fn a_bad_alerts_url_is_refused_by_the_config() {
    let text = "[alerts]\nwebhook_url = \"ftp://example.com\"\n";
    let problems = switchboard::config::Config::parse(text, std::path::Path::new("."), &|_| None).err().unwrap_or_default();
    assert!(problems.iter().any(|p| p.contains("alerts.webhook_url")), "{problems:?}");
}
