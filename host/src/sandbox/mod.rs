//! The plugin sandbox: compiling plugin components and running one event
//! through one plugin, with the host capabilities plugins call
//! ([`capabilities`], one unit per WIT interface) and the bindings
//! generated from `wit/` ([`bindings`], a leaf).
//!
//! * [`PluginRuntime`] owns the wasmtime `Engine` (component model, async,
//!   pooling allocator, epoch interruption), the `Linker` with every host
//!   capability registered (see [`crate::sandbox::capabilities`]) and the epoch
//!   ticker thread.
//! * [`CompiledPlugin`] is a component compiled once per file and
//!   pre-linked (`InstancePre`), plus what its `describe` export declared.
//!   With a [`CompileCache`], compiled code is kept on disk across restarts.
//! * [`PluginRuntime::invoke`] instantiates a **fresh** instance for every
//!   event, in a fresh `Store`, so nothing leaks between events or Pages, and
//!   throws the Store away afterwards, whatever happened.
//!
//! Limits per invocation: guest CPU time (epoch ticks, host-call time
//! excluded), wall time (a timeout around the whole call), linear memory
//! (a `StoreLimiter`), and a quota of host calls. Plugins get WASI with no
//! preopened directories, no environment, no arguments and no network.

pub mod bindings;
pub mod capabilities;
mod compile_cache;
mod contract;
mod event_model;
mod function_cache;
mod instance;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline};

use crate::bounds;
use crate::config::PluginLimits;
use crate::model::InboundEvent;
use capabilities::Invocation;

pub use compile_cache::{Compilation, CompileCache};
pub use contract::{HandleFailure, Verdict};
pub use instance::InvocationState;

use contract::ContractPre;

/// How often the engine's epoch advances; the CPU limit is checked at this
/// granularity.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// SHA-256 of a plugin file, hex.
pub fn file_hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// How an invocation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginFailure {
    #[error("used more than {0:?} of CPU time")]
    CpuTimeout(Duration),
    #[error("did not finish within {0:?} of wall time")]
    WallTimeout(Duration),
    #[error("asked to sleep past its {0:?} for the event (limits.sleep_ms)")]
    SleepLimit(Duration),
    #[error("ran out of its {0} MiB of memory")]
    OutOfMemory(u64),
    #[error("panicked at {0}")]
    Panic(String),
    #[error("overflowed its stack (a write below linear-memory address 0): {0}")]
    StackOverflow(String),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("returned an error: {0}")]
    Error(String),
    /// The plugin said trying again would fail the same way.
    #[error("returned a permanent error: {0}")]
    Permanent(String),
    #[error("failed after using up its {0} host calls for this event")]
    QuotaExceeded(u32),
    #[error("failed after trying to send an invalid message: {0}")]
    InvalidOutput(String),
    #[error("not called: its circuit is open after repeated failures (for {0:?})")]
    CircuitOpen(Duration),
    /// The plugin failed after the host refused one of its calls for a
    /// reason trying again cannot fix (`cause`); not the plugin's fault.
    #[error("returned an error after a refusal that retrying cannot fix ({cause}): {message}")]
    Refused { cause: String, message: String },
    /// The plugin failed after a call the host could not complete for now
    /// (rate limit, Graph API unreachable, the Page's circuit open).
    #[error("returned an error after a call that may work later ({cause}): {message}")]
    HostUnavailable { cause: String, message: String },
}

/// What the dispatcher does with an event after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Try again after a backoff, then dead-letter.
    Retry,
    /// A plugin fault that a retry repeats exactly: a dead letter now, to
    /// replay once the plugin is fixed.
    DeadLetter,
    /// The host's verdict, final: the event is finished with its outcome
    /// recorded, not retried.
    Finish,
}

impl PluginFailure {
    /// The failure's class, for counters and logs.
    pub fn class(&self) -> &'static str {
        match self {
            PluginFailure::CpuTimeout(_) => "cpu-timeout",
            PluginFailure::WallTimeout(_) => "wall-timeout",
            PluginFailure::SleepLimit(_) => "sleep-limit",
            PluginFailure::OutOfMemory(_) => "out-of-memory",
            PluginFailure::Panic(_) => "panic",
            PluginFailure::StackOverflow(_) => "stack-overflow",
            PluginFailure::Trap(_) => "trap",
            PluginFailure::Error(_) => "error",
            PluginFailure::Permanent(_) => "permanent-error",
            PluginFailure::QuotaExceeded(_) => "quota-exceeded",
            PluginFailure::InvalidOutput(_) => "invalid-output",
            PluginFailure::CircuitOpen(_) => "circuit-open",
            PluginFailure::Refused { .. } => "host-refused",
            PluginFailure::HostUnavailable { .. } => "host-unavailable",
        }
    }

    /// Whether the plugin itself is at fault: only these count toward its
    /// circuit. A refusal by the host or Meta, or the plugin's own circuit,
    /// says nothing about the plugin's health.
    pub fn is_plugin_fault(&self) -> bool {
        !matches!(self, PluginFailure::Refused { .. } | PluginFailure::HostUnavailable { .. } | PluginFailure::CircuitOpen(_))
    }

    pub fn disposition(&self) -> Disposition {
        match self {
            PluginFailure::Refused { .. } => Disposition::Finish,
            PluginFailure::InvalidOutput(_) | PluginFailure::Permanent(_) => Disposition::DeadLetter,
            _ => Disposition::Retry,
        }
    }
}

