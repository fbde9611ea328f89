//! `switchboard:plugin/handover`: the handover protocol's Graph calls.

use std::sync::Arc;

use serde_json::{json, Value};

use super::CallContext;
use crate::runtime::bindings::switchboard::plugin::handover::Host;
use crate::runtime::bindings::switchboard::plugin::types::MessengerError;

pub struct Handover {
    call: Arc<CallContext>,
}

impl Handover {
    pub fn new(call: Arc<CallContext>) -> Self {
        Handover { call }
    }

    /// POSTs one of the `/me/*_thread_control` calls.
    async fn thread_control(&self, path: &str, mut body: Value, metadata: Option<String>) -> Result<(), MessengerError> {
        let page = self.call.page_for_call()?;
        if let Some(metadata) = metadata {
            body["metadata"] = json!(metadata);
        }
        self.call.graph(page.graph.post(&page.access_token, path, &body)).await.map(drop)
    }
}

impl Host for Handover {
    async fn pass_thread_control(&mut self, psid: String, target_app_id: String, metadata: Option<String>) -> Result<(), MessengerError> {
        // The Graph API documents target_app_id as a number.
        let target: Value = target_app_id.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(target_app_id));
        self.thread_control("me/pass_thread_control", json!({ "recipient": { "id": psid }, "target_app_id": target }), metadata)
            .await
    }

    async fn take_thread_control(&mut self, psid: String, metadata: Option<String>) -> Result<(), MessengerError> {
        self.thread_control("me/take_thread_control", json!({ "recipient": { "id": psid } }), metadata).await
    }

    async fn request_thread_control(&mut self, psid: String, metadata: Option<String>) -> Result<(), MessengerError> {
        self.thread_control("me/request_thread_control", json!({ "recipient": { "id": psid } }), metadata).await
    }

    async fn release_thread_control(&mut self, psid: String, metadata: Option<String>) -> Result<(), MessengerError> {
        self.thread_control("me/release_thread_control", json!({ "recipient": { "id": psid } }), metadata).await
    }

    async fn thread_owner(&mut self, psid: String) -> Result<Option<String>, MessengerError> {
        let page = self.call.page_for_call()?;
        let reply = self.call.graph(page.graph.get(&page.access_token, "me/thread_owner", &[("recipient", &psid)])).await?;
        // `{"data":[{"thread_owner":{"app_id":"..."}}]}`, or empty data when idle.
        Ok(reply["data"][0]["thread_owner"]["app_id"].as_str().map(str::to_string).or_else(|| {
            reply["data"][0]["thread_owner"]["app_id"].as_u64().map(|n| n.to_string())
        }))
    }

    async fn secondary_receivers(&mut self) -> Result<Vec<(String, String)>, MessengerError> {
        let page = self.call.page_for_call()?;
        let reply = self
            .call
            .graph(page.graph.get(&page.access_token, "me/secondary_receivers", &[("fields", "id,name")]))
            .await?;
        Ok(reply["data"]
            .as_array()
            .map(|apps| {
                apps.iter()
                    .filter_map(|a| {
                        let id = crate::envelope::id_string(&a["id"])?;
                        Some((id, a["name"].as_str().unwrap_or_default().to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}
