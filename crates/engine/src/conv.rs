//! 2-D convolutions and the UNet's residual block.
//!
//! On the CPU, a convolution is lowered to one matrix product per tile of output rows:
//! the tile's input patches are gathered into a per-thread buffer (for stride 1, each
//! patch row is a shifted copy of an input row, so the gather is a few `memcpy`s rather
//! than an index computation per element), then multiplied by the weights straight into
//! the output. candle's own CPU convolution gathers element by element and was the
//! largest cost of a UNet step after attention (docs/benchmarks.md). A 1×1 convolution
//! is a plain matrix product everywhere. Elsewhere (CUDA, half precision) candle's
//! convolution runs.
//!
//! In bf16 on AVX-512 (AMD Zen 4 and later), "same" convolutions at stride 1 and 3×3
//! ones at stride 2 skip the gather: src/direct.rs converts the input to bf16 once and
//! reads it in place (1.3–2.1× faster on the models' shapes at stride 1, twice as fast
//! at stride 2).

use candle_core::{CpuStorage, DType, Layout, Module, Result, Shape, Tensor};

use crate::bf16::NR;
use crate::cpu::{Out, Uninit};
use candle_nn as nn;

/// Gathered patches per tile: at most this many floats (4 MiB).
const TILE_FLOATS: usize = 1 << 20;

struct CpuConv<'a> {
    stride: usize,
    padding: usize,
    /// The weights packed for the bf16 kernel, when it runs.
    packed: Option<&'a crate::bf16::Bf16Weights>,
    /// Added to each output channel, then ReLU if asked, while the output is in cache.
    bias: Option<&'a [f32]>,
    relu: bool,
}

impl CpuConv<'_> {
    /// The bias and ReLU on `n` outputs of each of `o` channels, channel rows
    /// `stride` apart.
    ///
    /// # Safety
    /// `dst` must cover the rows, and no one else may touch them meanwhile.
    unsafe fn finish(&self, dst: *mut f32, stride: usize, o: usize, n: usize) {
        if self.bias.is_none() && !self.relu {
            return;
        }
        for r in 0..o {
            let row = std::slice::from_raw_parts_mut(dst.add(r * stride), n);
            let b = self.bias.map_or(0.0, |b| b[r]);
            if self.relu {
                row.iter_mut().for_each(|v| *v = (*v + b).max(0.0));
            } else {
                row.iter_mut().for_each(|v| *v += b);
            }
        }
    }
}

/// The direct bf16 convolution (src/direct.rs) as a candle operation; as a two-input
/// operation the second input is a residual to add before the ReLU.
struct DirectConv<'a> {
    weights: &'a crate::direct::DirectWeights,
    bias: Option<&'a [f32]>,
    relu: bool,
}

impl DirectConv<'_> {
    fn run(
        &self,
        x: &CpuStorage,
        lx: &Layout,
        residual: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(x) = x else {
            candle_core::bail!("direct conv2d: f32 only");
        };
        let Some((x0, _)) = lx.contiguous_offsets() else {
            candle_core::bail!("direct conv2d: the input must be contiguous");
        };
        let (b, _, h, w) = lx.shape().dims4()?;
        let o = self.weights.out();
        let (oh, ow) = self.weights.out_size(h, w);
        let residual = match residual {
            None => None,
            Some((CpuStorage::F32(r), lr)) => match lr.contiguous_offsets() {
                Some((r0, _)) if lr.shape().dims() == [b, o, oh, ow] => {
                    Some(crate::direct::Residual::F32(&r[r0..]))
                }
                _ => candle_core::bail!("direct conv2d: the residual must be a contiguous output"),
            },
            Some(_) => candle_core::bail!("direct conv2d: f32 only"),
        };
        let len = b * o * oh * ow;
        let mut out = Uninit::new(len);
        // SAFETY: the kernel writes every element (each band its own pixels of every
        // output plane), and nothing reads `y` before.
        let y = unsafe { out.for_writing() };
        let ep = crate::direct::Epilogue {
            bias: self.bias,
            residual,
            relu: self.relu,
        };
        self.weights.run(
            crate::direct::Input::F32(&x[x0..]),
            (b, h, w),
            ep,
            crate::direct::Output::F32(y),
        );
        Ok((
            // SAFETY: every element was written (above).
            CpuStorage::F32(unsafe { out.assume_init() }),
            Shape::from((b, o, oh, ow)),
        ))
    }
}

