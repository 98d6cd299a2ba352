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
use crate::norm::{layer_norm, LayerNorm};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor, D};
use candle_nn::{embedding, Embedding, VarBuilder};

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
        if xs.device().is_cpu() && xs.dtype() == DType::F32 {
            // One pass (candle's quick GELU took three, its exact GELU a scalar erf).
            return xs.contiguous()?.apply_op1_no_bwd(&self);
        }
        match self {
            Activation::QuickGelu => xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?,
            Activation::Gelu => xs.gelu_erf(),
        }
    }
}

impl candle_core::CustomOp1 for Activation {
    fn name(&self) -> &'static str {
        "articket-clip-activation"
    }

    fn cpu_fwd(
        &self,
        x: &candle_core::CpuStorage,
        l: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use rayon::prelude::*;
        let (candle_core::CpuStorage::F32(x), Some((x0, x1))) = (x, l.contiguous_offsets()) else {
            candle_core::bail!("clip activation: contiguous f32 only");
        };
        let quick = matches!(self, Activation::QuickGelu);
        let mut out = vec![0f32; x1 - x0];
        out.par_chunks_mut(16 * 1024)
            .zip(x[x0..x1].par_chunks(16 * 1024))
            .for_each(|(out, x)| crate::fastmath::gelu_into(x, out, quick));
        Ok((candle_core::CpuStorage::F32(out), l.shape().clone()))
    }
}

struct Layer {
    norm1: LayerNorm,
    /// The query (scaled), key and value projections as one layer.
    qkv: Linear,
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
        let ln = |vb: VarBuilder| layer_norm(h, shape.layer_norm_eps, vb);
        if shape.heads == 0 || !h.is_multiple_of(shape.heads) {
            candle_core::bail!("{h} hidden units do not split into {} heads", shape.heads);
        }
        // The query's scale, 1/√(head width), is folded into its weights and bias.
        let scale = ((h / shape.heads) as f64).powf(-0.5);
        let emb = text.pp("embeddings");
        let token = embedding(shape.vocab_size, h, emb.pp("token_embedding"))?;
        let position = embedding(shape.max_positions, h, emb.pp("position_embedding"))?;
        let mut layers = Vec::with_capacity(shape.layers);
        for i in 0..shape.layers {
            let l = text.pp("encoder.layers").pp(i.to_string());
            let a = l.pp("self_attn");
            layers.push(Layer {
                norm1: ln(l.pp("layer_norm1"))?,
                qkv: stacked(&a, h, scale)?,
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
        let last = self.layers.len();
        let mut hidden = None;
        for (i, layer) in self.layers.iter().enumerate() {
            if penultimate && i + 1 == last {
                hidden = Some(xs.clone());
            }
            xs = self.layer(layer, &xs, b, len)?;
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

    fn layer(&self, l: &Layer, xs: &Tensor, b: usize, len: usize) -> Result<Tensor> {
        let h = xs.dim(D::Minus1)?;
        let hd = h / self.heads;
        let normed = l.norm1.forward(xs)?;
        // (B, len, 3·heads, d) → (B, 3·heads, len, d), then the three parts.
        let all = l
            .qkv
            .forward(&normed)?
            .reshape((b, len, 3 * self.heads, hd))?;
        let all = crate::cpu::swap_adjacent(&all, 1)?;
        let part = |i: usize| {
            all.narrow(1, i * self.heads, self.heads)?
                .contiguous()?
                .reshape((b * self.heads, len, hd))
        };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        // The query's scale is in its weights (`stacked`).
        let heads = crate::attention::causal_attention(&q, &k, &v, 1.0)?;
        let attn = crate::cpu::swap_adjacent(&heads.reshape((b, self.heads, len, hd))?, 1)?
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

/// Attention's query, key and value projections (`q_proj`, `k_proj`, `v_proj`, h → h
/// with biases) stacked into one h → 3h layer, the query's rows and bias times `scale`.
fn stacked(a: &VarBuilder, h: usize, scale: f64) -> Result<Linear> {
    let part = |name: &str, by: f64| -> Result<(Tensor, Tensor)> {
        let vb = a.pp(name);
        Ok((
            (vb.get((h, h), "weight")? * by)?,
            (vb.get(h, "bias")? * by)?,
        ))
    };
    let (q, k, v) = (
        part("q_proj", scale)?,
        part("k_proj", 1.0)?,
        part("v_proj", 1.0)?,
    );
    let w = Tensor::cat(&[q.0, k.0, v.0], 0)?;
    let b = Tensor::cat(&[q.1, k.1, v.1], 0)?;
    Ok(candle_nn::Linear::new(w, Some(b)).into())
}
