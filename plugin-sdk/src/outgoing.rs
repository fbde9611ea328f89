//! Builders for outgoing messages: text, media, templates, quick replies,
//! messaging type and tags.

use crate::bindings::switchboard::plugin::messenger::{
    self as wit, Button, Content, GenericElement, MediaKind, MessagingType, NotificationType, QuickReplyKind,
};
use crate::bindings::switchboard::plugin::types::Recipient;

/// A message to send; the recipient is added by `reply` or `send`.
#[derive(Debug, Clone)]
pub struct Outgoing {
    content: Content,
    quick_replies: Vec<wit::QuickReply>,
    messaging_type: MessagingType,
    tag: Option<String>,
    notification_type: Option<NotificationType>,
    metadata: Option<String>,
    reply_to: Option<String>,
    persona_id: Option<String>,
}

impl Outgoing {
    fn new(content: Content) -> Self {
        Outgoing {
            content,
            quick_replies: Vec::new(),
            messaging_type: crate::context::default_type(),
            tag: None,
            notification_type: None,
            metadata: None,
            reply_to: None,
            persona_id: None,
        }
    }

    pub fn text(text: impl Into<String>) -> Self {
        Outgoing::new(Content::Text(text.into()))
    }
    pub fn media(media: Media) -> Self {
        Outgoing::new(Content::Media(media.0))
    }
    pub fn template(template: Template) -> Self {
        Outgoing::new(Content::Template(template.build()))
    }

    pub fn quick_reply(mut self, reply: QuickReply) -> Self {
        self.quick_replies.push(reply.0);
        self
    }
    /// A proactive message inside the 24-hour window.
    pub fn update(mut self) -> Self {
        self.messaging_type = MessagingType::Update;
        self
    }
    /// A tagged message (e.g. `HUMAN_AGENT`); sets messaging type MESSAGE_TAG.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.messaging_type = MessagingType::MessageTag;
        self.tag = Some(tag.into());
        self
    }
    pub fn notification(mut self, kind: NotificationType) -> Self {
        self.notification_type = Some(kind);
        self
    }
    /// Echoed back in the `message_echoes` webhook.
    pub fn metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }
    pub fn reply_to(mut self, mid: impl Into<String>) -> Self {
        self.reply_to = Some(mid.into());
        self
    }
    pub fn persona(mut self, persona_id: impl Into<String>) -> Self {
        self.persona_id = Some(persona_id.into());
        self
    }

    pub(crate) fn build(self, recipient: Recipient) -> wit::OutgoingMessage {
        wit::OutgoingMessage {
            recipient,
            content: self.content,
            quick_replies: self.quick_replies,
            messaging_type: self.messaging_type,
            tag: self.tag,
            notification_type: self.notification_type,
            metadata: self.metadata,
            reply_to: self.reply_to,
            persona_id: self.persona_id,
        }
    }
}

impl From<String> for Outgoing {
    fn from(text: String) -> Self {
        Outgoing::text(text)
    }
}

impl From<&str> for Outgoing {
    fn from(text: &str) -> Self {
        Outgoing::text(text)
    }
}

impl From<Template> for Outgoing {
    fn from(template: Template) -> Self {
        Outgoing::template(template)
    }
}

impl From<Media> for Outgoing {
    fn from(media: Media) -> Self {
        Outgoing::media(media)
    }
}

/// A quick-reply button under a message.
#[derive(Debug, Clone)]
pub struct QuickReply(wit::QuickReply);

impl QuickReply {
    /// A text chip: title (≤ 20 characters) and the payload you get back.
    pub fn text(title: impl Into<String>, payload: impl Into<String>) -> Self {
        QuickReply(wit::QuickReply {
            kind: QuickReplyKind::Text,
            title: Some(title.into()),
            payload: Some(payload.into()),
            image_url: None,
        })
    }
    pub fn user_email() -> Self {
        QuickReply(wit::QuickReply { kind: QuickReplyKind::UserEmail, title: None, payload: None, image_url: None })
    }
    pub fn user_phone_number() -> Self {
        QuickReply(wit::QuickReply { kind: QuickReplyKind::UserPhoneNumber, title: None, payload: None, image_url: None })
    }
    pub fn image(mut self, url: impl Into<String>) -> Self {
        self.0.image_url = Some(url.into());
        self
    }
}

/// An image, audio, video or file attachment.
#[derive(Debug, Clone)]
pub struct Media(wit::Media);

impl Media {
    pub fn url(kind: MediaKind, url: impl Into<String>) -> Self {
        Media(wit::Media { kind, url: Some(url.into()), attachment_id: None, is_reusable: false })
    }
    pub fn image_url(url: impl Into<String>) -> Self {
        Media::url(MediaKind::Image, url)
    }
    /// A saved asset from the Attachment Upload API.
    pub fn attachment(kind: MediaKind, attachment_id: impl Into<String>) -> Self {
        Media(wit::Media { kind, url: None, attachment_id: Some(attachment_id.into()), is_reusable: false })
    }
    /// Ask Messenger for an attachment id to reuse.
    pub fn reusable(mut self) -> Self {
        self.0.is_reusable = true;
        self
    }
}

/// Structured templates.
#[derive(Debug, Clone)]
pub enum Template {
    Button { text: String, buttons: Vec<Button> },
    Generic(Vec<GenericElement>),
    OneTimeNotifRequest { title: String, payload: String },
    /// Any other template, as its `attachment.payload` JSON.
    Raw(String),
}

impl Template {
    /// Text (≤ 640 characters) with one to three buttons.
    pub fn button(text: impl Into<String>) -> Self {
        Template::Button { text: text.into(), buttons: Vec::new() }
    }
    pub fn generic() -> Self {
        Template::Generic(Vec::new())
    }
    /// Asks the person for permission to send one message later, outside
    /// the 24-hour window; the answer arrives as an `optin` event.
    pub fn one_time_notif_request(title: impl Into<String>, payload: impl Into<String>) -> Self {
        Template::OneTimeNotifRequest { title: title.into(), payload: payload.into() }
    }

    fn push_button(mut self, button: Button) -> Self {
        if let Template::Button { buttons, .. } = &mut self {
            buttons.push(button);
        }
        self
    }
    pub fn postback(self, title: impl Into<String>, payload: impl Into<String>) -> Self {
        self.push_button(Button::Postback((title.into(), payload.into())))
    }
    pub fn web_url(self, title: impl Into<String>, url: impl Into<String>) -> Self {
        self.push_button(Button::WebUrl((title.into(), url.into())))
    }

    /// Adds an element to a generic template.
    pub fn element(mut self, element: GenericElement) -> Self {
        if let Template::Generic(elements) = &mut self {
            elements.push(element);
        }
        self
    }

    fn build(self) -> wit::Template {
        match self {
            Template::Button { text, buttons } => wit::Template::Button((text, buttons)),
            Template::Generic(elements) => wit::Template::Generic(elements),
            Template::OneTimeNotifRequest { title, payload } => wit::Template::OneTimeNotifRequest((title, payload)),
            Template::Raw(json) => wit::Template::Raw(json),
        }
    }
}
