//! The embedded store: SQLite in WAL mode with `synchronous=FULL`, so a
//! committed transaction survives `kill -9` and power loss.
//!
//! Tables:
//! * `inbox`: one row per accepted event, unique on `(timestamp, page_id,
//!   event_id)` (business events: on `(page_id, event_id)`), and found again
//!   by its `seq`; `state` is 0 pending, 1 complete, 2 dead letter, 3 dead
//!   letter marked for retry.
//! * `outbox`: one row per successful send, keyed by the event and the
//!   send's slot within it.
//! * `conversations`, `page_state`, `notification_tokens`: see
//!   [`conversations`].
//! * `kv`: plugins' key-value state, see [`kv`].
//! * `problems`: the recent problems, see [`problems`].
//! * `erasures`, `deletion_requests`: see [`people`].

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rusqlite::{params, Connection, OptionalExtension};

mod conversations;
mod kv;
mod people;
mod problems;

use super::{Backend, DeadLetter, InboxSeq, PendingEvent, TokenQuery, WriteOp, WriteResult};
use crate::model;
use crate::store::NotificationToken;

// Event states. Queries spell them out as literals where they filter on
// them: SQLite uses a partial index only when the query's WHERE repeats the
// index's own condition, which a bound parameter never does.
const PENDING: i64 = 0;
const COMPLETE: i64 = 1;
const DEAD: i64 = 2;
const REQUEUED: i64 = 3;

/// The writer connection's page cache, in KiB (as SQLite's negative
/// `cache_size`).
const WRITER_CACHE_KIB: i64 = -64 * 1024;

