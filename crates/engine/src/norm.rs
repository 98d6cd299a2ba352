//! Group normalisation, optionally followed by SiLU, as one pass over each group on the
//! CPU. candle's `GroupNorm` is ten tensor operations (sums, broadcasts, a square
//! root…), each a pass over the whole tensor with a fresh allocation; a UNet step has
//! about sixty of them, the VAE's decoder has them at full resolution, and nearly all
//! are followed by SiLU, one more pass. Here each (image, group) is read once for its
//! mean, once for its variance (two passes, as exact as candle's), and written once,
//! normalised, scaled, shifted and activated. Elsewhere (GPU, half precision) it is
//! candle's composition.
//!
//! [`LayerNorm`] is the transformers' and text encoders' layer norm, the same way per
//! row. Both run an AVX-512 copy of their loops where the processor has it.

use candle_core::{CpuStorage, DType, Layout, Result, Shape, Tensor};
use candle_nn as nn;

/// diffusers' `GroupNorm` (weight and bias per channel), with a fused SiLU on demand.
pub struct GroupNorm {
    inner: nn::GroupNorm,
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f64,
    /// The weight and bias as f32 numbers, read on first use.
    host: std::sync::OnceLock<(Vec<f32>, Vec<f32>)>,
}

pub fn group_norm(
    groups: usize,
    channels: usize,
    eps: f64,
    vb: nn::VarBuilder,
) -> Result<GroupNorm> {
    let weight = vb.get_with_hints(channels, "weight", nn::Init::Const(1.0))?;
    let bias = vb.get_with_hints(channels, "bias", nn::Init::Const(0.0))?;
    Ok(GroupNorm {
        inner: nn::GroupNorm::new(weight.clone(), bias.clone(), channels, groups, eps)?,
        weight,
        bias,
        groups,
        eps,
        host: std::sync::OnceLock::new(),
    })
}

struct Fused<'a> {
    weight: &'a [f32],
    bias: &'a [f32],
    groups: usize,
    eps: f64,
    silu: bool,
}

impl candle_core::CustomOp1 for Fused<'_> {
    fn name(&self) -> &'static str {
        "articket-group-norm"
    }

    fn cpu_fwd(&self, x: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        use rayon::prelude::*;
        let CpuStorage::F32(x) = x else {
            candle_core::bail!("group norm: f32 only");
        };
        let Some((x0, x1)) = l.contiguous_offsets() else {
            candle_core::bail!("group norm: input must be contiguous");
        };
        let x = &x[x0..x1];
        let dims = l.shape().dims();
        let c = dims[1];
        let plane: usize = dims[2..].iter().product();
        let per_group = c / self.groups * plane;
        // SAFETY: the jobs cover every element (x is whole groups), each written once.
        let out = unsafe {
            crate::cpu::written(x.len(), |out: &mut [f32]| {
                out.par_chunks_mut(per_group)
                    .zip(x.par_chunks(per_group))
                    .enumerate()
                    .for_each(|(job, (o, src))| {
                        let first = job % self.groups * (c / self.groups);
                        self.group(src, o, plane, first);
                    })
            })
        };
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

impl Fused<'_> {
    /// One (image, group) of channels from `first`, each channel's plane `plane` long:
    /// its mean and variance, then every value normalised, scaled and shifted (and
    /// SiLU). With AVX-512 where the processor has it (the same code compiled 16 wide;
    /// the portable build targets SSE2).
    fn group(&self, src: &[f32], o: &mut [f32], plane: usize, first: usize) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has the feature.
            unsafe { self.group_avx512(src, o, plane, first) };
            return;
        }
        self.group_plain(src, o, plane, first);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn group_avx512(&self, src: &[f32], o: &mut [f32], plane: usize, first: usize) {
        self.group_plain(src, o, plane, first);
    }

    #[inline(always)]
    fn group_plain(&self, src: &[f32], o: &mut [f32], plane: usize, first: usize) {
        let n = src.len() as f64;
        let mean = lanes_sum(src, |v| v) / n;
        let m = mean as f32;
        let var = lanes_sum(src, |v| (v - m) * (v - m)) / n;
        let inv = 1.0 / (var + self.eps).sqrt();
        for (ci, (o, src)) in o.chunks_mut(plane).zip(src.chunks(plane)).enumerate() {
            // y = (x − mean) · inv · w + b = x · scale + shift
            let w = self.weight[first + ci] as f64;
            let scale = (inv * w) as f32;
            let shift = (self.bias[first + ci] as f64 - mean * inv * w) as f32;
            if self.silu {
                for (o, &v) in o.iter_mut().zip(src) {
                    let y = v * scale + shift;
                    *o = y / (1.0 + crate::fastmath::fast_exp((-y).min(87.0)));
                }
            } else {
                for (o, &v) in o.iter_mut().zip(src) {
                    *o = v * scale + shift;
                }
            }
        }
    }
}