impl candle_core::CustomOp1 for DirectConv<'_> {
    fn name(&self) -> &'static str {
        "articket-direct-conv2d"
    }

    fn cpu_fwd(&self, x: &CpuStorage, lx: &Layout) -> Result<(CpuStorage, Shape)> {
        self.run(x, lx, None)
    }
}

impl candle_core::CustomOp2 for DirectConv<'_> {
    fn name(&self) -> &'static str {
        "articket-direct-conv2d-residual"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        lx: &Layout,
        r: &CpuStorage,
        lr: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.run(x, lx, Some((r, lr)))
    }
}

impl candle_core::CustomOp2 for CpuConv<'_> {
    fn name(&self) -> &'static str {
        "articket-cpu-conv2d"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        lx: &Layout,
        w: &CpuStorage,
        lw: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        use rayon::prelude::*;
        let (CpuStorage::F32(x), CpuStorage::F32(w)) = (x, w) else {
            candle_core::bail!("cpu conv2d: f32 only");
        };
        let (Some((x0, _)), Some((w0, _))) = (lx.contiguous_offsets(), lw.contiguous_offsets())
        else {
            candle_core::bail!("cpu conv2d: inputs must be contiguous");
        };
        let (x, w) = (&x[x0..], &w[w0..]);
        let (b, c, h, wd) = lx.shape().dims4()?;
        let (o, wc, k, k2) = lw.shape().dims4()?;
        if wc != c || k != k2 {
            candle_core::bail!(
                "cpu conv2d: input {:?}, weight {:?}",
                lx.shape(),
                lw.shape()
            );
        }
        let (s, p) = (self.stride, self.padding);
        if h + 2 * p < k || wd + 2 * p < k {
            candle_core::bail!("cpu conv2d: input smaller than the kernel");
        }
        let oh = (h + 2 * p - k) / s + 1;
        let ow = (wd + 2 * p - k) / s + 1;
        let depth = c * k * k;
        let threads = rayon::current_num_threads().max(1);
        let mut rows = (TILE_FLOATS / (depth * ow).max(1)).clamp(1, oh);
        // Enough tiles for every thread, even for one small image.
        rows = rows.min(((b * oh).div_ceil(2 * threads)).max(1));
        let tiles = oh.div_ceil(rows);
        // Every element is written below (the products write whole rows): no zeroing.
        let mut out = Uninit::new(b * o * oh * ow);
        let dst = Out(out.as_mut_ptr());
        let packed = self.packed;
        if let Some(weights) = packed.filter(|_| s == 1 && ow % NR == 0) {
            // bf16, stride 1, whole panels per output row: each panel of 32 output
            // pixels is packed straight from the input's rows.
            let pp = weights.panel_pairs();
            (0..b * tiles).into_par_iter().for_each_init(
                || (vec![0u32; pp * NR], vec![(0isize, 0u32); k * k]),
                |(panel, taps), job| {
                    let (bi, tile) = (job / tiles, job % tiles);
                    let img = &x[bi * c * h * wd..][..c * h * wd];
                    for y in tile * rows..(tile * rows + rows).min(oh) {
                        for x0 in (0..ow).step_by(NR) {
                            // Where each (kh, kw) reads channel 0's row for this panel:
                            // column j reads ix = x0 + j + kw - p, zero outside.
                            for (t, at) in taps.iter_mut().enumerate() {
                                let (kh, kw) = (t / k, t % k);
                                let iy = (y + kh) as isize - p as isize;
                                let shift = (x0 + kw) as isize - p as isize;
                                let lo = (-shift).clamp(0, NR as isize) as u32;
                                let hi = (wd as isize - shift).clamp(0, NR as isize) as u32;
                                *at = if iy < 0 || iy >= h as isize || hi <= lo {
                                    (0, 0)
                                } else {
                                    let lanes = (u64::from(u32::MAX) << lo) & !(u64::MAX << hi);
                                    (iy * wd as isize + shift, lanes as u32)
                                };
                            }
                            // Rows come in order kk = (ci, kh, kw): step through them.
                            let (mut t, mut plane) = (0, 0isize);
                            let row = |_kk: usize| {
                                let (at, lanes) = taps[t];
                                let src = (lanes != 0)
                                    .then(|| (img.as_ptr().wrapping_offset(plane + at), lanes));
                                t += 1;
                                if t == taps.len() {
                                    t = 0;
                                    plane += (h * wd) as isize;
                                }
                                src
                            };
                            // SAFETY: the kernel is available (the weights were packed
                            // for it); each job writes only its own output rows.
                            unsafe {
                                crate::bf16::pack_panel_with(depth, panel, row);
                                let d = dst.at(bi * o * oh * ow + y * ow + x0);
                                weights.product_panel(panel, NR, d, oh * ow);
                                self.finish(d, oh * ow, o, NR);
                            }
                        }
                    }
                },
            );
        } else {
            (0..b * tiles).into_par_iter().for_each_init(
                || vec![0f32; depth * rows * ow],
                |cols, job| {
                    let (bi, tile) = (job / tiles, job % tiles);
                    let y0 = tile * rows;
                    let r = rows.min(oh - y0);
                    let n = r * ow;
                    let cols = &mut cols[..depth * n];
                    let img = &x[bi * c * h * wd..][..c * h * wd];
                    for ci in 0..c {
                        let plane = &img[ci * h * wd..][..h * wd];
                        for kh in 0..k {
                            for kw in 0..k {
                                let row_base = ((ci * k + kh) * k + kw) * n;
                                for yy in 0..r {
                                    let line = &mut cols[row_base + yy * ow..][..ow];
                                    let iy = ((y0 + yy) * s + kh) as isize - p as isize;
                                    if iy < 0 || iy >= h as isize {
                                        line.fill(0.0);
                                        continue;
                                    }
                                    let src = &plane[iy as usize * wd..][..wd];
                                    if s == 1 {
                                        // ix = ox + kw - p: one shifted copy with zero edges.
                                        let shift = kw as isize - p as isize;
                                        let lo = (-shift).clamp(0, ow as isize) as usize;
                                        let hi =
                                            (wd as isize - shift).clamp(0, ow as isize) as usize;
                                        line[..lo].fill(0.0);
                                        if hi > lo {
                                            let from = (lo as isize + shift) as usize;
                                            line[lo..hi]
                                                .copy_from_slice(&src[from..from + hi - lo]);
                                            line[hi..].fill(0.0);
                                        } else {
                                            line[lo..].fill(0.0);
                                        }
                                    } else {
                                        for (ox, v) in line.iter_mut().enumerate() {
                                            let ix = (ox * s + kw) as isize - p as isize;
                                            *v = if ix < 0 || ix >= wd as isize {
                                                0.0
                                            } else {
                                                src[ix as usize]
                                            };
                                        }
                                    }
                                }
                            }
                        }
                    }
                    // out[bi, :, y0..y0+r, :] (o × n, row stride oh·ow) = w (o × depth) · cols.
                    // SAFETY: each (bi, tile) job writes only its own rows of `out`, which
                    // outlives the parallel loop.
                    unsafe {
                        let d = dst.at(bi * o * oh * ow + y0 * ow);
                        if let Some(p) = packed {
                            p.matmul_raw(cols.as_ptr(), n, n, d, oh * ow);
                        } else {
                            matmul(
                                (o, n, depth),
                                d,
                                oh * ow,
                                w.as_ptr(),
                                depth,
                                cols.as_ptr(),
                                (1, n as isize),
                                1.0,
                            );
                        }
                        self.finish(d, oh * ow, o, n);
                    }
                },
            );
        }
        // SAFETY: every element was written (above).
        Ok((
            CpuStorage::F32(unsafe { out.assume_init() }),
            Shape::from((b, o, oh, ow)),
        ))
    }
}

