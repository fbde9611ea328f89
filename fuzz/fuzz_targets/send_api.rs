//! The Send API body builder: any message a plugin can hand the host is a
//! body or a refusal, never a panic; a body keeps the Platform's text limit
//! and stays small, whatever the plugin's strings were.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use switchboard_formats::send_api::{
    message_body, Button, Content, GenericElement, Media, MediaKind, MessagingType, NotificationType, OutgoingMessage, QuickReply,
    QuickReplyKind, Recipient, Template,
};

/// A string, sometimes far past every bound (the fuzzer's bytes are few).
fn text(u: &mut Unstructured) -> Result<String> {
    let s = String::arbitrary(u)?;
    Ok(match u8::arbitrary(u)? {
        0..=3 => s.repeat(5000),
        _ => s,
    })
}

fn opt(u: &mut Unstructured) -> Result<Option<String>> {
    Ok(if bool::arbitrary(u)? { Some(text(u)?) } else { None })
}

fn list<T>(u: &mut Unstructured, max: usize, item: impl Fn(&mut Unstructured) -> Result<T>) -> Result<Vec<T>> {
    let n = u.int_in_range(0..=max)?;
    (0..n).map(|_| item(u)).collect()
}

fn button(u: &mut Unstructured) -> Result<Button> {
    Ok(match u.int_in_range(0..=4)? {
        0 => Button::Postback(text(u)?, text(u)?),
        1 => Button::WebUrl(text(u)?, text(u)?),
        2 => Button::AccountLink(text(u)?),
        3 => Button::AccountUnlink,
        _ => Button::PhoneNumber(text(u)?, text(u)?),
    })
}

fn element(u: &mut Unstructured) -> Result<GenericElement> {
    Ok(GenericElement { title: text(u)?, subtitle: opt(u)?, image_url: opt(u)?, default_action_url: opt(u)?, buttons: list(u, 4, button)? })
}

fn recipient(u: &mut Unstructured) -> Result<Recipient> {
    let v = text(u)?;
    Ok(match u.int_in_range(0..=6)? {
        0 => Recipient::Psid(v),
        1 => Recipient::UserRef(v),
        2 => Recipient::PhoneNumber(v),
        3 => Recipient::PostId(v),
        4 => Recipient::CommentId(v),
        5 => Recipient::OneTimeNotifToken(v),
        _ => Recipient::NotificationMessagesToken(v),
    })
}

fn content(u: &mut Unstructured) -> Result<Content> {
    Ok(match u.int_in_range(0..=6)? {
        0 | 1 => Content::Text(text(u)?),
        2 => {
            let kind = *u.choose(&[MediaKind::Image, MediaKind::Audio, MediaKind::Video, MediaKind::File])?;
            Content::Media(Media { kind, url: opt(u)?, attachment_id: opt(u)?, is_reusable: bool::arbitrary(u)? })
        }
        3 => Content::Template(Template::Button(text(u)?, list(u, 4, button)?)),
        4 => Content::Template(Template::Generic(list(u, 11, element)?)),
        5 => Content::Raw(text(u)?),
        _ => {
            Content::Template(if bool::arbitrary(u)? { Template::OneTimeNotifRequest(text(u)?, text(u)?) } else { Template::Raw(text(u)?) })
        }
    })
}

fn message(u: &mut Unstructured) -> Result<OutgoingMessage> {
    let quick_reply = |u: &mut Unstructured| -> Result<QuickReply> {
        let kind = *u.choose(&[QuickReplyKind::Text, QuickReplyKind::UserPhoneNumber, QuickReplyKind::UserEmail])?;
        Ok(QuickReply { kind, title: opt(u)?, payload: opt(u)?, image_url: opt(u)? })
    };
    Ok(OutgoingMessage {
        recipient: recipient(u)?,
        content: content(u)?,
        quick_replies: list(u, 14, quick_reply)?,
        messaging_type: *u.choose(&[MessagingType::Response, MessagingType::Update, MessagingType::MessageTag])?,
        tag: opt(u)?,
        written_by_human: bool::arbitrary(u)?,
        notification_type: if bool::arbitrary(u)? {
            Some(*u.choose(&[NotificationType::Regular, NotificationType::SilentPush, NotificationType::NoPush])?)
        } else {
            None
        },
        metadata: opt(u)?,
        reply_to: opt(u)?,
        persona_id: opt(u)?,
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(m) = message(&mut Unstructured::new(data)) else { return };
    match message_body(&m) {
        Ok(body) => {
            assert!(body["recipient"].is_object() && body["message"].is_object(), "{body}");
            if let Some(text) = body["message"]["text"].as_str() {
                assert!((1..=2000).contains(&text.chars().count()), "text of {} characters sent", text.chars().count());
            }
            let size = body.to_string().len();
            assert!(size < 1 << 20, "a {size}-byte body from bounded parts");
        }
        Err(refused) => assert!(refused.0.len() < 4096, "a refusal that quotes too much: {} bytes", refused.0.len()),
    }
});
