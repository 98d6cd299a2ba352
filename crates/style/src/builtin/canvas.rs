//! Small image-processing building blocks shared by the painters: float planes, blurs,
//! gradients, palettes and a seeded hash for deterministic randomness.

use image::{Rgb, RgbImage};
use rayon::prelude::*;

/// A single-channel float image, row-major.
#[derive(Clone)]
pub struct Plane {
    pub w: usize,
    pub h: usize,
    pub v: Vec<f32>,
}

impl Plane {
    pub fn new(w: usize, h: usize) -> Self {
        Self {
            w,
            h,
            v: vec![0.0; w * h],
        }
    }

    /// Perceptual luminance in 0..1.
    pub fn luma(img: &RgbImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let v = img
            .pixels()
            .map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0)
            .collect();
        Self { w, h, v }
    }

    /// Clamped sampling, so kernels need no border special cases.
    #[inline]
    pub fn get(&self, x: isize, y: isize) -> f32 {
        let x = x.clamp(0, self.w as isize - 1) as usize;
        let y = y.clamp(0, self.h as isize - 1) as usize;
        self.v[y * self.w + x]
    }

    /// A box blur of radius `r`, applied three times: close to a Gaussian, in O(1) per
    /// pixel whatever the radius. Rows run in parallel; columns are blurred as the rows
    /// of the transpose, which keeps every pass cache-friendly.
    pub fn blur(&self, r: usize) -> Self {
        if r == 0 {
            return self.clone();
        }
        let mut p = self.clone();
        p.box_rows(r);
        let mut t = p.transpose();
        t.box_rows(r);
        t.transpose()
    }

    fn box_rows(&mut self, r: usize) {
        box_rows(&mut self.v, self.w, r);
    }

    pub fn transpose(&self) -> Self {
        let (w, h) = (self.w, self.h);
        let mut v = vec![0.0f32; w * h];
        v.par_chunks_mut(h).enumerate().for_each(|(x, out)| {
            for (y, o) in out.iter_mut().enumerate() {
                *o = self.v[y * w + x];
            }
        });
        Self { w: h, h: w, v }
    }

    /// Sobel gradient (gx, gy).
    pub fn gradient(&self) -> (Plane, Plane) {
        let (w, h) = (self.w, self.h);
        let mut gx = Plane::new(w, h);
        let mut gy = Plane::new(w, h);
        gx.v.par_chunks_mut(w)
            .zip(gy.v.par_chunks_mut(w))
            .enumerate()
            .for_each(|(y, (rx, ry))| {
                let y = y as isize;
                for x in 0..w as isize {
                    let g = |dx, dy| self.get(x + dx, y + dy);
                    rx[x as usize] =
                        g(1, -1) + 2.0 * g(1, 0) + g(1, 1) - g(-1, -1) - 2.0 * g(-1, 0) - g(-1, 1);
                    ry[x as usize] =
                        g(-1, 1) + 2.0 * g(0, 1) + g(1, 1) - g(-1, -1) - 2.0 * g(0, -1) - g(1, -1);
                }
            });
        (gx, gy)
    }

    /// Bilinear sample at a fractional position, clamped at the borders.
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let (x0, y0) = (x.floor(), y.floor());
        let (tx, ty) = (x - x0, y - y0);
        let (ix, iy) = (x0 as isize, y0 as isize);
        let a = self.get(ix, iy) + (self.get(ix + 1, iy) - self.get(ix, iy)) * tx;
        let b = self.get(ix, iy + 1) + (self.get(ix + 1, iy + 1) - self.get(ix, iy + 1)) * tx;
        a + (b - a) * ty
    }

    /// Fills a plane row by row, rows in parallel.
    pub fn from_rows(w: usize, h: usize, f: impl Fn(usize, &mut [f32]) + Sync) -> Self {
        let mut v = vec![0.0f32; w * h];
        v.par_chunks_mut(w.max(1))
            .enumerate()
            .for_each(|(y, row)| f(y, row));
        Self { w, h, v }
    }

    /// Fills a plane from a per-pixel function, rows in parallel.
    pub fn from_fn(w: usize, h: usize, f: impl Fn(usize, usize) -> f32 + Sync) -> Self {
        let mut v = vec![0.0f32; w * h];
        v.par_chunks_mut(w.max(1)).enumerate().for_each(|(y, row)| {
            for (x, o) in row.iter_mut().enumerate() {
                *o = f(x, y);
            }
        });
        Self { w, h, v }
    }
}

