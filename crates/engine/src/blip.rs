//! BLIP captions (candle's BLIP, image-captioning configuration): the image through the
//! vision transformer, then the text decoder greedily, token by token, until [SEP].
//!
//! The model directory is a transformers BLIP checkpoint (e.g. Salesforce/blip-image-
//! captioning-large): `config.json`, `model.safetensors`, `tokenizer.json`.

use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{blip, blip_text};
use image::RgbImage;
use serde_json::Value;

use crate::layout::{read_json, LayoutError};
use crate::EngineError;

/// The longest caption, in tokens.
const MAX_TOKENS: usize = 40;

pub struct BlipCaptioner {
    model: Mutex<blip::BlipForConditionalGeneration>,
    tokenizer: tokenizers::Tokenizer,
    device: Device,
    image_size: usize,
    bos: u32,
    sep: u32,
}

fn field<T: serde::de::DeserializeOwned>(v: &Value, key: &str, default: T) -> T {
    v.get(key)
        .and_then(|x| serde_json::from_value(x.clone()).ok())
        .unwrap_or(default)
}

fn need(v: &Value, key: &str, path: &Path) -> Result<usize, EngineError> {
    v.get(key)
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .ok_or_else(|| {
            EngineError::Layout(LayoutError::BadConfig {
                path: path.display().to_string(),
                message: format!("`{key}` is missing"),
            })
        })
}

impl BlipCaptioner {
    pub fn load(dir: &Path, device: &Device) -> Result<BlipCaptioner, EngineError> {
        let (config_path, weights, tokenizer_path) = crate::vision::transformers_files(dir)?;
        let v = read_json(&config_path)?;
        let (t, vis) = (
            v.get("text_config").cloned().unwrap_or_default(),
            v.get("vision_config").cloned().unwrap_or_default(),
        );
        let p = &config_path;
        let vision_hidden = need(&vis, "hidden_size", p)?;
        let text_config = blip_text::Config {
            vocab_size: need(&t, "vocab_size", p)?,
            hidden_size: need(&t, "hidden_size", p)?,
            encoder_hidden_size: field(&t, "encoder_hidden_size", vision_hidden),
            intermediate_size: need(&t, "intermediate_size", p)?,
            projection_dim: field(&t, "projection_dim", 768),
            num_hidden_layers: need(&t, "num_hidden_layers", p)?,
            num_attention_heads: need(&t, "num_attention_heads", p)?,
            max_position_embeddings: field(&t, "max_position_embeddings", 512),
            hidden_act: field(&t, "hidden_act", candle_nn::Activation::Gelu),
            layer_norm_eps: field(&t, "layer_norm_eps", 1e-12),
            is_decoder: true,
        };
        let image_size = need(&vis, "image_size", p)?;
        let vision_config = blip::VisionConfig {
            hidden_size: vision_hidden,
            intermediate_size: need(&vis, "intermediate_size", p)?,
            projection_dim: field(&vis, "projection_dim", 512),
            num_hidden_layers: need(&vis, "num_hidden_layers", p)?,
            num_attention_heads: need(&vis, "num_attention_heads", p)?,
            image_size,
            patch_size: need(&vis, "patch_size", p)?,
            hidden_act: field(&vis, "hidden_act", candle_nn::Activation::Gelu),
            layer_norm_eps: field(&vis, "layer_norm_eps", 1e-5),
        };
        let config = blip::Config {
            text_config,
            vision_config,
            projection_dim: field(&v, "projection_dim", 512),
            image_text_hidden_size: field(&v, "image_text_hidden_size", 256),
        };
        let bos = field(&t, "bos_token_id", 30522u32);
        let sep = field(&t, "sep_token_id", 102u32);
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, device) }
            .map_err(|e| EngineError::Load(format!("{}: {e}", weights.display())))?;
        let model = blip::BlipForConditionalGeneration::new(&config, vb)
            .map_err(|e| EngineError::Load(format!("{}: {e}", weights.display())))?;
        let tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| EngineError::Load(format!("{}: {e}", tokenizer_path.display())))?;
        Ok(BlipCaptioner {
            model: Mutex::new(model),
            tokenizer,
            device: device.clone(),
            image_size,
            bos,
            sep,
        })
    }

    /// A caption such as "a woman in a blue shirt smiling".
    pub fn caption(&self, image: &RgbImage) -> Result<String, EngineError> {
        let s = self.image_size as u32;
        let mut model = self.model.lock().unwrap_or_else(|p| p.into_inner());
        model.reset_kv_cache();
        let run =
            |model: &mut blip::BlipForConditionalGeneration| -> candle_core::Result<Vec<u32>> {
                let pixels = crate::vision::clip_pixels(image, s, &self.device)?;
                let image_embeds = model.vision_model().forward(&pixels)?;
                let mut ids = vec![self.bos];
                for i in 0..MAX_TOKENS {
                    // After the first pass the key-value cache holds the prefix.
                    let start = if i == 0 { 0 } else { ids.len() - 1 };
                    let input = Tensor::new(&ids[start..], &self.device)?.unsqueeze(0)?;
                    let logits = model
                        .text_decoder()
                        .forward(&input, &image_embeds)?
                        .squeeze(0)?;
                    let last = logits.get(logits.dim(0)? - 1)?;
                    let next = last.argmax(0)?.to_scalar::<u32>()?;
                    if next == self.sep {
                        break;
                    }
                    ids.push(next);
                }
                Ok(ids)
            };
        let ids = run(&mut model).map_err(|e| EngineError::Run(format!("BLIP caption: {e}")))?;
        model.reset_kv_cache();
        let text = self
            .tokenizer
            .decode(&ids[1..], true)
            .map_err(|e| EngineError::Run(format!("BLIP caption: {e}")))?;
        // BLIP's known stutter ("arafed", "araffe") is not a word.
        let words: Vec<&str> = text
            .split_whitespace()
            .filter(|w| !w.starts_with("araf"))
            .collect();
        Ok(words.join(" "))
    }
}
