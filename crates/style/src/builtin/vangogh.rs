//! Van Gogh: curved strokes that follow the picture's structure, swirls where the photo
//! is flat, cobalt and chrome-yellow colour, impasto relief and broken dark outlines.
//!
//! Strokes come from line integral convolution along the smoothed structure-tensor
//! tangent field; flat areas take their direction from a seeded swirl field instead.

use std::f32::consts::PI;

use image::RgbImage;

use super::canvas::{hash01, luma, mix, rgb, scale, scaled, value_noise, Canvas, Plane};

pub fn paint(photo: &RgbImage, seed: u64) -> RgbImage {
    let src = Canvas::from_image(photo);
    let (w, h) = (src.w, src.h);
    let lum = Plane::luma(photo).blur(scaled(w, h, 1.5));
    let (gx, gy) = lum.gradient();

    // Structure tensor, smoothed so strokes bend gently instead of jittering.
    let r = scaled(w, h, 4.0);
    let jxx = Plane {
        v: gx.v.iter().map(|g| g * g).collect(),
        ..gx.clone()
    }
    .blur(r);
    let jyy = Plane {
        v: gy.v.iter().map(|g| g * g).collect(),
        ..gy.clone()
    }
    .blur(r);
    let jxy = Plane {
        v: gx.v.iter().zip(&gy.v).map(|(a, b)| a * b).collect(),
        ..gx.clone()
    }
    .blur(r);

    let swirl_cell = scaled(w, h, 90.0) as f32;
    let mut dir = vec![(0.0f32, 0.0f32); w * h];
    let mut edge = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let (a, b, c) = (jxx.v[i], jxy.v[i], jyy.v[i]);
            let strength = (a + c).sqrt();
            // The tangent is perpendicular to the dominant gradient direction.
            let tangent = 0.5 * (2.0 * b).atan2(a - c) + PI / 2.0;
            let swirl = value_noise(seed, x as f32, y as f32, swirl_cell) * 4.0 * PI
                + (x as f32 / swirl_cell).sin();
            let k = (strength * 6.0).min(1.0);
            let (tx, ty) = (tangent.cos(), tangent.sin());
            let (sx, sy) = (swirl.cos(), swirl.sin());
            let (vx, vy) = (sx + (tx - sx) * k, sy + (ty - sy) * k);
            let n = (vx * vx + vy * vy).sqrt().max(1e-6);
            dir[i] = (vx / n, vy / n);
            edge[i] = strength;
        }
    }

    // Per-pixel noise smeared along the field becomes visible brush bristles.
    let bristles: Vec<f32> = (0..w * h)
        .map(|i| hash01(seed ^ 0xB1, i as u64, 7))
        .collect();
    let base = src.blur(scaled(w, h, 1.0));
    let steps = scaled(w, h, 9.0) as isize;
    let ultramarine = rgb(0x1F3A93);
    let cobalt = rgb(0x3D6CB9);
    let chrome = rgb(0xF2C12E);
    let outline = rgb(0x14213D);

    let mut out = Canvas {
        w,
        h,
        px: vec![[0.0; 3]; w * h],
    };
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0.0f32; 3];
            let mut tex = 0.0f32;
            let mut count = 0.0f32;
            for sign in [1.0f32, -1.0] {
                let (mut px, mut py) = (x as f32 + 0.5, y as f32 + 0.5);
                let mut prev = dir[y * w + x];
                prev = (prev.0 * sign, prev.1 * sign);
                for _ in 0..steps {
                    let (ix, iy) = (px as isize, py as isize);
                    if ix < 0 || iy < 0 || ix >= w as isize || iy >= h as isize {
                        break;
                    }
                    let j = iy as usize * w + ix as usize;
                    let c = base.px[j];
                    acc = [acc[0] + c[0], acc[1] + c[1], acc[2] + c[2]];
                    tex += bristles[j];
                    count += 1.0;
                    let mut d = dir[j];
                    if d.0 * prev.0 + d.1 * prev.1 < 0.0 {
                        d = (-d.0, -d.1);
                    }
                    prev = d;
                    px += d.0;
                    py += d.1;
                }
            }
            let c = scale(acc, 1.0 / count.max(1.0));
            let t = tex / count.max(1.0);
            let l = luma(c);
            // Pull darks to ultramarine/cobalt and lights to chrome yellow.
            let target = if l < 0.5 {
                mix(ultramarine, cobalt, l * 2.0)
            } else {
                mix(c, chrome, (l - 0.5) * 2.0)
            };
            let mut p = mix(c, target, 0.45);
            // Impasto: ridges of paint catch the light.
            p = scale(p, 0.78 + 0.5 * (t - 0.5) * 2.0 + 0.2);
            // Outlines are broken by the strokes, not drawn with a ruler.
            let e = edge[y * w + x];
            if e > 0.22 && t > 0.45 {
                p = mix(p, outline, ((e - 0.22) * 4.0).min(0.85));
            }
            out.px[y * w + x] = p;
        }
    }
    out.to_image()
}
