//! Bindings generated from `wit/`: the contract is the WIT, never
//! hand-written ABI. A leaf: it uses nothing of the host.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    imports: { default: async },
    exports: { default: async },
});