/// Why an invocation trapped, most specific first.
fn classify(store: &Store<InvocationState>, error: wasmtime::Error, limits: &PluginLimits) -> PluginFailure {
    if error.downcast_ref::<CpuLimitExceeded>().is_some() {
        return PluginFailure::CpuTimeout(limits.cpu());
    }
    if let Some(exceeded) = error.downcast_ref::<crate::sandbox::capabilities::SleepLimitExceeded>() {
        return PluginFailure::SleepLimit(exceeded.0);
    }
    if store.data().limits_hit() {
        return PluginFailure::OutOfMemory(limits.memory_mib);
    }
    if store.data().quota_hit() {
        return PluginFailure::QuotaExceeded(limits.host_calls);
    }
    if let Some(panic) = store.data().panic_message() {
        return PluginFailure::Panic(panic);
    }
    let cause = error.root_cause().to_string();
    let chain = format!("{error:#}");
    if is_shadow_stack_overflow(&chain) {
        return PluginFailure::StackOverflow(cause);
    }
    tracing::debug!("plugin trap: {error:?}");
    // The trap and the function it happened in; the whole backtrace is
    // in the debug log.
    let frame =
        error.downcast_ref::<wasmtime::WasmBacktrace>().and_then(|bt| bt.frames().first().and_then(|f| f.func_name().map(str::to_string)));
    // The function's name comes from the plugin's own name section.
    PluginFailure::Trap(bounds::capped(
        match frame {
            Some(frame) => format!("{cause} in {frame}"),
            None => cause,
        },
        bounds::ERROR_CHARS,
    ))
}

/// Whether a trap is a stack overflow of the guest's own stack. Rust (and
/// C) plugins keep their stack in linear memory, growing down from a
/// fixed size; running past its bottom wraps the address below zero, so the
/// fault is at an address just under 4 GiB (plus the access's offset).
/// Wasmtime reports that as `memory fault at wasm address 0x...`.
fn is_shadow_stack_overflow(trap: &str) -> bool {
    const MARK: &str = "memory fault at wasm address 0x";
    trap.find(MARK)
        .and_then(|i| {
            let hex: String = trap[i + MARK.len()..].chars().take_while(char::is_ascii_hexdigit).collect();
            u64::from_str_radix(&hex, 16).ok()
        })
        .is_some_and(|address| address >= 0xF000_0000)
}

/// Marker carried by the trap the epoch callback raises.
#[derive(Debug, thiserror::Error)]
#[error("CPU time limit exceeded")]
struct CpuLimitExceeded;

/// What a plugin says about itself, from its `describe` export.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    /// Event kinds it wants; empty means all.
    pub event_kinds: Vec<String>,
}

/// A plugin file compiled and linked, ready to instantiate.
pub struct CompiledPlugin {
    pub path: PathBuf,
    pub info: PluginInfo,
    /// SHA-256 of the file, hex: tells a real change from a touch.
    pub hash: String,
    /// Whether the code came from the compile cache.
    pub compilation: Compilation,
    /// When this version was loaded, in epoch milliseconds.
    pub loaded_at_ms: u64,
    pre: ContractPre,
}

impl CompiledPlugin {
    /// The `switchboard:plugin` version it was built against (`0.2.0`).
    pub fn contract(&self) -> &'static str {
        self.pre.version()
    }

    pub fn wants(&self, kind: crate::model::EventKind) -> bool {
        self.info.event_kinds.is_empty() || self.info.event_kinds.iter().any(|k| k == kind.as_str())
    }
}

/// The wasmtime engine and linker shared by every plugin.
#[derive(Clone)]
pub struct PluginRuntime {
    engine: Engine,
    linker: Arc<Linker<InvocationState>>,
    limits: PluginLimits,
    cache: Option<CompileCache>,
    /// False only for the benchmark baseline (see [`PluginRuntime::without_limits`]).
    enforce_limits: bool,
}

