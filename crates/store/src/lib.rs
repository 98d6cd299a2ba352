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
mod jobs;
mod prints;
mod quiz;
mod rooms;
mod schema;
mod showcase;
mod stats;
mod visits;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use articket_style::Painter;
use rusqlite::Connection;
use serde::Serialize;

pub use files::{FileKind, FileStore};
pub use prints::{PrintEntry, PrintStart};
pub use rooms::Room;
pub use showcase::RecentPainting;
pub use stats::{Counts, DayStats, HourStats};
pub use visits::{PainterResult, Visit};

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
