//! Turning a verified webhook body into [`InboundEvent`]s.
//!
//! Reads **every** `entry` and, in each, every event of `messaging` and of
//! `standby`. Parsing is lenient where Messenger is inconsistent (string or
//! numeric ids and timestamps, seconds or milliseconds, missing `sender`,
//! `sender.user_ref`, unknown event kinds, the old `policy-enforcement` key)
//! and strict only where nothing sensible can be done (a body that is not
//! JSON). A malformed entry or event is skipped and reported; it never takes
//! the rest of the batch down.
//!
//! Each event keeps its exact JSON text (`raw`) for plugins, and gets a
//! stable `id` that is the same on every redelivery of the same event.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// One messaging event, addressed to one Page.
#[derive(Debug, Clone)]
pub struct InboundEvent {
    /// Stable across redeliveries: the `mid` where there is one, otherwise
    /// kind + sender + watermark/timestamp.
    pub id: String,
    pub page_id: String,
    /// Arrived in `standby`: another app owns the thread.
    pub standby: bool,
    /// The WIT `event-kind` case name: `message`, `echo`, `postback`...
    pub kind: &'static str,
    /// For `unknown` kinds, the JSON key that carried it.
    pub unknown_key: Option<String>,
    /// The user in the conversation (the recipient, for echoes).
    pub psid: Option<String>,
    /// Set by the checkbox and chat plugins instead of a PSID.
    pub user_ref: Option<String>,
    /// Epoch milliseconds.
    pub timestamp: u64,
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

/// The result of parsing a webhook body.
#[derive(Debug, Default)]
pub struct Parsed {
    pub events: Vec<InboundEvent>,
    /// What was skipped and why, for the logs.
    pub skipped: Vec<String>,
    /// `object` when it is not `page` (the body is acknowledged and ignored).
    pub ignored_object: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("the body is not a JSON webhook envelope: {0}")]
pub struct MalformedBody(String);

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    object: Option<String>,
    #[serde(default, borrow)]
    entry: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    id: Option<Value>,
    // `null` is read as empty, like a missing key.
    #[serde(default, borrow)]
    messaging: Option<Vec<&'a RawValue>>,
    #[serde(default, borrow)]
    standby: Option<Vec<&'a RawValue>>,
}

/// Parses a (verified) webhook body.
pub fn parse(body: &[u8]) -> Result<Parsed, MalformedBody> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| MalformedBody(e.to_string()))?;
    let mut parsed = Parsed::default();
    match envelope.object.as_deref() {
        Some("page") => {}
        other => {
            parsed.ignored_object = Some(other.unwrap_or("<none>").to_string());
            return Ok(parsed);
        }
    }
    for (i, raw_entry) in envelope.entry.iter().enumerate() {
        let entry: Entry = match serde_json::from_str(raw_entry.get()) {
            Ok(e) => e,
            Err(e) => {
                parsed.skipped.push(format!("entry[{i}]: {e}"));
                continue;
            }
        };
        let Some(page_id) = entry.id.as_ref().and_then(id_string) else {
            parsed.skipped.push(format!("entry[{i}]: no Page id"));
            continue;
        };
        for (standby, list) in [(false, &entry.messaging), (true, &entry.standby)] {
            for (j, raw) in list.iter().flatten().enumerate() {
                match parse_event(&page_id, standby, raw.get()) {
                    Ok(event) if event.kind == "business" => {
                        parsed.skipped.push(format!("entry[{i}]: `{BUSINESS_KEY}` is reserved for the business-events API"))
                    }
                    Ok(event) => parsed.events.push(event),
                    Err(e) => parsed.skipped.push(format!("entry[{i}].{}[{j}]: {e}", if standby { "standby" } else { "messaging" })),
                }
            }
        }
    }
    Ok(parsed)
}

/// The key of business events ([`InboundEvent::business`]); Messenger never
/// sends it, and webhook events that carry it are refused.
const BUSINESS_KEY: &str = "switchboard_business_event";

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

    /// The posted body of a business event.
    pub fn business_body(&self) -> &Value {
        &self.value[BUSINESS_KEY]["body"]
    }
}

/// Keys every event carries; the one other key names the event's kind.
const ENVELOPE_KEYS: &[&str] = &["sender", "recipient", "timestamp", "prior_message"];

/// Parses one stored or received event object.
pub(crate) fn parse_event(page_id: &str, standby: bool, raw: &str) -> Result<InboundEvent, String> {
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
        "echo" => recipient_id,
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
        raw: raw.to_string(),
        value,
    })
}

fn kind_of(obj: &serde_json::Map<String, Value>) -> (&'static str, Option<String>) {
    if let Some(message) = obj.get("message") {
        let echo = message.get("is_echo").and_then(Value::as_bool).unwrap_or(false);
        return (if echo { "echo" } else { "message" }, None);
    }
    const KINDS: &[(&str, &str)] = &[
        ("postback", "postback"),
        ("optin", "optin"),
        ("referral", "referral"),
        ("account_linking", "account-linking"),
        ("delivery", "delivery"),
        ("read", "read"),
        ("reaction", "reaction"),
        ("message_edit", "message-edit"),
        ("pass_thread_control", "pass-thread-control"),
        ("take_thread_control", "take-thread-control"),
        ("request_thread_control", "request-thread-control"),
        ("app_roles", "app-roles"),
        ("policy_enforcement", "policy-enforcement"),
        ("policy-enforcement", "policy-enforcement"),
        ("game_play", "game-play"),
        ("response_feedback", "response-feedback"),
        (BUSINESS_KEY, "business"),
    ];
    for (key, kind) in KINDS {
        if obj.contains_key(*key) {
            return (kind, None);
        }
    }
    let key = obj.keys().find(|k| !ENVELOPE_KEYS.contains(&k.as_str())).cloned();
    ("unknown", Some(key.unwrap_or_default()))
}

