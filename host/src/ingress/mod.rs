//! HTTP in: connections (bounded, with timeouts), health and metrics
//! endpoints, the webhook (verify the signature, parse, store, acknowledge),
//! the business-events and admin API, Meta's data deletion callback, and
//! the inbox every accepted event
//! goes through (room in the queue, then the durable append, then the
//! hand-off to the dispatcher).

pub mod api;
pub mod connections;
pub mod data_deletion;
pub mod health;
pub mod inbox;
pub mod webhook;

pub use switchboard_formats::webhook::{envelope, signature, signed_request};
