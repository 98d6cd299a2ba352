//! Renoir: many small soft dabs over a warm, blurred underpainting, with peach and rose
//! light, pastel shadows, dappled brightness and no hard outlines.

use image::RgbImage;

use super::canvas::{hash01, luma, mix, rgb, scale, scaled, value_noise, Canvas};

pub fn paint(photo: &RgbImage, seed: u64) -> RgbImage {
    let src = Canvas::from_image(photo);
    let (w, h) = (src.w, src.h);
    let peach = rgb(0xF6C3A4);
    let rose = rgb(0xE8A0A8);
    let pastel_blue = rgb(0x9DB8D9);
    let pastel_green = rgb(0xA9C8A0);

    // Warm the colours: lights toward peach and rose, shadows toward pastel blue-green.
    let mut warm = src.blur(scaled(w, h, 2.0));
    for p in warm.px.iter_mut() {
        let l = luma(*p);
        let light = mix(peach, rose, (1.0 - l).clamp(0.0, 1.0) * 0.5);
        let shadow = mix(pastel_blue, pastel_green, 0.4);
        let tint = if l > 0.45 { light } else { shadow };
        *p = mix(mix(*p, tint, 0.28), [1.0; 3], 0.1);
    }
    let mut out = warm.blur(scaled(w, h, 5.0));

    // Two layers of dabs: broad ones first, then finer ones that carry detail.
    for (layer, spacing, size) in [(0u64, 6.0f32, 1.7f32), (1, 3.5, 1.2)] {
        let step = (spacing * w.max(h) as f32 / 512.0).max(1.0);
        let (cols, rows) = ((w as f32 / step) as u64 + 1, (h as f32 / step) as u64 + 1);
        for gy in 0..rows {
            for gx in 0..cols {
                let r = |k: u64| hash01(seed ^ layer, gx * 7919 + k, gy);
                let cx = (gx as f32 + r(1)) * step;
                let cy = (gy as f32 + r(2)) * step;
                let color = warm.get(cx as isize, cy as isize);
                let jitter = mix(
                    color,
                    if r(3) > 0.5 { rose } else { pastel_blue },
                    0.12 * r(4),
                );
                dab(
                    &mut out,
                    cx,
                    cy,
                    step * size * (0.8 + 0.4 * r(5)),
                    r(6) * std::f32::consts::PI,
                    jitter,
                );
            }
        }
    }

    // Dappled light through leaves.
    let cell = scaled(w, h, 45.0) as f32;
    for y in 0..h {
        for x in 0..w {
            let n = value_noise(seed ^ 0xD4, x as f32, y as f32, cell);
            let p = &mut out.px[y * w + x];
            *p = scale(*p, 0.9 + 0.2 * n);
        }
    }
    out.to_image()
}

/// A soft elliptical dab whose alpha falls to zero at its rim: feathery, never a hard edge.
fn dab(c: &mut Canvas, cx: f32, cy: f32, radius: f32, angle: f32, color: [f32; 3]) {
    let (ca, sa) = (angle.cos(), angle.sin());
    let (rx, ry) = (radius, radius * 0.55);
    let reach = radius.ceil() as isize;
    for dy in -reach..=reach {
        for dx in -reach..=reach {
            let (x, y) = (cx as isize + dx, cy as isize + dy);
            if x < 0 || y < 0 || x >= c.w as isize || y >= c.h as isize {
                continue;
            }
            let (fx, fy) = (x as f32 - cx, y as f32 - cy);
            let (u, v) = ((fx * ca + fy * sa) / rx, (-fx * sa + fy * ca) / ry);
            let d = u * u + v * v;
            if d < 1.0 {
                let a = (1.0 - d) * (1.0 - d) * 0.75;
                let i = y as usize * c.w + x as usize;
                c.px[i] = mix(c.px[i], color, a);
            }
        }
    }
}
