//! `wasi:clocks/monotonic-clock`, with sleeping counted against
//! `limits.sleep_ms`.
//!
//! Sleeping costs no CPU, so the CPU limit does not see it, and a plugin
//! that sleeps would hold its conversation's slot for the whole `wall_ms`
//! doing nothing. Every wait a plugin asks of the clock
//! (`subscribe-duration`, `subscribe-instant`) is taken from a budget per
//! invocation; one past it traps ([`SleepLimitExceeded`]). Reading the
//! clock is wasmtime-wasi's, unchanged. Registered over wasmtime-wasi's
//! own implementation of the interface (see [`super::add_to_linker`]).

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::clocks::{WasiClocksCtxView, WasiClocksView as _};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::{self, Duration as WasiDuration, Instant};
use wasmtime_wasi::p2::DynPollable;

use super::{CallContext, CapabilityView};

/// The trap raised when a plugin asks to sleep past its budget.
#[derive(Debug, thiserror::Error)]
#[error("asked to sleep past its limit of {0:?} per event (limits.sleep_ms)")]
pub struct SleepLimitExceeded(pub Duration);

/// The monotonic clock of one invocation.
pub struct SleepBudgetedClock<'a> {
    clock: WasiClocksCtxView<'a>,
    call: Arc<CallContext>,
}

impl SleepBudgetedClock<'_> {
    fn charge(&self, wait: Duration) -> wasmtime::Result<()> {
        self.call.budget.take_sleep(wait).map_err(|limit| wasmtime::Error::new(SleepLimitExceeded(limit)))
    }
}

impl monotonic_clock::Host for SleepBudgetedClock<'_> {
    fn now(&mut self) -> wasmtime::Result<Instant> {
        self.clock.now()
    }

    fn resolution(&mut self) -> wasmtime::Result<Instant> {
        self.clock.resolution()
    }

    fn subscribe_instant(&mut self, when: Instant) -> wasmtime::Result<Resource<DynPollable>> {
        let now = self.clock.now()?;
        self.charge(Duration::from_nanos(when.saturating_sub(now)))?;
        self.clock.subscribe_instant(when)
    }

    fn subscribe_duration(&mut self, duration: WasiDuration) -> wasmtime::Result<Resource<DynPollable>> {
        self.charge(Duration::from_nanos(duration))?;
        self.clock.subscribe_duration(duration)
    }
}

/// The [`HasData`] of [`SleepBudgetedClock`], for `add_to_linker`.
pub struct SleepBudgeted;

impl HasData for SleepBudgeted {
    type Data<'a> = SleepBudgetedClock<'a>;
}

/// The getter `add_to_linker` takes.
pub fn clock<T: CapabilityView>(state: &mut T) -> SleepBudgetedClock<'_> {
    let call = state.call().clone();
    SleepBudgetedClock { clock: state.clocks(), call }
}
