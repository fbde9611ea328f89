//! The SQLite tables behind the conversation state the host keeps:
//! * `conversations`: one row per (Page, PSID), the state as JSON (fields
//!   only get added, so old rows still read);
//! * `page_state`: small per-Page values (the app role, the hash of the
//!   Messenger Profile last applied);
//! * `notification_tokens`: one-time-notification tokens, indexed by person
//!   and by topic, with when each was used.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::store::NotificationToken;
use crate::store::{ConversationRow, TokenQuery, WriteOp, WriteResult};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS conversations (
    page_id TEXT NOT NULL,
    psid TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (page_id, psid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS page_state (
    page_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (page_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS notification_tokens (
    page_id TEXT NOT NULL,
    token TEXT NOT NULL,
    psid TEXT NOT NULL,
    topic TEXT,
    issued_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms INTEGER,
    PRIMARY KEY (page_id, token)
);
CREATE INDEX IF NOT EXISTS notification_tokens_psid ON notification_tokens (page_id, psid);
CREATE INDEX IF NOT EXISTS notification_tokens_topic ON notification_tokens (page_id, topic);
";

pub fn apply(tx: &Transaction<'_>, op: &WriteOp, now_ms: i64) -> rusqlite::Result<WriteResult> {
    match op {
        WriteOp::ConversationPut { page_id, psid, state } => {
            tx.prepare_cached("INSERT OR REPLACE INTO conversations (page_id, psid, state, updated_ms) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![page_id, psid, state, now_ms])?;
        }
        WriteOp::PageStatePut { page_id, key, value } => {
            tx.prepare_cached("INSERT OR REPLACE INTO page_state (page_id, key, value) VALUES (?1, ?2, ?3)")?
                .execute(params![page_id, key, value])?;
        }
        WriteOp::TokenIssued { page_id, token: t } => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO notification_tokens (page_id, token, psid, topic, issued_ms, expires_ms, used_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                page_id,
                t.token,
                t.psid,
                t.topic,
                t.issued_ms as i64,
                t.expires_ms as i64,
                t.used_ms.map(|u| u as i64)
            ])?;
        }
        WriteOp::TokenUsed { page_id, token, used_ms } => {
            tx.prepare_cached("UPDATE notification_tokens SET used_ms = ?1 WHERE page_id = ?2 AND token = ?3")?.execute(params![
                used_ms.map(|u| u as i64),
                page_id,
                token
            ])?;
        }
        _ => unreachable!("not a conversation write: {op:?}"),
    }
    Ok(WriteResult::Done)
}

/// Deletes conversations last updated before `before_ms` (0: none) and
/// tokens that expired before `now_ms`.
pub fn prune(tx: &Transaction<'_>, before_ms: i64, now_ms: i64) -> rusqlite::Result<usize> {
    let conversations = if before_ms > 0 { tx.execute("DELETE FROM conversations WHERE updated_ms < ?1", params![before_ms])? } else { 0 };
    let tokens = tx.execute("DELETE FROM notification_tokens WHERE expires_ms < ?1", params![now_ms])?;
    Ok(conversations + tokens)
}

pub fn conversation_get(conn: &Connection, page_id: &str, psid: &str) -> anyhow::Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT state FROM conversations WHERE page_id = ?1 AND psid = ?2")?
        .query_row(params![page_id, psid], |r| r.get(0))
        .optional()?)
}

pub fn conversations(conn: &Connection, page_id: &str, after_psid: &str, limit: usize) -> anyhow::Result<Vec<ConversationRow>> {
    let mut stmt =
        conn.prepare_cached("SELECT psid, state, updated_ms FROM conversations WHERE page_id = ?1 AND psid > ?2 ORDER BY psid LIMIT ?3")?;
    let rows = stmt.query_map(params![page_id, after_psid, limit as i64], |r| {
        Ok(ConversationRow { psid: r.get(0)?, state: r.get(1)?, updated_ms: r.get(2)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn page_state_get(conn: &Connection, page_id: &str, key: &str) -> anyhow::Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM page_state WHERE page_id = ?1 AND key = ?2")?
        .query_row(params![page_id, key], |r| r.get(0))
        .optional()?)
}

pub fn tokens(conn: &Connection, page_id: &str, query: &TokenQuery) -> anyhow::Result<Vec<NotificationToken>> {
    let (column, value) = match query {
        TokenQuery::Token(v) => ("token", v),
        TokenQuery::Psid(v) => ("psid", v),
        TokenQuery::Topic(v) => ("topic", v),
    };
    let sql = format!(
        "SELECT token, psid, topic, issued_ms, expires_ms, used_ms FROM notification_tokens
         WHERE page_id = ?1 AND {column} = ?2 ORDER BY issued_ms"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![page_id, value], |r| {
        Ok(NotificationToken {
            token: r.get(0)?,
            psid: r.get(1)?,
            topic: r.get(2)?,
            issued_ms: r.get::<_, i64>(3)? as u64,
            expires_ms: r.get::<_, i64>(4)? as u64,
            used_ms: r.get::<_, Option<i64>>(5)?.map(|u| u as u64),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::super::SqliteBackend;
    use super::*;
    use crate::store::Backend;

    #[test]
    fn conversations_page_state_and_tokens() {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut w, mut r) = SqliteBackend::open_pair(dir.path()).expect("opens");
        let token = |t: &str, psid: &str, topic: &str| NotificationToken {
            token: t.into(),
            psid: psid.into(),
            topic: Some(topic.into()),
            issued_ms: 1,
            expires_ms: 2,
            used_ms: None,
        };
        w.write_batch(&[
            WriteOp::ConversationPut { page_id: "P".into(), psid: "u".into(), state: "{\"a\":1}".into() },
            WriteOp::ConversationPut { page_id: "P".into(), psid: "u".into(), state: "{\"a\":2}".into() },
            WriteOp::PageStatePut { page_id: "P".into(), key: "role".into(), value: "primary".into() },
            WriteOp::TokenIssued { page_id: "P".into(), token: token("t1", "u", "shoes") },
            WriteOp::TokenIssued { page_id: "P".into(), token: token("t2", "v", "shoes") },
            WriteOp::TokenIssued { page_id: "P".into(), token: token("t3", "u", "hats") },
            WriteOp::TokenUsed { page_id: "P".into(), token: "t1".into(), used_ms: Some(5) },
        ])
        .expect("writes");
        assert_eq!(r.conversation_get("P", "u").unwrap().as_deref(), Some("{\"a\":2}"));
        assert_eq!(r.conversation_get("Q", "u").unwrap(), None);
        assert_eq!(r.page_state_get("P", "role").unwrap().as_deref(), Some("primary"));
        let shoes = r.tokens("P", &TokenQuery::Topic("shoes".into())).unwrap();
        assert_eq!(shoes.iter().map(|t| (t.token.as_str(), t.used_ms)).collect::<Vec<_>>(), [("t1", Some(5)), ("t2", None)]);
        assert_eq!(r.tokens("P", &TokenQuery::Psid("u".into())).unwrap().len(), 2);
        assert_eq!(r.tokens("P", &TokenQuery::Token("t3".into())).unwrap()[0].psid, "u");
        assert!(r.tokens("Q", &TokenQuery::Token("t3".into())).unwrap().is_empty());
    }
}
