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
//! Each event is parsed by [`crate::model::parse_event`], which keeps its
//! exact JSON text for plugins.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::model::{id_string, parse_event, EventKind, InboundEvent, BUSINESS_KEY, PERSON_ERASED_KEY};

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
                    Ok(event) if event.kind == EventKind::Business => {
                        parsed.skipped.push(format!("entry[{i}]: `{BUSINESS_KEY}` is reserved for the business-events API"))
                    }
                    Ok(event) if event.kind == EventKind::PersonErased => {
                        parsed.skipped.push(format!("entry[{i}]: `{PERSON_ERASED_KEY}` is reserved for the host's own erasures"))
                    }
                    Ok(event) => parsed.events.push(event),
                    Err(e) => parsed.skipped.push(format!("entry[{i}].{}[{j}]: {e}", if standby { "standby" } else { "messaging" })),
                }
            }
        }
    }
    Ok(parsed)
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
        let kinds: Vec<_> = parsed.events.iter().map(|e| (e.page_id.as_str(), e.kind.as_str(), e.standby)).collect();
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
        assert_eq!((e[0].kind.as_str(), e[0].psid.as_deref()), ("echo", Some("U")));
        assert_eq!((e[1].kind.as_str(), e[1].psid.as_deref(), e[1].user_ref.as_deref()), ("optin", None, Some("UR")));
        assert_eq!(e[2].kind, EventKind::PolicyEnforcement);
        assert_eq!((e[3].kind.as_str(), e[3].unknown_key.as_deref()), ("unknown", Some("brand_new_thing")));
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

    /// Only the host makes business and person-erased events: a webhook
    /// carrying their keys (signed or not) cannot erase anyone.
    #[test]
    fn host_only_kinds_are_refused_in_webhooks() {
        let body = br#"{"object":"page","entry":[{"id":"P","messaging":[
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1,"switchboard_person_erased":{"request":"x"}},
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":2,"switchboard_business_event":{"id":"x","body":{}}},
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":3,"postback":{"payload":"ok"}}]}]}"#;
        let parsed = parse(body).expect("valid");
        assert_eq!(parsed.events.iter().map(|e| e.kind).collect::<Vec<_>>(), [EventKind::Postback]);
        assert_eq!(parsed.skipped.len(), 2, "{:?}", parsed.skipped);
        let erased = InboundEvent::person_erased("P", "U", "req1", 5).expect("event");
        assert_eq!((erased.kind, erased.id.as_str(), erased.psid.as_deref()), (EventKind::PersonErased, "person-erased:req1", Some("U")));
        assert_eq!(erased.erasure_request(), Some("req1"));
        assert_eq!(erased.facts.interaction, None, "an erasure is not an interaction");
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
