//! The Send API's request bodies: turning an [`OutgoingMessage`] into
//! the JSON `/me/messages` expects, and refusing, before any network call,
//! what the reference says Messenger would refuse (text over 2000
//! characters, more than 13 quick replies, template limits...).

use serde_json::{json, Map, Value};

mod message;

pub use self::message::*;
use crate::bounds::{self, quoted, ID_BYTES, RAW_JSON_BYTES, TEXT_BYTES, TOKEN_BYTES, URL_BYTES};

/// A request the host refuses to send, with the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn check(ok: bool, rule: impl FnOnce() -> String) -> Result<(), Invalid> {
    if ok {
        Ok(())
    } else {
        Err(Invalid(rule()))
    }
}

/// Characters in `s`; called once `s` is bounded in bytes.
fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `value` as `what`, if at most `max` bytes.
fn bounded<'a>(what: &str, value: &'a str, max: usize) -> Result<&'a str, Invalid> {
    bounds::at_most(what, value, max).map_err(Invalid)
}

/// The `recipient` object, once its id is within bounds.
pub fn recipient(r: &Recipient) -> Result<Value, Invalid> {
    Ok(match r {
        Recipient::Psid(id) => json!({ "id": bounds::psid(id).map_err(Invalid)? }),
        Recipient::UserRef(v) => json!({ "user_ref": bounded("the user_ref", v, ID_BYTES)? }),
        Recipient::PhoneNumber(v) => json!({ "phone_number": bounded("the phone number", v, ID_BYTES)? }),
        Recipient::PostId(v) => json!({ "post_id": bounded("the post id", v, ID_BYTES)? }),
        Recipient::CommentId(v) => json!({ "comment_id": bounded("the comment id", v, ID_BYTES)? }),
        Recipient::OneTimeNotifToken(v) => json!({ "one_time_notif_token": bounded("the token", v, TOKEN_BYTES)? }),
        Recipient::NotificationMessagesToken(v) => json!({ "notification_messages_token": bounded("the token", v, TOKEN_BYTES)? }),
    })
}

pub fn sender_action_body(r: &Recipient, action: SenderAction) -> Result<Value, Invalid> {
    let action = match action {
        SenderAction::MarkSeen => "mark_seen",
        SenderAction::TypingOn => "typing_on",
        SenderAction::TypingOff => "typing_off",
    };
    Ok(json!({ "recipient": recipient(r)?, "sender_action": action }))
}