impl PluginRuntime {
    pub fn new(limits: PluginLimits) -> anyhow::Result<Self> {
        Self::build(limits, true, true)
    }

    /// A runtime that enforces no CPU, wall-time or memory limit: no epoch
    /// interruption, no timeout, no limiter. Only for measuring what the
    /// limits cost (`cargo bench --bench plugin_cost`); never serve with it.
    #[doc(hidden)]
    pub fn without_limits(limits: PluginLimits) -> anyhow::Result<Self> {
        Self::build(limits, false, true)
    }

    /// A runtime that copies each component's initial memory into every
    /// instance instead of mapping it copy-on-write. Only for measuring
    /// what copy-on-write saves (`cargo bench --bench plugin_cost`).
    #[doc(hidden)]
    pub fn copying_memory_images(limits: PluginLimits) -> anyhow::Result<Self> {
        Self::build(limits, true, false)
    }

    fn build(limits: PluginLimits, enforce_limits: bool, memory_init_cow: bool) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(1000)
            .total_core_instances(4000)
            .total_memories(2000)
            .total_tables(2000)
            .max_memories_per_component(4)
            .max_core_instances_per_component(16)
            .max_tables_per_component(8)
            .max_memory_size(limits.memory_bytes())
            // A fresh instance per event makes slot reset a hot path.
            // `madvise` decommits cost TLB shootdowns on every core, so the
            // low part of a memory stays resident and is reset in place.
            // With PAGEMAP_SCAN (Linux ≥ 6.7) only the pages the event
            // dirtied are zeroed, so more can stay resident; without it the
            // whole resident part is zeroed every time. What an instance
            // grew past that part is decommitted as soon as it ends (no
            // batching): batched, a few plugins touching their whole memory
            // once would keep batch × memory_mib resident.
            .decommit_batch_size(1)
            .table_keep_resident(1 << 16)
            .linear_memory_keep_resident(if PoolingAllocationConfig::is_pagemap_scan_available() { 512 << 10 } else { 256 << 10 })
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(enforce_limits)
            // The initial memory is mapped copy-on-write: a TypeScript or
            // Python component's 12 to 16 MiB image is not copied into every
            // event's instance (6.0 → 0.8 ms per event for TypeScript echo,
            // 9.5 → 2.4 ms for Python; Rust plugins alike).
            .memory_init_cow(memory_init_cow)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        config.enable_incremental_compilation(Arc::new(function_cache::FunctionCache::default())).map_err(|e| anyhow::anyhow!("{e}"))?;
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("{e}")).context("creating the wasmtime engine")?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow::anyhow!("{e}"))?;
        capabilities::add_to_linker(&mut linker).map_err(|e| anyhow::anyhow!("{e}"))?;

        // The ticker only holds a weak handle so it stops with the engine.
        let weak = engine.weak();
        if enforce_limits {
            std::thread::Builder::new().name("epoch-ticker".into()).spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        }
        Ok(PluginRuntime { engine, linker: Arc::new(linker), limits, cache: None, enforce_limits })
    }

    /// Keeps compiled plugins in `dir` across restarts (see [`CompileCache`]).
    pub fn with_compile_cache(mut self, dir: &Path) -> anyhow::Result<Self> {
        self.cache = Some(CompileCache::open(dir, &self.engine)?);
        Ok(self)
    }

    pub fn compile_cache(&self) -> Option<&CompileCache> {
        self.cache.as_ref()
    }

    pub fn limits(&self) -> &PluginLimits {
        &self.limits
    }

    /// Compiles `path`, links it against our world and asks it to describe
    /// itself (which also proves it instantiates and runs).
    pub async fn load(&self, path: &Path) -> anyhow::Result<CompiledPlugin> {
        let bytes = std::fs::read(path).with_context(|| format!("reading plugin {}", path.display()))?;
        // The engine also takes WAT text, whose parse errors would quote
        // whatever the file holds: a file that is not a wasm binary is
        // named as such instead.
        if !bytes.starts_with(b"\0asm") {
            anyhow::bail!(
                "{} is not a WebAssembly file (it does not start with the wasm magic bytes); build the plugin as a component (`cargo build --release --target wasm32-wasip2`) and point the config at the .wasm",
                path.display()
            );
        }
        let hash = file_hash(&bytes);
        let (engine, cache, key) = (self.engine.clone(), self.cache.clone(), hash.clone());
        let (component, compilation) = tokio::task::spawn_blocking(move || match cache {
            Some(cache) => cache.load_or_compile(&engine, &bytes, &key),
            None => Component::new(&engine, &bytes).map(|c| (c, Compilation::Compiled)).map_err(|e| anyhow::anyhow!("{e:?}")),
        })
        .await?
        .with_context(|| format!("{} is not a valid WebAssembly component", path.display()))?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{} does not fit the switchboard:plugin world", path.display()))?;
        let pre = ContractPre::new(instance_pre).with_context(|| format!("{} is not a Switchboard plugin", path.display()))?;

        let mut store = self.store(Invocation::describe(path), &self.limits);
        let info = tokio::time::timeout(self.limits.wall(), pre.describe(&mut store))
            .await
            .map_err(|_| anyhow::anyhow!("describe() did not return within {:?}", self.limits.wall()))?
            .map_err(|e| anyhow::anyhow!("describe() failed: {e}"))?;
        let oversized = (info.name.len() > bounds::ID_BYTES || info.version.len() > bounds::ID_BYTES)
            || info.event_kinds.len() > 64
            || info.event_kinds.iter().any(|k| k.len() > bounds::ID_BYTES);
        if oversized {
            anyhow::bail!(
                "{}: describe() returned a name, version or event kind over {} bytes, or more than 64 event kinds",
                path.display(),
                bounds::ID_BYTES
            );
        }
        Ok(CompiledPlugin { path: path.to_path_buf(), info, hash, compilation, loaded_at_ms: crate::model::now_ms(), pre })
    }

    /// Runs `event` through `plugin` in a fresh instance.
    pub async fn invoke(
        &self,
        plugin: &CompiledPlugin,
        event: &Arc<InboundEvent>,
        invocation: Invocation,
        limits: &PluginLimits,
    ) -> Result<Verdict, PluginFailure> {
        let mut store = self.store(invocation, limits);
        let call = plugin.pre.handle(&mut store, event);
        let outcome = if self.enforce_limits {
            match tokio::time::timeout(limits.wall(), call).await {
                Err(_) => return Err(PluginFailure::WallTimeout(limits.wall())),
                Ok(outcome) => outcome,
            }
        } else {
            call.await
        };
        match outcome {
            Ok(Ok(verdict)) => Ok(verdict),
            // A plugin that failed after being refused a host call failed
            // because of the quota, whatever it reported.
            Ok(Err(_)) if store.data().quota_hit() => Err(PluginFailure::QuotaExceeded(limits.host_calls)),
            Ok(Err(_)) if store.data().invalid_output().is_some() => {
                Err(PluginFailure::InvalidOutput(store.data().invalid_output().unwrap_or_default().to_string()))
            }
            // A plugin that says its failure is permanent is believed: it
            // goes to the dead letters, even after a refusal. Otherwise,
            // after a refusal, the host's verdict is the cause (retried when
            // retrying can help, finished when not); else the plugin's own.
            Ok(Err(failure)) => Err(match (store.data().last_verdict(), bounds::capped(failure.message, bounds::ERROR_CHARS)) {
                (Some(verdict), message) if failure.permanent => {
                    PluginFailure::Permanent(format!("{message} (after the host refused a call: {})", verdict.cause))
                }
                (None, message) if failure.permanent => PluginFailure::Permanent(message),
                (Some(verdict), message) if verdict.retryable => PluginFailure::HostUnavailable { cause: verdict.cause, message },
                (Some(verdict), message) => PluginFailure::Refused { cause: verdict.cause, message },
                (None, message) => PluginFailure::Error(message),
            }),
            Err(error) => Err(classify(&store, error, limits)),
        }
    }

    /// A fresh Store with this invocation's limits armed.
    fn store(&self, invocation: Invocation, limits: &PluginLimits) -> Store<InvocationState> {
        let state = InvocationState::new(invocation, limits);
        let mut store = Store::new(&self.engine, state);
        if !self.enforce_limits {
            return store;
        }
        store.limiter(|state| state.limiter());
        let cpu_limit = limits.cpu();
        let (mut last, mut last_host, mut guest_time) = (Instant::now(), Duration::ZERO, Duration::ZERO);
        store.set_epoch_deadline(1);
        // Each tick: charge the guest the time since the last tick, minus
        // what it spent waiting in host calls, then yield so a busy guest
        // cannot starve the executor. A gap much longer than a tick means
        // the guest was not running (blocked in a WASI poll, such as an
        // outgoing HTTP request, or not scheduled): at most two ticks of it
        // are charged.
        store.epoch_deadline_callback(move |ctx| {
            let (now, host) = (Instant::now(), ctx.data().host_time());
            let ran = now.duration_since(last).saturating_sub(host.saturating_sub(last_host));
            guest_time += ran.min(2 * EPOCH_TICK);
            (last, last_host) = (now, host);
            if guest_time > cpu_limit {
                return Err(wasmtime::Error::new(CpuLimitExceeded));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }
}
