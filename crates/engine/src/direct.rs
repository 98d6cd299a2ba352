//! Direct bf16 convolution on AVX-512 BF16, for "same"-padded convolutions at stride 1
//! and 3×3 ones at stride 2: TAESD's 64-channel layers at up to 512×512 and the UNet's.
//! The product-based path gathers nine rows of patches per input channel and packs them
//! to bf16 for every output pixel (im2col); with 64 outputs that packing cost more than
//! the products. Here the input is converted once to bf16, two channels per 32-bit word
//! (what `vdpbf16ps` multiplies in pairs), and read in place; or it comes as such pairs
//! from the layer before, which can write them (TAESD does, `taesd::paired`).
//!
//! A block of output channels × a run of output pixels (8 × 48 or 6 × 64) stay in 24
//! registers while every pair of input channels and every tap adds to them. A run's
//! pixels are consecutive in the flat plane, so a run can cross rows; each tap reads
//! the input shifted by its offset, and the lanes that would read across the picture's
//! edge are masked off (masked loads read nothing there, so zero padding costs
//! nothing). At stride 2 the input is first split into its four phases (even or odd
//! rows × columns), planes at the output's size, each read at its own taps. Outputs
//! that are not a whole block are padded with zero weights and not stored. The same
//! scheme runs MODNet in `articket-matting` (`direct.rs`) in f32. docs/benchmarks.md
//! has the figures.

use rayon::prelude::*;

use crate::bf16::available;

/// The kernel's tiles: (output channels per block, vectors of 16 pixels per run), 24
/// accumulators each. Six by four (runs of 64 pixels) reads 4 vectors and 6
/// weights per 24 products, and tiles the UNet's planes (8×8 to 64×64) whole, where runs
/// of 48 leave part of the last one empty (a third of an 8×8 plane's two). On Zen 5 it
/// took the UNet's convolutions from 400–720 to 670–830 GFLOP/s (`bench gemm`, 8×8 the
/// most). Eight by three (runs of 48) reads 3 and 8, and was as fast or faster on
/// TAESD's 64 channels at 128×128 to 512×512. Four by six (runs of 96) is for
/// convolutions of at most four outputs (TAESD's last, to RGB at 512×512), which the
/// others pad to a block of 6 or 8.
const TILES: [(usize, usize); 3] = [(6, 4), (8, 3), (4, 6)];

/// The tile for `out` outputs over a plane of `plane` pixels: runs of 64 up to 64×64.
fn tile_for(out: usize, plane: usize) -> (usize, usize) {
    if out <= 4 {
        TILES[2]
    } else if plane <= 64 * 64 {
        TILES[0]
    } else {
        TILES[1]
    }
}
/// Channel pairs taken tap by tap before the next ones: their rows share the first-level
/// cache.
const GROUP: usize = 8;
/// Runs per task: an output block's weights are read once for all of them.
const BAND: usize = 4;

