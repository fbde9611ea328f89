//! The outbox: the sends made while handling an event, recorded so that a
//! replay (a retry, or after a crash) does not repeat them.

use std::sync::Arc;

use crate::store::{Store, WriteOp};

/// The outbox of one event: the sends made while handling it, so that a
/// replay (a retry, or after a crash) does not repeat them.
///
/// A send's record stays in memory until it matters, which saves the store
/// a write per reply:
/// * before the event's next send, it is written and awaited, so a later
///   send never becomes durable before an earlier one's record;
/// * when the event fails, it is written before the retry or dead letter;
/// * when the event completes, it is dropped: the completion, awaited
///   before the conversation's next event, says nothing of the event needs
///   replaying.
///
/// A crash between a send and the write that covers it repeats that send
/// (one per conversation at most), as a write awaited after each send
/// would: the window is still one group commit, lengthened only by the
/// rest of the chain's run after the send.
#[derive(Clone)]
pub struct EventOutbox {
    inner: Arc<OutboxState>,
}

struct OutboxState {
    store: Store,
    page_id: String,
    event_id: String,
    /// Whether this event may have been handled before (look slots up).
    replay: bool,
    /// Sends done and not yet written: (slot, Graph response).
    unwritten: std::sync::Mutex<Vec<(String, String)>>,
}

impl EventOutbox {
    pub fn new(store: Store, page_id: &str, event_id: &str, replay: bool) -> Self {
        EventOutbox {
            inner: Arc::new(OutboxState {
                store,
                page_id: page_id.to_string(),
                event_id: event_id.to_string(),
                replay,
                unwritten: std::sync::Mutex::default(),
            }),
        }
    }

    fn unwritten(&self) -> std::sync::MutexGuard<'_, Vec<(String, String)>> {
        self.inner.unwritten.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The recorded Graph response of `slot`, if a previous try of this
    /// event already made that send.
    pub async fn recorded(&self, slot: &str) -> Option<String> {
        if !self.inner.replay {
            return None;
        }
        let (p, e, s) = (self.inner.page_id.clone(), self.inner.event_id.clone(), slot.to_string());
        match self.inner.store.read(move |b| b.outbox_get(&p, &e, &s)).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(event = %self.inner.event_id, slot, error = %e, "outbox lookup failed; sending");
                None
            }
        }
    }

    /// Notes a send that happened (written later, see the type's doc).
    pub fn sent(&self, slot: String, response: String) {
        self.unwritten().push((slot, response));
    }

    /// Makes every noted send durable.
    pub async fn write_unwritten(&self) -> anyhow::Result<()> {
        let unwritten = std::mem::take(&mut *self.unwritten());
        let Some(last) = unwritten.len().checked_sub(1) else { return Ok(()) };
        for (n, (slot, response)) in unwritten.into_iter().enumerate() {
            let op = WriteOp::OutboxSent { page_id: self.inner.page_id.clone(), event_id: self.inner.event_id.clone(), slot, response };
            // One writer commits in order: awaiting the last covers all.
            if n == last {
                self.inner.store.write(op).await?;
            } else {
                self.inner.store.write_later(op);
            }
        }
        Ok(())
    }

    /// Drops the noted sends because the event is complete; returns whether
    /// there were any (then the completion must be awaited).
    pub fn settle_by_completion(&self) -> bool {
        let mut unwritten = self.unwritten();
        let had_sends = !unwritten.is_empty();
        unwritten.clear();
        had_sends
    }
}

/// One plugin's sends within an event's outbox.
///
/// A send is identified by what it is, not by when it came: its slot is
/// `{chain position}:{hash of the Send API body}:{k}`, the body holding the
/// recipient and the message, and `k` counting identical sends made
/// earlier in the same try (a plugin may send the same text twice). So a
/// replay skips exactly the sends that already went out, even when the
/// plugin's sends depend on data that changed in between (back-in-stock's
/// open tokens: one token spent before a crash, the next try sends to the
/// others). A message whose content changes on every try (a clock in its
/// text) is not recognised, and goes out again.
#[derive(Clone)]
pub struct SendLedger {
    pub outbox: EventOutbox,
    chain_position: usize,
    made: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
}

impl SendLedger {
    pub fn new(outbox: EventOutbox, chain_position: usize) -> Self {
        SendLedger { outbox, chain_position, made: Arc::default() }
    }

    /// The slot of a send whose Send API body is `body`.
    pub fn slot_for(&self, body: &serde_json::Value) -> String {
        use sha2::Digest;
        let digest = hex::encode(&sha2::Sha256::digest(body.to_string().as_bytes())[..12]);
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let k = made.entry(digest.clone()).or_insert(0);
        let slot = format!("{}:{digest}:{k}", self.chain_position);
        *k += 1;
        slot
    }
}