/// dst (m×n, rows `dst_rs` apart) = scale · lhs (m×k, rows `lhs_rs` apart) · rhs (k×n,
/// with (column, row) strides `rhs_strides`), on the calling thread: the matrix
/// product both CPU kernels here (convolution, attention) are built on.
///
/// # Safety
/// Every pointer must cover its matrix at the given strides.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: usize,
    lhs: *const f32,
    lhs_rs: usize,
    rhs: *const f32,
    rhs_strides: (isize, isize),
    scale: f32,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        false,
        lhs,
        1,
        lhs_rs as isize,
        rhs,
        rhs_strides.0,
        rhs_strides.1,
        0.0,
        scale,
        false,
        false,
        false,
        gemm::Parallelism::None,
    )
}

/// dst (m×n) = a (m×k) · b (k×n), all row-major f32, on the calling thread: the f32
/// kernel the convolution and attention use, for benchmarks.
pub fn matmul_f32(a: &[f32], m: usize, k: usize, b: &[f32], n: usize, dst: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && dst.len() >= m * n);
    // SAFETY: the slices cover the matrices (asserted).
    unsafe {
        matmul(
            (m, n, k),
            dst.as_mut_ptr(),
            n,
            a.as_ptr(),
            k,
            b.as_ptr(),
            (1, n as isize),
            1.0,
        )
    }
}