/// The inbox's layout, noted in `PRAGMA user_version` for whoever inspects
/// a file (the upgrade reads the schema itself, see [`migrate_inbox`]).
const INBOX_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS inbox (
    -- Arrival order, and the handle the host completes an event by. A plain
    -- rowid: only finished rows are ever deleted, so new rows still sort
    -- after every pending one.
    seq INTEGER PRIMARY KEY,
    page_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    user_key TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    standby INTEGER NOT NULL,
    kind TEXT NOT NULL,
    raw TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    finished_ms INTEGER
);
-- De-duplication. A redelivery is the same event, its timestamp included,
-- so the key leads with the timestamp: new keys land at the right edge of
-- the index instead of on a random page each (a Page's mids are random).
CREATE UNIQUE INDEX IF NOT EXISTS inbox_dedup ON inbox (timestamp, page_id, event_id);
-- Business events are stamped when they arrive, so a retried
-- Idempotency-Key has a new timestamp: they are unique by id alone.
CREATE UNIQUE INDEX IF NOT EXISTS inbox_business ON inbox (page_id, event_id) WHERE kind = 'business';
-- What a start resumes, what `dlq retry` hands back, what pruning deletes.
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (seq) WHERE state = 0;
CREATE INDEX IF NOT EXISTS inbox_requeued ON inbox (seq) WHERE state = 3;
CREATE INDEX IF NOT EXISTS inbox_finished ON inbox (finished_ms) WHERE state = 1;
-- `switchboard dlq` finds dead letters by Page and event id.
CREATE INDEX IF NOT EXISTS inbox_dead ON inbox (page_id, event_id) WHERE state IN (2, 3);
CREATE TABLE IF NOT EXISTS outbox (
    page_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    slot TEXT NOT NULL,
    response TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    PRIMARY KEY (page_id, event_id, slot)
) WITHOUT ROWID;
";

/// Rebuilds an inbox of layout 1 (unique on `(page_id, event_id)` alone,
/// events completed by that key) into the current layout, keeping every row
/// and its `seq`. The layout is read from the schema itself (layout 1's
/// unique constraint has an automatic index; layout 2 has none), inside one
/// immediate transaction: a crash leaves the old file as it was, and a
/// second process opening the store meanwhile waits, then finds layout 2.
fn migrate_inbox(conn: &mut Connection) -> anyhow::Result<()> {
    const LAYOUT_1: &str =
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inbox' AND name = 'sqlite_autoindex_inbox_1')";
    if !conn.query_row(LAYOUT_1, [], |r| r.get::<_, bool>(0))? {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if !tx.query_row(LAYOUT_1, [], |r| r.get::<_, bool>(0))? {
        return Ok(());
    }
    tracing::info!("upgrading the store's inbox to layout {INBOX_VERSION}; this runs once");
    tx.execute_batch("ALTER TABLE inbox RENAME TO inbox_v1")?;
    // Its indexes keep their names: drop them, or the new ones would be
    // skipped as existing and then go with the old table.
    let old_indexes: Vec<String> = tx
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inbox_v1' AND sql IS NOT NULL")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for index in old_indexes {
        tx.execute_batch(&format!("DROP INDEX \"{}\"", index.replace('"', "\"\"")))?;
    }
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch(
        "INSERT INTO inbox (seq, page_id, event_id, user_key, timestamp, standby, kind, raw, received_ms, state, attempts, last_error, finished_ms)
         SELECT seq, page_id, event_id, user_key, timestamp, standby, kind, raw, received_ms, state, attempts, last_error, finished_ms
         FROM inbox_v1 ORDER BY seq;
         DROP TABLE inbox_v1;",
    )?;
    tx.pragma_update(None, "user_version", INBOX_VERSION)?;
    tx.commit()?;
    Ok(())
}

pub struct SqliteBackend {
    conn: Connection,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl SqliteBackend {
    /// Opens (creating if needed) `dir/switchboard.db`: one connection for
    /// the writer, one for reads.
    pub fn open_pair(dir: &Path) -> anyhow::Result<(SqliteBackend, SqliteBackend)> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create the store directory {}", dir.display()))?;
        let path = dir.join("switchboard.db");
        owner_only(dir, &path).with_context(|| format!("cannot make the store in {} readable by its owner only", dir.display()))?;
        let open = || -> anyhow::Result<SqliteBackend> {
            let conn = Connection::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            Ok(SqliteBackend { conn })
        };
        let mut writer = open()?;
        // The writer rewrites the same pages over and over (the right edges
        // of the inbox's indexes, the recent rows being completed): with
        // SQLite's default 2 MiB cache it read about two of them back from
        // the file per event under load. Reads gain nothing from a large
        // cache: every commit of the writer invalidates the reader's.
        writer.conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        migrate_inbox(&mut writer.conn).context("upgrading the store's inbox")?;
        writer.conn.execute_batch(SCHEMA).context("creating the store schema")?;
        writer.conn.pragma_update(None, "user_version", INBOX_VERSION)?;
        writer.conn.execute_batch(conversations::SCHEMA).context("creating the store schema")?;
        writer.conn.execute_batch(kv::SCHEMA).context("creating the store schema")?;
        writer.conn.execute_batch(problems::SCHEMA).context("creating the store schema")?;
        writer.conn.execute_batch(people::SCHEMA).context("creating the store schema")?;
        let reader = open()?;
        Ok((writer, reader))
    }

    /// Opens `dir/switchboard.db` for reading only, beside a running host
    /// (the tools that show what it keeps): no schema is created, nothing
    /// is written, and a directory without a store is an error.
    pub fn open_read_only(dir: &Path) -> anyhow::Result<SqliteBackend> {
        let path = dir.join("switchboard.db");
        anyhow::ensure!(path.exists(), "no store at {}: has a host run with this config?", path.display());
        let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(SqliteBackend { conn })
    }

    fn apply(tx: &rusqlite::Transaction<'_>, op: &WriteOp) -> rusqlite::Result<WriteResult> {
        let now = now_ms();
        Ok(match op {
            WriteOp::Append(events) => {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO inbox (page_id, event_id, user_key, timestamp, standby, kind, raw, received_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                let mut stored = Vec::with_capacity(events.len());
                for e in events.iter() {
                    let user = e.conversation().user;
                    let n = insert.execute(params![e.page_id, e.id, user, e.timestamp as i64, e.standby, e.kind.as_str(), e.raw, now])?;
                    stored.push((n == 1).then(|| InboxSeq(tx.last_insert_rowid())));
                }
                WriteResult::Appended(stored)
            }
            WriteOp::Complete { seq } => {
                // `state = 0`: a seq can only ever finish the pending event it names.
                tx.prepare_cached("UPDATE inbox SET state = ?1, finished_ms = ?2 WHERE seq = ?3 AND state = 0")?
                    .execute(params![COMPLETE, now, seq.0])?;
                WriteResult::Done
            }
            WriteOp::Finish { seq, outcome } => {
                tx.prepare_cached("UPDATE inbox SET state = ?1, finished_ms = ?2, last_error = ?3 WHERE seq = ?4 AND state = 0")?
                    .execute(params![COMPLETE, now, outcome, seq.0])?;
                WriteResult::Done
            }
            WriteOp::Retry { seq, attempts, error } => {
                tx.prepare_cached("UPDATE inbox SET attempts = ?1, last_error = ?2 WHERE seq = ?3 AND state = 0")?
                    .execute(params![attempts, error, seq.0])?;
                WriteResult::Done
            }
            WriteOp::DeadLetter { seq, attempts, error } => {
                let n = tx
                    .prepare_cached(
                        "UPDATE inbox SET state = ?1, attempts = ?2, last_error = ?3, finished_ms = ?4 WHERE seq = ?5 AND state = 0",
                    )?
                    .execute(params![DEAD, attempts, error, now, seq.0])?;
                if n == 1 {
                    problems::record_dead_letter(tx, seq.0, error)?;
                }
                WriteResult::Done
            }
            WriteOp::OutboxSent { page_id, event_id, slot, response } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO outbox (page_id, event_id, slot, response, sent_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![page_id, event_id, slot, response, now])?;
                WriteResult::Done
            }
            WriteOp::Prune { before_ms, conversations_before_ms } => {
                let outbox = tx.execute(PRUNE_OUTBOX, params![before_ms])?;
                let inbox = tx.execute(PRUNE_INBOX, params![before_ms])?;
                let kv = kv::prune_expired(tx, now)?;
                let conversations = conversations::prune(tx, *conversations_before_ms, now)?;
                WriteResult::Pruned(outbox + inbox + kv + conversations)
            }
            WriteOp::ConversationPut { .. } | WriteOp::PageStatePut { .. } | WriteOp::TokenIssued { .. } | WriteOp::TokenUsed { .. } => {
                conversations::apply(tx, op, now)?
            }
            WriteOp::Kv(write) => kv::apply(tx, write, now)?,
            WriteOp::KvAdopt { page_id, moves } => kv::adopt(tx, page_id, moves)?,
            WriteOp::Problems(recorded) => {
                problems::record(tx, recorded)?;
                WriteResult::Done
            }
            WriteOp::ErasePerson { page_id, psid, request, except } => {
                WriteResult::Erased(people::erase(tx, page_id, psid, request, except, now)?)
            }
            WriteOp::DeletionRequest(request) => {
                people::record_deletion_request(tx, request)?;
                WriteResult::Done
            }
        })
    }
}

/// The store holds conversations, Page state and plugins' state: its
/// directory is `0700` and its files `0600` (SQLite gives the WAL and
/// shared-memory files the database file's mode), whatever the umask; an
/// existing store is tightened too.
fn owner_only(dir: &Path, db: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(db)?;
        for file in ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"].map(|f| dir.join(f)) {
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    let _ = (dir, db);
    Ok(())
}

// The statements that filter the inbox by state, each served by a partial
// index (a test checks the plans).
const SELECT_PENDING: &str =
    "SELECT page_id, standby, raw, attempts, seq FROM inbox WHERE state = 0 ORDER BY page_id, user_key, timestamp, seq";
const SELECT_REQUEUED: &str =
    "SELECT page_id, standby, raw, attempts, seq FROM inbox WHERE state = 3 ORDER BY page_id, user_key, timestamp, seq";
const ANY_REQUEUED: &str = "SELECT EXISTS (SELECT 1 FROM inbox WHERE state = 3)";
const RESUME_REQUEUED: &str = "UPDATE inbox SET state = ?1, attempts = 0 WHERE state = 3";
const PRUNE_OUTBOX: &str =
    "DELETE FROM outbox WHERE (page_id, event_id) IN (SELECT page_id, event_id FROM inbox WHERE state = 1 AND finished_ms < ?1)";
const PRUNE_INBOX: &str = "DELETE FROM inbox WHERE state = 1 AND finished_ms < ?1";
const LIST_DEAD: &str = "SELECT page_id, event_id, kind, attempts, COALESCE(last_error, ''), COALESCE(finished_ms, 0), raw, state
     FROM inbox WHERE state IN (2, 3) ORDER BY finished_ms DESC LIMIT ?1";
// `state IN (2, 3)` lets the dead letters' index find the row.
const REQUEUE_DEAD: &str = "UPDATE inbox SET state = ?1 WHERE page_id = ?2 AND event_id = ?3 AND state IN (2, 3) AND state = ?4";
const DROP_DEAD: &str = "DELETE FROM inbox WHERE page_id = ?1 AND event_id = ?2 AND state IN (2, 3)";

/// Events by `query` (pending, or marked for retry), in the order a
/// conversation must see them.
fn select_events(conn: &Connection, query: &str) -> anyhow::Result<Vec<PendingEvent>> {
    let mut stmt = conn.prepare(query)?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?, r.get::<_, String>(2)?, r.get::<_, u32>(3)?, r.get::<_, i64>(4)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (page_id, standby, raw, attempts, seq) = row?;
        match model::parse_event(&page_id, standby, &raw) {
            Ok(event) => out.push(PendingEvent { event, seq: InboxSeq(seq), attempts }),
            Err(e) => tracing::error!(page = %page_id, error = %e, "a stored event no longer parses; left in the store"),
        }
    }
    Ok(out)
}

