//! Visits: reading a visit with its results, finding one by number, and deleting one
//! with its files (by the visitor, the operator or retention).

use articket_style::Painter;
use rusqlite::{params, OptionalExtension};

use crate::{
    painter_at, touched, FileKind, Result, ResultStatus, Store, StoreError, VisitMode, VisitStatus,
};

/// One visitor's visit, with its painter results in the order they were requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub id: String,
    pub room_id: String,
    pub participant_token_hash: String,
    pub status: VisitStatus,
    pub name: Option<String>,
    pub photo_file: Option<String>,
    pub ticket_file: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// The visit's running number in this booth, never given twice: the ticket's
    /// "No. 0042".
    pub number: i64,
    pub mode: VisitMode,
    /// Quiz answers so far, one letter (a or b) per question.
    pub answers: Option<String>,
    /// The quiz's four-letter type, once every question is answered.
    pub personality: Option<String>,
    /// The visitor agreed to have their paintings shown on the booth's screen.
    pub on_screen: bool,
    /// The key of the visit's results link, once its ticket has one.
    pub results_key: Option<String>,
    /// The matte of the photo (a grey PNG), when the booth has a matting model.
    pub matte_file: Option<String>,
    pub results: Vec<PainterResult>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PainterResult {
    pub painter: Painter,
    pub status: ResultStatus,
    pub image_file: Option<String>,
    pub error: Option<String>,
    /// Tries started so far (the one under way included).
    pub attempts: u32,
    /// When a queued painter's next try is due (Unix seconds), after a failed try.
    pub next_try_at: Option<i64>,
}

