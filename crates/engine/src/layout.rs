//! The model directory, in the diffusers layout, checked as a whole before anything
//! loads: one error lists every missing file.
//!
//! ```text
//! MODEL_DIR/
//!   model_index.json              (optional; names the pipeline)
//!   unet/config.json              unet/diffusion_pytorch_model[.fp16].safetensors
//!   vae/config.json               vae/diffusion_pytorch_model[.fp16].safetensors
//!   text_encoder/config.json      text_encoder/model[.fp16].safetensors
//!   tokenizer/tokenizer.json      (or vocab.json + merges.txt, as published)
//!   text_encoder_2/…  tokenizer_2/…    (SDXL and SDXL-Turbo only)
//! ```

use std::path::{Path, PathBuf};

/// The model families we know how to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// SD 1.x: one CLIP ViT-L text encoder (768-wide cross-attention).
    Sd15,
    /// SD 2.x: one OpenCLIP ViT-H text encoder (1024-wide), v-prediction at 768.
    Sd21,
    /// SDXL and SDXL-Turbo: two text encoders (2048-wide cross-attention).
    Sdxl,
}

/// The files of one model, all present.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub root: PathBuf,
    pub family: Family,
    /// `scheduler/scheduler_config.json` says "v_prediction" (SD 2.x at 768).
    pub v_prediction: bool,
    pub unet_config: PathBuf,
    pub unet_weights: PathBuf,
    pub vae_config: PathBuf,
    pub vae_weights: PathBuf,
    pub text_config: PathBuf,
    pub text_weights: PathBuf,
    pub tokenizer: PathBuf,
    /// SDXL's second text encoder and tokenizer.
    pub text2: Option<(PathBuf, PathBuf, PathBuf)>,
}

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{dir} is not a diffusers model directory; missing:\n  {}\nSee docs/models.md for how to lay a model out.", .missing.join("\n  "))]
    Missing { dir: String, missing: Vec<String> },
    #[error("{path}: {message}")]
    BadConfig { path: String, message: String },
}

/// The first of `names` that exists in `dir`, else all of them (for the error).
fn find(dir: &Path, names: &[&str], missing: &mut Vec<String>) -> PathBuf {
    for n in names {
        let p = dir.join(n);
        if p.is_file() {
            return p;
        }
    }
    let rel = dir
        .file_name()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let alternatives: Vec<String> = names.iter().map(|n| format!("{rel}/{n}")).collect();
    missing.push(alternatives.join(" or "));
    dir.join(names[0])
}

const WEIGHTS_UNET: &[&str] = &[
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
];
/// transformers 5 writes `tokenizer.json`; the published checkpoints have `vocab.json`
/// (with `merges.txt`) instead.
const TOKENIZER: &[&str] = &["tokenizer.json", "vocab.json"];
const WEIGHTS_TEXT: &[&str] = &["model.safetensors", "model.fp16.safetensors"];

impl ModelFiles {
    /// Checks `root` and returns every path, or one error listing all that is missing.
    pub fn locate(root: &Path) -> Result<ModelFiles, LayoutError> {
        let mut missing = Vec::new();
        if !root.is_dir() {
            return Err(LayoutError::Missing {
                dir: root.display().to_string(),
                missing: vec!["the directory itself".into()],
            });
        }
        let unet_config = find(&root.join("unet"), &["config.json"], &mut missing);
        let unet_weights = find(&root.join("unet"), WEIGHTS_UNET, &mut missing);
        let vae_config = find(&root.join("vae"), &["config.json"], &mut missing);
        let vae_weights = find(&root.join("vae"), WEIGHTS_UNET, &mut missing);
        let text_config = find(&root.join("text_encoder"), &["config.json"], &mut missing);
        let text_weights = find(&root.join("text_encoder"), WEIGHTS_TEXT, &mut missing);
        let tokenizer = find(&root.join("tokenizer"), TOKENIZER, &mut missing);
        // The family decides whether a second encoder is needed; read it if we can.
        let cross = if unet_config.is_file() {
            let v = read_json(&unet_config)?;
            v.get("cross_attention_dim").and_then(|c| c.as_u64())
        } else {
            None
        };
        let family = match cross {
            _ if root.join("text_encoder_2").is_dir() => Family::Sdxl,
            Some(2048) => Family::Sdxl,
            Some(1024) => Family::Sd21,
            _ => Family::Sd15,
        };
        let has_second = family == Family::Sdxl;
        let text2 = if has_second {
            let c = find(&root.join("text_encoder_2"), &["config.json"], &mut missing);
            let w = find(&root.join("text_encoder_2"), WEIGHTS_TEXT, &mut missing);
            let t = find(&root.join("tokenizer_2"), TOKENIZER, &mut missing);
            Some((c, w, t))
        } else {
            None
        };
        if !missing.is_empty() {
            return Err(LayoutError::Missing {
                dir: root.display().to_string(),
                missing,
            });
        }
        let scheduler = root.join("scheduler").join("scheduler_config.json");
        let v_prediction = scheduler.is_file()
            && read_json(&scheduler)?
                .get("prediction_type")
                .and_then(|p| p.as_str())
                == Some("v_prediction");
        Ok(ModelFiles {
            root: root.to_owned(),
            family,
            v_prediction,
            unet_config,
            unet_weights,
            vae_config,
            vae_weights,
            text_config,
            text_weights,
            tokenizer,
            text2,
        })
    }

    /// A name for `sd-models` and logs: the directory's name.
    pub fn name(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    }
}

pub fn read_json(path: &Path) -> Result<serde_json::Value, LayoutError> {
    let bad = |message: String| LayoutError::BadConfig {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))
}
