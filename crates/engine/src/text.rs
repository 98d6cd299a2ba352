//! Prompts to embeddings: a CLIP tokenizer (tokenizer.json) and a CLIP text encoder.
//!
//! Full-size encoders of known shape (SD 1.5's and SDXL's CLIP ViT-L, SD 2.x's and
//! SDXL's second OpenCLIP encoder) load through candle's Stable Diffusion presets, which
//! also know their activation (quick-GELU or GELU). Any other shape, such as the tiny
//! test models, loads through candle's general CLIP text model, which uses quick-GELU.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Module, VarBuilder};
use candle_transformers::models::clip::text_model as general;
use candle_transformers::models::stable_diffusion::clip as preset;

use crate::config::TextShape;
use crate::EngineError;

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    bos: u32,
    eos: u32,
    max_len: usize,
}

impl Tokenizer {
    pub fn load(path: &Path, max_len: usize) -> Result<Tokenizer, EngineError> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| EngineError::Load(format!("{}: {e}", path.display())))?;
        Self::from_inner(inner, path, max_len)
    }

    /// From `tokenizer.json` content already in memory.
    pub fn from_json(json: &serde_json::Value, max_len: usize) -> Result<Tokenizer, EngineError> {
        let inner: tokenizers::Tokenizer = serde_json::from_value(json.clone())
            .map_err(|e| EngineError::Load(format!("tokenizer: {e}")))?;
        Self::from_inner(inner, Path::new("tokenizer.json"), max_len)
    }

    fn from_inner(
        inner: tokenizers::Tokenizer,
        path: &Path,
        max_len: usize,
    ) -> Result<Tokenizer, EngineError> {
        let id = |t: &str| {
            inner
                .token_to_id(t)
                .ok_or_else(|| EngineError::Load(format!("{}: no {t} token", path.display())))
        };
        Ok(Tokenizer {
            bos: id("<|startoftext|>")?,
            eos: id("<|endoftext|>")?,
            inner,
            max_len,
        })
    }

    /// Token ids framed by start and end tokens, cut or padded (with the end token, as
    /// CLIP was trained) to exactly `max_len`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| EngineError::Input(format!("cannot tokenize the prompt: {e}")))?;
        let mut ids: Vec<u32> = enc.get_ids().to_vec();
        if ids.first() != Some(&self.bos) {
            ids.insert(0, self.bos);
        }
        if ids.last() != Some(&self.eos) {
            ids.push(self.eos);
        }
        if ids.len() > self.max_len {
            ids.truncate(self.max_len - 1);
            ids.push(self.eos);
        }
        ids.resize(self.max_len, self.eos);
        Ok(ids)
    }
}

pub enum TextEncoder {
    Preset(preset::ClipTextTransformer),
    General(general::ClipTextTransformer),
}

impl TextEncoder {
    pub fn load(
        shape: &TextShape,
        weights: &Path,
        device: &Device,
        dtype: DType,
    ) -> Result<TextEncoder, EngineError> {
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], dtype, device) }
            .map_err(|e| EngineError::Load(format!("{}: {e}", weights.display())))?;
        let known = match (shape.hidden_size, shape.layers, shape.vocab_size) {
            (768, 12, 49408) => Some(preset::Config::v1_5()),
            (1024, 23, 49408) => Some(preset::Config::v2_1()),
            (1280, 32, 49408) => Some(preset::Config::sdxl2()),
            _ => None,
        };
        let loaded = match known {
            Some(config) => preset::ClipTextTransformer::new(vb, &config).map(TextEncoder::Preset),
            None => {
                if shape.activation != "quick_gelu" {
                    return Err(EngineError::Load(format!(
                        "{}: a text encoder of this shape must use quick_gelu, not {}",
                        weights.display(),
                        shape.activation
                    )));
                }
                let config = general::ClipTextConfig {
                    vocab_size: shape.vocab_size,
                    embed_dim: shape.hidden_size,
                    activation: general::Activation::QuickGelu,
                    intermediate_size: shape.intermediate_size,
                    max_position_embeddings: shape.max_positions,
                    pad_with: None,
                    num_hidden_layers: shape.layers,
                    num_attention_heads: shape.heads,
                    projection_dim: shape.projection_dim,
                };
                general::ClipTextTransformer::new(vb.pp("text_model"), &config)
                    .map(TextEncoder::General)
            }
        };
        loaded.map_err(|e| EngineError::Load(format!("{}: {e}", weights.display())))
    }

    /// Hidden states for a batch of token ids: the last layer's, or with `penultimate`
    /// the one before it (SDXL conditions on that).
    pub fn forward(&self, ids: &Tensor, penultimate: bool) -> candle_core::Result<Tensor> {
        match self {
            // candle's Stable Diffusion CLIP builds its attention mask for one prompt
            // at a time (a batch of several fails to broadcast), so go row by row.
            TextEncoder::Preset(m) => {
                let mut rows = Vec::new();
                for i in 0..ids.dim(0)? {
                    let row = ids.narrow(0, i, 1)?;
                    rows.push(if penultimate {
                        m.forward_until_encoder_layer(&row, usize::MAX, -2)?.1
                    } else {
                        m.forward(&row)?
                    });
                }
                Tensor::cat(&rows, 0)
            }
            TextEncoder::General(m) => m.forward_with_mask(ids, usize::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full-size SD 1.5 text encoder (random weights, built in memory): a batch of
    /// prompts gives each prompt's own embedding.
    #[test]
    fn a_full_size_encoder_embeds_a_batch_like_one_prompt_at_a_time() {
        let vm = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let enc = TextEncoder::Preset(
            preset::ClipTextTransformer::new(vb, &preset::Config::v1_5()).unwrap(),
        );
        let ids = Tensor::new(&[[49406u32; 77], [320u32; 77]], &Device::Cpu).unwrap();
        let both = enc.forward(&ids, false).unwrap();
        assert_eq!(both.dims(), &[2, 77, 768]);
        let second = enc.forward(&ids.narrow(0, 1, 1).unwrap(), false).unwrap();
        let diff = (both.narrow(0, 1, 1).unwrap() - second)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-4);
        let penultimate = enc.forward(&ids, true).unwrap();
        assert_eq!(penultimate.dims(), &[2, 77, 768]);
    }
}
