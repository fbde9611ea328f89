//! Switchboard: a Messenger Platform bot engine.
//!
//! The host receives Messenger webhooks, verifies and parses them, and runs
//! every event through the sandboxed WebAssembly plugins configured for its
//! Page; plugins reply through host capabilities that call the Send API.
//! See `ARCHITECTURE.md` at the repository root for the map.

pub mod api;
pub mod background;
pub mod capabilities;
pub mod config;
pub mod conversation;
pub mod dispatch;
pub mod envelope;
pub mod graph;
pub mod inbox;
pub mod messenger_profile;
pub mod page_gate;
pub mod plugin_health;
pub mod registry;
pub mod reload;
pub mod runtime;
pub mod send_api;
pub mod server;
pub mod signature;
pub mod slots;
pub mod store;
pub mod webhook;
pub mod worker_runtime;

pub use config::Config;
pub use server::Server;
