//! Switchboard's outside input, parsed once into types, and the one output
//! whose rules are Meta's: no I/O, no async, no WebAssembly.
//!
//! * [`config`]: the TOML file, with `${VAR}` expansion and every mistake
//!   collected;
//! * [`model`]: the inbound event (`InboundEvent`, `EventKind`,
//!   `EventFacts`), parsed from one webhook event object;
//! * [`webhook`]: a webhook body to events ([`webhook::envelope`]), and its
//!   `X-Hub-Signature(-256)` headers checked ([`webhook::signature`]);
//! * [`send_api`]: an outgoing message to the Send API's request body, with
//!   the Platform's limits checked first;
//! * [`bounds`]: how long the strings a plugin hands the host may be.
//!
//! The host (`switchboard`) re-exports these modules under the same names;
//! the fuzz targets (`fuzz/`) build against this crate alone.

pub mod bounds;
pub mod config;
pub mod model;
pub mod send_api;
pub mod webhook;

pub use config::Config;
