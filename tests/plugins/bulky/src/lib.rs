//! A test plugin whose component is large (about 2 MB: `regex` with its
//! full Unicode tables and `encoding_rs` with its legacy encodings, Unicode normalization and IDNA
//! tables), so the
//! reload benchmark can compare a large plugin with a small one. It replies
//! `bulky: {n} words, {d} domains, {m} bytes in {encoding}` to text messages.

use switchboard_plugin_sdk::prelude::*;

struct Bulky;

impl Plugin for Bulky {
    fn info() -> PluginInfo {
        PluginInfo::new("bulky", env!("CARGO_PKG_VERSION")).event_kinds(["message"])
    }

    fn on_message(cx: &Context, message: &Message) -> Result<Verdict, Error> {
        let Some(text) = message.text.as_deref() else { return Ok(Verdict::Continue) };
        let words = regex::Regex::new(r"\p{Alphabetic}[\p{Alphabetic}\p{Mark}\p{Decimal_Number}]*").map_err(Error::msg)?;
        // The encoding named by the first word (any WHATWG label), else UTF-8.
        let encoding = text.split_whitespace().next().and_then(|w| encoding_rs::Encoding::for_label(w.as_bytes()));
        let encoding = encoding.unwrap_or(encoding_rs::UTF_8);
        let text: String = unicode_normalization::UnicodeNormalization::nfkc(text).collect();
        let (bytes, _, _) = encoding.encode(&text);
        let domains = text.split_whitespace().filter(|w| w.contains('.') && idna::domain_to_ascii(w).is_ok()).count();
        let words = words.find_iter(&text).count();
        cx.reply(format!("bulky: {words} words, {domains} domains, {} bytes in {}", bytes.len(), encoding.name()))?;
        Ok(Verdict::Continue)
    }
}

export_plugin!(Bulky);
