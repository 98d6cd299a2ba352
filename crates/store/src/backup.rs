//! `articket backup` and `articket restore`. A backup is itself a data folder: the
//! database copied with SQLite's online backup API (a consistent snapshot, taken while
//! the booth keeps running), the image files its rows name, and the HTTPS cache. So a
//! restore is a copy, and a backup can be opened by a booth as it is.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::{lock_folder, Result, StoreError};

const DB_FILE: &str = "articket.sqlite3";
const MANIFEST: &str = "articket-backup.json";
/// Kept with a backup: the ACME account and certificate (renewing them needs no new
/// order, which Let's Encrypt's rate limits count).
const TLS_DIR: &str = "tls";

/// What a backup or restore copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// Visits in the database.
    pub visits: usize,
    /// Of which have a ticket.
    pub tickets: usize,
    /// Image files copied.
    pub files: usize,
    /// Their size in bytes, with the database's.
    pub bytes: u64,
    /// Files the snapshot names that were gone when copied (their visits were deleted
    /// while the backup ran).
    pub missing: usize,
}

fn failed(what: impl Into<String>) -> StoreError {
    StoreError::Backup(what.into())
}

/// Copies the booth's data under `data_dir` into the new folder `out`, while the booth
/// may be running and painting.
pub fn backup(data_dir: &Path, out: &Path) -> Result<Copied> {
    let source_db = data_dir.join(DB_FILE);
    if !source_db.exists() {
        return Err(failed(format!(
            "{} holds no booth database ({DB_FILE}): name the booth's data folder \
             (--data-dir, or [server] data_dir in the config)",
            data_dir.display()
        )));
    }
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        return Err(failed(format!(
            "{} is not empty: back up into a new folder",
            out.display()
        )));
    }
    std::fs::create_dir_all(out.join("files"))?;
    // One step copies every page under one read transaction: a snapshot, however
    // busy the booth is.
    let source = Connection::open_with_flags(&source_db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    source.busy_timeout(std::time::Duration::from_secs(10))?;
    let mut copy = Connection::open(out.join(DB_FILE))?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut copy)?;
        backup.step(-1)?;
    }
    drop(source);
    copy.pragma_update(None, "journal_mode", "DELETE")?;
    let mut report = count(&copy)?;
    for name in named_files(&copy)? {
        let from = data_dir.join("files").join(&name);
        match std::fs::copy(&from, out.join("files").join(&name)) {
            Ok(bytes) => {
                report.files += 1;
                report.bytes += bytes;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => report.missing += 1,
            Err(e) => return Err(e.into()),
        }
    }
    drop(copy);
    report.bytes += std::fs::metadata(out.join(DB_FILE))?.len();
    copy_tree(&data_dir.join(TLS_DIR), &out.join(TLS_DIR))?;
    let manifest = serde_json::json!({
        "made_by": format!("articket {}", env!("CARGO_PKG_VERSION")),
        "taken_at_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "from": data_dir.display().to_string(),
        "visits": report.visits,
        "tickets": report.tickets,
        "files": report.files,
    });
    std::fs::write(out.join(MANIFEST), format!("{manifest:#}\n"))?;
    Ok(report)
}

/// Puts the backup in `from` into the data folder `data_dir`, which must hold no
/// booth's data yet (and no booth may run on it). The booth's next start migrates the
/// database if the backup is older, and resumes the visits it was painting.
pub fn restore(from: &Path, data_dir: &Path) -> Result<Copied> {
    if !from.join(DB_FILE).exists() {
        return Err(failed(format!(
            "{} is not a backup: it has no {DB_FILE}",
            from.display()
        )));
    }
    let _lock = lock_folder(data_dir)?;
    if data_dir.join(DB_FILE).exists() {
        return Err(failed(format!(
            "{} already holds a booth's data: move it aside, or restore into a new folder",
            data_dir.display()
        )));
    }
    std::fs::create_dir_all(data_dir.join("files"))?;
    let mut report = Copied::default();
    for entry in std::fs::read_dir(from.join("files"))? {
        let entry = entry?;
        report.bytes +=
            std::fs::copy(entry.path(), data_dir.join("files").join(entry.file_name()))?;
        report.files += 1;
    }
    copy_tree(&from.join(TLS_DIR), &data_dir.join(TLS_DIR))?;
    // The database last, through a temporary name: a restore cut short leaves no
    // database, so the booth will not start on half the files.
    let partial = data_dir.join(format!("{DB_FILE}.restoring"));
    report.bytes += std::fs::copy(from.join(DB_FILE), &partial)?;
    let db = Connection::open_with_flags(&partial, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let counted = count(&db)?;
    drop(db);
    std::fs::rename(&partial, data_dir.join(DB_FILE))?;
    Ok(Copied {
        visits: counted.visits,
        tickets: counted.tickets,
        ..report
    })
}

fn count(db: &Connection) -> Result<Copied> {
    let (visits, tickets): (i64, i64) =
        db.query_row("SELECT COUNT(*), COUNT(ticket_file) FROM visits", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(Copied {
        visits: visits as usize,
        tickets: tickets as usize,
        ..Copied::default()
    })
}

/// Every image file the database names.
fn named_files(db: &Connection) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for sql in [
        "SELECT photo_file FROM visits WHERE photo_file IS NOT NULL",
        "SELECT ticket_file FROM visits WHERE ticket_file IS NOT NULL",
        "SELECT matte_file FROM visits WHERE matte_file IS NOT NULL",
        "SELECT image_file FROM results WHERE image_file IS NOT NULL",
    ] {
        let mut stmt = db.prepare(sql)?;
        for name in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let name = name?;
            // Only names the store made: nothing in a row can reach outside files/.
            if crate::FileKind::of_name(&name).is_some() {
                names.push(name);
            }
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Copies a folder of plain files (the HTTPS cache), keeping their permissions.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    std::fs::create_dir_all(to)?;
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let target: PathBuf = to.join(entry.file_name());
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
