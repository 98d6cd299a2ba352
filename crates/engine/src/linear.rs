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
    /// Wᵀ packed as panels for the bf16 kernel, on first use (y = x·Wᵀ, written row by
    /// row straight from the kernel's tiles).
    packed: OnceLock<Option<PackedB>>,
    /// The bias as f32 numbers, on first use.
    host_bias: OnceLock<Option<Vec<f32>>>,
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
    weights: &'a PackedB,
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
        let m = self.weights.cols();
        let x = &x[x0..][..tokens * k];
        let out = match self.weights.kernel() {
            // The tokens' rows as pairs once; the kernel splits the work itself, and its
            // first pass over k writes every output (no zeroing pass first).
            Kernel::Avx512 => {
                let a = crate::bf16::pair_rows(x, k);
                // SAFETY: `linear` writes all of y, reading none before writing it.
                unsafe {
                    crate::cpu::written(tokens * m, |y| {
                        self.weights.linear(&a, tokens, self.bias, y)
                    })
                }
            }
            // Token chunks per thread, whole panels of 32; y (n × m) = x (n × k, its
            // rows as A) · Wᵀ (the panels).
            Kernel::Amx => {
                let mut out = vec![0f32; tokens * m];
                let threads = rayon::current_num_threads().max(1);
                let chunk = tokens.div_ceil(threads).div_ceil(32) * 32;
                out.par_chunks_mut(chunk * m)
                    .enumerate()
                    .for_each(|(c, dst)| {
                        let (t0, n) = (c * chunk, dst.len() / m);
                        let rows = &x[t0 * k..][..n * k];
                        Bf16Weights::pack_for(Kernel::Amx, rows, n, k, 1.0).matmul_packed(
                            self.weights,
                            dst,
                            m,
                        );
                        if let Some(b) = self.bias {
                            for row in dst.chunks_mut(m) {
                                row.iter_mut().zip(b).for_each(|(y, b)| *y += b);
                            }
                        }
                    });
                out
            }
        };
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
            let (m, k) = w.dims2().ok()?;
            let flat = crate::cpu::host_f32(w).ok()?;
            (m > 0 && k > 0).then(|| PackedB::pack(&flat, k, m, (1, k)))
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
            bias,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// Both kernels (AVX-512 BF16, and AMX's tiles where present) compute candle's
    /// linear layer on the bf16-rounded inputs: token counts past one tile and one
    /// task's block, and a handful (the work then split by panels); features past one
    /// panel and not a whole number of them; k odd and past one pass of pairs (later
    /// passes add to the first); with and without a bias.
    #[test]
    fn the_bf16_layer_matches_candles_linear_of_rounded_inputs() {
        if !crate::bf16::available() {
            eprintln!("skipped: no AVX-512 BF16 here");
            return;
        }
        let dev = Device::Cpu;
        let round = crate::bf16_rounded;
        // Both layouts where the processor has AMX (its panels feed AMX's tiles).
        let mut kernels = vec![Kernel::Avx512];
        if crate::amx::available() {
            kernels.push(Kernel::Amx);
        } else {
            eprintln!("no AMX here: its layout is not tested");
        }
        for (tokens, k, m) in [(100, 45, 70), (250, 1037, 70), (7, 64, 300), (13, 600, 33)] {
            let x = Tensor::randn(0f32, 1.0, (1, tokens, k), &dev).unwrap();
            let w = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
            let b = Tensor::randn(0f32, 1.0, m, &dev).unwrap();
            let product = round(&x).broadcast_matmul(&round(&w).t().unwrap()).unwrap();
            let flat: Vec<f32> = w.flatten_all().unwrap().to_vec1().unwrap();
            let bias: Vec<f32> = b.to_vec1().unwrap();
            for (kernel, with_bias) in kernels
                .iter()
                .flat_map(|&kernel| [(kernel, true), (kernel, false)])
            {
                let weights = PackedB::pack_for(kernel, &flat, k, m, (1, k));
                let want = if with_bias {
                    product.broadcast_add(&b).unwrap()
                } else {
                    product.clone()
                };
                let got = x
                    .apply_op1_no_bwd(&Bf16Linear {
                        weights: &weights,
                        bias: with_bias.then_some(bias.as_slice()),
                    })
                    .unwrap();
                assert_eq!(got.dims(), want.dims());
                let diff = crate::max_abs(&(got - &want).unwrap()).unwrap();
                assert!(
                    diff < 1e-3,
                    "{tokens}x{k}->{m} bias {with_bias} on {kernel:?}: {diff}"
                );
            }
        }
    }
}
