//! What the host tells its operators about itself: Prometheus metrics
//! ([`Metrics`]) and the CPU time of a future ([`CpuTimed`]).
//!
//! A layer of its own, below the store, so every layer can record what it
//! does without knowing who reads it; it knows nothing of the host but its
//! config. `GET /metrics` (in `ingress::health`) encodes the registry.

mod cpu_time;
mod metrics;

pub use cpu_time::CpuTimed;
pub use metrics::{EventOutcome, GraphOutcome, Metrics, WebhookOutcome};
