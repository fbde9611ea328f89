//! One person's rows across the tables: erased together (in one
//! transaction, with a row in `erasures` saying what went), or read
//! together for an export. And the `deletion_requests` of Meta's data
//! deletion callback.
//!
//! Finding a person's inbox rows reads the whole inbox (no index on the
//! person: it would cost every event a write, for a rare erasure). The
//! inbox holds the retention window's events, so an erasure takes about
//! a second per million of them, in the writer.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::{json, Value};

use super::{conversations, problems, DEAD, REQUEUED};
use crate::store::{DeletionRequest, Erased, Erasure, TokenQuery};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS erasures (
    request TEXT NOT NULL,
    page_id TEXT NOT NULL,
    erased_ms INTEGER NOT NULL,
    -- What went, as JSON counts by kind of record (no ids: they name the person).
    erased TEXT NOT NULL,
    PRIMARY KEY (request, page_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deletion_requests (
    code TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    -- The app-scoped user id, kept only until it is matched to PSIDs.
    user_id TEXT,
    received_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    -- JSON list of the Pages whose erasure was queued.
    pages TEXT NOT NULL DEFAULT '[]',
    resolved_ms INTEGER
) WITHOUT ROWID;
";

/// The person's events other than the erasure itself.
const EVENTS: &str = "FROM inbox WHERE page_id = ?1 AND user_key = ?2 AND event_id <> ?3";

/// Deletes everything kept about `psid` on `page_id` except the event
/// `except` (the erasure being handled), and notes what went under
/// `request` (once: a replay of the erasure keeps the first note).
pub fn erase(tx: &Transaction<'_>, page_id: &str, psid: &str, request: &str, except: &str, now_ms: i64) -> rusqlite::Result<Erased> {
    let problems = problems::erase_person(tx, page_id, psid)?;
    let sends = tx.execute(
        &format!("DELETE FROM outbox WHERE page_id = ?1 AND event_id IN (SELECT event_id {EVENTS})"),
        params![page_id, psid, except],
    )?;
    let dead_letters: usize =
        tx.query_row(&format!("SELECT count(*) {EVENTS} AND state IN ({DEAD}, {REQUEUED})"), params![page_id, psid, except], |r| r.get(0))?;
    let events = tx.execute(&format!("DELETE {EVENTS}"), params![page_id, psid, except])?;
    let conversations = tx.execute("DELETE FROM conversations WHERE page_id = ?1 AND psid = ?2", params![page_id, psid])?;
    let tokens = tx.execute("DELETE FROM notification_tokens WHERE page_id = ?1 AND psid = ?2", params![page_id, psid])?;
    let erased = Erased { events, dead_letters, sends, conversations, tokens, problems };
    tx.execute(
        "INSERT OR IGNORE INTO erasures (request, page_id, erased_ms, erased) VALUES (?1, ?2, ?3, ?4)",
        params![request, page_id, now_ms, json!(erased).to_string()],
    )?;
    Ok(erased)
}

/// Stored JSON as JSON; text that does not parse, as a string.
fn json_or_text(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// Everything kept about `psid` on `page_id`, as JSON.
pub fn export(conn: &Connection, page_id: &str, psid: &str) -> anyhow::Result<Value> {
    let conversation = conn
        .query_row("SELECT state, updated_ms FROM conversations WHERE page_id = ?1 AND psid = ?2", params![page_id, psid], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?
        .map(|(state, updated_ms)| json!({ "state": json_or_text(state), "updated_ms": updated_ms }));
    let tokens: Vec<Value> = conversations::tokens(conn, page_id, &TokenQuery::Psid(psid.to_string()))?
        .into_iter()
        .map(|t| json!({ "token": t.token, "topic": t.topic, "issued_ms": t.issued_ms, "expires_ms": t.expires_ms, "used_ms": t.used_ms }))
        .collect();
    let mut stmt = conn.prepare(&format!(
        "SELECT event_id, kind, timestamp, state, attempts, last_error, received_ms, finished_ms, raw {EVENTS} ORDER BY timestamp, seq"
    ))?;
    let events: Vec<Value> = stmt
        .query_map(params![page_id, psid, ""], |r| {
            let raw: String = r.get(8)?;
            Ok(json!({
                "id": r.get::<_, String>(0)?,
                "kind": r.get::<_, String>(1)?,
                "timestamp": r.get::<_, i64>(2)?,
                "state": match r.get::<_, i64>(3)? { 0 => "pending", 1 => "complete", 2 => "dead_letter", _ => "dead_letter_requeued" },
                "attempts": r.get::<_, i64>(4)?,
                "error": r.get::<_, Option<String>>(5)?,
                "received_ms": r.get::<_, i64>(6)?,
                "finished_ms": r.get::<_, Option<i64>>(7)?,
                "event": json_or_text(raw),
            }))
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare(&format!(
        "SELECT event_id, slot, response, sent_ms FROM outbox WHERE page_id = ?1 AND event_id IN (SELECT event_id {EVENTS}) ORDER BY sent_ms"
    ))?;
    let sends: Vec<Value> = stmt
        .query_map(params![page_id, psid, ""], |r| {
            let response: String = r.get(2)?;
            Ok(json!({
                "event_id": r.get::<_, String>(0)?,
                "slot": r.get::<_, String>(1)?,
                "response": json_or_text(response),
                "sent_ms": r.get::<_, i64>(3)?,
            }))
        })?
        .collect::<Result<_, _>>()?;
    let problems: Vec<Value> = problems::of_person(conn, page_id, psid)?.iter().map(|p| p.to_json()).collect();
    Ok(json!({
        "page_id": page_id,
        "psid": psid,
        "conversation": conversation,
        "notification_tokens": tokens,
        "events": events,
        "sends": sends,
        "problems": problems,
    }))
}

pub fn erasure(conn: &Connection, request: &str, page_id: &str) -> anyhow::Result<Option<Erasure>> {
    let row = conn
        .query_row("SELECT erased_ms, erased FROM erasures WHERE request = ?1 AND page_id = ?2", params![request, page_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?;
    Ok(row.map(|(erased_ms, erased)| Erasure {
        page_id: page_id.to_string(),
        erased_ms,
        erased: serde_json::from_str(&erased).unwrap_or_default(),
    }))
}

pub fn record_deletion_request(tx: &Transaction<'_>, request: &DeletionRequest) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO deletion_requests (code, app_id, user_id, received_ms, state, note, pages, resolved_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (code) DO UPDATE SET user_id = excluded.user_id, state = excluded.state, note = excluded.note,
             pages = excluded.pages, resolved_ms = excluded.resolved_ms",
        params![
            request.code,
            request.app_id,
            request.user_id,
            request.received_ms,
            request.state.as_str(),
            request.note,
            json!(request.pages).to_string(),
            request.resolved_ms
        ],
    )?;
    Ok(())
}

/// One request by its code, or every pending one (`code: None`).
pub fn deletion_requests(conn: &Connection, code: Option<&str>) -> anyhow::Result<Vec<DeletionRequest>> {
    let mut stmt = conn.prepare(
        "SELECT code, app_id, user_id, received_ms, state, note, pages, resolved_ms FROM deletion_requests
         WHERE (?1 IS NULL AND state = 'pending') OR code = ?1 ORDER BY received_ms",
    )?;
    let rows = stmt.query_map(params![code], |r| {
        let state: String = r.get(4)?;
        let pages: String = r.get(6)?;
        Ok(DeletionRequest {
            code: r.get(0)?,
            app_id: r.get(1)?,
            user_id: r.get(2)?,
            received_ms: r.get(3)?,
            state: crate::store::DeletionState::parse(&state),
            note: r.get(5)?,
            pages: serde_json::from_str(&pages).unwrap_or_default(),
            resolved_ms: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::super::SqliteBackend;
    use crate::model::InboundEvent;
    use crate::store::{Backend, InboxSeq, NotificationToken, WriteOp, WriteResult};

    fn message(page: &str, psid: &str, mid: &str) -> InboundEvent {
        let body = format!(
            r#"{{"object":"page","entry":[{{"id":"{page}","messaging":[{{"sender":{{"id":"{psid}"}},"recipient":{{"id":"{page}"}},"timestamp":1700000000000,"message":{{"mid":"{mid}","text":"hi"}}}}]}}]}}"#
        );
        crate::ingress::envelope::parse(body.as_bytes()).expect("valid").events.remove(0)
    }

    fn seqs(result: &WriteResult) -> Vec<InboxSeq> {
        match result {
            WriteResult::Appended(stored) => stored.iter().flatten().copied().collect(),
            other => panic!("{other:?}"),
        }
    }

    fn token(psid: &str, token: &str, expires_ms: u64) -> NotificationToken {
        NotificationToken { token: token.into(), psid: psid.into(), topic: Some("t".into()), issued_ms: 1, expires_ms, used_ms: None }
    }

    /// The person's rows go, and only theirs: not another person's on the
    /// same Page, not the same PSID's on another Page, not the erasure.
    #[test]
    fn erasing_takes_the_persons_rows_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut w, mut r) = SqliteBackend::open_pair(dir.path()).expect("opens");
        let far = u64::MAX / 4;
        let erasure = InboundEvent::person_erased("P", "u", "req", 1_700_000_000_001).expect("event");
        let appended = w
            .write_batch(&[WriteOp::Append(
                vec![message("P", "u", "m1"), message("P", "u", "m2"), message("P", "v", "m3"), message("Q", "u", "m4"), erasure.clone()]
                    .into(),
            )])
            .expect("writes");
        let seq = seqs(&appended[0]);
        w.write_batch(&[
            WriteOp::DeadLetter { seq: seq[1], attempts: 3, error: "boom".into() },
            WriteOp::OutboxSent { page_id: "P".into(), event_id: "messaging:message:m1".into(), slot: "0:0".into(), response: "{}".into() },
            WriteOp::OutboxSent { page_id: "P".into(), event_id: "messaging:message:m3".into(), slot: "0:0".into(), response: "{}".into() },
            WriteOp::ConversationPut { page_id: "P".into(), psid: "u".into(), state: "{}".into() },
            WriteOp::ConversationPut { page_id: "P".into(), psid: "v".into(), state: "{}".into() },
            WriteOp::ConversationPut { page_id: "Q".into(), psid: "u".into(), state: "{}".into() },
            WriteOp::TokenIssued { page_id: "P".into(), token: token("u", "tu", far) },
            WriteOp::TokenIssued { page_id: "P".into(), token: token("v", "tv", far) },
        ])
        .expect("writes");
        assert_eq!(r.person("P", "u").expect("reads")["events"].as_array().map(Vec::len), Some(3));

        let op = WriteOp::ErasePerson { page_id: "P".into(), psid: "u".into(), request: "req".into(), except: erasure.id.clone() };
        let erased = match &w.write_batch(std::slice::from_ref(&op)).expect("erases")[0] {
            WriteResult::Erased(e) => *e,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (erased.events, erased.dead_letters, erased.sends, erased.conversations, erased.tokens, erased.problems),
            (2, 1, 1, 1, 1, 1),
            "the dead letter's problem row goes too"
        );
        let left = r.person("P", "u").expect("reads");
        assert_eq!(left["events"][0]["kind"], "person-erased", "{left:#}");
        assert_eq!(left["events"].as_array().map(Vec::len), Some(1));
        assert_eq!((&left["conversation"], &left["notification_tokens"]), (&serde_json::Value::Null, &serde_json::json!([])));
        for (page, psid) in [("P", "v"), ("Q", "u")] {
            let other = r.person(page, psid).expect("reads");
            assert_eq!(other["events"].as_array().map(Vec::len), Some(1), "{page}/{psid}: {other:#}");
            assert!(other["conversation"].is_object(), "{page}/{psid}");
        }
        assert_eq!(r.person("P", "v").expect("reads")["sends"].as_array().map(Vec::len), Some(1));

        // A replay erases nothing more and keeps the first note.
        let again = w.write_batch(&[op]).expect("erases");
        assert_eq!(again, [WriteResult::Erased(Default::default())]);
        assert_eq!(r.erasure("req", "P").expect("reads").map(|e| e.erased), Some(erased));
        assert_eq!(r.erasure("req", "Q").expect("reads"), None);
    }

    /// Conversations not changed within their retention, and expired
    /// tokens, are pruned; the rest stay.
    #[test]
    fn pruning_removes_stale_conversations_and_expired_tokens() {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut w, mut r) = SqliteBackend::open_pair(dir.path()).expect("opens");
        let now = super::super::now_ms();
        w.write_batch(&[
            WriteOp::ConversationPut { page_id: "P".into(), psid: "old".into(), state: "{}".into() },
            WriteOp::TokenIssued { page_id: "P".into(), token: token("old", "expired", 5) },
            WriteOp::TokenIssued { page_id: "P".into(), token: token("old", "live", (now + 60_000) as u64) },
        ])
        .expect("writes");
        // Kept with a retention of zero (0: keep), gone once it is older.
        w.write_batch(&[WriteOp::Prune { before_ms: 0, conversations_before_ms: 0 }]).expect("prunes");
        assert!(r.conversation_get("P", "old").expect("reads").is_some());
        let tokens: Vec<String> =
            r.tokens("P", &crate::store::TokenQuery::Psid("old".into())).expect("reads").into_iter().map(|t| t.token).collect();
        assert_eq!(tokens, ["live"]);
        w.write_batch(&[WriteOp::Prune { before_ms: 0, conversations_before_ms: now + 1000 }]).expect("prunes");
        assert!(r.conversation_get("P", "old").expect("reads").is_none());
    }
}