/// Three box-filter passes over every row of a `w`-wide image, edges clamped. Rows are
/// handled four at a time: a sliding sum is a chain of dependent additions, and four
/// independent chains keep the core's adders busy. Each row is padded with its edge
/// values once per pass, so the inner loop needs no bounds checks.
fn box_rows<T: Copy + Send + Sync + BoxSum>(data: &mut [T], w: usize, r: usize) {
    const ROWS: usize = 4;
    let norm = 1.0 / (2 * r + 1) as f32;
    data.par_chunks_mut(w * ROWS).for_each(|group| {
        let n = group.len() / w;
        let mut pads: Vec<Vec<T>> = vec![Vec::with_capacity(w + 2 * r + 2); n];
        for _ in 0..3 {
            for (k, pad) in pads.iter_mut().enumerate() {
                let row = &group[k * w..(k + 1) * w];
                pad.clear();
                pad.extend(std::iter::repeat_n(row[0], r + 1));
                pad.extend_from_slice(row);
                pad.extend(std::iter::repeat_n(row[w - 1], r + 1));
            }
            // pad[i + r + 1] is row[i]; the window of out[i] is pad[i + 1 ..= i + 2r + 1].
            let mut acc = [T::zero(); ROWS];
            for (k, pad) in pads.iter().enumerate() {
                for &v in &pad[1..2 * r + 2] {
                    acc[k] = acc[k].add(v);
                }
            }
            for i in 0..w {
                for k in 0..n {
                    group[k * w + i] = acc[k].scale(norm);
                    acc[k] = acc[k].add(pads[k][i + 2 * r + 2]).sub(pads[k][i + 1]);
                }
            }
        }
    });
}

/// What a box blur needs of a pixel type.
trait BoxSum: Sized {
    fn zero() -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn scale(self, k: f32) -> Self;
}

impl BoxSum for f32 {
    fn zero() -> Self {
        0.0
    }
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn sub(self, o: Self) -> Self {
        self - o
    }
    fn scale(self, k: f32) -> Self {
        self * k
    }
}

impl BoxSum for [f32; 3] {
    fn zero() -> Self {
        [0.0; 3]
    }
    fn add(self, o: Self) -> Self {
        [self[0] + o[0], self[1] + o[1], self[2] + o[2]]
    }
    fn sub(self, o: Self) -> Self {
        [self[0] - o[0], self[1] - o[1], self[2] - o[2]]
    }
    fn scale(self, k: f32) -> Self {
        [self[0] * k, self[1] * k, self[2] * k]
    }
}

/// An RGB float image in 0..1, row-major, for blending without rounding at each step.
#[derive(Clone)]
pub struct Canvas {
    pub w: usize,
    pub h: usize,
    pub px: Vec<[f32; 3]>,
}

impl Canvas {
    /// The canvas at half size, each pixel the average of a 2×2 block (the odd edge
    /// repeats): for work that looks the same at half size for a quarter of the cost.
    pub fn halve(&self) -> Canvas {
        Canvas::from_fn(self.w.div_ceil(2), self.h.div_ceil(2), |x, y| {
            let (x, y) = (2 * x as isize, 2 * y as isize);
            let s = [
                self.get(x, y),
                self.get(x + 1, y),
                self.get(x, y + 1),
                self.get(x + 1, y + 1),
            ];
            [0, 1, 2].map(|c| (s[0][c] + s[1][c] + s[2][c] + s[3][c]) * 0.25)
        })
    }

    pub fn from_image(img: &RgbImage) -> Self {
        Self {
            w: img.width() as usize,
            h: img.height() as usize,
            px: img
                .pixels()
                .map(|p| {
                    [
                        p[0] as f32 / 255.0,
                        p[1] as f32 / 255.0,
                        p[2] as f32 / 255.0,
                    ]
                })
                .collect(),
        }
    }

    #[inline]
    pub fn get(&self, x: isize, y: isize) -> [f32; 3] {
        let x = x.clamp(0, self.w as isize - 1) as usize;
        let y = y.clamp(0, self.h as isize - 1) as usize;
        self.px[y * self.w + x]
    }

    /// The same three-pass box blur as [`Plane::blur`], on all three channels at once.
    pub fn blur(&self, r: usize) -> Self {
        if r == 0 {
            return self.clone();
        }
        let mut p = self.clone();
        p.box_rows(r);
        let mut t = p.transpose();
        t.box_rows(r);
        t.transpose()
    }

    fn box_rows(&mut self, r: usize) {
        box_rows(&mut self.px, self.w, r);
    }

    fn transpose(&self) -> Self {
        let (w, h) = (self.w, self.h);
        let mut px = vec![[0.0f32; 3]; w * h];
        px.par_chunks_mut(h).enumerate().for_each(|(x, out)| {
            for (y, o) in out.iter_mut().enumerate() {
                *o = self.px[y * w + x];
            }
        });
        Self { w: h, h: w, px }
    }

    /// Fills a canvas from a per-pixel function, rows in parallel.
    pub fn from_fn(w: usize, h: usize, f: impl Fn(usize, usize) -> [f32; 3] + Sync) -> Self {
        let mut px = vec![[0.0f32; 3]; w * h];
        px.par_chunks_mut(w.max(1))
            .enumerate()
            .for_each(|(y, row)| {
                for (x, o) in row.iter_mut().enumerate() {
                    *o = f(x, y);
                }
            });
        Self { w, h, px }
    }

