//! [`Context`]: the event being handled, and the calls that act on it.

use crate::bindings::switchboard::plugin::events::Event;
use crate::bindings::switchboard::plugin::messenger::{self, MessagingType, SenderAction, Sent};
use crate::bindings::switchboard::plugin::types::Recipient;
use crate::bindings::switchboard::plugin::handover;
use crate::{Error, Outgoing, PAGE_INBOX_APP_ID};

/// The event being handled. Replies go from its Page to its person.
pub struct Context<'a> {
    event: &'a Event,
}

impl<'a> Context<'a> {
    pub(crate) fn new(event: &'a Event) -> Self {
        Context { event }
    }

    pub fn event(&self) -> &Event {
        self.event
    }
    pub fn page_id(&self) -> &str {
        &self.event.page_id
    }
    /// The person's PSID, when Messenger gave one.
    pub fn psid(&self) -> Option<&str> {
        self.event.psid.as_deref()
    }
    /// True when another app owns the thread: watch, do not reply.
    pub fn standby(&self) -> bool {
        self.event.standby
    }
    /// Epoch milliseconds.
    pub fn timestamp(&self) -> u64 {
        self.event.timestamp
    }

    /// The person this event came from, as a recipient.
    pub fn sender(&self) -> Result<Recipient, Error> {
        match (&self.event.psid, &self.event.user_ref) {
            (Some(psid), _) => Ok(Recipient::Psid(psid.clone())),
            (None, Some(user_ref)) => Ok(Recipient::UserRef(user_ref.clone())),
            _ => Err(Error::msg("this event has no sender to reply to")),
        }
    }

    /// Replies to the sender (messaging type RESPONSE unless set otherwise).
    pub fn reply(&self, message: impl Into<Outgoing>) -> Result<Sent, Error> {
        self.send(self.sender()?, message)
    }

    /// Sends from this event's Page to any recipient.
    pub fn send(&self, recipient: Recipient, message: impl Into<Outgoing>) -> Result<Sent, Error> {
        Ok(messenger::send(&message.into().build(recipient))?)
    }

    pub fn typing_on(&self) -> Result<(), Error> {
        Ok(messenger::send_action(&self.sender()?, SenderAction::TypingOn)?)
    }
    pub fn typing_off(&self) -> Result<(), Error> {
        Ok(messenger::send_action(&self.sender()?, SenderAction::TypingOff)?)
    }
    pub fn mark_seen(&self) -> Result<(), Error> {
        Ok(messenger::send_action(&self.sender()?, SenderAction::MarkSeen)?)
    }

    fn psid_required(&self) -> Result<&str, Error> {
        self.psid().ok_or_else(|| Error::msg("handover needs a PSID and this event has none"))
    }

    /// Passes the thread to another app.
    pub fn pass_thread_control(&self, target_app_id: &str, metadata: Option<&str>) -> Result<(), Error> {
        Ok(handover::pass_thread_control(self.psid_required()?, target_app_id, metadata)?)
    }
    /// Hands the person over to the Page's human agents.
    pub fn pass_to_page_inbox(&self, metadata: Option<&str>) -> Result<(), Error> {
        self.pass_thread_control(PAGE_INBOX_APP_ID, metadata)
    }
    pub fn take_thread_control(&self, metadata: Option<&str>) -> Result<(), Error> {
        Ok(handover::take_thread_control(self.psid_required()?, metadata)?)
    }
    pub fn request_thread_control(&self, metadata: Option<&str>) -> Result<(), Error> {
        Ok(handover::request_thread_control(self.psid_required()?, metadata)?)
    }
    pub fn release_thread_control(&self, metadata: Option<&str>) -> Result<(), Error> {
        Ok(handover::release_thread_control(self.psid_required()?, metadata)?)
    }
    /// The app owning this person's thread; none when idle.
    pub fn thread_owner(&self) -> Result<Option<String>, Error> {
        Ok(handover::thread_owner(self.psid_required()?)?)
    }
}

/// `Outgoing::text(..)` with a messaging type set, for [`Context::send`].
pub(crate) fn default_type() -> MessagingType {
    MessagingType::Response
}
