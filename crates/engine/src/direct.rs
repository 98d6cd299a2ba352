//! Direct bf16 convolution on AVX-512 BF16, for "same"-padded convolutions at stride 1
//! whose outputs come in eights: TAESD's 64-channel layers at up to 512×512 and the
//! UNet's. The product-based path gathers nine rows of patches per input channel and
//! packs them to bf16 for every output pixel (im2col); with 64 outputs that packing
//! cost more than the products. Here the input is converted once to bf16, two channels
//! per 32-bit word (what `vdpbf16ps` multiplies in pairs), and read in place.
//!
//! Eight output channels × 48 output pixels stay in 24 registers while every pair of
//! input channels and every tap adds to them: three loads feed 24 `vdpbf16ps`. A run's
//! 48 pixels are consecutive in the flat plane, so a run can cross rows; each tap reads
//! the input shifted by (ky − pad, kx − pad), and the lanes that would read across the
//! picture's edge are masked off (masked loads read nothing there, so zero padding
//! costs nothing). The same scheme runs MODNet in `articket-matting` (`direct.rs`) in
//! f32. docs/benchmarks.md has the figures.

use rayon::prelude::*;

use crate::bf16::available;
use crate::cpu::Out;

/// Output channels per block.
const OB: usize = 8;
/// Vectors of 16 pixels per run (24 accumulators; 4 spill).
const NV: usize = 3;
/// Pixels per run.
const PX: usize = 16 * NV;
/// Channel pairs taken tap by tap before the next ones: their rows share the first-level
/// cache.
const GROUP: usize = 8;
/// Runs per task: an output block's weights are read once for all of them.
const BAND: usize = 4;

/// What the kernel does to its sums before it stores them, in this order.
#[derive(Clone, Copy, Default)]
pub struct Epilogue<'a> {
    /// Added per output channel.
    pub bias: Option<&'a [f32]>,
    /// Added element by element, laid out as y (b × out × h × w): a residual block's
    /// skip connection, so that the sum takes no pass of its own.
    pub residual: Option<&'a [f32]>,
    /// ReLU.
    pub relu: bool,
}

/// A convolution's weights as the kernel reads them: per block of eight outputs, per
/// pair of input channels, per tap, the eight outputs' pairs (low half: the even
/// channel).
pub struct DirectWeights {
    out: usize,
    cin: usize,
    k: usize,
    packed: Vec<u32>,
}

impl DirectWeights {
    /// Whether the kernel takes a convolution of this shape on this processor.
    pub fn fits(out: usize, k: usize, stride: usize, padding: usize) -> bool {
        out.is_multiple_of(OB) && k % 2 == 1 && stride == 1 && padding == k / 2 && available()
    }

    /// Packs ONNX/PyTorch-ordered weights (out × cin × k × k).
    pub fn pack(w: &[f32], out: usize, cin: usize, k: usize) -> DirectWeights {
        assert!(out.is_multiple_of(OB) && w.len() >= out * cin * k * k);
        let (pairs, taps) = (cin.div_ceil(2), k * k);
        let mut packed = vec![0u32; out * pairs * taps];
        for o in 0..out {
            let (b, lane) = (o / OB, o % OB);
            for cp in 0..pairs {
                for t in 0..taps {
                    let at = |c: usize| {
                        if c < cin {
                            u32::from(crate::bf16::to_bf16(w[(o * cin + c) * taps + t]))
                        } else {
                            0
                        }
                    };
                    packed[((b * pairs + cp) * taps + t) * OB + lane] =
                        at(2 * cp) | (at(2 * cp + 1) << 16);
                }
            }
        }
        DirectWeights {
            out,
            cin,
            k,
            packed,
        }
    }

    pub fn out(&self) -> usize {
        self.out
    }