    /// Bilinear sample at a fractional position, clamped at the borders.
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> [f32; 3] {
        let (x0, y0) = (x.floor(), y.floor());
        let (tx, ty) = (x - x0, y - y0);
        let (ix, iy) = (x0 as isize, y0 as isize);
        let a = mix(self.get(ix, iy), self.get(ix + 1, iy), tx);
        let b = mix(self.get(ix, iy + 1), self.get(ix + 1, iy + 1), tx);
        mix(a, b, ty)
    }

    pub fn to_image(&self) -> RgbImage {
        let to8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
        RgbImage::from_fn(self.w as u32, self.h as u32, |x, y| {
            let p = self.px[y as usize * self.w + x as usize];
            Rgb([to8(p[0]), to8(p[1]), to8(p[2])])
        })
    }
}

pub fn rgb(hex: u32) -> [f32; 3] {
    [
        ((hex >> 16) & 0xFF) as f32 / 255.0,
        ((hex >> 8) & 0xFF) as f32 / 255.0,
        (hex & 0xFF) as f32 / 255.0,
    ]
}

pub fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

pub fn scale(a: [f32; 3], k: f32) -> [f32; 3] {
    [a[0] * k, a[1] * k, a[2] * k]
}

pub fn luma(p: [f32; 3]) -> f32 {
    0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]
}

/// The palette entry nearest to `p`, with green weighted as the eye weighs it.
pub fn nearest(p: [f32; 3], palette: &[[f32; 3]]) -> [f32; 3] {
    let d = |q: &[f32; 3]| {
        let (dr, dg, db) = (p[0] - q[0], p[1] - q[1], p[2] - q[2]);
        2.0 * dr * dr + 4.0 * dg * dg + 3.0 * db * db
    };
    *palette
        .iter()
        .min_by(|a, b| d(a).total_cmp(&d(b)))
        .expect("palettes are never empty")
}

/// A stateless seeded hash to 0..1: the same (seed, a, b) always gives the same value, so
/// renderers are deterministic without threading an RNG through pixel loops.
#[inline]
pub fn hash01(seed: u64, a: u64, b: u64) -> f32 {
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 24) as f32
}

/// Smooth value noise in 0..1 with features about `cell` pixels wide.
pub fn value_noise(seed: u64, x: f32, y: f32, cell: f32) -> f32 {
    let (fx, fy) = (x / cell, y / cell);
    let (x0, y0) = (fx.floor(), fy.floor());
    let (tx, ty) = (fx - x0, fy - y0);
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let h = |dx: f32, dy: f32| hash01(seed, (x0 + dx) as i64 as u64, (y0 + dy) as i64 as u64);
    let top = h(0.0, 0.0) + (h(1.0, 0.0) - h(0.0, 0.0)) * sx;
    let bottom = h(0.0, 1.0) + (h(1.0, 1.0) - h(0.0, 1.0)) * sx;
    top + (bottom - top) * sy
}

/// A blur radius proportional to the picture, so small and large photos look alike.
pub fn scaled(w: usize, h: usize, at_512: f32) -> usize {
    ((w.max(h) as f32 / 512.0) * at_512).round().max(1.0) as usize
}

/// Like [`scaled`], as a float: `at_512` pixels at a 512 px long side.
pub fn scaled_f(w: usize, h: usize, at_512: f32) -> f32 {
    (w.max(h) as f32 / 512.0) * at_512
}

/// Blends `over` into `under` with its top left at (`x`, `y`): each of `over`'s pixels
/// with the weight `weight(px, py)` (0 keeps `under`, 1 takes `over`).
pub fn blend_in(
    under: &mut RgbImage,
    (x, y): (u32, u32),
    over: &RgbImage,
    weight: impl Fn(u32, u32) -> f32,
) {
    for (px, py, o) in over.enumerate_pixels() {
        let m = weight(px, py);
        if m <= 0.0 {
            continue;
        }
        let u = under.get_pixel_mut(x + px, y + py);
        for c in 0..3 {
            u.0[c] = (f32::from(u.0[c]) * (1.0 - m) + f32::from(o.0[c]) * m).round() as u8;
        }
    }
}

pub fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Smooth value noise evaluated on a coarse grid (every `step` pixels) and interpolated:
/// the same look as per-pixel [`value_noise`] for features much larger than `step`, at a
/// fraction of the cost.
pub fn coarse_noise(seed: u64, w: usize, h: usize, cell: f32, step: usize) -> Plane {
    let (cw, ch) = (w / step + 2, h / step + 2);
    let coarse = Plane::from_fn(cw, ch, |x, y| {
        value_noise(seed, (x * step) as f32, (y * step) as f32, cell)
    });
    let inv = 1.0 / step as f32;
    Plane::from_fn(w, h, |x, y| coarse.sample(x as f32 * inv, y as f32 * inv))
}
