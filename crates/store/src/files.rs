//! Image files on disk. Names are 128 random bits plus an extension, so a file's URL is
//! its capability; nothing a visitor typed ever reaches a path.

use std::io::Write;
use std::path::{Path, PathBuf};

/// What a stored file holds; decides its extension and Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Jpeg,
    Png,
}

impl FileKind {
    pub fn extension(self) -> &'static str {
        match self {
            FileKind::Jpeg => "jpg",
            FileKind::Png => "png",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FileKind::Jpeg => "image/jpeg",
            FileKind::Png => "image/png",
        }
    }

    /// The kind of a stored file's name, or `None` if the name is not one we made.
    pub fn of_name(name: &str) -> Option<FileKind> {
        let (stem, ext) = name.split_once('.')?;
        if !articket_rooms::is_id(stem) {
            return None;
        }
        match ext {
            "jpg" => Some(FileKind::Jpeg),
            "png" => Some(FileKind::Png),
            _ => None,
        }
    }
}

const TEMP_PREFIX: &str = ".tmp-";

pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Opens the directory, creating it, and removes temp files a crash left behind.
    /// The files under `dir`, as they are (for reading beside a running booth).
    pub fn at(dir: &Path) -> FileStore {
        FileStore {
            dir: dir.to_owned(),
        }
    }

    pub fn open(dir: &Path) -> std::io::Result<FileStore> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                tracing::warn!(
                    "removing a half-written file left by a crash: {:?}",
                    entry.path()
                );
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(FileStore {
            dir: dir.to_owned(),
        })
    }

    /// Writes `bytes` under a fresh random name and returns the name. Readers see the
    /// whole file or nothing: it is written to a temp file, synced, then renamed.
    pub fn put(&self, bytes: &[u8], kind: FileKind) -> std::io::Result<String> {
        let name = format!("{}.{}", articket_rooms::new_id(), kind.extension());
        // The temp file deletes itself if anything below fails.
        let mut tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_data()?;
        tmp.persist(self.dir.join(&name)).map_err(|e| e.error)?;
        Ok(name)
    }

    /// The path of a stored file, if `name` has the shape of one of our names.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        FileKind::of_name(name).map(|_| self.dir.join(name))
    }

    pub fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        let path = self.path(name).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a stored file name")
        })?;
        std::fs::read(path)
    }

    /// Deletes a stored file; one that is already gone is fine.
    pub fn remove(&self, name: &str) -> std::io::Result<()> {
        let Some(path) = self.path(name) else {
            return Ok(());
        };
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
