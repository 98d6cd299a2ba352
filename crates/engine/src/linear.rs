//! A linear layer that runs in bf16 on the CPU when [`crate::bf16::in_use`]: the
//! transformer blocks' projections and feed-forward layers over thousands of tokens,
//! which are most of a UNet step's matrix products after the convolutions. Elsewhere
//! (GPU, half precision, a handful of tokens) it is candle's linear layer.

use std::sync::OnceLock;

use candle_core::{CpuStorage, Layout, Module, Result, Shape, Tensor};
use candle_nn as nn;

use crate::bf16::{Bf16Weights, Kernel, PackedB};

/// Fewer tokens than this stay in f32: packing would cost more than it saves.
const MIN_TOKENS: usize = 64;

pub struct Linear {
    inner: nn::Linear,
    /// The weights packed for the bf16 kernel, on first use: W for AVX-512 (y ᵀ = W·xᵀ),
    /// Wᵀ as panels for AMX (y = x·Wᵀ, written row by row straight from its tiles).
    packed: OnceLock<Option<Packed>>,
    /// The bias as f32 numbers, on first use.
    host_bias: OnceLock<Option<Vec<f32>>>,
}

enum Packed {
    Rows(Bf16Weights),
    Panels(PackedB),
}

impl From<nn::Linear> for Linear {
    fn from(inner: nn::Linear) -> Self {
        Linear {
            inner,
            packed: OnceLock::new(),
            host_bias: OnceLock::new(),
        }
    }
}

pub fn linear(i: usize, o: usize, vb: nn::VarBuilder) -> Result<Linear> {
    nn::linear(i, o, vb).map(Linear::from)
}

pub fn linear_no_bias(i: usize, o: usize, vb: nn::VarBuilder) -> Result<Linear> {
    nn::linear_no_bias(i, o, vb).map(Linear::from)
}

struct Bf16Linear<'a> {
    weights: &'a Packed,
    /// Outputs (features) per token.
    m: usize,
    bias: Option<&'a [f32]>,
}

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
        let m = self.m;
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
                match self.weights {
                    // y (n × m) = x (n × k, its rows as A) · Wᵀ (the panels).
                    Packed::Panels(wt) => {
                        let rows = &x[t0 * k..][..n * k];
                        Bf16Weights::pack_for(Kernel::Amx, rows, n, k, 1.0)
                            .matmul_packed(wt, dst, m)
                    }
                    // SAFETY: b = xᵀ for tokens t0..t0+n, dst = this chunk's yᵀ; the
                    // kernel is available (checked before the op is made).
                    Packed::Rows(w) => unsafe {
                        w.matmul_strided(
                            x.as_ptr().add(t0 * k),
                            (1, k),
                            n,
                            dst.as_mut_ptr(),
                            (1, m),
                        )
                    },
                }
                if let Some(b) = self.bias {
                    for row in dst.chunks_mut(m) {
                        row.iter_mut().zip(b).for_each(|(y, b)| *y += b);
                    }
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
        let packed = self.packed.get_or_init(|| {
            let w = self.inner.weight();
            if Kernel::current() == Kernel::Amx {
                let (m, k) = w.dims2().ok()?;
                let flat = crate::cpu::host_f32(w).ok()?;
                Some(Packed::Panels(PackedB::pack_for(
                    Kernel::Amx,
                    &flat,
                    k,
                    m,
                    (1, k),
                )))
            } else {
                Bf16Weights::from_weight(w).map(Packed::Rows)
            }
        });
        let Some(packed) = packed else {
            return self.inner.forward(x);
        };
        let bias = self
            .host_bias
            .get_or_init(|| crate::cpu::host_f32(self.inner.bias()?).ok())
            .as_deref();
        x.contiguous()?.apply_op1_no_bwd(&Bf16Linear {
            weights: packed,
            m: self.inner.weight().dim(0)?,
            bias,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Tensor};

    /// Both bf16 layouts (W's rows for AVX-512, Wᵀ's panels for AMX, where present)
    /// compute candle's linear layer on the bf16-rounded inputs, bias included, for
    /// token counts past one tile and features past one panel.
    #[test]
    fn both_layouts_match_candles_linear_of_rounded_inputs() {
        if !crate::bf16::available() {
            eprintln!("skipped: no AVX-512 BF16 here");
            return;
        }
        let dev = Device::Cpu;
        let (tokens, k, m) = (100, 45, 70);
        let x = Tensor::randn(0f32, 1.0, (2, tokens / 2, k), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, m, &dev).unwrap();
        let round = |t: &Tensor| {
            t.to_dtype(DType::BF16)
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap()
        };
        let want = round(&x)
            .broadcast_matmul(&round(&w).t().unwrap())
            .unwrap()
            .broadcast_add(&b)
            .unwrap();
        let flat: Vec<f32> = w.flatten_all().unwrap().to_vec1().unwrap();
        let bias: Vec<f32> = b.to_vec1().unwrap();
        let mut layouts = vec![Packed::Rows(Bf16Weights::pack_for(
            Kernel::Avx512,
            &flat,
            m,
            k,
            1.0,
        ))];
        if crate::amx::available() {
            layouts.push(Packed::Panels(PackedB::pack_for(
                Kernel::Amx,
                &flat,
                k,
                m,
                (1, k),
            )));
        } else {
            eprintln!("no AMX here: its layout is not tested");
        }
        for weights in &layouts {
            let got = x
                .apply_op1_no_bwd(&Bf16Linear {
                    weights,
                    m,
                    bias: Some(&bias),
                })
                .unwrap();
            assert_eq!(got.dims(), want.dims());
            let diff = crate::max_abs(&(got - &want).unwrap()).unwrap();
            assert!(
                diff < 1e-4,
                "{}: {diff}",
                matches!(weights, Packed::Panels(_))
            );
        }
    }
}