/// A layer norm over the last dimension (weight and bias per feature): the
/// transformers' and the text encoders'. On the CPU in f32 one pass per row with
/// AVX-512 where present (candle's is compiled for the portable SSE2 target); elsewhere
/// candle's.
pub struct LayerNorm {
    inner: nn::LayerNorm,
    eps: f64,
    /// The weight and bias as f32 numbers, read on first use.
    host: std::sync::OnceLock<(Vec<f32>, Vec<f32>)>,
}

pub fn layer_norm(size: usize, eps: f64, vb: nn::VarBuilder) -> Result<LayerNorm> {
    let weight = vb.get_with_hints(size, "weight", nn::Init::Const(1.0))?;
    let bias = vb.get_with_hints(size, "bias", nn::Init::Const(0.0))?;
    Ok(LayerNorm {
        inner: nn::LayerNorm::new(weight, bias, eps),
        eps,
        host: std::sync::OnceLock::new(),
    })
}

struct Rows<'a> {
    weight: &'a [f32],
    bias: &'a [f32],
    eps: f64,
}

impl candle_core::CustomOp1 for Rows<'_> {
    fn name(&self) -> &'static str {
        "articket-layer-norm"
    }

    fn cpu_fwd(&self, x: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        use rayon::prelude::*;
        let (CpuStorage::F32(x), Some((x0, x1))) = (x, l.contiguous_offsets()) else {
            candle_core::bail!("layer norm: contiguous f32 only");
        };
        let x = &x[x0..x1];
        let width = self.weight.len();
        if width == 0 || !x.len().is_multiple_of(width) {
            candle_core::bail!("layer norm: rows of {width} expected");
        }
        // SAFETY: the tasks cover every row, each written once.
        let out = unsafe {
            crate::cpu::written(x.len(), |out: &mut [f32]| {
                out.par_chunks_mut(16 * width)
                    .zip(x.par_chunks(16 * width))
                    .for_each(|(o, src)| self.rows(src, o))
            })
        };
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

impl Rows<'_> {
    fn rows(&self, src: &[f32], o: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has the feature.
            unsafe { self.rows_avx512(src, o) };
            return;
        }
        self.rows_plain(src, o);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn rows_avx512(&self, src: &[f32], o: &mut [f32]) {
        self.rows_plain(src, o);
    }

    /// Each row: its mean and variance (two passes, as candle's), then
    /// (x − mean)/√(var + eps)·w + b.
    #[inline(always)]
    fn rows_plain(&self, src: &[f32], o: &mut [f32]) {
        let width = self.weight.len();
        for (o, row) in o.chunks_exact_mut(width).zip(src.chunks_exact(width)) {
            let n = width as f64;
            let mean = lanes_sum(row, |v| v) / n;
            let m = mean as f32;
            let var = lanes_sum(row, |v| (v - m) * (v - m)) / n;
            let inv = (1.0 / (var + self.eps).sqrt()) as f32;
            for (((o, &v), &w), &b) in o.iter_mut().zip(row).zip(self.weight).zip(self.bias) {
                *o = (v - m) * inv * w + b;
            }
        }
    }
}

impl candle_core::Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !(x.device().is_cpu() && x.dtype() == DType::F32) {
            return candle_core::Module::forward(&self.inner, x);
        }
        if self.host.get().is_none() {
            let read = crate::cpu::host_f32;
            let bias = match self.inner.bias() {
                Some(b) => read(b)?,
                None => vec![0.0; self.inner.weight().elem_count()],
            };
            let _ = self.host.set((read(self.inner.weight())?, bias));
        }
        let (weight, bias) = self.host.get().expect("set above");
        x.contiguous()?.apply_op1_no_bwd(&Rows {
            weight,
            bias,
            eps: self.eps,
        })
    }
}

/// Σ f(x) in 16 f32 lanes (so it vectorises), the lanes added in f64.
#[inline(always)]
fn lanes_sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut acc = [0f32; 16];
    let chunks = xs.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    acc.iter().map(|&a| a as f64).sum::<f64>() + rest.iter().map(|&v| f(v) as f64).sum::<f64>()
}

