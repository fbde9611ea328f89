//! The SQLite table behind plugins' key-value state
//! (the `kv` capability plugins call): one row per (Page, plugin, key), the value
//! as a blob, an optional expiry. Expired rows read as absent and are
//! deleted by the regular prune.
//!
//! Limit checks happen inside the write transaction, so a compare-and-swap
//! or an increment is atomic and a namespace can never pass its limit; a
//! refused write is an outcome ([`KvOutcome`]), never an SQL error, so it
//! cannot fail the other writes committed with it.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::store::{KvOp, KvOutcome, KvWrite, WriteResult};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    page_id TEXT NOT NULL,
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    expires_ms INTEGER,
    PRIMARY KEY (page_id, plugin, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_ms) WHERE expires_ms IS NOT NULL;
";

/// The live value of a key and its expiry.
fn live(conn: &Connection, w: &KvWrite, now_ms: i64) -> rusqlite::Result<Option<(Vec<u8>, Option<i64>)>> {
    conn.prepare_cached(
        "SELECT value, expires_ms FROM kv WHERE page_id = ?1 AND plugin = ?2 AND key = ?3
         AND (expires_ms IS NULL OR expires_ms > ?4)",
    )?
    .query_row(params![w.page_id, w.plugin, w.key, now_ms], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()
}

/// Bytes the namespace uses now (keys and values of live rows).
fn namespace_bytes(conn: &Connection, w: &KvWrite, now_ms: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "SELECT COALESCE(SUM(length(CAST(key AS BLOB)) + length(value)), 0) FROM kv
         WHERE page_id = ?1 AND plugin = ?2 AND (expires_ms IS NULL OR expires_ms > ?3)",
    )?
    .query_row(params![w.page_id, w.plugin, now_ms], |r| r.get::<_, i64>(0))
    .map(|n| n.max(0) as usize)
}

/// Writes `value` if the namespace stays within its limit.
fn put(
    tx: &Transaction<'_>,
    w: &KvWrite,
    old: Option<&[u8]>,
    value: &[u8],
    expires_ms: Option<i64>,
    now_ms: i64,
) -> rusqlite::Result<Option<KvOutcome>> {
    let used = namespace_bytes(tx, w, now_ms)?;
    let after = used.saturating_sub(old.map_or(0, |o| o.len() + w.key.len())) + value.len() + w.key.len();
    if after > w.namespace_limit && after > used {
        return Ok(Some(KvOutcome::NamespaceFull { used, limit: w.namespace_limit }));
    }
    tx.prepare_cached("INSERT OR REPLACE INTO kv (page_id, plugin, key, value, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![w.page_id, w.plugin, w.key, value, expires_ms])?;
    Ok(None)
}

fn expiry(ttl_ms: Option<u64>, now_ms: i64) -> Option<i64> {
    ttl_ms.map(|t| now_ms.saturating_add(t.min(i64::MAX as u64) as i64))
}

pub fn apply(tx: &Transaction<'_>, w: &KvWrite, now_ms: i64) -> rusqlite::Result<WriteResult> {
    let current = live(tx, w, now_ms)?;
    let old = current.as_ref().map(|(v, _)| v.as_slice());
    let outcome = match &w.op {
        KvOp::Set { value, ttl_ms } => put(tx, w, old, value, expiry(*ttl_ms, now_ms), now_ms)?.unwrap_or(KvOutcome::Done),
        KvOp::Delete => {
            let n = tx
                .prepare_cached("DELETE FROM kv WHERE page_id = ?1 AND plugin = ?2 AND key = ?3")?
                .execute(params![w.page_id, w.plugin, w.key])?;
            KvOutcome::Existed(n == 1 && current.is_some())
        }
        KvOp::CompareAndSwap { expected, new, ttl_ms } => {
            if old != expected.as_deref() {
                KvOutcome::Swapped(false)
            } else {
                put(tx, w, old, new, expiry(*ttl_ms, now_ms), now_ms)?.unwrap_or(KvOutcome::Swapped(true))
            }
        }
        KvOp::Increment { delta } => {
            let number = match old {
                None => Some(0),
                Some(bytes) => std::str::from_utf8(bytes).ok().and_then(|s| s.trim().parse::<i64>().ok()),
            };
            match number.and_then(|n| n.checked_add(*delta)) {
                None => KvOutcome::NotANumber,
                Some(n) => {
                    let expires = current.as_ref().and_then(|(_, e)| *e);
                    put(tx, w, old, n.to_string().as_bytes(), expires, now_ms)?.unwrap_or(KvOutcome::Counter(n))
                }
            }
        }
    };
    Ok(WriteResult::Kv(outcome))
}

/// The `page_state` key that says a Page's namespaces are keyed by plugin id.
const KEYED_BY_ID: &str = "kv.keyed_by_plugin_id";

/// Renames each `(from, to)` namespace of `page_id` whose target is unused,
/// once per Page ([`crate::store::WriteOp::KvAdopt`]).
pub fn adopt(tx: &Transaction<'_>, page_id: &str, moves: &[(String, String)]) -> rusqlite::Result<WriteResult> {
    let done: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM page_state WHERE page_id = ?1 AND key = ?2)")?
        .query_row(params![page_id, KEYED_BY_ID], |r| r.get(0))?;
    if done {
        return Ok(WriteResult::Adopted(0));
    }
    let mut moved = 0;
    for (from, to) in moves {
        moved += tx.execute(
            "UPDATE kv SET plugin = ?3 WHERE page_id = ?1 AND plugin = ?2
               AND NOT EXISTS (SELECT 1 FROM kv WHERE page_id = ?1 AND plugin = ?3)",
            params![page_id, from, to],
        )?;
    }
    tx.prepare_cached("INSERT OR REPLACE INTO page_state (page_id, key, value) VALUES (?1, ?2, '1')")?
        .execute(params![page_id, KEYED_BY_ID])?;
    Ok(WriteResult::Adopted(moved))
}

pub fn get(conn: &Connection, page_id: &str, plugin: &str, key: &str, now_ms: i64) -> anyhow::Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT value FROM kv WHERE page_id = ?1 AND plugin = ?2 AND key = ?3 AND (expires_ms IS NULL OR expires_ms > ?4)")?
        .query_row(params![page_id, plugin, key, now_ms], |r| r.get(0))
        .optional()?)
}

pub fn keys(conn: &Connection, page_id: &str, plugin: &str, prefix: &str, limit: usize, now_ms: i64) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT key FROM kv WHERE page_id = ?1 AND plugin = ?2 AND key >= ?3 AND (expires_ms IS NULL OR expires_ms > ?4)
         ORDER BY key",
    )?;
    let mut rows = stmt.query(params![page_id, plugin, prefix, now_ms])?;
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(row) = rows.next()? else { break };
        let key: String = row.get(0)?;
        if !key.starts_with(prefix) {
            break;
        }
        out.push(key);
    }
    Ok(out)
}

/// Deletes expired rows; returns how many.
pub fn prune_expired(tx: &Transaction<'_>, now_ms: i64) -> rusqlite::Result<usize> {
    tx.execute("DELETE FROM kv WHERE expires_ms IS NOT NULL AND expires_ms <= ?1", params![now_ms])
}
