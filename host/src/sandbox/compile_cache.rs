//! The on-disk cache of compiled plugins, so a restart does not recompile.
//!
//! An entry is the wasmtime serialization of a compiled component, named
//! after what makes it valid: the engine (`Engine::precompile_compatibility_hash`
//! covers the wasmtime version, target, compiler flags and engine
//! configuration) and the SHA-256 of the plugin file. A changed engine or
//! file simply misses.
//!
//! Loading an entry maps native code into the process, so only the host may
//! have written it: the directory is created `0700`, entries `0600`, written
//! to an unpredictable temporary name opened with `O_EXCL | O_NOFOLLOW`
//! (nothing planted there is followed or reused), then renamed. An entry is
//! used only if it, its directory and every directory above are safe:
//! owned by this user or root, and writable by nobody else (a sticky
//! directory such as `/tmp` may be writable by all, since others cannot
//! rename what is in it). Otherwise the cache is skipped, with a warning.
//! A corrupt or incompatible entry is replaced by a fresh compilation.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::Digest as _;
use wasmtime::component::Component;
use wasmtime::Engine;

/// Where a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compilation {
    /// Loaded from the cache.
    Cached,
    /// Compiled now (and stored, if the cache is writable).
    Compiled,
}

/// A directory of compiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    /// Hex digest of the engine's compatibility hash.
    engine_key: String,
}

/// A `Hasher` that feeds SHA-256, so the key is stable across processes
/// and Rust versions (unlike `DefaultHasher`).
struct Sha256Hasher(sha2::Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        unreachable!("only the digest is used")
    }
}

