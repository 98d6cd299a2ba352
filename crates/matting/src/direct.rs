//! Direct convolution at stride 1 for few output channels (MODNet's 16- and 32-channel
//! high-resolution branch), on AVX-512: eight output channels × 32 output pixels are
//! kept in sixteen vector registers while every input channel and kernel tap adds to
//! them: one input load feeds eight fused multiply-adds. A matrix product needs 64 or so
//! output rows to run at full speed; with 16 it ran at half (docs/benchmarks.md).
//!
//! The weights are packed per block of eight output channels, tap by tap. Input rows are
//! padded once each into a ring that holds every channel's last kh rows, and the
//! channels are taken in groups whose rows fit the first-level cache: without the
//! groups the 16-output layer at full size waited on memory (12 ms instead of 5).

use crate::products::Act;

/// Output channels per block, and output pixels per run.
const OB: usize = 8;
const PX: usize = 32;

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

/// Runs it: `x` is `cin` planes of h×w, `y` gets `out` planes of oh×ow. The caller has
/// checked [`available`].
pub fn run(s: &Shape, packed: &[f32], bias: &[f32], act: Act, x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        assert!(available(), "the direct convolution needs AVX-512");
        // SAFETY: the CPU has the features (asserted).
        unsafe { run_avx512(s, packed, bias, act, x, y) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (s, packed, bias, act, x, y);
        unreachable!("available() is false here");
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512(s: &Shape, packed: &[f32], bias: &[f32], act: Act, x: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::*;
    let (kh, kw) = s.kernel;
    let (pt, pl, _, _) = s.pads;
    let taps = kh * kw;
    let plane = s.oh * s.ow;
    let runs = s.ow.div_ceil(PX);
    // Every channel's last kh input rows, padded, in a ring: row r of the padded input
    // is slot r % kh. Wide enough that every 32-pixel run reads inside it.
    let wp = runs * PX + kw - 1;
    let mut ring = vec![0f32; s.cin * kh * wp];
    let mut offsets = vec![0usize; s.cin * taps];
    // Channels a pass takes: their rows stay in the first-level cache while the pass
    // sweeps the output row; the passes' sums meet in `part`.
    let group = ((48 << 10) / (kh * wp * 4)).clamp(1, s.cin);
    let mut part = vec![0f32; OB * runs * PX];
    for oy in 0..s.oh {
        // The padded rows this output row reads that are not in the ring yet.
        let first = if oy == 0 { 0 } else { oy + kh - 1 };
        for pr in first..oy + kh {
            let slot = pr % kh;
            for c in 0..s.cin {
                let dst = &mut ring[(c * kh + slot) * wp..][..wp];
                dst.fill(0.0);
                if let Some(r) = pr.checked_sub(pt).filter(|&r| r < s.h) {
                    let len = s.w.min(wp - pl);
                    dst[pl..pl + len].copy_from_slice(&x[(c * s.h + r) * s.w..][..len]);
                }
            }
        }
        for c in 0..s.cin {
            for ky in 0..kh {
                for kx in 0..kw {
                    offsets[(c * kh + ky) * kw + kx] = (c * kh + (oy + ky) % kh) * wp + kx;
                }
            }
        }
        let base = ring.as_ptr();
        for b in 0..s.out / OB {
            let wb = &packed[b * s.cin * taps * OB..(b + 1) * s.cin * taps * OB];
            for c0 in (0..s.cin).step_by(group) {
                let ts = c0 * taps..(c0 + group).min(s.cin) * taps;
                for r in 0..runs {
                    // acc[2o], acc[2o + 1]: output channel o, pixels 32r..+16 and +16..+32.
                    let mut acc = [_mm512_setzero_ps(); 2 * OB];
                    if c0 > 0 {
                        for (o, a) in acc.chunks_exact_mut(2).enumerate() {
                            let at = part.as_ptr().add((o * runs + r) * PX);
                            a[0] = _mm512_loadu_ps(at);
                            a[1] = _mm512_loadu_ps(at.add(16));
                        }
                    }
                    let run = base.add(r * PX);
                    for t in ts.clone() {
                        // Inside the ring: an offset is at most its size less one row,
                        // and a row holds every run.
                        let at = run.add(offsets[t]);
                        let v0 = _mm512_loadu_ps(at);
                        let v1 = _mm512_loadu_ps(at.add(16));
                        let ws = wb.as_ptr().add(t * OB);
                        // Written out: a loop here kept the accumulators in memory.
                        macro_rules! tap {
                            ($($o:literal)*) => {$(
                                let w = _mm512_set1_ps(*ws.add($o));
                                acc[2 * $o] = _mm512_fmadd_ps(w, v0, acc[2 * $o]);
                                acc[2 * $o + 1] = _mm512_fmadd_ps(w, v1, acc[2 * $o + 1]);
                            )*};
                        }
                        tap!(0 1 2 3 4 5 6 7);
                    }
                    for (o, a) in acc.chunks_exact(2).enumerate() {
                        let at = part.as_mut_ptr().add((o * runs + r) * PX);
                        _mm512_storeu_ps(at, a[0]);
                        _mm512_storeu_ps(at.add(16), a[1]);
                    }
                }
            }
            for o in 0..OB {
                let ch = b * OB + o;
                let out = &mut y[ch * plane + oy * s.ow..][..s.ow];
                for (d, &v) in out.iter_mut().zip(&part[o * runs * PX..]) {
                    *d = act.apply(v + bias[ch]);
                }
            }
        }
    }
}
