//! What plugins receive for a parsed webhook event, per contract version:
//! for 0.2 an `EventResource` whose accessors (`capabilities::events`)
//! build each record when asked; for 0.1 the whole `event` record.
//!
//! Every field is read leniently: a missing or oddly typed field becomes
//! `none`/empty rather than an error, and the raw JSON always travels along
//! so a plugin can read what its version does not model.

use serde_json::Value;

use crate::model::{id_string, EventKind as Kind};

/// Strings, and numbers given where strings are documented (app ids).
fn text(v: &Value) -> Option<String> {
    id_string(v)
}

fn number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// One builder per event record, reading the event's JSON. 0.1 and 0.2
/// publish records of the same shape under different (generated) Rust
/// types, so the builders are written once and instantiated in each
/// version's module, where the record names resolve to that version's
/// types. A version whose records differ gets builders of its own.
macro_rules! record_builders {
    () => {
        use serde_json::Value;

        use super::{number, text};
        use crate::model::{id_string, millis, InboundEvent};

        pub fn message(e: &InboundEvent) -> Message {
            let m = &e.value["message"];
            Message {
                mid: text(&m["mid"]).unwrap_or_default(),
                text: text(&m["text"]),
                quick_reply_payload: text(&m["quick_reply"]["payload"]),
                attachments: attachments(&m["attachments"]),
                reply_to_mid: text(&m["reply_to"]["mid"]),
                referral: m.get("referral").map(referral_of),
            }
        }

        pub fn echo(e: &InboundEvent) -> Echo {
            let m = &e.value["message"];
            Echo {
                mid: text(&m["mid"]).unwrap_or_default(),
                text: text(&m["text"]),
                attachments: attachments(&m["attachments"]),
                app_id: text(&m["app_id"]),
                metadata: text(&m["metadata"]),
            }
        }

        fn attachments(list: &Value) -> Vec<Attachment> {
            let Some(list) = list.as_array() else { return Vec::new() };
            list.iter()
                .map(|a| {
                    let payload = &a["payload"];
                    let coordinates = &payload["coordinates"];
                    Attachment {
                        kind: text(&a["type"]).unwrap_or_default(),
                        url: text(&payload["url"]).or_else(|| text(&a["url"])).or_else(|| text(&a["URL"])),
                        title: text(&a["title"]).or_else(|| text(&payload["title"])),
                        sticker_id: payload["sticker_id"].as_u64(),
                        coordinates: match (coordinates["lat"].as_f64(), coordinates["long"].as_f64()) {
                            (Some(latitude), Some(longitude)) => Some(Coordinates { latitude, longitude }),
                            _ => None,
                        },
                        payload_json: (!payload.is_null()).then(|| payload.to_string()),
                    }
                })
                .collect()
        }

        pub fn postback(e: &InboundEvent) -> Postback {
            let p = &e.value["postback"];
            Postback {
                title: text(&p["title"]),
                payload: text(&p["payload"]),
                mid: text(&p["mid"]),
                referral: p.get("referral").map(referral_of),
            }
        }

        pub fn referral(e: &InboundEvent) -> Referral {
            referral_of(&e.value["referral"])
        }

        fn referral_of(r: &Value) -> Referral {
            Referral {
                ref_data: text(&r["ref"]),
                source: text(&r["source"]),
                kind: text(&r["type"]),
                ad_id: text(&r["ad_id"]),
                referer_uri: text(&r["referer_uri"]),
            }
        }

        pub fn optin(e: &InboundEvent) -> Optin {
            let o = &e.value["optin"];
            Optin {
                kind: text(&o["type"]),
                ref_data: text(&o["ref"]),
                payload: text(&o["payload"]),
                user_ref: text(&o["user_ref"]),
                one_time_notif_token: text(&o["one_time_notif_token"]),
                notification_messages_token: text(&o["notification_messages_token"]),
                notification_messages_frequency: text(&o["notification_messages_frequency"]),
                notification_messages_status: text(&o["notification_messages_status"]),
                title: text(&o["title"]),
                token_expiry_timestamp: millis(&o["token_expiry_timestamp"]),
            }
        }

        pub fn account_linking(e: &InboundEvent) -> AccountLinking {
            let a = &e.value["account_linking"];
            AccountLinking { status: text(&a["status"]).unwrap_or_default(), authorization_code: text(&a["authorization_code"]) }
        }

        pub fn delivery(e: &InboundEvent) -> Delivery {
            let d = &e.value["delivery"];
            Delivery {
                mids: d["mids"].as_array().map(|a| a.iter().filter_map(id_string).collect()).unwrap_or_default(),
                watermark: millis(&d["watermark"]).unwrap_or(0),
            }
        }

        pub fn read(e: &InboundEvent) -> Read {
            Read { watermark: millis(&e.value["read"]["watermark"]).unwrap_or(0) }
        }

        pub fn reaction(e: &InboundEvent) -> Reaction {
            let r = &e.value["reaction"];
            Reaction {
                reaction: text(&r["reaction"]),
                emoji: text(&r["emoji"]),
                action: text(&r["action"]).unwrap_or_default(),
                mid: text(&r["mid"]).unwrap_or_default(),
            }
        }

        pub fn message_edit(e: &InboundEvent) -> MessageEdit {
            let m = &e.value["message_edit"];
            MessageEdit {
                mid: text(&m["mid"]).unwrap_or_default(),
                text: text(&m["text"]).unwrap_or_default(),
                num_edit: number(&m["num_edit"]).unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
            }
        }

        pub fn business(e: &InboundEvent) -> BusinessEvent {
            let body = e.business_body();
            BusinessEvent { kind: text(&body["type"]), json: body.to_string() }
        }

        /// `pass_thread_control` or `take_thread_control`, by `key`.
        pub fn thread_change(e: &InboundEvent, key: &str) -> ThreadControlChange {
            let t = &e.value[key];
            ThreadControlChange {
                previous_owner_app_id: text(&t["previous_owner_app_id"]),
                new_owner_app_id: text(&t["new_owner_app_id"]),
                metadata: text(&t["metadata"]),
            }
        }

        pub fn thread_request(e: &InboundEvent) -> ThreadControlRequest {
            let r = &e.value["request_thread_control"];
            ThreadControlRequest {
                requested_owner_app_id: text(&r["requested_owner_app_id"]).unwrap_or_default(),
                metadata: text(&r["metadata"]),
            }
        }

        pub fn app_roles(e: &InboundEvent) -> Vec<AppRole> {
            let Some(roles) = e.value["app_roles"].as_object() else { return Vec::new() };
            roles
                .iter()
                .map(|(app_id, r)| AppRole {
                    app_id: app_id.clone(),
                    roles: r.as_array().map(|a| a.iter().filter_map(text).collect()).unwrap_or_default(),
                })
                .collect()
        }

        pub fn policy_enforcement(e: &InboundEvent) -> PolicyEnforcement {
            let v = &e.value;
            let p = if v.get("policy_enforcement").is_some() { &v["policy_enforcement"] } else { &v["policy-enforcement"] };
            PolicyEnforcement { action: text(&p["action"]).unwrap_or_default(), reason: text(&p["reason"]) }
        }

        pub fn game_play(e: &InboundEvent) -> GamePlay {
            let g = &e.value["game_play"];
            GamePlay {
                game_id: text(&g["game_id"]).unwrap_or_default(),
                player_id: text(&g["player_id"]).unwrap_or_default(),
                context_type: text(&g["context_type"]),
                context_id: text(&g["context_id"]),
                score: number(&g["score"]),
                payload: text(&g["payload"]),
            }
        }

        pub fn response_feedback(e: &InboundEvent) -> ResponseFeedback {
            let f = &e.value["response_feedback"];
            ResponseFeedback { feedback: text(&f["feedback"]).unwrap_or_default(), mid: text(&f["mid"]).unwrap_or_default() }
        }
    };
}

