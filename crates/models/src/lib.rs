//! `articket models pull` and `articket models list`: models from the Hugging Face Hub
//! into `models/<name>/`, in the layout docs/models.md describes, with only the files our
//! engine reads.
//!
//! - [`catalog`]: the short names (`sd-turbo`, `taesd`, …), their repositories and
//!   licences, and which files of a repository are wanted;
//! - [`hub`]: the hub's two routes, resumable and checked downloads, the progress line.

pub mod catalog;
pub mod hub;

use std::io::BufRead;
use std::path::{Path, PathBuf};

use catalog::{Entry, Kind, Licence};
use hub::{human, Hub, HubError, Progress};

/// Where a pulled model records the licence its operator accepted.
const ACCEPTED: &str = ".licence-accepted";

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("unknown model {0:?}: use a short name ({names}) or OWNER/REPO", names = short_names())]
    Unknown(String),
    #[error("the licence was not accepted; nothing was downloaded")]
    Declined,
    #[error("{repo}: none of its files is one our engine reads (a diffusers folder layout with .safetensors weights)")]
    Nothing { repo: String },
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("{0}")]
    Io(String),
}

fn short_names() -> String {
    catalog::CATALOG
        .iter()
        .map(|e| e.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to pull: a short name from the catalogue, or any `OWNER/REPO`.
#[derive(Debug, Clone)]
pub struct Target {
    pub repo: String,
    /// The folder under the models directory.
    pub folder: String,
    pub licence: Licence,
    pub kind: Option<Kind>,
}

impl Target {
    pub fn parse(name: &str) -> Result<Target, PullError> {
        if let Some(e) = catalog::entry(name) {
            return Ok(Target::of(e));
        }
        if let Some(e) = catalog::CATALOG.iter().find(|e| e.repo == name) {
            return Ok(Target::of(e));
        }
        let mut parts = name.split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(owner), Some(repo), None) if !owner.is_empty() && !repo.is_empty() => {
                let folder = repo.to_ascii_lowercase().replace('_', "-");
                Ok(Target {
                    repo: name.to_owned(),
                    folder,
                    licence: catalog::UNKNOWN_LICENCE,
                    kind: None,
                })
            }
            _ => Err(PullError::Unknown(name.to_owned())),
        }
    }

    fn of(e: &Entry) -> Target {
        Target {
            repo: e.repo.to_owned(),
            folder: e.name.to_owned(),
            licence: e.licence,
            kind: Some(e.kind),
        }
    }
}

/// How `pull` settles the licence.
pub enum Consent<'a> {
    /// `--accept-licence`: accepted without asking.
    Given,
    /// Ask on this input (the terminal), once per model folder.
    Ask(&'a mut dyn BufRead),
}