/// What the kernel reads: b images of cin channels, h × w.
#[derive(Clone, Copy)]
pub enum Input<'a> {
    /// In f32 (b × cin × h × w); converted to bf16 pairs first.
    F32(&'a [f32]),
    /// As bf16 pairs (b × ⌈cin/2⌉ × h × w; low half the even channel), as
    /// [`Output::Pairs`] writes them: read as they are.
    Pairs(&'a [u32]),
}

/// Where the kernel writes: b images of `out` channels at the output's size.
pub enum Output<'a> {
    F32(&'a mut [f32]),
    /// bf16 pairs of channels, laid out as [`Input::Pairs`] reads them, so that the next
    /// convolution needs no conversion (and half the memory traffic).
    Pairs(&'a mut [u32]),
}

/// A tensor added before the ReLU, laid out as the output.
#[derive(Clone, Copy)]
pub enum Residual<'a> {
    F32(&'a [f32]),
    Pairs(&'a [u32]),
}

/// What the kernel does to its sums before it stores them, in this order.
#[derive(Clone, Copy, Default)]
pub struct Epilogue<'a> {
    /// Added per output channel: `out` numbers, or `b × out` for a batch of b whose
    /// images each have their own (a UNet block's bias plus each image's timestep).
    pub bias: Option<&'a [f32]>,
    /// Added element by element: a residual block's skip connection, so that the sum
    /// takes no pass of its own.
    pub residual: Option<Residual<'a>>,
    /// ReLU.
    pub relu: bool,
}

/// Channel pairs that share a set of taps: all of them at stride 1; at stride 2 each
/// of the input's four phases (even or odd row, even or odd column), which after a
/// space-to-depth rearrangement is a plane at the output's size read at 1, 2 or 4 of
/// the offsets (−1 or 0, −1 or 0).
struct Segment {
    /// The first of its pair planes in the prepared input.
    first: usize,
    /// Its taps: indices into [`DirectWeights::offsets`].
    taps: Vec<usize>,
    /// Where its weights start in an output block's, in words of `ob`.
    at: usize,
}

/// A segment's tap while packing: (offset index, ky, kx).
type Tap = (usize, usize, usize);

/// A convolution's weights as the kernel reads them: per block of `ob` outputs, per
/// segment, per pair of input channels, per tap, the block's outputs' pairs (low half:
/// the even channel). Outputs past `out` (up to the block) have zero weights.
pub struct DirectWeights {
    /// The tile packed for (a [`TILES`] entry): output channels per block, vectors per
    /// run.
    tile: (usize, usize),
    out: usize,
    cin: usize,
    stride: usize,
    /// The taps' (row, column) offsets on the prepared planes.
    offsets: Vec<(isize, isize)>,
    segments: Vec<Segment>,
    /// Words of `ob` per output block.
    per_block: usize,
    packed: Vec<u32>,
}

impl DirectWeights {
    /// Whether the kernel takes a convolution of this shape on this processor: "same"
    /// at stride 1 with an odd kernel, or 3×3 at stride 2 with padding 1 (which also
    /// needs an even input, [`DirectWeights::takes`]).
    pub fn fits(k: usize, stride: usize, padding: usize) -> bool {
        let shape = match stride {
            1 => k % 2 == 1 && padding == k / 2,
            2 => k == 3 && padding == 1,
            _ => false,
        };
        shape && available()
    }

    /// Whether these weights take an input of h × w.
    pub fn takes(&self, h: usize, w: usize) -> bool {
        self.stride == 1 || (h.is_multiple_of(2) && w.is_multiple_of(2))
    }

    /// Packs ONNX/PyTorch-ordered weights (out × cin × k × k) for a convolution that
    /// [`DirectWeights::fits`], in the tile for outputs of `plane` pixels (any plane
    /// runs; this one runs fastest).
    pub fn pack(
        w: &[f32],
        out: usize,
        cin: usize,
        k: usize,
        stride: usize,
        plane: usize,
    ) -> DirectWeights {
        Self::pack_tiled(w, (out, cin, k, stride), tile_for(out, plane))
    }

    fn pack_tiled(
        w: &[f32],
        (out, cin, k, stride): (usize, usize, usize, usize),
        tile: (usize, usize),
    ) -> DirectWeights {
        assert!(w.len() >= out * cin * k * k && (stride == 1 || k == 3));
        let ob = tile.0;
        let pairs = cin.div_ceil(2);
        // Per segment: its taps as (offset index, ky, kx).
        let (offsets, segments): (Vec<(isize, isize)>, Vec<Vec<Tap>>) = if stride == 1 {
            let pad = (k / 2) as isize;
            let offsets = (0..k * k)
                .map(|t| ((t / k) as isize - pad, (t % k) as isize - pad))
                .collect();
            (
                offsets,
                vec![(0..k * k).map(|t| (t, t / k, t % k)).collect()],
            )
        } else {
            // Input row 2·oy + ky − 1: ky = 1 is the even row oy (offset 0); ky = 0
            // and 2 the odd rows oy − 1 and oy (offsets −1 and 0). Columns alike.
            let along = |odd: bool| -> Vec<(isize, usize)> {
                if odd {
                    vec![(-1, 0), (0, 2)]
                } else {
                    vec![(0, 1)]
                }
            };
            let offsets = vec![(-1, -1), (-1, 0), (0, -1), (0, 0)];
            let segments = [(false, false), (false, true), (true, false), (true, true)]
                .iter()
                .map(|&(dy, dx)| {
                    let mut taps = Vec::new();
                    for (oy, ky) in along(dy) {
                        for (ox, kx) in along(dx) {
                            taps.push((((oy + 1) * 2 + ox + 1) as usize, ky, kx));
                        }
                    }
                    taps
                })
                .collect();
            (offsets, segments)
        };
        let mut at = 0;
        let segs: Vec<Segment> = segments
            .iter()
            .enumerate()
            .map(|(i, taps)| {
                let seg = Segment {
                    first: i * pairs,
                    taps: taps.iter().map(|t| t.0).collect(),
                    at,
                };
                at += pairs * taps.len();
                seg
            })
            .collect();
        let per_block = at;
        let blocks = out.div_ceil(ob);
        let mut packed = vec![0u32; blocks * per_block * ob];
        for o in 0..out {
            let (b, lane) = (o / ob, o % ob);
            for (seg, taps) in segs.iter().zip(&segments) {
                for cp in 0..pairs {
                    for (ti, &(_, ky, kx)) in taps.iter().enumerate() {
                        let at = |c: usize| {
                            if c < cin {
                                u32::from(crate::bf16::to_bf16(
                                    w[((o * cin + c) * k + ky) * k + kx],
                                ))
                            } else {
                                0
                            }
                        };
                        let word = b * per_block + seg.at + cp * taps.len() + ti;
                        packed[word * ob + lane] = at(2 * cp) | (at(2 * cp + 1) << 16);
                    }
                }
            }
        }
        DirectWeights {
            tile,
            out,
            cin,
            stride,
            offsets,
            segments: segs,
            per_block,
            packed,
        }
    }

    pub fn out(&self) -> usize {
        self.out
    }

    /// The output's size for an input of h × w.
    pub fn out_size(&self, h: usize, w: usize) -> (usize, usize) {
        (h / self.stride, w / self.stride)
    }

    /// y = the convolution of x (b images of h × w), then the epilogue; on rayon's
    /// threads.
    pub fn run(&self, x: Input, (b, h, w): (usize, usize, usize), ep: Epilogue, y: Output) {
        assert!(available(), "this processor has no AVX-512 BF16");
        assert!(self.takes(h, w), "stride 2 takes even sizes only");
        let (cin, out, pairs) = (self.cin, self.out, self.cin.div_ceil(2));
        let (oh, ow) = self.out_size(h, w);
        let (plane, in_plane) = (oh * ow, h * w);
        let out_planes = match y {
            Output::F32(_) => out,
            Output::Pairs(_) => out.div_ceil(2),
        };
        let out_len = b * out_planes * plane;
        match (&x, &y) {
            (Input::F32(x), _) => assert!(x.len() >= b * cin * in_plane),
            (Input::Pairs(x), _) => assert!(x.len() >= b * pairs * in_plane),
        }
        let dst = match y {
            Output::F32(y) => {
                assert!(y.len() >= out_len);
                Dst::F32(y.as_mut_ptr())
            }
            Output::Pairs(y) => {
                assert!(y.len() >= out_len);
                Dst::Pairs(y.as_mut_ptr())
            }
        };
        assert!(ep.bias.is_none_or(|b| b.len() >= out));
        match (ep.residual, dst) {
            (None, _) => {}
            (Some(Residual::F32(r)), Dst::F32(_)) => assert!(r.len() >= out_len),
            (Some(Residual::Pairs(r)), Dst::Pairs(_)) => assert!(r.len() >= out_len),
            _ => panic!("the residual must be laid out as the output"),
        }
        if plane == 0 {
            return;
        }
        let planes_in = self.segments.len() * pairs;
        let prepare = self.stride != 1 || matches!(x, Input::F32(_));
        // Not zeroed first: `prepare` writes every word before the kernel reads it
        // (zeroing the 32 MiB of TAESD's stride-2 input at 512×512 took 2–3 ms).
        let mut prepared =
            crate::cpu::Uninit::<u32>::new(if prepare { planes_in * plane } else { 0 });
        // SAFETY: as above.
        let xp = unsafe { prepared.for_writing() };
        let (ob, nv) = self.tile;
        let runs = plane.div_ceil(16 * nv);
        let bands = runs.div_ceil(BAND);
        for bi in 0..b {
            if prepare {
                self.prepare(x, bi, (h, w), xp);
            }
            let xs: &[u32] = match x {
                Input::Pairs(x) if !prepare => &x[bi * pairs * plane..][..pairs * plane],
                _ => xp,
            };
            let dst = dst.image(bi * out_planes * plane);
            let ep = Epilogue {
                bias: ep.bias.map(|all| {
                    if all.len() == b * out {
                        &all[bi * out..][..out]
                    } else {
                        all
                    }
                }),
                residual: ep.residual.map(|r| match r {
                    Residual::F32(r) => Residual::F32(&r[bi * out_planes * plane..]),
                    Residual::Pairs(r) => Residual::Pairs(&r[bi * out_planes * plane..]),
                }),
                ..ep
            };
            // Small planes (the UNet's 8×8 and 16×16) have few bands: their output
            // blocks are split among tasks too, so that every thread has work.
            let blocks = out.div_ceil(ob);
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
                // pixels of its own output planes, which `dst` covers (asserted).
                unsafe {
                    match self.tile {
                        (6, 4) => self.band::<6, 4>(xs, (oh, ow), (runs, blocks), ep, dst),
                        (8, 3) => self.band::<8, 3>(xs, (oh, ow), (runs, blocks), ep, dst),
                        _ => self.band::<4, 6>(xs, (oh, ow), (runs, blocks), ep, dst),
                    }
                };
            });
        }
    }

    /// Image `bi` of `x` as the kernel reads it, into every word of `xp`: bf16 pairs, at
    /// stride 2 rearranged into the four phases' planes at the output's size
    /// (phase-major).
    fn prepare(&self, x: Input, bi: usize, (h, w): (usize, usize), xp: &mut [u32]) {
        let (cin, pairs) = (self.cin, self.cin.div_ceil(2));
        let in_plane = h * w;
        let (oh, ow) = self.out_size(h, w);
        let plane = oh * ow;
        match x {
            Input::F32(x) if self.stride == 1 => {
                let img = &x[bi * cin * in_plane..][..cin * in_plane];
                xp.par_chunks_mut(plane).enumerate().for_each(|(cp, dst)| {
                    let even = &img[2 * cp * plane..][..plane];
                    let odd = (2 * cp + 1 < cin).then(|| &img[(2 * cp + 1) * plane..][..plane]);
                    // SAFETY: the processor has the features (asserted by run).
                    unsafe { to_pairs(even, odd, dst) };
                });
            }
            Input::F32(x) => {
                let img = &x[bi * cin * in_plane..][..cin * in_plane];
                fill_phases(xp, pairs, (oh, ow), |cp, y, d0, d1| {
                    let even = &img[2 * cp * in_plane + y * w..][..w];
                    let odd =
                        (2 * cp + 1 < cin).then(|| &img[(2 * cp + 1) * in_plane + y * w..][..w]);
                    // SAFETY: the processor has the features (asserted by run).
                    unsafe { to_pairs_split(even, odd, d0, d1) };
                });
            }
            Input::Pairs(x) => {
                let img = &x[bi * pairs * in_plane..][..pairs * in_plane];
                fill_phases(xp, pairs, (oh, ow), |cp, y, d0, d1| {
                    let line = &img[cp * in_plane + y * w..][..w];
                    // SAFETY: the processor has the features (asserted by run).
                    unsafe { split_columns(line, d0, d1) };
                });
            }
        }
    }

    /// Output `blocks` (of OB) over `runs` (of 16·NV pixels) of one image, from its prepared pair
    /// planes `xp` at the output's size.
    ///
    /// # Safety
    /// [`available`] must be true; `y` must cover this image's output planes of h×w,
    /// which no one else writes at these runs' pixels and blocks.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bf16,avx512bw")]
    unsafe fn band<const OB: usize, const NV: usize>(
        &self,
        xp: &[u32],
        (h, w): (usize, usize),
        (runs, blocks): (std::ops::Range<usize>, std::ops::Range<usize>),
        ep: Epilogue,
        y: Dst,
    ) {
        use std::arch::x86_64::*;
        let px = 16 * NV;
        let plane = h * w;
        let offsets = &self.offsets;
        let shift: Vec<isize> = offsets
            .iter()
            .map(|&(dy, dx)| dy * w as isize + dx)
            .collect();
        // Per run and tap offset, the lanes of each vector that read inside the picture.
        let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let n = offsets.len();
        let mut masks = vec![[0u16; NV]; runs.len() * n];
        for (r, masks) in runs.clone().zip(masks.chunks_exact_mut(n)) {
            let p0 = r * px;
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
                for (mask, &(dy, dx)) in masks.iter_mut().zip(offsets) {
                    let r = _mm512_add_epi32(row, _mm512_set1_epi32(dy as i32));
                    let c = _mm512_add_epi32(col, _mm512_set1_epi32(dx as i32));
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
        let reach = shift.iter().copied().max().unwrap_or(0).max(0) as usize;
        let ahead = (runs.end + BAND) * px + reach;
        let planes_in = xp.len() / plane;
        let spread = blocks.len().max(1);
        for (i, b) in blocks.clone().enumerate() {
            if ahead < plane {
                let end = (ahead + BAND * px).min(plane);
                for cp in (i * planes_in / spread)..((i + 1) * planes_in / spread) {
                    let row = xp.as_ptr().wrapping_add(cp * plane);
                    for at in (ahead..end).step_by(16) {
                        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(at).cast());
                    }
                }
            }
            // The residual this block adds over the band is a residual block's input,
            // last read long before: fetched while the runs' sums are made, instead of
            // waited for by the stores. TAESD's convolutions with a residual, against
            // those without in the same runs: at 512×512 30.6–32.9 ms against 25.5–27.4
            // before, 28.3–29.8 against 26.0–27.2 after; at 256×256 7.2–7.7 against
            // 5.9–6.5 before, 6.5–6.7 against 6.0–6.3 after.
            if let Some(residual) = ep.residual {
                let (start, end) = (runs.start * px, (runs.end * px).min(plane));
                let (base, planes): (*const u32, _) = match residual {
                    Residual::F32(r) => (r.as_ptr().cast(), b * OB..((b + 1) * OB).min(self.out)),
                    Residual::Pairs(r) => (
                        r.as_ptr(),
                        b * OB / 2..((b + 1) * OB / 2).min(self.out.div_ceil(2)),
                    ),
                };
                for j in planes {
                    let row = base.wrapping_add(j * plane);
                    for at in (start..end).step_by(16) {
                        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(at).cast());
                    }
                }
            }
            let wb = self.packed.as_ptr().add(b * self.per_block * OB);
            for (r, masks) in runs.clone().zip(masks.chunks_exact(n)) {
                let p0 = r * px;
                // acc[o][i]: output channel b·OB + o, pixels p0 + 16i..+16.
                let mut acc = [[_mm512_setzero_ps(); NV]; OB];
                if let Some(bias) = ep.bias {
                    for (o, acc) in acc.iter_mut().enumerate() {
                        if b * OB + o < self.out {
                            *acc = [_mm512_set1_ps(bias[b * OB + o]); NV];
                        }
                    }
                }
                for seg in &self.segments {
                    let (first, taps) = (seg.first, seg.taps.len());
                    let pairs = self.cin.div_ceil(2);
                    for c0 in (0..pairs).step_by(GROUP) {
                        let group = c0..(c0 + GROUP).min(pairs);
                        for (ti, &t) in seg.taps.iter().enumerate() {
                            let m = &masks[t];
                            if m.iter().all(|&m| m == 0) {
                                continue;
                            }
                            // Lanes outside the picture are masked off and never read, so
                            // the address may point outside `xp` (hence wrapping
                            // arithmetic).
                            let mut at = xp
                                .as_ptr()
                                .wrapping_offset(((first + c0) * plane + p0) as isize + shift[t]);
                            let mut ws = wb.add((seg.at + c0 * taps + ti) * OB);
                            for _ in group.clone() {
                                let v: [__m512bh; NV] = std::array::from_fn(|i| {
                                    std::mem::transmute::<__m512i, __m512bh>(
                                        _mm512_maskz_loadu_epi32(
                                            m[i],
                                            at.wrapping_add(16 * i).cast(),
                                        ),
                                    )
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
                }
                // Stored by a function of its own, the sums passed by value: indexed
                // there, they would otherwise live in memory through the loop above.
                self.store::<OB, NV>(acc, (b, p0, plane), ep, y);
            }
        }
    }

    /// Stores a run's sums for output block `b`, pixels p0.. of planes of `plane`,
    /// through the epilogue.
    ///
    /// # Safety
    /// As [`DirectWeights::band`].
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bf16,avx512bw")]
    #[inline(never)]
    unsafe fn store<const OB: usize, const NV: usize>(
        &self,
        acc: [[std::arch::x86_64::__m512; NV]; OB],
        (b, p0, plane): (usize, usize, usize),
        ep: Epilogue,
        y: Dst,
    ) {
        use std::arch::x86_64::*;
        let tail = plane - p0;
        let mut mask = [0u16; NV];
        for (i, m) in mask.iter_mut().enumerate() {
            *m = ((1u32 << tail.saturating_sub(16 * i).min(16)) - 1) as u16;
        }
        let zero = _mm512_setzero_ps();
        match y {
            Dst::F32(y) => {
                // The padding's channels have no lanes.
                for (o, acc) in acc.iter().enumerate() {
                    let live = if b * OB + o < self.out { u16::MAX } else { 0 };
                    let mask = mask.map(|m| m & live);
                    let at = (b * OB + o) * plane + p0;
                    for (i, &v) in acc.iter().enumerate() {
                        let v = match ep.residual {
                            Some(Residual::F32(r)) => _mm512_add_ps(
                                v,
                                _mm512_maskz_loadu_ps(
                                    mask[i],
                                    r.as_ptr().wrapping_add(at + 16 * i),
                                ),
                            ),
                            _ => v,
                        };
                        let v = if ep.relu { _mm512_max_ps(v, zero) } else { v };
                        _mm512_mask_storeu_ps(y.wrapping_add(at + 16 * i), mask[i], v);
                    }
                }
            }
            Dst::Pairs(y) => {
                let high = _mm512_set1_epi32(0xffff_0000u32 as i32);
                for j in 0..OB / 2 {
                    let live = if b * OB + 2 * j < self.out {
                        u16::MAX
                    } else {
                        0
                    };
                    let mask = mask.map(|m| m & live);
                    let at = (b * OB / 2 + j) * plane + p0;
                    for i in 0..NV {
                        let (mut even, mut odd) = (acc[2 * j][i], acc[2 * j + 1][i]);
                        if let Some(Residual::Pairs(r)) = ep.residual {
                            let r = _mm512_maskz_loadu_epi32(
                                mask[i],
                                r.as_ptr().wrapping_add(at + 16 * i).cast(),
                            );
                            even =
                                _mm512_add_ps(even, _mm512_castsi512_ps(_mm512_slli_epi32(r, 16)));
                            odd =
                                _mm512_add_ps(odd, _mm512_castsi512_ps(_mm512_and_si512(r, high)));
                        }
                        if ep.relu {
                            (even, odd) = (_mm512_max_ps(even, zero), _mm512_max_ps(odd, zero));
                        }
                        let pair = crate::bf16::pairs_of(even, odd);
                        _mm512_mask_storeu_epi32(y.wrapping_add(at + 16 * i).cast(), mask[i], pair);
                    }
                }
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn band<const OB: usize, const NV: usize>(
        &self,
        _: &[u32],
        _: (usize, usize),
        _: (std::ops::Range<usize>, std::ops::Range<usize>),
        _: Epilogue,
        _: Dst,
    ) {
        unreachable!("available() is false here");
    }
}

/// Fills a stride-2 input's prepared planes (phase-major: four phases of `pairs` planes
/// of oh × ow), one task per pair: `row(pair, y, even columns, odd columns)` splits the
/// pair's input row y into the two phases' rows.
fn fill_phases(
    xp: &mut [u32],
    pairs: usize,
    (oh, ow): (usize, usize),
    row: impl Fn(usize, usize, &mut [u32], &mut [u32]) + Sync,
) {
    let plane = oh * ow;
    let mut quarters: Vec<_> = xp
        .chunks_exact_mut(pairs * plane)
        .map(|q| q.chunks_exact_mut(plane))
        .collect();
    let per_pair: Vec<[&mut [u32]; 4]> = (0..pairs)
        .map(|_| std::array::from_fn(|q| quarters[q].next().expect("a plane per pair")))
        .collect();
    per_pair
        .into_par_iter()
        .enumerate()
        .for_each(|(cp, [p00, p01, p10, p11])| {
            for i in 0..oh {
                for (dy, d0, d1) in [(0, &mut *p00, &mut *p01), (1, &mut *p10, &mut *p11)] {
                    row(
                        cp,
                        2 * i + dy,
                        &mut d0[i * ow..][..ow],
                        &mut d1[i * ow..][..ow],
                    );
                }
            }
        });
}

/// dst0[j] = src[2j] and dst1[j] = src[2j + 1]: a row of pairs split into its even and
/// odd columns.
///
/// # Safety
/// The processor must have AVX-512; `src` twice as long as the destinations.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn split_columns(src: &[u32], dst0: &mut [u32], dst1: &mut [u32]) {
    use std::arch::x86_64::*;
    let n = dst0.len();
    assert!(dst1.len() == n && src.len() >= 2 * n);
    let ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for j in (0..n).step_by(16) {
        let left = 2 * (n - j);
        let m0 = ((1u32 << left.min(16)) - 1) as u16;
        let m1 = ((1u32 << left.saturating_sub(16).min(16)) - 1) as u16;
        let a = _mm512_maskz_loadu_epi32(m0, src.as_ptr().add(2 * j).cast());
        let b = _mm512_maskz_loadu_epi32(m1, src.as_ptr().add(2 * j).wrapping_add(16).cast());
        let m = ((1u32 << (n - j).min(16)) - 1) as u16;
        _mm512_mask_storeu_epi32(
            dst0.as_mut_ptr().add(j).cast(),
            m,
            _mm512_permutex2var_epi32(a, ev, b),
        );
        _mm512_mask_storeu_epi32(
            dst1.as_mut_ptr().add(j).cast(),
            m,
            _mm512_permutex2var_epi32(a, od, b),
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn split_columns(_: &[u32], _: &mut [u32], _: &mut [u32]) {
    unreachable!("available() is false here");
}

/// The output's first element of an image, as the kernel's tasks share it.
#[derive(Clone, Copy)]
enum Dst {
    F32(*mut f32),
    Pairs(*mut u32),
}

// SAFETY: tasks write disjoint pixels and planes (see `DirectWeights::band`).
unsafe impl Send for Dst {}
unsafe impl Sync for Dst {}

impl Dst {
    /// The same output `offset` elements on.
    fn image(self, offset: usize) -> Dst {
        match self {
            Dst::F32(p) => Dst::F32(p.wrapping_add(offset)),
            Dst::Pairs(p) => Dst::Pairs(p.wrapping_add(offset)),
        }
    }
}

/// dst0[j] and dst1[j] = the pairs of the even and the odd columns 2j and 2j + 1 of
/// `even` and `odd` (a stride-2 convolution's row, split into its two column phases).
///
/// # Safety
/// The processor must have AVX-512 BF16; `even` (and `odd`) twice as long as the
/// destinations.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16,avx512bw")]
unsafe fn to_pairs_split(even: &[f32], odd: Option<&[f32]>, dst0: &mut [u32], dst1: &mut [u32]) {
    use std::arch::x86_64::*;
    let n = dst0.len();
    assert!(dst1.len() == n && even.len() >= 2 * n && odd.is_none_or(|o| o.len() >= 2 * n));
    let ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    let load = |src: &[f32], j: usize| {
        let left = 2 * (n - j);
        let m0 = ((1u32 << left.min(16)) - 1) as u16;
        let m1 = ((1u32 << left.saturating_sub(16).min(16)) - 1) as u16;
        let a = _mm512_maskz_loadu_ps(m0, src.as_ptr().add(2 * j));
        let b = _mm512_maskz_loadu_ps(m1, src.as_ptr().add(2 * j).wrapping_add(16));
        (
            _mm512_permutex2var_ps(a, ev, b),
            _mm512_permutex2var_ps(a, od, b),
        )
    };
    for j in (0..n).step_by(16) {
        let m = ((1u32 << (n - j).min(16)) - 1) as u16;
        let (e0, e1) = load(even, j);
        let (o0, o1) = match odd {
            Some(odd) => load(odd, j),
            None => (_mm512_setzero_ps(), _mm512_setzero_ps()),
        };
        _mm512_mask_storeu_epi32(
            dst0.as_mut_ptr().add(j).cast(),
            m,
            crate::bf16::pairs_of(e0, o0),
        );
        _mm512_mask_storeu_epi32(
            dst1.as_mut_ptr().add(j).cast(),
            m,
            crate::bf16::pairs_of(e1, o1),
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn to_pairs_split(_: &[f32], _: Option<&[f32]>, _: &mut [u32], _: &mut [u32]) {
    unreachable!("available() is false here");
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

    /// x (b × c × h × w) as bf16 pairs, as [`Output::Pairs`] lays them out.
    fn as_pairs(x: &[f32], (b, c, plane): (usize, usize, usize)) -> Vec<u32> {
        let pairs = c.div_ceil(2);
        let mut out = vec![0u32; b * pairs * plane];
        for bi in 0..b {
            for ch in 0..c {
                for p in 0..plane {
                    let v = u32::from(crate::bf16::to_bf16(x[(bi * c + ch) * plane + p]));
                    out[(bi * pairs + ch / 2) * plane + p] |= v << (16 * (ch % 2));
                }
            }
        }
        out
    }

    /// Pairs back to f32 (b × c × plane).
    fn from_pairs(y: &[u32], (b, c, plane): (usize, usize, usize)) -> Vec<f32> {
        let pairs = c.div_ceil(2);
        let mut out = Vec::with_capacity(b * c * plane);
        for bi in 0..b {
            for ch in 0..c {
                for p in 0..plane {
                    let word = y[(bi * pairs + ch / 2) * plane + p];
                    out.push(f32::from_bits(((word >> (16 * (ch % 2))) & 0xffff) << 16));
                }
            }
        }
        out
    }

    /// Against candle's own convolution of the bf16-rounded input and weights: only the
    /// f32 sums' order differs. Odd channel counts (a pair with no odd channel), one
    /// row, rows shorter than a run (a run crosses several), a plane of one band whose
    /// output blocks are split among tasks, 1×1, 3×3 and 5×5, stride 2 (3×3), output
    /// counts that are not a whole block (3, 4, 13), a batch of two; every epilogue
    /// (a bias shared by the images or each image's own, a residual added (the second
    /// image's own), ReLU); and input, output and
    /// residual as f32 or as bf16 pairs (where the output in pairs is rounded once
    /// more).
    #[test]
    fn the_direct_convolution_matches_candles_on_rounded_inputs() {
        if !available() {
            eprintln!("skipped: no AVX-512 BF16 here");
            return;
        }
        let dev = Device::Cpu;
        for (b, c, o, h, w, k, stride) in [
            (2, 5, 8, 9, 13, 3, 1),
            (1, 16, 16, 1, 70, 3, 1),
            (1, 6, 24, 20, 50, 1, 1),
            (1, 64, 64, 33, 35, 3, 1),
            (1, 32, 64, 8, 8, 3, 1),
            (1, 3, 8, 5, 5, 5, 1),
            (1, 40, 16, 7, 3, 3, 1),
            (1, 64, 3, 24, 40, 3, 1),
            (2, 7, 13, 6, 10, 3, 1),
            (2, 5, 16, 14, 22, 3, 2),
            (1, 64, 64, 64, 66, 3, 2),
            (1, 24, 4, 2, 98, 3, 2),
        ] {
            assert!(DirectWeights::fits(k, stride, k / 2));
            let (oh, ow) = (h / stride, w / stride);
            let x = Tensor::randn(0f32, 1.0, (b, c, h, w), &dev).unwrap();
            let kw = Tensor::randn(0f32, 1.0, (o, c, k, k), &dev).unwrap();
            let (want, bias, _) = crate::conv::bf16_reference(&x, &kw, k / 2, stride);
            // Each image's own: the shared bias plus half the image's index.
            let per_image: Vec<f32> = (0..b)
                .flat_map(|i| bias.iter().map(move |v| v + i as f32 / 2.0))
                .collect();
            assert_eq!(want.dims(), [b, o, oh, ow]);
            let want: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
            let flat: Vec<f32> = kw.flatten_all().unwrap().to_vec1().unwrap();
            for tile in TILES {
                let weights = DirectWeights::pack_tiled(&flat, (o, c, k, stride), tile);
                assert!(weights.takes(h, w));
                let xs: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
                let xp = as_pairs(&xs, (b, c, h * w));
                let residual: Vec<f32> = (0..want.len()).map(|i| (i % 7) as f32 - 3.0).collect();
                let residual_pairs = as_pairs(&residual, (b, o, oh * ow));
                for (biased, with_residual, relu, pairs_in, pairs_out) in [
                    (None, false, false, false, false),
                    (Some(&bias), false, true, false, false),
                    (Some(&per_image), true, true, false, false),
                    (None, true, false, false, false),
                    (Some(&per_image), false, false, true, false),
                    (None, false, true, false, true),
                    (Some(&bias), true, false, true, true),
                ] {
                    let input = if pairs_in {
                        Input::Pairs(&xp)
                    } else {
                        Input::F32(&xs)
                    };
                    let ep = |residual| Epilogue {
                        bias: biased.map(Vec::as_slice),
                        residual: with_residual.then_some(residual),
                        relu,
                    };
                    let y = if pairs_out {
                        let mut y = vec![u32::MAX; b * o.div_ceil(2) * oh * ow];
                        let ep = ep(Residual::Pairs(&residual_pairs));
                        weights.run(input, (b, h, w), ep, Output::Pairs(&mut y));
                        from_pairs(&y, (b, o, oh * ow))
                    } else {
                        let mut y = vec![f32::NAN; b * o * oh * ow];
                        weights.run(
                            input,
                            (b, h, w),
                            ep(Residual::F32(&residual)),
                            Output::F32(&mut y),
                        );
                        y
                    };
                    let diff = y
                        .iter()
                        .enumerate()
                        .map(|(i, got)| {
                            let mut v = want[i];
                            // Plane i / (oh·ow) is image (that / o)'s channel (that % o).
                            if let Some(bias) = biased {
                                v += bias[(i / (oh * ow)) % bias.len()];
                            }
                            if with_residual {
                                v += residual[i];
                            }
                            if relu {
                                v = v.max(0.0);
                            }
                            // Pairs hold 8 bits of mantissa: compare relative to that.
                            let tolerance = if pairs_out {
                                1e-3 + v.abs() / 128.0
                            } else {
                                1e-3
                            };
                            (got - v).abs() / tolerance
                        })
                        // A value left unwritten (NaN) counts as infinitely off.
                        .fold(
                            0f32,
                            |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) },
                        );
                    assert!(
                        diff < 1.0,
                        "{b}x{c}x{h}x{w}->{o} k{k}/{stride} tile {tile:?} bias {biased:?} \
                     residual {with_residual} relu {relu} pairs in {pairs_in} out {pairs_out}: \
                     {diff} of the tolerance"
                    );
                }
            }
        }
        // Shapes the kernel does not take.
        assert!(!DirectWeights::fits(3, 2, 0));
        assert!(!DirectWeights::fits(5, 2, 2));
        assert!(!DirectWeights::fits(3, 1, 0));
        assert!(!DirectWeights::fits(2, 1, 1));
        assert!(!DirectWeights::fits(3, 3, 1));
        assert!(!DirectWeights::pack(&[0.0; 8 * 9], 8, 1, 3, 2, 6).takes(5, 6));
    }
}
