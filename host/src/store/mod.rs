//! Durable state: the inbox (accepted events), the outbox (sends done), the
//! dead letters, the recent problems, what the host knows of conversations (their state and
//! one-time-notification tokens) and Pages, and plugins' key-value state.
//!
//! [`Store`] is the one handle the rest of the host uses. Writes go through a
//! single writer thread that practises **group commit**: every write request
//! queued while the previous transaction was committing goes into the next
//! transaction, so many concurrent webhooks share one fsync. A write's future
//! resolves only once its transaction is durable.
//!
//! A transaction costs mostly per transaction, not per write: the fsync, and
//! the WAL frames of the pages every write touches (the tables' and indexes'
//! right edges). So, as PostgreSQL's `commit_delay` does, while writes keep
//! arriving (the last group had more than one, and the next write was
//! already queued when the writer came back for it) the writer waits
//! `store.commit_delay_us` before taking the next group, and fewer, larger
//! transactions leave the CPU to the rest of the host. A write that finds
//! the writer idle is committed at once.
//!
//! The engine sits behind the narrow [`Backend`] trait (one batch of writes
//! per transaction, plus a handful of reads), so a PostgreSQL backend for
//! several hosts can follow; [`sqlite::SqliteBackend`] (WAL,
//! `synchronous=FULL`) is the embedded default.
//!
//! A person's rows can be erased together ([`WriteOp::ErasePerson`]) or
//! read together ([`Backend::person`]).
//!
//! Invariants:
//! * An event is acknowledged to Messenger only after `append` returned, so
//!   an acknowledged event is on disk.
//! * An event is stored once: a redelivery within the retention window
//!   (the same Page, event id and timestamp; business events: the same
//!   Page and id) is recognised and not handled again.
//! * An event leaves the pending state only through `complete` or
//!   `dead_letter`, written after its outbox rows (one FIFO writer).
//! * Every dead letter is in the recent problems (written in the same
//!   transaction).

pub mod problems;
pub mod sqlite;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::model::InboundEvent;
use crate::telemetry::Metrics;

/// A one-time-notification token the host has seen in an opt-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationToken {
    pub token: String,
    pub psid: String,
    pub topic: Option<String>,
    pub issued_ms: u64,
    pub expires_ms: u64,
    pub used_ms: Option<u64>,
}

/// A write, applied inside a group-committed transaction.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Store events; the result says, per event, whether it was new.
    /// Shared, so the caller gets the events back without a copy.
    Append(std::sync::Arc<Vec<InboundEvent>>),
    /// The event was handled by its whole chain.
    Complete { seq: InboxSeq },
    /// The event is finished without being handled to the end: the host
    /// refused a plugin's call for good (`outcome` says why). Not retried.
    Finish { seq: InboxSeq, outcome: String },
    /// The event failed and will be tried again.
    Retry { seq: InboxSeq, attempts: u32, error: String },
    /// The event failed for good.
    DeadLetter { seq: InboxSeq, attempts: u32, error: String },
    /// A send of this event succeeded; `slot` identifies it within the event.
    OutboxSent { page_id: String, event_id: String, slot: String, response: String },
    /// Delete finished events and outbox rows older than `before_ms`,
    /// conversations not updated since `conversations_before_ms` (0: keep
    /// them), expired tokens and expired key-value entries.
    Prune { before_ms: i64, conversations_before_ms: i64 },
    /// Replace a conversation's state (JSON of
    /// the conversation state the host keeps).
    ConversationPut { page_id: String, psid: String, state: String },
    /// Replace one Page-level value (the app role, the Messenger Profile
    /// last applied...).
    PageStatePut { page_id: String, key: String, value: String },
    /// Remember a one-time-notification token (ignored if known).
    TokenIssued { page_id: String, token: NotificationToken },
    /// Mark a token used at `used_ms`, or unused again with `None`.
    TokenUsed { page_id: String, token: String, used_ms: Option<u64> },
    /// A plugin's key-value write; the result is a [`WriteResult::Kv`].
    Kv(KvWrite),
    /// Once per Page: rename the key-value namespace `from` to `to` for
    /// each pair whose `to` is empty (namespaces were once keyed by the
    /// name a plugin declares, now by its id). The result is
    /// [`WriteResult::Adopted`].
    KvAdopt { page_id: String, moves: Vec<(String, String)> },
    /// Problems for the recent-problems ring, each with how many similar
    /// ones were not recorded before it (see [`problems`]).
    Problems(Vec<(problems::Problem, u32)>),
    /// Delete everything kept about a person on a Page (their events and
    /// dead letters, sends, conversation state, tokens, problems) except
    /// the erasure event `except`, and note what went under `request`. The
    /// result is a [`WriteResult::Erased`].
    ErasePerson { page_id: String, psid: String, request: String, except: String },
    /// Record (or update) a request of Meta's data deletion callback.
    DeletionRequest(DeletionRequest),
}

