//! The WIT `outgoing-message` (and its parts) as the Send API's
//! [`OutgoingMessage`]: the one place WIT records meet the body builder.
//! 0.1 and 0.2 publish records of the same shape (0.2 adds the `raw`
//! content), so the conversions are written once and instantiated per
//! version, where `wit` names that version's generated types.

use crate::send_api::{
    Button, Content, GenericElement, Media, MediaKind, MessagingType, NotificationType, OutgoingMessage, QuickReply, QuickReplyKind,
    Recipient, SenderAction, Template,
};

macro_rules! conversions {
    ($($content_arms:tt)*) => {
        impl From<wit_types::Recipient> for Recipient {
            fn from(r: wit_types::Recipient) -> Self {
                use wit_types::Recipient as W;
                match r {
                    W::Psid(v) => Recipient::Psid(v),
                    W::UserRef(v) => Recipient::UserRef(v),
                    W::PhoneNumber(v) => Recipient::PhoneNumber(v),
                    W::PostId(v) => Recipient::PostId(v),
                    W::CommentId(v) => Recipient::CommentId(v),
                    W::OneTimeNotifToken(v) => Recipient::OneTimeNotifToken(v),
                    W::NotificationMessagesToken(v) => Recipient::NotificationMessagesToken(v),
                }
            }
        }

        impl From<wit::SenderAction> for SenderAction {
            fn from(a: wit::SenderAction) -> Self {
                match a {
                    wit::SenderAction::MarkSeen => SenderAction::MarkSeen,
                    wit::SenderAction::TypingOn => SenderAction::TypingOn,
                    wit::SenderAction::TypingOff => SenderAction::TypingOff,
                }
            }
        }

        fn button(b: wit::Button) -> Button {
            match b {
                wit::Button::Postback((title, payload)) => Button::Postback(title, payload),
                wit::Button::WebUrl((title, url)) => Button::WebUrl(title, url),
                wit::Button::AccountLink(url) => Button::AccountLink(url),
                wit::Button::AccountUnlink => Button::AccountUnlink,
                wit::Button::PhoneNumber((title, number)) => Button::PhoneNumber(title, number),
            }
        }

        fn template(t: wit::Template) -> Template {
            match t {
                wit::Template::Button((text, buttons)) => Template::Button(text, buttons.into_iter().map(button).collect()),
                wit::Template::Generic(elements) => Template::Generic(
                    elements
                        .into_iter()
                        .map(|e| GenericElement {
                            title: e.title,
                            subtitle: e.subtitle,
                            image_url: e.image_url,
                            default_action_url: e.default_action_url,
                            buttons: e.buttons.into_iter().map(button).collect(),
                        })
                        .collect(),
                ),
                wit::Template::OneTimeNotifRequest((title, payload)) => Template::OneTimeNotifRequest(title, payload),
                wit::Template::Raw(json) => Template::Raw(json),
            }
        }

        fn content(c: wit::Content) -> Content {
            match c {
                wit::Content::Text(text) => Content::Text(text),
                wit::Content::Media(m) => Content::Media(Media {
                    kind: match m.kind {
                        wit::MediaKind::Image => MediaKind::Image,
                        wit::MediaKind::Audio => MediaKind::Audio,
                        wit::MediaKind::Video => MediaKind::Video,
                        wit::MediaKind::File => MediaKind::File,
                    },
                    url: m.url,
                    attachment_id: m.attachment_id,
                    is_reusable: m.is_reusable,
                }),
                wit::Content::Template(t) => Content::Template(template(t)),
                $($content_arms)*
            }
        }

        impl From<wit::OutgoingMessage> for OutgoingMessage {
            fn from(m: wit::OutgoingMessage) -> Self {
                OutgoingMessage {
                    recipient: m.recipient.into(),
                    content: content(m.content),
                    quick_replies: m
                        .quick_replies
                        .into_iter()
                        .map(|q| QuickReply {
                            kind: match q.kind {
                                wit::QuickReplyKind::Text => QuickReplyKind::Text,
                                wit::QuickReplyKind::UserPhoneNumber => QuickReplyKind::UserPhoneNumber,
                                wit::QuickReplyKind::UserEmail => QuickReplyKind::UserEmail,
                            },
                            title: q.title,
                            payload: q.payload,
                            image_url: q.image_url,
                        })
                        .collect(),
                    messaging_type: match m.messaging_type {
                        wit::MessagingType::Response => MessagingType::Response,
                        wit::MessagingType::Update => MessagingType::Update,
                        wit::MessagingType::MessageTag => MessagingType::MessageTag,
                    },
                    tag: m.tag,
                    written_by_human: m.written_by_human,
                    notification_type: m.notification_type.map(|n| match n {
                        wit::NotificationType::Regular => NotificationType::Regular,
                        wit::NotificationType::SilentPush => NotificationType::SilentPush,
                        wit::NotificationType::NoPush => NotificationType::NoPush,
                    }),
                    metadata: m.metadata,
                    reply_to: m.reply_to,
                    persona_id: m.persona_id,
                }
            }
        }
    };
}

mod v0_2 {
    use super::*;
    use crate::sandbox::bindings::v0_2::switchboard::plugin::messenger as wit;
    use crate::sandbox::bindings::v0_2::switchboard::plugin::types as wit_types;
    conversions!(wit::Content::Raw(json) => Content::Raw(json),);
}

mod v0_1 {
    use super::*;
    use crate::sandbox::bindings::v0_1::switchboard::plugin::messenger as wit;
    use crate::sandbox::bindings::v0_1::switchboard::plugin::types as wit_types;
    conversions!();
}
