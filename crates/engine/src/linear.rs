//! A linear layer that runs in bf16 on the CPU when [`crate::bf16::in_use`]: the
//! transformer blocks' projections and feed-forward layers over thousands of tokens,
//! which are most of a UNet step's matrix products after the convolutions. Elsewhere
//! (GPU, half precision, a handful of tokens) it is candle's linear layer.

use std::sync::OnceLock;

use candle_core::{CpuStorage, Layout, Module, Result, Shape, Tensor};
use candle_nn as nn;

use crate::bf16::Bf16Weights;

/// Fewer tokens than this stay in f32: packing would cost more than it saves.
const MIN_TOKENS: usize = 64;

pub struct Linear {
    inner: nn::Linear,
    /// The weights packed for the bf16 kernel, on first use.
    packed: OnceLock<Option<Bf16Weights>>,
}

impl From<nn::Linear> for Linear {
    fn from(inner: nn::Linear) -> Self {
        Linear {
            inner,
            packed: OnceLock::new(),
        }
    }
}

pub fn linear(i: usize, o: usize, vb: nn::VarBuilder) -> Result<Linear> {
    nn::linear(i, o, vb).map(Linear::from)
}

pub fn linear_no_bias(i: usize, o: usize, vb: nn::VarBuilder) -> Result<Linear> {
    nn::linear_no_bias(i, o, vb).map(Linear::from)
}

struct Bf16Linear<'a>(&'a Bf16Weights);

impl candle_core::CustomOp1 for Bf16Linear<'_> {
    fn name(&self) -> &'static str {
        "articket-bf16-linear"
    }

    fn cpu_fwd(&self, x: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        use rayon::prelude::*;
        let CpuStorage::F32(x) = x else {
            candle_core::bail!("bf16 linear: f32 only");
        };
        let Some((x0, _)) = l.contiguous_offsets() else {
            candle_core::bail!("bf16 linear: input must be contiguous");
        };
        let dims = l.shape().dims();
        let k = *dims.last().unwrap_or(&0);
        let tokens = l.shape().elem_count() / k.max(1);
        let m = self.0.rows();
        let x = &x[x0..];
        let mut out = vec![0f32; tokens * m];
        // Token chunks per thread, whole panels of 32.
        let threads = rayon::current_num_threads().max(1);
        let chunk = tokens.div_ceil(threads).div_ceil(32) * 32;
        out.par_chunks_mut(chunk * m)
            .enumerate()
            .for_each(|(c, dst)| {
                let t0 = c * chunk;
                let n = dst.len() / m;
                // SAFETY: b = xᵀ for tokens t0..t0+n, dst = this chunk's yᵀ; the
                // kernel is available (checked before the op is made).
                unsafe {
                    self.0.matmul_strided(
                        x.as_ptr().add(t0 * k),
                        (1, k),
                        n,
                        dst.as_mut_ptr(),
                        (1, m),
                    )
                }
            });
        let mut shape = dims.to_vec();
        *shape.last_mut().expect("a last dimension") = m;
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let tokens = x.elem_count() / x.dim(candle_core::D::Minus1)?.max(1);
        let fits = crate::bf16::in_use()
            && x.device().is_cpu()
            && x.dtype() == candle_core::DType::F32
            && tokens >= MIN_TOKENS;
        if !fits {
            return self.inner.forward(x);
        }
        let packed = self
            .packed
            .get_or_init(|| Bf16Weights::from_weight(self.inner.weight()));
        let Some(packed) = packed else {
            return self.inner.forward(x);
        };
        let y = x.contiguous()?.apply_op1_no_bwd(&Bf16Linear(packed))?;
        match self.inner.bias() {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}
