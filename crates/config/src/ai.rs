//! `[ai]`: whether Stable Diffusion paints, with which backend, and its settings: our
//! own keys, the pool's (crates/pool) and `[ai.local]`'s.

pub use articket_pool::{AiSettings, Dispatch};
use std::path::PathBuf;

use serde::Deserialize;

use crate::{key_error, ConfigError};

/// `[ai]`: whether Stable Diffusion paints, and how.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AiConfig {
    /// false: the built-in CPU renderer paints, whatever `backend` says.
    pub enabled: bool,
    pub backend: AiBackend,
    /// What paints when every server is down.
    pub fallback: Fallback,
    /// Servers, dispatch, captions, time limits and per-painter settings.
    pub sd: articket_pool::AiSettings,
    /// `[ai.local]`: the in-process engine (`backend = "local"`).
    pub local: LocalSettings,
}

/// `[ai.local]`: where the model is and how the engine runs it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LocalSettings {
    /// A Stable Diffusion model in the diffusers layout (docs/models.md).
    pub model_dir: PathBuf,
    /// Optional CLIP model (transformers layout) for `captioner = "clip"`.
    pub clip_dir: PathBuf,
    /// Optional BLIP captioning model (transformers layout) for `captioner = "blip"`.
    pub blip_dir: PathBuf,
    /// Optional tiny autoencoder (TAESD for SD 1.x/2.x, TAESDXL for SDXL) that encodes
    /// and decodes instead of the full VAE: seconds faster per painting on a CPU.
    pub tiny_vae: PathBuf,
    /// "cpu", "cuda" or "cuda:N".
    pub device: String,
    /// "f32", "f16" or "bf16"; empty: f32 on the CPU, bf16 on a GPU.
    pub dtype: String,
    /// Paintings that may wait for the device; more are refused and retried later.
    pub queue: usize,
    /// Paintings per UNet batch on a GPU (a visit's four painters go together); on the
    /// CPU they run one by one.
    pub max_batch: usize,
    /// How long the device waits for a visit's other painters to join a batch.
    pub batch_window_ms: u64,
    /// Run the CPU's matrix products in bf16 with f32 sums, as OpenVINO does by default,
    /// where that is faster: on Intel Xeons with AMX (Sapphire Rapids and later; 2.3×
    /// faster per painting than f32) and on AMD processors with AVX-512 BF16 (Zen 4 and
    /// later; about 15 % faster). Within half a grey level of f32 on average. Ignored
    /// elsewhere.
    pub cpu_bf16: bool,
    /// `[[ai.local.lora]]`: LoRAs fused into the model for every painter (an LCM-LoRA,
    /// a house style).
    pub lora: Vec<LoraEntry>,
    /// `[[ai.local.<painter>.lora]]`: LoRAs for one painter only, after the shared ones.
    pub picasso: LocalPainter,
    pub renoir: LocalPainter,
    pub vangogh: LocalPainter,
    pub lichtenstein: LocalPainter,
}

/// `[ai.local.<painter>]`: what the local engine adds for one painter.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LocalPainter {
    pub lora: Vec<LoraEntry>,
}

/// One LoRA file (safetensors: diffusers/PEFT or kohya format) and its weight.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoraEntry {
    pub file: PathBuf,
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

impl LocalSettings {
    /// `[[ai.local.<painter>.lora]]`: one painter's own LoRAs.
    pub fn painter_loras(&self, painter: articket_style::Painter) -> &[LoraEntry] {
        use articket_style::Painter;
        let own = match painter {
            Painter::Picasso => &self.picasso,
            Painter::Renoir => &self.renoir,
            Painter::VanGogh => &self.vangogh,
            Painter::Lichtenstein => &self.lichtenstein,
        };
        &own.lora
    }

    /// The LoRAs one painter paints with: the shared ones, then the painter's own.
    pub fn loras_for(&self, painter: articket_style::Painter) -> Vec<LoraEntry> {
        self.lora
            .iter()
            .chain(self.painter_loras(painter))
            .cloned()
            .collect()
    }
}

impl Default for LocalSettings {
    fn default() -> Self {
        Self {
            model_dir: PathBuf::new(),
            clip_dir: PathBuf::new(),
            blip_dir: PathBuf::new(),
            tiny_vae: PathBuf::new(),
            device: "cuda:0".into(),
            dtype: String::new(),
            queue: 16,
            max_batch: 8,
            batch_window_ms: 50,
            cpu_bf16: true,
            lora: Vec::new(),
            picasso: LocalPainter::default(),
            renoir: LocalPainter::default(),
            vangogh: LocalPainter::default(),
            lichtenstein: LocalPainter::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AiBackend {
    #[default]
    Builtin,
    /// Remote servers speaking the AUTOMATIC1111 API.
    A1111,
    /// Remote ComfyUI servers running the operator's workflows.
    #[serde(rename = "comfyui")]
    ComfyUi,
    /// Our own candle engine in-process.
    Local,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// New visits are told the painters are offline (HTTP 503), and kiosks show that
    /// the painters are resting instead of a QR code.
    None,
    /// New visits are painted by the built-in renderer, and the operator is told: the
    /// default, so a server that stops answering never turns a visitor away.
    #[default]
    Builtin,
}

#[derive(Deserialize)]
#[serde(default)]
struct AiMode {
    enabled: bool,
    backend: AiBackend,
    fallback: Fallback,
}

impl Default for AiMode {
    fn default() -> Self {
        let d = AiConfig::default();
        Self {
            enabled: d.enabled,
            backend: d.backend,
            fallback: d.fallback,
        }
    }
}

impl AiConfig {
    /// Reads `[ai]`: our three keys, then everything else as the pool's settings.
    pub(crate) fn from_value(value: toml::Value) -> Result<AiConfig, ConfigError> {
        let toml::Value::Table(mut table) = value else {
            return Err(key_error("ai", "must be a table"));
        };
        let local = table.remove("local");
        let mut mode = toml::Table::new();
        for key in ["enabled", "backend", "fallback"] {
            if let Some(v) = table.remove(key) {
                mode.insert(key.to_owned(), v);
            }
        }
        let prefixed = |e: serde_path_to_error::Error<toml::de::Error>| {
            let path = e.path().to_string();
            let key = if path == "." {
                "ai".to_owned()
            } else {
                format!("ai.{path}")
            };
            let message = crate::messages::explain(&key, e.into_inner().message());
            key_error(&key, message)
        };
        let mode: AiMode =
            serde_path_to_error::deserialize(toml::Value::Table(mode)).map_err(prefixed)?;
        let mut sd: AiSettings =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(prefixed)?;
        sd.fill_painter_defaults();
        let local = match local {
            Some(v) => serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                let key = if path == "." {
                    "ai.local".to_owned()
                } else {
                    format!("ai.local.{path}")
                };
                key_error(
                    &key,
                    crate::messages::explain(&key, e.into_inner().message()),
                )
            })?,
            None => LocalSettings::default(),
        };
        Ok(AiConfig {
            enabled: mode.enabled,
            backend: mode.backend,
            fallback: mode.fallback,
            sd,
            local,
        })
    }

    /// The backend that paints, after `enabled` has had its say.
    pub fn active_backend(&self) -> AiBackend {
        if self.enabled {
            self.backend
        } else {
            AiBackend::Builtin
        }
    }
}