/// Whether convolutions that can run direct (src/direct.rs) should: bf16 is on, on
/// AVX-512 (not AMX, whose tiles run the products faster). The input is then converted
/// once, not gathered.
pub(crate) fn direct_wanted() -> bool {
    crate::bf16::in_use() && crate::bf16::Kernel::current() == crate::bf16::Kernel::Avx512
}

/// A 2-D convolution with diffusers' weight names (`weight`, `bias`).
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    padding: usize,
    /// The weights packed for the bf16 kernel, on first use.
    packed: std::sync::OnceLock<Option<crate::bf16::Bf16Weights>>,
    /// The weights for the direct kernel (src/direct.rs), where it runs instead.
    direct: std::sync::OnceLock<Option<crate::direct::DirectWeights>>,
    /// The bias as f32 numbers for the CPU kernel, on first use.
    host_bias: std::sync::OnceLock<Option<Vec<f32>>>,
}

impl Conv2d {
    pub fn new(
        vb: nn::VarBuilder,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        let mut conv = Conv2d::without_bias(vb.clone(), c_in, c_out, kernel, stride, padding)?;
        conv.bias = Some(vb.get(c_out, "bias")?);
        Ok(conv)
    }

    /// A convolution saved without a bias (`bias=False` in PyTorch).
    pub fn without_bias(
        vb: nn::VarBuilder,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        Ok(Conv2d {
            weight: vb.get((c_out, c_in, kernel, kernel), "weight")?,
            bias: None,
            stride,
            padding,
            packed: std::sync::OnceLock::new(),
            direct: std::sync::OnceLock::new(),
            host_bias: std::sync::OnceLock::new(),
        })
    }
}

impl Module for Conv2d {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.run(xs, Added::default(), false)
    }
}

/// What a convolution adds to its output besides its bias.
#[derive(Clone, Copy, Default)]
struct Added<'a> {
    /// (B, out): a number per image and output channel, as a residual block's
    /// timestep embedding.
    per_channel: Option<&'a Tensor>,
    /// Shaped as the output: a residual block's skip connection.
    residual: Option<&'a Tensor>,
}

impl Conv2d {
    /// ReLU of the convolution, in the same pass on the CPU.
    pub fn forward_relu(&self, xs: &Tensor) -> Result<Tensor> {
        self.run(xs, Added::default(), true)
    }

    /// The convolution plus `residual` (shaped as the output), then ReLU when `relu`: a
    /// residual block's end, in the convolution's own pass where it runs direct.
    pub fn forward_residual(&self, xs: &Tensor, residual: &Tensor, relu: bool) -> Result<Tensor> {
        let added = Added {
            residual: Some(residual),
            ..Added::default()
        };
        self.run(xs, added, relu)
    }

    /// The convolution plus `per_channel` (B, out), each image's number per output
    /// channel: a residual block's first convolution with its timestep embedding, in
    /// the convolution's own pass (as its bias) where it runs direct.
    pub fn forward_plus(&self, xs: &Tensor, per_channel: &Tensor) -> Result<Tensor> {
        let added = Added {
            per_channel: Some(per_channel),
            ..Added::default()
        };
        self.run(xs, added, false)
    }

