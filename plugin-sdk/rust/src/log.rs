//! Logging through the host: each line lands in the host's log tagged with
//! the plugin, Page and event (and the host may cap lines per event).
//!
//! ```no_run
//! use switchboard_plugin_sdk::log;
//! log::info("greeting sent");
//! log::warn(format!("unknown payload {:?}", "X"));
//! ```

pub use crate::bindings::switchboard::plugin::log::Level;

/// Writes `message` at `level`.
pub fn log(level: Level, message: impl AsRef<str>) {
    crate::bindings::switchboard::plugin::log::log(level, message.as_ref());
}
pub fn trace(message: impl AsRef<str>) {
    log(Level::Trace, message);
}
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message);
}
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message);
}
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message);
}
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message);
}
