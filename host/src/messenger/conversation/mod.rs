//! What the host knows about each conversation (one Page, one PSID), and
//! the Messenger rules that depend on it ([`rules`]).
//!
//! [`Conversations`] is the one handle. It learns from every event before
//! any plugin sees it ([`Conversations::observe`]: the last interaction,
//! thread ownership from handover events and standby, account linking,
//! one-time-notification opt-ins, the app's role) and from the results of
//! the host's own Graph calls ([`Conversations::update`]: a successful pass
//! or take changes the owner, a 10/2018300 says another app owns it).
//!
//! Durability: every change is queued to the store's single writer in the
//! order it was made (write-behind, group-committed with the event's
//! completion, which the writer commits after it), so a state change made
//! while handling an event is durable no later than the event is complete,
//! and a crash before that replays the event, which observes it again.
//! Observing an event twice changes nothing more (times only move forward,
//! tokens are inserted once).
//!
//! One exception keeps a store write off most events: when only the time
//! of the last interaction moved, and by less than
//! [`INTERACTION_WRITE_INTERVAL`] since the time last written, the change
//! stays in memory. After a crash, or once the conversation has left the
//! in-memory cache, the window can then close up to that much early, never
//! late.
//!
//! [`people`] lists a Page's conversations for operators, from the store.
//!
//! Reads are served from a bounded in-memory cache of recently used
//! conversations (two generations: the older one is dropped when the newer
//! fills), loaded from the store on a miss.

pub mod people;
pub mod rules;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub use self::rules::{
    AccountLink, ConversationState, InteractionSource, MessagingPolicy, NotificationToken, ReceiverRole, Refusal, SendBasis, ThreadOwner,
};
use crate::model::{EventKind, InboundEvent, NamedOwner};
use crate::store::{Store, TokenQuery, WriteOp};

/// Conversations kept in memory per generation.
const CACHE_GENERATION: usize = 50_000;

/// How stale the stored time of a conversation's last interaction may get
/// when nothing else about it changes (see the module doc).
pub const INTERACTION_WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

type Key = (String, String);

/// A conversation's state in memory, and what of it the store has.
struct Cached {
    state: ConversationState,
    /// The last-interaction time last queued to the store.
    written_interaction_ms: Option<u64>,
}

impl Cached {
    fn new(state: ConversationState) -> Self {
        let written_interaction_ms = state.last_interaction.map(|i| i.at_ms);
        Cached { state, written_interaction_ms }
    }

    /// Whether the state, changed from `before`, is worth a store write.
    fn worth_writing(&self, before: &ConversationState) -> bool {
        let (Some(now), Some(written)) = (self.state.last_interaction, self.written_interaction_ms) else { return true };
        if now.at_ms.saturating_sub(written) >= INTERACTION_WRITE_INTERVAL.as_millis() as u64 {
            return true;
        }
        // Within the interval: worth it only if more than the time moved.
        ConversationState { last_interaction: before.last_interaction, ..self.state.clone() } != *before
    }
}

#[derive(Clone)]
pub struct Conversations {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    policy: MessagingPolicy,
    cache: Mutex<Cache>,
    roles: Mutex<HashMap<String, ReceiverRole>>,
}

#[derive(Default)]
struct Cache {
    hot: HashMap<Key, Cached>,
    cold: HashMap<Key, Cached>,
}

impl Cache {
    fn get_mut(&mut self, key: &Key) -> Option<&mut Cached> {
        if !self.hot.contains_key(key) {
            let state = self.cold.remove(key)?;
            self.insert(key.clone(), state);
        }
        self.hot.get_mut(key)
    }