/// What erasing a person removed, by kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Erased {
    /// Inbox rows, dead letters included.
    pub events: usize,
    pub dead_letters: usize,
    pub sends: usize,
    pub conversations: usize,
    pub tokens: usize,
    pub problems: usize,
}

/// One Page's part of an erasure, done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub page_id: String,
    pub erased_ms: i64,
    pub erased: Erased,
}

/// Where a request of Meta's data deletion callback stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionState {
    /// The person's PSIDs are not known yet (Meta has not answered the
    /// ID-matching call, or refused it); tried again later.
    Pending,
    /// Each Page's erasure is queued (see `pages`), in the person's
    /// conversation; [`Erasure`]s say which are done.
    Erasing,
}

impl DeletionState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionState::Pending => "pending",
            DeletionState::Erasing => "erasing",
        }
    }

    pub fn parse(s: &str) -> DeletionState {
        if s == "erasing" {
            DeletionState::Erasing
        } else {
            DeletionState::Pending
        }
    }
}

/// A request of Meta's data deletion callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionRequest {
    /// The confirmation code given to Meta, and the status page's name.
    pub code: String,
    pub app_id: String,
    /// The app-scoped user id, kept only while it is not matched to PSIDs.
    pub user_id: Option<String>,
    pub received_ms: i64,
    pub state: DeletionState,
    /// Why it is pending, or what was found.
    pub note: String,
    /// The Pages whose erasure was queued.
    pub pages: Vec<String>,
    pub resolved_ms: Option<i64>,
}

/// Where the inbox keeps an event: its arrival number, given by `Append`.
/// Completions, retries and dead letters name the event by it, which costs
/// the store no index lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InboxSeq(pub i64);

/// A write to one key of a plugin's namespace (Page, plugin id).
#[derive(Debug, Clone)]
pub struct KvWrite {
    pub page_id: String,
    pub plugin: String,
    pub key: String,
    pub op: KvOp,
    /// Bytes (keys plus values) the namespace may hold.
    pub namespace_limit: usize,
}

#[derive(Debug, Clone)]
pub enum KvOp {
    Set {
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    },
    Delete,
    /// `expected: None` means "only if absent".
    CompareAndSwap {
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
        ttl_ms: Option<u64>,
    },
    Increment {
        delta: i64,
    },
}

/// What a key-value write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOutcome {
    Done,
    /// For `Delete`: whether the key existed.
    Existed(bool),
    /// For `CompareAndSwap`: whether it swapped.
    Swapped(bool),
    /// For `Increment`: the new value.
    Counter(i64),
    /// Refused: the namespace would pass its limit.
    NamespaceFull {
        used: usize,
        limit: usize,
    },
    /// Refused: `Increment` on a value that is not an integer, or overflow.
    NotANumber,
}

/// Which one-time-notification tokens to read.
#[derive(Debug, Clone)]
pub enum TokenQuery {
    Token(String),
    /// Every token of this person.
    Psid(String),
    /// Every token for this topic.
    Topic(String),
}

/// What a write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    /// For `Append`: per event, where it was stored if it was new (`None`:
    /// a redelivery of a stored event).
    Appended(Vec<Option<InboxSeq>>),
    /// For `Prune`: rows deleted.
    Pruned(usize),
    Kv(KvOutcome),
    /// For `KvAdopt`: keys moved (0 when the Page was done before).
    Adopted(usize),
    Erased(Erased),
    Done,
}

/// An event that is stored but not finished (found at start).
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub event: InboundEvent,
    pub seq: InboxSeq,
    pub attempts: u32,
}

/// One conversation's stored state, for listing a Page's people.
#[derive(Debug, Clone)]
pub struct ConversationRow {
    pub psid: String,
    /// The conversation state's JSON.
    pub state: String,
    pub updated_ms: i64,
}

