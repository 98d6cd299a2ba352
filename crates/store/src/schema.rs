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
];

pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
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
