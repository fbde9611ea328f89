//! `switchboard:plugin/conversation`: what the host knows of a conversation
//! (see [`crate::messenger::conversation`]), for the plugin's Page only.

use std::sync::Arc;

use super::CallContext;
use crate::bounds;
use crate::messenger::conversation::{self as state, now_ms, NotificationToken as StoredToken};
use crate::sandbox::bindings::v0_2::switchboard::plugin::conversation::{
    AccountLink, ConversationState, Host, Interaction, InteractionSource, NotificationToken, ReceiverRole, ThreadOwner,
};
use crate::store::TokenQuery;

pub struct Conversation {
    call: Arc<CallContext>,
}

impl Conversation {
    pub fn new(call: Arc<CallContext>) -> Self {
        Conversation { call }
    }
}

/// Tokens a plugin may still use.
fn open_tokens(tokens: Vec<StoredToken>) -> Vec<NotificationToken> {
    let now = now_ms();
    tokens
        .into_iter()
        .filter(|t| t.check_usable(now).is_ok())
        .map(|t| NotificationToken { token: t.token, psid: t.psid, topic: t.topic, issued_at: t.issued_ms, expires_at: t.expires_ms })
        .collect()
}

impl Host for Conversation {
    async fn state(&mut self, psid: String) -> ConversationState {
        let page = self.call.page_for_call().ok().filter(|_| bounds::psid(&psid).is_ok());
        let Some(page) = page else {
            // Over quota, in describe(), or not a PSID: report what nobody
            // knows (and cache nothing).
            return ConversationState {
                last_interaction: None,
                window_open_until: None,
                human_agent_until: None,
                thread_owner: ThreadOwner::Unknown,
                role: ReceiverRole::Unknown,
                notification_tokens: Vec::new(),
                account_link: AccountLink::Unknown,
            };
        };
        let conversations = &page.conversations;
        let (s, role, tokens) = self
            .call
            .host_work(async {
                // Unreadable: the plugin sees an unknown state; nothing is
                // cached or written in its place.
                let s = conversations.get(&page.page_id, &psid).await.unwrap_or_default();
                let role = conversations.role(&page.page_id).await;
                let tokens = conversations.tokens(&page.page_id, TokenQuery::Psid(psid.clone())).await;
                (s, role, tokens)
            })
            .await;
        let now = now_ms();
        ConversationState {
            last_interaction: s.last_interaction.map(|i| Interaction {
                at: i.at_ms,
                source: match i.source {
                    state::InteractionSource::Message => InteractionSource::Message,
                    state::InteractionSource::QuickReply => InteractionSource::QuickReply,
                    state::InteractionSource::Postback => InteractionSource::Postback,
                    state::InteractionSource::Optin => InteractionSource::Optin,
                    state::InteractionSource::Referral => InteractionSource::Referral,
                    state::InteractionSource::AdReferral => InteractionSource::AdReferral,
                },
            }),
            window_open_until: s.window_open_until(conversations.policy()).filter(|until| *until >= now),
            human_agent_until: s.human_agent_until().filter(|until| *until >= now),
            thread_owner: match &s.thread_owner {
                state::ThreadOwner::Unknown => ThreadOwner::Unknown,
                state::ThreadOwner::Idle => ThreadOwner::Idle,
                state::ThreadOwner::App(id) if *id == page.app_id => ThreadOwner::ThisApp,
                state::ThreadOwner::App(id) => ThreadOwner::OtherApp(Some(id.clone())),
                state::ThreadOwner::OtherApp => ThreadOwner::OtherApp(None),
            },
            role: match role {
                state::ReceiverRole::Unknown => ReceiverRole::Unknown,
                state::ReceiverRole::Primary => ReceiverRole::Primary,
                state::ReceiverRole::Secondary => ReceiverRole::Secondary,
            },
            notification_tokens: open_tokens(tokens),
            account_link: match s.account_link {
                state::AccountLink::Unknown => AccountLink::Unknown,
                state::AccountLink::Linked => AccountLink::Linked,
                state::AccountLink::Unlinked => AccountLink::Unlinked,
            },
        }
    }

    async fn notification_tokens(&mut self, topic: String) -> Vec<NotificationToken> {
        let Ok(page) = self.call.page_for_call() else { return Vec::new() };
        if bounds::at_most("the topic", &topic, bounds::ID_BYTES).is_err() {
            return Vec::new();
        }
        let tokens = self.call.host_work(page.conversations.tokens(&page.page_id, TokenQuery::Topic(topic))).await;
        open_tokens(tokens)
    }
}
