//! [`Context`]: the event being handled, and the host calls that act on it
//! (send, sender actions, handover) or tell about its person (conversation
//! state, notification tokens, profile).

use crate::bindings::switchboard::plugin::conversation::{self, ConversationState, NotificationToken};
use crate::bindings::switchboard::plugin::handover;
use crate::bindings::switchboard::plugin::messenger::{self, SenderAction, Sent};
use crate::bindings::switchboard::plugin::profile::{self, UserProfile};
use crate::{Error, Event, Outgoing, Recipient, PAGE_INBOX_APP_ID};

/// The event being handled. Messages go out from its Page; [`reply`],
/// the sender actions and the handover calls address its person.
///
/// Every host call can fail with an [`Error`]; use `?` to give up on the
/// event (the host retries it later) or match the error to carry on.
///
/// [`reply`]: Context::reply
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    event: &'a Event<'a>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(event: &'a Event<'a>) -> Self {
        Context { event }
    }

    /// The whole event, including [`Event::raw_json`] for fields the SDK
    /// does not model.
    pub fn event(&self) -> &'a Event<'a> {
        self.event
    }
    /// The host's id for the event, stable across webhook redeliveries.
    pub fn id(&self) -> &'a str {
        &self.event.id
    }
    /// The Page that received the event.
    pub fn page_id(&self) -> &'a str {
        &self.event.page_id
    }
    /// The person's page-scoped id, when Messenger gave one (for echoes, the
    /// person the Page wrote to).
    pub fn psid(&self) -> Option<&'a str> {
        self.event.psid.as_deref()
    }
    /// The checkbox / chat plugin `user_ref`, given instead of a PSID.
    pub fn user_ref(&self) -> Option<&'a str> {
        self.event.user_ref.as_deref()
    }
    /// True when the event came in `standby`: another app owns the thread,
    /// so watch but do not reply (a reply fails with `not-thread-owner`).
    pub fn standby(&self) -> bool {
        self.event.standby
    }
    /// When Messenger stamped the event, in epoch milliseconds.
    pub fn timestamp(&self) -> u64 {
        self.event.timestamp
    }

    /// The person the event came from, as a recipient: their PSID, else
    /// their `user_ref`.
    pub fn sender(&self) -> Result<Recipient, Error> {
        match (&self.event.psid, &self.event.user_ref) {
            (Some(psid), _) => Ok(Recipient::Psid(psid.clone())),
            (None, Some(user_ref)) => Ok(Recipient::UserRef(user_ref.clone())),
            (None, None) => Err(Error::msg("this event has no sender to reply to")),
        }
    }

    /// Sends `message` to the person the event came from. The messaging
    /// type is RESPONSE unless the message says otherwise
    /// ([`Outgoing::update`], [`Outgoing::tag`]).
    ///
    /// Accepts a `&str` or `String` (a text message), an [`Outgoing`], a
    /// [`Template`](crate::Template) or a [`Media`](crate::Media).
    pub fn reply(&self, message: impl Into<Outgoing>) -> Result<Sent, Error> {
        self.send(self.sender()?, message)
    }

    /// Sends `message` from the event's Page to any recipient: another
    /// PSID, a `user_ref`, a one-time-notification token, a comment...
    pub fn send(&self, recipient: Recipient, message: impl Into<Outgoing>) -> Result<Sent, Error> {
        Ok(messenger::send(&message.into().to_wit(recipient))?)
    }

    /// Shows the typing indicator to the sender.
    pub fn typing_on(&self) -> Result<(), Error> {
        self.sender_action(SenderAction::TypingOn)
    }
    /// Hides the typing indicator.
    pub fn typing_off(&self) -> Result<(), Error> {
        self.sender_action(SenderAction::TypingOff)
    }
    /// Marks the sender's last message as seen.
    pub fn mark_seen(&self) -> Result<(), Error> {
        self.sender_action(SenderAction::MarkSeen)
    }
    /// Sends a sender action to the sender.
    pub fn sender_action(&self, action: SenderAction) -> Result<(), Error> {
        Ok(messenger::send_action(&self.sender()?, action)?)
    }

    fn handover_psid(&self) -> Result<&'a str, Error> {
        self.psid().ok_or_else(|| Error::msg("handover needs a PSID and this event has none"))
    }

    /// Passes the person's thread to another app, with optional metadata
    /// for it to read in its `pass-thread-control` event.
    pub fn pass_thread_control(&self, target_app_id: &str, metadata: Option<&str>) -> Result<(), Error> {
        Ok(handover::pass_thread_control(self.handover_psid()?, target_app_id, metadata)?)
    }
    /// Hands the person over to the Page's human agents: passes the thread
    /// to the Page Inbox ([`PAGE_INBOX_APP_ID`]).
    pub fn pass_to_page_inbox(&self, metadata: Option<&str>) -> Result<(), Error> {
        self.pass_thread_control(PAGE_INBOX_APP_ID, metadata)
    }
    /// Takes the thread back (this app must be the primary receiver).
    pub fn take_thread_control(&self, metadata: Option<&str>) -> Result<(), Error> {
        Ok(handover::take_thread_control(self.handover_psid()?, metadata)?)
    }
    /// Asks the primary receiver for the thread.
    pub fn request_thread_control(&self, metadata: Option<&str>) -> Result<(), Error> {
        Ok(handover::request_thread_control(self.handover_psid()?, metadata)?)
    }
    /// Gives the thread up, leaving it idle.
    pub fn release_thread_control(&self, metadata: Option<&str>) -> Result<(), Error> {
        Ok(handover::release_thread_control(self.handover_psid()?, metadata)?)
    }
    /// The app id owning the person's thread; `None` when the thread is idle.
    pub fn thread_owner(&self) -> Result<Option<String>, Error> {
        Ok(handover::thread_owner(self.handover_psid()?)?)
    }
    /// `(app id, name)` of the Page's secondary receivers.
    pub fn secondary_receivers(&self) -> Result<Vec<(String, String)>, Error> {
        Ok(handover::secondary_receivers()?)
    }

    /// What the host knows of the conversation with `psid` on this Page:
    /// last interaction and the window it opened, thread owner, this app's
    /// role, open one-time-notification tokens, account-link status.
    pub fn conversation(&self, psid: &str) -> ConversationState {
        conversation::state(psid)
    }
    /// The open one-time-notification tokens of this Page for `topic` (the
    /// payload of the request template people accepted): who asked to be
    /// told. Send to each with [`Recipient::OneTimeNotifToken`].
    pub fn notification_tokens(&self, topic: &str) -> Vec<NotificationToken> {
        conversation::notification_tokens(topic)
    }
    /// The person's public profile (name, picture...), cached by the host.
    pub fn user_profile(&self, psid: &str) -> Result<UserProfile, Error> {
        Ok(profile::get(psid)?)
    }
}
