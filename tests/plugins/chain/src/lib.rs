//! The second link of a plugin chain in tests: replies `chain: {text}`.

use switchboard_plugin_sdk::prelude::*;

struct Chain;

impl Plugin for Chain {
    fn info() -> Info {
        Info::new("chain", env!("CARGO_PKG_VERSION")).kinds(["message"])
    }

    fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
        if let Some(text) = &message.text {
            cx.reply(format!("chain: {text}"))?;
        }
        Ok(Verdict::Continue)
    }
}

export_plugin!(Chain);
