//! The inbound event, parsed once: what it is ([`EventKind`]), whose
//! conversation it belongs to ([`ConversationKey`]), its stable id and its
//! time, with its exact JSON kept for plugins. No I/O; every layer above
//! takes events in this form.
//!
//! Parsing is lenient where Messenger is inconsistent (string or numeric
//! ids and timestamps, seconds or milliseconds, missing `sender`,
//! `sender.user_ref`, unknown event kinds, the old `policy-enforcement`
//! key). Each event gets an `id` that is the same on every redelivery.

mod facts;

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub use facts::{EventFacts, InteractionSource, IssuedToken, NamedOwner};

/// What an event is: the WIT `event-kind` case it becomes for plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Message,
    Echo,
    Postback,
    Optin,
    Referral,
    AccountLinking,
    Delivery,
    Read,
    Reaction,
    MessageEdit,
    PassThreadControl,
    TakeThreadControl,
    RequestThreadControl,
    AppRoles,
    PolicyEnforcement,
    GamePlay,
    ResponseFeedback,
    Business,
    /// Not from Messenger: the host erased what it kept about the person
    /// (see [`InboundEvent::person_erased`]).
    PersonErased,
    Unknown,
}

impl EventKind {
    /// Every kind, in WIT order.
    pub const ALL: [EventKind; 20] = [
        EventKind::Message,
        EventKind::Echo,
        EventKind::Postback,
        EventKind::Optin,
        EventKind::Referral,
        EventKind::AccountLinking,
        EventKind::Delivery,
        EventKind::Read,
        EventKind::Reaction,
        EventKind::MessageEdit,
        EventKind::PassThreadControl,
        EventKind::TakeThreadControl,
        EventKind::RequestThreadControl,
        EventKind::AppRoles,
        EventKind::PolicyEnforcement,
        EventKind::GamePlay,
        EventKind::ResponseFeedback,
        EventKind::Business,
        EventKind::PersonErased,
        EventKind::Unknown,
    ];

    /// The WIT case name (`message`, `account-linking`...): what plugins
    /// declare in `describe()` and what the store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Echo => "echo",
            EventKind::Postback => "postback",
            EventKind::Optin => "optin",
            EventKind::Referral => "referral",
            EventKind::AccountLinking => "account-linking",
            EventKind::Delivery => "delivery",
            EventKind::Read => "read",
            EventKind::Reaction => "reaction",
            EventKind::MessageEdit => "message-edit",
            EventKind::PassThreadControl => "pass-thread-control",
            EventKind::TakeThreadControl => "take-thread-control",
            EventKind::RequestThreadControl => "request-thread-control",
            EventKind::AppRoles => "app-roles",
            EventKind::PolicyEnforcement => "policy-enforcement",
            EventKind::GamePlay => "game-play",
            EventKind::ResponseFeedback => "response-feedback",
            EventKind::Business => "business",
            EventKind::PersonErased => "person-erased",
            EventKind::Unknown => "unknown",
        }
    }

    /// The kind named `name` (a WIT case name), if there is one.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One messaging event, addressed to one Page.
#[derive(Debug, Clone)]
pub struct InboundEvent {
    /// Stable across redeliveries: the `mid` where there is one, otherwise
    /// kind + sender + watermark/timestamp.
    pub id: String,
    pub page_id: String,
    /// Arrived in `standby`: another app owns the thread.
    pub standby: bool,
    pub kind: EventKind,
    /// For `unknown` kinds, the JSON key that carried it.
    pub unknown_key: Option<String>,
    /// The user in the conversation (the recipient, for echoes).
    pub psid: Option<String>,
    /// Set by the checkbox and chat plugins instead of a PSID.
    pub user_ref: Option<String>,
    /// Epoch milliseconds.
    pub timestamp: u64,
    /// What the host itself learns from it.
    pub facts: EventFacts,
    /// The event object exactly as received.
    pub raw: String,
    pub value: Value,
}

impl InboundEvent {
    /// Events with the same key are handled one after another, in order.
    pub fn conversation(&self) -> ConversationKey {
        ConversationKey { page_id: self.page_id.clone(), user: self.psid.clone().or_else(|| self.user_ref.clone()).unwrap_or_default() }
    }
}

