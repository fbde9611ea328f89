//! The state of one conversation and the Messenger Platform's rules about
//! it, as pure functions of that state and the clock (no I/O here, so every
//! rule is unit-tested).
//!
//! * The standard messaging window: RESPONSE and UPDATE sends are allowed
//!   for 24 hours after the person's last interaction (a message, quick
//!   reply, postback, opt-in or referral; reads, deliveries, echoes and
//!   reactions do not count). A Click-to-Messenger ad interaction keeps it
//!   open for `ad_referral_window_hours` instead.
//! * MESSAGE_TAG sends need a tag from `[messaging] allowed_tags`;
//!   HUMAN_AGENT also needs the plugin to state a person wrote the text,
//!   and is allowed for 7 days after the last interaction.
//! * Another app owning the thread refuses every send.
//! * A one-time-notification token works once, within a year of its issue.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::model::InteractionSource;
pub use crate::store::NotificationToken;

pub const STANDARD_WINDOW: Duration = Duration::from_secs(24 * 3600);
pub const HUMAN_AGENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
pub const HUMAN_AGENT: &str = "HUMAN_AGENT";

/// What the host remembers of one conversation (one Page, one PSID).
/// Stored as JSON, so fields only ever get added, with defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConversationState {
    pub last_interaction: Option<Interaction>,
    /// The last Click-to-Messenger ad interaction, epoch ms.
    pub last_ad_referral_ms: Option<u64>,
    pub thread_owner: ThreadOwner,
    pub account_link: AccountLink,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    pub at_ms: u64,
    pub source: InteractionSource,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThreadOwner {
    #[default]
    Unknown,
    Idle,
    /// An app by id (this host's app or another).
    App(String),
    /// Another app whose id we were not told (a standby event, a take).
    OtherApp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountLink {
    #[default]
    Unknown,
    Linked,
    Unlinked,
}

/// This host's app role on a Page, from `app_roles` events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReceiverRole {
    #[default]
    Unknown,
    Primary,
    Secondary,
}

/// The operator's messaging rules (`[messaging]`).
#[derive(Debug, Clone)]
pub struct MessagingPolicy {
    pub allowed_tags: Vec<String>,
    pub ad_referral_window: Duration,
}

impl MessagingPolicy {
    pub fn from_config(messaging: &crate::config::MessagingConfig) -> Self {
        MessagingPolicy {
            allowed_tags: messaging.allowed_tags.clone(),
            ad_referral_window: Duration::from_secs(messaging.ad_referral_window_hours * 3600),
        }
    }
}

/// Why the host refused a send without calling the Graph API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("outside the messaging window")]
    OutsideWindow,
    #[error("another app owns the thread")]
    NotThreadOwner,
    #[error("the one-time-notification token was already used")]
    TokenUsed,
    #[error("the one-time-notification token has expired")]
    TokenExpired,
    #[error("{0}")]
    Invalid(String),
}

/// How a send to a PSID is justified.
#[derive(Debug, Clone, Copy)]
pub enum SendBasis<'a> {
    /// RESPONSE or UPDATE: needs the standard window.
    Window,
    /// MESSAGE_TAG with this tag.
    Tag { tag: Option<&'a str>, written_by_human: bool },
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl ConversationState {
    /// Until when RESPONSE/UPDATE sends are allowed, if ever.
    pub fn window_open_until(&self, policy: &MessagingPolicy) -> Option<u64> {
        let standard = self.last_interaction.map(|i| i.at_ms + ms(STANDARD_WINDOW));
        let ad = self.last_ad_referral_ms.map(|at| at + ms(policy.ad_referral_window));
        standard.max(ad)
    }

    pub fn human_agent_until(&self) -> Option<u64> {
        self.last_interaction.map(|i| i.at_ms + ms(HUMAN_AGENT_WINDOW))
    }

    /// Whether an app other than `app_id` owns the thread, as far as the
    /// host knows.
    pub fn owned_by_other(&self, app_id: &str) -> bool {
        match &self.thread_owner {
            ThreadOwner::App(owner) => owner != app_id,
            ThreadOwner::OtherApp => true,
            ThreadOwner::Unknown | ThreadOwner::Idle => false,
        }
    }

    /// Records an interaction at `at_ms` (never moves time backwards: a
    /// late-delivered old event does not shorten the window).
    pub fn interacted(&mut self, at_ms: u64, source: InteractionSource) -> bool {
        let mut changed = false;
        if self.last_interaction.is_none_or(|i| at_ms > i.at_ms) {
            self.last_interaction = Some(Interaction { at_ms, source });
            changed = true;
        }
        if source == InteractionSource::AdReferral && self.last_ad_referral_ms.is_none_or(|t| at_ms > t) {
            self.last_ad_referral_ms = Some(at_ms);
            changed = true;
        }
        changed
    }

    /// Whether a send from `app_id` to this person may go out at `now_ms`.
    pub fn check_send(&self, app_id: &str, policy: &MessagingPolicy, basis: SendBasis<'_>, now_ms: u64) -> Result<(), Refusal> {
        if self.owned_by_other(app_id) {
            return Err(Refusal::NotThreadOwner);
        }
        match basis {
            SendBasis::Window => match self.window_open_until(policy) {
                Some(until) if now_ms <= until => Ok(()),
                _ => Err(Refusal::OutsideWindow),
            },
            SendBasis::Tag { tag, written_by_human } => {
                let Some(tag) = tag else {
                    return Err(Refusal::Invalid("messaging-type message-tag needs a tag".into()));
                };
                if !policy.allowed_tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
                    return Err(Refusal::Invalid(format!(
                        "tag {tag} is not allowed on this host (allowed: {}); Meta refuses CONFIRMED_EVENT_UPDATE, \
                         ACCOUNT_UPDATE and POST_PURCHASE_UPDATE since 27 April 2026",
                        policy.allowed_tags.join(", ")
                    )));
                }
                if !tag.eq_ignore_ascii_case(HUMAN_AGENT) {
                    return Ok(());
                }
                if !written_by_human {
                    return Err(Refusal::Invalid("the HUMAN_AGENT tag is only for text a person wrote: set written-by-human".into()));
                }
                match self.human_agent_until() {
                    Some(until) if now_ms <= until => Ok(()),
                    _ => Err(Refusal::OutsideWindow),
                }
            }
        }
    }
}

