//! A matrix product in bf16 with f32 sums, for CPUs with AVX-512 BF16 (AMD Zen 4 and
//! later, Intel Cooper Lake and Sapphire Rapids): `vdpbf16ps` multiplies two pairs of
//! bf16 numbers and adds both products to an f32 sum, twice the multiply-adds of an f32
//! FMA per instruction. OpenVINO runs Stable Diffusion this way by default on such
//! processors. Inputs lose precision (8 bits of mantissa); sums do not.
//!
//! Two forms. The convolutions' product path: C (m×n, f32) = A (m×k, the weights,
//! packed once) · B (k×n, f32 activations, packed per call into column panels); its
//! micro-kernel keeps a 6×32 tile of C in twelve registers, and each step reads a pair
//! of k from A (broadcast) and from B. Linear layers and attention: y = x · B, with B
//! (Wᵀ, or attention's keys and values) packed as panels once and x's rows converted to
//! bf16 pairs ([`pair_rows`]); [`PackedB::linear`] blocks the work for the caches and
//! its kernel keeps a 6×64 tile of y in 24 registers, written straight into y's rows.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(false);
static AMX: AtomicBool = AtomicBool::new(false);
static AMX_ALLOWED: AtomicBool = AtomicBool::new(true);

/// Runs the CPU's convolutions, linear layers over many tokens and attention in bf16
/// from now on, in this whole process (one engine per process), where the processor
/// can; returns whether it will.
///
/// Where it pays: on AMX's tiles where the processor has them (Intel Xeons from Sapphire
/// Rapids on); else with `vdpbf16ps` on AMD processors (Zen 4 and later run it at twice
/// the multiply-adds of an f32 FMA). Intel runs `vdpbf16ps` on one port where it has
/// two for FMAs, so there f32 stays (docs/benchmarks.md: 31.2 s against 25.3 s in f32
/// for the same four paintings), unless [`allow_amx`]`(false)` asked for AVX-512 BF16
/// explicitly.
pub fn enable(on: bool) -> bool {
    let explicit = !AMX_ALLOWED.load(Ordering::Relaxed);
    let amx = on && available() && !explicit && crate::amx::available();
    let on = on && available() && (amx || explicit || amd());
    ON.store(on, Ordering::Relaxed);
    AMX.store(amx, Ordering::Relaxed);
    on
}

/// Keeps [`enable`] off AMX's tiles, on the AVX-512 kernel, whatever the processor
/// (before `enable`; for comparing the two kernels).
pub fn allow_amx(allowed: bool) {
    AMX_ALLOWED.store(allowed, Ordering::Relaxed);
}

/// Whether this is an AMD processor (CPUID's vendor string).
fn amd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let v = std::arch::x86_64::__cpuid(0);
        // "AuthenticAMD" in EBX, EDX, ECX.
        v.ebx == u32::from_le_bytes(*b"Auth")
            && v.edx == u32::from_le_bytes(*b"enti")
            && v.ecx == u32::from_le_bytes(*b"cAMD")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the CPU kernels run in bf16.
pub fn in_use() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Which kernel bf16 products run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// `vdpbf16ps` on AVX-512 registers, a 6×32 tile (AMD Zen 4 and later, Intel Xeons).
    Avx512,
    /// AMX's tiles, 32×32 (Intel Sapphire Rapids and later): [`crate::amx`].
    Amx,
}

impl Kernel {
    /// The kernel [`enable`] chose: AMX where present and allowed, else AVX-512.
    pub fn current() -> Kernel {
        if AMX.load(Ordering::Relaxed) {
            Kernel::Amx
        } else {
            Kernel::Avx512
        }
    }

    /// The instructions, in words for the start-up log.
    pub fn describe(self) -> &'static str {
        match self {
            Kernel::Avx512 => "AVX-512 BF16",
            Kernel::Amx => "AMX tiles",
        }
    }

    /// Pairs of k a packed panel of B holds for `k`: AMX reads whole tiles of 16.
    fn panel_pairs(self, k: usize) -> usize {
        match self {
            Kernel::Avx512 => k.div_ceil(2),
            Kernel::Amx => k.div_ceil(2).div_ceil(crate::amx::PAIRS) * crate::amx::PAIRS,
        }
    }
}

/// Rows of A per micro-kernel tile.
const MR: usize = 6;
/// Columns of B per panel (two registers of 16).
pub const NR: usize = 32;

/// Whether this processor can run [`Bf16Weights::matmul`].
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512bf16") && is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// f32 → bf16, rounding to nearest even (as `vcvtneps2bf16`).
pub(crate) fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    ((bits + round) >> 16) as u16
}

/// A (m×k) packed for the kernel, in 32-bit words of two bf16 (low half: even k, high
/// half: odd k), zero-padded. For AVX-512: blocks of MR rows, each as k/2 pairs of MR
/// words. For AMX: plain rows of `pp` words (whole tiles of 16), blocks of 32 rows.
pub struct Bf16Weights {
    m: usize,
    k: usize,
    /// Pairs a panel of B holds (k/2, rounded up to whole AMX tiles for AMX).
    pp: usize,
    kernel: Kernel,
    packed: Vec<u32>,
}

impl Bf16Weights {
    /// Packs row-major `a` (m×k).
    pub fn pack(a: &[f32], m: usize, k: usize) -> Bf16Weights {
        Self::pack_scaled(a, m, k, 1.0)
    }