/// A conversation: one Page and one person (empty `user` for Page-level
/// events such as policy enforcement).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConversationKey {
    pub page_id: String,
    pub user: String,
}

/// The key of business events ([`InboundEvent::business`]); Messenger never
/// sends it, and webhook events that carry it are refused.
pub(crate) const BUSINESS_KEY: &str = "switchboard_business_event";

/// The key of person-erased events ([`InboundEvent::person_erased`]);
/// refused in webhooks like [`BUSINESS_KEY`].
pub(crate) const PERSON_ERASED_KEY: &str = "switchboard_person_erased";

impl InboundEvent {
    /// An event from the business-events API, shaped like a messaging event
    /// so it is stored, ordered and replayed like one. With a `psid` it joins
    /// that person's conversation; without, the Page's own.
    pub fn business(page_id: &str, psid: Option<&str>, id: &str, body: Value, timestamp: u64) -> Result<InboundEvent, String> {
        let mut raw = serde_json::json!({
            "recipient": { "id": page_id },
            "timestamp": timestamp,
            BUSINESS_KEY: { "id": id, "body": body },
        });
        if let Some(psid) = psid {
            raw["sender"] = serde_json::json!({ "id": psid });
        }
        parse_event(page_id, false, &raw.to_string())
    }

    /// The host erased what it kept about `psid` on `page_id`
    /// (`request`: the erasure's id, from an operator or Meta's data
    /// deletion callback). In the person's conversation, so it is handled
    /// after everything they sent before; plugins that want it delete what
    /// they keep about the person.
    pub fn person_erased(page_id: &str, psid: &str, request: &str, timestamp: u64) -> Result<InboundEvent, String> {
        let raw = serde_json::json!({
            "sender": { "id": psid },
            "recipient": { "id": page_id },
            "timestamp": timestamp,
            PERSON_ERASED_KEY: { "request": request },
        });
        parse_event(page_id, false, &raw.to_string())
    }

    /// For a person-erased event, the erasure's request id.
    pub fn erasure_request(&self) -> Option<&str> {
        self.value[PERSON_ERASED_KEY]["request"].as_str()
    }

    /// The posted body of a business event.
    pub fn business_body(&self) -> &Value {
        &self.value[BUSINESS_KEY]["body"]
    }
}

/// Keys every event carries; the one other key names the event's kind.
const ENVELOPE_KEYS: &[&str] = &["sender", "recipient", "timestamp", "prior_message"];

/// Parses one stored or received event object.
pub fn parse_event(page_id: &str, standby: bool, raw: &str) -> Result<InboundEvent, String> {
    let value: Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    let obj = value.as_object().ok_or("the event is not a JSON object")?;
    let (kind, unknown_key) = kind_of(obj);
    let sender_id = obj.get("sender").and_then(|s| s.get("id")).and_then(id_string);
    let recipient_id = obj.get("recipient").and_then(|r| r.get("id")).and_then(id_string);
    let user_ref =
        obj.get("sender").and_then(|s| s.get("user_ref")).or_else(|| obj.get("optin").and_then(|o| o.get("user_ref"))).and_then(id_string);
    // The user is the sender, except in echoes (the Page sent them) and in
    // events that carry only a recipient (app_roles).
    let psid = match kind {
        EventKind::Echo => recipient_id,
        _ => sender_id.filter(|s| s != page_id).or_else(|| recipient_id.filter(|r| r != page_id)),
    };
    let timestamp = obj.get("timestamp").and_then(millis).or_else(|| watermark(obj, kind)).unwrap_or(0);
    let id = event_id(obj, kind, unknown_key.as_deref(), psid.as_deref().or(user_ref.as_deref()), timestamp, standby);
    Ok(InboundEvent {
        id,
        page_id: page_id.to_string(),
        standby,
        kind,
        unknown_key,
        psid,
        user_ref,
        timestamp,
        facts: EventFacts::read(kind, &value),
        raw: raw.to_string(),
        value,
    })
}

