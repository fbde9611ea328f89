//! An event's life after the acknowledgement: the dispatcher (one
//! conversation at a time, many at once, retries and dead letters), the
//! conversation slots shared fairly among Pages, the plugin registry (which
//! plugins serve which Page, swapped whole on reload), per-(Page, plugin)
//! health and circuits, and the worker runtime the conversations run on.

pub mod dispatch;
pub mod plugin_health;
pub mod registry;
pub mod slots;
pub mod worker_runtime;
