//! Direct convolution at stride 1 on AVX-512, for MODNet's "same"-padded layers that a
//! matrix product or Winograd runs poorly: few outputs (the 16- and 32-channel
//! high-resolution branch, where a product of so few rows ran at half speed), pointwise
//! layers over few channels (a product spends its time packing them), and the wide 5×5
//! over 1280 channels on a small plane.
//!
//! Eight output channels × 48 output pixels are kept in 24 vector registers while every
//! input channel and kernel tap adds to them: three input loads feed 24 fused
//! multiply-adds. The pixels of a run are consecutive in the flat plane, so a run can
//! cross rows; each tap reads the input shifted by (ky - top, kx - left), and the lanes
//! that would read across the picture's edge are masked off (AVX-512 masked loads read
//! nothing there), so the input is neither padded nor copied. The weights are packed
//! per block of eight output channels, tap by tap. docs/benchmarks.md has the figures.

use crate::products::Act;

/// Output channels per block.
const OB: usize = 8;
/// Vectors of 16 pixels per run: 3 × 8 accumulators leave registers for the inputs
/// (4 spilled and ran at 70 %).
const NV: usize = 3;
/// Input channels taken tap by tap before the next ones: their rows share the
/// first-level cache without evicting one another.
const GROUP: usize = 8;

/// Whether this CPU runs the kernel (it needs AVX-512 and FMA).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// ONNX's weights (out × cin × kh × kw) packed as [block][cin][kh][kw][8].
pub fn pack(weights: &[f32], out: usize, cin: usize, taps: usize) -> Vec<f32> {
    let mut packed = vec![0f32; out * cin * taps];
    for o in 0..out {
        let (b, lane) = (o / OB, o % OB);
        for c in 0..cin {
            for t in 0..taps {
                packed[((b * cin + c) * taps + t) * OB + lane] = weights[(o * cin + c) * taps + t];
            }
        }
    }
    packed
}

/// Whether the kernel takes this convolution: it keeps the picture's size (padded by
/// the kernel's size less one, split any way between the sides).
pub fn fits(s: &Shape) -> bool {
    let (pt, pl, pb, pr) = s.pads;
    pt + pb + 1 == s.kernel.0 && pl + pr + 1 == s.kernel.1 && s.oh == s.h && s.ow == s.w
}

/// The convolution's geometry.
pub struct Shape {
    pub cin: usize,
    pub out: usize,
    pub h: usize,
    pub w: usize,
    pub kernel: (usize, usize),
    /// Top, left, bottom, right.
    pub pads: (usize, usize, usize, usize),
    pub oh: usize,
    pub ow: usize,
}

