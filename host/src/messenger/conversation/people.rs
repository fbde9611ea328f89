//! The people a Page has talked with, as the host knows them (the Platform
//! has no API that lists a Page's PSIDs): for each, the last interaction,
//! until when the messaging window is open, the thread's owner, the
//! account-link status and the unused one-time-notification tokens by
//! topic. `GET /admin/pages/{page}/people` and `switchboard people` read
//! it.
//!
//! Read from the store, which may hold a last interaction up to
//! `INTERACTION_WRITE_INTERVAL` older than the host's memory: a window
//! shown here closes that much early at most, never late.
//!
//! Read in PSID order, a page at a time (`after` is the last PSID of the
//! previous page). Filters apply while reading, so a page may hold fewer
//! than `limit` people and still have a `next_after`: a request reads at
//! most [`SCAN_LIMIT`] conversations.

use serde::Serialize;

use super::rules::{AccountLink, ConversationState, InteractionSource, MessagingPolicy, ThreadOwner};
use crate::store::{Backend, NotificationToken, TokenQuery};

/// The most conversations one request reads, however few match.
pub const SCAN_LIMIT: usize = 5000;
/// The most people one page lists.
pub const MOST_PEOPLE: usize = 1000;

/// `limit` if a page may hold that many people.
pub fn check_limit(limit: usize) -> Result<usize, String> {
    if (1..=MOST_PEOPLE).contains(&limit) {
        Ok(limit)
    } else {
        Err(format!("limit must be between 1 and {MOST_PEOPLE}"))
    }
}

/// Which people to list.
#[derive(Debug, Clone, Default)]
pub struct PeopleQuery {
    /// Only those whose standard window is open now.
    pub window_open: bool,
    /// Only those with an unused, unexpired token for this topic.
    pub topic: Option<String>,
    /// Only PSIDs after this one (the previous page's `next_after`).
    pub after: String,
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Person {
    pub psid: String,
    pub last_interaction_ms: Option<u64>,
    pub last_interaction: Option<InteractionSource>,
    /// Until when RESPONSE and UPDATE sends are allowed (epoch ms).
    pub window_open_until_ms: Option<u64>,
    pub window_open: bool,
    pub human_agent_until_ms: Option<u64>,
    /// `unknown`, `idle`, `this-app`, `other-app`, or another app's id.
    pub thread_owner: String,
    pub account_link: AccountLink,
    /// Unused, unexpired one-time-notification tokens (the tokens
    /// themselves are not shown).
    pub tokens: Vec<OpenToken>,
    /// When the host last changed what it keeps about the person.
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenToken {
    pub topic: Option<String>,
    pub expires_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct People {
    pub people: Vec<Person>,
    /// Where the next page starts; `None` when every conversation was read.
    pub next_after: Option<String>,
}

/// Lists `page_id`'s people by `query` (on the store's reader thread).
pub fn list(
    backend: &mut dyn Backend,
    page_id: &str,
    app_id: &str,
    policy: &MessagingPolicy,
    query: &PeopleQuery,
    now_ms: u64,
) -> anyhow::Result<People> {
    let limit = query.limit.clamp(1, MOST_PEOPLE);
    let mut people = Vec::new();
    let mut after = query.after.clone();
    let mut scanned = 0;
    loop {
        let rows = backend.conversations(page_id, &after, 500)?;
        let exhausted = rows.len() < 500;
        for row in rows {
            if scanned == SCAN_LIMIT {
                return Ok(People { people, next_after: Some(after) });
            }
            scanned += 1;
            after = row.psid.clone();
            // A row that does not parse is shown as what is known: nothing.
            let state: ConversationState = serde_json::from_str(&row.state).unwrap_or_default();
            let window_open_until_ms = state.window_open_until(policy);
            let window_open = window_open_until_ms.is_some_and(|until| until > now_ms);
            if query.window_open && !window_open {
                continue;
            }
            let tokens: Vec<NotificationToken> = backend
                .tokens(page_id, &TokenQuery::Psid(row.psid.clone()))?
                .into_iter()
                .filter(|t| t.used_ms.is_none() && t.expires_ms > now_ms)
                .collect();
            if let Some(topic) = &query.topic {
                if !tokens.iter().any(|t| t.topic.as_ref() == Some(topic)) {
                    continue;
                }
            }
            people.push(Person {
                psid: row.psid,
                last_interaction_ms: state.last_interaction.map(|i| i.at_ms),
                last_interaction: state.last_interaction.map(|i| i.source),
                window_open_until_ms,
                window_open,
                human_agent_until_ms: state.human_agent_until(),
                thread_owner: owner_name(&state.thread_owner, app_id),
                account_link: state.account_link,
                tokens: tokens.into_iter().map(|t| OpenToken { topic: t.topic, expires_ms: t.expires_ms }).collect(),
                updated_ms: row.updated_ms,
            });
            if people.len() == limit {
                return Ok(People { people, next_after: Some(after) });
            }
        }
        if exhausted {
            return Ok(People { people, next_after: None });
        }
    }
}

fn owner_name(owner: &ThreadOwner, app_id: &str) -> String {
    match owner {
        ThreadOwner::Unknown => "unknown".into(),
        ThreadOwner::Idle => "idle".into(),
        ThreadOwner::App(app) if app == app_id => "this-app".into(),
        ThreadOwner::App(app) => app.clone(),
        ThreadOwner::OtherApp => "other-app".into(),
    }
}
