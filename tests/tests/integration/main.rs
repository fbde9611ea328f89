//! The integration tests: one binary (wasmtime is linked once), the
//! harness in [`harness`], one module per area. Every test runs the real
//! host (its router, or its binary) with real wasm plugins, a real store
//! and the fake Graph API over real HTTP.

mod harness;

mod alerts;
mod authoring;
mod cli;
mod config_reload;
mod connections;
mod contract;
mod durability;
mod erasure;
mod examples;
mod fake_graph;
mod isolation;
mod layers;
mod messenger_rules;
mod operations;
mod people;
mod plugin_state;
mod plugins;
mod recent_errors;
mod reload;
mod sandbox;
mod send_batching;
mod webhook;
