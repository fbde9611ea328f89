//! Builders for what a plugin sends: [`Outgoing`] messages (text, [`Media`]
//! or a [`Template`]) with [`QuickReply`]s, messaging type and tag.
//!
//! ```
//! # use switchboard_plugin_sdk::prelude::*;
//! let question = Outgoing::text("Still there?")
//!     .quick_reply(QuickReply::text("Yes", "YES"))
//!     .quick_reply(QuickReply::text("No", "NO"))
//!     .tag("HUMAN_AGENT"); // messaging type MESSAGE_TAG
//! let menu = Template::button("What next?").postback("Order", "ORDER").web_url("Site", "https://example.com");
//! let cards = Template::generic()
//!     .element(Element::new("Blue mug").subtitle("12 €").image_url("https://example.com/mug.jpg"))
//!     .postback("Buy", "BUY_MUG"); // a button on the last element
//! let later = Template::one_time_notif_request("Back in stock", "MUG_STOCK");
//! let picture = Media::image_url("https://example.com/cat.png");
//! # let _ = (question, menu, cards, later, picture);
//! ```
//!
//! The host checks the documented limits (2000 characters of text, 13 quick
//! replies, 3 buttons...) and answers `invalid-request` when one is broken.

use crate::bindings::switchboard::plugin::messenger::{
    self as wit, Button, Content, MediaKind, MessagingType, NotificationType, QuickReplyKind,
};
use crate::Recipient;