    /// Packs `scale` × row-major `a` (m×k), for the kernel [`enable`] chose.
    pub fn pack_scaled(a: &[f32], m: usize, k: usize, scale: f32) -> Bf16Weights {
        Self::pack_for(Kernel::current(), a, m, k, scale)
    }

    /// Packs `scale` × row-major `a` (m×k) for `kernel`.
    pub fn pack_for(kernel: Kernel, a: &[f32], m: usize, k: usize, scale: f32) -> Bf16Weights {
        assert!(a.len() >= m * k);
        let pp = kernel.panel_pairs(k);
        if kernel == Kernel::Amx {
            assert!(crate::amx::available(), "this processor has no AMX");
            let rows = m.div_ceil(crate::amx::ROWS) * crate::amx::ROWS;
            let mut packed = vec![0u32; rows * pp];
            for (row, dst) in packed.chunks_mut(pp).take(m).enumerate() {
                // SAFETY: AMX implies AVX-512 BF16 (checked by amx::available).
                unsafe { pack_row(&a[row * k..][..k], scale, dst) };
            }
            return Bf16Weights {
                m,
                k,
                pp,
                kernel,
                packed,
            };
        }
        assert!(available(), "this processor has no AVX-512 BF16");
        let pairs = k.div_ceil(2);
        let blocks = m.div_ceil(MR);
        let mut packed = vec![0u32; blocks * pairs * MR];
        // Each row converted 32 numbers at a time, then its pairs spread MR apart (a
        // scalar loop here was 6 % of an SD-Turbo painting when attention's
        // probabilities came this way; they now go to [`PackedB::product_rows`]).
        let mut row_pairs = vec![0u32; pairs];
        for row in 0..m {
            // SAFETY: the processor has AVX-512 BF16 (asserted).
            unsafe { pack_row(&a[row * k..][..k], scale, &mut row_pairs) };
            let (blk, r) = (row / MR, row % MR);
            for (p, &v) in row_pairs.iter().enumerate() {
                packed[(blk * pairs + p) * MR + r] = v;
            }
        }
        Bf16Weights {
            m,
            k,
            pp,
            kernel,
            packed,
        }
    }

    /// A weight tensor (out, …) packed as out × (the rest), when it is f32 and the
    /// kernel can run: what the layers cache on first use.
    pub fn from_weight(w: &candle_core::Tensor) -> Option<Bf16Weights> {
        let m = w.dim(0).ok()?;
        let flat = crate::cpu::host_f32(w).ok()?;
        (m > 0 && available()).then(|| Bf16Weights::pack(&flat, m, flat.len() / m))
    }

    pub fn rows(&self) -> usize {
        self.m
    }

    /// The kernel these weights are packed for.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// dst (m×n, rows `dst_rs` apart) = A · B, B packed beforehand (reused across many
    /// A, as attention's keys and values are across its query blocks).
    pub fn matmul_packed(&self, b: &PackedB, dst: &mut [f32], dst_rs: usize) {
        assert!(available(), "this processor has no AVX-512 BF16");
        assert_eq!(b.kernel, self.kernel, "packed for different kernels");
        assert_eq!(b.pp, self.pp, "inner sizes differ");
        assert!(dst.len() >= (self.m - 1) * dst_rs + b.n);
        for (pi, panel) in b.panels.chunks(self.pp * NR).enumerate() {
            let j0 = pi * NR;
            // SAFETY: the feature is present and dst covers the product (asserted).
            unsafe { self.panel_product(panel, j0, NR.min(b.n - j0), dst.as_mut_ptr(), dst_rs) };
        }
    }

    /// dst (m×n, rows `dst_rs` apart) = A · b (k×n, row-major, rows `b_rs` apart), on
    /// the calling thread. Panics unless [`available`].
    pub fn matmul(&self, b: &[f32], b_rs: usize, n: usize, dst: &mut [f32], dst_rs: usize) {
        assert!(available(), "this processor has no AVX-512 BF16");
        assert!(b.len() >= (self.k - 1) * b_rs + n && dst.len() >= (self.m - 1) * dst_rs + n);
        // SAFETY: the slices cover both matrices (asserted).
        unsafe { self.matmul_raw(b.as_ptr(), b_rs, n, dst.as_mut_ptr(), dst_rs) }
    }

    /// [`Bf16Weights::matmul`] on pointers, for outputs that threads share by rows.
    ///
    /// # Safety
    /// [`available`] must be true; `b` must cover k rows of n at `b_rs`, `dst` m rows
    /// of n at `dst_rs`, and no one else may touch those rows of `dst` meanwhile.
    pub unsafe fn matmul_raw(
        &self,
        b: *const f32,
        b_rs: usize,
        n: usize,
        dst: *mut f32,
        dst_rs: usize,
    ) {
        // Rows past k's pairs stay zero (AMX reads whole tiles).
        let mut panel = vec![0u32; self.pp * NR];
        for j0 in (0..n).step_by(NR) {
            let w = NR.min(n - j0);
            pack_panel(b, (b_rs, 1), self.k, j0, w, &mut panel);
            self.panel_product(&panel, j0, w, dst, dst_rs);
        }
    }

