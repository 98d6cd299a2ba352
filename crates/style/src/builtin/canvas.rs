//! Small image-processing building blocks shared by the painters: float planes, blurs,
//! gradients, palettes and a seeded hash for deterministic randomness.

use image::{Rgb, RgbImage};

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
    /// pixel whatever the radius.
    pub fn blur(&self, r: usize) -> Self {
        let mut p = self.clone();
        for _ in 0..3 {
            p = p.box_pass(r, true).box_pass(r, false);
        }
        p
    }

    fn box_pass(&self, r: usize, horizontal: bool) -> Self {
        let mut out = Plane::new(self.w, self.h);
        let (len, lines) = if horizontal {
            (self.w, self.h)
        } else {
            (self.h, self.w)
        };
        let idx = |line: usize, i: usize| {
            if horizontal {
                line * self.w + i
            } else {
                i * self.w + line
            }
        };
        let r = r as isize;
        let norm = 1.0 / (2 * r + 1) as f32;
        for line in 0..lines {
            let sample = |i: isize| self.v[idx(line, i.clamp(0, len as isize - 1) as usize)];
            let mut acc: f32 = (-r..=r).map(sample).sum();
            for i in 0..len {
                out.v[idx(line, i)] = acc * norm;
                acc += sample(i as isize + r + 1) - sample(i as isize - r);
            }
        }
        out
    }

    /// Sobel gradient (gx, gy).
    pub fn gradient(&self) -> (Plane, Plane) {
        let mut gx = Plane::new(self.w, self.h);
        let mut gy = Plane::new(self.w, self.h);
        for y in 0..self.h as isize {
            for x in 0..self.w as isize {
                let g = |dx, dy| self.get(x + dx, y + dy);
                let sx = g(1, -1) + 2.0 * g(1, 0) + g(1, 1) - g(-1, -1) - 2.0 * g(-1, 0) - g(-1, 1);
                let sy = g(-1, 1) + 2.0 * g(0, 1) + g(1, 1) - g(-1, -1) - 2.0 * g(0, -1) - g(1, -1);
                let i = y as usize * self.w + x as usize;
                gx.v[i] = sx;
                gy.v[i] = sy;
            }
        }
        (gx, gy)
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

    pub fn channel(&self, c: usize) -> Plane {
        Plane {
            w: self.w,
            h: self.h,
            v: self.px.iter().map(|p| p[c]).collect(),
        }
    }

    pub fn from_channels(r: &Plane, g: &Plane, b: &Plane) -> Self {
        Self {
            w: r.w,
            h: r.h,
            px: (0..r.v.len()).map(|i| [r.v[i], g.v[i], b.v[i]]).collect(),
        }
    }

    pub fn blur(&self, r: usize) -> Self {
        Self::from_channels(
            &self.channel(0).blur(r),
            &self.channel(1).blur(r),
            &self.channel(2).blur(r),
        )
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
