//! A plugin built against `switchboard:plugin@0.1.0` (`wit/versions/0.1.0`)
//! with raw bindings and no SDK, as plugins built before 0.2 were: the host
//! must keep running it. On a text message it counts the person's messages
//! in its key-value state (a 0.1 import) and replies
//! `0.1 says: {text} (#{n})`; on `fail` it returns an error.

wit_bindgen::generate!({
    path: "../../../wit/versions/0.1.0",
    world: "plugin",
});

use exports::switchboard::plugin::handler::{Guest, PluginInfo, Verdict};
use switchboard::plugin::events::{Event, EventKind};
use switchboard::plugin::messenger::{self, Content, MessagingType, OutgoingMessage};
use switchboard::plugin::{kv, types::Recipient};

struct Legacy;

impl Guest for Legacy {
    fn describe() -> PluginInfo {
        PluginInfo { name: "legacy".into(), version: "0.1.0".into(), event_kinds: vec!["message".into()] }
    }

    fn handle(event: Event) -> Result<Verdict, String> {
        let (EventKind::Message(message), Some(psid)) = (event.kind, event.psid) else { return Ok(Verdict::Continue) };
        let Some(text) = message.text else { return Ok(Verdict::Continue) };
        if text == "fail" {
            return Err("asked to fail".into());
        }
        let n = kv::increment(&format!("count/{psid}"), 1).map_err(|e| format!("{e:?}"))?;
        messenger::send(&OutgoingMessage {
            recipient: Recipient::Psid(psid),
            content: Content::Text(format!("0.1 says: {text} (#{n})")),
            quick_replies: Vec::new(),
            messaging_type: MessagingType::Response,
            tag: None,
            written_by_human: false,
            notification_type: None,
            metadata: None,
            reply_to: None,
            persona_id: None,
        })
        .map_err(|e| format!("{e:?}"))?;
        Ok(Verdict::Continue)
    }
}

export!(Legacy);