/// A dead letter, for `switchboard dlq`.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub page_id: String,
    pub event_id: String,
    pub kind: String,
    pub attempts: u32,
    pub error: String,
    pub failed_at_ms: i64,
    pub raw: String,
    /// Marked for retry and not yet taken back by a host.
    pub requeued: bool,
}

/// A storage engine. Methods run on the store's own threads, never on the
/// async executor.
pub trait Backend: Send + 'static {
    /// Applies `ops` in one transaction and makes it durable.
    fn write_batch(&mut self, ops: &[WriteOp]) -> anyhow::Result<Vec<WriteResult>>;
    /// Every event neither complete nor dead, oldest first within a
    /// conversation (called once, at start).
    fn pending(&mut self) -> anyhow::Result<Vec<PendingEvent>>;
    /// Dead letters marked for retry (`switchboard dlq retry`), moved back
    /// to pending and returned.
    fn take_requeued(&mut self) -> anyhow::Result<Vec<PendingEvent>>;
    /// The recorded response of a send, if it happened.
    fn outbox_get(&mut self, page_id: &str, event_id: &str, slot: &str) -> anyhow::Result<Option<String>>;
    fn dead_letters(&mut self, limit: usize) -> anyhow::Result<Vec<DeadLetter>>;
    /// Marks a dead letter for another try; the host picks it up.
    fn requeue_dead_letter(&mut self, page_id: &str, event_id: &str) -> anyhow::Result<bool>;
    fn drop_dead_letter(&mut self, page_id: &str, event_id: &str) -> anyhow::Result<bool>;
    /// A conversation's state JSON, if the host has seen the person.
    fn conversation_get(&mut self, page_id: &str, psid: &str) -> anyhow::Result<Option<String>>;
    /// A Page's conversations with a PSID after `after_psid`, in PSID order.
    fn conversations(&mut self, page_id: &str, after_psid: &str, limit: usize) -> anyhow::Result<Vec<ConversationRow>>;
    fn page_state_get(&mut self, page_id: &str, key: &str) -> anyhow::Result<Option<String>>;
    /// One-time-notification tokens of a Page, used ones included.
    fn tokens(&mut self, page_id: &str, query: &TokenQuery) -> anyhow::Result<Vec<NotificationToken>>;
    /// A plugin's live (unexpired) value for `key`.
    fn kv_get(&mut self, page_id: &str, plugin: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// A plugin's live keys starting with `prefix`, in byte order.
    fn kv_keys(&mut self, page_id: &str, plugin: &str, prefix: &str, limit: usize) -> anyhow::Result<Vec<String>>;
    /// Recent problems matching `query`, oldest first.
    fn problems(&mut self, query: &problems::ProblemQuery) -> anyhow::Result<Vec<problems::RecordedProblem>>;
    /// Everything kept about a person on a Page, as JSON (an export).
    fn person(&mut self, page_id: &str, psid: &str) -> anyhow::Result<serde_json::Value>;
    /// A Page's part of erasure `request`, if it is done.
    fn erasure(&mut self, request: &str, page_id: &str) -> anyhow::Result<Option<Erasure>>;
    /// The data deletion request `code`, or with `None` every pending one.
    fn deletion_requests(&mut self, code: Option<&str>) -> anyhow::Result<Vec<DeletionRequest>>;
}

/// Writes waiting for the writer thread, with their reply channels.
type Request = (WriteOp, oneshot::Sender<anyhow::Result<WriteResult>>);

/// A read waiting for the reader thread; it answers through its own channel.
type ReadJob = Box<dyn FnOnce(&mut dyn Backend) + Send>;

/// The handle to durable state. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    writes: mpsc::Sender<Request>,
    reads: mpsc::Sender<ReadJob>,
}

/// Largest number of writes committed in one transaction.
const MAX_GROUP: usize = 4096;

