//! Test support for Switchboard: the fake Graph API (also runnable on its
//! own as `fake-graph`), used by the integration tests in `tests/tests/`
//! and the benchmarks in `tests/benches/`.

pub mod fake_graph;
