//! Alerts: a JSON POST to `[alerts] webhook_url` when something needs an
//! operator: a Page's circuit opened, a plugin's circuit opened, Meta
//! refused a Page's token, or a Page's dead letters passed
//! `dead_letters_per_hour`.
//!
//! [`Alerts::raise`] never waits: alerts queue in a bounded channel (256;
//! past that they are dropped and logged) and one task delivers them in
//! order, each tried three times (after 1 s and 5 s) before it is logged as
//! lost. The same alert (kind, Page, plugin) goes out at most once per
//! `repeat_after_secs`; the ones in between are counted in the next
//! (`"repeated"`). What raises alerts is the recent-problems log
//! (`store::problems`), which sees every one of these as it happens.
//!
//! Body: `{"alert": "page_circuit_opened" | "plugin_circuit_opened" |
//! "token_refused" | "dead_letters", "page": id | null, "plugin": id |
//! null, "message": text, "at": RFC 3339, "repeated": n}`.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use tokio::sync::mpsc;

use crate::config::AlertsConfig;

const QUEUE: usize = 256;
const RETRY_AFTER: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(5)];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    PageCircuitOpened,
    PluginCircuitOpened,
    TokenRefused,
    /// One dead letter; an alert once a Page has `dead_letters_per_hour`.
    DeadLetter,
}

impl AlertKind {
    fn as_str(self) -> &'static str {
        match self {
            AlertKind::PageCircuitOpened => "page_circuit_opened",
            AlertKind::PluginCircuitOpened => "plugin_circuit_opened",
            AlertKind::TokenRefused => "token_refused",
            AlertKind::DeadLetter => "dead_letters",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Alert {
    pub kind: AlertKind,
    pub page_id: Option<String>,
    pub plugin: Option<String>,
    pub message: String,
}

/// Where alerts are raised. `Alerts::default()` sends none (no
/// `webhook_url`).
#[derive(Clone, Default)]
pub struct Alerts(Option<mpsc::Sender<Alert>>);

impl Alerts {
    /// The handle, and the task that delivers (run it as long as the host
    /// runs; it ends at once without a `webhook_url`).
    pub fn start(config: &AlertsConfig) -> (Alerts, impl std::future::Future<Output = ()> + Send + 'static) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let alerts = if config.webhook_url.is_some() { Alerts(Some(tx)) } else { Alerts::default() };
        (alerts, deliver(rx, config.clone()))
    }

    /// Queues `alert`; never waits.
    pub fn raise(&self, alert: Alert) {
        let Some(tx) = &self.0 else { return };
        if let Err(mpsc::error::TrySendError::Full(a)) = tx.try_send(alert) {
            tracing::warn!(alert = a.kind.as_str(), "alert queue full; an alert was dropped");
        }
    }
}

type Key = (AlertKind, Option<String>, Option<String>);

/// What decides whether an alert goes out now: the repeat interval per
/// key, and the dead letters per Page in the last hour.
struct Gate {
    repeat_after: Duration,
    dead_letters_per_hour: u32,
    last_sent: HashMap<Key, (Instant, u32)>,
    dead_letters: HashMap<Option<String>, Vec<Instant>>,
}

impl Gate {
    /// The alert to send for `alert` now, with how many like it were held
    /// back since the last; `None` to hold it back.
    fn admit(&mut self, mut alert: Alert, now: Instant) -> Option<(Alert, u32)> {
        if alert.kind == AlertKind::DeadLetter {
            let times = self.dead_letters.entry(alert.page_id.clone()).or_default();
            times.retain(|t| now.duration_since(*t) < Duration::from_secs(3600));
            times.push(now);
            if times.len() < self.dead_letters_per_hour as usize {
                return None;
            }
            alert.message = format!("{} dead letters in the last hour; the latest: {}", times.len(), alert.message);
            times.clear();
        }
        let key = (alert.kind, alert.page_id.clone(), alert.plugin.clone());
        match self.last_sent.get_mut(&key) {
            Some((at, held)) if now.duration_since(*at) < self.repeat_after => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                let repeated = std::mem::take(held);
                *at = now;
                Some((alert, repeated))
            }
            None => {
                self.last_sent.insert(key, (now, 0));
                Some((alert, 0))
            }
        }
    }
}

async fn deliver(mut rx: mpsc::Receiver<Alert>, config: AlertsConfig) {
    let Some(url) = config.webhook_url.clone() else { return };
    let http = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(http) => http,
        Err(e) => return tracing::error!(error = %e, "cannot build the alerts' HTTP client; no alerts will be sent"),
    };
    let mut gate = Gate {
        repeat_after: Duration::from_secs(config.repeat_after_secs),
        dead_letters_per_hour: config.dead_letters_per_hour.max(1),
        last_sent: HashMap::new(),
        dead_letters: HashMap::new(),
    };
    while let Some(alert) = rx.recv().await {
        let Some((alert, repeated)) = gate.admit(alert, Instant::now()) else { continue };
        let body = json!({
            "alert": alert.kind.as_str(),
            "page": alert.page_id,
            "plugin": alert.plugin,
            "message": alert.message,
            "at": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            "repeated": repeated,
        });
        post(&http, &url, &body).await;
    }
}