impl NotificationToken {
    pub fn check_usable(&self, now_ms: u64) -> Result<(), Refusal> {
        if self.used_ms.is_some() {
            return Err(Refusal::TokenUsed);
        }
        if now_ms > self.expires_ms {
            return Err(Refusal::TokenExpired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3600 * 1000;

    fn policy() -> MessagingPolicy {
        MessagingPolicy {
            allowed_tags: vec!["HUMAN_AGENT".into(), "CUSTOMER_FEEDBACK".into()],
            ad_referral_window: Duration::from_secs(72 * 3600),
        }
    }

    fn talked_at(at_ms: u64, source: InteractionSource) -> ConversationState {
        let mut s = ConversationState::default();
        s.interacted(at_ms, source);
        s
    }

    #[test]
    fn standard_window_is_24_hours_from_the_last_interaction() {
        let s = talked_at(100 * HOUR, InteractionSource::Message);
        assert_eq!(s.check_send("me", &policy(), SendBasis::Window, 123 * HOUR), Ok(()));
        assert_eq!(s.check_send("me", &policy(), SendBasis::Window, 125 * HOUR), Err(Refusal::OutsideWindow));
        assert_eq!(ConversationState::default().check_send("me", &policy(), SendBasis::Window, 0), Err(Refusal::OutsideWindow));
    }

    #[test]
    fn an_old_event_does_not_shorten_the_window() {
        let mut s = talked_at(100 * HOUR, InteractionSource::Message);
        assert!(!s.interacted(50 * HOUR, InteractionSource::Postback));
        assert_eq!(s.last_interaction.unwrap().at_ms, 100 * HOUR);
    }

    #[test]
    fn ad_referral_extends_the_window() {
        let s = talked_at(100 * HOUR, InteractionSource::AdReferral);
        assert_eq!(s.check_send("me", &policy(), SendBasis::Window, 160 * HOUR), Ok(()));
        assert_eq!(s.check_send("me", &policy(), SendBasis::Window, 173 * HOUR), Err(Refusal::OutsideWindow));
    }

    #[test]
    fn tags() {
        let s = talked_at(100 * HOUR, InteractionSource::Message);
        let tag = |tag, human| SendBasis::Tag { tag: Some(tag), written_by_human: human };
        assert_eq!(s.check_send("me", &policy(), tag("HUMAN_AGENT", true), 200 * HOUR), Ok(()));
        assert_eq!(s.check_send("me", &policy(), tag("HUMAN_AGENT", true), 269 * HOUR), Err(Refusal::OutsideWindow));
        assert!(matches!(s.check_send("me", &policy(), tag("HUMAN_AGENT", false), 101 * HOUR), Err(Refusal::Invalid(_))));
        assert_eq!(s.check_send("me", &policy(), tag("CUSTOMER_FEEDBACK", false), 900 * HOUR), Ok(()));
        assert!(matches!(s.check_send("me", &policy(), tag("ACCOUNT_UPDATE", false), 101 * HOUR), Err(Refusal::Invalid(_))));
    }

    #[test]
    fn another_owner_refuses_every_send() {
        let mut s = talked_at(100 * HOUR, InteractionSource::Message);
        s.thread_owner = ThreadOwner::App("263902037430900".into());
        assert_eq!(s.check_send("me", &policy(), SendBasis::Window, 101 * HOUR), Err(Refusal::NotThreadOwner));
        s.thread_owner = ThreadOwner::App("me".into());
        assert_eq!(s.check_send("me", &policy(), SendBasis::Window, 101 * HOUR), Ok(()));
        s.thread_owner = ThreadOwner::OtherApp;
        assert_eq!(s.check_send("me", &policy(), SendBasis::Window, 101 * HOUR), Err(Refusal::NotThreadOwner));
    }

    #[test]
    fn tokens_work_once_within_a_year() {
        let mut t = NotificationToken {
            token: "t".into(),
            psid: "u".into(),
            topic: None,
            issued_ms: 0,
            expires_ms: ms(TOKEN_LIFETIME),
            used_ms: None,
        };
        assert_eq!(t.check_usable(1), Ok(()));
        assert_eq!(t.check_usable(ms(TOKEN_LIFETIME) + 1), Err(Refusal::TokenExpired));
        t.used_ms = Some(1);
        assert_eq!(t.check_usable(2), Err(Refusal::TokenUsed));
    }

    #[test]
    fn state_json_round_trips_and_tolerates_missing_fields() {
        let mut s = talked_at(5, InteractionSource::QuickReply);
        s.thread_owner = ThreadOwner::App("42".into());
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<ConversationState>(&text).unwrap(), s);
        assert_eq!(serde_json::from_str::<ConversationState>("{}").unwrap(), ConversationState::default());
    }
}
