//! Schema migrations, applied in order and recorded in SQLite's `user_version`.
//! Append new steps; never edit a step that has shipped.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: rooms, visits and per-painter results.
    "CREATE TABLE rooms (
        id               TEXT PRIMARY KEY,
        kiosk_token_hash TEXT NOT NULL,
        join_secret      TEXT,
        visit_id         TEXT UNIQUE,
        created_at       INTEGER NOT NULL
    );
    CREATE TABLE visits (
        id                     TEXT PRIMARY KEY,
        room_id                TEXT NOT NULL UNIQUE REFERENCES rooms(id),
        participant_token_hash TEXT NOT NULL,
        status                 TEXT NOT NULL,
        name                   TEXT,
        photo_file             TEXT,
        ticket_file            TEXT,
        created_at             INTEGER NOT NULL,
        updated_at             INTEGER NOT NULL,
        finished_at            INTEGER
    );
    CREATE INDEX visits_by_status ON visits(status);
    CREATE TABLE results (
        visit_id   TEXT NOT NULL REFERENCES visits(id),
        painter    TEXT NOT NULL,
        position   INTEGER NOT NULL,
        status     TEXT NOT NULL,
        image_file TEXT,
        error      TEXT,
        attempts   INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (visit_id, painter)
    );",
    // 2: the print log.
    "CREATE TABLE prints (
        id           INTEGER PRIMARY KEY,
        visit_id     TEXT NOT NULL REFERENCES visits(id),
        status       TEXT NOT NULL,
        message      TEXT,
        requested_at INTEGER NOT NULL
    );
    CREATE INDEX prints_by_visit ON prints(visit_id);",
    // 3: for the operator's counters: when painting began and each result ended (ms),
    // and how many times the phone saved its ticket.
    "ALTER TABLE visits ADD COLUMN painting_ms INTEGER;
    ALTER TABLE visits ADD COLUMN tickets_saved INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE results ADD COLUMN done_ms INTEGER;
    CREATE INDEX visits_by_created ON visits(created_at);",
    // 4: quiz mode: the visit's mode, its answers so far ("abba…") and its type.
    "ALTER TABLE visits ADD COLUMN mode TEXT NOT NULL DEFAULT 'convert';
    ALTER TABLE visits ADD COLUMN answers TEXT;
    ALTER TABLE visits ADD COLUMN personality TEXT;",
    // 5: what the operator's counters keep of a deleted visit: when it began and how it
    // went, with no id, name or file. The views join them to the live rows.
    "CREATE TABLE archived_visits (
        created_at    INTEGER NOT NULL,
        has_ticket    INTEGER NOT NULL,
        tickets_saved INTEGER NOT NULL,
        printed       INTEGER NOT NULL,
        print_failed  INTEGER NOT NULL
    );
    CREATE INDEX archived_visits_by_created ON archived_visits(created_at);
    CREATE TABLE archived_results (
        created_at INTEGER NOT NULL,
        painter    TEXT NOT NULL,
        position   INTEGER NOT NULL,
        status     TEXT NOT NULL,
        latency_ms INTEGER
    );
    CREATE INDEX archived_results_by_created ON archived_results(created_at);
    CREATE VIEW live_visit_stats AS
      SELECT v.id, v.created_at, v.ticket_file IS NOT NULL AS has_ticket, v.tickets_saved,
             (SELECT COUNT(*) FROM prints p WHERE p.visit_id = v.id AND p.status = 'printed') AS printed,
             (SELECT COUNT(*) FROM prints p WHERE p.visit_id = v.id AND p.status = 'failed') AS print_failed
      FROM visits v;
    CREATE VIEW live_result_stats AS
      SELECT v.id, v.created_at, r.painter, r.position, r.status,
             CASE WHEN r.status = 'done' THEN r.done_ms - v.painting_ms END AS latency_ms
      FROM results r JOIN visits v ON v.id = r.visit_id;
    CREATE VIEW visit_stats AS
      SELECT created_at, has_ticket, tickets_saved, printed, print_failed FROM live_visit_stats
      UNION ALL SELECT created_at, has_ticket, tickets_saved, printed, print_failed FROM archived_visits;
    CREATE VIEW result_stats AS
      SELECT created_at, painter, position, status, latency_ms FROM live_result_stats
      UNION ALL SELECT created_at, painter, position, status, latency_ms FROM archived_results;",
    // 6: the visitor agreed to have their paintings shown in the kiosk's attract loop
    // (off unless they ticked the box; it goes with the visit's row).
    "ALTER TABLE visits ADD COLUMN on_screen INTEGER NOT NULL DEFAULT 0;",
    // 7: painter jobs: when a queued painter's next try is due, after a failed try.
    "ALTER TABLE results ADD COLUMN next_try_at INTEGER;",
    // 8: visit numbers from a counter that only grows, so a deleted visit's number is
    // never given again (the rowid was, after deleting the newest visit).
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    ALTER TABLE visits ADD COLUMN number INTEGER;
    UPDATE visits SET number = rowid;
    INSERT INTO counters (name, value)
      SELECT 'visit_number', COALESCE(MAX(rowid), 0) FROM visits;
    CREATE UNIQUE INDEX visits_by_number ON visits(number);",
    // 9: the key of the visit's own results link (the ticket's "My results" QR code),
    // which opens its paintings and ticket on any phone until the visit is deleted.
    "ALTER TABLE visits ADD COLUMN results_key TEXT;",
    // 10: the visit's matte (which pixels of the photo are the person), a grey PNG kept
    // with the photo and deleted with it.
    "ALTER TABLE visits ADD COLUMN matte_file TEXT;",
];

pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    migrate_to(conn, MIGRATIONS.len())
}

/// Applies the pending migrations up to schema `version` (tests build old stores).
pub(crate) fn migrate_to(conn: &mut Connection, version: usize) -> rusqlite::Result<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().take(version).skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
        tracing::info!("store migrated to schema version {}", i + 1);
    }
    Ok(())
}

/// The schema version this build writes.
#[cfg(test)]
pub const VERSION: usize = MIGRATIONS.len();
