//! `switchboard:plugin@0.1.0`, kept linked so plugins built against it
//! keep running: each 0.1 interface is served by the same unit as its 0.2
//! counterpart, converting the (identically shaped) types at the border.
//! Messages convert straight to the Send API model (`wit_message`), events
//! are built as 0.1's whole record (`event_model::v0_1`). Nothing here
//! decides anything: a rule lives in the 0.2 unit, once.

use super::{Conversation, Handover, Kv, Log, Messenger, Profile};
use crate::sandbox::bindings::v0_1::switchboard::plugin as old;
use crate::sandbox::bindings::v0_2::switchboard::plugin as new;

fn error(e: new::types::MessengerError) -> old::types::MessengerError {
    use new::types::MessengerError as N;
    use old::types::MessengerError as O;
    match e {
        N::Graph(g) => O::Graph(old::types::GraphError {
            http_status: g.http_status,
            code: g.code,
            subcode: g.subcode,
            message: g.message,
            fbtrace_id: g.fbtrace_id,
        }),
        N::InvalidRequest(why) => O::InvalidRequest(why),
        N::Unavailable(why) => O::Unavailable(why),
        N::OutsideWindow => O::OutsideWindow,
        N::NotThreadOwner => O::NotThreadOwner,
        N::NotificationTokenUsed => O::NotificationTokenUsed,
        N::NotificationTokenExpired => O::NotificationTokenExpired,
        N::PageCircuitOpen => O::PageCircuitOpen,
        N::QuotaExceeded => O::QuotaExceeded,
    }
}

impl old::types::Host for Messenger {}

impl old::messenger::Host for Messenger {
    async fn send(&mut self, message: old::messenger::OutgoingMessage) -> Result<old::messenger::Sent, old::types::MessengerError> {
        let sent = self.send_message(message.into()).await.map_err(|e| error(self.call.noted(e)))?;
        Ok(old::messenger::Sent { recipient_id: sent.recipient_id, message_id: sent.message_id, attachment_id: sent.attachment_id })
    }

    async fn send_action(
        &mut self,
        recipient: old::types::Recipient,
        action: old::messenger::SenderAction,
    ) -> Result<(), old::types::MessengerError> {
        self.send_sender_action(recipient.into(), action.into()).await.map_err(|e| error(self.call.noted(e)))
    }
}

impl old::handover::Host for Handover {
    async fn pass_thread_control(
        &mut self,
        psid: String,
        target_app_id: String,
        metadata: Option<String>,
    ) -> Result<(), old::types::MessengerError> {
        new::handover::Host::pass_thread_control(self, psid, target_app_id, metadata).await.map_err(error)
    }
    async fn take_thread_control(&mut self, psid: String, metadata: Option<String>) -> Result<(), old::types::MessengerError> {
        new::handover::Host::take_thread_control(self, psid, metadata).await.map_err(error)
    }
    async fn request_thread_control(&mut self, psid: String, metadata: Option<String>) -> Result<(), old::types::MessengerError> {
        new::handover::Host::request_thread_control(self, psid, metadata).await.map_err(error)
    }
    async fn release_thread_control(&mut self, psid: String, metadata: Option<String>) -> Result<(), old::types::MessengerError> {
        new::handover::Host::release_thread_control(self, psid, metadata).await.map_err(error)
    }
    async fn thread_owner(&mut self, psid: String) -> Result<Option<String>, old::types::MessengerError> {
        new::handover::Host::thread_owner(self, psid).await.map_err(error)
    }
    async fn secondary_receivers(&mut self) -> Result<Vec<(String, String)>, old::types::MessengerError> {
        new::handover::Host::secondary_receivers(self).await.map_err(error)
    }
}

fn token(t: new::conversation::NotificationToken) -> old::conversation::NotificationToken {
    old::conversation::NotificationToken { token: t.token, psid: t.psid, topic: t.topic, issued_at: t.issued_at, expires_at: t.expires_at }
}