    /// y (b × out × h × w) = the convolution of x (b × cin × h × w), then the
    /// epilogue; on rayon's threads.
    pub fn run(&self, x: &[f32], (b, h, w): (usize, usize, usize), ep: Epilogue, y: &mut [f32]) {
        let (cin, out, plane) = (self.cin, self.out, h * w);
        assert!(x.len() >= b * cin * plane && y.len() >= b * out * plane);
        assert!(ep.bias.is_none_or(|b| b.len() >= out));
        assert!(ep.residual.is_none_or(|r| r.len() >= b * out * plane));
        assert!(available(), "this processor has no AVX-512 BF16");
        if plane == 0 {
            return;
        }
        let pairs = cin.div_ceil(2);
        let mut xp = vec![0u32; pairs * plane];
        let runs = plane.div_ceil(PX);
        let bands = runs.div_ceil(BAND);
        for bi in 0..b {
            let img = &x[bi * cin * plane..][..cin * plane];
            xp.par_chunks_mut(plane).enumerate().for_each(|(cp, dst)| {
                let even = &img[2 * cp * plane..][..plane];
                let odd = (2 * cp + 1 < cin).then(|| &img[(2 * cp + 1) * plane..][..plane]);
                // SAFETY: the processor has the features (asserted).
                unsafe { to_pairs(even, odd, dst) };
            });
            let ys = Out(y[bi * out * plane..].as_mut_ptr());
            let xp = &xp;
            let ep = Epilogue {
                residual: ep.residual.map(|r| &r[bi * out * plane..][..out * plane]),
                ..ep
            };
            // Small planes (the UNet's 8×8 and 16×16) have few bands: their output
            // blocks are split among tasks too, so that every thread has work.
            let blocks = out / OB;
            let split = (4 * rayon::current_num_threads())
                .div_ceil(bands)
                .clamp(1, blocks);
            let per = blocks.div_ceil(split);
            let split = blocks.div_ceil(per);
            (0..bands * split).into_par_iter().for_each(|task| {
                let (band, part) = (task / split, task % split);
                let runs = band * BAND..((band + 1) * BAND).min(runs);
                let blocks = part * per..((part + 1) * per).min(blocks);
                // SAFETY: the processor has the features; each task writes only its own
                // pixels of its own output planes, which `y` covers (asserted).
                unsafe { self.band(xp, (h, w), (runs, blocks), ep, ys) };
            });
        }
    }

