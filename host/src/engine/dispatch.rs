//! Getting accepted events to plugins: one conversation at a time, many
//! conversations at once.
//!
//! Invariants:
//! * Events of one conversation (Page, person) are handled strictly one after
//!   another, in timestamp order among those waiting (ties keep their
//!   arrival order; the webhook also sorts each batch by timestamp).
//! * At most `max_concurrent_conversations` conversations run at once, and
//!   one Page's at most `max_conversations_per_page` ([`ConversationSlots`]):
//!   a slow conversation holds one slot, and a slow Page blocks no other.
//! * At most `max_queued_events` events wait. Room is a value held: a
//!   [`Room`] (semaphore permits) is taken *before* events are stored
//!   ([`Dispatcher::reserve`] refuses the whole batch with [`Busy`]: the
//!   webhook answers 503 and Messenger redelivers) and each queued event
//!   carries its permit until it is handled, so concurrent webhooks cannot
//!   all pass a check, and resumed or requeued events wait for room too.
//!
//! * An event that fails (a plugin trapped, timed out or returned an error)
//!   is tried again after a backoff, holding its conversation back so order
//!   is kept, up to `max_attempts`; then it becomes a dead letter and the
//!   conversation moves on. The outbox keeps retries from repeating sends
//!   ([`EventOutbox`]: an event that sent is complete only once that is
//!   durable, before its conversation's next event runs).
//!
//! A conversation with queued events has exactly one worker task; the map
//! entry exists exactly while that worker runs, and both are created and
//! removed under the same lock, so no event is stranded or run twice.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::engine::slots::ConversationSlots;

use crate::engine::plugin_health::Admission;
use crate::engine::registry::{PageRoute, PluginRegistry};
use crate::messenger::outbox::{EventOutbox, SendLedger};
use crate::model::{ConversationKey, EventKind, InboundEvent};
use crate::sandbox::capabilities::Invocation;
use crate::sandbox::Verdict;
use crate::sandbox::{Disposition, PluginFailure, PluginRuntime};
use crate::store::{InboxSeq, Store, WriteOp};
use crate::telemetry::{CpuTimed, EventOutcome, Metrics};

/// The queue is full, or the host is shutting down: try again later.
#[derive(Debug, thiserror::Error)]
#[error("the host is busy ({0}); Messenger will redeliver")]
pub struct Busy(&'static str);

/// Places in the queue, taken before events are stored and carried with
/// them: one permit per event, returned when it is handled.
pub struct Room(OwnedSemaphorePermit);

/// An event waiting for its conversation's turn.
#[derive(Debug)]
pub struct QueuedEvent {
    /// Shared with the plugins' invocations (a 0.2 `event` resource).
    pub event: Arc<InboundEvent>,
    /// Where the inbox keeps it.
    pub seq: InboxSeq,
    /// Tries already made (from the store, after a restart).
    pub attempts: u32,
    /// The event may have been (partly) handled before: consult the outbox.
    pub replay: bool,
    /// Its place in the queue, from the [`Room`] it was submitted with.
    room: Option<OwnedSemaphorePermit>,
    /// When it was queued (in this process): its latency runs from here.
    queued_at: Instant,
}

impl QueuedEvent {
    pub fn new(event: InboundEvent, seq: InboxSeq, attempts: u32, replay: bool) -> Self {
        QueuedEvent { event: Arc::new(event), seq, attempts, replay, room: None, queued_at: Instant::now() }
    }
}

/// How failed events are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first_backoff: Duration,
}

impl RetryPolicy {
    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(16);
        (self.first_backoff * factor).min(Duration::from_secs(60))
    }
}

/// How many events may wait, and how many conversations run at once.
pub struct Capacity {
    pub slots: ConversationSlots,
    /// `dispatch.max_queued_events`: past it, webhooks get 503.
    pub max_queued: usize,
}

