//! Cranelift's incremental compilation cache, kept in memory for the life
//! of the process: compiled functions by the hash of their input.
//!
//! A TypeScript or Python component is mostly its language's engine
//! (StarlingMonkey, CPython), the same functions in every plugin built by
//! the same toolchain; the bot itself is data in the initial memory. So a
//! new version of such a plugin, or a second plugin of that language,
//! compiles only what differs: a hot reload of a 16 MB component takes a
//! fraction of its cold compile (see docs/benchmarks.md). Held in memory
//! only: native code is written to disk solely by the compile cache, with
//! its ownership checks. It grows with the distinct functions compiled,
//! which plugins of one toolchain share.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Debug, Default)]
pub struct FunctionCache {
    entries: RwLock<HashMap<Vec<u8>, Vec<u8>>>,
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(key).map(|v| Cow::Owned(v.clone()))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).insert(key.to_vec(), value);
        true
    }
}
