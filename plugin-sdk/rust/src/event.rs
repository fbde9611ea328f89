//! [`Event`]: the event being handled, read from the host's `event`
//! resource once per call, and its [`EventKind`].

use crate::bindings::switchboard::plugin::events as wit;
use crate::{
    AccountLinking, AppRole, BusinessEvent, Delivery, Echo, GamePlay, Message, MessageEdit, Optin, PolicyEnforcement, Postback, Reaction,
    Read, Referral, ResponseFeedback, ThreadControlChange, ThreadControlRequest,
};

/// What happened, with what Messenger said about it.
///
/// The kinds this SDK version knows; the host may deliver newer ones
/// (a newer 0.2.x contract), which arrive as [`EventKind::Unknown`] with
/// their name, readable through [`Event::raw_json`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    Message(Message),
    Echo(Echo),
    Postback(Postback),
    Optin(Optin),
    Referral(Referral),
    AccountLinking(AccountLinking),
    Delivery(Delivery),
    Read(Read),
    Reaction(Reaction),
    MessageEdit(MessageEdit),
    PassThreadControl(ThreadControlChange),
    TakeThreadControl(ThreadControlChange),
    RequestThreadControl(ThreadControlRequest),
    AppRoles(Vec<AppRole>),
    PolicyEnforcement(PolicyEnforcement),
    GamePlay(GamePlay),
    ResponseFeedback(ResponseFeedback),
    /// Not from Messenger: see [`BusinessEvent`].
    Business(BusinessEvent),
    /// Not from Messenger: the host erased what it kept about the event's
    /// person ([`Event::psid`]), on an operator's or Meta's request; delete
    /// what this plugin keeps about them (its key-value entries).
    PersonErased,
    /// A kind this SDK does not model: the event's JSON key
    /// (`messaging_feedback`...), or the name a newer host gave it.
    Unknown(String),
}

impl EventKind {
    /// The kind's name, as [`crate::PluginInfo::event_kinds`] and the
    /// host's logs spell it: `message`, `echo`, `pass-thread-control`...
    /// Kinds this SDK does not model are all `unknown`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Message(_) => "message",
            EventKind::Echo(_) => "echo",
            EventKind::Postback(_) => "postback",
            EventKind::Optin(_) => "optin",
            EventKind::Referral(_) => "referral",
            EventKind::AccountLinking(_) => "account-linking",
            EventKind::Delivery(_) => "delivery",
            EventKind::Read(_) => "read",
            EventKind::Reaction(_) => "reaction",
            EventKind::MessageEdit(_) => "message-edit",
            EventKind::PassThreadControl(_) => "pass-thread-control",
            EventKind::TakeThreadControl(_) => "take-thread-control",
            EventKind::RequestThreadControl(_) => "request-thread-control",
            EventKind::AppRoles(_) => "app-roles",
            EventKind::PolicyEnforcement(_) => "policy-enforcement",
            EventKind::GamePlay(_) => "game-play",
            EventKind::ResponseFeedback(_) => "response-feedback",
            EventKind::Business(_) => "business",
            EventKind::PersonErased => "person-erased",
            EventKind::Unknown(_) => "unknown",
        }
    }

    /// The kind of the host's `event`, by its name.
    fn of(event: &wit::Event) -> EventKind {
        let name = event.kind();
        let kind = match name.as_str() {
            "message" => event.message().map(EventKind::Message),
            "echo" => event.echo().map(EventKind::Echo),
            "postback" => event.postback().map(EventKind::Postback),
            "optin" => event.optin().map(EventKind::Optin),
            "referral" => event.referral().map(EventKind::Referral),
            "account-linking" => event.account_linking().map(EventKind::AccountLinking),
            "delivery" => event.delivery().map(EventKind::Delivery),
            "read" => event.read().map(EventKind::Read),
            "reaction" => event.reaction().map(EventKind::Reaction),
            "message-edit" => event.message_edit().map(EventKind::MessageEdit),
            "pass-thread-control" => event.pass_thread_control().map(EventKind::PassThreadControl),
            "take-thread-control" => event.take_thread_control().map(EventKind::TakeThreadControl),
            "request-thread-control" => event.request_thread_control().map(EventKind::RequestThreadControl),
            "app-roles" => event.app_roles().map(EventKind::AppRoles),
            "policy-enforcement" => event.policy_enforcement().map(EventKind::PolicyEnforcement),
            "game-play" => event.game_play().map(EventKind::GamePlay),
            "response-feedback" => event.response_feedback().map(EventKind::ResponseFeedback),
            "business" => event.business().map(EventKind::Business),
            "person-erased" => Some(EventKind::PersonErased),
            "unknown" => event.unknown_key().map(EventKind::Unknown),
            _ => None,
        };
        kind.unwrap_or(EventKind::Unknown(name))
    }
}

/// One messaging event for one Page (or a business event).
#[derive(Debug)]
pub struct Event<'a> {
    /// Host-assigned, stable across webhook redeliveries.
    pub id: String,
    /// The Page that received it.
    pub page_id: String,
    /// The person's page-scoped id; for echoes, the person the Page wrote to.
    pub psid: Option<String>,
    /// Set instead of a PSID by the checkbox and chat plugins.
    pub user_ref: Option<String>,
    /// Epoch milliseconds, as Messenger stamped it.
    pub timestamp: u64,
    /// True when it came in `standby`: another app owns the thread.
    pub standby: bool,
    pub kind: EventKind,
    resource: &'a wit::Event,
}

impl<'a> Event<'a> {
    pub(crate) fn read(resource: &'a wit::Event) -> Self {
        Event {
            id: resource.id(),
            page_id: resource.page_id(),
            psid: resource.psid(),
            user_ref: resource.user_ref(),
            timestamp: resource.timestamp(),
            standby: resource.standby(),
            kind: EventKind::of(resource),
            resource,
        }
    }

    /// The event object exactly as Messenger sent it, for the fields this
    /// SDK does not model (asked of the host when called).
    pub fn raw_json(&self) -> String {
        self.resource.raw_json()
    }
}