    /// The direct kernel's weights (packed on first use) and the bias, where it can
    /// run this convolution on an input of h × w: "same" at stride 1 or 3×3 at stride
    /// 2, on a processor with AVX-512 BF16. The callers decide whether bf16 is wanted
    /// ([`direct_wanted`]).
    pub(crate) fn direct(
        &self,
        h: usize,
        w: usize,
    ) -> Option<(&crate::direct::DirectWeights, Option<&[f32]>)> {
        let (o, c, k, _) = self.weight.dims4().ok()?;
        if !(self.weight.device().is_cpu()
            && crate::direct::DirectWeights::fits(k, self.stride, self.padding))
        {
            return None;
        }
        let weights = self
            .direct
            .get_or_init(|| {
                let plane = (h / self.stride) * (w / self.stride);
                let w = crate::cpu::host_f32(&self.weight).ok()?;
                Some(crate::direct::DirectWeights::pack(
                    &w,
                    o,
                    c,
                    k,
                    self.stride,
                    plane,
                ))
            })
            .as_ref()
            .filter(|d| d.takes(h, w))?;
        let bias = self
            .host_bias
            .get_or_init(|| crate::cpu::host_f32(self.bias.as_ref()?).ok())
            .as_deref();
        Some((weights, bias))
    }

    fn run(&self, xs: &Tensor, added: Added, relu: bool) -> Result<Tensor> {
        let (o, c, k, _) = self.weight.dims4()?;
        let cpu = xs.device().is_cpu() && xs.dtype() == DType::F32;
        let (b, _, h, w) = xs.dims4()?;
        if cpu && direct_wanted() {
            if let Some((weights, bias)) = self.direct(h, w) {
                // Each image's numbers join the bias: b × o of them.
                let per_image = match added.per_channel {
                    Some(e) => {
                        let e = crate::cpu::host_f32(&e.reshape((b, o))?)?;
                        Some(match bias {
                            Some(bias) => e
                                .chunks_exact(o)
                                .flat_map(|e| e.iter().zip(bias).map(|(e, b)| e + b))
                                .collect(),
                            None => e,
                        })
                    }
                    None => None,
                };
                let op = DirectConv {
                    weights,
                    bias: per_image.as_deref().or(bias),
                    relu,
                };
                let xs = xs.contiguous()?;
                return match added.residual {
                    Some(r) if r.device().is_cpu() && r.dtype() == DType::F32 => {
                        xs.apply_op2_no_bwd(&r.contiguous()?, &op)
                    }
                    _ => xs.apply_op1_no_bwd(&op),
                };
            }
        }
        if added.per_channel.is_some() || added.residual.is_some() {
            // Elsewhere the sums and the ReLU take passes of their own.
            let mut ys = self.run(xs, Added::default(), false)?;
            if let Some(e) = added.per_channel {
                ys = ys.broadcast_add(&e.reshape((b, o, 1, 1))?)?;
            }
            if let Some(r) = added.residual {
                ys = (ys + r)?;
            }
            return if relu { ys.relu() } else { Ok(ys) };
        }
        // bf16 where asked for and the processor has it; the weights are packed once,
        // not at every step.
        let packed = (cpu && crate::bf16::in_use())
            .then(|| {
                self.packed
                    .get_or_init(|| crate::bf16::Bf16Weights::from_weight(&self.weight))
                    .as_ref()
            })
            .flatten();
        let pointwise = k == 1 && self.stride == 1 && self.padding == 0;
        if cpu && (packed.is_some() || !pointwise) {
            let bias = self
                .host_bias
                .get_or_init(|| crate::cpu::host_f32(self.bias.as_ref()?).ok())
                .as_deref();
            return xs.contiguous()?.apply_op2_no_bwd(
                &self.weight,
                &CpuConv {
                    stride: self.stride,
                    padding: self.padding,
                    packed,
                    bias,
                    relu,
                },
            );
        }
        let ys = if pointwise {
            // A 1×1 convolution is a matrix product per image (candle's CPU path copies
            // the input element by element first).
            let (b, _, h, w) = xs.dims4()?;
            let flat = xs.contiguous()?.reshape((b, c, h * w))?;
            self.weight
                .reshape((1, o, c))?
                .broadcast_matmul(&flat)?
                .reshape((b, o, h, w))?
        } else {
            xs.conv2d(&self.weight, self.padding, self.stride, 1, 1)?
        };
        let ys = match &self.bias {
            Some(b) => ys.broadcast_add(&b.reshape((1, (), 1, 1))?)?,
            None => ys,
        };
        if relu {
            ys.relu()
        } else {
            Ok(ys)
        }
    }
}