impl GroupNorm {
    fn run(&self, x: &Tensor, silu: bool) -> Result<Tensor> {
        let fits = x.device().is_cpu()
            && x.dtype() == DType::F32
            && x.rank() >= 3
            && x.dim(1)? % self.groups == 0;
        if !fits {
            let y = candle_core::Module::forward(&self.inner, x)?;
            return if silu { y.silu() } else { Ok(y) };
        }
        if self.host.get().is_none() {
            let read = crate::cpu::host_f32;
            let _ = self.host.set((read(&self.weight)?, read(&self.bias)?));
        }
        let (weight, bias) = self.host.get().expect("set above");
        x.contiguous()?.apply_op1_no_bwd(&Fused {
            weight,
            bias,
            groups: self.groups,
            eps: self.eps,
            silu,
        })
    }

    /// The group norm alone.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, false)
    }

    /// SiLU of the group norm, in the same pass.
    pub fn forward_silu(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The fused pass computes candle's group norm (and its SiLU), for several images,
    /// groups of several channels, and an input far from zero mean (where a one-pass
    /// variance would lose digits). The reference runs in f64, so its own rounding
    /// cannot fail the test.
    #[test]
    fn the_fused_pass_matches_candles_group_norm() {
        let dev = Device::Cpu;
        let x = (Tensor::randn(0f32, 3.0, (2, 12, 5, 7), &dev).unwrap() + 40.0).unwrap();
        let w = Tensor::randn(0f32, 1.0, 12, &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 12, &dev).unwrap();
        let vb = |dtype| {
            nn::VarBuilder::from_tensors(
                [
                    ("weight".to_owned(), w.clone()),
                    ("bias".to_owned(), b.clone()),
                ]
                .into(),
                dtype,
                &dev,
            )
        };
        let norm = group_norm(4, 12, 1e-5, vb(DType::F32)).unwrap();
        let exact = group_norm(4, 12, 1e-5, vb(DType::F64)).unwrap();
        let x64 = x.to_dtype(DType::F64).unwrap();
        let want = candle_core::Module::forward(&exact.inner, &x64).unwrap();
        let off = |got: Tensor, want: &Tensor| {
            let got = got.to_dtype(DType::F64).unwrap();
            crate::max_abs(&(got - want).unwrap().to_dtype(DType::F32).unwrap()).unwrap()
        };
        let diff = off(norm.forward(&x).unwrap(), &want);
        assert!(diff < 1e-5, "norm: {diff}");
        let diff = off(norm.forward_silu(&x).unwrap(), &want.silu().unwrap());
        assert!(diff < 1e-5, "silu: {diff}");
    }

    /// The layer norm's pass computes the layer norm as f64 does: rows of an odd width
    /// in several tasks, values far from zero mean.
    #[test]
    fn the_layer_norm_pass_is_the_layer_norm_in_f64() {
        let dev = Device::Cpu;
        let x = (Tensor::randn(0f32, 3.0, (3, 40, 37), &dev).unwrap() + 40.0).unwrap();
        let w = Tensor::randn(0f32, 1.0, 37, &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 37, &dev).unwrap();
        let vb = nn::VarBuilder::from_tensors(
            [
                ("weight".to_owned(), w.clone()),
                ("bias".to_owned(), b.clone()),
            ]
            .into(),
            DType::F32,
            &dev,
        );
        let norm = layer_norm(37, 1e-5, vb).unwrap();
        let f64 = |t: &Tensor| t.to_dtype(DType::F64).unwrap();
        // (x − mean)/√(var + eps)·w + b in f64 (candle's layer norm has no f64).
        let x64 = f64(&x);
        let centred = x64.broadcast_sub(&x64.mean_keepdim(2).unwrap()).unwrap();
        let var = centred.sqr().unwrap().mean_keepdim(2).unwrap();
        let want = centred
            .broadcast_div(&(var + 1e-5).unwrap().sqrt().unwrap())
            .unwrap()
            .broadcast_mul(&f64(&w))
            .unwrap()
            .broadcast_add(&f64(&b))
            .unwrap();
        let got = f64(&candle_core::Module::forward(&norm, &x).unwrap());
        let diff = crate::max_abs(&(got - want).unwrap().to_dtype(DType::F32).unwrap()).unwrap();
        assert!(diff < 1e-5, "{diff}");
    }
}