/// The `/me/messages` body for `m`, or the rule it breaks.
pub fn message_body(m: &OutgoingMessage) -> Result<Value, Invalid> {
    let mut message = Map::new();
    match &m.content {
        Content::Text(text) => {
            check(!text.is_empty(), || "message text is empty".into())?;
            bounded("the message text", text, TEXT_BYTES)?;
            check(chars(text) <= 2000, || format!("message text has {} characters; the limit is 2000", chars(text)))?;
            message.insert("text".into(), json!(text));
        }
        Content::Media(media) => {
            let kind = match media.kind {
                MediaKind::Image => "image",
                MediaKind::Audio => "audio",
                MediaKind::Video => "video",
                MediaKind::File => "file",
            };
            let payload = match (&media.url, &media.attachment_id) {
                (Some(url), None) => json!({ "url": bounded("the media URL", url, URL_BYTES)?, "is_reusable": media.is_reusable }),
                (None, Some(id)) => json!({ "attachment_id": bounded("the attachment id", id, ID_BYTES)? }),
                _ => return Err(Invalid("media needs exactly one of url and attachment-id".into())),
            };
            message.insert("attachment".into(), json!({ "type": kind, "payload": payload }));
        }
        Content::Template(template) => {
            message.insert("attachment".into(), json!({ "type": "template", "payload": template_payload(template)? }));
        }
        Content::Raw(json_text) => {
            bounded("the raw message", json_text, RAW_JSON_BYTES)?;
            let value: Value = serde_json::from_str(json_text).map_err(|e| Invalid(format!("the raw message is not JSON: {e}")))?;
            let Value::Object(keys) = value else { return Err(Invalid("the raw message must be a JSON object".into())) };
            check(!keys.is_empty(), || "the raw message is an empty object".into())?;
            // These two come from the message's own fields, checked.
            if let Some(key) = keys.keys().find(|k| *k == "quick_replies" || *k == "metadata") {
                return Err(Invalid(format!("the raw message names {key}; set it in the message's own field")));
            }
            message = keys;
        }
    }
    if !m.quick_replies.is_empty() {
        check(m.quick_replies.len() <= 13, || format!("{} quick replies; the limit is 13", m.quick_replies.len()))?;
        let mut replies = Vec::with_capacity(m.quick_replies.len());
        for q in &m.quick_replies {
            let content_type = match q.kind {
                QuickReplyKind::Text => "text",
                QuickReplyKind::UserPhoneNumber => "user_phone_number",
                QuickReplyKind::UserEmail => "user_email",
            };
            let mut reply = json!({ "content_type": content_type });
            if matches!(q.kind, QuickReplyKind::Text) {
                let title = bounded("a quick reply title", q.title.as_deref().unwrap_or_default(), TEXT_BYTES)?;
                check(!title.is_empty(), || "a text quick reply needs a title".into())?;
                check(chars(title) <= 20, || format!("quick reply title {} is over 20 characters", quoted(title)))?;
                reply["title"] = json!(title);
                let payload = bounded("a quick reply payload", q.payload.as_deref().unwrap_or_default(), TEXT_BYTES)?;
                check(!payload.is_empty(), || format!("quick reply {title:?} needs a payload"))?;
                check(chars(payload) <= 1000, || format!("quick reply {title:?} payload is over 1000 characters"))?;
                reply["payload"] = json!(payload);
            }
            if let Some(url) = &q.image_url {
                reply["image_url"] = json!(bounded("a quick reply image URL", url, URL_BYTES)?);
            }
            replies.push(reply);
        }
        message.insert("quick_replies".into(), Value::Array(replies));
    }
    if let Some(metadata) = &m.metadata {
        bounded("the metadata", metadata, TEXT_BYTES)?;
        check(chars(metadata) < 1000, || "metadata must be under 1000 characters".into())?;
        message.insert("metadata".into(), json!(metadata));
    }

    let messaging_type = match m.messaging_type {
        MessagingType::Response => "RESPONSE",
        MessagingType::Update => "UPDATE",
        MessagingType::MessageTag => "MESSAGE_TAG",
    };
    let mut body = json!({
        "recipient": recipient(&m.recipient)?,
        "messaging_type": messaging_type,
        "message": Value::Object(message),
    });
    match (&m.messaging_type, &m.tag) {
        (MessagingType::MessageTag, Some(tag)) if !tag.is_empty() => body["tag"] = json!(bounded("the tag", tag, ID_BYTES)?),
        (MessagingType::MessageTag, _) => return Err(Invalid("messaging type MESSAGE_TAG needs a tag".into())),
        (_, Some(_)) => return Err(Invalid("a tag is only allowed with messaging type MESSAGE_TAG".into())),
        _ => {}
    }
    if let Some(n) = m.notification_type {
        body["notification_type"] = json!(match n {
            NotificationType::Regular => "REGULAR",
            NotificationType::SilentPush => "SILENT_PUSH",
            NotificationType::NoPush => "NO_PUSH",
        });
    }
    if let Some(mid) = &m.reply_to {
        body["reply_to"] = json!({ "mid": bounded("the reply-to message id", mid, ID_BYTES)? });
    }
    if let Some(persona) = &m.persona_id {
        body["persona_id"] = json!(bounded("the persona id", persona, ID_BYTES)?);
    }
    Ok(body)
}

fn template_payload(t: &Template) -> Result<Value, Invalid> {
    Ok(match t {
        Template::Button(text, buttons) => {
            bounded("the button template text", text, TEXT_BYTES)?;
            check(chars(text) <= 640, || "button template text is over 640 characters".into())?;
            check((1..=3).contains(&buttons.len()), || format!("a button template has 1 to 3 buttons, not {}", buttons.len()))?;
            json!({ "template_type": "button", "text": text, "buttons": buttons_json(buttons)? })
        }
        Template::Generic(elements) => {
            check((1..=10).contains(&elements.len()), || format!("a generic template has 1 to 10 elements, not {}", elements.len()))?;
            let elements = elements.iter().map(element_json).collect::<Result<Vec<_>, _>>()?;
            json!({ "template_type": "generic", "elements": elements })
        }
        Template::OneTimeNotifRequest(title, payload) => {
            bounded("the one-time notification title", title, TEXT_BYTES)?;
            bounded("the one-time notification payload", payload, TEXT_BYTES)?;
            check(chars(title) <= 65, || "one-time notification title is over 65 characters".into())?;
            json!({ "template_type": "one_time_notif_req", "title": title, "payload": payload })
        }
        Template::Raw(json_text) => {
            bounded("the raw template", json_text, RAW_JSON_BYTES)?;
            let value: Value = serde_json::from_str(json_text).map_err(|e| Invalid(format!("raw template is not JSON: {e}")))?;
            check(value.get("template_type").is_some(), || "raw template needs a template_type".into())?;
            value
        }
    })
}