impl Backend for SqliteBackend {
    fn write_batch(&mut self, ops: &[WriteOp]) -> anyhow::Result<Vec<WriteResult>> {
        // Immediate: the write lock is taken (waiting out the busy timeout)
        // before anything is read. A deferred transaction that read first
        // fails at once with SQLITE_BUSY when another connection (a
        // `switchboard dlq` beside the host) committed meanwhile.
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            results.push(Self::apply(&tx, op)?);
        }
        tx.commit()?;
        Ok(results)
    }

    fn pending(&mut self) -> anyhow::Result<Vec<PendingEvent>> {
        select_events(&self.conn, SELECT_PENDING)
    }

    fn take_requeued(&mut self) -> anyhow::Result<Vec<PendingEvent>> {
        // Asked every few seconds: without a dead letter marked for retry it
        // reads two empty ranges of a partial index, and writes nothing that
        // would contend with the writer thread for the database's write lock.
        let tx = self.conn.transaction()?;
        let events = select_events(&tx, SELECT_REQUEUED)?;
        // (Rows that no longer parse are logged and resumed as pending, so
        // they are not read again every few seconds.)
        if events.is_empty() && !tx.query_row(ANY_REQUEUED, [], |r| r.get::<_, bool>(0))? {
            return Ok(events);
        }
        tx.execute(RESUME_REQUEUED, params![PENDING])?;
        tx.commit()?;
        Ok(events.into_iter().map(|p| PendingEvent { attempts: 0, ..p }).collect())
    }

    fn outbox_get(&mut self, page_id: &str, event_id: &str, slot: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT response FROM outbox WHERE page_id = ?1 AND event_id = ?2 AND slot = ?3")?
            .query_row(params![page_id, event_id, slot], |r| r.get(0))
            .optional()?)
    }

    fn dead_letters(&mut self, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
        let mut stmt = self.conn.prepare(LIST_DEAD)?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok(DeadLetter {
                page_id: r.get(0)?,
                event_id: r.get(1)?,
                kind: r.get(2)?,
                attempts: r.get(3)?,
                error: r.get(4)?,
                failed_at_ms: r.get(5)?,
                raw: r.get(6)?,
                requeued: r.get::<_, i64>(7)? == REQUEUED,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn requeue_dead_letter(&mut self, page_id: &str, event_id: &str) -> anyhow::Result<bool> {
        // Every dead letter of that id: one, unless the same id came again
        // with another timestamp.
        let n = self.conn.execute(REQUEUE_DEAD, params![REQUEUED, page_id, event_id, DEAD])?;
        Ok(n >= 1)
    }

    fn drop_dead_letter(&mut self, page_id: &str, event_id: &str) -> anyhow::Result<bool> {
        let n = self.conn.execute(DROP_DEAD, params![page_id, event_id])?;
        Ok(n >= 1)
    }

    fn kv_get(&mut self, page_id: &str, plugin: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        kv::get(&self.conn, page_id, plugin, key, now_ms())
    }

    fn kv_keys(&mut self, page_id: &str, plugin: &str, prefix: &str, limit: usize) -> anyhow::Result<Vec<String>> {
        kv::keys(&self.conn, page_id, plugin, prefix, limit, now_ms())
    }

    fn conversation_get(&mut self, page_id: &str, psid: &str) -> anyhow::Result<Option<String>> {
        conversations::conversation_get(&self.conn, page_id, psid)
    }

    fn conversations(&mut self, page_id: &str, after_psid: &str, limit: usize) -> anyhow::Result<Vec<crate::store::ConversationRow>> {
        conversations::conversations(&self.conn, page_id, after_psid, limit)
    }

    fn page_state_get(&mut self, page_id: &str, key: &str) -> anyhow::Result<Option<String>> {
        conversations::page_state_get(&self.conn, page_id, key)
    }

    fn tokens(&mut self, page_id: &str, query: &TokenQuery) -> anyhow::Result<Vec<NotificationToken>> {
        conversations::tokens(&self.conn, page_id, query)
    }

    fn problems(&mut self, query: &crate::store::problems::ProblemQuery) -> anyhow::Result<Vec<crate::store::problems::RecordedProblem>> {
        problems::select(&self.conn, query)
    }

    fn person(&mut self, page_id: &str, psid: &str) -> anyhow::Result<serde_json::Value> {
        people::export(&self.conn, page_id, psid)
    }

    fn erasure(&mut self, request: &str, page_id: &str) -> anyhow::Result<Option<crate::store::Erasure>> {
        people::erasure(&self.conn, request, page_id)
    }

    fn deletion_requests(&mut self, code: Option<&str>) -> anyhow::Result<Vec<crate::store::DeletionRequest>> {
        people::deletion_requests(&self.conn, code)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn the_store_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let (mut w, _r) = SqliteBackend::open_pair(&data).expect("opens");
        w.write_batch(&[WriteOp::Prune { before_ms: 0, conversations_before_ms: 0 }]).expect("writes");
        let mode = |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        for file in ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
    }

    use super::*;

    use crate::model::InboundEvent;

    fn events(body: &str) -> Vec<InboundEvent> {
        crate::ingress::envelope::parse(body.as_bytes()).expect("valid").events
    }

    const TWO: &str = r#"{"object":"page","entry":[{"id":"P","messaging":[
        {"sender":{"id":"u"},"recipient":{"id":"P"},"timestamp":1700000000002,"message":{"mid":"m2","text":"b"}},
        {"sender":{"id":"u"},"recipient":{"id":"P"},"timestamp":1700000000001,"message":{"mid":"m1","text":"a"}}]}]}"#;

    #[test]
    fn dedup_pending_order_outbox_dead_letters_and_pruning() {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut w, mut r) = SqliteBackend::open_pair(dir.path()).expect("opens");
        let batch = events(TWO);
        let appended = w.write_batch(&[WriteOp::Append(batch.clone().into()), WriteOp::Append(batch.into())]).expect("writes");
        assert_eq!(appended, [WriteResult::Appended(vec![Some(InboxSeq(1)), Some(InboxSeq(2))]), WriteResult::Appended(vec![None, None])]);

        // Pending comes back in timestamp order within the conversation.
        let pending: Vec<(String, InboxSeq)> = r.pending().expect("reads").into_iter().map(|p| (p.event.id, p.seq)).collect();
        assert_eq!(pending, [("messaging:message:m1".to_string(), InboxSeq(2)), ("messaging:message:m2".to_string(), InboxSeq(1))]);

        let id = |m: &str| format!("messaging:message:{m}");
        w.write_batch(&[
            WriteOp::OutboxSent { page_id: "P".into(), event_id: id("m1"), slot: "0:0".into(), response: "{\"message_id\":\"x\"}".into() },
            WriteOp::Complete { seq: InboxSeq(2) },
            WriteOp::DeadLetter { seq: InboxSeq(1), attempts: 3, error: "boom".into() },
        ])
        .expect("writes");
        assert_eq!(r.outbox_get("P", &id("m1"), "0:0").expect("reads").as_deref(), Some("{\"message_id\":\"x\"}"));
        assert_eq!(r.outbox_get("P", &id("m1"), "0:1").expect("reads"), None);
        assert!(r.pending().expect("reads").is_empty());
        let dead = r.dead_letters(10).expect("reads");
        assert_eq!((dead.len(), dead[0].attempts, dead[0].error.as_str(), dead[0].requeued), (1, 3, "boom", false));

        assert!(r.requeue_dead_letter("P", &id("m2")).expect("writes"));
        assert!(!r.requeue_dead_letter("P", "nope").expect("writes"));
        let back = r.take_requeued().expect("reads");
        assert_eq!((back.len(), back[0].attempts), (1, 0));
        assert_eq!(r.pending().expect("reads").len(), 1, "a requeued letter is pending again");

        // Pruning removes finished events (and their outbox rows), so a
        // redelivery after the retention window is new again.
        let pruned = w.write_batch(&[WriteOp::Prune { before_ms: now_ms() + 1000, conversations_before_ms: 0 }]).expect("prunes");
        assert_eq!(pruned, [WriteResult::Pruned(2)]);
        assert_eq!(r.outbox_get("P", &id("m1"), "0:0").expect("reads"), None);
        let again = w.write_batch(&[WriteOp::Append(events(TWO).into())]).expect("writes");
        // (m1's seq is free again: no live handle can name a pruned row.)
        assert_eq!(again, [WriteResult::Appended(vec![None, Some(InboxSeq(2))])], "m2 is still pending, m1 was pruned");
    }

    /// Every statement that filters by state finds its rows through an
    /// index: none reads the whole inbox, which holds every event of the
    /// retention window.
    #[test]
    fn state_queries_use_their_partial_indexes() {
        let dir = tempfile::tempdir().expect("tmp");
        let (w, _r) = SqliteBackend::open_pair(dir.path()).expect("opens");
        for query in
            [SELECT_PENDING, SELECT_REQUEUED, ANY_REQUEUED, RESUME_REQUEUED, PRUNE_OUTBOX, PRUNE_INBOX, LIST_DEAD, REQUEUE_DEAD, DROP_DEAD]
        {
            let mut explain = w.conn.prepare(&format!("EXPLAIN QUERY PLAN {query}")).expect("plans");
            let unbound = rusqlite::params_from_iter(std::iter::repeat_n(rusqlite::types::Null, explain.parameter_count()));
            let plan: Vec<String> =
                explain.query_map(unbound, |r| r.get::<_, String>(3)).expect("plans").collect::<Result<_, _>>().expect("plans");
            let reads_inbox: Vec<&String> = plan.iter().filter(|step| step.contains("inbox")).collect();
            assert!(!reads_inbox.is_empty(), "{query}: {plan:?}");
            assert!(reads_inbox.iter().all(|step| step.contains(" INDEX ")), "{query} scans the inbox: {plan:?}");
        }
    }

    #[test]
    fn business_events_are_unique_by_id_whatever_their_timestamp() {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut w, _r) = SqliteBackend::open_pair(dir.path()).expect("opens");
        let business = |at| InboundEvent::business("P", None, "key:restock-1", serde_json::json!({"type":"restock"}), at).expect("event");
        let appended = w.write_batch(&[
            WriteOp::Append(vec![business(1_700_000_000_000)].into()),
            WriteOp::Append(vec![business(1_700_000_009_000)].into()),
        ]);
        assert_eq!(appended.expect("writes"), [WriteResult::Appended(vec![Some(InboxSeq(1))]), WriteResult::Appended(vec![None])]);
    }

    /// A store written by a host before layout 2 opens with its events, their
    /// states and their de-duplication intact.
    #[test]
    fn an_inbox_of_layout_1_is_upgraded_in_place() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let conn = Connection::open(dir.path().join("switchboard.db")).expect("opens");
            conn.execute_batch(
                "CREATE TABLE inbox (seq INTEGER PRIMARY KEY, page_id TEXT NOT NULL, event_id TEXT NOT NULL, user_key TEXT NOT NULL,
                   timestamp INTEGER NOT NULL, standby INTEGER NOT NULL, kind TEXT NOT NULL, raw TEXT NOT NULL, received_ms INTEGER NOT NULL,
                   state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, finished_ms INTEGER,
                   UNIQUE (page_id, event_id));
                 CREATE INDEX inbox_unfinished ON inbox (state) WHERE state IN (0, 3);
                 CREATE INDEX inbox_finished ON inbox (finished_ms) WHERE state = 1;",
            )
            .expect("layout 1");
            for (seq, e) in events(TWO).iter().enumerate() {
                conn.execute(
                    "INSERT INTO inbox (seq, page_id, event_id, user_key, timestamp, standby, kind, raw, received_ms, state, attempts)
                     VALUES (?1, ?2, ?3, 'u', ?4, 0, ?5, ?6, 0, ?7, 2)",
                    params![
                        seq as i64 + 7,
                        e.page_id,
                        e.id,
                        e.timestamp as i64,
                        e.kind.as_str(),
                        e.raw,
                        if seq == 0 { COMPLETE } else { PENDING }
                    ],
                )
                .expect("row");
            }
        }
        let (mut w, mut r) = SqliteBackend::open_pair(dir.path()).expect("upgrades");
        let pending = r.pending().expect("reads");
        assert_eq!(pending.len(), 1, "the complete event stays complete");
        assert_eq!((pending[0].event.id.as_str(), pending[0].seq, pending[0].attempts), ("messaging:message:m1", InboxSeq(8), 2));
        let again = w.write_batch(&[WriteOp::Append(events(TWO).into())]).expect("writes");
        assert_eq!(again, [WriteResult::Appended(vec![None, None])], "both are still known");
        w.write_batch(&[WriteOp::Complete { seq: InboxSeq(8) }]).expect("completes");
        assert!(r.pending().expect("reads").is_empty());
        drop((w, r));
        // Opened again, even with the layout note lost, nothing is rebuilt
        // and every index is there.
        Connection::open(dir.path().join("switchboard.db")).expect("opens").pragma_update(None, "user_version", 0).expect("resets");
        let (w, _r) = SqliteBackend::open_pair(dir.path()).expect("opens again");
        let indexes: Vec<String> = w
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inbox' ORDER BY name")
            .expect("lists")
            .query_map([], |r| r.get(0))
            .expect("lists")
            .collect::<Result<_, _>>()
            .expect("lists");
        assert_eq!(indexes, ["inbox_business", "inbox_dead", "inbox_dedup", "inbox_finished", "inbox_pending", "inbox_requeued"]);
    }
}