impl CompileCache {
    /// Opens (creating) the cache directory `dir` for `engine`.
    pub fn open(dir: &Path, engine: &Engine) -> anyhow::Result<CompileCache> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the compiled-plugin cache {}", dir.display()))?;
        let mut hasher = Sha256Hasher(sha2::Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..12]);
        Ok(CompileCache { dir: dir.to_path_buf(), engine_key })
    }

    fn entry(&self, file_hash: &str) -> PathBuf {
        self.dir.join(format!("{}-{file_hash}.cwasm", self.engine_key))
    }

    /// The component for `bytes` (whose SHA-256 is `file_hash`): from the
    /// cache when a trustworthy entry exists, else compiled and stored.
    /// Blocking: call it off the async threads.
    pub fn load_or_compile(&self, engine: &Engine, bytes: &[u8], file_hash: &str) -> anyhow::Result<(Component, Compilation)> {
        let entry = self.entry(file_hash);
        if self.trusted(&entry) {
            // SAFETY: the entry was written by this host (see `trusted`)
            // from `Component::serialize`; wasmtime checks its header and
            // engine compatibility and fails cleanly on a mismatch.
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => return Ok((component, Compilation::Cached)),
                Err(e) => tracing::warn!(entry = %entry.display(), error = %e, "compiled-plugin cache entry unusable; recompiling"),
            }
        }
        let component = Component::new(engine, bytes).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        if let Err(e) = self.store(&entry, &component) {
            tracing::warn!(entry = %entry.display(), error = %e, "could not write the compiled-plugin cache; the next start compiles again");
        }
        Ok((component, Compilation::Compiled))
    }

    /// Whether `entry` exists and nobody but this user could have written
    /// it, its directory or a directory above.
    fn trusted(&self, entry: &Path) -> bool {
        let private = |path: &Path| {
            fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_symlink() && m.uid() == current_uid() && m.mode() & 0o022 == 0)
        };
        if !private(entry) {
            if entry.exists() {
                tracing::warn!(entry = %entry.display(), "ignoring a compiled-plugin cache entry that others could have written");
            }
            return false;
        }
        match unsafe_directory(&self.dir) {
            None => private(&self.dir),
            Some(dir) => {
                tracing::warn!(cache = %self.dir.display(), unsafe_dir = %dir.display(),
                    "ignoring the compiled-plugin cache: a directory on its path is writable by others or owned by another user");
                false
            }
        }
    }

    fn store(&self, entry: &Path, component: &Component) -> anyhow::Result<()> {
        if let Some(dir) = unsafe_directory(&self.dir) {
            anyhow::bail!("{} is writable by others or owned by another user", dir.display());
        }
        let bytes = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
        let tmp = self.dir.join(format!(".{:016x}.tmp", fastrand::u64(..)));
        let mut file =
            fs::OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).mode(0o600).open(&tmp)?;
        let written = file.write_all(&bytes).and_then(|()| file.sync_all()).and_then(|()| fs::rename(&tmp, entry));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        Ok(written?)
    }

    /// Removes entries for other engines or files not in `keep` (hashes),
    /// so the cache does not grow with every deploy.
    pub fn prune(&self, keep: &[String]) {
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let current = name
                .strip_suffix(".cwasm")
                .and_then(|n| n.split_once('-'))
                .is_some_and(|(engine, hash)| engine == self.engine_key && keep.iter().any(|k| k == hash));
            if !current {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// The first directory from `dir` up to `/` that someone other than this
/// user (or root) could change: owned by another user, or writable by group
/// or others without the sticky bit. A symlink on the way is judged by
/// where it points, and so is everything above that.
fn unsafe_directory(dir: &Path) -> Option<PathBuf> {
    let Ok(dir) = fs::canonicalize(dir) else { return Some(dir.to_path_buf()) };
    dir.ancestors()
        .find(|d| {
            fs::metadata(d).map_or(true, |m| {
                let owner_ok = m.uid() == current_uid() || m.uid() == 0;
                let shared_writable = m.mode() & 0o022 != 0 && m.mode() & 0o1000 == 0;
                !owner_ok || shared_writable
            })
        })
        .map(Path::to_path_buf)
}

/// The effective user id, from the owner of a file this process creates.
fn current_uid() -> u32 {
    static UID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UID.get_or_init(|| fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    const WAT: &str = "(component (core module (func (export \"f\"))))";

    fn setup() -> (tempfile::TempDir, Engine, CompileCache, Vec<u8>, String) {
        let dir = tempfile::tempdir().expect("tmp");
        let engine = Engine::default();
        let cache = CompileCache::open(&dir.path().join("compiled"), &engine).expect("opens");
        // wasmtime compiles the text format too.
        let bytes = WAT.as_bytes().to_vec();
        let hash = crate::sandbox::file_hash(&bytes);
        (dir, engine, cache, bytes, hash)
    }

    #[test]
    fn compiles_once_then_loads_from_disk() {
        let (_dir, engine, cache, bytes, hash) = setup();
        assert_eq!(cache.load_or_compile(&engine, &bytes, &hash).expect("compiles").1, Compilation::Compiled);
        assert_eq!(cache.load_or_compile(&engine, &bytes, &hash).expect("loads").1, Compilation::Cached);
        let mode = fs::metadata(cache.entry(&hash)).expect("entry").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(fs::metadata(&cache.dir).expect("dir").permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn a_corrupt_or_foreign_entry_is_recompiled() {
        let (_dir, engine, cache, bytes, hash) = setup();
        let entry = cache.entry(&hash);
        fs::write(&entry, b"not a compiled component").expect("written");
        fs::set_permissions(&entry, fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(cache.load_or_compile(&engine, &bytes, &hash).expect("recompiles").1, Compilation::Compiled);
        assert_eq!(cache.load_or_compile(&engine, &bytes, &hash).expect("loads").1, Compilation::Cached);
        // Writable by others: never mapped, whatever it holds.
        fs::set_permissions(&entry, fs::Permissions::from_mode(0o666)).expect("chmod");
        assert_eq!(cache.load_or_compile(&engine, &bytes, &hash).expect("recompiles").1, Compilation::Compiled);
    }

    /// A cache under a directory others can write to (no sticky bit) could
    /// have its entries swapped: it is not used, and nothing is written.
    #[test]
    fn a_cache_below_a_directory_others_can_write_is_not_used() {
        let dir = tempfile::tempdir().expect("tmp");
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).expect("mkdir");
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).expect("chmod");
        let engine = Engine::default();
        let cache = CompileCache::open(&shared.join("me").join("compiled"), &engine).expect("opens");
        let (bytes, hash) = (WAT.as_bytes().to_vec(), crate::sandbox::file_hash(WAT.as_bytes()));
        assert_eq!(cache.load_or_compile(&engine, &bytes, &hash).expect("compiles").1, Compilation::Compiled);
        assert!(!cache.entry(&hash).exists(), "nothing is stored where others could swap it");
        // Planted by another writer of `shared`, with the right mode.
        fs::write(cache.entry(&hash), b"planted").expect("written");
        fs::set_permissions(cache.entry(&hash), fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(cache.load_or_compile(&engine, &bytes, &hash).expect("compiles").1, Compilation::Compiled);
        // Sticky, as /tmp is: others cannot rename what is in it.
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).expect("chmod");
        assert_eq!(unsafe_directory(&cache.dir), None);
    }

    /// The temporary file is new (`O_EXCL`) and not followed: a symlink
    /// planted under the very name it would take is never written through.
    #[test]
    fn a_planted_link_is_not_written_through() {
        let (dir, engine, cache, bytes, hash) = setup();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").expect("written");
        fastrand::seed(7);
        let name = format!(".{:016x}.tmp", fastrand::u64(..));
        std::os::unix::fs::symlink(&victim, cache.dir.join(name)).expect("link");
        fastrand::seed(7);
        assert_eq!(cache.load_or_compile(&engine, &bytes, &hash).expect("compiles").1, Compilation::Compiled);
        assert_eq!(fs::read(&victim).expect("victim"), b"keep");
        assert!(!cache.entry(&hash).exists(), "the write was refused, not redirected");
    }

    #[test]
    fn another_engine_configuration_misses_and_prune_keeps_only_current_entries() {
        let (dir, engine, cache, bytes, hash) = setup();
        cache.load_or_compile(&engine, &bytes, &hash).expect("compiles");
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = Engine::new(&config).expect("engine");
        let other_cache = CompileCache::open(&dir.path().join("compiled"), &other).expect("opens");
        assert_ne!(other_cache.engine_key, cache.engine_key);
        assert_eq!(other_cache.load_or_compile(&other, &bytes, &hash).expect("compiles").1, Compilation::Compiled);
        cache.prune(std::slice::from_ref(&hash));
        let left: Vec<_> = fs::read_dir(&cache.dir).expect("dir").flatten().map(|e| e.path()).collect();
        assert_eq!(left, [cache.entry(&hash)]);
    }
}
