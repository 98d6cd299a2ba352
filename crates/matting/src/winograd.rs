//! 3×3 convolutions at stride 1 by Winograd's minimal filtering, F(4×4, 3×3) (Lavin and
//! Gray, 2015): each 4×4 block of output comes from a 6×6 block of input in 36
//! multiplications per channel pair instead of 144. The input blocks and the weights are
//! carried into a transformed space where the convolution becomes 36 independent matrix
//! products (output channels × input channels × blocks), and the products' results are
//! carried back.
//!
//! The transforms are separable, so they run on whole rows: down the columns first (a
//! combination of six input rows), then along each row on the input split into its four
//! phases (pixels 4t, 4t+1, 4t+2, 4t+3), which turns "the six pixels of block t" into
//! contiguous vectors indexed by t. Every loop is a vector loop over blocks.
//!
//! In f32 the result differs from the direct convolution by a few units in the last
//! place of the inputs' scale (the transforms' constants are small: 1/24 … 5);
//! `every_convolution_path_matches_the_reference` holds it to the same 1e-4 as the rest.

use crate::products::{matmul, widest, Act};

/// Bᵀ: input block → transformed space.
const BT: [[f32; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];

/// G: 3×3 filter → transformed space.
const G: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// Aᵀ: transformed space → 4×4 output block.
const AT: [[f32; 6]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// Transformed values a band may hold: at most this many floats (4 MiB).
const BAND_FLOATS: usize = 1 << 20;

/// The weights of an `out`×`cin`×3×3 convolution in the transformed space: 36 matrices
/// of `out`×`cin`, one per point of the 6×6 block.
pub fn transform_weights(weights: &[f32], out: usize, cin: usize) -> Vec<f32> {
    let mut u = vec![0f32; 36 * out * cin];
    for o in 0..out {
        for c in 0..cin {
            let g = &weights[(o * cin + c) * 9..][..9];
            // G · g · Gᵀ, in f64.
            let mut gg = [[0f64; 3]; 6];
            for (i, row) in gg.iter_mut().enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = (0..3).map(|k| G[i][k] * f64::from(g[k * 3 + j])).sum();
                }
            }
            for i in 0..6 {
                for j in 0..6 {
                    let v: f64 = (0..3).map(|k| gg[i][k] * G[j][k]).sum();
                    u[((i * 6 + j) * out + o) * cin + c] = v as f32;
                }
            }
        }
    }
    u
}

/// The convolution's geometry, for [`run`].
pub struct Shape {
    pub cin: usize,
    pub out: usize,
    pub h: usize,
    pub w: usize,
    /// Top and left padding (the output is `h + pt + pb − 2` rows, given as `oh`).
    pub pt: usize,
    pub pl: usize,
    pub oh: usize,
    pub ow: usize,
}

widest!(
    /// Runs the convolution: `x` is `cin` planes of h×w, `y` gets `out` planes of oh×ow.
    pub fn run(s: &Shape, u: &[f32], bias: &[f32], act: Act, x: &[f32], y: &mut [f32]) => run_generic
);