/// Pulls `target` at `revision` into `models/<folder>/`, printing as it goes; returns
/// the folder. Files already whole are kept; an interrupted one resumes; each is checked
/// against the hub's sha256.
pub async fn pull(
    hub: &Hub,
    target: &Target,
    revision: &str,
    models: &Path,
    consent: Consent<'_>,
    progress: &mut dyn Progress,
) -> Result<PathBuf, PullError> {
    let dir = models.join(&target.folder);
    let l = &target.licence;
    println!("{} ({})", target.folder, target.repo);
    if l.url.is_empty() {
        println!(
            "  licence: {} (https://huggingface.co/{}): {}",
            l.name, target.repo, l.note
        );
    } else {
        println!("  licence: {}: {}\n  read it: {}", l.name, l.note, l.url);
    }
    let accepted = dir.join(ACCEPTED);
    if !accepted.is_file() {
        let yes = match consent {
            Consent::Given => true,
            Consent::Ask(input) => {
                print!("  Do you accept this licence for your event? [y/N] ");
                use std::io::Write as _;
                let _ = std::io::stdout().flush();
                let mut line = String::new();
                let _ = input.read_line(&mut line);
                matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
            }
        };
        if !yes {
            return Err(PullError::Declined);
        }
    }

    let info = hub.repo(&target.repo, revision).await?;
    let names: Vec<String> = info.siblings.iter().map(|f| f.rfilename.clone()).collect();
    let wanted = catalog::wanted(&names);
    if wanted.is_empty() {
        return Err(PullError::Nothing {
            repo: target.repo.clone(),
        });
    }
    let mut files: Vec<_> = info
        .siblings
        .iter()
        .filter(|f| wanted.contains(&f.rfilename))
        .collect();
    files.sort_by(|a, b| a.rfilename.cmp(&b.rfilename));
    let total: u64 = files.iter().filter_map(|f| f.bytes()).sum();
    println!(
        "  {} files, {} in all, at commit {}",
        files.len(),
        human(total),
        &info.sha[..info.sha.len().min(12)]
    );
    std::fs::create_dir_all(&dir).map_err(|e| PullError::Io(format!("{}: {e}", dir.display())))?;
    std::fs::write(&accepted, format!("{}\n{}\n", l.name, l.url))
        .map_err(|e| PullError::Io(format!("{}: {e}", accepted.display())))?;
    for f in files {
        let dest = dir.join(&f.rfilename);
        let whole = std::fs::metadata(&dest)
            .ok()
            .is_some_and(|m| Some(m.len()) == f.bytes());
        if whole {
            println!("  {}: already here", f.rfilename);
            continue;
        }
        // A transfer that breaks off is resumed from where it stopped, twice.
        let mut tries = 0;
        loop {
            tries += 1;
            match hub
                .download(&target.repo, &info.sha, f, &dest, progress)
                .await
            {
                Ok(()) => break,
                Err(HubError::Http(msg)) if tries < 3 => {
                    println!("\n  {msg}; resuming");
                    tokio::time::sleep(std::time::Duration::from_millis(500 * tries)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    std::fs::write(
        dir.join(".source"),
        format!("{}\n{}\n", target.repo, info.sha),
    )
    .map_err(|e| PullError::Io(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

/// One folder under the models directory, as `models list` shows it.
#[derive(Debug, Clone)]
pub struct Folder {
    pub name: String,
    pub bytes: u64,
    /// "SD 1.x", "SD 2.x", "SDXL", "tiny autoencoder", "captioner", or "?".
    pub family: String,
    /// Downloads left unfinished (`.part` files).
    pub unfinished: usize,
}

/// The folders under `models`, by name.
pub fn list(models: &Path) -> std::io::Result<Vec<Folder>> {
    let mut out = Vec::new();
    if !models.is_dir() {
        return Ok(out);
    }
    for entry in std::fs::read_dir(models)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let dir = entry.path();
        let (bytes, unfinished) = size_of(&dir)?;
        out.push(Folder {
            name: entry.file_name().to_string_lossy().into_owned(),
            bytes,
            family: family(&dir),
            unfinished,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn size_of(dir: &Path) -> std::io::Result<(u64, usize)> {
    let (mut bytes, mut parts) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let t = entry.file_type()?;
        if t.is_dir() {
            let (b, p) = size_of(&entry.path())?;
            bytes += b;
            parts += p;
        } else if entry.file_name().to_string_lossy().ends_with(".part") {
            parts += 1;
        } else {
            bytes += entry.metadata()?.len();
        }
    }
    Ok((bytes, parts))
}

/// The model family a folder's configs say.
fn family(dir: &Path) -> String {
    let json = |p: PathBuf| -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
    };
    if dir.join(catalog::MATTING_FILE).is_file() {
        return "matting (MODNet ONNX)".to_owned();
    }
    if let Some(unet) = json(dir.join("unet/config.json")) {
        return match unet.get("cross_attention_dim").and_then(|v| v.as_u64()) {
            Some(768) => "SD 1.x",
            Some(1024) => "SD 2.x",
            Some(2048) => "SDXL",
            _ => "Stable Diffusion (unknown size)",
        }
        .to_owned();
    }
    if let Some(c) = json(dir.join("config.json")) {
        let class = c
            .get("_class_name")
            .or_else(|| c.get("architectures").and_then(|a| a.get(0)))
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        return match class {
            "AutoencoderTiny" => "tiny autoencoder".to_owned(),
            "CLIPModel" | "BlipForConditionalGeneration" => format!("captioner ({class})"),
            other if !other.is_empty() => other.to_owned(),
            _ => "?".to_owned(),
        };
    }
    "?".to_owned()
}
