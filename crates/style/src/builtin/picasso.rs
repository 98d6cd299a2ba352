//! Picasso, cubist period: the picture broken into angular facets, each shaded flat with
//! a gradient in an ochre, brown, grey and muted-blue palette, some facets displaced, and
//! bold dark contours along facet borders and strong edges.

use image::RgbImage;

use super::canvas::{hash01, mix, nearest, rgb, scale, scaled, Canvas, Plane};

pub fn paint(photo: &RgbImage, seed: u64) -> RgbImage {
    let src = Canvas::from_image(photo);
    let (w, h) = (src.w, src.h);
    let palette = [
        rgb(0xC49A45), // ochre
        rgb(0xE1C27A), // light ochre
        rgb(0x7A4B2A), // brown
        rgb(0x3E2A1E), // dark brown
        rgb(0x8C8C84), // grey
        rgb(0xD3CBB8), // cream grey
        rgb(0x4E6A87), // muted blue
        rgb(0x2F3E56), // slate
    ];

    // Facet sites on a jittered grid; Voronoi cells give straight, angular borders.
    let cell = scaled(w, h, 30.0) as f32;
    let cols = (w as f32 / cell).ceil() as usize + 1;
    let rows = (h as f32 / cell).ceil() as usize + 1;
    let site = |gx: usize, gy: usize| {
        let r = |k| hash01(seed, (gy * cols + gx) as u64, k);
        (
            (gx as f32 + 0.1 + 0.8 * r(1)) * cell,
            (gy as f32 + 0.1 + 0.8 * r(2)) * cell,
        )
    };
    let mut label = vec![0usize; w * h];
    for y in 0..h {
        for x in 0..w {
            let (cx, cy) = ((x as f32 / cell) as usize, (y as f32 / cell) as usize);
            let mut best = (f32::MAX, 0);
            for gy in cy.saturating_sub(1)..(cy + 2).min(rows) {
                for gx in cx.saturating_sub(1)..(cx + 2).min(cols) {
                    let (sx, sy) = site(gx, gy);
                    let d = (sx - x as f32).powi(2) + (sy - y as f32).powi(2);
                    if d < best.0 {
                        best = (d, gy * cols + gx);
                    }
                }
            }
            label[y * w + x] = best.1;
        }
    }

    // Each facet samples the photo from a displaced spot: the face is seen from two places.
    let n = cols * rows;
    let mut sum = vec![[0.0f32; 3]; n];
    let mut count = vec![0.0f32; n];
    for y in 0..h {
        for x in 0..w {
            let l = label[y * w + x];
            let shift = if hash01(seed ^ 0x5EED, l as u64, 0) < 0.3 {
                cell * 0.4
            } else {
                0.0
            };
            let dx = (hash01(seed, l as u64, 3) - 0.5) * 2.0 * shift;
            let dy = (hash01(seed, l as u64, 4) - 0.5) * 2.0 * shift;
            let c = src.get((x as f32 + dx) as isize, (y as f32 + dy) as isize);
            sum[l] = [sum[l][0] + c[0], sum[l][1] + c[1], sum[l][2] + c[2]];
            count[l] += 1.0;
        }
    }
    let facet: Vec<[f32; 3]> = (0..n)
        .map(|l| {
            let mean = scale(sum[l], 1.0 / count[l].max(1.0));
            mix(nearest(mean, &palette), mean, 0.3)
        })
        .collect();

    let edges = {
        let (gx, gy) = Plane::luma(photo).blur(scaled(w, h, 1.0)).gradient();
        Plane {
            v: gx
                .v
                .iter()
                .zip(&gy.v)
                .map(|(a, b)| (a * a + b * b).sqrt())
                .collect(),
            ..gx
        }
    };
    let line = rgb(0x1C140F);
    let thick = scaled(w, h, 1.5) as isize;
    let mut out = Canvas {
        w,
        h,
        px: vec![[0.0; 3]; w * h],
    };
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let l = label[i];
            let (gx, gy) = (l % cols, l / cols);
            let (sx, sy) = site(gx, gy);
            let angle = hash01(seed, l as u64, 5) * std::f32::consts::TAU;
            let t = ((x as f32 - sx) * angle.cos() + (y as f32 - sy) * angle.sin()) / cell;
            let mut p = scale(facet[l], (0.92 + 0.35 * t).clamp(0.6, 1.25));
            let border = (-thick..=thick).any(|d| {
                let (xx, yy) = (
                    (x as isize + d).clamp(0, w as isize - 1),
                    (y as isize + d).clamp(0, h as isize - 1),
                );
                label[y * w + xx as usize] != l || label[yy as usize * w + x] != l
            });
            if border || edges.v[i] > 0.45 {
                p = mix(p, line, 0.85);
            }
            out.px[i] = p;
        }
    }
    out.to_image()
}