    /// Columns j0..j0+w of dst = A · one packed panel of B, tile by tile.
    ///
    /// # Safety
    /// As [`Bf16Weights::matmul_raw`].
    unsafe fn panel_product(
        &self,
        panel: &[u32],
        j0: usize,
        w: usize,
        dst: *mut f32,
        dst_rs: usize,
    ) {
        let copy = |tile: &[f32], rows: usize, r0: usize| {
            for r in 0..rows {
                let row = dst.add((r0 + r) * dst_rs + j0);
                std::ptr::copy_nonoverlapping(tile.as_ptr().add(r * NR), row, w);
            }
        };
        if self.kernel == Kernel::Amx {
            const ROWS: usize = crate::amx::ROWS;
            let mut tile = [0f32; ROWS * NR];
            let steps = self.pp / crate::amx::PAIRS;
            for blk in 0..self.m.div_ceil(ROWS) {
                let a = self.packed[blk * ROWS * self.pp..].as_ptr();
                let rows = ROWS.min(self.m - blk * ROWS);
                if rows == ROWS && w == NR {
                    // A whole tile of C: straight into dst.
                    let d = dst.add(blk * ROWS * dst_rs + j0);
                    crate::amx::product_to(a, self.pp * 4, panel.as_ptr(), steps, d, dst_rs);
                    continue;
                }
                crate::amx::product(a, self.pp * 4, panel.as_ptr(), steps, &mut tile);
                copy(&tile, rows, blk * ROWS);
            }
            return;
        }
        let mut tile = [0f32; MR * NR];
        let pairs = self.k.div_ceil(2);
        for blk in 0..self.m.div_ceil(MR) {
            let a = &self.packed[blk * pairs * MR..][..pairs * MR];
            kernel(a, panel, pairs, &mut tile);
            copy(&tile, MR.min(self.m - blk * MR), blk * MR);
        }
    }
}

/// B (k×n) packed into all its column panels once.
pub struct PackedB {
    n: usize,
    pp: usize,
    kernel: Kernel,
    panels: Vec<u32>,
}

impl PackedB {
    /// Packs b (k×n) read at (row, column) strides, for the kernel [`enable`] chose.
    /// Panics unless [`available`].
    pub fn pack(b: &[f32], k: usize, n: usize, strides: (usize, usize)) -> PackedB {
        Self::pack_for(Kernel::current(), b, k, n, strides)
    }

    /// [`PackedB::pack`] for `kernel`.
    pub fn pack_for(
        kernel: Kernel,
        b: &[f32],
        k: usize,
        n: usize,
        strides: (usize, usize),
    ) -> PackedB {
        assert!(available(), "this processor has no AVX-512 BF16");
        assert!(b.len() > (k - 1) * strides.0 + (n - 1) * strides.1);
        let pp = kernel.panel_pairs(k);
        let count = n.div_ceil(NR);
        let mut panels = vec![0u32; count * pp * NR];
        for (pi, panel) in panels.chunks_mut(pp * NR).enumerate() {
            let j0 = pi * NR;
            // SAFETY: the feature is present; b covers the matrix (asserted).
            unsafe { pack_panel(b.as_ptr(), strides, k, j0, NR.min(n - j0), panel) };
        }
        PackedB {
            n,
            pp,
            kernel,
            panels,
        }
    }
}

/// Tokens per task of [`PackedB::linear`]: their pairs stay in the second-level cache
/// while every panel of the weights passes over them.
const MC: usize = 96;

/// Rows of x (rows × k, f32) as rows of bf16 pairs, `k.div_ceil(2)` words each (zero
/// past k): the A that [`PackedB::linear`] reads, converted once per call.
pub fn pair_rows(x: &[f32], k: usize) -> Vec<u32> {
    use rayon::prelude::*;
    assert!(available(), "this processor has no AVX-512 BF16");
    let (rows, pairs) = (x.len() / k.max(1), k.div_ceil(2));
    let mut out = vec![0u32; rows * pairs];
    out.par_chunks_mut(pairs * 64)
        .zip(x.par_chunks(k * 64))
        .for_each(|(dst, src)| {
            for (d, s) in dst.chunks_mut(pairs).zip(src.chunks(k)) {
                // SAFETY: the processor has AVX-512 BF16 (asserted).
                unsafe { pack_row(s, 1.0, d) };
            }
        });
    out
}

/// dst[p] = (scale·src[2p], scale·src[2p+1]) as bf16 pairs, zero past src's end: one
/// row of A for [`PackedB::product_rows`].
pub fn to_pairs_scaled(src: &[f32], scale: f32, dst: &mut [u32]) {
    assert!(available(), "this processor has no AVX-512 BF16");
    assert!(dst.len() >= src.len().div_ceil(2));
    // SAFETY: the processor has AVX-512 BF16 (asserted).
    unsafe { pack_row(src, scale, dst) };
}

/// dst[p] = (e^(row[2p] − max), e^(row[2p+1] − max)) as bf16 pairs, zero past row's
/// end, with max the row's largest: softmax's numerators as one row of A for
/// [`PackedB::product_rows`]. Returns their sum before rounding, which the caller
/// divides the product's row by (so the row is read once after its maximum, and the
/// f32 exponentials are never stored). To 3e-6 of each exponential before the rounding.
pub fn exps_to_pairs(row: &[f32], dst: &mut [u32]) -> f32 {
    assert!(available(), "this processor has no AVX-512 BF16");
    assert!(dst.len() >= row.len().div_ceil(2));
    // SAFETY: the processor has AVX-512 BF16 (asserted), dst is long enough.
    unsafe { exps_row(row, dst) }
}