impl Store {
    /// Starts the writer thread over `writer`, and the reader thread over
    /// `reader`.
    /// `commit_delay`: while writes keep arriving, how long the writer waits
    /// before taking the next group (see the module doc). Each commit's
    /// time and size go to `metrics`.
    pub fn new(mut writer: Box<dyn Backend>, reader: Box<dyn Backend>, commit_delay: Duration, metrics: Metrics) -> anyhow::Result<Store> {
        let (tx, rx) = mpsc::channel::<Request>();
        thread::Builder::new().name("store-writer".into()).spawn(move || {
            // Take the first request (blocking only when none is queued), then
            // everything else already queued: that is the group. `busy`: the
            // last group had company, so writes are arriving concurrently and
            // waiting lets more of them share a commit.
            let mut busy = false;
            loop {
                // Only a write that was already waiting is held back: one
                // that finds the writer idle is committed at once.
                let first = match rx.try_recv() {
                    Ok(first) => {
                        if busy && !commit_delay.is_zero() {
                            thread::sleep(commit_delay);
                        }
                        first
                    }
                    Err(mpsc::TryRecvError::Empty) => match rx.recv() {
                        Ok(first) => first,
                        Err(_) => break,
                    },
                    Err(mpsc::TryRecvError::Disconnected) => break,
                };
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
                busy = group.len() > 1;
                let (ops, replies): (Vec<WriteOp>, Vec<_>) = group.into_iter().unzip();
                let started = std::time::Instant::now();
                let written = writer.write_batch(&ops);
                let writes = ops.len();
                metrics.store_commit(writes, started.elapsed());
                // Released before anyone is told, so an appender gets sole
                // ownership of its events back.
                drop(ops);
                match written {
                    Ok(results) => {
                        for (reply, result) in replies.into_iter().zip(results) {
                            let _ = reply.send(Ok(result));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, writes, "store write failed; nothing in this group was committed");
                        for reply in replies {
                            let _ = reply.send(Err(anyhow::anyhow!("store write failed: {e}")));
                        }
                    }
                }
            }
        })?;
        Ok(Store { writes: tx, reads: Self::start_reader(reader)? })
    }

    /// One thread serves every read, in arrival order, on the one reader
    /// connection: reads queue in a channel, not as blocked threads.
    fn start_reader(mut reader: Box<dyn Backend>) -> anyhow::Result<mpsc::Sender<ReadJob>> {
        let (tx, rx) = mpsc::channel::<ReadJob>();
        thread::Builder::new().name("store-reader".into()).spawn(move || {
            for job in rx {
                // A panic drops the job's reply channel (its caller gets an
                // error) and leaves the reader serving the others.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(reader.as_mut())));
            }
        })?;
        Ok(tx)
    }

    /// Opens the embedded SQLite store in `dir`.
    pub fn open_sqlite(dir: &std::path::Path, commit_delay: Duration, metrics: Metrics) -> anyhow::Result<Store> {
        let (writer, reader) = sqlite::SqliteBackend::open_pair(dir)?;
        Store::new(Box::new(writer), Box::new(reader), commit_delay, metrics)
    }

    /// Queues a write and waits until it is durable.
    pub async fn write(&self, op: WriteOp) -> anyhow::Result<WriteResult> {
        let (tx, rx) = oneshot::channel();
        self.writes.send((op, tx)).map_err(|_| anyhow::anyhow!("the store writer has stopped"))?;
        rx.await.map_err(|_| anyhow::anyhow!("the store writer has stopped"))?
    }

    /// Queues a write without waiting; it commits in order with the rest.
    pub fn write_later(&self, op: WriteOp) {
        let (tx, _rx) = oneshot::channel();
        if self.writes.send((op, tx)).is_err() {
            tracing::error!("the store writer has stopped; a write was lost");
        }
    }

    /// Appends events durably; returns them, each with where it was stored
    /// if it was new.
    pub async fn append(&self, events: Vec<InboundEvent>) -> anyhow::Result<Vec<(InboundEvent, Option<InboxSeq>)>> {
        let events = std::sync::Arc::new(events);
        let stored = match self.write(WriteOp::Append(events.clone())).await? {
            WriteResult::Appended(stored) => stored,
            other => return Err(anyhow::anyhow!("unexpected store answer to an append: {other:?}")),
        };
        let events = std::sync::Arc::try_unwrap(events).unwrap_or_else(|shared| (*shared).clone());
        Ok(events.into_iter().zip(stored).collect())
    }

    /// Runs a read on the reader thread.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Backend) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |backend| {
            let _ = tx.send(f(backend));
        });
        self.reads.send(job).map_err(|_| anyhow::anyhow!("the store reader has stopped"))?;
        rx.await.map_err(|_| anyhow::anyhow!("a store read failed without an answer (see the log)"))?
    }
}
