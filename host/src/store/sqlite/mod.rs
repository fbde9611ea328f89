//! The embedded store: SQLite in WAL mode with `synchronous=FULL`, so a
//! committed transaction survives `kill -9` and power loss.
//!
//! Tables:
//! * `inbox`: one row per accepted event, unique on `(page_id, event_id)`;
//!   `state` is 0 pending, 1 complete, 2 dead letter, 3 dead letter marked
//!   for retry.
//! * `outbox`: one row per successful send, keyed by the event and the
//!   send's slot within it.
//! * `conversations`, `page_state`, `notification_tokens`: see
//!   [`conversations`].
//! * `kv`: plugins' key-value state, see [`kv`].

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rusqlite::{params, Connection, OptionalExtension};

mod conversations;
mod kv;

use super::{Backend, DeadLetter, PendingEvent, TokenQuery, WriteOp, WriteResult};
use crate::conversation::NotificationToken;
use crate::envelope;

const PENDING: i64 = 0;
const COMPLETE: i64 = 1;
const DEAD: i64 = 2;
const REQUEUED: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS inbox (
    -- Arrival order. A plain rowid: only finished rows are ever deleted,
    -- so new rows still sort after every pending one.
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
    finished_ms INTEGER,
    UNIQUE (page_id, event_id)
);
CREATE INDEX IF NOT EXISTS inbox_unfinished ON inbox (state) WHERE state IN (0, 3);
CREATE INDEX IF NOT EXISTS inbox_finished ON inbox (finished_ms) WHERE state = 1;
CREATE TABLE IF NOT EXISTS outbox (
    page_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    slot TEXT NOT NULL,
    response TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    PRIMARY KEY (page_id, event_id, slot)
) WITHOUT ROWID;
";

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
        let open = || -> anyhow::Result<SqliteBackend> {
            let conn = Connection::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            Ok(SqliteBackend { conn })
        };
        let writer = open()?;
        writer.conn.execute_batch(SCHEMA).context("creating the store schema")?;
        writer.conn.execute_batch(conversations::SCHEMA).context("creating the store schema")?;
        writer.conn.execute_batch(kv::SCHEMA).context("creating the store schema")?;
        let reader = open()?;
        Ok((writer, reader))
    }

    fn apply(tx: &rusqlite::Transaction<'_>, op: &WriteOp) -> rusqlite::Result<WriteResult> {
        let now = now_ms();
        Ok(match op {
            WriteOp::Append(events) => {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO inbox (page_id, event_id, user_key, timestamp, standby, kind, raw, received_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                let mut fresh = Vec::with_capacity(events.len());
                for e in events.iter() {
                    let user = e.conversation().user;
                    let n = insert.execute(params![e.page_id, e.id, user, e.timestamp as i64, e.standby, e.kind, e.raw, now])?;
                    fresh.push(n == 1);
                }
                WriteResult::Appended(fresh)
            }
            WriteOp::Complete { page_id, event_id } => {
                tx.prepare_cached("UPDATE inbox SET state = ?1, finished_ms = ?2 WHERE page_id = ?3 AND event_id = ?4")?
                    .execute(params![COMPLETE, now, page_id, event_id])?;
                WriteResult::Done
            }
            WriteOp::Retry { page_id, event_id, attempts, error } => {
                tx.prepare_cached("UPDATE inbox SET attempts = ?1, last_error = ?2 WHERE page_id = ?3 AND event_id = ?4")?
                    .execute(params![attempts, error, page_id, event_id])?;
                WriteResult::Done
            }
            WriteOp::DeadLetter { page_id, event_id, attempts, error } => {
                tx.prepare_cached(
                    "UPDATE inbox SET state = ?1, attempts = ?2, last_error = ?3, finished_ms = ?4 WHERE page_id = ?5 AND event_id = ?6",
                )?
                .execute(params![DEAD, attempts, error, now, page_id, event_id])?;
                WriteResult::Done
            }
            WriteOp::OutboxSent { page_id, event_id, slot, response } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO outbox (page_id, event_id, slot, response, sent_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![page_id, event_id, slot, response, now])?;
                WriteResult::Done
            }
            WriteOp::Prune { before_ms } => {
                let outbox = tx.execute(
                    "DELETE FROM outbox WHERE (page_id, event_id) IN
                       (SELECT page_id, event_id FROM inbox WHERE state = ?1 AND finished_ms < ?2)",
                    params![COMPLETE, before_ms],
                )?;
                let inbox = tx.execute("DELETE FROM inbox WHERE state = ?1 AND finished_ms < ?2", params![COMPLETE, before_ms])?;
                let kv = kv::prune_expired(tx, now)?;
                WriteResult::Pruned(outbox + inbox + kv)
            }
            WriteOp::ConversationPut { .. } | WriteOp::PageStatePut { .. } | WriteOp::TokenIssued { .. } | WriteOp::TokenUsed { .. } => {
                conversations::apply(tx, op, now)?
            }
            WriteOp::Kv(write) => kv::apply(tx, write, now)?,
        })
    }
}

