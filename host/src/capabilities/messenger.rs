//! `switchboard:plugin/messenger`: the Send API, with the Page's own token.

use std::sync::Arc;

use super::CallContext;
use crate::runtime::bindings::switchboard::plugin::messenger::{Host, OutgoingMessage, SenderAction, Sent};
use crate::runtime::bindings::switchboard::plugin::types::{MessengerError, Recipient};
use crate::send_api;

pub struct Messenger {
    call: Arc<CallContext>,
}

impl Messenger {
    pub fn new(call: Arc<CallContext>) -> Self {
        Messenger { call }
    }
}

impl Host for Messenger {
    async fn send(&mut self, message: OutgoingMessage) -> Result<Sent, MessengerError> {
        let page = self.call.page_for_call()?;
        let body = send_api::message_body(&message).map_err(|e| MessengerError::InvalidRequest(e.0))?;
        let reply = self.call.graph(page.graph.post(&page.access_token, "me/messages", &body)).await?;
        let field = |name: &str| reply.get(name).and_then(crate::envelope::id_string);
        Ok(Sent {
            recipient_id: field("recipient_id"),
            message_id: field("message_id"),
            attachment_id: field("attachment_id"),
        })
    }

    async fn send_action(&mut self, recipient: Recipient, action: SenderAction) -> Result<(), MessengerError> {
        let page = self.call.page_for_call()?;
        let body = send_api::sender_action_body(&recipient, action);
        self.call.graph(page.graph.post(&page.access_token, "me/messages", &body)).await.map(drop)
    }
}
