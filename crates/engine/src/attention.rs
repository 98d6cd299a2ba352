//! The UNet's transformer (diffusers' `Transformer2DModel` with `BasicTransformerBlock`s)
//! and the attention inside it.
//!
//! On the CPU, attention is one fused, blocked kernel: for a block of queries it computes
//! the scores against all keys into a small per-thread buffer, takes the softmax (in bf16
//! its numerators go straight to pairs and the product's rows are divided by their sum)
//! and multiplies by the values, so the N×M score matrix never exists. It takes the text
//! encoders' causal mask too ([`causal_attention`]). The plain
//! form (matrix product, softmax, matrix product) allocated a fresh half-gigabyte matrix
//! per call at 512² and spent most of its time in page faults and passes over it (see
//! docs/benchmarks.md). On a GPU the plain form runs, or flash attention when built in.

use crate::bf16::{Bf16Weights, Kernel, PackedB};
use candle_core::{CpuStorage, DType, Layout, Module, Result, Shape, Tensor};
use candle_nn as nn;

/// Queries per block of the CPU kernel: the block's scores against 4096 keys are 1 MiB.
const QUERY_BLOCK: usize = 64;

/// softmax(q·kᵀ × scale)·v for q (B, N, d), k and v (B, M, d), all contiguous f32.
struct CpuAttention {
    scale: f32,
    /// Products in bf16 ([`crate::bf16::in_use`] when made).
    bf16: bool,
    /// Query i sees keys 0..=i only (a text encoder's causal mask).
    causal: bool,
}

impl candle_core::CustomOp3 for CpuAttention {
    fn name(&self) -> &'static str {
        "articket-cpu-attention"
    }

    fn cpu_fwd(
        &self,
        q: &CpuStorage,
        lq: &Layout,
        k: &CpuStorage,
        lk: &Layout,
        v: &CpuStorage,
        lv: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        use rayon::prelude::*;
        let (CpuStorage::F32(q), CpuStorage::F32(k), CpuStorage::F32(v)) = (q, k, v) else {
            candle_core::bail!("cpu attention: f32 only");
        };
        let (b, n, d) = lq.shape().dims3()?;
        let (bk, m, dk) = lk.shape().dims3()?;
        if bk != b || dk != d || lv.shape().dims3()? != (b, m, d) {
            candle_core::bail!("cpu attention: shapes {:?} {:?} {:?}", lq, lk, lv);
        }
        let (Some((q0, _)), Some((k0, _)), Some((v0, _))) = (
            lq.contiguous_offsets(),
            lk.contiguous_offsets(),
            lv.contiguous_offsets(),
        ) else {
            candle_core::bail!("cpu attention: inputs must be contiguous");
        };
        let (q, k, v) = (&q[q0..], &k[k0..], &v[v0..]);
        let mut out = vec![0f32; b * n * d];
        let (scale, causal) = (self.scale, self.causal);
        // Keys query i of a row sees.
        let seen = move |i: usize| if causal { (i + 1).min(m) } else { m };
        // bf16 where asked for: each row's keys (as kᵀ) and values packed once, for
        // all its query blocks.
        let packed: Option<Vec<(PackedB, PackedB)>> = self.bf16.then(|| {
            (0..b)
                .into_par_iter()
                .map(|bi| {
                    let kb = &k[bi * m * d..][..m * d];
                    let vb = &v[bi * m * d..][..m * d];
                    (
                        PackedB::pack(kb, d, m, (1, d)),
                        PackedB::pack(vb, m, d, (d, 1)),
                    )
                })
                .collect()
        });
        out.par_chunks_mut(QUERY_BLOCK * d)
            .enumerate()
            .for_each_init(
                || (vec![0f32; QUERY_BLOCK * m], Vec::new(), Vec::new()),
                |(scores, queries, probs), (job, o)| {
                    // A chunk never straddles two batch rows: `attention` pads n to
                    // whole blocks.
                    let first = job * QUERY_BLOCK;
                    let (bi, qi) = (first / n, first % n);
                    let rows = o.len() / d;
                    let qb = &q[(bi * n + qi) * d..][..rows * d];
                    let kb = &k[bi * m * d..][..m * d];
                    let vb = &v[bi * m * d..][..m * d];
                    let s = &mut scores[..rows * m];
                    if let Some(packed) = &packed {
                        let (kt, vp) = &packed[bi];
                        if vp.kernel() == Kernel::Avx512 {
                            // The queries as rows of pairs (scaled), against the keys'
                            // panels.
                            let qpairs = d.div_ceil(2);
                            queries.resize(rows * qpairs, 0);
                            for (row, dst) in qb.chunks(d).zip(queries.chunks_mut(qpairs)) {
                                crate::bf16::to_pairs_scaled(row, scale, dst);
                            }
                            kt.product_rows(queries, rows, s);
                            // Each row's e^(s − max) goes to bf16 pairs in one pass
                            // (the softmax's numerators as rows for the kernel), and
                            // the product's row is divided by their sum.
                            let pairs = m.div_ceil(2);
                            probs.resize(rows * pairs, 0);
                            let mut sums = [0f32; QUERY_BLOCK];
                            for (r, ((row, dst), sum)) in s
                                .chunks(m)
                                .zip(probs.chunks_mut(pairs))
                                .zip(&mut sums)
                                .enumerate()
                            {
                                // Keys past those seen get no pair (zeros).
                                *sum = crate::bf16::exps_to_pairs(&row[..seen(qi + r)], dst);
                            }
                            vp.product_rows(probs, rows, o);
                            for (row, sum) in o.chunks_mut(d).zip(sums) {
                                let inv = 1.0 / sum;
                                row.iter_mut().for_each(|x| *x *= inv);
                            }
                            return;
                        }
                        Bf16Weights::pack_scaled(qb, rows, d, scale).matmul_packed(kt, s, m);
                        for (r, row) in s.chunks_mut(m).enumerate() {
                            softmax(row, seen(qi + r));
                        }
                        Bf16Weights::pack(s, rows, m).matmul_packed(vp, o, d);
                        return;
                    }
                    // s = qb · kbᵀ × scale
                    unsafe {
                        crate::conv::matmul(
                            (rows, m, d),
                            s.as_mut_ptr(),
                            m,
                            qb.as_ptr(),
                            d,
                            kb.as_ptr(),
                            (d as isize, 1),
                            scale,
                        );
                    }
                    for (r, row) in s.chunks_mut(m).enumerate() {
                        softmax(row, seen(qi + r));
                    }
                    // o = s · vb
                    unsafe {
                        crate::conv::matmul(
                            (rows, d, m),
                            o.as_mut_ptr(),
                            d,
                            s.as_ptr(),
                            m,
                            vb.as_ptr(),
                            (1, d as isize),
                            1.0,
                        );
                    }
                },
            );
        Ok((CpuStorage::F32(out), Shape::from((b, n, d))))
    }
}

