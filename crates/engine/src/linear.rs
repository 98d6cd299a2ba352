//! A linear layer that runs in bf16 on the CPU when [`crate::bf16::in_use`]: the
//! transformer blocks' projections and feed-forward layers over thousands of tokens,
//! which are most of a UNet step's matrix products after the convolutions. Elsewhere
//! (GPU, half precision, a handful of tokens) it is candle's linear layer.
//!
//! [`Geglu`] is the feed-forward's first layer and its gate: on AVX-512 BF16 one pass
//! that gates each tile as it is stored.

use std::sync::OnceLock;

use candle_core::{CpuStorage, DType, Layout, Module, Result, Shape, Tensor, D};
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
    /// GEGLU: the weights are in [`crate::bf16::gated_order`], and y is half as wide.
    gated: bool,
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
        let width = if self.gated { m / 2 } else { m };
        let x = &x[x0..][..tokens * k];
        let out = match self.weights.kernel() {
            // The tokens' rows as pairs once; the kernel splits the work itself, and its
            // one pass over k writes every output (no zeroing pass first).
            Kernel::Avx512 => {
                let a = crate::bf16::pair_rows(x, k);
                // SAFETY: `linear` writes all of y, reading none before writing it.
                unsafe {
                    crate::cpu::written(tokens * width, |y| {
                        if self.gated {
                            self.weights.linear_gated(&a, tokens, self.bias, y)
                        } else {
                            self.weights.linear(&a, tokens, self.bias, y)
                        }
                    })
                }
            }
            Kernel::Amx if self.gated => candle_core::bail!("gated bf16 linear: AVX-512 only"),
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
        *shape.last_mut().expect("a last dimension") = width;
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !takes_bf16(x)? {
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
            gated: false,
        })
    }
}

/// Whether x (…, k) takes the bf16 kernels: on the CPU in f32, with enough tokens.
fn takes_bf16(x: &Tensor) -> Result<bool> {
    let tokens = x.elem_count() / x.dim(D::Minus1)?.max(1);
    Ok(crate::bf16::in_use()
        && x.device().is_cpu()
        && x.dtype() == DType::F32
        && tokens >= MIN_TOKENS)
}

/// diffusers' GEGLU (`ff.net.0`): a linear layer to 2·half features, then the value
/// half times the exact GELU of the gate half. On AVX-512 BF16 (and half a whole
/// number of panels, as in every Stable Diffusion UNet) one pass: the weights are
/// packed values and gates side by side ([`crate::bf16::gated_order`]), and each tile
/// is gated as it is stored, so the 2·half-wide product is never written (at 4096
/// tokens and 320 channels it was 42 MB, written and read again).
pub struct Geglu {
    proj: Linear,
    /// The weights in gated order, packed, and the bias in that order, on first use;
    /// None where the fused pass does not apply.
    gated: OnceLock<Option<(PackedB, Option<Vec<f32>>)>>,
}

pub fn geglu(i: usize, half: usize, vb: nn::VarBuilder) -> Result<Geglu> {
    nn::linear(i, 2 * half, vb).map(Geglu::from)
}

impl From<nn::Linear> for Geglu {
    /// The GEGLU of a linear layer whose outputs are the values, then the gates.
    fn from(proj: nn::Linear) -> Self {
        Geglu {
            proj: proj.into(),
            gated: OnceLock::new(),
        }
    }
}

impl Module for Geglu {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if takes_bf16(x)? && Kernel::current() == Kernel::Avx512 {
            let gated = self.gated.get_or_init(|| {
                let w = self.proj.inner.weight();
                let (m, k) = w.dims2().ok()?;
                let flat = crate::cpu::host_f32(w).ok()?;
                let bias = self
                    .proj
                    .inner
                    .bias()
                    .and_then(|b| crate::cpu::host_f32(b).ok());
                let (rows, bias) = crate::bf16::gated_order(&flat, k, bias.as_deref())?;
                let packed = PackedB::pack_for(Kernel::Avx512, &rows, k, m, (1, k));
                Some((packed, bias))
            });
            if let Some((weights, bias)) = gated {
                return x.contiguous()?.apply_op1_no_bwd(&Bf16Linear {
                    weights,
                    bias: bias.as_deref(),
                    gated: true,
                });
            }
        }
        gate(&self.proj.forward(x)?)
    }
}

/// The value half of h's last dimension times the exact GELU of its gate half. On the
/// CPU in f32, one pass (the two halves, the GELU and the product were four).
fn gate(h: &Tensor) -> Result<Tensor> {
    if h.device().is_cpu() && h.dtype() == DType::F32 {
        return h.contiguous()?.apply_op1_no_bwd(&Gate);
    }
    let half = h.dim(D::Minus1)? / 2;
    h.narrow(D::Minus1, 0, half)? * h.narrow(D::Minus1, half, half)?.gelu_erf()?
}