/// [`exps_to_pairs`]: the maximum over four vectors, then 2^t with t = (x − max)·log₂e
/// split as n + f (n an integer, |f| ≤ ½), 2^f by a degree-4 polynomial and 2^n by
/// `vscalefps`, 32 numbers at a time into 16 pairs.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn exps_row(row: &[f32], dst: &mut [u32]) -> f32 {
    let len = row.len();
    let at = |i: usize| row.as_ptr().add(i);
    // The lanes of the vector at i that are inside the row.
    let inside = |i: usize| ((1u32 << len.saturating_sub(i).min(16)) - 1) as u16;
    // Lanes at or past the row's end read as −∞ (so they add nothing to the maximum).
    let load = |i: usize| -> __m512 {
        _mm512_mask_loadu_ps(_mm512_set1_ps(f32::NEG_INFINITY), inside(i), at(i))
    };
    let mut m = [_mm512_set1_ps(f32::NEG_INFINITY); 4];
    let mut i = 0;
    while i + 64 <= len {
        for (j, m) in m.iter_mut().enumerate() {
            *m = _mm512_max_ps(*m, _mm512_loadu_ps(at(i + 16 * j)));
        }
        i += 64;
    }
    while i < len {
        m[0] = _mm512_max_ps(m[0], load(i));
        i += 16;
    }
    let max = _mm512_reduce_max_ps(_mm512_max_ps(
        _mm512_max_ps(m[0], m[1]),
        _mm512_max_ps(m[2], m[3]),
    ));
    let log2e = _mm512_set1_ps(std::f32::consts::LOG2_E);
    // x − max first, exactly (a fused x·log₂e − max·log₂e would round max·log₂e, an
    // error of up to 2.4e-4 in the exponent when the scores are in the thousands).
    let max_v = _mm512_set1_ps(max);
    let floor = _mm512_set1_ps(-127.0);
    // 2^f on [−½, ½] (a weighted least-squares fit; 2.7e-6 relative at worst).
    let c = [
        0.999_999_17,
        0.693_122,
        0.240_249_81,
        0.055_917_04,
        0.009_560_51,
    ]
    .map(|c: f32| _mm512_set1_ps(c));
    let exp = |x: __m512| -> __m512 {
        let t = _mm512_max_ps(_mm512_mul_ps(_mm512_sub_ps(x, max_v), log2e), floor);
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(t);
        let f = _mm512_sub_ps(t, n);
        let p = _mm512_fmadd_ps(c[4], f, c[3]);
        let p = _mm512_fmadd_ps(p, f, c[2]);
        let p = _mm512_fmadd_ps(p, f, c[1]);
        let p = _mm512_fmadd_ps(p, f, c[0]);
        _mm512_scalef_ps(p, n)
    };
    let mut sums = [_mm512_setzero_ps(); 2];
    for (p, d) in dst[..len.div_ceil(2)].chunks_mut(16).enumerate() {
        let i = 32 * p;
        let (lo, hi) = if i + 32 <= len {
            (
                exp(_mm512_loadu_ps(at(i))),
                exp(_mm512_loadu_ps(at(i + 16))),
            )
        } else {
            // The row's end: lanes past it are exactly zero (−∞ would be 2^−127).
            (
                _mm512_maskz_mov_ps(inside(i), exp(load(i))),
                _mm512_maskz_mov_ps(inside(i + 16), exp(load(i + 16))),
            )
        };
        sums[0] = _mm512_add_ps(sums[0], lo);
        sums[1] = _mm512_add_ps(sums[1], hi);
        // Lower half of the result from the second operand: lo's 16, then hi's.
        let v: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
        let words = (1u32 << d.len()) - 1;
        _mm512_mask_storeu_epi32(d.as_mut_ptr().cast(), words as u16, v);
    }
    for d in &mut dst[len.div_ceil(2)..] {
        *d = 0;
    }
    _mm512_reduce_add_ps(_mm512_add_ps(sums[0], sums[1]))
}

/// A GEGLU layer's weights (its 2·half outputs × k, row-major: values, then gates) and
/// bias in the order [`PackedB::linear_gated`] reads them: for each panel of values, it
/// and the panel of their gates side by side. None unless half is a whole number of
/// panels.
pub fn gated_order(
    w: &[f32],
    k: usize,
    bias: Option<&[f32]>,
) -> Option<(Vec<f32>, Option<Vec<f32>>)> {
    let half = w.len() / k.max(1) / 2;
    if k == 0 || half == 0 || !half.is_multiple_of(NR) || w.len() != 2 * half * k {
        return None;
    }
    // Row i of the new order is this row of the old.
    let from = |i: usize| {
        let (pair, j) = (i / (2 * NR), i % (2 * NR));
        pair * NR + j % NR + if j < NR { 0 } else { half }
    };
    let rows = (0..2 * half)
        .flat_map(|i| &w[from(i) * k..][..k])
        .copied()
        .collect();
    let bias = bias.map(|b| (0..2 * half).map(|i| b[from(i)]).collect());
    Some((rows, bias))
}

impl PackedB {
    /// Columns of B (a linear layer's output features).
    pub fn cols(&self) -> usize {
        self.n
    }

