//! Switchboard: a Messenger Platform bot engine.
//!
//! The host receives Messenger webhooks, verifies and parses them, and runs
//! every event through the sandboxed WebAssembly plugins configured for its
//! Page; plugins reply through host capabilities that call the Send API.
//! See `ARCHITECTURE.md` at the repository root for the map.

// Outside input parsed into types, and Send API bodies: their own crate
// (`host/formats`), which knows nothing of the rest.
pub use switchboard_formats::{bounds, config, model, send_api};

// Layers, lowest first; each uses only those above it in this list (see
// ARCHITECTURE.md, "Layers", and the test that checks it).
pub mod engine;
pub mod ingress;
pub mod messenger;
pub mod sandbox;
pub mod store;
pub mod telemetry;

// Assembling and running the host.
pub mod background;
pub mod reload;
pub mod server;

// Tools for plugin authors (`switchboard new`, `build`) and for operators
// (`switchboard people`): above every layer.
pub mod authoring;
pub mod tools;

pub use config::Config;
pub use ingress::signature;
pub use server::Server;