/// Softmax of one row's first `seen` numbers, in place; the rest become zero.
fn softmax(row: &mut [f32], seen: usize) {
    let (row, unseen) = row.split_at_mut(seen);
    let inv = 1.0 / exps(row);
    row.iter_mut().for_each(|x| *x *= inv);
    unseen.fill(0.0);
}

/// e^(x − max) of one row, in place; returns their sum. With AVX-512 or AVX2 and FMA
/// where the processor has them (the same code, compiled for 16- or 8-wide vectors; the
/// portable build targets SSE2).
fn exps(row: &mut [f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has the feature.
            return unsafe { exps_avx512(row) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor has both features.
            return unsafe { exps_avx2(row) };
        }
    }
    exps_in_place::<8>(row)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exps_avx2(row: &mut [f32]) -> f32 {
    exps_in_place::<8>(row)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn exps_avx512(row: &mut [f32]) -> f32 {
    exps_in_place::<16>(row)
}

/// [`exps`] with L independent lanes for the maximum and the sum, so that the compiler
/// can keep them in vector registers (a single running float maximum or sum is a
/// dependency chain it may not reorder).
#[inline(always)]
fn exps_in_place<const L: usize>(row: &mut [f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; L];
    let mut chunks = row.chunks_exact(L);
    for c in &mut chunks {
        for j in 0..L {
            lanes[j] = if c[j] > lanes[j] { c[j] } else { lanes[j] };
        }
    }
    let mut max = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for &x in chunks.remainder() {
        max = max.max(x);
    }
    let mut sums = [0f32; L];
    let mut chunks = row.chunks_exact_mut(L);
    for c in &mut chunks {
        for j in 0..L {
            c[j] = crate::fastmath::fast_exp(c[j] - max);
            sums[j] += c[j];
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for x in chunks.into_remainder() {
        *x = crate::fastmath::fast_exp(*x - max);
        sum += *x;
    }
    sum
}

/// softmax(q·kᵀ × scale)·v over (B, N, d) × (B, M, d).
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Result<Tensor> {
    attend(q, k, v, scale, false)
}

/// [`attention`] where query i sees keys 0..=i only: a text encoder's causal mask.
pub fn causal_attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Result<Tensor> {
    attend(q, k, v, scale, true)
}

fn attend(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64, causal: bool) -> Result<Tensor> {
    let n = q.dim(1)?;
    if q.device().is_cpu() && q.dtype() == DType::F32 {
        let op = CpuAttention {
            scale: scale as f32,
            bf16: crate::bf16::in_use(),
            causal,
        };
        let (k, v) = (k.contiguous()?, v.contiguous()?);
        if n % QUERY_BLOCK == 0 {
            return q.contiguous()?.apply_op3_no_bwd(&k, &v, &op);
        }
        // Pad the queries to whole blocks so no block straddles two rows.
        let padded = n.div_ceil(QUERY_BLOCK) * QUERY_BLOCK;
        let q = q.pad_with_zeros(1, 0, padded - n)?.contiguous()?;
        return q.apply_op3_no_bwd(&k, &v, &op)?.narrow(1, 0, n);
    }
    // The plain form, with the softmax in f32 as diffusers upcasts it.
    let mut scores = (q.matmul(&k.t()?)? * scale)?.to_dtype(DType::F32)?;
    if causal {
        let m = k.dim(1)?;
        let mask: Vec<f32> = (0..n)
            .flat_map(|i| (0..m).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        scores = scores.broadcast_add(&Tensor::from_vec(mask, (n, m), q.device())?)?;
    }
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    probs.to_dtype(v.dtype())?.matmul(v)
}

/// The projections of attention's inputs.
enum Inputs {
    /// Self-attention's query, key and value as one layer (their weights stacked): one
    /// pass over the tokens, one conversion of them to bf16 pairs.
    Joined(crate::linear::Linear),
    /// Cross-attention's query from the image, key and value from the prompt.
    Cross(Box<[crate::linear::Linear; 3]>),
}

struct Attention {
    inputs: Inputs,
    to_out: crate::linear::Linear,
    heads: usize,
    flash: bool,
}

impl Attention {
    /// Self-attention when `context` is None, else cross-attention to a context that
    /// wide.
    fn new(
        vb: nn::VarBuilder,
        dim: usize,
        context: Option<usize>,
        heads: usize,
        flash: bool,
    ) -> Result<Self> {
        let inputs = match context {
            None => {
                let w = |name: &str| vb.pp(name).get((dim, dim), "weight");
                let stacked = Tensor::cat(&[w("to_q")?, w("to_k")?, w("to_v")?], 0)?;
                Inputs::Joined(nn::Linear::new(stacked, None).into())
            }
            Some(context) => Inputs::Cross(Box::new([
                crate::linear::linear_no_bias(dim, dim, vb.pp("to_q"))?,
                crate::linear::linear_no_bias(context, dim, vb.pp("to_k"))?,
                crate::linear::linear_no_bias(context, dim, vb.pp("to_v"))?,
            ])),
        };
        Ok(Attention {
            inputs,
            to_out: crate::linear::linear(dim, dim, vb.pp("to_out.0"))?,
            heads,
            flash,
        })
    }

    fn forward(&self, xs: &Tensor, context: Option<&Tensor>) -> Result<Tensor> {
        let (b, n, dim) = xs.dims3()?;
        let hd = dim / self.heads;
        let flashed = self.flash && !xs.device().is_cpu();
        // (B, len, heads, d) → (B, heads, len, d): a view for flash attention, else
        // one blocked pass.
        let heads_first = |t: &Tensor| {
            if flashed {
                t.transpose(1, 2)
            } else {
                crate::cpu::swap_adjacent(t, 1)
            }
        };
        let (q, k, v, m) = match (&self.inputs, context) {
            (Inputs::Joined(qkv), None) => {
                let all = qkv.forward(xs)?.reshape((b, n, 3 * self.heads, hd))?;
                let all = heads_first(&all)?;
                let part = |i: usize| all.narrow(1, i * self.heads, self.heads);
                (part(0)?, part(1)?, part(2)?, n)
            }
            (Inputs::Cross(qkv), Some(ctx)) => {
                let [q, k, v] = &**qkv;
                let m = ctx.dim(1)?;
                let split =
                    |t: Tensor, len: usize| heads_first(&t.reshape((b, len, self.heads, hd))?);
                (
                    split(q.forward(xs)?, n)?,
                    split(k.forward(ctx)?, m)?,
                    split(v.forward(ctx)?, m)?,
                    m,
                )
            }
            _ => candle_core::bail!("attention: a context for cross-attention only"),
        };
        let scale = 1.0 / (hd as f64).sqrt();
        // (B, heads, N, d), then back to (B, N, heads·d).
        let out = if flashed {
            flash(&q, &k, &v, scale)?
        } else {
            // Whole for one image (each a slice of the joined heads), else copied.
            let flat = |t: Tensor, len: usize| t.contiguous()?.reshape((b * self.heads, len, hd));
            attention(&flat(q, n)?, &flat(k, m)?, &flat(v, m)?, scale)?
                .reshape((b, self.heads, n, hd))?
        };
        crate::cpu::swap_adjacent(&out, 1)?
            .reshape((b, n, dim))?
            .apply(&self.to_out)
    }
}

#[cfg(feature = "flash-attn")]
fn flash(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Result<Tensor> {
    // flash-attn takes (B, N, H, d).
    let out = candle_flash_attn::flash_attn(
        &q.transpose(1, 2)?,
        &k.transpose(1, 2)?,
        &v.transpose(1, 2)?,
        scale as f32,
        false,
    )?;
    out.transpose(1, 2)
}

#[cfg(not(feature = "flash-attn"))]
fn flash(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Result<Tensor> {
    let (b, h, n, d) = q.dims4()?;
    let m = k.dim(2)?;
    let flat = |t: &Tensor, len: usize| t.contiguous()?.reshape((b * h, len, d));
    attention(&flat(q, n)?, &flat(k, m)?, &flat(v, m)?, scale)?.reshape((b, h, n, d))
}

struct Block {
    norm1: crate::norm::LayerNorm,
    attn1: Attention,
    norm2: crate::norm::LayerNorm,
    attn2: Attention,
    norm3: crate::norm::LayerNorm,
    ff_in: crate::linear::Geglu,
    ff_out: crate::linear::Linear,
}

impl Block {
    fn forward(&self, xs: &Tensor, context: &Tensor) -> Result<Tensor> {
        let xs = (self.attn1.forward(&self.norm1.forward(xs)?, None)? + xs)?;
        let xs = (self
            .attn2
            .forward(&self.norm2.forward(&xs)?, Some(context))?
            + xs)?;
        let h = self.ff_in.forward(&self.norm3.forward(&xs)?)?;
        self.ff_out.forward(&h)? + xs
    }
}

enum Projection {
    Conv(nn::Conv2d),
    Linear(crate::linear::Linear),
}

/// diffusers' `Transformer2DModel` as Stable Diffusion's UNet uses it.
pub struct Transformer2D {
    norm: crate::norm::GroupNorm,
    proj_in: Projection,
    blocks: Vec<Block>,
    proj_out: Projection,
}

/// The shape of one [`Transformer2D`].
#[derive(Debug, Clone, Copy)]
pub struct TransformerShape {
    pub channels: usize,
    pub heads: usize,
    pub depth: usize,
    pub context_dim: usize,
    pub groups: usize,
    pub linear_projection: bool,
    pub flash_attn: bool,
}

impl Transformer2D {
    pub fn new(vb: nn::VarBuilder, s: TransformerShape) -> Result<Self> {
        let c = s.channels;
        let proj = |vb: nn::VarBuilder| -> Result<Projection> {
            Ok(if s.linear_projection {
                Projection::Linear(crate::linear::linear(c, c, vb)?)
            } else {
                Projection::Conv(nn::conv2d(c, c, 1, Default::default(), vb)?)
            })
        };
        let ln = |vb: nn::VarBuilder| crate::norm::layer_norm(c, 1e-5, vb);
        let mut blocks = Vec::with_capacity(s.depth);
        for i in 0..s.depth {
            let vb = vb.pp("transformer_blocks").pp(i.to_string());
            blocks.push(Block {
                norm1: ln(vb.pp("norm1"))?,
                attn1: Attention::new(vb.pp("attn1"), c, None, s.heads, s.flash_attn)?,
                norm2: ln(vb.pp("norm2"))?,
                attn2: Attention::new(
                    vb.pp("attn2"),
                    c,
                    Some(s.context_dim),
                    s.heads,
                    s.flash_attn,
                )?,
                norm3: ln(vb.pp("norm3"))?,
                ff_in: crate::linear::geglu(c, c * 4, vb.pp("ff.net.0.proj"))?,
                ff_out: crate::linear::linear(c * 4, c, vb.pp("ff.net.2"))?,
            });
        }
        Ok(Transformer2D {
            norm: crate::norm::group_norm(s.groups, c, 1e-6, vb.pp("norm"))?,
            proj_in: proj(vb.pp("proj_in"))?,
            blocks,
            proj_out: proj(vb.pp("proj_out"))?,
        })
    }

    pub fn forward(&self, xs: &Tensor, context: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = xs.dims4()?;
        let residual = xs;
        let xs = self.norm.forward(xs)?;
        let tokens = |t: Tensor| crate::cpu::swap_adjacent(&t.reshape((b, c, h * w))?, 1);
        let mut xs = match &self.proj_in {
            Projection::Conv(p) => tokens(p.forward(&xs)?)?,
            Projection::Linear(p) => p.forward(&tokens(xs)?)?,
        };
        for block in &self.blocks {
            xs = block.forward(&xs, context)?;
        }
        let image = |t: Tensor| {
            crate::cpu::swap_adjacent(&t.reshape((b, h * w, c))?, 1)?.reshape((b, c, h, w))
        };
        let xs = match &self.proj_out {
            Projection::Conv(p) => p.forward(&image(xs)?)?,
            Projection::Linear(p) => image(p.forward(&xs)?)?,
        };
        xs + residual
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn plain(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Tensor {
        let s = (q.matmul(&k.t().unwrap()).unwrap() * scale).unwrap();
        candle_nn::ops::softmax_last_dim(&s)
            .unwrap()
            .matmul(v)
            .unwrap()
    }

    /// The fused kernel computes what the plain form computes, for whole and partial
    /// query blocks and keys that are not a multiple of anything.
    #[test]
    fn the_fused_cpu_kernel_matches_the_plain_form() {
        let dev = Device::Cpu;
        for (b, n, m, d) in [(2, 128, 77, 8), (3, 100, 130, 40), (1, 64, 64, 1)] {
            let q = (Tensor::randn(0f32, 1.0, (b, n, d), &dev).unwrap() * 3.0).unwrap();
            let k = Tensor::randn(0f32, 1.0, (b, m, d), &dev).unwrap();
            let v = Tensor::randn(0f32, 1.0, (b, m, d), &dev).unwrap();
            let scale = 1.0 / (d as f64).sqrt();
            let fused = attention(&q, &k, &v, scale).unwrap();
            let want = plain(&q, &k, &v, scale);
            let diff = crate::max_abs(&(fused - want).unwrap()).unwrap();
            assert!(diff < 1e-5, "{b}x{n}x{m}x{d}: {diff}");
        }
    }

    /// The plain form with a causal mask: −∞ added to every score of a key after
    /// its query.
    fn plain_causal(q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
        let (n, m) = (q.dim(1).unwrap(), k.dim(1).unwrap());
        let mask: Vec<f32> = (0..n * m)
            .map(|ij| {
                if ij % m > ij / m {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, (n, m), q.device()).unwrap();
        let s = q
            .matmul(&k.t().unwrap())
            .unwrap()
            .broadcast_add(&mask)
            .unwrap();
        candle_nn::ops::softmax_last_dim(&s)
            .unwrap()
            .matmul(v)
            .unwrap()
    }

    /// With the text encoder's causal mask, each kernel computes the masked plain form:
    /// the f32 kernel to f32's precision, the bf16 kernel that of the rounded inputs to
    /// bf16's (as below). 77 tokens (a prompt: odd, partial query blocks) and 130 (past
    /// one block; keys past one vector's worth of pairs).
    #[test]
    fn the_causal_kernels_match_the_masked_plain_form() {
        let dev = Device::Cpu;
        for (b, n, d) in [(3, 77, 64), (2, 130, 24)] {
            let q = Tensor::randn(0f32, 0.5, (b, n, d), &dev).unwrap();
            let k = Tensor::randn(0f32, 1.0, (b, n, d), &dev).unwrap();
            let v = Tensor::randn(0f32, 1.0, (b, n, d), &dev).unwrap();
            let padded = n.div_ceil(QUERY_BLOCK) * QUERY_BLOCK;
            let run = |bf16: bool| {
                let op = CpuAttention {
                    scale: 1.0,
                    bf16,
                    causal: true,
                };
                q.pad_with_zeros(1, 0, padded - n)
                    .unwrap()
                    .apply_op3_no_bwd(&k, &v, &op)
                    .unwrap()
                    .narrow(1, 0, n)
                    .unwrap()
            };
            let want = plain_causal(&q, &k, &v);
            let diff = crate::max_abs(&(run(false) - &want).unwrap()).unwrap();
            assert!(diff < 1e-5, "f32 {b}x{n}x{d}: {diff}");
            // The first query sees only the first key: its output is that value.
            let first = crate::max_abs(
                &(want.narrow(1, 0, 1).unwrap() - v.narrow(1, 0, 1).unwrap()).unwrap(),
            )
            .unwrap();
            assert!(first < 1e-6, "the mask's first row: {first}");
            if !crate::bf16::available() {
                eprintln!("skipped: no AVX-512 BF16 here");
                continue;
            }
            let round = crate::bf16_rounded;
            let (q, k, v) = (round(&q), round(&k), round(&v));
            let want = plain_causal(&q, &k, &v);
            let scale_of_each = plain_causal(&q, &k, &v.abs().unwrap());
            let worst =
                crate::max_abs(&((run(true) - &want).unwrap() / scale_of_each).unwrap()).unwrap();
            assert!(worst < 8e-3, "bf16 {b}x{n}x{d}: off by {worst} of Σ p·|v|");
        }
    }

    /// In bf16, the kernel computes the plain form of the bf16-rounded q, k and v to
    /// bf16's precision (the probabilities are rounded too): keys past one pass of
    /// pairs and not a whole number of panels, partial query blocks.
    #[test]
    fn the_bf16_kernel_matches_the_plain_form_of_rounded_inputs() {
        if !crate::bf16::available() {
            eprintln!("skipped: no AVX-512 BF16 here");
            return;
        }
        let dev = Device::Cpu;
        let round = crate::bf16_rounded;
        for (b, n, m, d) in [(2, 128, 77, 8), (1, 70, 1100, 64), (1, 64, 64, 40)] {
            let q = (Tensor::randn(0f32, 1.0, (b, n, d), &dev).unwrap() * 0.5).unwrap();
            let k = Tensor::randn(0f32, 1.0, (b, m, d), &dev).unwrap();
            let v = Tensor::randn(0f32, 1.0, (b, m, d), &dev).unwrap();
            let scale = 1.0 / (d as f64).sqrt();
            let padded = n.div_ceil(QUERY_BLOCK) * QUERY_BLOCK;
            let got = q
                .pad_with_zeros(1, 0, padded - n)
                .unwrap()
                .apply_op3_no_bwd(
                    &k,
                    &v,
                    &CpuAttention {
                        scale: scale as f32,
                        bf16: true,
                        causal: false,
                    },
                )
                .unwrap()
                .narrow(1, 0, n)
                .unwrap();
            let (q, k, v) = (round(&q), round(&k), round(&v));
            let want = plain(&q, &k, &v, scale);
            // Each probability is rounded to 8 bits of mantissa (2^-9 relative), and the
            // scaled queries once more; so each output may be off by a few 2^-9 of
            // Σ p·|v|, its own scale. The output itself can be near 0 where values
            // cancel, so it is no yardstick. In 570 random runs the worst was 0.0031.
            let scale_of_each = plain(&q, &k, &v.abs().unwrap(), scale);
            let worst = crate::max_abs(&((got - &want).unwrap() / scale_of_each).unwrap()).unwrap();
            assert!(worst < 8e-3, "{b}x{n}x{m}x{d}: off by {worst} of Σ p·|v|");
        }
    }
}
