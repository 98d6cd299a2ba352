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

mod backup;
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

pub use backup::{backup, restore, Copied};
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
    /// A backup or restore that cannot go on, and why.
    #[error("{0}")]
    Backup(String),
    /// The data folder cannot be made or written.
    #[error(
        "the data folder {} cannot be used ({reason}): give this user write access to it, \
         or choose another with --data-dir or [server] data_dir",
        path.display()
    )]
    DataDir { path: PathBuf, reason: String },
    /// Another booth holds the data folder.
    #[error(
        "another booth is using the data folder {} ({holder}): stop it first, or give this \
         booth its own folder with --data-dir or [server] data_dir",
        path.display()
    )]
    InUse { path: PathBuf, holder: String },
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
    /// `articket.lock`, locked while the store is open: one booth per data folder.
    /// (None for a read-only store, or once released.)
    lock: Mutex<Option<std::fs::File>>,
}

impl Store {
    /// Opens (creating if needed) the store under `data_dir`: `articket.sqlite3` and
    /// `files/`. Applies pending migrations. Never deletes existing data.
    pub fn open(data_dir: &Path) -> Result<Store> {
        let lock = lock_folder(data_dir)?;
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
            lock: Mutex::new(Some(lock)),
        })
    }

    /// Opens an existing store only to read it, beside a running booth (tools and
    /// tests): no lock, no migrations, nothing cleaned up.
    pub fn open_read_only(data_dir: &Path) -> Result<Store> {
        let path = data_dir.join("articket.sqlite3");
        let conn = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Store {
            db: Mutex::new(conn),
            files: FileStore::at(&data_dir.join("files")),
            path,
            lock: Mutex::new(None),
        })
    }

    /// Frees the data folder for another booth now, though this store may still be in
    /// use (a server shutting down with requests still under way).
    pub fn release(&self) {
        drop(self.lock.lock().unwrap_or_else(|p| p.into_inner()).take());
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

/// Makes the data folder if needed and locks it for this process (the lock ends with
/// the process, however it ends). The lock file says who holds it, so a second booth
/// can name the first.
fn lock_folder(data_dir: &Path) -> Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let unusable = |e: std::io::Error| StoreError::DataDir {
        path: data_dir.to_owned(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(data_dir).map_err(unusable)?;
    let path = data_dir.join("articket.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(unusable)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(StoreError::InUse {
                path: data_dir.to_owned(),
                holder: if holder.is_empty() {
                    "a booth that is starting".to_owned()
                } else {
                    holder.to_owned()
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(unusable(e)),
    }
    file.set_len(0).map_err(unusable)?;
    file.rewind().map_err(unusable)?;
    write!(file, "process {}", std::process::id()).map_err(unusable)?;
    Ok(file)
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