    /// Output `blocks` (of eight) over `runs` of one image, from its pairs `xp`.
    ///
    /// # Safety
    /// [`available`] must be true; `y` must cover out planes of h×w that no one else
    /// writes at these runs' pixels.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bf16,avx512bw")]
    unsafe fn band(
        &self,
        xp: &[u32],
        (h, w): (usize, usize),
        (runs, blocks): (std::ops::Range<usize>, std::ops::Range<usize>),
        ep: Epilogue,
        y: Out,
    ) {
        use std::arch::x86_64::*;
        let (k, pad) = (self.k, self.k / 2);
        let taps = k * k;
        let plane = h * w;
        let pairs = self.cin.div_ceil(2);
        let shift: Vec<isize> = (0..taps)
            .map(|t| {
                ((t / k) as isize - pad as isize) * w as isize + (t % k) as isize - pad as isize
            })
            .collect();
        // Per run and tap, the lanes of each vector that read inside the picture.
        let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let mut masks = vec![[0u16; NV]; runs.len() * taps];
        for (r, masks) in runs.clone().zip(masks.chunks_exact_mut(taps)) {
            let p0 = r * PX;
            let (ry, rx) = ((p0 / w) as i32, (p0 % w) as i32);
            let (hi, wi) = (h as i32, w as i32);
            for i in 0..NV {
                let mut col = _mm512_add_epi32(_mm512_set1_epi32(rx + 16 * i as i32), lanes);
                let mut row = _mm512_set1_epi32(ry);
                loop {
                    let over = _mm512_cmpge_epi32_mask(col, _mm512_set1_epi32(wi));
                    if over == 0 {
                        break;
                    }
                    col = _mm512_mask_sub_epi32(col, over, col, _mm512_set1_epi32(wi));
                    row = _mm512_mask_add_epi32(row, over, row, _mm512_set1_epi32(1));
                }
                let inside = _mm512_cmplt_epi32_mask(row, _mm512_set1_epi32(hi));
                for (t, mask) in masks.iter_mut().enumerate() {
                    let r = _mm512_add_epi32(row, _mm512_set1_epi32((t / k) as i32 - pad as i32));
                    let c = _mm512_add_epi32(col, _mm512_set1_epi32((t % k) as i32 - pad as i32));
                    let ok = _mm512_cmpge_epi32_mask(r, _mm512_setzero_si512())
                        & _mm512_cmplt_epi32_mask(r, _mm512_set1_epi32(hi))
                        & _mm512_cmpge_epi32_mask(c, _mm512_setzero_si512())
                        & _mm512_cmplt_epi32_mask(c, _mm512_set1_epi32(wi));
                    mask[i] = ok & inside;
                }
            }
        }
        // The new input rows of the band after next (its taps' lowest row; the others
        // earlier bands have read) are prefetched, spread over this band's output
        // blocks: a large picture's planes, one stream per channel pair, are more
        // streams than the hardware prefetcher follows. TAESD's 64→64 at 512×512 went
        // from 660 to 750 GFLOP/s (`bench gemm`; 880–940 at 128×128, whose input stays
        // in cache); the next band instead gave 725, three bands on 700–730.
        let ahead = (runs.end + BAND) * PX + pad * w + pad;
        let spread = blocks.len().max(1);
        for (i, b) in blocks.clone().enumerate() {
            if ahead < plane {
                let end = (ahead + BAND * PX).min(plane);
                for cp in (i * pairs / spread)..((i + 1) * pairs / spread) {
                    let row = xp.as_ptr().wrapping_add(cp * plane);
                    for at in (ahead..end).step_by(16) {
                        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(at).cast());
                    }
                }
            }
            let wb = self.packed.as_ptr().add(b * pairs * taps * OB);
            for (r, masks) in runs.clone().zip(masks.chunks_exact(taps)) {
                let p0 = r * PX;
                // acc[o][i]: output channel b·8 + o, pixels p0 + 16i..+16.
                let mut acc = [[_mm512_setzero_ps(); NV]; OB];
                if let Some(bias) = ep.bias {
                    for (o, acc) in acc.iter_mut().enumerate() {
                        *acc = [_mm512_set1_ps(bias[b * OB + o]); NV];
                    }
                }
                for c0 in (0..pairs).step_by(GROUP) {
                    let group = c0..(c0 + GROUP).min(pairs);
                    for (t, m) in masks.iter().enumerate() {
                        if m.iter().all(|&m| m == 0) {
                            continue;
                        }
                        // Lanes outside the picture are masked off and never read, so
                        // the address may point outside `xp` (hence wrapping arithmetic).
                        let mut at = xp
                            .as_ptr()
                            .wrapping_offset((c0 * plane + p0) as isize + shift[t]);
                        let mut ws = wb.add((c0 * taps + t) * OB);
                        for _ in group.clone() {
                            let v: [__m512bh; NV] = std::array::from_fn(|i| {
                                std::mem::transmute::<__m512i, __m512bh>(_mm512_maskz_loadu_epi32(
                                    m[i],
                                    at.wrapping_add(16 * i).cast(),
                                ))
                            });
                            for (o, acc) in acc.iter_mut().enumerate() {
                                let wv: __m512bh =
                                    std::mem::transmute(_mm512_set1_epi32(*ws.add(o) as i32));
                                for (a, &v) in acc.iter_mut().zip(&v) {
                                    *a = _mm512_dpbf16_ps(*a, wv, v);
                                }
                            }
                            at = at.wrapping_add(plane);
                            ws = ws.wrapping_add(taps * OB);
                        }
                    }
                }
                let tail = plane - p0;
                for (o, acc) in acc.iter().enumerate() {
                    let at = (b * OB + o) * plane + p0;
                    let to = y.at(at);
                    for (i, &v) in acc.iter().enumerate() {
                        let m = ((1u32 << tail.saturating_sub(16 * i).min(16)) - 1) as u16;
                        let v = match ep.residual {
                            Some(r) => _mm512_add_ps(
                                v,
                                _mm512_maskz_loadu_ps(m, r.as_ptr().wrapping_add(at + 16 * i)),
                            ),
                            None => v,
                        };
                        let v = if ep.relu {
                            _mm512_max_ps(v, _mm512_setzero_ps())
                        } else {
                            v
                        };
                        _mm512_mask_storeu_ps(to.wrapping_add(16 * i), m, v);
                    }
                }
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn band(
        &self,
        _: &[u32],
        _: (usize, usize),
        _: (std::ops::Range<usize>, std::ops::Range<usize>),
        _: Epilogue,
        _: Out,
    ) {
        unreachable!("available() is false here");
    }
}

/// dst[p] = (bf16(even[p]), bf16(odd[p])) as one word, the even channel in the low half;
/// the odd channel zero when there is none.
///
/// # Safety
/// The processor must have AVX-512 BF16; `dst` as long as `even` (and `odd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16,avx512bw")]
unsafe fn to_pairs(even: &[f32], odd: Option<&[f32]>, dst: &mut [u32]) {
    use std::arch::x86_64::*;
    let n = even.len();
    assert!(dst.len() >= n && odd.is_none_or(|o| o.len() >= n));
    for i in (0..n).step_by(16) {
        let m = ((1u32 << (n - i).min(16)) - 1) as u16;
        let e = _mm512_maskz_loadu_ps(m, even.as_ptr().add(i));
        let o = match odd {
            Some(odd) => _mm512_maskz_loadu_ps(m, odd.as_ptr().add(i)),
            None => _mm512_setzero_ps(),
        };
        let pair = crate::bf16::pairs_of(e, o);
        _mm512_mask_storeu_epi32(dst.as_mut_ptr().add(i).cast(), m, pair);
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn to_pairs(_: &[f32], _: Option<&[f32]>, _: &mut [u32]) {
    unreachable!("available() is false here");
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// Against candle's own convolution of the bf16-rounded input and weights: only the
    /// f32 sums' order differs. Odd channel counts (a pair with no odd channel), one
    /// row, rows shorter than a run (a run crosses several), a plane of one band whose
    /// output blocks are split among tasks, 1×1, 3×3 and 5×5, a batch of two, and every
    /// epilogue: bias, a residual added (the second image's own), ReLU.
    #[test]
    fn the_direct_convolution_matches_candles_on_rounded_inputs() {
        if !available() {
            eprintln!("skipped: no AVX-512 BF16 here");
            return;
        }
        let dev = Device::Cpu;
        for (b, c, o, h, w, k) in [
            (2, 5, 8, 9, 13, 3),
            (1, 16, 16, 1, 70, 3),
            (1, 6, 24, 20, 50, 1),
            (1, 64, 64, 33, 35, 3),
            (1, 32, 64, 8, 8, 3),
            (1, 3, 8, 5, 5, 5),
            (1, 40, 16, 7, 3, 3),
        ] {
            assert!(DirectWeights::fits(o, k, 1, k / 2));
            let x = Tensor::randn(0f32, 1.0, (b, c, h, w), &dev).unwrap();
            let kw = Tensor::randn(0f32, 1.0, (o, c, k, k), &dev).unwrap();
            let (want, bias, _) = crate::conv::bf16_reference(&x, &kw, k / 2, 1);
            let want: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
            let flat: Vec<f32> = kw.flatten_all().unwrap().to_vec1().unwrap();
            let weights = DirectWeights::pack(&flat, o, c, k);
            let xs: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
            let residual: Vec<f32> = (0..want.len()).map(|i| (i % 7) as f32 - 3.0).collect();
            for (with_bias, with_residual, relu) in [
                (false, false, false),
                (true, false, true),
                (true, true, true),
                (false, true, false),
            ] {
                let mut y = vec![f32::NAN; b * o * h * w];
                let ep = Epilogue {
                    bias: with_bias.then_some(bias.as_slice()),
                    residual: with_residual.then_some(residual.as_slice()),
                    relu,
                };
                weights.run(&xs, (b, h, w), ep, &mut y);
                let diff = y
                    .iter()
                    .enumerate()
                    .map(|(i, got)| {
                        let mut v = want[i];
                        if with_bias {
                            v += bias[(i / (h * w)) % o];
                        }
                        if with_residual {
                            v += residual[i];
                        }
                        if relu {
                            v = v.max(0.0);
                        }
                        (got - v).abs()
                    })
                    // A value left unwritten (NaN) counts as infinitely off.
                    .fold(
                        0f32,
                        |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) },
                    );
                assert!(
                    diff < 1e-3,
                    "{b}x{c}x{h}x{w}->{o} k{k} bias {with_bias} residual {with_residual} \
                     relu {relu}: {diff}"
                );
            }
        }
        // Shapes the kernel does not take.
        assert!(!DirectWeights::fits(12, 3, 1, 1));
        assert!(!DirectWeights::fits(16, 3, 2, 1));
        assert!(!DirectWeights::fits(16, 3, 1, 0));
        assert!(!DirectWeights::fits(16, 2, 1, 1));
    }
}
