//! `switchboard:plugin/log`: plugin log lines, tagged with the plugin, the
//! event and the Page, and capped per invocation so a plugin cannot flood
//! the host's logs. Control characters are escaped, so a plugin's line is
//! one line and cannot pass for lines of the host's own.

use std::borrow::Cow;
use std::sync::Arc;

use super::CallContext;
use crate::sandbox::bindings::v0_2::switchboard::plugin::log::{Host, Level};

pub struct Log {
    call: Arc<CallContext>,
}

impl Log {
    pub fn new(call: Arc<CallContext>) -> Self {
        Log { call }
    }
}

impl Host for Log {
    async fn log(&mut self, level: Level, message: String) {
        let allowed = self.call.budget.take_log_bytes(message.len());
        if allowed == 0 {
            return;
        }
        let mut cut = allowed.min(message.len());
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        let text = escaped(&message[..cut]);
        let truncated = cut < message.len();
        let inv = &self.call.invocation;
        let page = inv.page.as_ref().map(|p| p.page_id.as_str()).unwrap_or("-");
        macro_rules! emit {
            ($lvl:ident) => {
                tracing::$lvl!(target: "plugin", plugin = %inv.plugin, page, event = %inv.event_id, truncated, "{text}")
            };
        }
        match level {
            Level::Trace => emit!(trace),
            Level::Debug => emit!(debug),
            Level::Info => emit!(info),
            Level::Warn => emit!(warn),
            Level::Error => emit!(error),
        }
    }
}

/// `text` with its control characters escaped: a newline becomes a
/// backslash and an `n`.
fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_plugin_line_stays_one_line() {
        let forged = "ok\n2026-12-02T00:00:00Z  INFO switchboard: config reloaded\r\x1b[2J";
        let line = super::escaped(forged);
        assert!(!line.chars().any(char::is_control), "{line}");
        assert_eq!(line, "ok\\n2026-12-02T00:00:00Z  INFO switchboard: config reloaded\\r\\u{1b}[2J");
        assert!(matches!(super::escaped("plain"), std::borrow::Cow::Borrowed("plain")));
    }
}
