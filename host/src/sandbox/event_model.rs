//! Mapping a parsed webhook event to the WIT `event` record plugins receive.
//!
//! Every field is read leniently: a missing or oddly typed field becomes
//! `none`/empty rather than an error, and the raw JSON always travels along
//! so a plugin can read what this version does not model.

use serde_json::Value;

use super::bindings::switchboard::plugin::events::{
    AccountLinking, AppRole, Attachment, BusinessEvent, Coordinates, Delivery, Echo, Event, EventKind, GamePlay, Message, MessageEdit,
    Optin, PolicyEnforcement, Postback, Reaction, Read, Referral, ResponseFeedback, ThreadControlChange, ThreadControlRequest,
};
use crate::model::{id_string, millis, EventKind as Kind, InboundEvent};

pub fn to_wit(event: &InboundEvent) -> Event {
    let v = &event.value;
    let kind = match event.kind {
        Kind::Message => EventKind::Message(message(&v["message"])),
        Kind::Echo => EventKind::Echo(echo(&v["message"])),
        Kind::Postback => EventKind::Postback(postback(&v["postback"])),
        Kind::Optin => EventKind::Optin(optin(&v["optin"])),
        Kind::Referral => EventKind::Referral(referral(&v["referral"])),
        Kind::AccountLinking => EventKind::AccountLinking(AccountLinking {
            status: text(&v["account_linking"]["status"]).unwrap_or_default(),
            authorization_code: text(&v["account_linking"]["authorization_code"]),
        }),
        Kind::Delivery => EventKind::Delivery(Delivery {
            mids: v["delivery"]["mids"].as_array().map(|a| a.iter().filter_map(id_string).collect()).unwrap_or_default(),
            watermark: millis(&v["delivery"]["watermark"]).unwrap_or(0),
        }),
        Kind::Read => EventKind::Read(Read { watermark: millis(&v["read"]["watermark"]).unwrap_or(0) }),
        Kind::Reaction => {
            let r = &v["reaction"];
            EventKind::Reaction(Reaction {
                reaction: text(&r["reaction"]),
                emoji: text(&r["emoji"]),
                action: text(&r["action"]).unwrap_or_default(),
                mid: text(&r["mid"]).unwrap_or_default(),
            })
        }
        Kind::MessageEdit => {
            let e = &v["message_edit"];
            EventKind::MessageEdit(MessageEdit {
                mid: text(&e["mid"]).unwrap_or_default(),
                text: text(&e["text"]).unwrap_or_default(),
                num_edit: number(&e["num_edit"]).unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
            })
        }
        Kind::Business => {
            let body = event.business_body();
            EventKind::Business(BusinessEvent { kind: text(&body["type"]), json: body.to_string() })
        }
        Kind::PassThreadControl => EventKind::PassThreadControl(thread_change(&v["pass_thread_control"])),
        Kind::TakeThreadControl => EventKind::TakeThreadControl(thread_change(&v["take_thread_control"])),
        Kind::RequestThreadControl => {
            let r = &v["request_thread_control"];
            EventKind::RequestThreadControl(ThreadControlRequest {
                requested_owner_app_id: text(&r["requested_owner_app_id"]).unwrap_or_default(),
                metadata: text(&r["metadata"]),
            })
        }
        Kind::AppRoles => EventKind::AppRoles(
            v["app_roles"]
                .as_object()
                .map(|roles| {
                    roles
                        .iter()
                        .map(|(app_id, r)| AppRole {
                            app_id: app_id.clone(),
                            roles: r.as_array().map(|a| a.iter().filter_map(text).collect()).unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Kind::PolicyEnforcement => {
            let p = if v.get("policy_enforcement").is_some() { &v["policy_enforcement"] } else { &v["policy-enforcement"] };
            EventKind::PolicyEnforcement(PolicyEnforcement { action: text(&p["action"]).unwrap_or_default(), reason: text(&p["reason"]) })
        }
        Kind::GamePlay => {
            let g = &v["game_play"];
            EventKind::GamePlay(GamePlay {
                game_id: text(&g["game_id"]).unwrap_or_default(),
                player_id: text(&g["player_id"]).unwrap_or_default(),
                context_type: text(&g["context_type"]),
                context_id: text(&g["context_id"]),
                score: number(&g["score"]),
                payload: text(&g["payload"]),
            })
        }
        Kind::ResponseFeedback => {
            let f = &v["response_feedback"];
            EventKind::ResponseFeedback(ResponseFeedback {
                feedback: text(&f["feedback"]).unwrap_or_default(),
                mid: text(&f["mid"]).unwrap_or_default(),
            })
        }
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

fn message(m: &Value) -> Message {
    Message {
        mid: text(&m["mid"]).unwrap_or_default(),
        text: text(&m["text"]),
        quick_reply_payload: text(&m["quick_reply"]["payload"]),
        attachments: attachments(&m["attachments"]),
        reply_to_mid: text(&m["reply_to"]["mid"]),
        referral: m.get("referral").map(referral),
    }
}

fn echo(m: &Value) -> Echo {
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

fn postback(p: &Value) -> Postback {
    Postback { title: text(&p["title"]), payload: text(&p["payload"]), mid: text(&p["mid"]), referral: p.get("referral").map(referral) }
}

fn referral(r: &Value) -> Referral {
    Referral {
        ref_data: text(&r["ref"]),
        source: text(&r["source"]),
        kind: text(&r["type"]),
        ad_id: text(&r["ad_id"]),
        referer_uri: text(&r["referer_uri"]),
    }
}

fn optin(o: &Value) -> Optin {
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

fn thread_change(t: &Value) -> ThreadControlChange {
    ThreadControlChange {
        previous_owner_app_id: text(&t["previous_owner_app_id"]),
        new_owner_app_id: text(&t["new_owner_app_id"]),
        metadata: text(&t["metadata"]),
    }
}
