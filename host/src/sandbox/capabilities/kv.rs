//! `switchboard:plugin/kv`: per-plugin key-value state in the host's store.
//!
//! The namespace is (the event's Page, the plugin's id in the config): a
//! plugin cannot name another namespace, whatever name it declares, so it can read and write only its own
//! keys. Sizes are checked here (key, value) and in the write transaction
//! (the namespace, see `store/sqlite/kv.rs`); each call is one host call.

use std::sync::Arc;

use super::{CallContext, PageAccess};
use crate::sandbox::bindings::v0_2::switchboard::plugin::kv::{Host, KvError};
use crate::store::{KvOp, KvOutcome, KvWrite, WriteOp, WriteResult};

/// Longest key, in bytes.
const KEY_MAX: usize = 512;
/// Most keys one `list-keys` returns.
const LIST_MAX: u32 = 1000;

pub struct Kv {
    call: Arc<CallContext>,
}

impl Kv {
    pub fn new(call: Arc<CallContext>) -> Self {
        Kv { call }
    }

    /// The Page after charging one host call, and a checked key.
    fn begin(&self, key: &str) -> Result<&PageAccess, KvError> {
        self.call.budget.take_call().map_err(|_| KvError::QuotaExceeded)?;
        let page = self.call.invocation.page.as_deref().ok_or_else(|| KvError::Unavailable("no key-value state in describe()".into()))?;
        if key.len() > KEY_MAX {
            return Err(KvError::TooLarge(format!("the key is {} bytes; the limit is {KEY_MAX}", key.len())));
        }
        Ok(page)
    }

    fn check_value(&self, value: &[u8]) -> Result<(), KvError> {
        let limit = self.call.budget.kv_value_bytes;
        if value.len() > limit {
            return Err(KvError::TooLarge(format!("the value is {} bytes; the limit is {limit}", value.len())));
        }
        Ok(())
    }

    async fn write(&self, key: String, op: KvOp) -> Result<KvOutcome, KvError> {
        let page = self.begin(&key)?;
        if key.is_empty() {
            return Err(KvError::TooLarge("the key is empty".into()));
        }
        let write = KvWrite {
            page_id: page.page_id.clone(),
            plugin: self.call.invocation.plugin.to_string(),
            key,
            op,
            namespace_limit: self.call.budget.kv_namespace_bytes,
        };
        let result = self.call.host_work(page.store.write(WriteOp::Kv(write))).await;
        match result {
            Ok(WriteResult::Kv(KvOutcome::NamespaceFull { used, limit })) => {
                Err(KvError::TooLarge(format!("the namespace would pass its {limit} bytes ({used} used); delete keys first")))
            }
            Ok(WriteResult::Kv(KvOutcome::NotANumber)) => Err(KvError::NotANumber),
            Ok(WriteResult::Kv(outcome)) => Ok(outcome),
            Ok(other) => Err(KvError::Unavailable(format!("unexpected store answer {other:?}"))),
            Err(e) => {
                tracing::error!(plugin = %self.call.invocation.plugin, error = %e, "key-value write failed");
                Err(KvError::Unavailable(format!("the store failed: {e}")))
            }
        }
    }
}

fn ttl(ttl_ms: Option<u64>) -> Result<Option<u64>, KvError> {
    match ttl_ms {
        Some(0) => Err(KvError::TooLarge("a TTL of 0 ms would expire at once; delete the key instead".into())),
        t => Ok(t),
    }
}

impl Host for Kv {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        let page = self.begin(&key)?;
        let (p, plugin) = (page.page_id.clone(), self.call.invocation.plugin.to_string());
        self.call
            .host_work(page.store.read(move |b| b.kv_get(&p, &plugin, &key)))
            .await
            .map_err(|e| KvError::Unavailable(format!("the store failed: {e}")))
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> Result<(), KvError> {
        self.check_value(&value)?;
        let ttl_ms = ttl(ttl_ms)?;
        self.write(key, KvOp::Set { value, ttl_ms }).await.map(drop)
    }

    async fn delete(&mut self, key: String) -> Result<bool, KvError> {
        Ok(matches!(self.write(key, KvOp::Delete).await?, KvOutcome::Existed(true)))
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, KvError> {
        self.check_value(&new)?;
        let ttl_ms = ttl(ttl_ms)?;
        Ok(matches!(self.write(key, KvOp::CompareAndSwap { expected, new, ttl_ms }).await?, KvOutcome::Swapped(true)))
    }

    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, KvError> {
        match self.write(key, KvOp::Increment { delta }).await? {
            KvOutcome::Counter(n) => Ok(n),
            other => Err(KvError::Unavailable(format!("unexpected store answer {other:?}"))),
        }
    }

    async fn list_keys(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, KvError> {
        let page = self.begin(&prefix)?;
        let (p, plugin, limit) = (page.page_id.clone(), self.call.invocation.plugin.to_string(), limit.min(LIST_MAX) as usize);
        self.call
            .host_work(page.store.read(move |b| b.kv_keys(&p, &plugin, &prefix, limit)))
            .await
            .map_err(|e| KvError::Unavailable(format!("the store failed: {e}")))
    }
}
