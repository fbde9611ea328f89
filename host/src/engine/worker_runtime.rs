//! The threads events are handled on, apart from the threads that take
//! them in.
//!
//! The webhook's 200 must not wait for plugins, and that includes waiting
//! for a core: on one tokio runtime, a webhook ready to answer queues behind
//! every plugin call and Send API response that is ready to run. So the
//! dispatcher's conversation workers, and everything they start (plugin
//! calls, Send API and plugin HTTP requests), run on a runtime of their own,
//! [`WorkerRuntime`], whose threads run at a lower scheduling priority (a
//! higher Unix `nice`) than the webhook's. While the cores are saturated the
//! kernel gives most of them to the webhook path: acks stay fast, and the
//! events wait durably in the inbox (bounded by `max_queued_events`; 503
//! past that) until the workers catch up. With cores to spare, the priority
//! changes nothing. (Store reads and writes run on the store's own threads,
//! at the webhook's priority.) Only Linux keeps a nice value per thread;
//! elsewhere the workers keep the webhook's priority.

use std::sync::atomic::AtomicBool;

use tokio::runtime::{Handle, Runtime};

/// Owns the worker threads; dropping it stops them without waiting (what
/// they were doing stays pending in the store).
pub struct WorkerRuntime {
    /// `None` only while being dropped.
    runtime: Option<Runtime>,
    handle: Handle,
}

impl WorkerRuntime {
    /// Starts `threads` worker threads (0: one per core), each `nice` steps
    /// below the priority of the thread that starts them.
    pub fn start(threads: usize, nice: i32) -> anyhow::Result<WorkerRuntime> {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if threads > 0 {
            builder.worker_threads(threads);
        }
        let (nice, warned) = (nice_value(nice), AtomicBool::new(false));
        let runtime = builder
            .enable_all()
            .thread_name("event-worker")
            // Also runs on the runtime's blocking threads (DNS lookups).
            .on_thread_start(move || set_nice(nice, &warned))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start the event worker threads: {e}"))?;
        let handle = runtime.handle().clone();
        Ok(WorkerRuntime { runtime: Some(runtime), handle })
    }

    /// Where to spawn work that should run on the worker threads.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }
}

impl Drop for WorkerRuntime {
    fn drop(&mut self) {
        // Dropped from async code (the server's task); a plain drop would
        // block on the worker threads there and panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What the worker threads' nice value should be: `steps` above the
/// calling thread's. Set as an absolute value on each new thread, since a
/// thread inherits the nice value of the one that creates it (the runtime's
/// blocking threads are started by its workers).
#[cfg(target_os = "linux")]
fn nice_value(steps: i32) -> Option<i32> {
    if steps == 0 {
        return None;
    }
    // -1 is a valid answer, so errno tells failure apart.
    // SAFETY: a plain system call on the calling thread; errno is thread-local.
    let current = unsafe {
        *libc::__errno_location() = 0;
        let current = libc::getpriority(libc::PRIO_PROCESS, 0);
        (*libc::__errno_location() == 0).then_some(current)
    };
    Some(current.unwrap_or(0).saturating_add(steps).min(19))
}

#[cfg(not(target_os = "linux"))]
fn nice_value(_steps: i32) -> Option<i32> {
    None
}

/// Sets the calling thread's nice value (Linux keeps one per thread; with
/// `PRIO_PROCESS`, `0` is the calling thread). Failing to is not fatal: the
/// threads then share the cores evenly with the webhook's.
fn set_nice(nice: Option<i32>, warned: &AtomicBool) {
    let Some(nice) = nice else { return };
    // SAFETY: a plain system call on the calling thread, no memory passed.
    #[cfg(target_os = "linux")]
    let failed = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0;
    #[cfg(not(target_os = "linux"))]
    let failed = false;
    if failed && !warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            nice,
            error = %std::io::Error::last_os_error(),
            "could not lower the event workers' priority; acks may slow down while plugins keep the cores busy"
        );
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        // SAFETY: a plain system call on the calling thread.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[test]
    fn workers_and_their_blocking_threads_run_the_given_steps_lower() {
        let expected = (own_nice() + 3).min(19);
        let workers = WorkerRuntime::start(1, 3).expect("worker runtime starts");
        let (worker, blocking) = workers.handle().block_on(async {
            workers
                .handle()
                .spawn(async {
                    // A blocking thread is started by a worker, whose nice
                    // value it inherits: it must not be lowered twice.
                    let blocking = tokio::task::spawn_blocking(own_nice).await.expect("blocking task runs");
                    (own_nice(), blocking)
                })
                .await
                .expect("worker task runs")
        });
        assert_eq!((worker, blocking), (expected, expected));
    }

    #[test]
    fn zero_steps_leaves_the_priority_alone() {
        let expected = own_nice();
        let workers = WorkerRuntime::start(1, 0).expect("worker runtime starts");
        let nice = workers.handle().block_on(async { workers.handle().spawn(async { own_nice() }).await.expect("runs") });
        assert_eq!(nice, expected);
    }
}
