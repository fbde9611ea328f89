//! Applying each Page's declared Messenger Profile (Get Started, greeting,
//! persistent menu, whitelisted domains; see
//! [`crate::config::messenger_profile`]) through the Messenger Profile API.
//!
//! At start, per Page: the declared properties are compared with what this
//! host last applied (kept in the store's `page_state`); only a difference
//! causes calls (the API allows 10 calls per 10 minutes per Page): a POST of
//! the declared properties, and a DELETE of those no longer declared.
//! Properties this host never managed are left alone. Calls go through the
//! Page's gate, so a bad token trips its circuit like any other call.

use serde_json::{json, Map, Value};

use super::page::PageAccess;
use crate::config::messenger_profile::FIELDS;
use crate::config::Config;
use crate::store::{Store, WriteOp};

const STATE_KEY: &str = "messenger_profile";

/// Brings every configured Page's profile up to date, each through its
/// `access_of` (none: not served); logs, never fails.
pub async fn apply_all(config: &Config, access_of: impl Fn(&str) -> Option<std::sync::Arc<PageAccess>>, store: &Store) {
    for page in &config.pages {
        let Some(access) = access_of(&page.id) else { continue };
        let declared = page.messenger_profile.as_ref().map(|p| p.body()).unwrap_or_default();
        if let Err(e) = apply(&access, store, declared).await {
            tracing::error!(page = %page.id, error = %e, "could not apply the Messenger Profile; will try again at the next start");
        }
    }
}

async fn apply(access: &PageAccess, store: &Store, declared: Map<String, Value>) -> anyhow::Result<()> {
    let page_id = access.page_id.clone();
    let stored = store.read(move |b| b.page_state_get(&page_id, STATE_KEY)).await?;
    let applied: Map<String, Value> = stored.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    if applied == declared {
        tracing::debug!(page = %access.page_id, "Messenger Profile unchanged; no call");
        return Ok(());
    }
    if !declared.is_empty() {
        let body = Value::Object(declared.clone());
        access.gate.call(None, || access.graph.post(&access.access_token, "me/messenger_profile", &body)).await?;
    }
    let removed: Vec<&str> = FIELDS.iter().copied().filter(|f| applied.contains_key(*f) && !declared.contains_key(*f)).collect();
    if !removed.is_empty() {
        let body = json!({ "fields": removed });
        access.gate.call(None, || access.graph.delete(&access.access_token, "me/messenger_profile", &body)).await?;
    }
    tracing::info!(page = %access.page_id, set = ?declared.keys().collect::<Vec<_>>(), ?removed, "Messenger Profile applied");
    let value = Value::Object(declared).to_string();
    store.write(WriteOp::PageStatePut { page_id: access.page_id.clone(), key: STATE_KEY.into(), value }).await?;
    Ok(())
}
