//! Renoir: many small, soft, feathery dabs that follow the form, over a warm
//! underpainting: peach and rose in the lights, pastel blues and greens in the shadows,
//! dappled light, and no hard outlines anywhere.
//!
//! Dabs are laid in a fixed order (broad layer, then fine) from a seeded list. To paint
//! them on both cores without changing the result, the canvas is cut into horizontal
//! bands and every band replays the whole list, clipped to itself.

use image::RgbImage;
use rayon::prelude::*;

use super::canvas::{coarse_noise, hash01, luma, mix, rgb, scale, scaled, scaled_f, Canvas, Plane};
use super::params::RenoirParams;

struct Dab {
    x: f32,
    y: f32,
    /// Half-length along the stroke and half-width across it.
    rx: f32,
    ry: f32,
    cos: f32,
    sin: f32,
    colour: [f32; 3],
    alpha: f32,
}

pub fn paint(photo: &RgbImage, seed: u64, p: &RenoirParams) -> RgbImage {
    let src = Canvas::from_image(photo);
    let (w, h) = (src.w, src.h);
    let peach = rgb(0xF6C3A4);
    let rose = rgb(0xE8A0A8);
    let pastel_blue = rgb(0x9DB8D9);
    let pastel_green = rgb(0xA9C8A0);
    let shadow = mix(pastel_blue, pastel_green, 0.4);

    // Warm the colours: lights toward peach and rose, shadows toward pastel blue-green,
    // everything a little lifted, as in oil over a light ground.
    let warm_of = |c: [f32; 3]| {
        let l = luma(c);
        let light = mix(peach, rose, (1.0 - l).clamp(0.0, 1.0) * 0.6);
        // Warm shadows (skin, red cloth) stay warm: rose-brown, not blue.
        let warmness = ((c[0] - c[2]) * 3.0).clamp(0.0, 1.0);
        let shade = mix(shadow, scale(rose, 0.75), warmness);
        let tint = mix(shade, light, ((l - 0.3) * 3.0).clamp(0.0, 1.0));
        mix(mix(c, tint, p.warmth), [1.0; 3], 0.08)
    };
    let detail = {
        let mut d = src.blur(scaled(w, h, 1.0));
        d.px.par_iter_mut().for_each(|c| *c = warm_of(*c));
        d
    };
    let mut canvas = detail.blur(scaled(w, h, p.softness * 2.0));

    // Stroke direction: along the edges (perpendicular to the luminance gradient).
    let (gx, gy) = Plane::luma(photo).blur(scaled(w, h, 3.0)).gradient();

    let mut dabs = Vec::new();
    for (layer, spacing, length, alpha) in [
        (0u64, p.dab_spacing * 2.2, p.dab_length * 1.1, 0.6f32),
        (1, p.dab_spacing, p.dab_length, 0.85),
    ] {
        let step = scaled_f(w, h, spacing).max(1.0);
        let (cols, rows) = ((w as f32 / step) as u64 + 1, (h as f32 / step) as u64 + 1);
        for gy_ in 0..rows {
            for gx_ in 0..cols {
                let r = |k: u64| hash01(seed ^ (layer << 32), gx_ * 7919 + k, gy_);
                let x = (gx_ as f32 + r(1)) * step;
                let y = (gy_ as f32 + r(2)) * step;
                let (ix, iy) = (x as isize, y as isize);
                let (dx, dy) = (gx.get(ix, iy), gy.get(ix, iy));
                let angle = if dx * dx + dy * dy > 1e-4 {
                    dy.atan2(dx) + std::f32::consts::FRAC_PI_2 + (r(3) - 0.5) * 0.6
                } else {
                    r(3) * std::f32::consts::PI
                };
                let base = detail.sample(x, y);
                // Broken colour: each dab a little lighter or darker, some with a touch of
                // rose or blue, so the strokes stay visible side by side.
                let base = scale(base, 0.86 + 0.28 * r(7));
                let colour = mix(
                    base,
                    if r(4) > 0.5 { rose } else { pastel_blue },
                    0.2 * r(5),
                );
                let rx = step * length * (0.7 + 0.6 * r(6)) * 0.5;
                dabs.push(Dab {
                    x,
                    y,
                    rx,
                    ry: rx * 0.38,
                    cos: angle.cos(),
                    sin: angle.sin(),
                    colour,
                    alpha,
                });
            }
        }
    }

    let band = 32usize;
    canvas
        .px
        .par_chunks_mut(w * band)
        .enumerate()
        .for_each(|(b, rows)| {
            let y0 = (b * band) as f32;
            let y1 = y0 + (rows.len() / w) as f32;
            for d in &dabs {
                if d.y + d.rx < y0 || d.y - d.rx >= y1 {
                    continue;
                }
                paint_dab(rows, w, y0 as isize, d);
            }
        });

    // Dappled light through leaves: soft warm patches.
    let dapple = coarse_noise(seed ^ 0xD4, w, h, scaled_f(w, h, 40.0), 8);
    let sun = rgb(0xFFE9B8);
    let out = Canvas::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let n = dapple.v[i];
        let c = scale(canvas.px[i], 1.0 + p.dapple * 0.22 * (n - 0.5));
        mix(c, sun, p.dapple * 0.25 * ((n - 0.6) * 3.0).clamp(0.0, 1.0))
    });
    out.to_image()
}

/// A soft elliptical dab whose opacity falls to zero at its rim: feathery, never a hard
/// edge. `rows` is a band of the canvas starting at row `top`.
fn paint_dab(rows: &mut [[f32; 3]], w: usize, top: isize, d: &Dab) {
    let hgt = (rows.len() / w) as isize;
    // The rotated ellipse's own bounding box (a third of the square around its long
    // radius): the pixels outside it are never painted.
    let bx = ((d.rx * d.cos).powi(2) + (d.ry * d.sin).powi(2))
        .sqrt()
        .ceil() as isize;
    let by = ((d.rx * d.sin).powi(2) + (d.ry * d.cos).powi(2))
        .sqrt()
        .ceil() as isize;
    let (inv_rx, inv_ry) = (1.0 / d.rx, 1.0 / d.ry);
    let (cx, cy) = (d.x as isize, d.y as isize);
    for yy in (cy - by).max(top)..(cy + by + 1).min(top + hgt) {
        for xx in (cx - bx).max(0)..(cx + bx + 1).min(w as isize) {
            let (fx, fy) = (xx as f32 - d.x, yy as f32 - d.y);
            let u = (fx * d.cos + fy * d.sin) * inv_rx;
            let v = (-fx * d.sin + fy * d.cos) * inv_ry;
            let q = u * u + v * v;
            if q < 1.0 {
                // Full paint in the middle, feathered over the outer part of the dab.
                let a = super::canvas::smoothstep(1.0, 0.45, q) * d.alpha;
                let px = &mut rows[(yy - top) as usize * w + xx as usize];
                *px = mix(*px, d.colour, a);
            }
        }
    }
}
