//! What the host itself learns from an event, read once when the event is
//! parsed: whether it is one of the person's own actions (and which), the
//! owner a handover names, an account link's status, a one-time-notification
//! token, the app that asks for the thread, and the app roles. The
//! conversation state and the dispatcher consume these; plugins get the
//! whole event, built from the raw JSON (`sandbox/event_model.rs`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{id_string, EventKind};

/// The facts of one event; all empty for kinds that carry none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFacts {
    /// One of the person's own actions, which open the messaging window.
    pub interaction: Option<InteractionSource>,
    /// For `pass-thread-control` and `take-thread-control`: the owner the
    /// event names, if it names one.
    pub named_owner: Option<NamedOwner>,
    /// For `account-linking`: linked (true) or unlinked (false).
    pub account_linked: Option<bool>,
    /// For a `one_time_notif_req` opt-in: the token Meta issued.
    pub notification_token: Option<IssuedToken>,
    /// For `request-thread-control`: the app that asks.
    pub requested_owner_app_id: Option<String>,
    /// For `app-roles`: each app id with its roles.
    pub app_roles: Vec<(String, Vec<String>)>,
}

/// Which of the person's actions an interaction was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InteractionSource {
    Message,
    QuickReply,
    Postback,
    Optin,
    Referral,
    AdReferral,
}

/// The owner a handover event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedOwner {
    App(String),
    /// `new_owner_app_id: null`: nobody owns the thread now.
    Idle,
}

/// A one-time-notification token and the topic (the opt-in's payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub topic: Option<String>,
}

impl EventFacts {
    /// The facts of an event of `kind` whose JSON is `v`.
    pub(super) fn read(kind: EventKind, v: &Value) -> EventFacts {
        let from_ad = |referral: &Value| referral["source"].as_str() == Some("ADS");
        let interaction = match kind {
            EventKind::Message if from_ad(&v["message"]["referral"]) => Some(InteractionSource::AdReferral),
            EventKind::Message if v["message"].get("quick_reply").is_some() => Some(InteractionSource::QuickReply),
            EventKind::Message => Some(InteractionSource::Message),
            EventKind::Postback if from_ad(&v["postback"]["referral"]) => Some(InteractionSource::AdReferral),
            EventKind::Postback => Some(InteractionSource::Postback),
            EventKind::Optin => Some(InteractionSource::Optin),
            EventKind::Referral if from_ad(&v["referral"]) => Some(InteractionSource::AdReferral),
            EventKind::Referral => Some(InteractionSource::Referral),
            _ => None,
        };
        let named = |key: &str| match v[key].get("new_owner_app_id") {
            Some(Value::Null) => Some(NamedOwner::Idle),
            Some(id) => id_string(id).map(NamedOwner::App),
            None => None,
        };
        let named_owner = match kind {
            EventKind::PassThreadControl => named("pass_thread_control"),
            EventKind::TakeThreadControl => named("take_thread_control"),
            _ => None,
        };
        let account_linked = match (kind, v["account_linking"]["status"].as_str()) {
            (EventKind::AccountLinking, Some("linked")) => Some(true),
            (EventKind::AccountLinking, Some("unlinked")) => Some(false),
            _ => None,
        };
        let optin = &v["optin"];
        let notification_token = match (kind, optin["type"].as_str(), optin["one_time_notif_token"].as_str()) {
            (EventKind::Optin, Some("one_time_notif_req"), Some(token)) => {
                Some(IssuedToken { token: token.to_string(), topic: optin["payload"].as_str().map(str::to_string) })
            }
            _ => None,
        };
        let requested_owner_app_id = match kind {
            EventKind::RequestThreadControl => id_string(&v["request_thread_control"]["requested_owner_app_id"]),
            _ => None,
        };
        let app_roles = match (kind, v["app_roles"].as_object()) {
            (EventKind::AppRoles, Some(apps)) => apps
                .iter()
                .map(|(app, roles)| {
                    let roles = roles.as_array().map(|r| r.iter().filter_map(|x| x.as_str().map(str::to_string)).collect());
                    (app.clone(), roles.unwrap_or_default())
                })
                .collect(),
            _ => Vec::new(),
        };
        EventFacts { interaction, named_owner, account_linked, notification_token, requested_owner_app_id, app_roles }
    }
}
