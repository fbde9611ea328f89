//! [`Error`]: why a host call failed (the WIT `messenger-error`), or why the
//! plugin gave up on an event, with a readable `Display`.

use std::fmt;

use crate::{GraphError, KvError, MessengerError};

/// A failed host call, or a failure the plugin reports itself.
///
/// `Display` is one line meant for logs, e.g.
/// `graph error 613: (#613) Calls to this api have exceeded the rate limit.`
/// Match on [`Error::messenger`] to react to a specific failure:
///
/// ```
/// # use switchboard_plugin_sdk::{Error, MessengerError};
/// fn describe(e: &Error) -> &'static str {
///     match e.messenger() {
///         Some(MessengerError::OutsideWindow) => "too late for a RESPONSE",
///         Some(MessengerError::Graph(g)) if g.code == 551 => "the person is unavailable",
///         Some(_) => "another host error",
///         None => "the plugin's own error",
///     }
/// }
/// assert_eq!(describe(&MessengerError::OutsideWindow.into()), "too late for a RESPONSE");
/// assert_eq!(describe(&Error::msg("no")), "the plugin's own error");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The host or the Graph API refused a host call.
    Messenger(MessengerError),
    /// A key-value call failed ([`crate::kv`]).
    Kv(KvError),
    /// A failure raised by the plugin itself; the host retries the event.
    Plugin(String),
    /// A failure raised by the plugin itself that a retry would repeat:
    /// the host moves the event to the dead letters at once.
    Permanent(String),
}

impl Error {
    /// A failure of the plugin's own, from a message or any displayable
    /// error: `.map_err(Error::msg)?`.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error::Plugin(message.to_string())
    }

    /// A failure of the plugin's own that trying the event again would
    /// repeat (data it cannot handle, a bug): the host does not retry it
    /// but keeps it in the dead letters, to replay once the plugin is fixed.
    pub fn permanent(message: impl fmt::Display) -> Self {
        Error::Permanent(message.to_string())
    }

    /// Whether the host should not retry the event (see [`Error::permanent`]).
    pub fn is_permanent(&self) -> bool {
        matches!(self, Error::Permanent(_))
    }

    /// The host's typed error, if this came from a host call.
    pub fn messenger(&self) -> Option<&MessengerError> {
        match self {
            Error::Messenger(e) => Some(e),
            _ => None,
        }
    }

    /// The key-value store's error, if this came from [`crate::kv`].
    pub fn kv(&self) -> Option<&KvError> {
        match self {
            Error::Kv(e) => Some(e),
            _ => None,
        }
    }

    /// The Graph API's error, if the Graph API refused the call.
    pub fn graph(&self) -> Option<&GraphError> {
        match self {
            Error::Messenger(MessengerError::Graph(g)) => Some(g),
            _ => None,
        }
    }
}

impl From<MessengerError> for Error {
    fn from(e: MessengerError) -> Self {
        Error::Messenger(e)
    }
}

impl From<KvError> for Error {
    fn from(e: KvError) -> Self {
        Error::Kv(e)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::Plugin(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::Plugin(message.to_string())
    }
}

impl From<Error> for String {
    fn from(e: Error) -> Self {
        e.to_string()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = match self {
            Error::Plugin(m) | Error::Permanent(m) => return f.write_str(m),
            Error::Kv(e) => {
                return match e {
                    KvError::TooLarge(m) => write!(f, "key-value limit: {m}"),
                    KvError::NotANumber => f.write_str("key-value increment on a value that is not an integer"),
                    KvError::QuotaExceeded => f.write_str("the plugin used up its host calls for this event"),
                    KvError::Unavailable(m) => write!(f, "key-value store unavailable: {m}"),
                }
            }
            Error::Messenger(e) => e,
        };
        match e {
            MessengerError::Graph(g) => {
                write!(f, "graph error {}", g.code)?;
                if let Some(sub) = g.subcode {
                    write!(f, " (subcode {sub})")?;
                }
                write!(f, ": {}", g.message)
            }
            MessengerError::InvalidRequest(m) => write!(f, "invalid request: {m}"),
            MessengerError::Unavailable(m) => write!(f, "Graph API unavailable: {m}"),
            MessengerError::OutsideWindow => f.write_str("outside the 24-hour messaging window"),
            MessengerError::NotThreadOwner => f.write_str("another app owns the thread"),
            MessengerError::NotificationTokenUsed => f.write_str("the one-time notification token was already used"),
            MessengerError::NotificationTokenExpired => f.write_str("the one-time notification token has expired"),
            MessengerError::PageCircuitOpen => f.write_str("the host paused Graph API calls for this Page"),
            MessengerError::QuotaExceeded => f.write_str("the plugin used up its host calls for this event"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Messenger(e) => Some(e),
            Error::Kv(e) => Some(e),
            Error::Plugin(_) | Error::Permanent(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_errors_display_code_subcode_and_message() {
        let mut g = GraphError {
            http_status: 400,
            code: 613,
            subcode: None,
            message: "(#613) Calls to this api have exceeded the rate limit.".into(),
            fbtrace_id: Some("AbC".into()),
        };
        let e = Error::from(MessengerError::Graph(g.clone()));
        assert_eq!(e.to_string(), "graph error 613: (#613) Calls to this api have exceeded the rate limit.");
        g.code = 10;
        g.subcode = Some(2018300);
        g.message = "(#10) This message is sent outside of allowed window.".into();
        let e = Error::from(MessengerError::Graph(g));
        assert_eq!(e.to_string(), "graph error 10 (subcode 2018300): (#10) This message is sent outside of allowed window.");
        assert_eq!(e.graph().map(|g| g.http_status), Some(400));
    }

    #[test]
    fn plugin_errors_display_their_message() {
        assert_eq!(Error::msg("boom").to_string(), "boom");
        assert_eq!(Error::from("boom"), Error::msg("boom"));
        assert!(Error::msg(42).messenger().is_none());
        assert_eq!(Error::from(MessengerError::OutsideWindow).to_string(), "outside the 24-hour messaging window");
    }
}