fn element_json(e: &GenericElement) -> Result<Value, Invalid> {
    bounded("an element title", &e.title, TEXT_BYTES)?;
    check(chars(&e.title) <= 80, || format!("element title {} is over 80 characters", quoted(&e.title)))?;
    check(e.buttons.len() <= 3, || "a generic element has at most 3 buttons".into())?;
    let mut v = json!({ "title": e.title });
    if let Some(s) = &e.subtitle {
        bounded("an element subtitle", s, TEXT_BYTES)?;
        check(chars(s) <= 80, || "element subtitle is over 80 characters".into())?;
        v["subtitle"] = json!(s);
    }
    if let Some(url) = &e.image_url {
        v["image_url"] = json!(bounded("an element image URL", url, URL_BYTES)?);
    }
    if let Some(url) = &e.default_action_url {
        v["default_action"] = json!({ "type": "web_url", "url": bounded("a default action URL", url, URL_BYTES)? });
    }
    if !e.buttons.is_empty() {
        v["buttons"] = buttons_json(&e.buttons)?;
    }
    Ok(v)
}

fn buttons_json(buttons: &[Button]) -> Result<Value, Invalid> {
    let title_ok = |t: &str| {
        bounded("a button title", t, TEXT_BYTES)?;
        check(chars(t) <= 20, || format!("button title {} is over 20 characters", quoted(t)))
    };
    let mut out = Vec::with_capacity(buttons.len());
    for b in buttons {
        out.push(match b {
            Button::Postback(title, payload) => {
                title_ok(title)?;
                bounded("a postback payload", payload, TEXT_BYTES)?;
                check(chars(payload) <= 1000, || "postback payload is over 1000 characters".into())?;
                json!({ "type": "postback", "title": title, "payload": payload })
            }
            Button::WebUrl(title, url) => {
                title_ok(title)?;
                json!({ "type": "web_url", "title": title, "url": bounded("a button URL", url, URL_BYTES)? })
            }
            Button::AccountLink(url) => json!({ "type": "account_link", "url": bounded("the account link URL", url, URL_BYTES)? }),
            Button::AccountUnlink => json!({ "type": "account_unlink" }),
            Button::PhoneNumber(title, number) => {
                title_ok(title)?;
                json!({ "type": "phone_number", "title": title, "payload": bounded("the phone number", number, ID_BYTES)? })
            }
        });
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> OutgoingMessage {
        OutgoingMessage {
            recipient: Recipient::Psid("U".into()),
            content: Content::Text(t.into()),
            quick_replies: vec![],
            messaging_type: MessagingType::Response,
            tag: None,
            written_by_human: false,
            notification_type: None,
            metadata: None,
            reply_to: None,
            persona_id: None,
        }
    }

    #[test]
    fn text_with_quick_replies_matches_the_reference_body() {
        let mut m = text("Pick a color:");
        m.quick_replies =
            vec![QuickReply { kind: QuickReplyKind::Text, title: Some("Red".into()), payload: Some("RED".into()), image_url: None }];
        assert_eq!(
            message_body(&m).expect("valid"),
            json!({"recipient":{"id":"U"},"messaging_type":"RESPONSE",
                   "message":{"text":"Pick a color:","quick_replies":[{"content_type":"text","title":"Red","payload":"RED"}]}})
        );
    }

    #[test]
    fn limits_are_enforced_locally() {
        assert!(message_body(&text(&"x".repeat(2000))).is_ok());
        assert!(message_body(&text(&"é".repeat(2001))).is_err());
        let mut m = text("hi");
        m.messaging_type = MessagingType::MessageTag;
        assert_eq!(message_body(&m), Err(Invalid("messaging type MESSAGE_TAG needs a tag".into())));
        m.tag = Some("HUMAN_AGENT".into());
        assert_eq!(message_body(&m).expect("valid")["tag"], "HUMAN_AGENT");
        let mut m = text("hi");
        m.content = Content::Template(Template::Button("t".into(), vec![]));
        assert!(message_body(&m).is_err());
    }

    #[test]
    fn one_time_notification_request() {
        let mut m = text("");
        m.content = Content::Template(Template::OneTimeNotifRequest("Back in stock?".into(), "SKU-1".into()));
        let body = message_body(&m).expect("valid");
        assert_eq!(body["message"]["attachment"]["payload"]["template_type"], "one_time_notif_req");
        m.recipient = Recipient::OneTimeNotifToken("tok".into());
        assert_eq!(message_body(&m).expect("valid")["recipient"], json!({"one_time_notif_token":"tok"}));
    }

    #[test]
    fn raw_content_goes_into_the_message_beside_the_checked_fields() {
        let mut m = text("");
        m.content = Content::Raw(r#"{"sticker_id": 369239263222822}"#.into());
        m.metadata = Some("m".into());
        let body = message_body(&m).expect("valid");
        assert_eq!(body["message"], json!({"sticker_id": 369239263222822u64, "metadata": "m"}));
        for (raw, why) in
            [("[1]", "must be a JSON object"), ("{}", "empty object"), (r#"{"metadata":"x"}"#, "names metadata"), ("{", "not JSON")]
        {
            m.content = Content::Raw(raw.into());
            let refused = message_body(&m).expect_err(raw).0;
            assert!(refused.contains(why), "{raw}: {refused}");
        }
    }
}
