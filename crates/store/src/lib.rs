//! The store: every room, visit and painter result as rows in one SQLite file (WAL mode),
//! and every image as a file on disk under a random name.
//!
//! The database is the truth. Events on sockets are only hints to re-read it, so a
//! restart or a dropped connection never loses a finished result. Nothing is wiped at
//! start-up. Files are written atomically (temp file, then rename), are named by 128
//! random bits, and never carry a visitor's name.
//!
//! The API is synchronous and quick (each call is one short transaction); async callers
//! run it on a blocking thread.

mod files;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use articket_style::Painter;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

pub use files::{FileKind, FileStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    #[error("that room already has a phone")]
    RoomTaken,
    #[error("no such room")]
    NoSuchRoom,
    #[error("this visit already has a photo")]
    PhotoAlreadyReceived,
    #[error("no such visit")]
    NoSuchVisit,
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Where a visit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VisitStatus {
    /// A phone joined; no photo yet.
    Waiting,
    /// The photo is in; painters are at work.
    Painting,
    /// Every painter finished and at least one succeeded; the ticket exists.
    Done,
    /// Every painter failed.
    Failed,
}

/// Where one painter's work on one visit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultStatus {
    Queued,
    Painting,
    Done,
    Failed,
}

/// What a visit is: every painter paints the visitor, or the quiz picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VisitMode {
    Convert,
    Quiz,
}

macro_rules! sql_text_enum {
    ($t:ty { $($v:ident => $s:literal),* }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            fn parse(s: &str) -> rusqlite::Result<Self> {
                match s {
                    $($s => Ok(Self::$v),)*
                    other => Err(rusqlite::Error::InvalidColumnType(
                        0, format!("unknown status {other:?}"), rusqlite::types::Type::Text)),
                }
            }
        }
    };
}
sql_text_enum!(VisitStatus { Waiting => "waiting", Painting => "painting", Done => "done", Failed => "failed" });
sql_text_enum!(ResultStatus { Queued => "queued", Painting => "painting", Done => "done", Failed => "failed" });
sql_text_enum!(VisitMode { Convert => "convert", Quiz => "quiz" });

/// A painter id read from a row; an id the booth does not know is a column error.
fn painter_at(row: &rusqlite::Row, index: usize) -> rusqlite::Result<Painter> {
    let id: String = row.get(index)?;
    id.parse().map_err(|_| {
        rusqlite::Error::InvalidColumnType(
            index,
            format!("unknown painter {id:?}"),
            rusqlite::types::Type::Text,
        )
    })
}

impl VisitStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, VisitStatus::Done | VisitStatus::Failed)
    }
}

impl ResultStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, ResultStatus::Done | ResultStatus::Failed)
    }
}

/// A kiosk's room. The kiosk token is stored as a hash. The join secret is kept only
/// while the room is open (the kiosk must redraw its QR code) and erased on join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: String,
    pub kiosk_token_hash: String,
    pub join_secret: Option<String>,
    pub visit_id: Option<String>,
    pub created_at: i64,
}

/// Aggregate counts (no personal data), for monitoring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub visits: Vec<(String, u64)>,
    pub results: Vec<(String, String, u64)>,
    pub prints: Vec<(String, u64)>,
}

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

/// The operator page's counters for one day (visits created since a given time).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayStats {
    pub visits: u64,
    /// Per painter: (painter, done, failed).
    pub painters: Vec<(Painter, u64, u64)>,
    /// From the photo's arrival to a painting being stored, over finished paintings.
    pub latency_median_ms: Option<i64>,
    pub latency_p95_ms: Option<i64>,
    /// Visits that got a ticket.
    pub tickets: u64,
    /// Times a phone saved its ticket.
    pub tickets_saved: u64,
    pub printed: u64,
    pub print_failed: u64,
}

/// One hour of a day, for the operator's charts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourStats {
    /// Hours since the day's start (0–23).
    pub hour: u32,
    pub visits: u64,
    /// From the photo's arrival to a painting being stored, over that hour's visits.
    pub latency_median_ms: Option<i64>,
    pub latency_p95_ms: Option<i64>,
}

/// The nearest-rank quantile `q` of sorted values.
fn quantile(sorted: &[i64], q: f64) -> Option<i64> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get(((last as f64) * q).round() as usize).copied()
}