fn kind_of(obj: &serde_json::Map<String, Value>) -> (EventKind, Option<String>) {
    if let Some(message) = obj.get("message") {
        let echo = message.get("is_echo").and_then(Value::as_bool).unwrap_or(false);
        return (if echo { EventKind::Echo } else { EventKind::Message }, None);
    }
    const KINDS: &[(&str, EventKind)] = &[
        ("postback", EventKind::Postback),
        ("optin", EventKind::Optin),
        ("referral", EventKind::Referral),
        ("account_linking", EventKind::AccountLinking),
        ("delivery", EventKind::Delivery),
        ("read", EventKind::Read),
        ("reaction", EventKind::Reaction),
        ("message_edit", EventKind::MessageEdit),
        ("pass_thread_control", EventKind::PassThreadControl),
        ("take_thread_control", EventKind::TakeThreadControl),
        ("request_thread_control", EventKind::RequestThreadControl),
        ("app_roles", EventKind::AppRoles),
        ("policy_enforcement", EventKind::PolicyEnforcement),
        ("policy-enforcement", EventKind::PolicyEnforcement),
        ("game_play", EventKind::GamePlay),
        ("response_feedback", EventKind::ResponseFeedback),
        (BUSINESS_KEY, EventKind::Business),
        (PERSON_ERASED_KEY, EventKind::PersonErased),
    ];
    for (key, kind) in KINDS {
        if obj.contains_key(*key) {
            return (*kind, None);
        }
    }
    let key = obj.keys().find(|k| !ENVELOPE_KEYS.contains(&k.as_str())).cloned();
    (EventKind::Unknown, Some(key.unwrap_or_default()))
}

fn event_id(
    obj: &serde_json::Map<String, Value>,
    kind: EventKind,
    unknown_key: Option<&str>,
    user: Option<&str>,
    timestamp: u64,
    standby: bool,
) -> String {
    let lane = if standby { "standby" } else { "messaging" };
    let user = user.unwrap_or("-");
    let field = |outer: &str, inner: &str| obj.get(outer).and_then(|o| o.get(inner)).and_then(id_string);
    match kind {
        EventKind::Message | EventKind::Echo => {
            if let Some(mid) = field("message", "mid") {
                return format!("{lane}:{kind}:{mid}");
            }
        }
        EventKind::Delivery | EventKind::Read => {
            if let Some(w) = watermark(obj, kind) {
                return format!("{lane}:{kind}:{user}:{w}");
            }
        }
        EventKind::Reaction => {
            let mid = field("reaction", "mid").unwrap_or_default();
            let action = field("reaction", "action").unwrap_or_default();
            return format!("{lane}:reaction:{user}:{mid}:{action}:{timestamp}");
        }
        EventKind::Business => {
            let id = field(BUSINESS_KEY, "id").unwrap_or_default();
            return format!("business:{id}");
        }
        EventKind::PersonErased => {
            // One person per Page and request: the id need not name them.
            let request = field(PERSON_ERASED_KEY, "request").unwrap_or_default();
            return format!("person-erased:{request}");
        }
        EventKind::MessageEdit => {
            let mid = field("message_edit", "mid").unwrap_or_default();
            let n = field("message_edit", "num_edit").unwrap_or_default();
            return format!("{lane}:message-edit:{mid}:{n}");
        }
        _ => {}
    }
    let kind = unknown_key.unwrap_or(kind.as_str());
    format!("{lane}:{kind}:{user}:{timestamp}")
}

fn watermark(obj: &serde_json::Map<String, Value>, kind: EventKind) -> Option<u64> {
    obj.get(kind.as_str()).and_then(|o| o.get("watermark")).and_then(millis)
}

/// Ids come as strings or numbers.
pub fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Timestamps come as numbers or strings, in milliseconds or (in some doc
/// samples) seconds; anything before 1973 in milliseconds is taken as
/// seconds.
pub fn millis(v: &Value) -> Option<u64> {
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64))?,
        Value::String(s) => s.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    Some(if n < 100_000_000_000 { n * 1000 } else { n })
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
