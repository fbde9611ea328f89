//! `switchboard:plugin/handover`: the handover protocol's Graph calls, and
//! what their results say about who owns the thread.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{to_wit_error, wit_psid, CallContext, PageAccess};
use crate::bounds::{self, ID_BYTES, TEXT_BYTES};
use crate::messenger::conversation::ThreadOwner;
use crate::messenger::page_gate::GateError;
use crate::sandbox::bindings::v0_2::switchboard::plugin::handover::Host;
use crate::sandbox::bindings::v0_2::switchboard::plugin::types::MessengerError;

pub struct Handover {
    call: Arc<CallContext>,
}

impl Handover {
    pub fn new(call: Arc<CallContext>) -> Self {
        Handover { call }
    }

    /// POSTs one of the `/me/*_thread_control` calls for `psid`; on success
    /// the conversation's owner becomes `owner_after` (when it changes).
    async fn thread_control(
        &self,
        path: &str,
        psid: String,
        extra: Option<(&str, Value)>,
        metadata: Option<String>,
        owner_after: Option<ThreadOwner>,
    ) -> Result<(), MessengerError> {
        let page = self.call.page_for_call()?;
        wit_psid(&psid)?;
        if let Some(metadata) = &metadata {
            bounds::at_most("the metadata", metadata, TEXT_BYTES).map_err(MessengerError::InvalidRequest)?;
        }
        let mut body = json!({ "recipient": { "id": psid } });
        if let Some((key, value)) = extra {
            body[key] = value;
        }
        if let Some(metadata) = metadata {
            body["metadata"] = json!(metadata);
        }
        self.call
            .graph(page, Some(&psid), || page.graph.post(&page.access_token, path, &body))
            .await
            .map_err(to_wit_error)
            .map_err(|e| self.call.noted(e))?;
        if let Some(owner) = owner_after {
            set_owner(&self.call, page, &psid, owner).await;
        }
        Ok(())
    }
}

async fn set_owner(call: &CallContext, page: &PageAccess, psid: &str, owner: ThreadOwner) {
    let change = |s: &mut crate::messenger::conversation::ConversationState| std::mem::replace(&mut s.thread_owner, owner.clone()) != owner;
    if let Err(e) = call.host_work(page.conversations.update(&page.page_id, psid, change)).await {
        tracing::error!(error = %e, "could not note the thread's new owner");
    }
}

/// Passes `psid`'s thread to `target_app_id` with the Page's token, for the
/// host itself (the `auto_pass_thread_requests` option).
pub async fn pass_thread(page: &PageAccess, psid: &str, target_app_id: &str, metadata: &str) -> Result<(), GateError> {
    let body = json!({ "recipient": { "id": psid }, "target_app_id": app_id_value(target_app_id), "metadata": metadata });
    page.gate.call(Some(psid), || page.graph.post(&page.access_token, "me/pass_thread_control", &body)).await?;
    let owner = ThreadOwner::App(target_app_id.to_string());
    if let Err(e) = page.conversations.update(&page.page_id, psid, |s| std::mem::replace(&mut s.thread_owner, owner.clone()) != owner).await
    {
        tracing::error!(error = %e, "could not note the thread's new owner");
    }
    Ok(())
}

/// The Graph API documents app ids as numbers.
fn app_id_value(id: &str) -> Value {
    id.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(id))
}

impl Host for Handover {
    async fn pass_thread_control(&mut self, psid: String, target_app_id: String, metadata: Option<String>) -> Result<(), MessengerError> {
        bounds::at_most("the target app id", &target_app_id, ID_BYTES).map_err(MessengerError::InvalidRequest)?;
        let owner = ThreadOwner::App(target_app_id.clone());
        let target = ("target_app_id", app_id_value(&target_app_id));
        self.thread_control("me/pass_thread_control", psid, Some(target), metadata, Some(owner)).await
    }

    async fn take_thread_control(&mut self, psid: String, metadata: Option<String>) -> Result<(), MessengerError> {
        let owner = self.call.invocation.page.as_ref().map(|p| ThreadOwner::App(p.app_id.clone()));
        self.thread_control("me/take_thread_control", psid, None, metadata, owner).await
    }

    async fn request_thread_control(&mut self, psid: String, metadata: Option<String>) -> Result<(), MessengerError> {
        self.thread_control("me/request_thread_control", psid, None, metadata, None).await
    }

    async fn release_thread_control(&mut self, psid: String, metadata: Option<String>) -> Result<(), MessengerError> {
        self.thread_control("me/release_thread_control", psid, None, metadata, Some(ThreadOwner::Idle)).await
    }

    async fn thread_owner(&mut self, psid: String) -> Result<Option<String>, MessengerError> {
        let page = self.call.page_for_call()?;
        wit_psid(&psid)?;
        let query = [("recipient", psid.as_str())];
        let reply = self
            .call
            .graph(page, Some(&psid), || page.graph.get(&page.access_token, "me/thread_owner", &query))
            .await
            .map_err(to_wit_error)?;
        // `{"data":[{"thread_owner":{"app_id":"..."}}]}`, or empty data when idle.
        let owner = crate::model::id_string(&reply["data"][0]["thread_owner"]["app_id"]);
        set_owner(&self.call, page, &psid, owner.clone().map_or(ThreadOwner::Idle, ThreadOwner::App)).await;
        Ok(owner)
    }

    async fn secondary_receivers(&mut self) -> Result<Vec<(String, String)>, MessengerError> {
        let page = self.call.page_for_call()?;
        let reply = self
            .call
            .graph(page, None, || page.graph.get(&page.access_token, "me/secondary_receivers", &[("fields", "id,name")]))
            .await
            .map_err(to_wit_error)?;
        Ok(reply["data"]
            .as_array()
            .map(|apps| {
                apps.iter()
                    .filter_map(|a| {
                        let id = crate::model::id_string(&a["id"])?;
                        Some((id, a["name"].as_str().unwrap_or_default().to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}
