//! How long each string a plugin hands the host may be.
//!
//! Whatever a plugin passes is already a copy in host memory, bounded by the
//! plugin's own memory limit, but it lives only for the call. These bounds
//! apply before anything is kept longer: cached (conversation state, User
//! Profiles, per-person order), written to the store (outbox, dead
//! letters), logged, or quoted in an error. They sit well above what the
//! Platform itself accepts, so no valid request is refused here.

/// PSIDs, app, message, attachment, persona, post and comment ids, user
/// refs, phone numbers, tags and topics (Meta's ids are under 100 bytes).
pub const ID_BYTES: usize = 256;
/// One-time-notification and Marketing Messages tokens.
pub const TOKEN_BYTES: usize = 2048;
/// URLs: media, images, buttons, default actions.
pub const URL_BYTES: usize = 4096;
/// Free text Meta limits by characters (payloads, metadata), checked in
/// bytes first so counting characters stays cheap.
pub const TEXT_BYTES: usize = 8192;
/// A raw template's JSON.
pub const RAW_JSON_BYTES: usize = 64 * 1024;
/// The error text a plugin returns from `handle`: it is logged, stored
/// with each attempt and kept in dead letters.
pub const ERROR_CHARS: usize = 2048;
/// How much of a refused value an error message quotes.
const QUOTE_CHARS: usize = 40;

/// `value`, as `what`, if it is at most `max` bytes.
pub fn at_most<'a>(what: &str, value: &'a str, max: usize) -> Result<&'a str, String> {
    if value.len() > max {
        return Err(format!("{what} is {} bytes; the limit is {max}", value.len()));
    }
    Ok(value)
}

/// Checks a PSID a plugin names: non-empty and short. (Its characters are
/// checked only where it becomes part of a URL: Meta's own samples use
/// ids like `<PSID>`, and a reply goes to whatever sender Meta named.)
pub fn psid(value: &str) -> Result<&str, String> {
    at_most("the PSID", value, ID_BYTES)?;
    if value.is_empty() {
        return Err("the PSID is empty".into());
    }
    Ok(value)
}

/// `value` for an error message: its start, debug-quoted, and how long it
/// was when that is not all of it.
pub fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTE_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &value[..cut], value.len()),
    }
}

/// `text` cut to at most `max` characters, marked when cut.
pub fn capped(mut text: String, max: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        let total = text.len();
        text.truncate(cut);
        text.push_str(&format!("… (cut from {total} bytes)"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_refused_and_quoted_short() {
        assert!(psid("1234567890123456").is_ok());
        assert!(psid(&"9".repeat(ID_BYTES + 1)).is_err());
        assert!(psid("").is_err());
        let long = "é".repeat(10_000);
        let q = quoted(&long);
        assert!(q.len() < 120 && q.ends_with("(20000 bytes)"), "{q}");
        assert_eq!(quoted("short"), "\"short\"");
        let cut = capped(long.clone(), 10);
        assert!(cut.starts_with("éééééééééé…") && cut.len() < 60, "{cut}");
        assert_eq!(capped("fine".into(), 10), "fine");
        assert!(at_most("the URL", &long, URL_BYTES).is_err());
    }
}