/// The records of `switchboard:plugin@0.2.0`, built one at a time by the
/// `event` resource's accessors.
pub mod v0_2 {
    use crate::sandbox::bindings::v0_2::switchboard::plugin::events::{
        AccountLinking, AppRole, Attachment, BusinessEvent, Coordinates, Delivery, Echo, GamePlay, Message, MessageEdit, Optin,
        PolicyEnforcement, Postback, Reaction, Read, Referral, ResponseFeedback, ThreadControlChange, ThreadControlRequest,
    };
    record_builders!();
}

/// The whole `event` record of `switchboard:plugin@0.1.0`.
pub mod v0_1 {
    use super::Kind;
    use crate::sandbox::bindings::v0_1::switchboard::plugin::events::{
        AccountLinking, AppRole, Attachment, BusinessEvent, Coordinates, Delivery, Echo, Event, EventKind, GamePlay, Message, MessageEdit,
        Optin, PolicyEnforcement, Postback, Reaction, Read, Referral, ResponseFeedback, ThreadControlChange, ThreadControlRequest,
    };
    record_builders!();

    pub fn to_wit(event: &InboundEvent) -> Event {
        let e = event;
        let kind = match event.kind {
            Kind::Message => EventKind::Message(message(e)),
            Kind::Echo => EventKind::Echo(echo(e)),
            Kind::Postback => EventKind::Postback(postback(e)),
            Kind::Optin => EventKind::Optin(optin(e)),
            Kind::Referral => EventKind::Referral(referral(e)),
            Kind::AccountLinking => EventKind::AccountLinking(account_linking(e)),
            Kind::Delivery => EventKind::Delivery(delivery(e)),
            Kind::Read => EventKind::Read(read(e)),
            Kind::Reaction => EventKind::Reaction(reaction(e)),
            Kind::MessageEdit => EventKind::MessageEdit(message_edit(e)),
            Kind::Business => EventKind::Business(business(e)),
            Kind::PassThreadControl => EventKind::PassThreadControl(thread_change(e, "pass_thread_control")),
            Kind::TakeThreadControl => EventKind::TakeThreadControl(thread_change(e, "take_thread_control")),
            Kind::RequestThreadControl => EventKind::RequestThreadControl(thread_request(e)),
            Kind::AppRoles => EventKind::AppRoles(app_roles(e)),
            Kind::PolicyEnforcement => EventKind::PolicyEnforcement(policy_enforcement(e)),
            Kind::GamePlay => EventKind::GamePlay(game_play(e)),
            Kind::ResponseFeedback => EventKind::ResponseFeedback(response_feedback(e)),
            // 0.1 has no case for it: its plugins see the kind's name as
            // an unknown event's key.
            Kind::PersonErased => EventKind::Unknown(Kind::PersonErased.as_str().to_string()),
            Kind::Unknown => EventKind::Unknown(event.unknown_key.clone().unwrap_or_default()),
        };
        Event {
            id: event.id.clone(),
            page_id: event.page_id.clone(),
            psid: event.psid.clone(),
            user_ref: event.user_ref.clone(),
            timestamp: event.timestamp,
            standby: event.standby,
            kind,
            raw_json: event.raw.clone(),
        }
    }
}