/// A finished painting, for the operator's gallery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecentPainting {
    pub visit_number: i64,
    pub painter: Painter,
    pub image_file: String,
}

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
    /// The visit's running number in this booth (SQLite's rowid): the ticket's
    /// "No. 0042".
    pub number: i64,
    pub mode: VisitMode,
    /// Quiz answers so far, one letter (a or b) per question.
    pub answers: Option<String>,
    /// The quiz's four-letter type, once every question is answered.
    pub personality: Option<String>,
    /// The visitor agreed to have their paintings shown on the booth's screen.
    pub on_screen: bool,
    pub results: Vec<PainterResult>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PainterResult {
    pub painter: Painter,
    pub status: ResultStatus,
    pub image_file: Option<String>,
    pub error: Option<String>,
    pub attempts: u32,
}

/// The booth's database and file directory.
pub struct Store {
    db: Mutex<Connection>,
    files: FileStore,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store under `data_dir`: `articket.sqlite3` and
    /// `files/`. Applies pending migrations. Never deletes existing data.
    pub fn open(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir)?;
        let files = FileStore::open(&data_dir.join("files"))?;
        let path = data_dir.join("articket.sqlite3");
        let mut conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut conn)?;
        Ok(Store {
            db: Mutex::new(conn),
            files,
            path,
        })
    }

    pub fn files(&self) -> &FileStore {
        &self.files
    }

    /// The SQLite file, for operators and tests.
    pub fn db_path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (each call is
        // one transaction), so a poisoned lock is safe to reuse.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn create_room(&self, room: &Room) -> Result<()> {
        self.conn().execute(
            "INSERT INTO rooms (id, kiosk_token_hash, join_secret, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![room.id, room.kiosk_token_hash, room.join_secret, room.created_at],
        )?;
        Ok(())
    }

    pub fn room(&self, room_id: &str) -> Result<Option<Room>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, kiosk_token_hash, join_secret, visit_id, created_at FROM rooms WHERE id = ?1",
                [room_id],
                |r| {
                    Ok(Room {
                        id: r.get(0)?,
                        kiosk_token_hash: r.get(1)?,
                        join_secret: r.get(2)?,
                        visit_id: r.get(3)?,
                        created_at: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Gives the room its one phone: creates the visit and claims the room in one
    /// transaction, so two phones racing for one QR code cannot both win.
    pub fn join_room(
        &self,
        room_id: &str,
        visit_id: &str,
        participant_token_hash: &str,
        now: i64,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let claimed = tx.execute(
            "UPDATE rooms SET visit_id = ?1, join_secret = NULL WHERE id = ?2 AND visit_id IS NULL",
            params![visit_id, room_id],
        )?;
        if claimed == 0 {
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM rooms WHERE id = ?1)",
                [room_id],
                |r| r.get(0),
            )?;
            return Err(if exists {
                StoreError::RoomTaken
            } else {
                StoreError::NoSuchRoom
            });
        }
        tx.execute(
            "INSERT INTO visits (id, room_id, participant_token_hash, status, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'waiting', ?4, ?4)",
            params![visit_id, room_id, participant_token_hash, now],
        )?;
        tx.commit()?;
        Ok(())
    }

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

    /// Marks a painter as started; counts the attempt.
    pub fn result_started(&self, visit_id: &str, painter: Painter, now: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE results SET status = 'painting', attempts = attempts + 1, error = NULL, updated_at = ?3
             WHERE visit_id = ?1 AND painter = ?2",
            params![visit_id, painter.id(), now],
        )?;
        Ok(())
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

    /// Puts one failed painter of a finished visit back in the queue ("try again"), and
    /// the visit back to painting. False when the visit is still painting or the
    /// painter did not fail, so nothing was changed.
    pub fn retry_painter(&self, visit_id: &str, painter: Painter, now: i64) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE results SET status = 'queued', attempts = 0, error = NULL, updated_at = ?3
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
            "SELECT p.id, p.visit_id, v.rowid, p.status, p.message, p.requested_at
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

    /// Counts for `/metrics`: visits by status, results by (painter, status), prints by
    /// status.
    pub fn counts(&self) -> Result<Counts> {
        let conn = self.conn();
        let pairs = |sql: &str| -> rusqlite::Result<Vec<(String, u64)>> {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        };
        let visits = pairs("SELECT status, COUNT(*) FROM visits GROUP BY status ORDER BY status")?;
        let prints = pairs("SELECT status, COUNT(*) FROM prints GROUP BY status ORDER BY status")?;
        let mut stmt = conn.prepare(
            "SELECT painter, status, COUNT(*) FROM results GROUP BY painter, status ORDER BY painter, status",
        )?;
        let results = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Counts {
            visits,
            results,
            prints,
        })
    }

    /// Counters for visits created at or after `since` (the operator's "today").
    pub fn day_stats(&self, since: i64) -> Result<DayStats> {
        // Over live and deleted visits alike: deleting a visit's photos does not
        // take it out of the day's counts.
        let conn = self.conn();
        let visits = conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(has_ticket), 0), COALESCE(SUM(tickets_saved), 0),
                    COALESCE(SUM(printed), 0), COALESCE(SUM(print_failed), 0)
             FROM visit_stats WHERE created_at >= ?1",
            [since],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let mut stmt = conn.prepare(
            "SELECT painter, SUM(status = 'done'), SUM(status = 'failed')
             FROM result_stats WHERE created_at >= ?1
             GROUP BY painter ORDER BY MIN(position), painter",
        )?;
        let painters = stmt
            .query_map([since], |r| Ok((painter_at(r, 0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut stmt = conn.prepare(
            "SELECT latency_ms FROM result_stats
             WHERE created_at >= ?1 AND latency_ms IS NOT NULL ORDER BY 1",
        )?;
        let latencies = stmt
            .query_map([since], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(DayStats {
            visits: visits.0,
            painters,
            latency_median_ms: quantile(&latencies, 0.5),
            latency_p95_ms: quantile(&latencies, 0.95),
            tickets: visits.1,
            tickets_saved: visits.2,
            printed: visits.3,
            print_failed: visits.4,
        })
    }

    /// The latest finished paintings, newest first (the operator's gallery).
    pub fn recent_paintings(&self, limit: usize) -> Result<Vec<RecentPainting>> {
        self.finished_paintings(false, limit)
    }

    /// The latest finished paintings, newest first; with `on_screen`, only those of
    /// visits that agreed to be shown on the booth's screen.
    fn finished_paintings(&self, on_screen: bool, limit: usize) -> Result<Vec<RecentPainting>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT v.rowid, r.painter, r.image_file
             FROM results r JOIN visits v ON v.id = r.visit_id
             WHERE r.status = 'done' AND r.image_file IS NOT NULL AND (v.on_screen = 1 OR NOT ?2)
             ORDER BY r.done_ms DESC, v.rowid DESC, r.position LIMIT ?1",
        )?;
        let rows = stmt
            .query_map(params![limit as i64, on_screen], |r| {
                Ok(RecentPainting {
                    visit_number: r.get(0)?,
                    painter: painter_at(r, 1)?,
                    image_file: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Records whether the visitor agreed to have their paintings shown in the kiosk's
    /// attract loop.
    pub fn set_on_screen(&self, visit_id: &str, on_screen: bool) -> Result<()> {
        touched(self.conn().execute(
            "UPDATE visits SET on_screen = ?2 WHERE id = ?1",
            params![visit_id, on_screen],
        )?)
    }

    /// The (visit id, room id) of the visit with this running number (the operator's
    /// "#42").
    pub fn visit_by_number(&self, number: i64) -> Result<Option<(String, String)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, room_id FROM visits WHERE rowid = ?1",
                [number],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The latest finished paintings of visits that agreed to be shown on the booth's
    /// screen, newest first. A deleted visit's are gone with its row.
    pub fn showcase(&self, limit: usize) -> Result<Vec<RecentPainting>> {
        self.finished_paintings(true, limit)
    }

    /// Per hour from `since` (a day's start, seconds) for `hours` hours: the visits
    /// begun in that hour, and the median and 95th percentile of the time from the
    /// photo to a painting over the paintings of those visits. Deleted visits count.
    pub fn hourly_stats(&self, since: i64, hours: usize) -> Result<Vec<HourStats>> {
        let conn = self.conn();
        let mut out: Vec<HourStats> = (0..hours)
            .map(|h| HourStats {
                hour: h as u32,
                visits: 0,
                latency_median_ms: None,
                latency_p95_ms: None,
            })
            .collect();
        let until = since + hours as i64 * 3600;
        let mut stmt = conn.prepare(
            "SELECT (created_at - ?1) / 3600, COUNT(*) FROM visit_stats
             WHERE created_at >= ?1 AND created_at < ?2 GROUP BY 1",
        )?;
        for row in stmt.query_map([since, until], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?)))? {
            let (h, n) = row?;
            if let Some(slot) = out.get_mut(h as usize) {
                slot.visits = n;
            }
        }
        let mut stmt = conn.prepare(
            "SELECT (created_at - ?1) / 3600, latency_ms FROM result_stats
             WHERE created_at >= ?1 AND created_at < ?2 AND latency_ms IS NOT NULL
             ORDER BY 1, 2",
        )?;
        let mut latencies: Vec<Vec<i64>> = vec![Vec::new(); hours];
        for row in stmt.query_map([since, until], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?)))? {
            let (h, ms) = row?;
            if let Some(list) = latencies.get_mut(h as usize) {
                list.push(ms);
            }
        }
        for (slot, list) in out.iter_mut().zip(&latencies) {
            slot.latency_median_ms = quantile(list, 0.5);
            slot.latency_p95_ms = quantile(list, 0.95);
        }
        Ok(out)
    }

    /// Puts a visit in quiz mode (before its first answer).
    pub fn set_quiz_mode(&self, visit_id: &str) -> Result<()> {
        touched(self.conn().execute(
            "UPDATE visits SET mode = 'quiz', answers = COALESCE(answers, '') WHERE id = ?1",
            [visit_id],
        )?)
    }

    /// Stores a quiz visit's answers so far, and its type once they are complete. False
    /// (nothing changed) when the visit is not a quiz or its quiz is already complete.
    pub fn record_answers(
        &self,
        visit_id: &str,
        answers: &str,
        personality: Option<&str>,
    ) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE visits SET answers = ?2, personality = ?3
             WHERE id = ?1 AND mode = 'quiz' AND personality IS NULL",
            params![visit_id, answers, personality],
        )?;
        Ok(n == 1)
    }

    /// The phone saved its ticket once more.
    pub fn ticket_saved(&self, visit_id: &str) -> Result<()> {
        touched(self.conn().execute(
            "UPDATE visits SET tickets_saved = tickets_saved + 1 WHERE id = ?1 AND ticket_file IS NOT NULL",
            [visit_id],
        )?)
    }

    /// Rooms created since `since` that still wait for a phone.
    pub fn open_rooms(&self, since: i64) -> Result<u32> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM rooms WHERE visit_id IS NULL AND created_at >= ?1",
            [since],
            |r| r.get(0),
        )?)
    }

    /// Deletes a visit with its results, prints and room. Returns the names of the files
    /// it referenced (photo, paintings, ticket), for the caller to delete.
    pub fn delete_visit(&self, visit_id: &str) -> Result<Vec<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut files: Vec<String> = Vec::new();
        let row: Option<(String, Option<String>, Option<String>)> = tx
            .query_row(
                "SELECT room_id, photo_file, ticket_file FROM visits WHERE id = ?1",
                [visit_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((room_id, photo, ticket)) = row else {
            return Ok(files);
        };
        files.extend(photo);
        files.extend(ticket);
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

    /// The visitor said they are done; the kiosk may move on.
    pub fn visitor_finished(&self, visit_id: &str, now: i64) -> Result<()> {
        touched(self.conn().execute(
            "UPDATE visits SET finished_at = COALESCE(finished_at, ?2), updated_at = ?2 WHERE id = ?1",
            params![visit_id, now],
        )?)
    }

    pub fn visit(&self, visit_id: &str) -> Result<Option<Visit>> {
        let conn = self.conn();
        let visit = conn
            .query_row(
                "SELECT id, room_id, participant_token_hash, status, name, photo_file, ticket_file, created_at, finished_at, rowid,
                        mode, answers, personality, on_screen
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
                        results: Vec::new(),
                    })
                },
            )
            .optional()?;
        let Some(mut visit) = visit else {
            return Ok(None);
        };
        let mut stmt = conn.prepare_cached(
            "SELECT painter, status, image_file, error, attempts FROM results WHERE visit_id = ?1 ORDER BY position",
        )?;
        visit.results = stmt
            .query_map([visit_id], |r| {
                Ok(PainterResult {
                    painter: painter_at(r, 0)?,
                    status: ResultStatus::parse(&r.get::<_, String>(1)?)?,
                    image_file: r.get(2)?,
                    error: r.get(3)?,
                    attempts: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(visit))
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

/// An UPDATE of one visit's rows that changed nothing means the visit is gone.
fn touched(rows: usize) -> Result<()> {
    if rows == 0 {
        Err(StoreError::NoSuchVisit)
    } else {
        Ok(())
    }
}

/// Wall-clock milliseconds, for latencies that whole seconds would blur.
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests;