/// diffusers' `ResnetBlock2D`: two 3×3 convolutions with group norms and SiLU, the
/// timestep embedding added between them, and a 1×1 shortcut when the width changes.
pub struct ResnetBlock {
    norm1: crate::norm::GroupNorm,
    conv1: Conv2d,
    time_proj: Option<nn::Linear>,
    norm2: crate::norm::GroupNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
    scale: f64,
}

/// The shape of one [`ResnetBlock`].
#[derive(Debug, Clone, Copy)]
pub struct ResnetShape {
    pub c_in: usize,
    pub c_out: usize,
    pub temb: Option<usize>,
    pub groups: usize,
    pub eps: f64,
    pub output_scale: f64,
}

impl ResnetBlock {
    pub fn new(vb: nn::VarBuilder, s: ResnetShape) -> Result<Self> {
        Ok(ResnetBlock {
            norm1: crate::norm::group_norm(s.groups, s.c_in, s.eps, vb.pp("norm1"))?,
            conv1: Conv2d::new(vb.pp("conv1"), s.c_in, s.c_out, 3, 1, 1)?,
            time_proj: match s.temb {
                Some(t) => Some(nn::linear(t, s.c_out, vb.pp("time_emb_proj"))?),
                None => None,
            },
            norm2: crate::norm::group_norm(s.groups, s.c_out, s.eps, vb.pp("norm2"))?,
            conv2: Conv2d::new(vb.pp("conv2"), s.c_out, s.c_out, 3, 1, 1)?,
            shortcut: if s.c_in != s.c_out {
                Some(Conv2d::new(
                    vb.pp("conv_shortcut"),
                    s.c_in,
                    s.c_out,
                    1,
                    1,
                    0,
                )?)
            } else {
                None
            },
            scale: s.output_scale,
        })
    }

    pub fn forward(&self, xs: &Tensor, temb: Option<&Tensor>) -> Result<Tensor> {
        let xs_n = self.norm1.forward_silu(xs)?;
        // The timestep's projection joins conv1's bias.
        let h = match (&self.time_proj, temb) {
            (Some(p), Some(t)) => self
                .conv1
                .forward_plus(&xs_n, &p.forward(&nn::ops::silu(t)?)?)?,
            _ => self.conv1.forward(&xs_n)?,
        };
        let shortcut = match &self.shortcut {
            Some(c) => c.forward(xs)?,
            None => xs.clone(),
        };
        let out = self
            .conv2
            .forward_residual(&self.norm2.forward_silu(&h)?, &shortcut, false)?;
        if self.scale == 1.0 {
            Ok(out)
        } else {
            out / self.scale
        }
    }
}

