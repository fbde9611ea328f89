//! A test plugin for plugin chains: replies `chain: {text}` to text
//! messages and lets the event go on (`Verdict::Continue`), so a test can
//! tell whether it saw an event an earlier plugin stopped. `kv get {key}`
//! reports this plugin's own value for the key, `chain kv: {value|none}`,
//! to show that plugins' key-value namespaces are apart.

use switchboard_plugin_sdk::prelude::*;

struct Chain;

impl Plugin for Chain {
    fn info() -> PluginInfo {
        PluginInfo::new("chain", env!("CARGO_PKG_VERSION")).event_kinds(["message"])
    }

    fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
        if let Some(text) = &message.text {
            if let Some(key) = text.strip_prefix("kv get ") {
                let value = kv::get_str(key)?.unwrap_or_else(|| "none".into());
                cx.reply(format!("chain kv: {value}"))?;
            }
            cx.reply(format!("chain: {text}"))?;
        }
        Ok(Verdict::Continue)
    }
}

export_plugin!(Chain);
