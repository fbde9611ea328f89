//! What one `Store` holds for one invocation: the sandboxed WASI context,
//! the memory limiter and the host capabilities acting for this event.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::config::PluginLimits;
use crate::sandbox::capabilities::{
    Budget, CallContext, CapabilityView, Conversation, Events, Handover, Invocation, Kv, Log, Messenger, OutgoingHttp, Profile,
};

/// Most random bytes one `get-random-bytes` call returns.
const RANDOM_BYTES: u64 = 64 * 1024;
/// Most resources one invocation holds at once: an HTTP request with its
/// response and streams takes about ten.
const RESOURCES: usize = 256;
/// Largest HTTP fields resource (headers), as wasi-http measures it in
/// memory; the resource count bounds their total to `RESOURCES` times this.
const HTTP_FIELDS_BYTES: usize = 16 * 1024;
/// What the host keeps of a plugin's stderr: where a panic's message goes.
const STDERR_BYTES: usize = 4096;

pub struct InvocationState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outgoing_http: OutgoingHttp,
    table: ResourceTable,
    limiter: MemoryLimiter,
    /// The plugin's stderr, kept only to read a panic's message from: a
    /// channel of its own, so no log line can pass for a panic.
    stderr: MemoryOutputPipe,
    call: Arc<CallContext>,
    messenger: Messenger,
    handover: Handover,
    conversation: Conversation,
    profile: Profile,
    kv: Kv,
    log: Log,
}

impl InvocationState {
    pub fn new(invocation: Invocation, limits: &PluginLimits) -> Self {
        let call = Arc::new(CallContext {
            invocation,
            budget: Budget::new(limits),
            invalid_output: Default::default(),
            last_verdict: Default::default(),
        });
        // No preopens, no env, no args, no sockets: WasiCtxBuilder grants
        // nothing unless asked. Clocks and randomness stay available.
        // What the host holds for the plugin outside its linear memory is
        // bounded too: random bytes per call, resources (streams, pollables,
        // HTTP fields...) and the size of each HTTP fields resource.
        let stderr = MemoryOutputPipe::new(STDERR_BYTES);
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .max_random_size(RANDOM_BYTES)
            .build();
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(HTTP_FIELDS_BYTES);
        let mut table = ResourceTable::new();
        table.set_max_capacity(RESOURCES);
        InvocationState {
            wasi,
            http,
            outgoing_http: OutgoingHttp::new(call.clone(), limits),
            table,
            limiter: MemoryLimiter { max_memory: limits.memory_bytes(), used: 0, hit: false },
            stderr,
            messenger: Messenger::new(call.clone()),
            handover: Handover::new(call.clone()),
            conversation: Conversation::new(call.clone()),
            profile: Profile::new(call.clone()),
            kv: Kv::new(call.clone()),
            log: Log::new(call.clone()),
            call,
        }
    }

    /// The invocation's resource table, where the host puts what it lends
    /// the plugin (the 0.2 `event`).
    pub fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    pub fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }

    /// True once the guest asked for more memory than its limit.
    pub fn limits_hit(&self) -> bool {
        self.limiter.hit
    }

    /// Why the host refused a message the plugin tried to send, if it did.
    pub fn invalid_output(&self) -> Option<&str> {
        self.call.invalid_output.get().map(String::as_str)
    }

    /// The plugin's panic message, if it panicked: what follows
    /// `panicked at ` on its stderr (Rust's panic hooks write it there), on
    /// one line, at most 1024 characters.
    pub fn panic_message(&self) -> Option<String> {
        let stderr = self.stderr.contents();
        let text = String::from_utf8_lossy(&stderr);
        let (_, message) = text.split_once("panicked at ")?;
        Some(message.trim_end().chars().take(1024).map(|c| if c.is_control() { ' ' } else { c }).collect())
    }

    /// The last refusal a host call gave the plugin.
    pub fn last_verdict(&self) -> Option<crate::sandbox::capabilities::HostVerdict> {
        self.call.last_verdict()
    }

    /// True once a host call was refused for the quota.
    pub fn quota_hit(&self) -> bool {
        self.call.budget.quota_hit()
    }

    /// Time spent waiting in host calls, which does not count as guest CPU.
    pub fn host_time(&self) -> Duration {
        self.call.budget.host_time()
    }
}

impl CapabilityView for InvocationState {
    fn messenger(&mut self) -> &mut Messenger {
        &mut self.messenger
    }
    fn handover(&mut self) -> &mut Handover {
        &mut self.handover
    }
    fn conversation(&mut self) -> &mut Conversation {
        &mut self.conversation
    }
    fn profile(&mut self) -> &mut Profile {
        &mut self.profile
    }
    fn kv(&mut self) -> &mut Kv {
        &mut self.kv
    }
    fn log(&mut self) -> &mut Log {
        &mut self.log
    }
    fn events(&mut self) -> Events<'_> {
        Events { table: &mut self.table }
    }
    fn call(&self) -> &Arc<CallContext> {
        &self.call
    }
}

impl WasiHttpView for InvocationState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outgoing_http }
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Caps the linear memory of all the component's memories together (a
/// component can have several core instances, each with its own), and
/// remembers that it had to refuse, so an abort after a failed allocation
/// is reported as out-of-memory, not as a trap.
struct MemoryLimiter {
    max_memory: usize,
    /// Bytes of all memories so far: each starts by growing from 0.
    used: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.used.saturating_sub(current).saturating_add(desired);
        if total > self.max_memory {
            self.hit = true;
            return Ok(false);
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::component::{Component, Linker};
    use wasmtime::{Engine, Store};

    use super::*;

    /// Two core instances, each with `pages` 64 KiB pages of memory.
    fn two_memories(pages: u32) -> String {
        format!(
            "(component
               (core module $m (memory {pages}))
               (core instance (instantiate $m))
               (core instance (instantiate $m)))"
        )
    }

    fn instantiate(wat: &str, memory_mib: u64) -> Result<(), String> {
        let engine = Engine::default();
        let component = Component::new(&engine, wat).expect("compiles");
        let limits = PluginLimits { memory_mib, ..PluginLimits::default() };
        let mut store = Store::new(&engine, InvocationState::new(Invocation::describe(std::path::Path::new("t")), &limits));
        store.limiter(|s| s.limiter());
        Linker::new(&engine).instantiate(&mut store, &component).map(drop).map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn the_memory_limit_holds_for_all_memories_together() {
        // 2 × 24 MiB: each fits in 32 MiB, both together do not.
        assert!(instantiate(&two_memories(384), 64).is_ok());
        assert!(instantiate(&two_memories(384), 32).is_err(), "48 MiB in two memories under a 32 MiB limit");
    }
}