struct Gate;

impl candle_core::CustomOp1 for Gate {
    fn name(&self) -> &'static str {
        "articket-gelu-gate"
    }

    fn cpu_fwd(&self, x: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        use rayon::prelude::*;
        let CpuStorage::F32(x) = x else {
            candle_core::bail!("gelu gate: f32 only");
        };
        let Some((x0, x1)) = l.contiguous_offsets() else {
            candle_core::bail!("gelu gate: input must be contiguous");
        };
        let mut dims = l.shape().dims().to_vec();
        let last = dims.last_mut().expect("a last dimension");
        let half = *last / 2;
        if half == 0 || !last.is_multiple_of(2) {
            candle_core::bail!("gelu gate: the last dimension must be even, not {last}");
        }
        *last = half;
        let mut out = vec![0f32; (x1 - x0) / 2];
        // Rows in chunks of 64 per task.
        out.par_chunks_mut(64 * half)
            .zip(x[x0..x1].par_chunks(128 * half))
            .for_each(|(out, x)| crate::fastmath::geglu_rows(x, out, half));
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// The one-pass gate is candle's two halves, exact GELU and product, over rows
    /// that do not fill a task's chunk (a remainder) and values far into both tails.
    #[test]
    fn the_fused_geglu_is_candles() {
        let dev = Device::Cpu;
        let h = (Tensor::randn(0f32, 1.0, (2, 101, 2 * 37), &dev).unwrap() * 3.0).unwrap();
        let want = (h.narrow(D::Minus1, 0, 37).unwrap()
            * h.narrow(D::Minus1, 37, 37).unwrap().gelu_erf().unwrap())
        .unwrap();
        let got = gate(&h).unwrap();
        assert_eq!(got.dims(), &[2, 101, 37]);
        let diff = crate::max_abs(&(got - want).unwrap()).unwrap();
        assert!(diff < 1e-5, "{diff}");
        let odd = Tensor::zeros((3, 5), DType::F32, &dev).unwrap();
        assert!(gate(&odd).is_err());
    }

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
                        gated: false,
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

    /// The fused GEGLU computes candle's linear layer on the bf16-rounded inputs, then
    /// the value half × the exact GELU of the gate half: token counts past one task's
    /// block and a handful (the work then split by pairs of panels, six panels here),
    /// k odd, with and without a bias. Widths that are not whole panels are refused.
    #[test]
    fn the_gated_layer_is_the_linear_layer_then_the_gate() {
        if !crate::bf16::available() {
            eprintln!("skipped: no AVX-512 BF16 here");
            return;
        }
        let dev = Device::Cpu;
        let round = crate::bf16_rounded;
        for (tokens, k, half) in [(100, 45, 64), (250, 301, 32), (7, 64, 96), (13, 600, 32)] {
            let x = Tensor::randn(0f32, 1.0, (1, tokens, k), &dev).unwrap();
            let w = Tensor::randn(0f32, 0.2, (2 * half, k), &dev).unwrap();
            let b = Tensor::randn(0f32, 1.0, 2 * half, &dev).unwrap();
            let product = round(&x).broadcast_matmul(&round(&w).t().unwrap()).unwrap();
            let flat: Vec<f32> = w.flatten_all().unwrap().to_vec1().unwrap();
            let bias: Vec<f32> = b.to_vec1().unwrap();
            for with_bias in [true, false] {
                let (rows, ordered) =
                    crate::bf16::gated_order(&flat, k, with_bias.then_some(bias.as_slice()))
                        .unwrap();
                let weights = PackedB::pack_for(Kernel::Avx512, &rows, k, 2 * half, (1, k));
                let h = if with_bias {
                    product.broadcast_add(&b).unwrap()
                } else {
                    product.clone()
                };
                let want = (h.narrow(D::Minus1, 0, half).unwrap()
                    * h.narrow(D::Minus1, half, half).unwrap().gelu_erf().unwrap())
                .unwrap();
                let got = x
                    .apply_op1_no_bwd(&Bf16Linear {
                        weights: &weights,
                        bias: ordered.as_deref(),
                        gated: true,
                    })
                    .unwrap();
                assert_eq!(got.dims(), want.dims());
                let diff = crate::max_abs(&(got - &want).unwrap()).unwrap();
                assert!(
                    diff < 1e-3,
                    "{tokens}x{k}->2x{half} bias {with_bias}: {diff}"
                );
            }
        }
        assert!(crate::bf16::gated_order(&[0.0; 2 * 37 * 5], 5, None).is_none());
    }
}
