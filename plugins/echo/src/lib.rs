//! The echo plugin: answers every text message with `You said: {text}`.
//! Echoes, deliveries, reads, postbacks, attachment-only messages and
//! messages in standby (another app owns the thread) get no answer.

use switchboard_plugin_sdk::prelude::*;

struct EchoPlugin;

impl Plugin for EchoPlugin {
    fn info() -> PluginInfo {
        PluginInfo::new("echo", env!("CARGO_PKG_VERSION")).event_kinds(["message"])
    }

    fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
        // In standby another app owns the thread: watch, do not answer.
        if cx.standby() {
            return Ok(Verdict::Continue);
        }
        if let Some(text) = &message.text {
            cx.reply(format!("You said: {text}"))?;
        }
        Ok(Verdict::Continue)
    }
}

export_plugin!(EchoPlugin);