    /// The kernel these panels are packed for.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// y (rows × n, row-major) = A · B + bias, A given as [`pair_rows`] of k: a linear
    /// layer's y = x·Wᵀ over tokens, with B = Wᵀ packed once at load. On rayon's
    /// threads, each task a block of tokens (and, when tokens are few, of panels); every
    /// 6×64 tile goes straight into y's rows with the bias added, once, so y need not be
    /// initialised. AVX-512 kernel only.
    pub fn linear(&self, a: &[u32], rows: usize, bias: Option<&[f32]>, y: &mut [f32]) {
        self.linear_in(a, rows, bias, y, false);
    }

    /// GEGLU of a linear layer, as one pass: y (rows × n/2) = value · GELU(gate), where
    /// B's columns are packed in pairs of panels, values then gates ([`gated_order`]):
    /// each 6×64 tile's two halves are gated as the tile is stored, so the layer's
    /// n-wide output is never written. n must be a whole number of panel pairs.
    pub fn linear_gated(&self, a: &[u32], rows: usize, bias: Option<&[f32]>, y: &mut [f32]) {
        assert!(
            self.n.is_multiple_of(2 * NR),
            "gated: n in whole pairs of panels"
        );
        self.linear_in(a, rows, bias, y, true);
    }

    fn linear_in(&self, a: &[u32], rows: usize, bias: Option<&[f32]>, y: &mut [f32], gated: bool) {
        use rayon::prelude::*;
        assert!(available(), "this processor has no AVX-512 BF16");
        assert_eq!(
            self.kernel,
            Kernel::Avx512,
            "rows of pairs feed the AVX-512 kernel"
        );
        let (pp, n) = (self.pp, self.n);
        let width = if gated { n / 2 } else { n };
        assert!(a.len() >= rows * pp && y.len() >= rows * width);
        assert!(bias.is_none_or(|b| b.len() >= n));
        if rows == 0 || n == 0 {
            return;
        }
        let panels = n.div_ceil(NR);
        let groups = rows.div_ceil(MC);
        // Enough tasks to keep every thread busy when tokens are few; panels split in
        // pairs (a gated tile needs both).
        let want = 4 * rayon::current_num_threads().max(1);
        let split = want.div_ceil(groups).clamp(1, panels.div_ceil(2));
        let per = panels.div_ceil(2).div_ceil(split) * 2;
        let split = panels.div_ceil(per);
        let y = crate::cpu::Out(y.as_mut_ptr());
        (0..groups * split).into_par_iter().for_each(|task| {
            let (g, s) = (task / split, task % split);
            let tokens = g * MC..((g + 1) * MC).min(rows);
            let panels = s * per..((s + 1) * per).min(panels);
            // SAFETY: the feature is present and y covers every row (asserted); each
            // task writes only its own tokens' rows at its own panels' columns.
            unsafe { self.block(a, tokens, panels, bias, y, gated) };
        });
    }

    /// y (rows × n) = A · B, A given as [`pair_rows`] of k, on the calling thread: the
    /// probabilities times the values in attention, for one block of queries.
    pub fn product_rows(&self, a: &[u32], rows: usize, y: &mut [f32]) {
        assert!(available(), "this processor has no AVX-512 BF16");
        assert_eq!(
            self.kernel,
            Kernel::Avx512,
            "rows of pairs feed the AVX-512 kernel"
        );
        assert!(a.len() >= rows * self.pp && y.len() >= rows * self.n);
        let y = crate::cpu::Out(y.as_mut_ptr());
        // SAFETY: as asserted.
        unsafe { self.block(a, 0..rows, 0..self.n.div_ceil(NR), None, y, false) };
    }

    /// Rows `tokens` of y (n wide) = those rows of A · `panels` of B + bias: each pair
    /// of panels passes over all the rows, which stay in the second-level cache. When
    /// `gated`, y is n/2 wide and takes each pair's values × GELU(its gates).
    ///
    /// # Safety
    /// [`available`] must be true, A must hold those rows (`pp` words apart), y those
    /// rows of n, and no one else may touch those rows at those panels' columns.
    unsafe fn block(
        &self,
        a: &[u32],
        tokens: std::ops::Range<usize>,
        panels: std::ops::Range<usize>,
        bias: Option<&[f32]>,
        y: crate::cpu::Out,
        gated: bool,
    ) {
        let (pp, n) = (self.pp, self.n);
        // A gated tile's sums, values then gates, before they are gated into y.
        let mut tile = [0f32; MR * 2 * NR];
        if tokens.is_empty() {
            return;
        }
        // One pass over all of k: a tile's sums go to y once. (Passes of 128 pairs,
        // which kept the weights' slice in the first-level cache, wrote and read y again
        // per pass, and were slower at every UNet shape; the panels stream from the
        // second-level cache fast enough.)
        for p in panels.clone().step_by(2) {
            // Panels two at a time (the last alone when their number is odd).
            let two = p + 1 < panels.end;
            let j0 = p * NR;
            let w = (if two { 2 * NR } else { NR }).min(n - j0);
            let panel = |p: usize| self.panels[p * pp * NR..].as_ptr();
            let start = match bias {
                Some(b) => Start::Bias(&b[j0..j0 + w]),
                None => Start::Zero,
            };
            for r0 in tokens.clone().step_by(MR) {
                let valid = MR.min(tokens.end - r0);
                let at: [*const u32; MR] =
                    std::array::from_fn(|r| a[(r0 + r.min(valid - 1)) * pp..].as_ptr());
                let shape = (valid, w);
                if gated {
                    let t = tile.as_mut_ptr();
                    kernel_rows::<4>(at, &[panel(p), panel(p + 1)], pp, t, 2 * NR, shape, start);
                    let half = n / 2;
                    for (r, sums) in tile.chunks_exact(2 * NR).take(valid).enumerate() {
                        let out =
                            std::slice::from_raw_parts_mut(y.at((r0 + r) * half + p / 2 * NR), NR);
                        crate::fastmath::geglu_rows(sums, out, NR);
                    }
                } else if two {
                    let to = y.at(r0 * n + j0);
                    kernel_rows::<4>(at, &[panel(p), panel(p + 1)], pp, to, n, shape, start);
                } else {
                    kernel_rows::<2>(at, &[panel(p)], pp, y.at(r0 * n + j0), n, shape, start);
                }
            }
        }
    }
}