impl Store {
    pub fn visit(&self, visit_id: &str) -> Result<Option<Visit>> {
        let conn = self.conn();
        let visit = conn
            .query_row(
                "SELECT id, room_id, participant_token_hash, status, name, photo_file, ticket_file, created_at, finished_at, number,
                        mode, answers, personality, on_screen, results_key, matte_file
                 FROM visits WHERE id = ?1",
                [visit_id],
                |r| {
                    Ok(Visit {
                        id: r.get(0)?,
                        room_id: r.get(1)?,
                        participant_token_hash: r.get(2)?,
                        status: VisitStatus::parse(&r.get::<_, String>(3)?)?,
                        name: r.get(4)?,
                        photo_file: r.get(5)?,
                        ticket_file: r.get(6)?,
                        created_at: r.get(7)?,
                        finished_at: r.get(8)?,
                        number: r.get(9)?,
                        mode: VisitMode::parse(&r.get::<_, String>(10)?)?,
                        answers: r.get(11)?,
                        personality: r.get(12)?,
                        on_screen: r.get(13)?,
                        results_key: r.get(14)?,
                        matte_file: r.get(15)?,
                        results: Vec::new(),
                    })
                },
            )
            .optional()?;
        let Some(mut visit) = visit else {
            return Ok(None);
        };
        let mut stmt = conn.prepare_cached(
            "SELECT painter, status, image_file, error, attempts, next_try_at FROM results WHERE visit_id = ?1 ORDER BY position",
        )?;
        visit.results = stmt
            .query_map([visit_id], |r| {
                Ok(PainterResult {
                    painter: painter_at(r, 0)?,
                    status: ResultStatus::parse(&r.get::<_, String>(1)?)?,
                    image_file: r.get(2)?,
                    error: r.get(3)?,
                    attempts: r.get(4)?,
                    next_try_at: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(visit))
    }

    /// The (visit id, room id) of the visit with this running number (the operator's
    /// "#42").
    /// The key of the visit's results link: made the first time it is asked for, the
    /// same ever after. `NoSuchVisit` when the visit is gone.
    pub fn results_key(&self, visit_id: &str, fresh: &str) -> Result<String> {
        let conn = self.conn();
        conn.execute(
            "UPDATE visits SET results_key = ?2 WHERE id = ?1 AND results_key IS NULL",
            params![visit_id, fresh],
        )?;
        conn.query_row(
            "SELECT results_key FROM visits WHERE id = ?1",
            [visit_id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(StoreError::NoSuchVisit)
    }

    pub fn visit_by_number(&self, number: i64) -> Result<Option<(String, String)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, room_id FROM visits WHERE number = ?1",
                [number],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The visitor said they are done; the kiosk may move on.
    pub fn visitor_finished(&self, visit_id: &str, now: i64) -> Result<()> {
        touched(self.conn().execute(
            "UPDATE visits SET finished_at = COALESCE(finished_at, ?2), updated_at = ?2 WHERE id = ?1",
            params![visit_id, now],
        )?)
    }

    /// The phone saved its ticket once more.
    pub fn ticket_saved(&self, visit_id: &str) -> Result<()> {
        touched(self.conn().execute(
            "UPDATE visits SET tickets_saved = tickets_saved + 1 WHERE id = ?1 AND ticket_file IS NOT NULL",
            [visit_id],
        )?)
    }

    /// Records the matte file of a visit's photo. Returns false (and records nothing)
    /// when the visit is gone or already has one: the caller deletes its file.
    pub fn set_matte(&self, visit_id: &str, matte_file: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE visits SET matte_file = ?2 WHERE id = ?1 AND matte_file IS NULL",
            [visit_id, matte_file],
        )? == 1)
    }

    /// Deletes a visit with its results, prints and room. Returns the names of the files
    /// it referenced (photo, paintings, ticket), for the caller to delete.
    pub fn delete_visit(&self, visit_id: &str) -> Result<Vec<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut files: Vec<String> = Vec::new();
        type Row = (String, Option<String>, Option<String>, Option<String>);
        let row: Option<Row> = tx
            .query_row(
                "SELECT room_id, photo_file, ticket_file, matte_file FROM visits WHERE id = ?1",
                [visit_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((room_id, photo, ticket, matte)) = row else {
            return Ok(files);
        };
        files.extend(photo);
        files.extend(ticket);
        files.extend(matte);
        {
            let mut stmt = tx.prepare(
                "SELECT image_file FROM results WHERE visit_id = ?1 AND image_file IS NOT NULL",
            )?;
            let images = stmt.query_map([visit_id], |r| r.get::<_, String>(0))?;
            for f in images {
                files.push(f?);
            }
        }
        // The counters keep how the visit went, without anything that names it.
        tx.execute(
            "INSERT INTO archived_visits (created_at, has_ticket, tickets_saved, printed, print_failed)
             SELECT created_at, has_ticket, tickets_saved, printed, print_failed
             FROM live_visit_stats WHERE id = ?1",
            [visit_id],
        )?;
        tx.execute(
            "INSERT INTO archived_results (created_at, painter, position, status, latency_ms)
             SELECT created_at, painter, position, status, latency_ms
             FROM live_result_stats WHERE id = ?1",
            [visit_id],
        )?;
        tx.execute("DELETE FROM prints WHERE visit_id = ?1", [visit_id])?;
        tx.execute("DELETE FROM results WHERE visit_id = ?1", [visit_id])?;
        tx.execute("UPDATE rooms SET visit_id = NULL WHERE id = ?1", [&room_id])?;
        tx.execute("DELETE FROM visits WHERE id = ?1", [visit_id])?;
        tx.execute("DELETE FROM rooms WHERE id = ?1", [&room_id])?;
        tx.commit()?;
        Ok(files)
    }

    /// Visits created before `cutoff` (for the retention sweeper); rooms that never got
    /// a visit and are that old are deleted on the spot.
    pub fn expired_visits(&self, cutoff: i64) -> Result<Vec<String>> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM rooms WHERE visit_id IS NULL AND created_at < ?1
               AND NOT EXISTS (SELECT 1 FROM visits WHERE visits.room_id = rooms.id)",
            [cutoff],
        )?;
        // The counters need a day; a week of anonymous history is plenty.
        for table in ["archived_visits", "archived_results"] {
            conn.execute(
                &format!("DELETE FROM {table} WHERE created_at < ?1"),
                [cutoff - 7 * 24 * 3600],
            )?;
        }
        let mut stmt = conn.prepare("SELECT id FROM visits WHERE created_at < ?1")?;
        let ids = stmt
            .query_map([cutoff], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// Closes the painting phase: `Done` with a ticket, or `Failed` without one. When
    /// the visit was deleted meanwhile, the ticket file is removed again and the answer
    /// is `NoSuchVisit`.
    pub fn painting_finished(
        &self,
        visit_id: &str,
        ticket_file: Option<&str>,
        now: i64,
    ) -> Result<VisitStatus> {
        let status = if ticket_file.is_some() {
            VisitStatus::Done
        } else {
            VisitStatus::Failed
        };
        let n = self.conn().execute(
            "UPDATE visits SET status = ?2, ticket_file = ?3, updated_at = ?4 WHERE id = ?1",
            params![visit_id, status.as_str(), ticket_file, now],
        )?;
        if n == 0 {
            if let Some(ticket) = ticket_file {
                self.files.remove(ticket)?;
            }
            return Err(StoreError::NoSuchVisit);
        }
        Ok(status)
    }

    /// Stores the ticket (if there is one) and closes the painting phase, as one step:
    /// `Done` with the ticket's file name, or `Failed`. When the visit was deleted
    /// meanwhile, nothing is left behind and the answer is `NoSuchVisit`.
    pub fn close_painting(
        &self,
        visit_id: &str,
        ticket_png: Option<&[u8]>,
        now: i64,
    ) -> Result<(VisitStatus, Option<String>)> {
        let file = ticket_png
            .map(|png| self.files.put(png, FileKind::Png))
            .transpose()?;
        let status = self.painting_finished(visit_id, file.as_deref(), now)?;
        Ok((status, file))
    }
}
