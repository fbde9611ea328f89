//! What the host tells its operators about itself: Prometheus metrics
//! ([`Metrics`]), alerts to a webhook ([`Alerts`]) and the CPU time of a
//! future ([`CpuTimed`]).
//!
//! A layer of its own, below the store, so every layer can record what it
//! does without knowing who reads it; it knows nothing of the host but its
//! config. `GET /metrics` (in `ingress::health`) encodes the registry.

pub mod alerts;
mod cpu_time;
mod metrics;

pub use alerts::{Alert, AlertKind, Alerts};
pub use cpu_time::CpuTimed;
pub use metrics::{EventOutcome, GraphOutcome, Metrics, WebhookOutcome};
