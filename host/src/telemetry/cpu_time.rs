//! The CPU time a future spends being polled, on whichever threads poll it.
//!
//! A plugin's invocation is a future that wasmtime polls on a worker thread;
//! it may wait (a Send API call, an outgoing HTTP request) without using the
//! CPU. Its wall time says how long the event waited for it; the thread CPU
//! time summed over its polls says what it cost.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// `inner`, with the CPU time of its polls added up (when `measure`).
pub struct CpuTimed<F> {
    inner: Pin<Box<F>>,
    spent: Duration,
    measure: bool,
}

impl<F: Future> CpuTimed<F> {
    /// With `measure` false the clock is not read: the output's time is zero.
    pub fn new(inner: F, measure: bool) -> Self {
        CpuTimed { inner: Box::pin(inner), spent: Duration::ZERO, measure }
    }
}

impl<F: Future> Future for CpuTimed<F> {
    /// The inner future's output and the CPU time it took.
    type Output = (F::Output, Duration);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if !this.measure {
            return this.inner.as_mut().poll(cx).map(|output| (output, Duration::ZERO));
        }
        let start = thread_cpu_time();
        let polled = this.inner.as_mut().poll(cx);
        this.spent += thread_cpu_time().saturating_sub(start);
        polled.map(|output| (output, this.spent))
    }
}

/// This thread's CPU time so far (zero where the clock is unavailable).
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec for the call to write.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_work_and_not_waiting() {
        let ((), busy) = CpuTimed::new(
            async {
                let until = std::time::Instant::now() + Duration::from_millis(30);
                while std::time::Instant::now() < until {
                    std::hint::spin_loop();
                }
            },
            true,
        )
        .await;
        // Loose: on busy CI cores the spinning thread is not always running.
        assert!(busy >= Duration::from_millis(5), "a 30 ms spin counted {busy:?}");
        let ((), idle) = CpuTimed::new(tokio::time::sleep(Duration::from_millis(30)), true).await;
        assert!(idle < Duration::from_millis(10), "a 30 ms sleep counted {idle:?}");
        let ((), off) = CpuTimed::new(async {}, false).await;
        assert_eq!(off, Duration::ZERO);
    }
}