#[inline(always)]
fn run_generic(s: &Shape, u: &[f32], bias: &[f32], act: Act, x: &[f32], y: &mut [f32]) {
    let tw = s.ow.div_ceil(4); // blocks across
    let th = s.oh.div_ceil(4); // blocks down

    // A band of block rows is laid out as one long row: block row r's block t at
    // r·P + t, with P = tw + 1 (one spare block per row, computed and thrown away), so
    // that every transform is a vector loop over the whole band.
    let pw = tw + 1;
    let band_rows = (BAND_FLOATS / (36 * s.cin.max(s.out) * pw).max(1)).clamp(1, th);
    let most = band_rows * pw;
    let mut v = vec![0f32; 36 * s.cin * most];
    let mut m = vec![0f32; 36 * s.out * most];
    // Input rows split into four phases (pixel 4t + q of the padded row is phase q,
    // entry t), six rows per block row: phases[k][q][band].
    let mut phases = vec![0f32; 6 * 4 * most];
    let mut vert = vec![0f32; 6 * 4 * most];
    let mut padded = vec![0f32; 4 * pw];
    let mut p = vec![0f32; 6 * most];
    let mut line = vec![0f32; 4 * most];
    let mut r0 = 0;
    while r0 < th {
        let r1 = (r0 + band_rows).min(th);
        let len = (r1 - r0) * pw;
        // Input transform: v[ξ][c][band].
        for c in 0..s.cin {
            let plane = &x[c * s.h * s.w..(c + 1) * s.h * s.w];
            for k in 0..6 {
                for by in r0..r1 {
                    let iy = (4 * by + k) as isize - s.pt as isize;
                    padded.fill(0.0);
                    if iy >= 0 && iy < s.h as isize {
                        let row = &plane[iy as usize * s.w..(iy as usize + 1) * s.w];
                        let end = (s.pl + s.w).min(4 * pw);
                        padded[s.pl..end].copy_from_slice(&row[..end - s.pl]);
                    }
                    for q in 0..4 {
                        let at = (k * 4 + q) * most + (by - r0) * pw;
                        for (t, d) in phases[at..at + pw].iter_mut().enumerate() {
                            *d = padded[4 * t + q];
                        }
                    }
                }
            }
            // Down the columns: vert[i] = Σ_k Bᵀ[i][k] · phases[k], all phases at once.
            for (i, bt) in BT.iter().enumerate() {
                let out = &mut vert[i * 4 * most..][..4 * most];
                out.fill(0.0);
                for (k, &b) in bt.iter().enumerate() {
                    if b != 0.0 {
                        let src = &phases[k * 4 * most..][..4 * most];
                        for (o, &v) in out.iter_mut().zip(src) {
                            *o += b * v;
                        }
                    }
                }
            }
            // Along the rows: pixel k of block t is phase k % 4 at entry t + k / 4.
            for i in 0..6 {
                for (j, bt) in BT.iter().enumerate() {
                    let dst = &mut v[((i * 6 + j) * s.cin + c) * len..][..len];
                    dst.fill(0.0);
                    for (k, &b) in bt.iter().enumerate() {
                        if b != 0.0 {
                            let src = &vert[(i * 4 + k % 4) * most + k / 4..][..len - 1];
                            for (o, &v) in dst.iter_mut().zip(src) {
                                *o += b * v;
                            }
                        }
                    }
                }
            }
        }
        // The 36 products: m[ξ] (out × band) = u[ξ] (out × cin) · v[ξ] (cin × band).
        for xi in 0..36 {
            // SAFETY: the slices cover the matrices.
            unsafe {
                matmul(
                    (s.out, len, s.cin),
                    m.as_mut_ptr().add(xi * s.out * len),
                    len,
                    u.as_ptr().add(xi * s.out * s.cin),
                    s.cin,
                    v.as_ptr().add(xi * s.cin * len),
                    len,
                    false,
                );
            }
        }
        // Output transform: y = Aᵀ · m · A, down then along.
        for o in 0..s.out {
            let plane = &mut y[o * s.oh * s.ow..(o + 1) * s.oh * s.ow];
            for (a, down) in AT.iter().enumerate() {
                // p[j] = Σ_i Aᵀ[a][i] · m[i][j].
                for j in 0..6 {
                    let dst = &mut p[j * most..][..len];
                    dst.fill(0.0);
                    for (i, &c) in down.iter().enumerate() {
                        if c != 0.0 {
                            let src = &m[((i * 6 + j) * s.out + o) * len..][..len];
                            for (d, &v) in dst.iter_mut().zip(src) {
                                *d += c * v;
                            }
                        }
                    }
                }
                // line[b] = bias + Σ_j Aᵀ[b][j] · p[j]: output row 4·by + a, column 4t + b.
                for (b, along) in AT.iter().enumerate() {
                    let dst = &mut line[b * most..][..len];
                    dst.fill(bias[o]);
                    for (j, &c) in along.iter().enumerate() {
                        if c != 0.0 {
                            for (d, &v) in dst.iter_mut().zip(&p[j * most..][..len]) {
                                *d += c * v;
                            }
                        }
                    }
                }
                for by in r0..r1 {
                    let oy = 4 * by + a;
                    if oy >= s.oh {
                        break;
                    }
                    let out = &mut plane[oy * s.ow..(oy + 1) * s.ow];
                    let at = (by - r0) * pw;
                    for (t, block) in out.chunks_mut(4).enumerate() {
                        for (b, d) in block.iter_mut().enumerate() {
                            *d = act.apply(line[b * most + at + t]);
                        }
                    }
                }
            }
        }
        r0 = r1;
    }
}
