//! Bindings generated from `wit/`, one module per published version of
//! the contract: the contract is the WIT, never hand-written ABI. A leaf:
//! it uses nothing of the host but the event model (the 0.2 `event`
//! resource holds an event).
//!
//! * [`v0_2`]: `switchboard:plugin@0.2.0` (`wit/switchboard.wit`), the
//!   current contract. WASI and `wasi:http` come from wasmtime-wasi's own
//!   bindings, so the host links them once for every version.
//! * [`v0_1`]: `switchboard:plugin@0.1.0` (`wit/versions/0.1.0/`), kept so
//!   plugins built against it keep running (`super::contract`).

/// What a 0.2 `event` resource holds: the event, shared by the plugins of
/// its chain.
pub struct EventResource(pub std::sync::Arc<crate::model::InboundEvent>);

pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "plugin",
        // An event accessor traps on a handle the host never gave out; it
        // only reads memory, so it is a plain (not async) host function.
        imports: { "switchboard:plugin/events": trappable, default: async },
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi": wasmtime_wasi::p2::bindings,
            "switchboard:plugin/events.event": super::EventResource,
        },
        require_store_data_send: true,
    });
}

pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/versions/0.1.0",
        world: "plugin",
        imports: { default: async },
        exports: { default: async },
    });
}
