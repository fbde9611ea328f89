//! The `problems` table: the recent-problems ring (see
//! [`crate::store::problems`]). One row per problem; `page_id` is `''` for
//! the host's own. After each insert the Page's oldest rows past
//! [`KEPT_PER_PAGE`] go, so the table stays bounded whatever the rate.

use rusqlite::{params, Connection, Transaction};

use crate::store::problems::{capped, now_us, Problem, ProblemKind, ProblemQuery, RecordedProblem, KEPT_PER_PAGE};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS problems (
    id INTEGER PRIMARY KEY,
    -- When it happened, in microseconds since the epoch.
    at_us INTEGER NOT NULL,
    page_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    class TEXT,
    plugin TEXT,
    event_id TEXT,
    message TEXT NOT NULL,
    code INTEGER,
    subcode INTEGER,
    fbtrace_id TEXT,
    repeated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS problems_page ON problems (page_id, id);
CREATE INDEX IF NOT EXISTS problems_at ON problems (page_id, at_us);
CREATE INDEX IF NOT EXISTS problems_time ON problems (at_us);
";

const INSERT: &str = "INSERT INTO problems (at_us, page_id, kind, class, plugin, event_id, message, code, subcode, fbtrace_id, repeated)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
/// The event's own Page and id, read from the inbox row being made dead.
const INSERT_DEAD_LETTER: &str = "INSERT INTO problems (at_us, page_id, kind, event_id, message)
     SELECT ?1, page_id, 'dead_letter', event_id, ?2 FROM inbox WHERE seq = ?3";
const PAGE_OF: &str = "SELECT page_id FROM inbox WHERE seq = ?1";
/// Deletes a Page's rows older than its `KEPT_PER_PAGE` newest.
const TRIM: &str = "DELETE FROM problems WHERE page_id = ?1
     AND id < (SELECT id FROM problems WHERE page_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)";
const COLUMNS: &str = "id, at_us, page_id, kind, class, plugin, event_id, message, code, subcode, fbtrace_id, repeated";
/// Without a cursor: the newest, by when they happened.
const NEWEST: &str = "FROM problems WHERE (?1 IS NULL OR page_id = ?1) AND id > ?2 AND at_us >= ?3 ORDER BY at_us DESC, id DESC LIMIT ?4";
/// After a cursor: the next ones in the order they reached the store, so
/// a poller that asks again from the last id misses none.
const NEXT: &str = "FROM problems WHERE (?1 IS NULL OR page_id = ?1) AND id > ?2 AND at_us >= ?3 ORDER BY id LIMIT ?4";

pub fn record(tx: &Transaction<'_>, problems: &[(Problem, u32)]) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(INSERT)?;
    let mut pages: Vec<&str> = Vec::new();
    for (p, repeated) in problems {
        let page = p.page_id.as_deref().unwrap_or("");
        insert.execute(params![
            p.at_us,
            page,
            p.kind.as_str(),
            p.class,
            p.plugin,
            p.event_id,
            p.message,
            p.code,
            p.subcode,
            p.fbtrace_id,
            repeated
        ])?;
        if !pages.contains(&page) {
            pages.push(page);
        }
    }
    for page in pages {
        trim(tx, page)?;
    }
    Ok(())
}

/// Records the dead letter the inbox row `seq` just became.
pub fn record_dead_letter(tx: &Transaction<'_>, seq: i64, error: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(INSERT_DEAD_LETTER)?.execute(params![now_us(), capped(error.to_string()), seq])?;
    let page: String = tx.prepare_cached(PAGE_OF)?.query_row(params![seq], |r| r.get(0))?;
    trim(tx, &page)
}

fn trim(tx: &Transaction<'_>, page: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(TRIM)?.execute(params![page, KEPT_PER_PAGE as i64 - 1])?;
    Ok(())
}

pub fn select(conn: &Connection, query: &ProblemQuery) -> anyhow::Result<Vec<RecordedProblem>> {
    let next = query.after_id > 0;
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} {}", if next { NEXT } else { NEWEST }))?;
    let rows = stmt.query_map(params![query.page_id, query.after_id, query.since_ms.saturating_mul(1000), query.limit as i64], row)?;
    let mut out: Vec<RecordedProblem> = rows.collect::<Result<_, _>>()?;
    if !next {
        out.reverse();
    }
    Ok(out)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordedProblem> {
    let page: String = r.get(2)?;
    let kind: String = r.get(3)?;
    let at_us: i64 = r.get(1)?;
    Ok(RecordedProblem {
        id: r.get(0)?,
        at_ms: at_us / 1000,
        repeated: r.get(11)?,
        problem: Problem {
            at_us,
            page_id: (!page.is_empty()).then_some(page),
            // Written by this module from `ProblemKind::as_str`.
            kind: ProblemKind::parse(&kind).unwrap_or(ProblemKind::WebhookRefused),
            class: r.get(4)?,
            plugin: r.get(5)?,
            event_id: r.get(6)?,
            message: r.get(7)?,
            code: r.get(8)?,
            subcode: r.get(9)?,
            fbtrace_id: r.get(10)?,
        },
    })
}

/// A person's problems on a Page: those of their events still in the
/// inbox, and those whose id or text names their PSID (ids of events
/// without a message id contain it).
const OF_PERSON: &str = "FROM problems WHERE page_id = ?1 AND (instr(event_id, ?2) > 0 OR instr(message, ?2) > 0
     OR event_id IN (SELECT event_id FROM inbox WHERE page_id = ?1 AND user_key = ?2))";

