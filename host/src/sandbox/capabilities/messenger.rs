//! `switchboard:plugin/messenger`: the Send API, with the Page's own token.
//!
//! A send goes: quota → body checks ([`send_api`]) → outbox (a replayed
//! event's send that already happened returns its recorded answer, and the
//! previous send's record is made durable) → the Platform's rules on the
//! conversation (thread owner, messaging window, tags, one-time-notification
//! tokens), refused locally with a typed error → the Page's gate (circuit,
//! pacing, per-person order, retries) → what the answer teaches about the
//! conversation → the send noted in the event's outbox
//! ([`super::EventOutbox`] says when that note is written).

use std::sync::Arc;

use serde_json::Value;

use super::{is_not_thread_owner, refusal_to_wit, to_wit_error, CallContext, PageAccess};
use crate::messenger::conversation::{now_ms, ConversationState, NotificationToken, Refusal, SendBasis, ThreadOwner};
use crate::messenger::page_gate::GateError;
use crate::sandbox::bindings::v0_2::switchboard::plugin::messenger::{self as wit, Host, Sent};
use crate::sandbox::bindings::v0_2::switchboard::plugin::types::{self as wit_types, MessengerError};
use crate::send_api::{self, MessagingType, OutgoingMessage, Recipient, SenderAction};
use crate::store::TokenQuery;

pub struct Messenger {
    pub(super) call: Arc<CallContext>,
}

impl Messenger {
    pub fn new(call: Arc<CallContext>) -> Self {
        Messenger { call }
    }
}

/// What the rules decided about a send, to finish it afterwards.
enum Permit {
    /// To a PSID (or a recipient the host cannot check).
    Plain,
    /// With a one-time-notification token, now marked used; `known` says
    /// whether the host had seen its opt-in.
    Token { token: String, known: bool },
}

impl Messenger {
    /// Applies the Platform's rules to a send to `recipient`; returns the
    /// key that orders it among sends to the same person.
    async fn permit(&self, page: &PageAccess, recipient: &Recipient, basis: SendBasis<'_>) -> Result<(Permit, String), MessengerError> {
        let conversations = &page.conversations;
        match recipient {
            Recipient::Psid(psid) => {
                let state = self.call.host_work(conversations.get(&page.page_id, psid)).await.map_err(unreadable)?;
                state.check_send(&page.app_id, conversations.policy(), basis, now_ms()).map_err(refusal_to_wit)?;
                Ok((Permit::Plain, psid.clone()))
            }
            Recipient::OneTimeNotifToken(token) => {
                let found = self.call.host_work(conversations.tokens(&page.page_id, TokenQuery::Token(token.clone()))).await;
                let Some(known) = found.into_iter().next() else {
                    // An opt-in from before this host kept state: let the
                    // Graph API judge, and remember the use.
                    return Ok((Permit::Token { token: token.clone(), known: false }, token.clone()));
                };
                known.check_usable(now_ms()).map_err(refusal_to_wit)?;
                let state = self.call.host_work(conversations.get(&page.page_id, &known.psid)).await.map_err(unreadable)?;
                if state.owned_by_other(&page.app_id) {
                    return Err(refusal_to_wit(Refusal::NotThreadOwner));
                }
                // Durably used before the send goes out: at most once, even
                // across a crash.
                self.call
                    .host_work(conversations.mark_token(&page.page_id, token, true))
                    .await
                    .map_err(|e| MessengerError::Unavailable(format!("could not record the token's use: {e}")))?;
                Ok((Permit::Token { token: token.clone(), known: true }, known.psid))
            }
            Recipient::UserRef(key)
            | Recipient::PhoneNumber(key)
            | Recipient::PostId(key)
            | Recipient::CommentId(key)
            | Recipient::NotificationMessagesToken(key) => Ok((Permit::Plain, key.clone())),
        }
    }

    /// What a send's outcome teaches the host.
    async fn learn(&self, page: &PageAccess, recipient: &Recipient, permit: Permit, result: &Result<Value, GateError>) {
        let conversations = &page.conversations;
        if let (Recipient::Psid(psid), Err(e)) = (recipient, result) {
            if is_not_thread_owner(e) {
                let learn = |s: &mut ConversationState| {
                    if s.owned_by_other(&page.app_id) {
                        return false;
                    }
                    s.thread_owner = ThreadOwner::OtherApp;
                    true
                };
                if let Err(e) = self.call.host_work(conversations.update(&page.page_id, psid, learn)).await {
                    tracing::error!(error = %e, "could not note that another app owns the thread");
                }
            }
        }
        let Permit::Token { token, known } = permit else { return };
        match result {
            Ok(reply) if !known => {
                let psid = reply.get("recipient_id").and_then(crate::model::id_string).unwrap_or_default();
                let now = now_ms();
                let used = NotificationToken { token, psid, topic: None, issued_ms: now, expires_ms: now, used_ms: Some(now) };
                page.conversations.remember_used_token(&page.page_id, used);
            }
            Ok(_) => {}
            // Definitely not sent: the token is still good.
            Err(GateError::CircuitOpen(_) | GateError::Graph(crate::messenger::graph::GraphError::Api { .. })) if known => {
                if let Err(e) = self.call.host_work(conversations.mark_token(&page.page_id, &token, false)).await {
                    tracing::error!(error = %e, "could not release a notification token after a failed send");
                }
            }
            // Unknown outcome (no answer): keep it used, at most once.
            Err(_) => {}
        }
    }
}