impl SqliteBackend {
    fn select_events(&mut self, state: i64) -> anyhow::Result<Vec<PendingEvent>> {
        select_events(&self.conn, state)
    }
}

/// Events in `state`, in the order a conversation must see them.
fn select_events(conn: &Connection, state: i64) -> anyhow::Result<Vec<PendingEvent>> {
    let mut stmt = conn.prepare(
        "SELECT page_id, standby, raw, attempts FROM inbox WHERE state = ?1 ORDER BY page_id, user_key, timestamp, seq",
    )?;
    let rows = stmt.query_map(params![state], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?, r.get::<_, String>(2)?, r.get::<_, u32>(3)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (page_id, standby, raw, attempts) = row?;
        match envelope::parse_event(&page_id, standby, &raw) {
            Ok(event) => out.push(PendingEvent { event, attempts }),
            Err(e) => tracing::error!(page = %page_id, error = %e, "a stored event no longer parses; left in the store"),
        }
    }
    Ok(out)
}

impl Backend for SqliteBackend {
    fn write_batch(&mut self, ops: &[WriteOp]) -> anyhow::Result<Vec<WriteResult>> {
        let tx = self.conn.transaction()?;
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            results.push(Self::apply(&tx, op)?);
        }
        tx.commit()?;
        Ok(results)
    }

    fn pending(&mut self) -> anyhow::Result<Vec<PendingEvent>> {
        self.select_events(PENDING)
    }

    fn take_requeued(&mut self) -> anyhow::Result<Vec<PendingEvent>> {
        let tx = self.conn.transaction()?;
        let events = select_events(&tx, REQUEUED)?;
        tx.execute("UPDATE inbox SET state = ?1, attempts = 0 WHERE state = ?2", params![PENDING, REQUEUED])?;
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
        let mut stmt = self.conn.prepare(
            "SELECT page_id, event_id, kind, attempts, COALESCE(last_error, ''), COALESCE(finished_ms, 0), raw, state
             FROM inbox WHERE state IN (?1, ?2) ORDER BY finished_ms DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![DEAD, REQUEUED, limit as i64], |r| {
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
        let n = self.conn.execute(
            "UPDATE inbox SET state = ?1 WHERE page_id = ?2 AND event_id = ?3 AND state = ?4",
            params![REQUEUED, page_id, event_id, DEAD],
        )?;
        Ok(n == 1)
    }

    fn drop_dead_letter(&mut self, page_id: &str, event_id: &str) -> anyhow::Result<bool> {
        let n = self.conn.execute(
            "DELETE FROM inbox WHERE page_id = ?1 AND event_id = ?2 AND state IN (?3, ?4)",
            params![page_id, event_id, DEAD, REQUEUED],
        )?;
        Ok(n == 1)
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

    fn page_state_get(&mut self, page_id: &str, key: &str) -> anyhow::Result<Option<String>> {
        conversations::page_state_get(&self.conn, page_id, key)
    }

    fn tokens(&mut self, page_id: &str, query: &TokenQuery) -> anyhow::Result<Vec<NotificationToken>> {
        conversations::tokens(&self.conn, page_id, query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(body: &str) -> Vec<crate::envelope::InboundEvent> {
        envelope::parse(body.as_bytes()).expect("valid").events
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
        assert_eq!(appended, [WriteResult::Appended(vec![true, true]), WriteResult::Appended(vec![false, false])]);

        // Pending comes back in timestamp order within the conversation.
        let pending: Vec<String> = r.pending().expect("reads").into_iter().map(|p| p.event.id).collect();
        assert_eq!(pending, ["messaging:message:m1", "messaging:message:m2"]);

        let id = |m: &str| format!("messaging:message:{m}");
        w.write_batch(&[
            WriteOp::OutboxSent { page_id: "P".into(), event_id: id("m1"), slot: "0:0".into(), response: "{\"message_id\":\"x\"}".into() },
            WriteOp::Complete { page_id: "P".into(), event_id: id("m1") },
            WriteOp::DeadLetter { page_id: "P".into(), event_id: id("m2"), attempts: 3, error: "boom".into() },
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
        let pruned = w.write_batch(&[WriteOp::Prune { before_ms: now_ms() + 1000 }]).expect("prunes");
        assert_eq!(pruned, [WriteResult::Pruned(2)]);
        assert_eq!(r.outbox_get("P", &id("m1"), "0:0").expect("reads"), None);
        let again = w.write_batch(&[WriteOp::Append(events(TWO).into())]).expect("writes");
        assert_eq!(again, [WriteResult::Appended(vec![false, true])], "m2 is still pending, m1 was pruned");
    }
}
