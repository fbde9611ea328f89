//! An outgoing message as the host takes it from a plugin, before it is
//! checked and turned into a request body. The shapes follow the WIT
//! contract's `outgoing-message`; each WIT version the host links converts
//! its own records into these (in `sandbox/capabilities`).

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Psid(String),
    UserRef(String),
    PhoneNumber(String),
    PostId(String),
    CommentId(String),
    OneTimeNotifToken(String),
    NotificationMessagesToken(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagingType {
    Response,
    Update,
    MessageTag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationType {
    Regular,
    SilentPush,
    NoPush,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderAction {
    MarkSeen,
    TypingOn,
    TypingOff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuickReplyKind {
    Text,
    UserPhoneNumber,
    UserEmail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickReply {
    pub kind: QuickReplyKind,
    pub title: Option<String>,
    pub payload: Option<String>,
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Button {
    /// Title and payload.
    Postback(String, String),
    /// Title and URL.
    WebUrl(String, String),
    AccountLink(String),
    AccountUnlink,
    /// Title and phone number.
    PhoneNumber(String, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericElement {
    pub title: String,
    pub subtitle: Option<String>,
    pub image_url: Option<String>,
    pub default_action_url: Option<String>,
    pub buttons: Vec<Button>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Template {
    /// Text and buttons.
    Button(String, Vec<Button>),
    Generic(Vec<GenericElement>),
    /// Title and payload.
    OneTimeNotifRequest(String, String),
    /// A template's `payload` as JSON text, for kinds without a type here.
    Raw(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    File,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: MediaKind,
    pub url: Option<String>,
    pub attachment_id: Option<String>,
    pub is_reusable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    Media(Media),
    Template(Template),
    /// A JSON object of `message` keys this model does not know (a
    /// sticker's `sticker_id`...), put into `message` as it is.
    Raw(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub recipient: Recipient,
    pub content: Content,
    pub quick_replies: Vec<QuickReply>,
    pub messaging_type: MessagingType,
    pub tag: Option<String>,
    pub written_by_human: bool,
    pub notification_type: Option<NotificationType>,
    pub metadata: Option<String>,
    pub reply_to: Option<String>,
    pub persona_id: Option<String>,
}
