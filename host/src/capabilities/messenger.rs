//! `switchboard:plugin/messenger`: the Send API, with the Page's own token.

use std::sync::Arc;

use serde_json::Value;

use super::{CallContext, SendLedger};
use crate::store::WriteOp;
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

impl Messenger {
    /// The outbox's record of `slot`, if this send already happened.
    async fn recorded(&self, ledger: &SendLedger, page_id: &str, event_id: &str, slot: &str) -> Option<Value> {
        let started = std::time::Instant::now();
        let (p, e, s) = (page_id.to_string(), event_id.to_string(), slot.to_string());
        let found = ledger.store.read(move |b| b.outbox_get(&p, &e, &s)).await;
        self.call.budget.add_host_time(started);
        match found {
            Ok(Some(text)) => {
                tracing::info!(event = event_id, slot, "send already done before a restart or retry; not repeated");
                Some(serde_json::from_str(&text).unwrap_or(Value::Null))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "outbox lookup failed; sending");
                None
            }
        }
    }
}

fn sent(reply: &Value) -> Sent {
    let field = |name: &str| reply.get(name).and_then(crate::envelope::id_string);
    Sent { recipient_id: field("recipient_id"), message_id: field("message_id"), attachment_id: field("attachment_id") }
}

impl Host for Messenger {
    async fn send(&mut self, message: OutgoingMessage) -> Result<Sent, MessengerError> {
        let page = self.call.page_for_call()?;
        let body = send_api::message_body(&message).map_err(|e| MessengerError::InvalidRequest(e.0))?;
        let ledger = self.call.invocation.ledger.clone();
        let slot = ledger.as_ref().map(|l| l.next_slot());
        let event_id = self.call.invocation.event_id.to_string();
        if let (Some(ledger), Some(slot)) = (&ledger, &slot) {
            if ledger.replay {
                if let Some(recorded) = self.recorded(ledger, &page.page_id, &event_id, slot).await {
                    return Ok(sent(&recorded));
                }
            }
        }
        let reply = self.call.graph(page.graph.post(&page.access_token, "me/messages", &body)).await?;
        if let (Some(ledger), Some(slot)) = (ledger, slot) {
            // Durable before the plugin goes on, so a crash from here on
            // cannot make this send happen twice.
            let started = std::time::Instant::now();
            let op = WriteOp::OutboxSent { page_id: page.page_id.clone(), event_id, slot, response: reply.to_string() };
            if let Err(e) = ledger.store.write(op).await {
                tracing::error!(error = %e, "could not record a send in the outbox; a replay may repeat it");
            }
            self.call.budget.add_host_time(started);
        }
        Ok(sent(&reply))
    }

    async fn send_action(&mut self, recipient: Recipient, action: SenderAction) -> Result<(), MessengerError> {
        let page = self.call.page_for_call()?;
        let body = send_api::sender_action_body(&recipient, action);
        self.call.graph(page.graph.post(&page.access_token, "me/messages", &body)).await.map(drop)
    }
}