fn event_id(
    obj: &serde_json::Map<String, Value>,
    kind: &str,
    unknown_key: Option<&str>,
    user: Option<&str>,
    timestamp: u64,
    standby: bool,
) -> String {
    let lane = if standby { "standby" } else { "messaging" };
    let user = user.unwrap_or("-");
    let field = |outer: &str, inner: &str| obj.get(outer).and_then(|o| o.get(inner)).and_then(id_string);
    match kind {
        "message" | "echo" => {
            if let Some(mid) = field("message", "mid") {
                return format!("{lane}:{kind}:{mid}");
            }
        }
        "delivery" | "read" => {
            if let Some(w) = watermark(obj, kind) {
                return format!("{lane}:{kind}:{user}:{w}");
            }
        }
        "reaction" => {
            let mid = field("reaction", "mid").unwrap_or_default();
            let action = field("reaction", "action").unwrap_or_default();
            return format!("{lane}:reaction:{user}:{mid}:{action}:{timestamp}");
        }
        "business" => {
            let id = field(BUSINESS_KEY, "id").unwrap_or_default();
            return format!("business:{id}");
        }
        "message-edit" => {
            let mid = field("message_edit", "mid").unwrap_or_default();
            let n = field("message_edit", "num_edit").unwrap_or_default();
            return format!("{lane}:message-edit:{mid}:{n}");
        }
        _ => {}
    }
    let kind = unknown_key.unwrap_or(kind);
    format!("{lane}:{kind}:{user}:{timestamp}")
}

fn watermark(obj: &serde_json::Map<String, Value>, kind: &str) -> Option<u64> {
    obj.get(kind).and_then(|o| o.get("watermark")).and_then(millis)
}

/// Ids come as strings or numbers.
pub(crate) fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Timestamps come as numbers or strings, in milliseconds or (in some doc
/// samples) seconds; anything before 1973 in milliseconds is taken as
/// seconds.
pub(crate) fn millis(v: &Value) -> Option<u64> {
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64))?,
        Value::String(s) => s.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    Some(if n < 100_000_000_000 { n * 1000 } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_entry_and_both_lanes() {
        let body = br#"{"object":"page","entry":[
            {"id":"1","time":1,"messaging":[
                {"sender":{"id":"u1"},"recipient":{"id":"1"},"timestamp":1458692752478,"message":{"mid":"m1","text":"a"}},
                {"sender":{"id":"u2"},"recipient":{"id":"1"},"timestamp":1458692752479,"postback":{"payload":"P"}}]},
            {"id":2,"time":1,"standby":[
                {"sender":{"id":"u3"},"recipient":{"id":"2"},"timestamp":"1527459824","message":{"mid":"m3","text":"b"}}]}]}"#;
        let parsed = parse(body).expect("valid");
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        let kinds: Vec<_> = parsed.events.iter().map(|e| (e.page_id.as_str(), e.kind, e.standby)).collect();
        assert_eq!(kinds, [("1", "message", false), ("1", "postback", false), ("2", "message", true)]);
        assert_eq!(parsed.events[2].timestamp, 1_527_459_824_000);
        assert_eq!(parsed.events[0].id, "messaging:message:m1");
    }

    #[test]
    fn echoes_belong_to_the_recipient_and_missing_senders_are_fine() {
        let body = br#"{"object":"page","entry":[{"id":"P","messaging":[
            {"sender":{"id":"P"},"recipient":{"id":"U"},"timestamp":5,"message":{"is_echo":true,"mid":"e1","text":"x"}},
            {"recipient":{"id":"P"},"timestamp":1458692752478,"optin":{"ref":"r","user_ref":"UR"}},
            {"recipient":{"id":"P"},"timestamp":1458692752478,"policy-enforcement":{"action":"block","reason":"r"}},
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1458692752478,"brand_new_thing":{"x":1}}]}]}"#;
        let e = parse(body).expect("valid").events;
        assert_eq!((e[0].kind, e[0].psid.as_deref()), ("echo", Some("U")));
        assert_eq!((e[1].kind, e[1].psid.as_deref(), e[1].user_ref.as_deref()), ("optin", None, Some("UR")));
        assert_eq!(e[2].kind, "policy-enforcement");
        assert_eq!((e[3].kind, e[3].unknown_key.as_deref()), ("unknown", Some("brand_new_thing")));
    }

    #[test]
    fn bad_events_are_skipped_not_fatal() {
        let body = br#"{"object":"page","entry":[{"time":1},{"id":"P","messaging":[42,
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1,"read":{"watermark":1458668856253}}]}]}"#;
        let parsed = parse(body).expect("valid");
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.skipped.len(), 2);
        assert_eq!(parsed.events[0].id, "messaging:read:U:1458668856253");
    }

    #[test]
    fn other_objects_and_garbage() {
        assert_eq!(parse(br#"{"object":"instagram","entry":[]}"#).expect("ok").ignored_object.as_deref(), Some("instagram"));
        assert!(parse(b"not json").is_err());
        assert!(parse(b"[1,2]").is_err());
    }

    #[test]
    fn raw_text_is_exact() {
        let body = br#"{"object":"page","entry":[{"id":"P","messaging":[{"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1458692752478,"message":{"mid":"m","text":"\u00e4\/"}}]}]}"#;
        let e = &parse(body).expect("valid").events[0];
        assert!(e.raw.contains(r#""\u00e4\/""#));
        assert_eq!(e.value["message"]["text"], "ä/");
    }
}