/// Where a tile's sums start.
#[derive(Clone, Copy)]
enum Start<'a> {
    Zero,
    /// The tile's columns of the bias, in every row.
    Bias(&'a [f32]),
}

/// y's rows (`valid` of them, `w` columns, rows `y_rs` apart) = start + Σ over `pairs`
/// of the MR rows' pairs (broadcast) × V/2 adjacent panels' NR pairs each (`panels`,
/// each at its first pair; V vectors of 16 columns). With two panels 24 sums
/// stay in registers, enough to cover `vdpbf16ps`'s latency at two a cycle, and four
/// vector loads feed six broadcasts.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn kernel_rows<const V: usize>(
    a: [*const u32; MR],
    panels: &[*const u32],
    pairs: usize,
    y: *mut f32,
    y_rs: usize,
    (valid, w): (usize, usize),
    start: Start,
) {
    debug_assert_eq!(panels.len() * 2, V);
    let masks: [u16; V] =
        std::array::from_fn(|i| ((1u32 << w.saturating_sub(16 * i).min(16)) - 1) as u16);
    let mut acc = [[_mm512_setzero_ps(); V]; MR];
    match start {
        Start::Zero => {}
        Start::Bias(b) => {
            let bv: [__m512; V] = std::array::from_fn(|i| {
                _mm512_maskz_loadu_ps(masks[i], b.as_ptr().wrapping_add(16 * i))
            });
            acc = [bv; MR];
        }
    }
    let pb: [*const u32; V] = std::array::from_fn(|i| panels[i / 2].wrapping_add(16 * (i % 2)));
    for p in 0..pairs {
        let b: [__m512bh; V] = std::array::from_fn(|i| {
            std::mem::transmute(_mm512_loadu_si512(pb[i].add(p * NR).cast()))
        });
        for (r, acc) in acc.iter_mut().enumerate() {
            let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(*a[r].add(p) as i32));
            for (acc, &b) in acc.iter_mut().zip(&b) {
                *acc = _mm512_dpbf16_ps(*acc, av, b);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate().take(valid) {
        let row = y.add(r * y_rs);
        for (i, &v) in acc.iter().enumerate() {
            _mm512_mask_storeu_ps(row.wrapping_add(16 * i), masks[i], v);
        }
    }
}

impl Bf16Weights {
    /// Pairs of k a panel of B holds for these weights (what
    /// [`Bf16Weights::product_panel`] reads; rows past k must be zero).
    pub fn panel_pairs(&self) -> usize {
        self.pp
    }

    /// dst (m × NR, rows `dst_rs` apart) = A · one panel of B packed by
    /// [`pack_panel_with`], its first `w` columns stored.
    ///
    /// # Safety
    /// [`available`] must be true; `dst` must cover m rows of `w` at `dst_rs`, and no
    /// one else may touch them meanwhile.
    pub unsafe fn product_panel(&self, panel: &[u32], w: usize, dst: *mut f32, dst_rs: usize) {
        assert!(panel.len() >= self.pp * NR && w <= NR);
        self.panel_product(panel, 0, w, dst, dst_rs);
    }
}

/// Packs a panel of B (k × NR) whose rows `row(kk)` locates (called for kk = 0, 1, 2, …
/// in turn): `Some((at, lanes))` reads
/// column j from `at + j` for each bit j set in `lanes` (zero elsewhere; the address of
/// a lane not set is never read), `None` is a row of zeros. A convolution's patches go
/// from its input to the panel this way, with no copy in between. Rows of the panel
/// past k's pairs are left as they are (zero them once).
///
/// # Safety
/// [`available`] must be true, `panel` must hold k's pairs × NR words, and every lane
/// `row` sets must be readable.
#[target_feature(enable = "avx512f,avx512bf16,avx512bw")]
pub unsafe fn pack_panel_with(
    k: usize,
    panel: &mut [u32],
    mut row: impl FnMut(usize) -> Option<(*const f32, u32)>,
) {
    #[target_feature(enable = "avx512f")]
    unsafe fn load(at: Option<(*const f32, u32)>) -> [__m512; 2] {
        match at {
            None => [_mm512_setzero_ps(); 2],
            Some((p, lanes)) => [
                _mm512_maskz_loadu_ps(lanes as u16, p),
                _mm512_maskz_loadu_ps((lanes >> 16) as u16, p.wrapping_add(16)),
            ],
        }
    }
    let pairs = k.div_ceil(2);
    assert!(panel.len() >= pairs * NR);
    for p in 0..pairs {
        let even = load(row(2 * p));
        let odd = if 2 * p + 1 < k {
            load(row(2 * p + 1))
        } else {
            [_mm512_setzero_ps(); 2]
        };
        for half in 0..2 {
            let pair = pairs_of(even[half], odd[half]);
            _mm512_storeu_si512(panel.as_mut_ptr().add(p * NR + half * 16).cast(), pair);
        }
    }
}

/// Sixteen words of two bf16 each: `even`'s number in the low half, `odd`'s in the high
/// half (what `vdpbf16ps` multiplies as a pair).
///
/// # Safety
/// The processor must have AVX-512 BF16.
#[target_feature(enable = "avx512f,avx512bf16,avx512bw")]
#[inline]
pub(crate) unsafe fn pairs_of(even: __m512, odd: __m512) -> __m512i {
    let e16 = _mm512_cvtepu16_epi32(std::mem::transmute::<__m256bh, __m256i>(
        _mm512_cvtneps_pbh(even),
    ));
    let o16 = _mm512_cvtepu16_epi32(std::mem::transmute::<__m256bh, __m256i>(
        _mm512_cvtneps_pbh(odd),
    ));
    _mm512_or_si512(e16, _mm512_slli_epi32(o16, 16))
}

/// One row of A as bf16 pairs: dst[p] = (scale·src[2p], scale·src[2p+1]), zero past
/// src's end.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pack_row(src: &[f32], scale: f32, dst: &mut [u32]) {
    let s = _mm512_set1_ps(scale);
    let whole = src.len() / 32;
    for i in 0..whole {
        let lo = _mm512_mul_ps(_mm512_loadu_ps(src.as_ptr().add(32 * i)), s);
        let hi = _mm512_mul_ps(_mm512_loadu_ps(src.as_ptr().add(32 * i + 16)), s);
        // Lower half of the result from the second operand: lo's 16, then hi's.
        let v: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
        _mm512_storeu_si512(dst.as_mut_ptr().add(16 * i).cast(), v);
    }
    let rest = &src[32 * whole..];
    for (p, d) in dst[16 * whole..].iter_mut().enumerate() {
        let at = |i: usize| rest.get(i).map_or(0.0, |v| v * scale);
        *d = to_bf16(at(2 * p)) as u32 | ((to_bf16(at(2 * p + 1)) as u32) << 16);
    }
}

/// Packs columns j0..j0+w of b into pairs: for each pair of k, NR 32-bit words (low
/// half: even k), zero beyond w and k.
#[target_feature(enable = "avx512f,avx512bf16,avx512bw")]
unsafe fn pack_panel(
    b: *const f32,
    (b_rs, b_cs): (usize, usize),
    k: usize,
    j0: usize,
    w: usize,
    panel: &mut [u32],
) {
    let pairs = k.div_ceil(2);
    let mut even = [0f32; NR];
    let mut odd = [0f32; NR];
    let row = |out: &mut [f32; NR], kk: usize| {
        let src = b.add(kk * b_rs + j0 * b_cs);
        if b_cs == 1 {
            std::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), w);
        } else {
            for (j, v) in out[..w].iter_mut().enumerate() {
                *v = *src.add(j * b_cs);
            }
        }
    };
    for p in 0..pairs {
        let (k0, k1) = (2 * p, 2 * p + 1);
        row(&mut even, k0);
        if k1 < k {
            row(&mut odd, k1);
        } else {
            odd[..w].fill(0.0);
        }
        for half in 0..2 {
            let e = _mm512_loadu_ps(even.as_ptr().add(half * 16));
            let o = _mm512_loadu_ps(odd.as_ptr().add(half * 16));
            let pair = pairs_of(e, o);
            _mm512_storeu_si512(panel.as_mut_ptr().add(p * NR + half * 16).cast(), pair);
        }
    }
    if w < NR {
        // Columns past w were packed from stale values: zero them.
        for p in 0..pairs {
            panel[p * NR + w..(p + 1) * NR].fill(0);
        }
    }
}