/// POSTs `body`, trying again after each of [`RETRY_AFTER`].
async fn post(http: &reqwest::Client, url: &str, body: &serde_json::Value) {
    let mut waits = RETRY_AFTER.iter();
    loop {
        let outcome = match http.post(url).json(body).send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => format!("answered {}", r.status()),
            Err(e) => e.without_url().to_string(),
        };
        match waits.next() {
            Some(wait) => {
                tracing::debug!(alert = %body["alert"], %outcome, "alert not delivered; trying again");
                tokio::time::sleep(*wait).await;
            }
            None => {
                tracing::warn!(alert = %body["alert"], page = %body["page"], %outcome, "alert not delivered after 3 tries; dropped");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(kind: AlertKind, page: &str) -> Alert {
        Alert { kind, page_id: Some(page.into()), plugin: None, message: "m".into() }
    }

    #[test]
    fn repeats_are_held_back_and_counted_and_dead_letters_wait_for_the_threshold() {
        let mut gate = Gate {
            repeat_after: Duration::from_secs(300),
            dead_letters_per_hour: 3,
            last_sent: HashMap::new(),
            dead_letters: HashMap::new(),
        };
        let t0 = Instant::now();
        assert!(gate.admit(alert(AlertKind::TokenRefused, "P"), t0).is_some());
        assert!(gate.admit(alert(AlertKind::TokenRefused, "P"), t0 + Duration::from_secs(1)).is_none());
        assert!(gate.admit(alert(AlertKind::TokenRefused, "Q"), t0 + Duration::from_secs(1)).is_some(), "another Page's is its own");
        assert!(gate.admit(alert(AlertKind::TokenRefused, "P"), t0 + Duration::from_secs(2)).is_none());
        let (_, repeated) = gate.admit(alert(AlertKind::TokenRefused, "P"), t0 + Duration::from_secs(301)).expect("sent again");
        assert_eq!(repeated, 2);

        assert!(gate.admit(alert(AlertKind::DeadLetter, "P"), t0).is_none());
        assert!(gate.admit(alert(AlertKind::DeadLetter, "P"), t0).is_none());
        let (sent, _) = gate.admit(alert(AlertKind::DeadLetter, "P"), t0).expect("the third passes the threshold");
        assert!(sent.message.starts_with("3 dead letters in the last hour"), "{}", sent.message);
        // An hour later the old ones no longer count.
        assert!(gate.admit(alert(AlertKind::DeadLetter, "P"), t0 + Duration::from_secs(4000)).is_none());
    }
}
