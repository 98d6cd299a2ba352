//! `articket models pull|list`: the models our engine reads, fetched from the Hugging Face
//! Hub into `models/<name>/` (crate articket-models).

use std::path::PathBuf;

use articket_models::catalog::{Kind, CATALOG};
use articket_models::hub::{human, Bar, Hub};
use articket_models::{Consent, Target};

#[derive(clap::Subcommand)]
pub enum ModelsCommand {
    /// Download a model: a short name (sd-turbo, sdxl-turbo, sd15, taesd, taesdxl, clip,
    /// blip, …; `models list` shows them all) or OWNER/REPO from the Hugging Face Hub.
    /// Only the files our engine reads; an interrupted download resumes; every file is
    /// checked against the hub's sha256. HF_TOKEN for gated repositories, HF_ENDPOINT
    /// for a mirror.
    Pull {
        /// A short name or OWNER/REPO.
        name: String,
        /// A branch, tag or commit of the repository.
        #[arg(long, default_value = "main")]
        revision: String,
        /// The models folder; the model goes into a folder of its own inside it.
        #[arg(long, default_value = "models")]
        dir: PathBuf,
        /// Accept the model's licence without asking (for scripts); it is still printed.
        #[arg(long)]
        accept_licence: bool,
    },
    /// Show the models folder (each model's size and family) and the short names.
    List {
        /// The models folder.
        #[arg(long, default_value = "models")]
        dir: PathBuf,
    },
}

/// For a Stable Diffusion folder, the booth's own start-up check (every file there, every
/// config one the engine builds), in words; `None` for other folders, or in a build
/// without the engine.
#[cfg(feature = "engine")]
fn loads(dir: &std::path::Path) -> Option<String> {
    use articket_engine::{config, ModelFiles};
    if !dir.join("unet").is_dir() {
        return None;
    }
    let check = || -> Result<(), articket_engine::LayoutError> {
        let files = ModelFiles::locate(dir)?;
        config::unet(&files.unet_config)?;
        config::vae(&files.vae_config)?;
        config::text(&files.text_config)?;
        if let Some((text2, _, _)) = &files.text2 {
            config::text(text2)?;
        }
        Ok(())
    };
    Some(match check() {
        Ok(()) => "loads: yes".to_owned(),
        Err(e) => format!("loads: no: {}", e.to_string().replace('\n', " ")),
    })
}

#[cfg(not(feature = "engine"))]
fn loads(_: &std::path::Path) -> Option<String> {
    None
}

pub fn run(cmd: ModelsCommand) -> anyhow::Result<()> {
    match cmd {
        ModelsCommand::Pull {
            name,
            revision,
            dir,
            accept_licence,
        } => {
            let target = Target::parse(&name)?;
            let hub = Hub::from_env()?;
            let runtime = tokio::runtime::Runtime::new()?;
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            let consent = if accept_licence {
                Consent::Given
            } else {
                Consent::Ask(&mut input)
            };
            let folder = runtime.block_on(articket_models::pull(
                &hub,
                &target,
                &revision,
                &dir,
                consent,
                &mut Bar::default(),
            ))?;
            println!("\n  ready: {}", folder.display());
            let key = match target.kind {
                Some(Kind::TinyVae) => "tiny_vae",
                Some(Kind::Captioner) if target.folder.contains("blip") => "blip_dir",
                Some(Kind::Captioner) => "clip_dir",
                Some(Kind::Lora) => {
                    println!(
                        "  use it: [[ai.local.lora]] file = \"{}\" in articket.toml (LCM-LoRA: \
                         with sampler = \"LCM\", steps = 4, cfg_scale = 1; docs/models.md)",
                        folder.join("pytorch_lora_weights.safetensors").display()
                    );
                    return Ok(());
                }
                Some(Kind::Matting) => {
                    let file = folder.join(articket_models::catalog::MATTING_FILE);
                    if folder == std::path::Path::new("models/modnet") {
                        println!("  the booth finds it there and paints backdrops behind visitors (docs/matting.md)");
                    } else {
                        println!(
                            "  use it: [matting] model = \"{}\" in articket.toml",
                            file.display()
                        );
                    }
                    return Ok(());
                }
                _ => "model_dir",
            };
            println!(
                "  use it: [ai.local] {key} = \"{}\" in articket.toml (docs/ai.md)",
                folder.display()
            );
            Ok(())
        }
        ModelsCommand::List { dir } => {
            let folders = articket_models::list(&dir)?;
            if folders.is_empty() {
                println!("{}: no models yet", dir.display());
            } else {
                println!("{}:", dir.display());
                for f in folders {
                    let state = if f.unfinished > 0 {
                        format!("  ({} downloads unfinished: pull it again)", f.unfinished)
                    } else {
                        String::new()
                    };
                    println!(
                        "  {:<24} {:>10}  {}{state}",
                        f.name,
                        human(f.bytes),
                        f.family
                    );
                    if let Some(verdict) = loads(&dir.join(&f.name)) {
                        println!("  {:<24} {verdict}", "");
                    }
                }
            }
            println!("\nShort names for `articket models pull`:");
            for e in CATALOG {
                println!("  {:<20} {:<44} {}", e.name, e.repo, e.about);
                println!("  {:<20} licence: {}", "", e.licence.name);
            }
            Ok(())
        }
    }
}