    fn insert(&mut self, key: Key, state: Cached) {
        if self.hot.len() >= CACHE_GENERATION {
            self.cold = std::mem::take(&mut self.hot);
        }
        self.hot.insert(key, state);
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Conversations {
    pub fn new(store: Store, policy: MessagingPolicy) -> Self {
        Conversations { inner: Arc::new(Inner { store, policy, cache: Mutex::default(), roles: Mutex::default() }) }
    }

    pub fn policy(&self) -> &MessagingPolicy {
        &self.inner.policy
    }

    /// The state of `psid`'s conversation with `page_id`. Fails only when
    /// the store cannot be read: the state is then unknown, and nothing is
    /// assumed (or cached, or written back) in its place.
    pub async fn get(&self, page_id: &str, psid: &str) -> anyhow::Result<ConversationState> {
        self.with_cached(page_id, psid, |cached| cached.state.clone()).await
    }

    /// Applies `change` to a conversation (loading it first if needed) and,
    /// when it returns true, queues the new state for the store (unless only
    /// the interaction time moved, a little: see the module doc). Returns
    /// the state after the change.
    pub async fn update(
        &self,
        page_id: &str,
        psid: &str,
        change: impl FnOnce(&mut ConversationState) -> bool,
    ) -> anyhow::Result<ConversationState> {
        self.with_cached(page_id, psid, |cached| {
            let before = cached.state.clone();
            if change(&mut cached.state) && cached.worth_writing(&before) {
                self.persist(page_id, psid, &cached.state);
                cached.written_interaction_ms = cached.state.last_interaction.map(|i| i.at_ms);
            }
            cached.state.clone()
        })
        .await
    }

    /// Runs `f` on the cached conversation, loading it from the store first
    /// on a miss.
    async fn with_cached<R>(&self, page_id: &str, psid: &str, f: impl FnOnce(&mut Cached) -> R) -> anyhow::Result<R> {
        let key = (page_id.to_string(), psid.to_string());
        let mut loaded = None;
        loop {
            {
                let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(state) = loaded.take() {
                    if cache.get_mut(&key).is_none() {
                        cache.insert(key.clone(), Cached::new(state));
                    }
                }
                if let Some(cached) = cache.get_mut(&key) {
                    return Ok(f(cached));
                }
            }
            loaded = Some(self.load(&key).await?);
        }
    }

    /// The stored state; a failed read is an error, never a default that
    /// a later write would store over the real state.
    async fn load(&self, key: &Key) -> anyhow::Result<ConversationState> {
        let (page, psid) = key.clone();
        let stored = self.inner.store.read(move |b| b.conversation_get(&page, &psid)).await.map_err(|e| {
            tracing::error!(page = %key.0, error = %e, "could not read conversation state");
            e.context("reading the conversation's state")
        })?;
        Ok(match stored {
            Some(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::error!(page = %key.0, error = %e, "stored conversation state does not parse; starting afresh");
                ConversationState::default()
            }),
            None => ConversationState::default(),
        })
    }

    fn persist(&self, page_id: &str, psid: &str, state: &ConversationState) {
        match serde_json::to_string(state) {
            Ok(state) => {
                self.inner.store.write_later(WriteOp::ConversationPut { page_id: page_id.to_string(), psid: psid.to_string(), state })
            }
            Err(e) => tracing::error!(error = %e, "could not encode conversation state"),
        }
    }

    /// Erases what the host keeps about the person of `event` (a
    /// person-erased event, handled in their conversation after everything
    /// they sent before it): their stored rows but that event, and their
    /// conversation in memory. Durable when it returns.
    pub async fn erase(&self, event: &InboundEvent) -> anyhow::Result<crate::store::Erased> {
        let (Some(psid), Some(request)) = (event.psid.as_deref(), event.erasure_request()) else {
            anyhow::bail!("a person-erased event without a person or a request");
        };
        let op = WriteOp::ErasePerson {
            page_id: event.page_id.clone(),
            psid: psid.to_string(),
            request: request.to_string(),
            except: event.id.clone(),
        };
        let erased = match self.inner.store.write(op).await? {
            crate::store::WriteResult::Erased(erased) => erased,
            other => anyhow::bail!("unexpected store answer to an erasure: {other:?}"),
        };
        let key = (event.page_id.clone(), psid.to_string());
        let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.hot.remove(&key);
        cache.cold.remove(&key);
        Ok(erased)
    }

    /// This host's app role on `page_id`.
    pub async fn role(&self, page_id: &str) -> ReceiverRole {
        if let Some(role) = self.inner.roles.lock().unwrap_or_else(|p| p.into_inner()).get(page_id) {
            return *role;
        }
        let page = page_id.to_string();
        let stored = self.inner.store.read(move |b| b.page_state_get(&page, "role")).await.ok().flatten();
        let role = stored.and_then(|r| serde_json::from_str(&r).ok()).unwrap_or_default();
        self.inner.roles.lock().unwrap_or_else(|p| p.into_inner()).insert(page_id.to_string(), role);
        role
    }

    fn set_role(&self, page_id: &str, role: ReceiverRole) {
        let previous = self.inner.roles.lock().unwrap_or_else(|p| p.into_inner()).insert(page_id.to_string(), role);
        if previous != Some(role) {
            let value = serde_json::to_string(&role).unwrap_or_default();
            self.inner.store.write_later(WriteOp::PageStatePut { page_id: page_id.to_string(), key: "role".into(), value });
        }
    }

    /// Learns what `event` says about its conversation. `app_id` is the
    /// Page's app in this host's config. Fails when the conversation's
    /// state cannot be read: the event must then be tried again later.
    pub async fn observe(&self, event: &InboundEvent, app_id: &str) -> anyhow::Result<()> {
        let facts = &event.facts;
        if event.kind == EventKind::AppRoles {
            if let Some((_, roles)) = facts.app_roles.iter().find(|(app, _)| app == app_id) {
                let has = |r: &str| roles.iter().any(|x| x == r);
                let role = if has("primary_receiver") {
                    ReceiverRole::Primary
                } else if has("secondary_receiver") {
                    ReceiverRole::Secondary
                } else {
                    ReceiverRole::Unknown
                };
                self.set_role(&event.page_id, role);
            }
            return Ok(());
        }
        let Some(psid) = event.psid.as_deref() else { return Ok(()) };
        // A timestamp from the future would stretch the window.
        let at = event.timestamp.min(now_ms());
        let source = facts.interaction;
        let owner = owner_change(event);
        let link = facts.account_linked.map(|linked| if linked { AccountLink::Linked } else { AccountLink::Unlinked });
        let app = app_id.to_string();
        self.update(&event.page_id, psid, |state| {
            let mut changed = false;
            if let Some(source) = source {
                changed |= state.interacted(at, source);
            }
            let owner = match owner {
                // A user event in `messaging` means the thread is ours now;
                // one in `standby` means another app's.
                OwnerChange::Delivered if source.is_some() => Some(ThreadOwner::App(app)),
                OwnerChange::Delivered => None,
                OwnerChange::Standby if !state.owned_by_other(&app) => Some(ThreadOwner::OtherApp),
                OwnerChange::Standby => None,
                OwnerChange::To(owner) => Some(owner),
            };
            if let Some(owner) = owner {
                if state.thread_owner != owner {
                    state.thread_owner = owner;
                    changed = true;
                }
            }
            if let Some(link) = link {
                changed |= std::mem::replace(&mut state.account_link, link) != link;
            }
            changed
        })
        .await?;
        if let Some(issued) = &facts.notification_token {
            let token = NotificationToken {
                token: issued.token.clone(),
                psid: psid.to_string(),
                topic: issued.topic.clone(),
                issued_ms: at,
                expires_ms: at + rules::TOKEN_LIFETIME.as_millis() as u64,
                used_ms: None,
            };
            self.inner.store.write_later(WriteOp::TokenIssued { page_id: event.page_id.clone(), token });
        }
        Ok(())
    }

    /// Tokens of a Page matching `query`, used and expired ones included.
    pub async fn tokens(&self, page_id: &str, query: TokenQuery) -> Vec<NotificationToken> {
        let page = page_id.to_string();
        match self.inner.store.read(move |b| b.tokens(&page, &query)).await {
            Ok(tokens) => tokens,
            Err(e) => {
                tracing::error!(page = %page_id, error = %e, "could not read notification tokens");
                Vec::new()
            }
        }
    }

    /// Records a token the host never saw issued, after its first use.
    pub fn remember_used_token(&self, page_id: &str, token: NotificationToken) {
        self.inner.store.write_later(WriteOp::TokenIssued { page_id: page_id.to_string(), token });
    }

    /// Marks `token` used (durably, before the send goes out: a token is
    /// used at most once even across a crash), or unused again after a send
    /// that did not happen.
    pub async fn mark_token(&self, page_id: &str, token: &str, used: bool) -> anyhow::Result<()> {
        let op = WriteOp::TokenUsed { page_id: page_id.to_string(), token: token.to_string(), used_ms: used.then(now_ms) };
        self.inner.store.write(op).await.map(drop)
    }
}

/// What an event says about who owns the thread.
enum OwnerChange {
    /// Delivered in `messaging`.
    Delivered,
    /// Delivered in `standby`.
    Standby,
    /// A handover event named the owner.
    To(ThreadOwner),
}

fn owner_change(event: &InboundEvent) -> OwnerChange {
    let named = || {
        event.facts.named_owner.clone().map(|owner| match owner {
            NamedOwner::App(app) => ThreadOwner::App(app),
            NamedOwner::Idle => ThreadOwner::Idle,
        })
    };
    match event.kind {
        EventKind::PassThreadControl => OwnerChange::To(named().unwrap_or(ThreadOwner::Unknown)),
        // The older take event has no new owner: someone took the thread
        // from this app.
        EventKind::TakeThreadControl => OwnerChange::To(named().unwrap_or(ThreadOwner::OtherApp)),
        _ if event.standby => OwnerChange::Standby,
        _ => OwnerChange::Delivered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Backend, DeadLetter, PendingEvent, WriteResult};

    /// A store whose conversation reads fail, recording every write.
    struct Unreadable(Arc<Mutex<Vec<String>>>);

    impl Backend for Unreadable {
        fn write_batch(&mut self, ops: &[WriteOp]) -> anyhow::Result<Vec<WriteResult>> {
            let mut writes = self.0.lock().unwrap_or_else(|p| p.into_inner());
            Ok(ops
                .iter()
                .map(|op| {
                    writes.push(format!("{op:?}"));
                    WriteResult::Done
                })
                .collect())
        }
        fn pending(&mut self) -> anyhow::Result<Vec<PendingEvent>> {
            Ok(Vec::new())
        }
        fn take_requeued(&mut self) -> anyhow::Result<Vec<PendingEvent>> {
            Ok(Vec::new())
        }
        fn outbox_get(&mut self, _: &str, _: &str, _: &str) -> anyhow::Result<Option<String>> {
            Ok(None)
        }
        fn dead_letters(&mut self, _: usize) -> anyhow::Result<Vec<DeadLetter>> {
            Ok(Vec::new())
        }
        fn requeue_dead_letter(&mut self, _: &str, _: &str) -> anyhow::Result<bool> {
            Ok(false)
        }
        fn drop_dead_letter(&mut self, _: &str, _: &str) -> anyhow::Result<bool> {
            Ok(false)
        }
        fn conversation_get(&mut self, _: &str, _: &str) -> anyhow::Result<Option<String>> {
            Err(anyhow::anyhow!("disk I/O error"))
        }
        fn conversations(&mut self, _: &str, _: &str, _: usize) -> anyhow::Result<Vec<crate::store::ConversationRow>> {
            Err(anyhow::anyhow!("disk I/O error"))
        }
        fn page_state_get(&mut self, _: &str, _: &str) -> anyhow::Result<Option<String>> {
            Ok(None)
        }
        fn tokens(&mut self, _: &str, _: &TokenQuery) -> anyhow::Result<Vec<NotificationToken>> {
            Ok(Vec::new())
        }
        fn kv_get(&mut self, _: &str, _: &str, _: &str) -> anyhow::Result<Option<Vec<u8>>> {
            Ok(None)
        }
        fn kv_keys(&mut self, _: &str, _: &str, _: &str, _: usize) -> anyhow::Result<Vec<String>> {
            Ok(Vec::new())
        }
        fn problems(&mut self, _: &crate::store::problems::ProblemQuery) -> anyhow::Result<Vec<crate::store::problems::RecordedProblem>> {
            Ok(Vec::new())
        }
        fn person(&mut self, _: &str, _: &str) -> anyhow::Result<serde_json::Value> {
            Err(anyhow::anyhow!("disk I/O error"))
        }
        fn erasure(&mut self, _: &str, _: &str) -> anyhow::Result<Option<crate::store::Erasure>> {
            Ok(None)
        }
        fn deletion_requests(&mut self, _: Option<&str>) -> anyhow::Result<Vec<crate::store::DeletionRequest>> {
            Ok(Vec::new())
        }
    }

    /// A failed read is an error, and nothing is written over the state
    /// the store could not show (the thread owner, the window).
    #[tokio::test]
    async fn a_failed_read_fails_and_never_overwrites() {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let store = Store::new(
            Box::new(Unreadable(writes.clone())),
            Box::new(Unreadable(writes.clone())),
            std::time::Duration::ZERO,
            Default::default(),
        )
        .expect("store");
        let conversations =
            Conversations::new(store.clone(), MessagingPolicy { allowed_tags: Vec::new(), ad_referral_window: std::time::Duration::ZERO });
        let changed = conversations.update("P", "u", |s| {
            s.thread_owner = ThreadOwner::OtherApp;
            true
        });
        assert!(changed.await.is_err());
        assert!(conversations.get("P", "u").await.is_err(), "nothing was cached in its place");
        let event = crate::ingress::envelope::parse(
            br#"{"object":"page","entry":[{"id":"P","messaging":[{"sender":{"id":"u"},"recipient":{"id":"P"},"timestamp":1700000000000,"message":{"mid":"m","text":"a"}}]}]}"#,
        )
        .expect("valid")
        .events
        .remove(0);
        assert!(conversations.observe(&event, "app").await.is_err(), "the event fails, to be tried again");
        store.write(WriteOp::Prune { before_ms: 0, conversations_before_ms: 0 }).await.expect("the writer is past anything queued");
        let writes = writes.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert!(writes.iter().all(|w| !w.contains("ConversationPut")), "{writes:?}");
    }

    fn at(ms: u64) -> ConversationState {
        let mut state = ConversationState::default();
        state.interacted(ms, InteractionSource::Message);
        state
    }

    #[test]
    fn a_small_move_of_the_interaction_time_alone_is_not_written() {
        let interval = INTERACTION_WRITE_INTERVAL.as_millis() as u64;
        let mut cached = Cached::new(at(1_000));
        let before = cached.state.clone();
        cached.state.interacted(1_000 + interval - 1, InteractionSource::Message);
        assert!(!cached.worth_writing(&before), "under the interval");
        cached.state.interacted(1_000 + interval, InteractionSource::Message);
        assert!(cached.worth_writing(&before), "at the interval");

        let mut cached = Cached::new(at(1_000));
        let before = cached.state.clone();
        cached.state.interacted(1_001, InteractionSource::Message);
        cached.state.thread_owner = ThreadOwner::OtherApp;
        assert!(cached.worth_writing(&before), "another field changed too");

        let mut cached = Cached::new(ConversationState::default());
        let before = cached.state.clone();
        cached.state.interacted(1_001, InteractionSource::Message);
        assert!(cached.worth_writing(&before), "a first interaction");
    }
}
