//! A plugin that reports what the host tells it, for tests: replies
//! `probe: {text}`; when a send fails it sends `send failed: ...` with the
//! typed error; "handover" passes the thread to the Page Inbox; "owner"
//! reports the thread owner; "stop" ends the plugin chain.

use switchboard_plugin_sdk::prelude::*;
use switchboard_plugin_sdk::{log, MessengerError};

struct Probe;

fn describe(e: &Error) -> String {
    match e.messenger() {
        Some(MessengerError::Graph(g)) => format!(
            "graph code={} subcode={} status={}",
            g.code,
            g.subcode.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            g.http_status
        ),
        Some(MessengerError::InvalidRequest(m)) => format!("invalid-request {m}"),
        Some(MessengerError::Unavailable(_)) => "unavailable".into(),
        Some(MessengerError::OutsideWindow) => "outside-window".into(),
        Some(MessengerError::NotThreadOwner) => "not-thread-owner".into(),
        Some(MessengerError::NotificationTokenUsed) => "notification-token-used".into(),
        Some(MessengerError::NotificationTokenExpired) => "notification-token-expired".into(),
        Some(MessengerError::PageCircuitOpen) => "page-circuit-open".into(),
        Some(MessengerError::QuotaExceeded) => "quota-exceeded".into(),
        None => e.to_string(),
    }
}

impl Plugin for Probe {
    fn info() -> Info {
        Info::new("probe", env!("CARGO_PKG_VERSION"))
    }

    fn handle(cx: &Context, event: &Event) -> Result<Verdict, Error> {
        let kind = format!("{:?}", event.kind);
        let kind = kind.split(['(', ' ']).next().unwrap_or_default().to_string();
        log::info(format!("probe saw {kind} standby={}", event.standby));
        match &event.kind {
            EventKind::Message(m) => Self::on_message(cx, m),
            _ => Ok(Verdict::Continue),
        }
    }

    fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
        let Some(text) = message.text.as_deref() else { return Ok(Verdict::Continue) };
        let answer = match text {
            "handover" => format!("handover: {}", cx.pass_to_page_inbox(Some("probe")).map(|_| "ok".into()).unwrap_or_else(|e| describe(&e))),
            "owner" => match cx.thread_owner() {
                Ok(owner) => format!("owner: {}", owner.as_deref().unwrap_or("none")),
                Err(e) => format!("owner: {}", describe(&e)),
            },
            _ => format!("probe: {text}"),
        };
        if let Err(e) = cx.reply(answer) {
            cx.reply(format!("send failed: {}", describe(&e)))?;
        }
        Ok(if text == "stop" { Verdict::Stop } else { Verdict::Continue })
    }
}

export_plugin!(Probe);