impl old::conversation::Host for Conversation {
    async fn state(&mut self, psid: String) -> old::conversation::ConversationState {
        use new::conversation as n;
        use old::conversation as o;
        let s = n::Host::state(self, psid).await;
        o::ConversationState {
            last_interaction: s.last_interaction.map(|i| o::Interaction {
                at: i.at,
                source: match i.source {
                    n::InteractionSource::Message => o::InteractionSource::Message,
                    n::InteractionSource::QuickReply => o::InteractionSource::QuickReply,
                    n::InteractionSource::Postback => o::InteractionSource::Postback,
                    n::InteractionSource::Optin => o::InteractionSource::Optin,
                    n::InteractionSource::Referral => o::InteractionSource::Referral,
                    n::InteractionSource::AdReferral => o::InteractionSource::AdReferral,
                },
            }),
            window_open_until: s.window_open_until,
            human_agent_until: s.human_agent_until,
            thread_owner: match s.thread_owner {
                n::ThreadOwner::Unknown => o::ThreadOwner::Unknown,
                n::ThreadOwner::Idle => o::ThreadOwner::Idle,
                n::ThreadOwner::ThisApp => o::ThreadOwner::ThisApp,
                n::ThreadOwner::OtherApp(id) => o::ThreadOwner::OtherApp(id),
            },
            role: match s.role {
                n::ReceiverRole::Unknown => o::ReceiverRole::Unknown,
                n::ReceiverRole::Primary => o::ReceiverRole::Primary,
                n::ReceiverRole::Secondary => o::ReceiverRole::Secondary,
            },
            notification_tokens: s.notification_tokens.into_iter().map(token).collect(),
            account_link: match s.account_link {
                n::AccountLink::Unknown => o::AccountLink::Unknown,
                n::AccountLink::Linked => o::AccountLink::Linked,
                n::AccountLink::Unlinked => o::AccountLink::Unlinked,
            },
        }
    }

    async fn notification_tokens(&mut self, topic: String) -> Vec<old::conversation::NotificationToken> {
        new::conversation::Host::notification_tokens(self, topic).await.into_iter().map(token).collect()
    }
}

impl old::profile::Host for Profile {
    async fn get(&mut self, psid: String) -> Result<old::profile::UserProfile, old::types::MessengerError> {
        let p = new::profile::Host::get(self, psid).await.map_err(error)?;
        Ok(old::profile::UserProfile {
            name: p.name,
            first_name: p.first_name,
            last_name: p.last_name,
            profile_pic: p.profile_pic,
            locale: p.locale,
            timezone: p.timezone,
        })
    }
}

fn kv_error(e: new::kv::KvError) -> old::kv::KvError {
    match e {
        new::kv::KvError::TooLarge(why) => old::kv::KvError::TooLarge(why),
        new::kv::KvError::NotANumber => old::kv::KvError::NotANumber,
        new::kv::KvError::QuotaExceeded => old::kv::KvError::QuotaExceeded,
        new::kv::KvError::Unavailable(why) => old::kv::KvError::Unavailable(why),
    }
}

impl old::kv::Host for Kv {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, old::kv::KvError> {
        new::kv::Host::get(self, key).await.map_err(kv_error)
    }
    async fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> Result<(), old::kv::KvError> {
        new::kv::Host::set(self, key, value, ttl_ms).await.map_err(kv_error)
    }
    async fn delete(&mut self, key: String) -> Result<bool, old::kv::KvError> {
        new::kv::Host::delete(self, key).await.map_err(kv_error)
    }
    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, old::kv::KvError> {
        new::kv::Host::compare_and_swap(self, key, expected, value, ttl_ms).await.map_err(kv_error)
    }
    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, old::kv::KvError> {
        new::kv::Host::increment(self, key, delta).await.map_err(kv_error)
    }
    async fn list_keys(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, old::kv::KvError> {
        new::kv::Host::list_keys(self, prefix, limit).await.map_err(kv_error)
    }
}

impl old::log::Host for Log {
    async fn log(&mut self, level: old::log::Level, message: String) {
        let level = match level {
            old::log::Level::Trace => new::log::Level::Trace,
            old::log::Level::Debug => new::log::Level::Debug,
            old::log::Level::Info => new::log::Level::Info,
            old::log::Level::Warn => new::log::Level::Warn,
            old::log::Level::Error => new::log::Level::Error,
        };
        new::log::Host::log(self, level, message).await
    }
}

/// Registers the 0.1 interfaces, beside 0.2's.
pub fn add_to_linker<T: super::CapabilityView>(linker: &mut wasmtime::component::Linker<T>) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    old::types::add_to_linker::<T, HasSelf<Messenger>>(linker, T::messenger)?;
    old::messenger::add_to_linker::<T, HasSelf<Messenger>>(linker, T::messenger)?;
    old::handover::add_to_linker::<T, HasSelf<Handover>>(linker, T::handover)?;
    old::conversation::add_to_linker::<T, HasSelf<Conversation>>(linker, T::conversation)?;
    old::profile::add_to_linker::<T, HasSelf<Profile>>(linker, T::profile)?;
    old::kv::add_to_linker::<T, HasSelf<Kv>>(linker, T::kv)?;
    old::log::add_to_linker::<T, HasSelf<Log>>(linker, T::log)?;
    Ok(())
}