/// tile (MR×NR) = Σ over pairs of A's MR broadcast pairs × the panel's NR pairs.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn kernel(a: &[u32], panel: &[u32], pairs: usize, tile: &mut [f32; MR * NR]) {
    let mut acc = [_mm512_setzero_ps(); MR * 2];
    let (mut pa, mut pb) = (a.as_ptr(), panel.as_ptr());
    for _ in 0..pairs {
        let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(pb.cast()));
        let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(pb.add(16).cast()));
        for r in 0..MR {
            let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(*pa.add(r) as i32));
            acc[2 * r] = _mm512_dpbf16_ps(acc[2 * r], av, b0);
            acc[2 * r + 1] = _mm512_dpbf16_ps(acc[2 * r + 1], av, b1);
        }
        pa = pa.add(MR);
        pb = pb.add(NR);
    }
    for r in 0..MR {
        _mm512_storeu_ps(tile.as_mut_ptr().add(r * NR), acc[2 * r]);
        _mm512_storeu_ps(tile.as_mut_ptr().add(r * NR + 16), acc[2 * r + 1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bf(x: f32) -> f32 {
        f32::from_bits((to_bf16(x) as u32) << 16)
    }

    /// Against the same product summed in f64 from the bf16-rounded inputs: only the
    /// f32 sums' rounding differs. Odd sizes exercise every edge.
    #[test]
    fn the_product_is_the_bf16_inputs_product() {
        if !available() {
            eprintln!("skipped: no AVX-512 BF16 here");
            return;
        }
        let (m, k, n) = (13, 37, 45);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 104729) % 97) as f32 / 40.0 - 1.2)
            .collect();
        for kernel in kernels() {
            let w = Bf16Weights::pack_for(kernel, &a, m, k, 1.0);
            let mut c = vec![f32::NAN; m * (n + 3)];
            w.matmul(&b, n, n, &mut c, n + 3);
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|t| bf(a[i * k + t]) as f64 * bf(b[t * n + j]) as f64)
                        .sum();
                    let got = c[i * (n + 3) + j] as f64;
                    assert!(
                        (got - want).abs() < 1e-4,
                        "{kernel:?} ({i},{j}): {got} vs {want}"
                    );
                }
                assert!(c[i * (n + 3) + n].is_nan(), "nothing written past n");
            }
        }
    }

    /// Softmax's numerators as pairs: each is e^(x − max) to bf16's rounding (2⁻⁸ of
    /// it, counting the polynomial's 3e-6), the sum is the f64 sum's to 1e-5, lanes past
    /// the row's end are zero, and the pairs hold (even, odd) in that order. Rows shorter
    /// and longer than one vector, odd and even, with scores far below the maximum (which
    /// must come out zero or tiny, never garbage), a maximum in the last lane, and all
    /// scores in the thousands (where rounding max·log₂e would be off by 1e-4).
    #[test]
    fn exponentials_to_pairs_are_softmaxs_numerators() {
        if !available() {
            eprintln!("skipped: no AVX-512 BF16 here");
            return;
        }
        let lens: [usize; 14] = [1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 77, 100, 4096];
        for (len, offset) in lens.into_iter().flat_map(|l| [(l, 0.0), (l, 3000.0)]) {
            let row: Vec<f32> = (0..len)
                .map(|i| match i {
                    _ if i + 1 == len => 9.5,
                    _ if i % 7 == 0 => -200.0 - i as f32,
                    _ => ((i * 7919) % 211) as f32 / 19.0 - 6.0,
                })
                .map(|x| x + offset)
                .collect();
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let pairs = len.div_ceil(2);
            let mut dst = vec![u32::MAX; pairs + 3];
            let sum = exps_to_pairs(&row, &mut dst[..pairs + 1]);
            assert_eq!(dst[pairs], 0, "{len}: the pair past the row is zeroed");
            assert_eq!(dst[pairs + 1], u32::MAX, "{len}: nothing written past dst");
            let mut want_sum = 0f64;
            for (i, &x) in row.iter().enumerate() {
                let want = (x as f64 - max).exp();
                want_sum += want;
                let word = dst[i / 2];
                let half = if i % 2 == 0 {
                    word & 0xffff
                } else {
                    word >> 16
                };
                let got = f32::from_bits(half << 16) as f64;
                assert!(
                    (got - want).abs() <= want / 256.0 + 1e-37,
                    "{len}, {i}: e^({x} - {max}) = {want}, got {got}"
                );
            }
            if len % 2 == 1 {
                assert_eq!(
                    dst[pairs - 1] >> 16,
                    0,
                    "{len}: the odd end's pair is half zero"
                );
            }
            assert!(
                (sum as f64 - want_sum).abs() <= 1e-5 * want_sum,
                "{len}: sum {sum} vs {want_sum}"
            );
        }
    }

    /// The kernels this processor runs: AVX-512 BF16 always (the callers check), AMX
    /// where present (an AMX-less machine tests one).
    fn kernels() -> Vec<Kernel> {
        let mut k = vec![Kernel::Avx512];
        if crate::amx::available() {
            k.push(Kernel::Amx);
        } else {
            eprintln!("no AMX here: its kernel is not tested");
        }
        k
    }

    /// Sizes past one AMX tile in every direction (m > 32, k > 32 and odd, n past one
    /// panel), with a scale, both kernels alike.
    #[test]
    fn both_kernels_agree_past_a_tile() {
        if !available() {
            return;
        }
        let (m, k, n) = (70, 99, 75);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 31) % 53) as f32 / 26.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 17) % 61) as f32 / 30.0 - 1.0)
            .collect();
        let want: Vec<f64> = (0..m * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                (0..k)
                    .map(|t| bf(a[i * k + t] * 0.5) as f64 * bf(b[t * n + j]) as f64)
                    .sum()
            })
            .collect();
        for kernel in kernels() {
            let w = Bf16Weights::pack_for(kernel, &a, m, k, 0.5);
            let mut c = vec![0f32; m * n];
            w.matmul(&b, n, n, &mut c, n);
            for (ij, (&got, &want)) in c.iter().zip(&want).enumerate() {
                assert!(
                    (got as f64 - want).abs() < 1e-4,
                    "{kernel:?} ({}, {}): {got} vs {want}",
                    ij / n,
                    ij % n
                );
            }
        }
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 is halfway between 1 and the next bf16: even (1.0) wins.
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
    }
}
