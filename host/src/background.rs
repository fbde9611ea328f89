//! The host's background tasks, and how they stop.
//!
//! Maintenance (pruning, requeued dead letters), the hot-reload watcher and
//! Messenger Profile updates run beside the event path. [`BackgroundTasks`]
//! is the one way to start them: each is tracked, and holds the shutdown
//! signal as a value (a cancellation token it is raced against), so
//! [`BackgroundTasks::stop`] ends every one at its next await and waits for
//! them, instead of leaving them to be dropped mid-write with the runtime.

use std::future::Future;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone)]
pub struct BackgroundTasks {
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// The worker runtime, below the webhook's priority.
    workers: Handle,
}

impl BackgroundTasks {
    pub fn new(workers: Handle) -> Self {
        BackgroundTasks { shutdown: CancellationToken::new(), tracker: TaskTracker::new(), workers }
    }

    /// Runs `task` on the worker runtime until it ends or shutdown begins.
    pub fn spawn_on_workers(&self, task: impl Future<Output = ()> + Send + 'static) {
        let shutdown = self.shutdown.clone();
        self.tracker.spawn_on(async move { shutdown.run_until_cancelled(task).await.unwrap_or(()) }, &self.workers);
    }

    /// Runs `task` on the current runtime until it ends or shutdown begins.
    pub fn spawn_here(&self, task: impl Future<Output = ()> + Send + 'static) {
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move { shutdown.run_until_cancelled(task).await.unwrap_or(()) });
    }

    /// Signals every task to stop and waits up to `grace` for them; returns
    /// whether they all ended.
    pub async fn stop(&self, grace: Duration) -> bool {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait()).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_ends_tasks_that_would_never_end() {
        let tasks = BackgroundTasks::new(Handle::current());
        tasks.spawn_here(std::future::pending());
        tasks.spawn_on_workers(async {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        assert!(tasks.stop(Duration::from_secs(5)).await, "both ended at their next await");
    }
}
