//! The CLIP text encoder, our own, for every Stable Diffusion family.
//!
//! One implementation reads both tensor-name layouts in use: the published checkpoints'
//! (`text_model.embeddings…`, as transformers 4 wrote `CLIPTextModel`) and transformers
//! 5's (`embeddings…`, no prefix). It knows both activations (quick-GELU for OpenAI's
//! CLIP, exact GELU for OpenCLIP's bigG in SDXL), gives the last hidden state (after the
//! final layer norm) or the penultimate one (SDXL conditions on that), and the pooled
//! embedding at the end token, through `text_projection` when the model has one (SDXL's
//! second encoder: the `text_embeds` of its added conditioning).

use crate::linear::{linear, linear_no_bias, Linear};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor, D};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm};
use candle_nn::{LayerNormConfig, VarBuilder};

use crate::config::TextShape;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    QuickGelu,
    Gelu,
}

impl Activation {
    pub fn from_config(name: &str) -> Option<Activation> {
        match name {
            "quick_gelu" => Some(Activation::QuickGelu),
            "gelu" => Some(Activation::Gelu),
            _ => None,
        }
    }

    fn apply(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Activation::QuickGelu => xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?,
            Activation::Gelu => xs.gelu_erf(),
        }
    }
}

struct Layer {
    norm1: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// What a prompt becomes: per-token hidden states and one pooled vector.
pub struct TextOutput {
    /// (B, L, hidden): the last layer's after the final norm, or the penultimate
    /// layer's as it is.
    pub hidden: Tensor,
    /// (B, projection or hidden): the final state at the end token, projected when the
    /// model has a projection.
    pub pooled: Tensor,
}

pub struct ClipText {
    token: Embedding,
    position: Embedding,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    projection: Option<Linear>,
    act: Activation,
    heads: usize,
    eos: u32,
}

impl ClipText {
    /// `vb` is the weights file's root; the layout is found from the names in it.
    pub fn new(vb: VarBuilder, shape: &TextShape, act: Activation, eos: u32) -> Result<Self> {
        let text = if vb.contains_tensor("text_model.embeddings.token_embedding.weight") {
            vb.pp("text_model")
        } else {
            vb.clone()
        };
        let h = shape.hidden_size;
        let ln = |vb: VarBuilder| {
            layer_norm(
                h,
                LayerNormConfig {
                    eps: shape.layer_norm_eps,
                    ..Default::default()
                },
                vb,
            )
        };
        let emb = text.pp("embeddings");
        let token = embedding(shape.vocab_size, h, emb.pp("token_embedding"))?;
        let position = embedding(shape.max_positions, h, emb.pp("position_embedding"))?;
        let mut layers = Vec::with_capacity(shape.layers);
        for i in 0..shape.layers {
            let l = text.pp("encoder.layers").pp(i.to_string());
            let a = l.pp("self_attn");
            layers.push(Layer {
                norm1: ln(l.pp("layer_norm1"))?,
                q: linear(h, h, a.pp("q_proj"))?,
                k: linear(h, h, a.pp("k_proj"))?,
                v: linear(h, h, a.pp("v_proj"))?,
                out: linear(h, h, a.pp("out_proj"))?,
                norm2: ln(l.pp("layer_norm2"))?,
                fc1: linear(h, shape.intermediate_size, l.pp("mlp.fc1"))?,
                fc2: linear(shape.intermediate_size, h, l.pp("mlp.fc2"))?,
            });
        }
        let final_norm = ln(text.pp("final_layer_norm"))?;
        let projection = if vb.contains_tensor("text_projection.weight") {
            Some(linear_no_bias(
                h,
                shape.projection_dim.max(1),
                vb.pp("text_projection"),
            )?)
        } else {
            None
        };
        if shape.heads == 0 || !h.is_multiple_of(shape.heads) {
            candle_core::bail!("{h} hidden units do not split into {} heads", shape.heads);
        }
        Ok(ClipText {
            token,
            position,
            layers,
            final_norm,
            projection,
            act,
            heads: shape.heads,
            eos,
        })
    }

    /// Token ids (B, L) to hidden states and the pooled embedding.
    pub fn forward(&self, ids: &Tensor, penultimate: bool) -> Result<TextOutput> {
        let (b, len) = ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, ids.device())?;
        let mut xs = self
            .token
            .forward(ids)?
            .broadcast_add(&self.position.forward(&positions)?)?;
        let mask = causal_mask(len, xs.device(), xs.dtype())?;
        let last = self.layers.len();
        let mut hidden = None;
        for (i, layer) in self.layers.iter().enumerate() {
            if penultimate && i + 1 == last {
                hidden = Some(xs.clone());
            }
            xs = self.layer(layer, &xs, &mask, b, len)?;
        }
        let finished = self.final_norm.forward(&xs)?;
        let hidden = match hidden {
            Some(h) => h,
            None => finished.clone(),
        };
        // The state at each row's first end token (CLIP's pooled output).
        let ids_cpu = ids.to_device(&Device::Cpu)?.to_dtype(DType::U32)?;
        let mut rows = Vec::with_capacity(b);
        for r in 0..b {
            let row = ids_cpu.i(r)?.to_vec1::<u32>()?;
            let at = row.iter().position(|&t| t == self.eos).unwrap_or_else(|| {
                // No end token: the highest id, as transformers does for old configs.
                row.iter()
                    .enumerate()
                    .max_by_key(|&(i, &t)| (t, std::cmp::Reverse(i)))
                    .map(|(i, _)| i)
                    .unwrap_or(0)
            });
            rows.push(finished.i((r, at))?);
        }
        let mut pooled = Tensor::stack(&rows, 0)?;
        if let Some(p) = &self.projection {
            pooled = p.forward(&pooled)?;
        }
        Ok(TextOutput { hidden, pooled })
    }

    fn layer(&self, l: &Layer, xs: &Tensor, mask: &Tensor, b: usize, len: usize) -> Result<Tensor> {
        let h = xs.dim(D::Minus1)?;
        let hd = h / self.heads;
        let normed = l.norm1.forward(xs)?;
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, len, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split((l.q.forward(&normed)? * (hd as f64).powf(-0.5))?)?;
        let k = split(l.k.forward(&normed)?)?;
        let v = split(l.v.forward(&normed)?)?;
        let scores = q.matmul(&k.t()?)?.broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let attn = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, len, h))?
            .apply(&l.out)?;
        let xs = (xs + attn)?;
        let mlp = self
            .act
            .apply(&l.fc1.forward(&l.norm2.forward(&xs)?)?)?
            .apply(&l.fc2)?;
        xs + mlp
    }
}

fn causal_mask(len: usize, device: &Device, dtype: DType) -> Result<Tensor> {
    let mask: Vec<f32> = (0..len)
        .flat_map(|i| (0..len).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (len, len), device)?.to_dtype(dtype)
}
