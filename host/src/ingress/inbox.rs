//! Taking events in, for every door they come through (Messenger's
//! webhook, the business-events API): make room, store durably, queue.
//!
//! [`Inbox::accept`] is the one place events enter the host. It takes room
//! in the dispatcher's queue *before* storing (so a stored event always has
//! a queue place, held with it until it is handled), appends the batch to the store (group commit; the answer
//! to the caller waits for it) and queues only the events that were new,
//! which is what de-duplicates redeliveries.

use crate::engine::dispatch::{Busy, Dispatcher, QueuedEvent};
use crate::model::InboundEvent;
use crate::store::Store;
use crate::telemetry::Metrics;

#[derive(Clone)]
pub struct Inbox {
    dispatcher: Dispatcher,
    store: Store,
    metrics: Metrics,
}

/// Why events were not accepted; the caller should send them again later.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Busy(#[from] Busy),
    #[error("could not store the events: {0}")]
    Store(anyhow::Error),
}

impl Inbox {
    pub fn new(dispatcher: Dispatcher, store: Store, metrics: Metrics) -> Self {
        Inbox { dispatcher, store, metrics }
    }

    /// Stores and queues `events`; returns, per event, whether it was new
    /// (false: a redelivery, not handled again).
    pub async fn accept(&self, events: Vec<InboundEvent>) -> Result<Vec<bool>, Refused> {
        let room = self.dispatcher.reserve(events.len())?;
        let appended = self.store.append(events).await.map_err(Refused::Store)?;
        let fresh = appended.iter().map(|(_, seq)| seq.is_some()).collect();
        let queued = appended
            .into_iter()
            .filter_map(|(event, seq)| {
                self.metrics.event_stored(&event.page_id, seq.is_some());
                if seq.is_none() {
                    tracing::debug!(page = %event.page_id, event = %event.id, "redelivered event ignored");
                }
                Some(QueuedEvent::new(event, seq?, 0, false))
            })
            .collect();
        self.dispatcher.submit(queued, room);
        Ok(fresh)
    }
}