#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    conversations: Mutex<HashMap<ConversationKey, VecDeque<QueuedEvent>>>,
    queued: AtomicUsize,
    max_queued: usize,
    room: Arc<Semaphore>,
    slots: ConversationSlots,
    accepting: AtomicBool,
    idle: Notify,
    registry: PluginRegistry,
    runtime: PluginRuntime,
    store: Store,
    retry: RetryPolicy,
    metrics: Metrics,
    /// Where conversation workers run: the worker runtime, below the
    /// webhook's priority.
    workers: tokio::runtime::Handle,
}

impl Dispatcher {
    pub fn new(
        registry: PluginRegistry,
        runtime: PluginRuntime,
        store: Store,
        retry: RetryPolicy,
        capacity: Capacity,
        workers: tokio::runtime::Handle,
        metrics: Metrics,
    ) -> Self {
        let Capacity { slots, max_queued } = capacity;
        Dispatcher {
            inner: Arc::new(Inner {
                conversations: Mutex::new(HashMap::new()),
                queued: AtomicUsize::new(0),
                max_queued,
                room: Arc::new(Semaphore::new(max_queued)),
                slots,
                accepting: AtomicBool::new(true),
                idle: Notify::new(),
                registry,
                runtime,
                store,
                retry,
                metrics,
                workers,
            }),
        }
    }

    /// Takes room for `n` events now, or refuses. Taken before the events
    /// are stored, so a stored event always has a place in the queue.
    pub fn reserve(&self, n: usize) -> Result<Room, Busy> {
        if !self.inner.accepting.load(Ordering::Acquire) {
            return Err(Busy("shutting down"));
        }
        let n = u32::try_from(n).map_err(|_| Busy("event queue full"))?;
        self.inner.room.clone().try_acquire_many_owned(n).map(Room).map_err(|_| Busy("event queue full"))
    }

    /// Waits for room for `n` events (at most the queue's size), for events
    /// already stored: resumed at start, or requeued dead letters.
    pub async fn reserve_waiting(&self, n: usize) -> Room {
        let n = n.min(self.inner.max_queued) as u32;
        match self.inner.room.clone().acquire_many_owned(n).await {
            Ok(permit) => Room(permit),
            // The semaphore is never closed.
            Err(_) => unreachable!("the queue's room is never closed"),
        }
    }

    /// The largest batch [`Dispatcher::reserve_waiting`] can make room for.
    pub fn capacity(&self) -> usize {
        self.inner.max_queued
    }

    /// Queues stored events for handling, each holding one place of `room`
    /// (which must have room for all of them; what is left is released).
    pub fn submit(&self, events: Vec<QueuedEvent>, mut room: Room) {
        debug_assert!(room.0.num_permits() >= events.len(), "submitted without room");
        self.inner.queued.fetch_add(events.len(), Ordering::AcqRel);
        let mut conversations = self.lock();
        for mut event in events {
            event.room = room.0.split(1);
            let key = event.event.conversation();
            match conversations.get_mut(&key) {
                Some(queue) => {
                    // Timestamp order among the events still waiting: two
                    // webhooks committed together may arrive here in either
                    // order. (An event older than one already started cannot
                    // be put before it.)
                    let at = queue.iter().rposition(|q| q.event.timestamp <= event.event.timestamp).map_or(0, |i| i + 1);
                    queue.insert(at, event);
                }
                None => {
                    conversations.insert(key.clone(), VecDeque::from([event]));
                    self.inner.workers.spawn(self.clone().run_conversation(key));
                }
            }
        }
    }