/// For the bf16 kernels' tests: candle's convolution of `x` by `k` (padding, stride)
/// with both rounded to bf16 first, so only the f32 sums' order can differ from a bf16
/// kernel; the bias the tests add (channel i: i/7 − 2); and the convolution with that
/// bias and ReLU.
#[cfg(test)]
pub(crate) fn bf16_reference(
    x: &Tensor,
    k: &Tensor,
    padding: usize,
    stride: usize,
) -> (Tensor, Vec<f32>, Tensor) {
    let round = crate::bf16_rounded;
    let o = k.dim(0).unwrap();
    let want = round(x).conv2d(&round(k), padding, stride, 1, 1).unwrap();
    let bias: Vec<f32> = (0..o).map(|i| i as f32 / 7.0 - 2.0).collect();
    let biased = want
        .broadcast_add(
            &Tensor::new(bias.as_slice(), x.device())
                .unwrap()
                .reshape((1, o, 1, 1))
                .unwrap(),
        )
        .unwrap()
        .relu()
        .unwrap();
    (want, bias, biased)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// In bf16, both ways of feeding the kernel (patches gathered for stride 2 and
    /// narrow images; panels packed straight from the input for stride 1 and rows of
    /// whole panels) compute candle's convolution of the bf16-rounded inputs, for each
    /// kernel this processor has, with output channels past one AMX block.
    #[test]
    fn the_bf16_paths_match_candles_convolution_of_rounded_inputs() {
        use crate::bf16::{Bf16Weights, Kernel};
        if !crate::bf16::available() {
            eprintln!("skipped: no AVX-512 BF16 here");
            return;
        }
        let mut kernels = vec![Kernel::Avx512];
        if crate::amx::available() {
            kernels.push(Kernel::Amx);
        }
        let dev = Device::Cpu;
        for (b, c, o, h, w, s, p) in [
            (2, 5, 7, 9, 64, 1, 1),
            (1, 3, 70, 33, 32, 1, 1),
            (1, 16, 64, 8, 96, 1, 1),
            // k past 256 (AMX runs many steps), whole blocks of 32 output channels.
            (1, 40, 64, 5, 64, 1, 1),
            (1, 6, 40, 16, 16, 2, 1),
            (1, 4, 33, 7, 20, 1, 1),
        ] {
            // 3×3 as given, and 1×1 (shortcuts) where the step is 1.
            let sizes: &[usize] = if s == 1 { &[3, 1] } else { &[3] };
            for &ks in sizes {
                let pad = if ks == 1 { 0 } else { p };
                let x = Tensor::randn(0f32, 1.0, (b, c, h, w), &dev).unwrap();
                let k = Tensor::randn(0f32, 1.0, (o, c, ks, ks), &dev).unwrap();
                let (want, bias, biased) = bf16_reference(&x, &k, pad, s);
                let flat: Vec<f32> = k.flatten_all().unwrap().to_vec1().unwrap();
                for &kernel in &kernels {
                    let weights = Bf16Weights::pack_for(kernel, &flat, o, c * ks * ks, 1.0);
                    for (with_bias, want) in [(false, &want), (true, &biased)] {
                        let ours = x
                            .apply_op2_no_bwd(
                                &k,
                                &CpuConv {
                                    stride: s,
                                    padding: pad,
                                    packed: Some(&weights),
                                    bias: with_bias.then_some(bias.as_slice()),
                                    relu: with_bias,
                                },
                            )
                            .unwrap();
                        assert_eq!(ours.dims(), want.dims());
                        let diff = crate::max_abs(&(ours - want).unwrap()).unwrap();
                        assert!(
                            diff < 1e-3,
                            "{kernel:?} {b}x{c}x{h}x{w}->{o} k{ks} s{s} bias {with_bias}: {diff}"
                        );
                    }
                }
            }
        }
    }

    /// The CPU kernel computes what candle's convolution computes, for the shapes the
    /// models use: 3×3 with padding 1, stride 2 with padding 1 and with padding 0, odd
    /// sizes, and several images.
    #[test]
    fn the_cpu_kernel_matches_candles_convolution() {
        let dev = Device::Cpu;
        for (b, c, o, h, w, s, p) in [
            (2, 5, 7, 9, 11, 1, 1),
            (1, 4, 6, 16, 16, 2, 1),
            (3, 3, 2, 7, 5, 2, 0),
            (1, 8, 8, 33, 20, 1, 1),
        ] {
            let x = Tensor::randn(0f32, 1.0, (b, c, h, w), &dev).unwrap();
            let k = Tensor::randn(0f32, 1.0, (o, c, 3, 3), &dev).unwrap();
            let ours = x
                .apply_op2_no_bwd(
                    &k,
                    &CpuConv {
                        stride: s,
                        padding: p,
                        packed: None,
                        bias: None,
                        relu: false,
                    },
                )
                .unwrap();
            let want = x.conv2d(&k, p, s, 1, 1).unwrap();
            assert_eq!(ours.dims(), want.dims());
            let diff = crate::max_abs(&(ours - want).unwrap()).unwrap();
            assert!(diff < 1e-4, "{b}x{c}x{h}x{w} s{s} p{p}: {diff}");
        }
    }
}
