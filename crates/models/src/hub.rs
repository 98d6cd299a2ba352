//! A Hugging Face Hub client for what `models pull` needs: a repository's file list
//! with sizes and sha256 (`/api/models/{repo}/revision/{rev}?blobs=true`), and one file
//! (`/{repo}/resolve/{rev}/{file}`, which redirects to a CDN), resumed with a range
//! request after an interruption and checked against the hub's sha256.
//!
//! `HF_ENDPOINT` points it at a mirror; `HF_TOKEN` is sent for gated repositories (and
//! dropped by reqwest when a redirect leaves the hub's host).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{0}")]
    Http(String),
    #[error("{repo}: {message}")]
    Repo { repo: String, message: String },
    #[error("{file}: the download does not match the hub's checksum (sha256 {got}, expected {want}); the partial file was removed, run the command again")]
    Corrupt {
        file: String,
        got: String,
        want: String,
    },
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
}

/// One file of a repository, as the hub lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoFile {
    pub rfilename: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub lfs: Option<Lfs>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Lfs {
    pub sha256: String,
    pub size: u64,
}

impl RepoFile {
    /// The file's size, from its LFS pointer or the listing.
    pub fn bytes(&self) -> Option<u64> {
        self.lfs.as_ref().map(|l| l.size).or(self.size)
    }
}

/// A repository at one revision.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoInfo {
    /// The commit the revision names.
    pub sha: String,
    pub siblings: Vec<RepoFile>,
}

/// What a download reports as it goes.
pub trait Progress {
    fn started(&mut self, file: &str, total: Option<u64>, resumed_from: u64);
    fn advanced(&mut self, done: u64);
    fn finished(&mut self);
}

pub struct Hub {
    endpoint: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Hub {
    /// The hub at `HF_ENDPOINT` (else huggingface.co), with `HF_TOKEN` if set.
    pub fn from_env() -> Result<Hub, HubError> {
        let endpoint =
            std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".into());
        let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty());
        Hub::new(&endpoint, token)
    }