    /// Whether an event could be taken in now: accepting, with a place
    /// free in the queue (what [`Dispatcher::reserve`] would find).
    pub fn has_room(&self) -> bool {
        self.inner.accepting.load(Ordering::Acquire) && self.inner.room.available_permits() > 0
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConversationKey, VecDeque<QueuedEvent>>> {
        self.inner.conversations.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn run_conversation(self, key: ConversationKey) {
        // At start, events are taken in before the plugins have compiled:
        // they wait here, stored, with their place in the queue.
        self.inner.registry.loaded().await;
        let _slot = self.inner.slots.acquire(&key.page_id).await;
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

    /// Handles one event to the end: complete, or dead letter.
    async fn handle(&self, queued: &QueuedEvent) {
        let event = &queued.event;
        let (page_id, event_id, seq) = (&event.page_id, &event.id, queued.seq);
        let mut attempts = queued.attempts;
        let mut replay = queued.replay;
        let store = &self.inner.store;
        let done = |outcome| self.inner.metrics.event_done(page_id, outcome, queued.queued_at.elapsed());
        loop {
            let outbox = EventOutbox::new(store.clone(), page_id, event_id, replay);
            let Err(failure) = self.run_chain(event, &outbox).await else {
                let complete = WriteOp::Complete { seq };
                if outbox.settle_by_completion() {
                    // The completion stands for the sends' records: durable
                    // before this conversation's next event may send.
                    if let Err(e) = store.write(complete).await {
                        tracing::error!(error = %e, "could not mark an event complete; a restart will replay it");
                    }
                } else {
                    store.write_later(complete);
                }
                done(EventOutcome::Complete);
                return;
            };
            if let Err(e) = outbox.write_unwritten().await {
                tracing::error!(event = %event_id, error = %e, "could not record an event's sends in the outbox; a retry may repeat them");
            }
            attempts += 1;
            let error = failure.to_string();
            match failure.disposition() {
                Disposition::Retry => {}
                Disposition::Finish => {
                    tracing::warn!(page = %page_id, event = %event_id, class = failure.class(), %error,
                        "event finished without a retry: the host or Meta refused a plugin's call for a reason retrying cannot fix");
                    store.write_later(WriteOp::Finish { seq, outcome: error });
                    done(EventOutcome::Finished);
                    return;
                }
                Disposition::DeadLetter => {
                    tracing::error!(page = %page_id, event = %event_id, attempts, %error,
                        "event failed in a way a retry would repeat; moved to the dead letters (`switchboard dlq retry` once the plugin is fixed)");
                    self.inner.registry.health().problems().dead_lettered(page_id, &error);
                    store.write_later(WriteOp::DeadLetter { seq, attempts, error });
                    done(EventOutcome::DeadLetter);
                    return;
                }
            }
            if attempts >= self.inner.retry.max_attempts {
                tracing::error!(page = %page_id, event = %event_id, attempts, %error,
                    "event failed for good; moved to the dead letters (`switchboard dlq list`)");
                self.inner.registry.health().problems().dead_lettered(page_id, &error);
                store.write_later(WriteOp::DeadLetter { seq, attempts, error });
                done(EventOutcome::DeadLetter);
                return;
            }
            self.inner.metrics.event_retried(page_id);
            if !self.inner.accepting.load(Ordering::Acquire) {
                // Shutting down: leave it pending in the store for the next run.
                store.write_later(WriteOp::Retry { seq, attempts, error });
                return;
            }
            let wait = self.inner.retry.backoff(attempts);
            tracing::warn!(page = %page_id, event = %event_id, attempts, ?wait, %error, "event failed; will retry");
            store.write_later(WriteOp::Retry { seq, attempts, error });
            tokio::time::sleep(wait).await;
            replay = true;
        }
    }

    /// Runs one event through its Page's plugin chain. Every plugin that
    /// wants the event runs even if an earlier one failed; the first failure
    /// is returned.
    async fn run_chain(&self, event: &Arc<InboundEvent>, outbox: &EventOutbox) -> Result<(), PluginFailure> {
        let routes = self.inner.registry.snapshot();
        let Some(route) = routes.pages.get(&event.page_id) else {
            // Removed by a config reload while the event waited: keep it (it
            // ends in the dead letters) rather than drop it.
            return Err(PluginFailure::Error(format!(
                "Page {} is no longer configured; add it back and `switchboard dlq retry` the event",
                event.page_id
            )));
        };
        if event.kind == EventKind::PersonErased {
            // Erased before the plugins hear of it, so what they do then
            // (delete their own state) comes after the host's part.
            match route.access.conversations.erase(event).await {
                Ok(erased) => tracing::info!(page = %event.page_id, event = %event.id, ?erased, "person erased"),
                Err(e) => return Err(PluginFailure::HostUnavailable { cause: "the store".into(), message: format!("{e:#}") }),
            }
        // The host learns from the event before any plugin acts on it, so
        // a reply to this message sees the window it opened.
        } else if let Err(e) = route.access.conversations.observe(event, &route.access.app_id).await {
            // Without the state, the rules cannot be applied: try later.
            return Err(PluginFailure::HostUnavailable { cause: "the store".into(), message: format!("{e:#}") });
        }
        if route.auto_pass_thread_requests && event.kind == EventKind::RequestThreadControl {
            self.auto_pass(route, event, outbox).await;
        }
        let event_id: Arc<str> = Arc::from(event.id.as_str());
        let mut first_failure = None;
        let health = self.inner.registry.health();
        for (position, link) in route.plugins.iter().enumerate().filter(|(_, p)| p.compiled.wants(event.kind)) {
            let (id, plugin) = (&link.id, &link.compiled);
            match health.admit(&event.page_id, id, plugin) {
                Admission::Call => {}
                Admission::Skip => {
                    tracing::debug!(page = %event.page_id, plugin = %id, event = %event.id, "plugin skipped: its circuit is open (fail-open)");
                    continue;
                }
                Admission::Refuse(failure) => {
                    tracing::warn!(page = %event.page_id, plugin = %id, event = %event.id, %failure, "event fails: the plugin's circuit is open (fail-closed)");
                    keep_first_failure(&mut first_failure, failure);
                    continue;
                }
            }
            let invocation = Invocation {
                plugin: id.clone(),
                event_id: event_id.clone(),
                page: Some(route.access.clone()),
                ledger: Some(SendLedger::new(outbox.clone(), position)),
            };
            let started = Instant::now();
            let (result, cpu) =
                CpuTimed::new(self.inner.runtime.invoke(plugin, event, invocation, &link.limits), self.inner.metrics.is_enabled()).await;
            let outcome = result.as_ref().err().map_or("ok", PluginFailure::class);
            self.inner.metrics.plugin_invoked(&event.page_id, id, outcome, started.elapsed(), cpu);
            health.record(&event.page_id, id, plugin, &event.id, result.as_ref().err());
            match result {
                Ok(Verdict::Continue) => {}
                Ok(Verdict::Stop) => break,
                Err(failure) => {
                    tracing::error!(
                        page = %event.page_id, plugin = %id, declared = %plugin.info.name, version = %plugin.info.version,
                        event = %event.id, kind = %event.kind, class = failure.class(), %failure, "plugin failed on an event"
                    );
                    keep_first_failure(&mut first_failure, failure);
                }
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// Answers a `request_thread_control` by passing the thread to the app
    /// that asked (`auto_pass_thread_requests`). Recorded in the outbox like
    /// a plugin's send, so a replay does not pass twice.
    async fn auto_pass(&self, route: &PageRoute, event: &InboundEvent, outbox: &EventOutbox) {
        const SLOT: &str = "host:auto-pass";
        let (Some(psid), Some(requester)) = (event.psid.as_deref(), event.facts.requested_owner_app_id.clone()) else {
            return;
        };
        if outbox.recorded(SLOT).await.is_some() {
            return;
        }
        match crate::sandbox::capabilities::pass_thread(&route.access, psid, &requester, "auto-pass on request").await {
            Ok(()) => {
                tracing::info!(page = %event.page_id, event = %event.id, to = %requester, "thread passed to the app that requested it");
                outbox.sent(SLOT.into(), "{}".into());
            }
            Err(e) => {
                tracing::error!(page = %event.page_id, event = %event.id, error = %e, "could not pass the thread to the app that requested it")
            }
        }
    }
}

/// Keeps the failure that decides the event's fate: the first one, unless
/// it is final and a later one could be retried (a retry runs the whole
/// chain again; the outbox keeps the first plugin's sends from repeating).
fn keep_first_failure(first: &mut Option<PluginFailure>, failure: PluginFailure) {
    match first {
        None => *first = Some(failure),
        Some(kept) if kept.disposition() != Disposition::Retry && failure.disposition() == Disposition::Retry => *kept = failure,
        Some(_) => {}
    }
}
