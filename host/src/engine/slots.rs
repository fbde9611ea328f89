//! Conversation slots: how many conversations run at once, shared fairly
//! among Pages.
//!
//! `dispatch.max_concurrent_conversations` slots serve every Page. One
//! Page holds at most `dispatch.max_conversations_per_page` of them, so a
//! Page whose plugins are slow (or sleep) leaves the rest to the others;
//! and when slots are scarce, a freed slot goes to the waiting Page that
//! runs the fewest conversations, so a quiet Page does not wait behind a
//! busy Page's queue. Each Page's waiters are served in arrival order.
//!
//! A slot is a value held ([`Slot`]): dropping it hands it on. Waiting is
//! cancel-safe: a slot granted to a waiter that is gone goes to the next.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// The slots of every Page.
#[derive(Clone)]
pub struct ConversationSlots {
    shared: Arc<Shared>,
}

struct Shared {
    per_page: usize,
    state: Mutex<State>,
}

struct State {
    free: usize,
    /// Pages running or waiting for a conversation; others have no entry.
    pages: HashMap<Arc<str>, PageSlots>,
}

#[derive(Default)]
struct PageSlots {
    running: usize,
    waiting: VecDeque<oneshot::Sender<Slot>>,
}

/// One running conversation's slot; released when dropped.
pub struct Slot {
    shared: Arc<Shared>,
    /// None once disarmed (a grant nobody received).
    page: Option<Arc<str>>,
}

impl ConversationSlots {
    /// `total` slots, at most `per_page` of them for one Page (both at
    /// least 1).
    pub fn new(total: usize, per_page: usize) -> Self {
        let state = State { free: total.max(1), pages: HashMap::new() };
        ConversationSlots { shared: Arc::new(Shared { per_page: per_page.max(1), state: Mutex::new(state) }) }
    }

    /// A slot for a conversation of `page`, when it is this Page's turn.
    pub async fn acquire(&self, page: &str) -> Slot {
        let page: Arc<str> = Arc::from(page);
        let granted = {
            let mut state = self.shared.lock();
            let free = state.free;
            let entry = state.pages.entry(page.clone()).or_default();
            if free > 0 && entry.running < self.shared.per_page && entry.waiting.is_empty() {
                entry.running += 1;
                state.free -= 1;
                return Slot { shared: self.shared.clone(), page: Some(page) };
            }
            let (grant, granted) = oneshot::channel();
            entry.waiting.push_back(grant);
            granted
        };
        // The state holds the sender until it sends: it lives as long as
        // `self`, which this borrow keeps alive.
        granted.await.unwrap_or_else(|_| unreachable!("a waiter's grant is sent before it is dropped"))
    }

    /// Conversations running now, for `page` (tests and reports).
    pub fn running(&self, page: &str) -> usize {
        self.shared.lock().pages.get(page).map_or(0, |p| p.running)
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Gives free slots to waiters: each to the Page, among those under
    /// their share, that runs the fewest conversations.
    fn hand_out(&mut self, shared: &Arc<Shared>) {
        while self.free > 0 {
            let next = self
                .pages
                .iter()
                .filter(|(_, p)| !p.waiting.is_empty() && p.running < shared.per_page)
                .min_by_key(|(_, p)| p.running)
                .map(|(page, _)| page.clone());
            let Some(page) = next else { return };
            let Some(entry) = self.pages.get_mut(&page) else { return };
            let Some(grant) = entry.waiting.pop_front() else { continue };
            entry.running += 1;
            self.free -= 1;
            if let Err(mut unwanted) = grant.send(Slot { shared: shared.clone(), page: Some(page) }) {
                // The waiter was cancelled: take the slot back, here, under
                // the lock (dropping it armed would lock again).
                unwanted.page = None;
                entry.running -= 1;
                self.free += 1;
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(page) = self.page.take() else { return };
        let mut state = self.shared.lock();
        state.free += 1;
        if let Some(entry) = state.pages.get_mut(&page) {
            entry.running -= 1;
            if entry.running == 0 && entry.waiting.is_empty() {
                state.pages.remove(&page);
            }
        }
        state.hand_out(&self.shared);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now<F: std::future::Future>(f: F) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }

    #[tokio::test]
    async fn a_page_gets_at_most_its_share_and_the_quiet_page_goes_first() {
        let slots = ConversationSlots::new(4, 3);
        let busy: Vec<Slot> = (0..3).map(|_| now(slots.acquire("A")).expect("free slot")).collect();
        assert!(now(slots.acquire("A")).is_none(), "A holds its share of 3");
        let b = now(slots.acquire("B")).expect("B finds the slot A may not take");
        let waiting_a = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire("A").await }
        });
        let waiting_c = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire("C").await }
        });
        tokio::task::yield_now().await;
        drop(busy);
        // A and C both wait: the first freed slot goes to C, which runs
        // none, not to A, which still runs two; the next is A's.
        let c = waiting_c.await.expect("C gets a slot");
        let a = waiting_a.await.expect("A gets a slot");
        assert_eq!((slots.running("A"), slots.running("B"), slots.running("C")), (1, 1, 1));
        drop((a, b, c));
        assert_eq!(slots.shared.lock().free, 4);
        assert!(slots.shared.lock().pages.is_empty());
    }

    #[tokio::test]
    async fn a_cancelled_waiter_passes_its_grant_on() {
        let slots = ConversationSlots::new(1, 1);
        let held = now(slots.acquire("A")).expect("free slot");
        let mut cancelled = Box::pin(slots.acquire("B"));
        assert!(now(cancelled.as_mut()).is_none());
        let next = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire("C").await }
        });
        tokio::task::yield_now().await;
        drop(cancelled);
        drop(held);
        let c = next.await.expect("C gets the slot B no longer wants");
        assert_eq!(slots.running("C"), 1);
        drop(c);
        assert_eq!(slots.shared.lock().free, 1);
    }
}