    pub fn new(endpoint: &str, token: Option<String>) -> Result<Hub, HubError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            // A stalled transfer fails (and resumes) rather than hanging for ever.
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("articket/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HubError::Http(format!("cannot build the HTTP client: {e}")))?;
        Ok(Hub {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let req = self.http.get(url);
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// The repository's files at `revision`, with sizes and checksums.
    pub async fn repo(&self, repo: &str, revision: &str) -> Result<RepoInfo, HubError> {
        let url = format!(
            "{}/api/models/{repo}/revision/{revision}?blobs=true",
            self.endpoint
        );
        let res = self
            .get(&url)
            .send()
            .await
            .map_err(|e| HubError::Http(format!("cannot reach {}: {e}", self.endpoint)))?;
        let status = res.status().as_u16();
        let message = match status {
            200 => {
                return res.json().await.map_err(|e| HubError::Repo {
                    repo: repo.into(),
                    message: format!("the hub's answer is not a repository listing: {e}"),
                })
            }
            401 | 403 if self.token.is_none() => "the repository is gated or private: accept its terms on its page, then set HF_TOKEN to an access token".to_owned(),
            401 | 403 => "the hub refused HF_TOKEN for this repository: accept its terms on its page, or check the token".to_owned(),
            404 => format!("no such repository or revision {revision:?} (check the name, e.g. stabilityai/sd-turbo)"),
            429 => "the hub is rate-limiting this address; wait a few minutes".to_owned(),
            s => format!("the hub answered HTTP {s}"),
        };
        Err(HubError::Repo {
            repo: repo.into(),
            message,
        })
    }

    /// Downloads `file` of `repo` at `revision` (a commit sha, so every file comes from
    /// the same one) to `dest`, through `dest.part`: an existing part is resumed with a
    /// range request, and the whole is checked against `sha256` when the hub gave one.
    pub async fn download(
        &self,
        repo: &str,
        revision: &str,
        file: &RepoFile,
        dest: &Path,
        progress: &mut dyn Progress,
    ) -> Result<(), HubError> {
        let name = &file.rfilename;
        let io = |source| HubError::Io {
            file: name.clone(),
            source,
        };
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        let part = part_path(dest);
        let have = tokio::fs::metadata(&part)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        let url = format!("{}/{repo}/resolve/{revision}/{name}", self.endpoint);
        let mut req = self.get(&url);
        if have > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
            // Only resume the very same content; anything else starts again.
            if let Some(lfs) = &file.lfs {
                req = req.header(reqwest::header::IF_RANGE, format!("\"{}\"", lfs.sha256));
            }
        }
        let mut res = req
            .send()
            .await
            .map_err(|e| HubError::Http(format!("{name}: {e}")))?;
        let status = res.status().as_u16();
        let resumed = match status {
            206 => have,
            200 => 0,
            416 if Some(have) == file.bytes() => {
                // The part is already whole: only the check is left.
                drop(res);
                return self.finish(file, &part, dest).await;
            }
            s => return Err(HubError::Http(format!("{name}: the hub answered HTTP {s}"))),
        };
        let mut out = if resumed > 0 {
            tokio::fs::OpenOptions::new()
                .append(true)
                .open(&part)
                .await
                .map_err(io)?
        } else {
            tokio::fs::File::create(&part).await.map_err(io)?
        };
        progress.started(name, file.bytes(), resumed);
        let mut done = resumed;
        loop {
            let chunk = res
                .chunk()
                .await
                .map_err(|e| HubError::Http(format!("{name}: the transfer broke off: {e}")));
            let chunk = match chunk {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    // Keep what arrived for the next try.
                    let _ = out.flush().await;
                    return Err(e);
                }
            };
            out.write_all(&chunk).await.map_err(io)?;
            done += chunk.len() as u64;
            progress.advanced(done);
        }
        out.flush().await.map_err(io)?;
        drop(out);
        progress.finished();
        if let Some(total) = file.bytes() {
            if done < total {
                return Err(HubError::Http(format!(
                    "{name}: the transfer ended at {done} of {total} bytes"
                )));
            }
        }
        self.finish(file, &part, dest).await
    }

    /// Checks the finished part against the hub's sha256, then moves it into place.
    async fn finish(&self, file: &RepoFile, part: &Path, dest: &Path) -> Result<(), HubError> {
        let name = &file.rfilename;
        let io = |source| HubError::Io {
            file: name.clone(),
            source,
        };
        if let Some(lfs) = &file.lfs {
            let path = part.to_path_buf();
            let got = tokio::task::spawn_blocking(move || sha256_of(&path))
                .await
                .map_err(|e| HubError::Http(e.to_string()))?
                .map_err(io)?;
            if !got.eq_ignore_ascii_case(&lfs.sha256) {
                let _ = tokio::fs::remove_file(part).await;
                return Err(HubError::Corrupt {
                    file: name.clone(),
                    got,
                    want: lfs.sha256.clone(),
                });
            }
        }
        tokio::fs::rename(part, dest).await.map_err(io)
    }
}

/// Where a file is written until it is whole and checked.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A progress line per file on the terminal: done, total, speed and time left, redrawn
/// at most four times a second.
pub struct Bar {
    file: String,
    total: Option<u64>,
    start: Instant,
    from: u64,
    done: u64,
    last: Option<Instant>,
}

impl Default for Bar {
    fn default() -> Self {
        Bar {
            file: String::new(),
            total: None,
            start: Instant::now(),
            from: 0,
            done: 0,
            last: None,
        }
    }
}

/// Bytes in the units people read.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.0} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

impl Bar {
    fn line(&self, done: u64) -> String {
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let speed = (done - self.from) as f64 / secs;
        let mut s = format!("  {}  {}", self.file, human(done));
        if let Some(t) = self.total {
            s.push_str(&format!(" / {}", human(t)));
            if speed > 0.0 && t > done {
                let left = ((t - done) as f64 / speed) as u64;
                s.push_str(&format!(
                    "  {}/s  {}:{:02} left",
                    human(speed as u64),
                    left / 60,
                    left % 60
                ));
            }
        }
        s
    }
}

impl Progress for Bar {
    fn started(&mut self, file: &str, total: Option<u64>, resumed_from: u64) {
        self.file = file.to_owned();
        self.total = total;
        self.start = Instant::now();
        self.from = resumed_from;
        self.done = resumed_from;
        self.last = None;
        if resumed_from > 0 {
            println!("  {file}: resuming at {}", human(resumed_from));
        }
    }

    fn advanced(&mut self, done: u64) {
        self.done = done;
        if self
            .last
            .is_some_and(|l| l.elapsed() < Duration::from_millis(250))
        {
            return;
        }
        self.last = Some(Instant::now());
        print!("\r{}\x1b[K", self.line(done));
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    }

    fn finished(&mut self) {
        println!("\r{}\x1b[K", self.line(self.done));
    }
}
