//! The CPU work of a convolutional network, on one thread, f32, NCHW planes.
//!
//! Convolutions are matrix products: a 1×1 convolution multiplies the weights straight
//! into the input's planes; a wider one first gathers the input patches of a band of
//! output rows into a buffer (for stride 1 each patch row is a shifted copy of an input
//! row), then multiplies. The products run in the `gemm` crate's kernels, which pick
//! AVX-512, AVX2 or SSE at run time. A depthwise convolution (one filter per channel,
//! MobileNet's) is a few multiply-adds of shifted rows per output row, compiled for the
//! widest vector unit the CPU has.

pub use crate::products::Act;
use crate::products::{matmul, widest};

/// A 2-D convolution's weights and geometry, ready to run.
#[derive(Debug)]
pub struct Conv {
    /// Output channels × (input channels per group · kh · kw), row-major: ONNX's layout.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub out: usize,
    /// Input channels per group.
    pub cin: usize,
    pub groups: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    /// Top, left, bottom, right.
    pub pads: (usize, usize, usize, usize),
    pub dilation: (usize, usize),
    pub act: Act,
    /// The weights in Winograd's transformed space, for the 3×3 convolutions that run
    /// that way (see [`Conv::prepare`]).
    pub winograd: Option<Vec<f32>>,
    /// The weights tap by tap (kh·kw matrices of out × cin), for the wide convolutions
    /// that run as one product per tap (see [`Conv::prepare`]).
    pub taps: Option<Vec<f32>>,
    /// The weights packed for the direct kernel (src/direct.rs), for the convolutions
    /// with few outputs that run that way (see [`Conv::prepare`]).
    pub direct: Option<Vec<f32>>,
}

/// The most weights a pointwise convolution may have for the direct kernel to take it:
/// beyond this (MobileNet's last layers, 960←160 to 1280←320 on a 10×9 plane) the
/// weights stream from memory once per channel pass and the product is faster.
const DIRECT_POINTWISE_WEIGHTS: usize = 128 << 10;

/// Gathered patches per band: at most this many floats (1 MiB), so that the band stays
/// in the second-level cache while it is multiplied.
const BAND_FLOATS: usize = 1 << 18;

impl Conv {
    /// Chooses how the convolution runs: a 3×3 one at stride 1 with enough channels
    /// runs by Winograd's F(4×4, 3×3) (src/winograd.rs), a quarter of the products.
    /// Its transforms cost memory traffic that only pays with 64 output channels or more
    /// (measured on MODNet's layers: 64→64 at 160×128, 6.3 ms against 8.1 ms as one
    /// product; 32→32, 2.5 ms against 2.1 ms).
    pub fn prepare(mut self) -> Conv {
        if self.kernel == (3, 3)
            && self.stride == (1, 1)
            && self.dilation == (1, 1)
            && self.groups == 1
            && self.cin >= 8
            && self.out >= 64
        {
            self.winograd = Some(crate::winograd::transform_weights(
                &self.weights,
                self.out,
                self.cin,
            ));
        }
        // A "same"-padded kernel at stride 1 (pointwise ones included) whose outputs
        // come in eights: on AVX-512 the direct kernel (src/direct.rs) keeps them in
        // registers and reads the input in place. A product of few rows runs at half
        // speed (MODNet's 16-output 3×3 at full size: 3.9 ms against 8.2 ms), a
        // product over few channels is mostly packing (96←16 pointwise at 160×144:
        // 0.34 ms against 0.75 ms), and the 5×5 over 1280 channels runs in 8.8 ms
        // against 11.3 ms as one product per tap.
        let (kh, kw) = self.kernel;
        if self.winograd.is_none()
            && (kh * kw > 1 || self.out * self.cin <= DIRECT_POINTWISE_WEIGHTS)
            && self.out.is_multiple_of(8)
            && self.stride == (1, 1)
            && self.dilation == (1, 1)
            && self.groups == 1
            && self.pads.0 + self.pads.2 + 1 == kh
            && self.pads.1 + self.pads.3 + 1 == kw
            && crate::direct::available()
        {
            self.direct = Some(crate::direct::pack(
                &self.weights,
                self.out,
                self.cin,
                kh * kw,
            ));
        }
        // Otherwise a wide kernel over many channels: gathering its patches is 32 000
        // rows per pixel for MODNet's 5×5 over 1280 channels, more memory traffic than
        // the product itself. Instead, each tap multiplies its weights with the padded
        // input, shifted, and the products add up in the output.
        if self.winograd.is_none()
            && self.direct.is_none()
            && kh * kw > 1
            && self.cin >= 256
            && self.stride == (1, 1)
            && self.dilation == (1, 1)
            && self.groups == 1
        {
            let mut taps = vec![0f32; kh * kw * self.out * self.cin];
            for o in 0..self.out {
                for c in 0..self.cin {
                    for t in 0..kh * kw {
                        taps[(t * self.out + o) * self.cin + c] =
                            self.weights[(o * self.cin + c) * kh * kw + t];
                    }
                }
            }
            self.taps = Some(taps);
        }
        self
    }