/// A message to send: content plus delivery options. The recipient comes
/// from [`Context::reply`](crate::Context::reply) or
/// [`Context::send`](crate::Context::send).
///
/// The messaging type is RESPONSE unless [`update`](Outgoing::update) or
/// [`tag`](Outgoing::tag) says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    content: Content,
    quick_replies: Vec<wit::QuickReply>,
    messaging_type: MessagingType,
    tag: Option<String>,
    written_by_human: bool,
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
            messaging_type: MessagingType::Response,
            tag: None,
            written_by_human: false,
            notification_type: None,
            metadata: None,
            reply_to: None,
            persona_id: None,
        }
    }

    /// A text message (at most 2000 characters).
    pub fn text(text: impl Into<String>) -> Self {
        Outgoing::new(Content::Text(text.into()))
    }
    /// An image, audio, video or file.
    pub fn media(media: Media) -> Self {
        Outgoing::new(Content::Media(media.0))
    }
    /// A structured template.
    pub fn template(template: Template) -> Self {
        Outgoing::new(Content::Template(template.0))
    }
    /// What this SDK does not model, as `message` keys in a JSON object:
    /// a sticker is `Outgoing::raw(r#"{"sticker_id": 369239263222822}"#)`.
    /// Quick replies and metadata still come from this message's own
    /// methods; the host refuses the raw object if it names them.
    pub fn raw(message_json: impl Into<String>) -> Self {
        Outgoing::new(Content::Raw(message_json.into()))
    }

    /// Adds a quick reply (at most 13).
    pub fn quick_reply(mut self, reply: QuickReply) -> Self {
        self.quick_replies.push(reply.0);
        self
    }
    /// A proactive message inside the 24-hour window: messaging type UPDATE.
    pub fn update(mut self) -> Self {
        self.messaging_type = MessagingType::Update;
        self.tag = None;
        self
    }
    /// A tagged message outside the 24-hour window: messaging type
    /// MESSAGE_TAG. The host only sends tags its operator allows
    /// (`HUMAN_AGENT` by default; Meta refuses `ACCOUNT_UPDATE`,
    /// `CONFIRMED_EVENT_UPDATE` and `POST_PURCHASE_UPDATE` since April
    /// 2026). For `HUMAN_AGENT` use [`human_agent`](Outgoing::human_agent).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.messaging_type = MessagingType::MessageTag;
        self.tag = Some(tag.into());
        self
    }
    /// Text a person (an agent) wrote, sent with the `HUMAN_AGENT` tag: up
    /// to 7 days after the person's last message. Only for human-written
    /// text; the host refuses the tag otherwise.
    pub fn human_agent(self) -> Self {
        let mut tagged = self.tag("HUMAN_AGENT");
        tagged.written_by_human = true;
        tagged
    }
    /// How the person's device notifies them: regular, silent or none.
    pub fn notification(mut self, kind: NotificationType) -> Self {
        self.notification_type = Some(kind);
        self
    }
    /// Developer data echoed back in the `echo` event (under 1000 characters).
    pub fn metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }
    /// Shows the message as a reply to the message `mid`.
    pub fn reply_to(mut self, mid: impl Into<String>) -> Self {
        self.reply_to = Some(mid.into());
        self
    }
    /// Sends as a persona of the Page.
    pub fn persona(mut self, persona_id: impl Into<String>) -> Self {
        self.persona_id = Some(persona_id.into());
        self
    }

    /// The WIT record for `messenger.send`.
    pub fn to_wit(self, recipient: Recipient) -> wit::OutgoingMessage {
        wit::OutgoingMessage {
            recipient,
            content: self.content,
            quick_replies: self.quick_replies,
            messaging_type: self.messaging_type,
            tag: self.tag,
            written_by_human: self.written_by_human,
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
impl From<&String> for Outgoing {
    fn from(text: &String) -> Self {
        Outgoing::text(text.as_str())
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

/// A quick-reply chip under a message; a tap comes back as a message with
/// `quick_reply_payload` set.
#[derive(Debug, Clone, PartialEq)]
pub struct QuickReply(wit::QuickReply);

impl QuickReply {
    fn kind(kind: QuickReplyKind) -> Self {
        QuickReply(wit::QuickReply { kind, title: None, payload: None, image_url: None })
    }
    /// A text chip: title (at most 20 characters) and the payload you get back.
    pub fn text(title: impl Into<String>, payload: impl Into<String>) -> Self {
        let mut reply = QuickReply::kind(QuickReplyKind::Text);
        reply.0.title = Some(title.into());
        reply.0.payload = Some(payload.into());
        reply
    }
    /// Offers the person's email address from their profile.
    pub fn user_email() -> Self {
        QuickReply::kind(QuickReplyKind::UserEmail)
    }
    /// Offers the person's phone number from their profile.
    pub fn user_phone_number() -> Self {
        QuickReply::kind(QuickReplyKind::UserPhoneNumber)
    }
    /// Adds an icon to a text chip.
    pub fn image_url(mut self, url: impl Into<String>) -> Self {
        self.0.image_url = Some(url.into());
        self
    }
}

/// An image, audio, video or file attachment, by URL or saved attachment id.
#[derive(Debug, Clone, PartialEq)]
pub struct Media(wit::Media);

impl Media {
    /// Media of any kind at a public URL.
    pub fn url(kind: MediaKind, url: impl Into<String>) -> Self {
        Media(wit::Media { kind, url: Some(url.into()), attachment_id: None, is_reusable: false })
    }
    pub fn image_url(url: impl Into<String>) -> Self {
        Media::url(MediaKind::Image, url)
    }
    pub fn audio_url(url: impl Into<String>) -> Self {
        Media::url(MediaKind::Audio, url)
    }
    pub fn video_url(url: impl Into<String>) -> Self {
        Media::url(MediaKind::Video, url)
    }
    pub fn file_url(url: impl Into<String>) -> Self {
        Media::url(MediaKind::File, url)
    }
    /// A saved asset, by its id from the Attachment Upload API or an
    /// earlier reusable send ([`Sent::attachment_id`](crate::Sent)).
    pub fn attachment(kind: MediaKind, attachment_id: impl Into<String>) -> Self {
        Media(wit::Media { kind, url: None, attachment_id: Some(attachment_id.into()), is_reusable: false })
    }
    /// Asks Messenger for an attachment id to send the same media again.
    pub fn reusable(mut self) -> Self {
        self.0.is_reusable = true;
        self
    }
}

/// A structured message: buttons, a carousel of cards, a one-time
/// notification request, or any other template as raw JSON.
///
/// The button methods ([`postback`](Template::postback),
/// [`web_url`](Template::web_url)...) add a button to a button template,
/// or to the last element of a generic template; other templates ignore them.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(wit::Template);

impl Template {
    /// Text (at most 640 characters) with one to three buttons.
    pub fn button(text: impl Into<String>) -> Self {
        Template(wit::Template::Button((text.into(), Vec::new())))
    }
    /// A carousel of one to ten [`Element`]s.
    pub fn generic() -> Self {
        Template(wit::Template::Generic(Vec::new()))
    }
    /// Asks the person for permission to send one message outside the
    /// 24-hour window: title (at most 65 characters) and a payload. The
    /// answer arrives as an `optin` event with a token to send to.
    pub fn one_time_notif_request(title: impl Into<String>, payload: impl Into<String>) -> Self {
        Template(wit::Template::OneTimeNotifRequest((title.into(), payload.into())))
    }
    /// Any other template, as the `attachment.payload` JSON object.
    pub fn raw(payload_json: impl Into<String>) -> Self {
        Template(wit::Template::Raw(payload_json.into()))
    }

    /// Adds a card to a generic template.
    pub fn element(mut self, element: Element) -> Self {
        if let wit::Template::Generic(elements) = &mut self.0 {
            elements.push(element.0);
        }
        self
    }

    /// Adds any button (see the type's docs for where it goes).
    pub fn with_button(mut self, button: Button) -> Self {
        match &mut self.0 {
            wit::Template::Button((_, buttons)) => buttons.push(button),
            wit::Template::Generic(elements) => {
                if let Some(last) = elements.last_mut() {
                    last.buttons.push(button);
                }
            }
            _ => {}
        }
        self
    }
    /// A button that sends a `postback` event with `payload`.
    pub fn postback(self, title: impl Into<String>, payload: impl Into<String>) -> Self {
        self.with_button(Button::Postback((title.into(), payload.into())))
    }
    /// A button that opens `url`.
    pub fn web_url(self, title: impl Into<String>, url: impl Into<String>) -> Self {
        self.with_button(Button::WebUrl((title.into(), url.into())))
    }
    /// A button that calls `phone_number` (`+` and country code).
    pub fn phone_number(self, title: impl Into<String>, phone_number: impl Into<String>) -> Self {
        self.with_button(Button::PhoneNumber((title.into(), phone_number.into())))
    }
    /// A log-in button to the account-linking `url`.
    pub fn account_link(self, url: impl Into<String>) -> Self {
        self.with_button(Button::AccountLink(url.into()))
    }
    /// A log-out button.
    pub fn account_unlink(self) -> Self {
        self.with_button(Button::AccountUnlink)
    }
}

/// One card of a [`Template::generic`] carousel.
#[derive(Debug, Clone, PartialEq)]
pub struct Element(wit::GenericElement);

impl Element {
    /// A card with a title (at most 80 characters).
    pub fn new(title: impl Into<String>) -> Self {
        Element(wit::GenericElement { title: title.into(), subtitle: None, image_url: None, default_action_url: None, buttons: Vec::new() })
    }
    pub fn subtitle(mut self, subtitle: impl Into<String>) -> Self {
        self.0.subtitle = Some(subtitle.into());
        self
    }
    pub fn image_url(mut self, url: impl Into<String>) -> Self {
        self.0.image_url = Some(url.into());
        self
    }
    /// The URL opened when the card itself is tapped.
    pub fn default_action_url(mut self, url: impl Into<String>) -> Self {
        self.0.default_action_url = Some(url.into());
        self
    }
    /// Adds any button (at most three per card).
    pub fn with_button(mut self, button: Button) -> Self {
        self.0.buttons.push(button);
        self
    }
    pub fn postback(self, title: impl Into<String>, payload: impl Into<String>) -> Self {
        self.with_button(Button::Postback((title.into(), payload.into())))
    }
    pub fn web_url(self, title: impl Into<String>, url: impl Into<String>) -> Self {
        self.with_button(Button::WebUrl((title.into(), url.into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_replies_are_responses_and_tags_imply_message_tag() {
        let psid = || Recipient::Psid("u1".into());
        let m = Outgoing::from("hi").to_wit(psid());
        assert_eq!((m.messaging_type, m.tag), (MessagingType::Response, None));
        assert_eq!(m.content, Content::Text("hi".into()));
        let m = Outgoing::text("late").quick_reply(QuickReply::text("Yes", "YES")).tag("HUMAN_AGENT").to_wit(psid());
        assert_eq!((m.messaging_type, m.tag.as_deref()), (MessagingType::MessageTag, Some("HUMAN_AGENT")));
        assert_eq!(m.quick_replies[0].payload.as_deref(), Some("YES"));
        assert_eq!(Outgoing::text("x").tag("T").update().to_wit(psid()).messaging_type, MessagingType::Update);
    }

    #[test]
    fn template_buttons_go_to_the_template_or_the_last_card() {
        let t = Template::button("Pick").postback("A", "PA").web_url("Site", "https://x");
        let wit::Template::Button((text, buttons)) = t.0 else { panic!() };
        assert_eq!((text.as_str(), buttons.len()), ("Pick", 2));
        let t = Template::generic().element(Element::new("one")).element(Element::new("two")).postback("Buy", "BUY");
        let wit::Template::Generic(cards) = t.0 else { panic!() };
        assert_eq!((cards[0].buttons.len(), cards[1].buttons.len()), (0, 1));
    }
}