/// The conversation's state could not be read: the rules cannot be
/// checked, so nothing is sent (the event is tried again).
fn unreadable(e: anyhow::Error) -> MessengerError {
    MessengerError::Unavailable(format!("the conversation's state could not be read: {e:#}"))
}

fn sent(reply: &Value) -> Sent {
    let field = |name: &str| reply.get(name).and_then(crate::model::id_string);
    Sent { recipient_id: field("recipient_id"), message_id: field("message_id"), attachment_id: field("attachment_id") }
}

impl Host for Messenger {
    async fn send(&mut self, message: wit::OutgoingMessage) -> Result<Sent, MessengerError> {
        self.send_message(message.into()).await.map_err(|e| self.call.noted(e))
    }

    async fn send_action(&mut self, recipient: wit_types::Recipient, action: wit::SenderAction) -> Result<(), MessengerError> {
        self.send_sender_action(recipient.into(), action.into()).await.map_err(|e| self.call.noted(e))
    }
}

impl Messenger {
    /// A request the host refuses as invalid, remembered as the likely
    /// cause of a failure that follows.
    fn invalid(&self, e: send_api::Invalid) -> MessengerError {
        let _ = self.call.invalid_output.set(e.0.clone());
        MessengerError::InvalidRequest(e.0)
    }

    pub(super) async fn send_message(&self, message: OutgoingMessage) -> Result<Sent, MessengerError> {
        let page = self.call.page_for_call()?;
        let body = send_api::message_body(&message).map_err(|e| self.invalid(e))?;
        let ledger = self.call.invocation.ledger.clone();
        let slot = ledger.as_ref().map(|l| l.slot_for(&body));
        if let (Some(ledger), Some(slot)) = (&ledger, &slot) {
            if let Some(recorded) = self.call.host_work(ledger.outbox.recorded(slot)).await {
                tracing::info!(event = %self.call.invocation.event_id, slot, "send already done before a restart or retry; not repeated");
                return Ok(sent(&serde_json::from_str(&recorded).unwrap_or(Value::Null)));
            }
            // The previous send's record is durable before this send can be.
            if let Err(e) = self.call.host_work(ledger.outbox.write_unwritten()).await {
                tracing::error!(error = %e, "could not record a send in the outbox; a replay may repeat it");
            }
        }
        let basis = match message.messaging_type {
            MessagingType::Response | MessagingType::Update => SendBasis::Window,
            MessagingType::MessageTag => SendBasis::Tag { tag: message.tag.as_deref(), written_by_human: message.written_by_human },
        };
        let (permit, order_key) = self.permit(page, &message.recipient, basis).await?;
        let result = self.call.graph(page, Some(&order_key), || page.graph.send_message(&page.app_id, &page.access_token, &body)).await;
        self.learn(page, &message.recipient, permit, &result).await;
        let reply = result.map_err(to_wit_error)?;
        if let (Some(ledger), Some(slot)) = (ledger, slot) {
            ledger.outbox.sent(slot, reply.to_string());
        }
        Ok(sent(&reply))
    }

    pub(super) async fn send_sender_action(&self, recipient: Recipient, action: SenderAction) -> Result<(), MessengerError> {
        let page = self.call.page_for_call()?;
        if matches!(recipient, Recipient::OneTimeNotifToken(_)) {
            return Err(MessengerError::InvalidRequest("sender actions cannot use a one-time-notification token".into()));
        }
        let body = send_api::sender_action_body(&recipient, action).map_err(|e| self.invalid(e))?;
        let (permit, order_key) = self.permit(page, &recipient, SendBasis::Window).await?;
        let result = self.call.graph(page, Some(&order_key), || page.graph.send_message(&page.app_id, &page.access_token, &body)).await;
        self.learn(page, &recipient, permit, &result).await;
        result.map(drop).map_err(to_wit_error)
    }
}
