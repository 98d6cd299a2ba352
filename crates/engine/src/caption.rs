//! CLIP captions: a small built-in vocabulary of subject, detail and mood phrases,
//! ranked by CLIP image–text similarity; the best of each kind make the caption
//! ("a young woman with long hair, smiling"). The phrases' text features are computed
//! once at load time, so a caption costs one image encoding.
//!
//! The model directory is a transformers CLIP checkpoint (e.g. openai/clip-vit-large-
//! patch14): `config.json`, `model.safetensors`, `tokenizer.json`.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::clip::{self, div_l2_norm, text_model, vision_model, ClipModel};
use image::RgbImage;
use serde_json::Value;

use crate::layout::{read_json, LayoutError};
use crate::text::Tokenizer;
use crate::vision::{clip_pixels, transformers_files};
use crate::worker::{CaptionModel, Captioner};
use crate::EngineError;

/// Who is in the photo.
pub const SUBJECTS: &[&str] = &[
    "a young woman",
    "a young man",
    "a woman",
    "a man",
    "an older woman",
    "an older man",
    "a girl",
    "a boy",
    "two friends",
    "a couple",
    "a family",
];
/// A visible detail.
pub const DETAILS: &[&str] = &[
    "with long hair",
    "with short hair",
    "with curly hair",
    "wearing glasses",
    "wearing a hat",
    "wearing a scarf",
    "in a jacket",
    "in a dress",
];
/// The mood.
pub const MOODS: &[&str] = &[
    "smiling",
    "laughing",
    "looking calm",
    "looking serious",
    "looking thoughtful",
];

pub struct ClipCaptioner {
    model: ClipModel,
    device: Device,
    image_size: usize,
    /// Normalised text features per vocabulary group, in the order of the constants.
    groups: Vec<(&'static [&'static str], Tensor)>,
}

fn bad(path: &Path, message: impl Into<String>) -> EngineError {
    EngineError::Layout(LayoutError::BadConfig {
        path: path.display().to_string(),
        message: message.into(),
    })
}

fn num(v: &Value, key: &str, path: &Path) -> Result<usize, EngineError> {
    v.get(key)
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .ok_or_else(|| bad(path, format!("`{key}` is missing")))
}

impl ClipCaptioner {
    pub fn load(dir: &Path, device: &Device) -> Result<ClipCaptioner, EngineError> {
        let (config_path, weights, tokenizer_path) = transformers_files(dir)?;
        let v = read_json(&config_path)?;
        let (t, vis) = (
            v.get("text_config").cloned().unwrap_or_default(),
            v.get("vision_config").cloned().unwrap_or_default(),
        );
        let projection_dim = num(&v, "projection_dim", &config_path)?;
        let text_config = text_model::ClipTextConfig {
            vocab_size: num(&t, "vocab_size", &config_path)?,
            embed_dim: num(&t, "hidden_size", &config_path)?,
            activation: text_model::Activation::QuickGelu,
            intermediate_size: num(&t, "intermediate_size", &config_path)?,
            max_position_embeddings: num(&t, "max_position_embeddings", &config_path)?,
            pad_with: None,
            num_hidden_layers: num(&t, "num_hidden_layers", &config_path)?,
            num_attention_heads: num(&t, "num_attention_heads", &config_path)?,
            projection_dim,
        };
        let image_size = num(&vis, "image_size", &config_path)?;
        let vision_config = vision_model::ClipVisionConfig {
            embed_dim: num(&vis, "hidden_size", &config_path)?,
            activation: text_model::Activation::QuickGelu,
            intermediate_size: num(&vis, "intermediate_size", &config_path)?,
            num_hidden_layers: num(&vis, "num_hidden_layers", &config_path)?,
            num_attention_heads: num(&vis, "num_attention_heads", &config_path)?,
            projection_dim,
            num_channels: vis.get("num_channels").and_then(Value::as_u64).unwrap_or(3) as usize,
            image_size,
            patch_size: num(&vis, "patch_size", &config_path)?,
        };
        let max_len = text_config.max_position_embeddings;
        let config = clip::ClipConfig {
            text_config,
            vision_config,
            logit_scale_init_value: v
                .get("logit_scale_init_value")
                .and_then(Value::as_f64)
                .unwrap_or(2.6592) as f32,
            image_size,
        };
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, device) }
            .map_err(|e| EngineError::Load(format!("{}: {e}", weights.display())))?;
        let model = ClipModel::new(vb, &config)
            .map_err(|e| EngineError::Load(format!("{}: {e}", weights.display())))?;
        let tokenizer = Tokenizer::load(&tokenizer_path, max_len)?;
        let mut groups = Vec::new();
        for list in [SUBJECTS, DETAILS, MOODS] {
            let features = (|| -> candle_core::Result<Tensor> {
                let mut rows = Vec::new();
                for phrase in list {
                    let ids = tokenizer
                        .encode(&format!("a photo of {phrase}"))
                        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
                    rows.push(Tensor::new(ids.as_slice(), device)?);
                }
                div_l2_norm(&model.get_text_features(&Tensor::stack(&rows, 0)?)?)
            })()
            .map_err(|e| EngineError::Load(format!("CLIP text features: {e}")))?;
            groups.push((list, features));
        }
        Ok(ClipCaptioner {
            model,
            device: device.clone(),
            image_size,
            groups,
        })
    }

    /// The caption: the best subject, detail and mood for the image.
    pub fn caption(&self, image: &RgbImage) -> Result<String, EngineError> {
        let run = || -> candle_core::Result<String> {
            let s = self.image_size as u32;
            let pixels = clip_pixels(image, s, &self.device)?;
            let features = div_l2_norm(&self.model.get_image_features(&pixels)?)?;
            let mut best = Vec::new();
            for (list, text) in &self.groups {
                let scores = text.matmul(&features.t()?)?.squeeze(1)?.to_vec1::<f32>()?;
                let i = scores
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                best.push(list[i]);
            }
            Ok(format!("{} {}, {}", best[0], best[1], best[2]))
        };
        run().map_err(|e| EngineError::Run(format!("CLIP caption: {e}")))
    }
}

/// Every captioner a worker or the local backend has, by A1111 model name.
#[derive(Default)]
pub struct Captioners {
    pub clip: Option<ClipCaptioner>,
    pub blip: Option<crate::blip::BlipCaptioner>,
}

impl Captioners {
    pub fn is_empty(&self) -> bool {
        self.clip.is_none() && self.blip.is_none()
    }
}

impl Captioner for Captioners {
    fn caption(
        &self,
        image: &RgbImage,
        model: CaptionModel,
    ) -> Option<Result<String, EngineError>> {
        match model {
            CaptionModel::Clip => self.clip.as_ref().map(|c| c.caption(image)),
            CaptionModel::Blip => self.blip.as_ref().map(|b| b.caption(image)),
        }
    }
}
