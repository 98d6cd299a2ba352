//! Painter jobs: each painter's row of a visit is its job (queued, painting, done or
//! failed, with its tries and when the next try is due), so a restart finds exactly the
//! painters that had not finished.

use articket_style::Painter;
use rusqlite::params;

use crate::{touched, wall_ms, FileKind, Result, ResultStatus, Store, StoreError};

impl Store {
    /// Records the photo and queues one result per painter. A visit takes one photo.
    pub fn start_painting(
        &self,
        visit_id: &str,
        name: &str,
        photo_file: &str,
        painters: &[Painter],
        now: i64,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let updated = tx.execute(
            "UPDATE visits SET name = ?1, photo_file = ?2, status = 'painting', updated_at = ?3,
               painting_ms = ?5
             WHERE id = ?4 AND status = 'waiting'",
            params![name, photo_file, now, visit_id, wall_ms()],
        )?;
        if updated == 0 {
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM visits WHERE id = ?1)",
                [visit_id],
                |r| r.get(0),
            )?;
            return Err(if exists {
                StoreError::PhotoAlreadyReceived
            } else {
                StoreError::NoSuchVisit
            });
        }
        for (position, painter) in painters.iter().enumerate() {
            tx.execute(
                "INSERT INTO results (visit_id, painter, position, status, updated_at) VALUES (?1, ?2, ?3, 'queued', ?4)",
                params![visit_id, painter.id(), position as i64, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks a painter's try number `attempt` (from 1) as started.
    pub fn result_started(
        &self,
        visit_id: &str,
        painter: Painter,
        attempt: u32,
        now: i64,
    ) -> Result<()> {
        self.conn().execute(
            "UPDATE results SET status = 'painting', attempts = ?3, error = NULL, next_try_at = NULL,
               updated_at = ?4
             WHERE visit_id = ?1 AND painter = ?2",
            params![visit_id, painter.id(), attempt, now],
        )?;
        Ok(())
    }

    /// A try failed and another is due at `next_try_at` (Unix seconds): the job is
    /// queued again with the try's error, so a restart waits as long as the painter would
    /// have. `NoSuchVisit` when the visit is gone.
    pub fn result_retry_at(
        &self,
        visit_id: &str,
        painter: Painter,
        error: &str,
        next_try_at: i64,
        now: i64,
    ) -> Result<()> {
        touched(self.conn().execute(
            "UPDATE results SET status = 'queued', error = ?3, next_try_at = ?4, updated_at = ?5
             WHERE visit_id = ?1 AND painter = ?2",
            params![visit_id, painter.id(), error, next_try_at, now],
        )?)
    }

    /// Stores a finished painting's file and records it, as one step: when the visit
    /// was deleted meanwhile (the visitor asked, or retention ended it), the file is
    /// removed again and the answer is `NoSuchVisit`, so nothing is left behind.
    pub fn put_painting(
        &self,
        visit_id: &str,
        painter: Painter,
        jpeg: &[u8],
        now: i64,
    ) -> Result<String> {
        let file = self.files.put(jpeg, FileKind::Jpeg)?;
        match self.result_finished(visit_id, painter, Ok(&file), now) {
            Ok(()) => Ok(file),
            Err(e) => {
                self.files.remove(&file)?;
                Err(e)
            }
        }
    }

    /// Records a painter's final outcome: an image file, or an error. `NoSuchVisit`
    /// when the visit (or that painter's row) is gone.
    pub fn result_finished(
        &self,
        visit_id: &str,
        painter: Painter,
        outcome: std::result::Result<&str, &str>,
        now: i64,
    ) -> Result<()> {
        let (status, file, error) = match outcome {
            Ok(file) => (ResultStatus::Done, Some(file), None),
            Err(error) => (ResultStatus::Failed, None, Some(error)),
        };
        touched(self.conn().execute(
            "UPDATE results SET status = ?3, image_file = ?4, error = ?5, updated_at = ?6, done_ms = ?7
             WHERE visit_id = ?1 AND painter = ?2",
            params![visit_id, painter.id(), status.as_str(), file, error, now, wall_ms()],
        )?)
    }

    /// Puts one failed painter of a finished visit back in the queue ("try again"), and
    /// the visit back to painting. False when the visit is still painting or the
    /// painter did not fail, so nothing was changed.
    pub fn retry_painter(&self, visit_id: &str, painter: Painter, now: i64) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE results SET status = 'queued', attempts = 0, error = NULL, next_try_at = NULL, updated_at = ?3
             WHERE visit_id = ?1 AND painter = ?2 AND status = 'failed'
               AND EXISTS (SELECT 1 FROM visits WHERE id = ?1 AND status IN ('done', 'failed'))",
            params![visit_id, painter.id(), now],
        )?;
        if n == 1 {
            tx.execute(
                "UPDATE visits SET status = 'painting', updated_at = ?2 WHERE id = ?1",
                params![visit_id, now],
            )?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    /// Ids of visits whose painters were interrupted (by a crash or a restart).
    pub fn unfinished_visits(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT id FROM visits WHERE status = 'painting' ORDER BY created_at")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }
}
