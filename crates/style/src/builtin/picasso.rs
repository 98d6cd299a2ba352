//! Picasso, cubist period: the picture cut by a few straight lines into planes, each
//! seeing the photo from a slightly different place; every plane broken into angular
//! facets shaded with a gradient in an ochre, brown, grey and muted-blue palette; bold
//! dark contours where facets of different value meet and along the strong edges.
//!
//! Contours only where neighbouring facets differ keeps similar facets together as one
//! larger plane of colour, which is what makes it read as cubism rather than a mosaic.

use image::RgbImage;
use rayon::prelude::*;

use super::canvas::{
    hash01, luma, mix, nearest, rgb, scale, scaled, scaled_f, smoothstep, Canvas, Plane,
};
use super::params::PicassoParams;

/// `modelling` (0 to 1): how much of the photo's own light and shade each facet keeps.
/// The whole picture takes none (flat planes); a face painted on its own takes some, so
/// the planes turn with the face and its features stay where they are.
pub fn paint(photo: &RgbImage, seed: u64, p: &PicassoParams, modelling: f32) -> RgbImage {
    let src = Canvas::from_image(photo);
    let (w, h) = (src.w, src.h);
    let palette: Vec<[f32; 3]> = p.palette.iter().map(|c| rgb(c.0)).collect();
    let short = w.min(h) as f32;

    // Planes: straight cuts through the picture; each side of each cut is a plane.
    let planes = p.planes.min(6) as usize;
    let cuts: Vec<(f32, f32, f32, f32)> = (0..planes)
        .map(|k| {
            let r = |j| hash01(seed ^ 0xC0, k as u64, j);
            let (px, py) = (
                (0.25 + 0.5 * r(1)) * w as f32,
                (0.2 + 0.6 * r(2)) * h as f32,
            );
            let a = r(3) * std::f32::consts::PI;
            (px, py, a.cos(), a.sin())
        })
        .collect();
    let plane_of = |x: f32, y: f32| -> usize {
        cuts.iter().enumerate().fold(0, |m, (k, &(px, py, c, s))| {
            m | (usize::from((x - px) * s - (y - py) * c > 0.0) << k)
        })
    };
    let n_planes = 1usize << planes;
    let offsets: Vec<(f32, f32)> = (0..n_planes)
        .map(|m| {
            let r = |j| hash01(seed ^ 0x0FF, m as u64, j) - 0.5;
            (
                r(1) * 2.0 * p.displacement * short,
                r(2) * 2.0 * p.displacement * short,
            )
        })
        .collect();

    let light: Vec<f32> = (0..n_planes)
        .map(|m| hash01(seed ^ 0x11, m as u64, 0) * std::f32::consts::TAU)
        .collect();

    // Facet sites on a jittered grid, computed once.
    let cell = scaled_f(w, h, p.facet_size).max(4.0);
    let cols = (w as f32 / cell).ceil() as usize + 1;
    let rows = (h as f32 / cell).ceil() as usize + 1;
    let sites: Vec<(f32, f32)> = (0..rows * cols)
        .map(|k| {
            let r = |j| hash01(seed, k as u64, j);
            let (gx, gy) = ((k % cols) as f32, (k / cols) as f32);
            (
                (gx + 0.1 + 0.8 * r(1)) * cell,
                (gy + 0.1 + 0.8 * r(2)) * cell,
            )
        })
        .collect();

    // Label = facet × plane, so the cuts slice straight through facets.
    let mut label = vec![0u32; w * h];
    label.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let fy = y as f32 + 0.5;
        let cy = (fy / cell) as usize;
        for (x, out) in row.iter_mut().enumerate() {
            let fx = x as f32 + 0.5;
            let cx = (fx / cell) as usize;
            let mut best = (f32::MAX, 0usize);
            for gy in cy.saturating_sub(1)..(cy + 2).min(rows) {
                for gx in cx.saturating_sub(1)..(cx + 2).min(cols) {
                    let (sx, sy) = sites[gy * cols + gx];
                    let d = (sx - fx) * (sx - fx) + (sy - fy) * (sy - fy);
                    if d < best.0 {
                        best = (d, gy * cols + gx);
                    }
                }
            }
            *out = (best.1 * n_planes + plane_of(fx, fy)) as u32;
        }
    });

    // Each facet's colour: the mean of the photo as its plane sees it.
    // Summed in parallel over bands of rows, each band with its own totals.
    let n = rows * cols * n_planes;
    let band = h.div_ceil(8).max(1);
    let (sum, count) = label
        .par_chunks(w * band)
        .enumerate()
        .map(|(b, labels)| {
            let mut sum = vec![[0.0f32; 3]; n];
            let mut count = vec![0u32; n];
            for (k, &l) in labels.iter().enumerate() {
                let (x, y) = (k % w, b * band + k / w);
                let l = l as usize;
                let (dx, dy) = offsets[l % n_planes];
                let c = src.sample(x as f32 + dx, y as f32 + dy);
                sum[l] = [sum[l][0] + c[0], sum[l][1] + c[1], sum[l][2] + c[2]];
                count[l] += 1;
            }
            (sum, count)
        })
        .reduce(
            || (vec![[0.0f32; 3]; n], vec![0u32; n]),
            |(mut s1, mut c1), (s2, c2)| {
                for l in 0..n {
                    s1[l] = [
                        s1[l][0] + s2[l][0],
                        s1[l][1] + s2[l][1],
                        s1[l][2] + s2[l][2],
                    ];
                    c1[l] += c2[l];
                }
                (s1, c1)
            },
        );
    let facet: Vec<[f32; 3]> = (0..n)
        .map(|l| {
            let mean = scale(sum[l], 1.0 / count[l].max(1) as f32);
            // Push the value apart a little so planes read as light and shadow.
            let l_ = luma(mean);
            let contrasted = scale(mean, ((l_ - 0.5) * 1.3 + 0.5).max(0.02) / l_.max(0.02));
            mix(contrasted, nearest(contrasted, &palette), p.palette_pull)
        })
        .collect();
    let value: Vec<f32> = facet.iter().map(|&c| luma(c)).collect();

    let edges = {
        let (gx, gy) = Plane::luma(photo).blur(scaled(w, h, 1.5)).gradient();
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
    let shade = (modelling > 0.0).then(|| Plane::luma(photo).blur(scaled(w, h, 3.0)));
    let line = rgb(0x1C140F);
    let reach = scaled_f(w, h, p.contour_width).round().max(1.0) as isize;
    let out = Canvas::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let l = label[i] as usize;
        let site = sites[l / n_planes];
        // Light falls on each plane from its own side, so the facets of one plane shade
        // alike and read together as one turned surface.
        let angle = light[l % n_planes];
        let t = ((x as f32 - site.0) * angle.cos() + (y as f32 - site.1) * angle.sin()) / cell;
        let mut q = scale(facet[l], (1.0 + 0.18 * t).clamp(0.82, 1.15));
        if let Some(shade) = &shade {
            let ratio = (shade.v[i] + 0.05) / (value[l] + 0.05);
            q = scale(q, ratio.powf(modelling).clamp(0.45, 1.9));
        }
        // A contour where this facet meets one of clearly different value, or another plane.
        let mut contour = false;
        for (dx, dy) in [(reach, 0), (-reach, 0), (0, reach), (0, -reach)] {
            let (xx, yy) = (
                (x as isize + dx).clamp(0, w as isize - 1) as usize,
                (y as isize + dy).clamp(0, h as isize - 1) as usize,
            );
            let m = label[yy * w + xx] as usize;
            if m != l
                && ((value[m] - value[l]).abs() > p.contour_contrast
                    || m % n_planes != l % n_planes)
            {
                contour = true;
                break;
            }
        }
        if contour {
            q = mix(q, line, 0.88);
        } else {
            q = mix(q, line, 0.8 * smoothstep(0.3, 0.5, edges.v[i]));
        }
        // A dry, slightly uneven paint surface.
        scale(
            q,
            0.96 + 0.08 * hash01(seed ^ 0x7E, x as u64 / 2, y as u64 / 2),
        )
    });
    out.to_image()
}