/// Runs it: `x` is `cin` planes of h×w, `y` gets `out` planes of the same size. The
/// caller has checked [`available`] and [`fits`].
pub fn run(s: &Shape, packed: &[f32], bias: &[f32], act: Act, x: &[f32], y: &mut [f32]) {
    assert!(fits(s), "the direct convolution keeps the picture's size");
    assert!(s.out.is_multiple_of(OB), "outputs come in blocks of {OB}");
    assert!(x.len() >= s.cin * s.h * s.w && y.len() >= s.out * s.h * s.w);
    assert!(packed.len() >= s.out * s.cin * s.kernel.0 * s.kernel.1 && bias.len() >= s.out);
    #[cfg(target_arch = "x86_64")]
    {
        assert!(available(), "the direct convolution needs AVX-512");
        // SAFETY: the CPU has the features, and the slices cover the shape (asserted).
        unsafe { run_avx512(s, packed, bias, act, x, y) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (s, packed, bias, act, x, y);
        unreachable!("available() is false here");
    }
}

/// Input channels per pass over the picture. One pass when the weights are small: each
/// run of pixels then reads its input once for every output block, from cache. Large
/// weights (the 1280-channel 5×5: 12 MB) would stream from memory for every run, so the
/// channels go in groups whose input and weights fit the second-level cache, and the
/// sums wait in the output between groups.
fn channels_per_pass(s: &Shape) -> usize {
    let taps = s.kernel.0 * s.kernel.1;
    if s.out * s.cin * taps * 4 <= 512 << 10 {
        return s.cin;
    }
    let fit = (256 << 10) / 4 / (s.h * s.w + s.out * taps);
    (fit / GROUP * GROUP).clamp(GROUP, s.cin)
}

/// What every run of one call shares.
struct Call<'a> {
    s: &'a Shape,
    packed: &'a [f32],
    bias: &'a [f32],
    act: Act,
    x: &'a [f32],
    plane: usize,
    taps: usize,
    /// Where tap (ky, kx) reads, relative to the output pixel, in the flat plane.
    shift: Vec<isize>,
    /// Per run and tap, the lanes of each vector that read inside the picture.
    masks: Vec<[u16; NV]>,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512(s: &Shape, packed: &[f32], bias: &[f32], act: Act, x: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::*;
    let (kh, kw) = s.kernel;
    let (pt, pl, _, _) = s.pads;
    let (h, w) = (s.h as i32, s.w as i32);
    let plane = s.h * s.w;
    let taps = kh * kw;
    let px = 16 * NV;
    let runs = plane.div_ceil(px);
    let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let mut masks = vec![[0u16; NV]; runs * taps];
    for (r, masks) in masks.chunks_exact_mut(taps).enumerate() {
        // Each lane's row and column (a run can cross several short rows).
        let p0 = r * px;
        let (ry, rx) = ((p0 / s.w) as i32, (p0 % s.w) as i32);
        for i in 0..NV {
            let mut col = _mm512_add_epi32(_mm512_set1_epi32(rx + 16 * i as i32), lanes);
            let mut row = _mm512_set1_epi32(ry);
            loop {
                let over = _mm512_cmpge_epi32_mask(col, _mm512_set1_epi32(w));
                if over == 0 {
                    break;
                }
                col = _mm512_mask_sub_epi32(col, over, col, _mm512_set1_epi32(w));
                row = _mm512_mask_add_epi32(row, over, row, _mm512_set1_epi32(1));
            }
            let inside = _mm512_cmplt_epi32_mask(row, _mm512_set1_epi32(h));
            for (t, mask) in masks.iter_mut().enumerate() {
                let r = _mm512_add_epi32(row, _mm512_set1_epi32((t / kw) as i32 - pt as i32));
                let c = _mm512_add_epi32(col, _mm512_set1_epi32((t % kw) as i32 - pl as i32));
                let ok = _mm512_cmpge_epi32_mask(r, _mm512_setzero_si512())
                    & _mm512_cmplt_epi32_mask(r, _mm512_set1_epi32(h))
                    & _mm512_cmpge_epi32_mask(c, _mm512_setzero_si512())
                    & _mm512_cmplt_epi32_mask(c, _mm512_set1_epi32(w));
                mask[i] = ok & inside;
            }
        }
    }
    let call = Call {
        s,
        packed,
        bias,
        act,
        x,
        plane,
        taps,
        shift: (0..taps)
            .map(|t| {
                ((t / kw) as isize - pt as isize) * s.w as isize + (t % kw) as isize - pl as isize
            })
            .collect(),
        masks,
    };
    let pass = channels_per_pass(s);
    for c1 in (0..s.cin).step_by(pass) {
        let channels = c1..(c1 + pass).min(s.cin);
        if pass == s.cin {
            // One pass: every output block reads a run's input while it is in cache.
            for r in 0..runs {
                // The picture's rows stream from memory one per channel: more streams
                // than the hardware prefetcher follows. The lowest row a later run
                // reads is fetched ahead.
                let ahead = (r * px) as isize + call.shift[taps - 1] + 4 * px as isize;
                for c in channels.clone() {
                    let at = x.as_ptr().wrapping_offset((c * plane) as isize + ahead);
                    for i in 0..NV {
                        _mm_prefetch::<_MM_HINT_T1>(at.wrapping_add(16 * i).cast());
                    }
                }
                for b in 0..s.out / OB {
                    tile(&call, channels.clone(), r, b, y);
                }
            }
        } else {
            // Passes: an output block's weights for these channels stay in cache
            // while it sweeps the (small) picture.
            for b in 0..s.out / OB {
                for r in 0..runs {
                    tile(&call, channels.clone(), r, b, y);
                }
            }
        }
    }
}

/// Output block `b` (eight channels) over run `r` (48 pixels), summing the input
/// `channels`: starting from the bias for the first channels, from the sums in `y`
/// otherwise, and activated after the last.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn tile(call: &Call, channels: std::ops::Range<usize>, r: usize, b: usize, y: &mut [f32]) {
    use std::arch::x86_64::*;
    let Call {
        s,
        packed,
        bias,
        act,
        x,
        plane,
        taps,
        ..
    } = *call;
    let p0 = r * 16 * NV;
    let tail = plane - p0;
    let store: [u16; NV] =
        std::array::from_fn(|i| ((1u32 << tail.saturating_sub(16 * i).min(16)) - 1) as u16);
    let wb = packed.as_ptr().add(b * s.cin * taps * OB);
    // acc[o][i]: output channel b·8 + o, pixels p0 + 16i..+16.
    let mut acc = [[_mm512_setzero_ps(); NV]; OB];
    for (o, acc) in acc.iter_mut().enumerate() {
        let ch = b * OB + o;
        let from = y.as_ptr().add(ch * plane + p0);
        for (i, (a, &m)) in acc.iter_mut().zip(&store).enumerate() {
            *a = if channels.start == 0 {
                _mm512_set1_ps(bias[ch])
            } else {
                _mm512_maskz_loadu_ps(m, from.wrapping_add(16 * i))
            };
        }
    }
    let masks = &call.masks[r * taps..][..taps];
    for c0 in channels.clone().step_by(GROUP) {
        let group = c0..(c0 + GROUP).min(channels.end);
        for (t, m) in masks.iter().enumerate() {
            if m.iter().all(|&m| m == 0) {
                continue;
            }
            // Lanes outside the picture are masked off and never read, so the address
            // may point outside `x` (hence wrapping arithmetic).
            let mut at = x
                .as_ptr()
                .wrapping_offset((c0 * plane + p0) as isize + call.shift[t]);
            let mut ws = wb.add((c0 * taps + t) * OB);
            for _ in group.clone() {
                let v: [__m512; NV] =
                    std::array::from_fn(|i| _mm512_maskz_loadu_ps(m[i], at.wrapping_add(16 * i)));
                for (o, acc) in acc.iter_mut().enumerate() {
                    let wv = _mm512_set1_ps(*ws.add(o));
                    for (a, &v) in acc.iter_mut().zip(&v) {
                        *a = _mm512_fmadd_ps(wv, v, *a);
                    }
                }
                at = at.wrapping_add(plane);
                ws = ws.wrapping_add(taps * OB);
            }
        }
    }
    let (lo, hi) = match act {
        Act::None => (f32::NEG_INFINITY, f32::INFINITY),
        Act::Clip(lo, hi) => (lo, hi),
    };
    let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
    let last = channels.end == s.cin;
    for (o, acc) in acc.iter().enumerate() {
        let to = y.as_mut_ptr().add((b * OB + o) * plane + p0);
        for (i, (&v, &m)) in acc.iter().zip(&store).enumerate() {
            let v = if last {
                _mm512_min_ps(_mm512_max_ps(v, lo), hi)
            } else {
                v
            };
            _mm512_mask_storeu_ps(to.wrapping_add(16 * i), m, v);
        }
    }
}