    /// [`Conv::prepare`]'s product per tap: the input padded once, each tap's product
    /// read from it at the tap's offset; output rows are as wide as the padded input
    /// (the extra columns are computed and dropped).
    #[allow(clippy::too_many_arguments)]
    fn run_taps(
        &self,
        taps: &[f32],
        x: &[f32],
        h: usize,
        w: usize,
        y: &mut [f32],
        oh: usize,
        ow: usize,
    ) {
        let (kh, kw) = self.kernel;
        let (pt, pl, pb, pr) = self.pads;
        let (hp, wp) = (h + pt + pb, w + pl + pr);
        // The last tap's view runs kw − 1 past the last plane.
        let mut padded = vec![0f32; self.cin * hp * wp + kw];
        for c in 0..self.cin {
            for r in 0..h {
                let at = c * hp * wp + (r + pt) * wp + pl;
                padded[at..at + w].copy_from_slice(&x[(c * h + r) * w..(c * h + r + 1) * w]);
            }
        }
        let n = oh * wp;
        let mut wide = vec![0f32; self.out * n];
        for t in 0..kh * kw {
            let (ky, kx) = (t / kw, t % kw);
            // SAFETY: the views cover the matrices (the padding above covers the last).
            unsafe {
                matmul(
                    (self.out, n, self.cin),
                    wide.as_mut_ptr(),
                    n,
                    taps.as_ptr().add(t * self.out * self.cin),
                    self.cin,
                    padded.as_ptr().add(ky * wp + kx),
                    hp * wp,
                    t > 0,
                );
            }
        }
        for o in 0..self.out {
            for r in 0..oh {
                let src = &wide[o * n + r * wp..][..ow];
                let dst = &mut y[(o * oh + r) * ow..][..ow];
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = self.act.apply(v + self.bias[o]);
                }
            }
        }
    }

    /// The output's height and width for an input of `h`×`w`, or `None` when the input
    /// is smaller than the kernel.
    pub fn out_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let span = |n: usize, pad: usize, k: usize, d: usize, s: usize| {
            let reach = d * (k - 1) + 1;
            (n + pad >= reach).then(|| (n + pad - reach) / s + 1)
        };
        Some((
            span(
                h,
                self.pads.0 + self.pads.2,
                self.kernel.0,
                self.dilation.0,
                self.stride.0,
            )?,
            span(
                w,
                self.pads.1 + self.pads.3,
                self.kernel.1,
                self.dilation.1,
                self.stride.1,
            )?,
        ))
    }

    /// Runs on one image: `x` is cin·groups planes of `h`×`w`; `y` gets `out` planes of
    /// the output size.
    pub fn run(&self, x: &[f32], h: usize, w: usize, y: &mut [f32]) {
        let (oh, ow) = self.out_size(h, w).expect("checked by the caller");
        let (kh, kw) = self.kernel;
        if let Some(u) = &self.winograd {
            let shape = crate::winograd::Shape {
                cin: self.cin,
                out: self.out,
                h,
                w,
                pt: self.pads.0,
                pl: self.pads.1,
                oh,
                ow,
            };
            crate::winograd::run(&shape, u, &self.bias, self.act, x, y);
            return;
        }
        if let Some(taps) = &self.taps {
            self.run_taps(taps, x, h, w, y, oh, ow);
            return;
        }
        if let Some(packed) = &self.direct {
            let shape = crate::direct::Shape {
                cin: self.cin,
                out: self.out,
                h,
                w,
                kernel: self.kernel,
                pads: self.pads,
                oh,
                ow,
            };
            crate::direct::run(&shape, packed, &self.bias, self.act, x, y);
            return;
        }
        let depthwise = self.cin == 1 && self.groups == self.out && self.groups > 1;
        if depthwise {
            depthwise_dispatch(self, x, h, w, y, oh, ow);
            return;
        }
        let opg = self.out / self.groups;
        let plane = h * w;
        let oplane = oh * ow;
        let k = self.cin * kh * kw;
        let pointwise = kh == 1 && kw == 1 && self.stride == (1, 1) && self.pads == (0, 0, 0, 0);
        for g in 0..self.groups {
            let xg = &x[g * self.cin * plane..(g + 1) * self.cin * plane];
            let wg = &self.weights[g * opg * k..(g + 1) * opg * k];
            let yg = &mut y[g * opg * oplane..(g + 1) * opg * oplane];
            let bias = &self.bias[g * opg..(g + 1) * opg];
            if pointwise {
                // Columns in bands, so that bias and activation find them in cache.
                let band = (BAND_FLOATS / self.cin.max(1)).clamp(256, oplane.max(256));
                let mut c0 = 0;
                while c0 < oplane {
                    let n = band.min(oplane - c0);
                    // SAFETY: the pointers cover the matrices at these strides.
                    unsafe {
                        matmul(
                            (opg, n, self.cin),
                            yg.as_mut_ptr().add(c0),
                            oplane,
                            wg.as_ptr(),
                            self.cin,
                            xg.as_ptr().add(c0),
                            plane,
                            false,
                        );
                    }
                    finish(yg, oplane, c0, n, bias, self.act);
                    c0 += n;
                }
                continue;
            }
            // At least 64 columns a band: fewer and the weights are read again for
            // every few columns (the 5×5 convolution over 1280 channels is 12 MB of them).
            let rows = (BAND_FLOATS / (k * ow).max(1))
                .max(64usize.div_ceil(ow))
                .clamp(1, oh);
            let mut cols = vec![0f32; k * rows * ow];
            let mut r0 = 0;
            while r0 < oh {
                let r1 = (r0 + rows).min(oh);
                let n = (r1 - r0) * ow;
                self.gather(xg, h, w, ow, r0, r1, &mut cols[..k * n]);
                // SAFETY: as above; cols holds k rows of n.
                unsafe {
                    matmul(
                        (opg, n, k),
                        yg.as_mut_ptr().add(r0 * ow),
                        oplane,
                        wg.as_ptr(),
                        k,
                        cols.as_ptr(),
                        n,
                        false,
                    );
                }
                finish(yg, oplane, r0 * ow, n, bias, self.act);
                r0 = r1;
            }
        }
    }

    /// The patches of output rows r0..r1: row (c, ky, kx) of `cols` holds, for each
    /// output pixel of the band, the input pixel that kernel tap multiplies (0 in the
    /// padding).
    #[allow(clippy::too_many_arguments)]
    fn gather(
        &self,
        x: &[f32],
        h: usize,
        w: usize,
        ow: usize,
        r0: usize,
        r1: usize,
        cols: &mut [f32],
    ) {
        let (kh, kw) = self.kernel;
        let (sy, sx) = self.stride;
        let (dy, dx) = self.dilation;
        let (pt, pl, _, _) = self.pads;
        let n = (r1 - r0) * ow;
        for c in 0..self.cin {
            let plane = &x[c * h * w..(c + 1) * h * w];
            for ky in 0..kh {
                for kx in 0..kw {
                    let row = &mut cols[((c * kh + ky) * kw + kx) * n..][..n];
                    // Output columns whose input column is inside the picture:
                    // ix = ox·sx + kx·dx − pl ∈ [0, w).
                    let shift = (kx * dx) as isize - pl as isize;
                    let first = if shift >= 0 {
                        0
                    } else {
                        ((-shift) as usize).div_ceil(sx)
                    };
                    let last = if (w as isize) - shift <= 0 {
                        0
                    } else {
                        ((w as isize - shift - 1) as usize / sx + 1).min(ow)
                    };
                    for (i, oy) in (r0..r1).enumerate() {
                        let out = &mut row[i * ow..(i + 1) * ow];
                        let iy = (oy * sy + ky * dy) as isize - pt as isize;
                        if iy < 0 || iy >= h as isize || first >= last {
                            out.fill(0.0);
                            continue;
                        }
                        let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                        out[..first].fill(0.0);
                        out[last..].fill(0.0);
                        let start = (first * sx) as isize + shift;
                        if sx == 1 {
                            out[first..last].copy_from_slice(
                                &src[start as usize..start as usize + (last - first)],
                            );
                        } else {
                            for (o, s) in out[first..last]
                                .iter_mut()
                                .zip(src[start as usize..].iter().step_by(sx))
                            {
                                *o = *s;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Bias and activation on columns c0..c0+n of each of the output's planes.
fn finish(y: &mut [f32], plane: usize, c0: usize, n: usize, bias: &[f32], act: Act) {
    for (o, b) in bias.iter().enumerate() {
        let row = &mut y[o * plane + c0..o * plane + c0 + n];
        match act {
            Act::None => row.iter_mut().for_each(|v| *v += b),
            Act::Clip(lo, hi) => row.iter_mut().for_each(|v| *v = (*v + b).max(lo).min(hi)),
        }
    }
}

widest!(
    fn depthwise_dispatch(
        conv: &Conv,
        x: &[f32],
        h: usize,
        w: usize,
        y: &mut [f32],
        oh: usize,
        ow: usize,
    ) => depthwise
);

/// One 3×3 filter per channel, padding 1, stride 1 or 2 (MobileNet's). Each plane is
/// padded once; the output is computed as one long row over the padded width (two or
/// so spare columns per row, dropped), so the nine products are nine shifted reads of
/// one buffer in a single vector loop: MobileNet's late planes are 10 to 20 pixels wide,
/// too narrow for a loop per output row. At stride 2 the padded plane is first split
/// into its four phases (even and odd rows and columns), so every read is contiguous.
#[inline(always)]
fn depthwise3(conv: &Conv, x: &[f32], h: usize, w: usize, y: &mut [f32], oh: usize, ow: usize) {
    let s = conv.stride.0;
    let (hp, wp) = (h + 2, w + 2);
    // Phase planes at stride 2 (or the padded plane itself at stride 1): `pw` wide,
    // with a spare row for the long row's last reads.
    let (ph, pw) = if s == 1 {
        (hp + 1, wp)
    } else {
        (oh + 2, wp.div_ceil(2) + 1)
    };
    let mut padded = vec![0f32; (hp + 1) * wp];
    let mut phases = vec![0f32; if s == 1 { 0 } else { 4 * ph * pw }];
    let mut long = vec![0f32; oh * pw];
    for c in 0..conv.out {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for r in 0..h {
            padded[(r + 1) * wp + 1..][..w].copy_from_slice(&plane[r * w..(r + 1) * w]);
        }
        // Tap (ky, kx) reads `src[base + i]` for output i of the long row.
        let (src, bases): (&[f32], [usize; 9]) = if s == 1 {
            (&padded, std::array::from_fn(|t| (t / 3) * wp + t % 3))
        } else {
            for (q, phase) in phases.chunks_exact_mut(ph * pw).enumerate() {
                let (a, b) = (q / 2, q % 2);
                for i in 0..ph {
                    let row = 2 * i + a;
                    if row >= hp {
                        break;
                    }
                    for (j, d) in phase[i * pw..(i + 1) * pw].iter_mut().enumerate() {
                        let col = 2 * j + b;
                        if col < wp {
                            *d = padded[row * wp + col];
                        }
                    }
                }
            }
            (
                &phases,
                std::array::from_fn(|t| {
                    let (ky, kx) = (t / 3, t % 3);
                    ((ky % 2) * 2 + kx % 2) * ph * pw + (ky / 2) * pw + kx / 2
                }),
            )
        };
        let k = &conv.weights[c * 9..c * 9 + 9];
        let n = long.len();
        let r = |t: usize| &src[bases[t]..bases[t] + n];
        let (r0, r1, r2, r3, r4, r5, r6, r7, r8) =
            (r(0), r(1), r(2), r(3), r(4), r(5), r(6), r(7), r(8));
        let bias = conv.bias[c];
        for (i, o) in long.iter_mut().enumerate() {
            *o = bias
                + k[0] * r0[i]
                + k[1] * r1[i]
                + k[2] * r2[i]
                + k[3] * r3[i]
                + k[4] * r4[i]
                + k[5] * r5[i]
                + k[6] * r6[i]
                + k[7] * r7[i]
                + k[8] * r8[i];
        }
        let out = &mut y[c * oh * ow..(c + 1) * oh * ow];
        for (row, dst) in out.chunks_exact_mut(ow).enumerate() {
            for (d, &v) in dst.iter_mut().zip(&long[row * pw..]) {
                *d = conv.act.apply(v);
            }
        }
    }
}

/// One filter per channel: each output row is the bias plus, for each kernel tap, a
/// weight times a shifted input row.
#[inline(always)]
fn depthwise(conv: &Conv, x: &[f32], h: usize, w: usize, y: &mut [f32], oh: usize, ow: usize) {
    if conv.kernel == (3, 3)
        && conv.pads == (1, 1, 1, 1)
        && conv.dilation == (1, 1)
        && (conv.stride == (1, 1) || conv.stride == (2, 2))
    {
        return depthwise3(conv, x, h, w, y, oh, ow);
    }
    let (kh, kw) = conv.kernel;
    let (sy, sx) = conv.stride;
    let (dy, dx) = conv.dilation;
    let (pt, pl, _, _) = conv.pads;
    for c in 0..conv.out {
        let plane = &x[c * h * w..(c + 1) * h * w];
        let taps = &conv.weights[c * kh * kw..(c + 1) * kh * kw];
        let bias = conv.bias[c];
        for oy in 0..oh {
            let out = &mut y[(c * oh + oy) * ow..(c * oh + oy + 1) * ow];
            out.fill(bias);
            for ky in 0..kh {
                let iy = (oy * sy + ky * dy) as isize - pt as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                for kx in 0..kw {
                    let t = taps[ky * kw + kx];
                    let shift = (kx * dx) as isize - pl as isize;
                    let first = if shift >= 0 {
                        0
                    } else {
                        ((-shift) as usize).div_ceil(sx)
                    };
                    let last = if (w as isize) - shift <= 0 {
                        0
                    } else {
                        ((w as isize - shift - 1) as usize / sx + 1).min(ow)
                    };
                    if first >= last {
                        continue;
                    }
                    let start = ((first * sx) as isize + shift) as usize;
                    if sx == 1 {
                        let s = &src[start..start + (last - first)];
                        for (o, v) in out[first..last].iter_mut().zip(s) {
                            *o += t * v;
                        }
                    } else {
                        for (i, o) in out[first..last].iter_mut().enumerate() {
                            *o += t * src[start + i * sx];
                        }
                    }
                }
            }
            for v in out.iter_mut() {
                *v = conv.act.apply(*v);
            }
        }
    }
}

/// Reference convolution, one multiply-add at a time: what the tests hold the fast
/// paths to.
#[cfg(test)]
pub fn conv_reference(conv: &Conv, x: &[f32], h: usize, w: usize) -> Vec<f32> {
    let (oh, ow) = conv.out_size(h, w).unwrap();
    let (kh, kw) = conv.kernel;
    let opg = conv.out / conv.groups;
    let mut y = vec![0f32; conv.out * oh * ow];
    for o in 0..conv.out {
        let g = o / opg;
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = f64::from(conv.bias[o]);
                for c in 0..conv.cin {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * conv.stride.0 + ky * conv.dilation.0) as isize
                                - conv.pads.0 as isize;
                            let ix = (ox * conv.stride.1 + kx * conv.dilation.1) as isize
                                - conv.pads.1 as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let xv = x[((g * conv.cin + c) * h + iy as usize) * w + ix as usize];
                            let wv = conv.weights[((o * conv.cin + c) * kh + ky) * kw + kx];
                            acc += f64::from(xv) * f64::from(wv);
                        }
                    }
                }
                y[(o * oh + oy) * ow + ox] = conv.act.apply(acc as f32);
            }
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn every_convolution_path_matches_the_reference() {
        // (out, cin, groups, kernel, stride, pads, dilation, act): pointwise, 3×3 and
        // 5×5 with padding, stride 2 on odd sizes, uneven pads, dilation, depthwise at
        // strides 1 and 2, a grouped convolution, and ReLU6.
        let cases = [
            (7, 5, 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), Act::None),
            (
                7,
                4,
                1,
                (3, 3),
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                Act::Clip(0.0, 6.0),
            ),
            (6, 3, 1, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), Act::None),
            (5, 9, 1, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), Act::None),
            (4, 3, 1, (3, 2), (2, 1), (0, 1, 2, 0), (1, 1), Act::None),
            (4, 3, 1, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), Act::None),
            (
                6,
                1,
                6,
                (3, 3),
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                Act::Clip(0.0, 6.0),
            ),
            (6, 1, 6, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), Act::None),
            (5, 1, 5, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), Act::None),
            (6, 2, 3, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), Act::None),
            (3, 2, 1, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), Act::None),
            // Winograd's: 3×3 at stride 1 with at least 8 channels in and 64 out,
            // padded evenly, unevenly and not at all, with ReLU.
            (64, 8, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), Act::None),
            (
                64,
                35,
                1,
                (3, 3),
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                Act::Clip(0.0, 6.0),
            ),
            (65, 12, 1, (3, 3), (1, 1), (0, 2, 1, 0), (1, 1), Act::None),
            (64, 8, 1, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), Act::None),
            // One product per tap: wide kernels over 256 channels or more, uneven pads.
            (6, 256, 1, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), Act::None),
            (
                5,
                300,
                1,
                (3, 2),
                (1, 1),
                (0, 1, 2, 0),
                (1, 1),
                Act::Clip(0.0, 6.0),
            ),
            // The direct kernel (on AVX-512): 8 to 32 outputs in eights, stride 1.
            (
                16,
                35,
                1,
                (3, 3),
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                Act::Clip(0.0, 6.0),
            ),
            (8, 3, 1, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), Act::None),
            (32, 4, 1, (3, 2), (1, 1), (0, 1, 2, 0), (1, 1), Act::None),
            // Weights too large for one pass (679 KB): channel passes of 48, the last
            // one short of a group of eight.
            (
                24,
                283,
                1,
                (5, 5),
                (1, 1),
                (2, 2, 2, 2),
                (1, 1),
                Act::Clip(0.0, 6.0),
            ),
            // Pointwise, in eights: the direct kernel too.
            (
                16,
                5,
                1,
                (1, 1),
                (1, 1),
                (0, 0, 0, 0),
                (1, 1),
                Act::Clip(0.0, 6.0),
            ),
        ];
        for (i, &(out, cin, groups, kernel, stride, pads, dilation, act)) in
            cases.iter().enumerate()
        {
            for (h, w) in [(9, 11), (16, 16), (1, 7), (21, 35)] {
                let conv = Conv {
                    weights: numbers(out * cin * kernel.0 * kernel.1, i as u32),
                    bias: numbers(out, 99),
                    out,
                    cin,
                    groups,
                    kernel,
                    stride,
                    pads,
                    dilation,
                    act,
                    winograd: None,
                    taps: None,
                    direct: None,
                }
                .prepare();
                assert_eq!(
                    conv.winograd.is_some(),
                    (11..15).contains(&i),
                    "case {i}: Winograd exactly for cases 11 to 14"
                );
                assert_eq!(
                    conv.taps.is_some(),
                    (15..17).contains(&i) || (i == 20 && !crate::direct::available()),
                    "case {i}: one product per tap for cases 15 and 16, and 20 without \
                     AVX-512"
                );
                assert_eq!(
                    conv.direct.is_some(),
                    i >= 17 && crate::direct::available(),
                    "case {i}: the direct kernel from 17, where the CPU has AVX-512"
                );
                let Some((oh, ow)) = conv.out_size(h, w) else {
                    continue;
                };
                let x: Vec<f32> = numbers(cin * groups * h * w, 7)
                    .iter()
                    .map(|v| v * 8.0)
                    .collect();
                let want = conv_reference(&conv, &x, h, w);
                let mut got = vec![f32::NAN; out * oh * ow];
                conv.run(&x, h, w, &mut got);
                // Relative to the output's scale: Winograd's transforms lose a few units
                // in the last place of the largest values, not of each one.
                let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (j, (g, e)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - e).abs() <= 1e-4 * (1.0 + scale),
                        "case {i} at {h}×{w}, value {j}: {g} against {e} (scale {scale})"
                    );
                }
            }
        }
    }
}
