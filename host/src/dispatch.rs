//! Getting accepted events to plugins: one conversation at a time, many
//! conversations at once.
//!
//! Invariants:
//! * Events of one conversation (Page, person) are handled strictly one after
//!   another, in the order they were submitted (the webhook sorts each batch
//!   by timestamp first).
//! * At most `max_concurrent_conversations` conversations run at once; a slow
//!   conversation holds one slot and blocks nobody else.
//! * At most `max_queued_events` events wait; past that [`Dispatcher::submit`]
//!   refuses the whole batch with [`Busy`] (the webhook answers 503 and
//!   Messenger redelivers), so memory stays bounded.
//!
//! A conversation with queued events has exactly one worker task; the map
//! entry exists exactly while that worker runs, and both are created and
//! removed under the same lock, so no event is stranded or run twice.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use crate::capabilities::Invocation;
use crate::envelope::{ConversationKey, InboundEvent};
use crate::registry::PluginRegistry;
use crate::runtime::bindings::exports::switchboard::plugin::handler::Verdict;
use crate::runtime::PluginRuntime;

/// The queue is full, or the host is shutting down: try again later.
#[derive(Debug, thiserror::Error)]
#[error("the host is busy ({0}); Messenger will redeliver")]
pub struct Busy(&'static str);

#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    conversations: Mutex<HashMap<ConversationKey, VecDeque<InboundEvent>>>,
    queued: AtomicUsize,
    max_queued: usize,
    slots: Semaphore,
    accepting: AtomicBool,
    idle: Notify,
    registry: PluginRegistry,
    runtime: PluginRuntime,
}

impl Dispatcher {
    pub fn new(registry: PluginRegistry, runtime: PluginRuntime, max_concurrent: usize, max_queued: usize) -> Self {
        Dispatcher {
            inner: Arc::new(Inner {
                conversations: Mutex::new(HashMap::new()),
                queued: AtomicUsize::new(0),
                max_queued,
                slots: Semaphore::new(max_concurrent),
                accepting: AtomicBool::new(true),
                idle: Notify::new(),
                registry,
                runtime,
            }),
        }
    }

    /// Accepts a batch of events, all or none.
    pub fn submit(&self, events: Vec<InboundEvent>) -> Result<(), Busy> {
        if !self.inner.accepting.load(Ordering::Acquire) {
            return Err(Busy("shutting down"));
        }
        let n = events.len();
        let max = self.inner.max_queued;
        self.inner
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| (q + n <= max).then_some(q + n))
            .map_err(|_| Busy("event queue full"))?;
        let mut conversations = self.lock();
        for event in events {
            let key = event.conversation();
            match conversations.get_mut(&key) {
                Some(queue) => queue.push_back(event),
                None => {
                    conversations.insert(key.clone(), VecDeque::from([event]));
                    tokio::spawn(self.clone().run_conversation(key));
                }
            }
        }
        Ok(())
    }

    /// Events accepted and not yet handled.
    pub fn queued(&self) -> usize {
        self.inner.queued.load(Ordering::Acquire)
    }

    /// Stops accepting and waits up to `grace` for queued events to finish.
    /// Returns how many were left unhandled.
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.inner.accepting.store(false, Ordering::Release);
        let drained = tokio::time::timeout(grace, async {
            loop {
                let idle = self.inner.idle.notified();
                if self.queued() == 0 {
                    return;
                }
                idle.await;
            }
        });
        let _ = drained.await;
        self.queued()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConversationKey, VecDeque<InboundEvent>>> {
        self.inner.conversations.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn run_conversation(self, key: ConversationKey) {
        let Ok(_slot) = self.inner.slots.acquire().await else { return };
        loop {
            let event = {
                let mut conversations = self.lock();
                let next = conversations.get_mut(&key).and_then(VecDeque::pop_front);
                if next.is_none() {
                    conversations.remove(&key);
                }
                next
            };
            let Some(event) = event else { return };
            self.handle(&event).await;
            if self.inner.queued.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.inner.idle.notify_waiters();
            }
        }
    }

    /// Runs one event through its Page's plugin chain.
    async fn handle(&self, event: &InboundEvent) {
        let routes = self.inner.registry.snapshot();
        let Some(route) = routes.pages.get(&event.page_id) else {
            tracing::warn!(page = %event.page_id, event = %event.id, "event for a Page that is no longer configured; dropped");
            return;
        };
        let event_id: Arc<str> = Arc::from(event.id.as_str());
        for plugin in route.plugins.iter().filter(|p| p.wants(event.kind)) {
            let invocation = Invocation {
                plugin: Arc::from(plugin.info.name.as_str()),
                event_id: event_id.clone(),
                page: Some(route.access.clone()),
            };
            match self.inner.runtime.invoke(plugin, event, invocation).await {
                Ok(Verdict::Continue) => {}
                Ok(Verdict::Stop) => break,
                Err(failure) => tracing::error!(
                    page = %event.page_id, plugin = %plugin.info.name, version = %plugin.info.version,
                    event = %event.id, kind = event.kind, %failure, "plugin failed on an event; continuing with the next plugin"
                ),
            }
        }
    }
}
