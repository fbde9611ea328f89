//! Test support for Switchboard: the fake Graph API (also runnable on its
//! own as `fake-graph`), used by the integration tests in `tests/tests/`
//! and the benchmarks in `tests/benches/`.

pub mod fake_graph;

/// `component` with a custom section named `name` appended: a different
/// file (another hash) with the same code, as a new "version" for the
/// start and reload benchmarks.
pub fn with_custom_section(component: &[u8], name: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut payload = Vec::new();
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section id
    leb(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}
