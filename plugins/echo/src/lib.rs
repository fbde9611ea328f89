//! The echo plugin: answers every text message with its text.

use switchboard_plugin_sdk::prelude::*;

struct EchoPlugin;

impl Plugin for EchoPlugin {
    fn info() -> Info {
        Info::new("echo", env!("CARGO_PKG_VERSION")).kinds(["message"])
    }

    fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
        if let Some(text) = &message.text {
            cx.reply(format!("You said: {text}"))?;
        }
        Ok(Verdict::Continue)
    }
}

export_plugin!(EchoPlugin);