pub fn of_person(conn: &Connection, page_id: &str, psid: &str) -> anyhow::Result<Vec<RecordedProblem>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} {OF_PERSON} ORDER BY id"))?;
    let rows = stmt.query_map(params![page_id, psid], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes a person's problems on a Page (before their inbox rows go).
pub fn erase_person(tx: &Transaction<'_>, page_id: &str, psid: &str) -> rusqlite::Result<usize> {
    tx.execute(&format!("DELETE {OF_PERSON}"), params![page_id, psid])
}

#[cfg(test)]
mod tests {
    use crate::store::problems::{Problem, ProblemKind, ProblemQuery, KEPT_PER_PAGE};
    use crate::store::sqlite::SqliteBackend;
    use crate::store::{Backend, InboxSeq, WriteOp};

    fn query(page: Option<&str>) -> ProblemQuery {
        ProblemQuery { page_id: page.map(str::to_string), limit: 10_000, ..ProblemQuery::default() }
    }

    #[test]
    fn each_page_keeps_its_newest_problems_and_no_more() {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut w, mut r) = SqliteBackend::open_pair(dir.path()).expect("opens");
        let many: Vec<(Problem, u32)> =
            (0..KEPT_PER_PAGE + 100).map(|n| (Problem::new(Some("P"), ProblemKind::GraphError, format!("p{n}")), 0)).collect();
        let few =
            vec![(Problem::new(Some("Q"), ProblemKind::PluginFailed, "q"), 0), (Problem::new(None, ProblemKind::WebhookRefused, "h"), 3)];
        w.write_batch(&[WriteOp::Problems(few), WriteOp::Problems(many)]).expect("writes");
        let p = r.problems(&query(Some("P"))).expect("reads");
        assert_eq!(p.len(), KEPT_PER_PAGE);
        assert_eq!((p[0].problem.message.as_str(), p[KEPT_PER_PAGE - 1].problem.message.as_str()), ("p100", "p599"));
        assert_eq!(r.problems(&query(Some("Q"))).expect("reads").len(), 1, "another Page's are not pushed out");
        let host = r.problems(&query(Some(""))).expect("reads");
        assert_eq!((host.len(), host[0].problem.page_id.as_deref(), host[0].repeated), (1, None, 3));
        assert_eq!(r.problems(&query(None)).expect("reads").len(), KEPT_PER_PAGE + 2);
        let after = p[KEPT_PER_PAGE - 2].id;
        let newer = r.problems(&ProblemQuery { after_id: after, ..query(None) }).expect("reads");
        assert_eq!(newer.iter().map(|n| n.problem.message.as_str()).collect::<Vec<_>>(), ["p599"]);
    }

    /// A poller reading from a cursor gets every new problem, however many
    /// arrived since, a page at a time.
    #[test]
    fn reading_after_a_cursor_misses_none() {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut w, mut r) = SqliteBackend::open_pair(dir.path()).expect("opens");
        w.write_batch(&[WriteOp::Problems(vec![(Problem::new(Some("P"), ProblemKind::GraphError, "first"), 0)])]).expect("writes");
        let cursor = r.problems(&query(None)).expect("reads")[0].id;
        let burst: Vec<(Problem, u32)> = (0..150).map(|n| (Problem::new(Some("P"), ProblemKind::GraphError, format!("b{n}")), 0)).collect();
        w.write_batch(&[WriteOp::Problems(burst)]).expect("writes");
        let mut seen = Vec::new();
        let mut after = cursor;
        loop {
            let page = r.problems(&ProblemQuery { after_id: after, limit: 100, ..query(None) }).expect("reads");
            let Some(last) = page.last() else { break };
            after = last.id;
            seen.extend(page.into_iter().map(|p| p.problem.message));
        }
        assert_eq!(seen, (0..150).map(|n| format!("b{n}")).collect::<Vec<_>>());
    }

    #[test]
    fn a_dead_letter_is_recorded_with_the_event_that_died() {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut w, mut r) = SqliteBackend::open_pair(dir.path()).expect("opens");
        let body = r#"{"object":"page","entry":[{"id":"P","messaging":[
            {"sender":{"id":"u"},"recipient":{"id":"P"},"timestamp":1700000000001,"message":{"mid":"m1","text":"a"}}]}]}"#;
        let events = crate::ingress::envelope::parse(body.as_bytes()).expect("valid").events;
        w.write_batch(&[WriteOp::Append(events.into())]).expect("appends");
        let dead = WriteOp::DeadLetter { seq: InboxSeq(1), attempts: 3, error: "x".repeat(5000) };
        // Twice: the second finds no pending event and records nothing.
        w.write_batch(&[dead.clone(), dead]).expect("writes");
        let problems = r.problems(&query(Some("P"))).expect("reads");
        assert_eq!(problems.len(), 1);
        let p = &problems[0].problem;
        assert_eq!((p.kind, p.event_id.as_deref()), (ProblemKind::DeadLetter, Some("messaging:message:m1")));
        assert!(p.message.len() <= crate::store::problems::MESSAGE_LIMIT && p.message.ends_with('…'), "{}", p.message.len());
    }
}
