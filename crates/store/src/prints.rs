//! The print log: starting a print once per press, finishing it, and reading the log.

use rusqlite::{params, OptionalExtension};

use crate::{Result, Store};

/// Whether a print may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintStart {
    Started(i64),
    /// A print of this visit is under way or just finished: pressing twice prints once.
    AlreadyPrinting(i64),
    /// The visit has had this many prints, its limit.
    LimitReached(u32),
}

/// One line of the print log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PrintEntry {
    pub id: i64,
    pub visit_id: String,
    pub visit_number: i64,
    /// "printing", "printed" or "failed".
    pub status: String,
    pub message: Option<String>,
    pub requested_at: i64,
}

impl Store {
    /// Starts a print of the visit's ticket, unless one is already under way or
    /// finished within `dedupe_secs`, or the visit has used `max_per_visit` prints
    /// (failed ones do not count). Returns the print's id, or why not.
    pub fn begin_print(
        &self,
        visit_id: &str,
        max_per_visit: u32,
        dedupe_secs: i64,
        now: i64,
    ) -> Result<PrintStart> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let recent: Option<i64> = tx
            .query_row(
                "SELECT id FROM prints WHERE visit_id = ?1 AND status != 'failed'
                   AND (status = 'printing' OR requested_at >= ?2) ORDER BY id DESC LIMIT 1",
                params![visit_id, now - dedupe_secs],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = recent {
            return Ok(PrintStart::AlreadyPrinting(id));
        }
        let used: u32 = tx.query_row(
            "SELECT COUNT(*) FROM prints WHERE visit_id = ?1 AND status = 'printed'",
            [visit_id],
            |r| r.get(0),
        )?;
        if used >= max_per_visit {
            return Ok(PrintStart::LimitReached(used));
        }
        tx.execute(
            "INSERT INTO prints (visit_id, status, requested_at) VALUES (?1, 'printing', ?2)",
            params![visit_id, now],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(PrintStart::Started(id))
    }

    /// Records how a print ended: `Ok(())` printed, or the printer's complaint.
    pub fn finish_print(
        &self,
        print_id: i64,
        outcome: std::result::Result<(), &str>,
    ) -> Result<()> {
        let (status, message) = match outcome {
            Ok(()) => ("printed", None),
            Err(m) => ("failed", Some(m)),
        };
        self.conn().execute(
            "UPDATE prints SET status = ?2, message = ?3 WHERE id = ?1",
            params![print_id, status, message],
        )?;
        Ok(())
    }

    /// The print log, newest first, and the counts of printed and failed prints.
    pub fn print_log(&self, limit: usize) -> Result<(Vec<PrintEntry>, u64, u64)> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT p.id, p.visit_id, v.number, p.status, p.message, p.requested_at
             FROM prints p JOIN visits v ON v.id = p.visit_id ORDER BY p.id DESC LIMIT ?1",
        )?;
        let entries = stmt
            .query_map([limit as i64], |r| {
                Ok(PrintEntry {
                    id: r.get(0)?,
                    visit_id: r.get(1)?,
                    visit_number: r.get(2)?,
                    status: r.get(3)?,
                    message: r.get(4)?,
                    requested_at: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let count = |status: &str| -> rusqlite::Result<u64> {
            conn.query_row(
                "SELECT COUNT(*) FROM prints WHERE status = ?1",
                [status],
                |r| r.get(0),
            )
        };
        Ok((entries, count("printed")?, count("failed")?))
    }
}
