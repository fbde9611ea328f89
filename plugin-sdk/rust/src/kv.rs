//! Per-plugin key-value state, kept durably by the host.
//!
//! Keys belong to this plugin (by its declared name) on the Page of the
//! event being handled; no other plugin can read them. A write returns once
//! it is on disk. An event that is retried runs its calls again, so use
//! [`compare_and_swap`] or [`increment`] where a repeat would matter.
//!
//! ```no_run
//! use switchboard_plugin_sdk::kv;
//! # fn f() -> Result<(), switchboard_plugin_sdk::Error> {
//! let visits = kv::increment("visits:42", 1)?;
//! kv::set_str("last-topic:42", "shoes", Some(std::time::Duration::from_secs(3600)))?;
//! let topic = kv::get_str("last-topic:42")?;
//! let first_time = kv::compare_and_swap("welcomed:42", None, b"1", None)?;
//! # Ok(()) }
//! ```
//!
//! Limits (host config `[limits]`): keys up to 512 bytes, values up to
//! `kv_value_bytes`, a namespace up to `kv_namespace_bytes`; each call is one
//! of the event's host calls.

use std::time::Duration;

use crate::bindings::switchboard::plugin::kv as host;
use crate::Error;

fn ttl_ms(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|t| t.as_millis().clamp(1, u64::MAX as u128) as u64)
}

/// The value at `key`, if it exists and has not expired.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
    Ok(host::get(key)?)
}

/// The value at `key` as text (invalid UTF-8 is replaced).
pub fn get_str(key: &str) -> Result<Option<String>, Error> {
    Ok(get(key)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// Sets `key`; with a `ttl` it expires that long from now.
pub fn set(key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), Error> {
    Ok(host::set(key, value, ttl_ms(ttl))?)
}

pub fn set_str(key: &str, value: &str, ttl: Option<Duration>) -> Result<(), Error> {
    set(key, value.as_bytes(), ttl)
}

/// Removes `key`; true if it existed.
pub fn delete(key: &str) -> Result<bool, Error> {
    Ok(host::delete(key)?)
}

/// Sets `key` to `new` only if its value is `expected` now (`None`: only if
/// absent); true if it did.
pub fn compare_and_swap(key: &str, expected: Option<&[u8]>, new: &[u8], ttl: Option<Duration>) -> Result<bool, Error> {
    Ok(host::compare_and_swap(key, expected, new, ttl_ms(ttl))?)
}

/// Adds `delta` to the integer at `key` (absent counts as 0); the new value.
pub fn increment(key: &str, delta: i64) -> Result<i64, Error> {
    Ok(host::increment(key, delta)?)
}

/// Keys starting with `prefix`, in byte order, at most `limit` (≤ 1000).
pub fn list_keys(prefix: &str, limit: u32) -> Result<Vec<String>, Error> {
    Ok(host::list_keys(prefix, limit)?)
}
