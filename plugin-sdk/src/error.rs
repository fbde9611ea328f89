//! The error a host call can return, with a readable `Display`.

use std::fmt;

use crate::bindings::switchboard::plugin::types::MessengerError;

/// Why a send or handover call failed.
#[derive(Debug, Clone)]
pub enum Error {
    /// The host or the Graph API refused the call.
    Messenger(MessengerError),
    /// An error raised by the plugin itself.
    Plugin(String),
}

impl Error {
    /// A plugin-defined failure: the host logs it and retries the event.
    pub fn msg(message: impl Into<String>) -> Self {
        Error::Plugin(message.into())
    }

    /// The host's typed error, if this came from a host call.
    pub fn messenger(&self) -> Option<&MessengerError> {
        match self {
            Error::Messenger(e) => Some(e),
            Error::Plugin(_) => None,
        }
    }
}

impl From<MessengerError> for Error {
    fn from(e: MessengerError) -> Self {
        Error::Messenger(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Plugin(m) => f.write_str(m),
            Error::Messenger(e) => match e {
                MessengerError::Graph(g) => {
                    write!(f, "graph error {}", g.code)?;
                    if let Some(sub) = g.subcode {
                        write!(f, "/{sub}")?;
                    }
                    write!(f, ": {}", g.message)
                }
                MessengerError::InvalidRequest(m) => write!(f, "invalid request: {m}"),
                MessengerError::Unavailable(m) => write!(f, "Graph API unavailable: {m}"),
                MessengerError::OutsideWindow => f.write_str("outside the 24-hour messaging window"),
                MessengerError::NotThreadOwner => f.write_str("another app owns the thread"),
                MessengerError::NotificationTokenUsed => f.write_str("the one-time notification token was already used"),
                MessengerError::NotificationTokenExpired => f.write_str("the one-time notification token has expired"),
                MessengerError::PageCircuitOpen => f.write_str("sending for this Page is paused by the host"),
                MessengerError::QuotaExceeded => f.write_str("this plugin used up its host calls for this event"),
            },
        }
    }
}

impl std::error::Error for Error {}
