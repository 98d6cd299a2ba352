//! Van Gogh: thick curved strokes that follow the picture's structure, swirls where the
//! photo is flat, cobalt and chrome-yellow colour, impasto relief and broken dark
//! outlines.
//!
//! The stroke direction comes from the smoothed structure tensor (the tangent of the
//! edges); flat areas take theirs from a seeded swirl field. Line integral convolution
//! along that field smears both the colours and a blotchy "bristle" texture, which turns
//! into visible bands of paint; the texture's slope, lit from the upper left, gives the
//! ridges of impasto.
//!
//! The direction field and the colour vary slowly, so both live at half resolution; only
//! the bristle texture, which carries the fine detail, is smeared at full resolution.

use std::f32::consts::PI;

use image::RgbImage;
use rayon::prelude::*;

use super::canvas::{hash01, luma, mix, rgb, scale, scaled_f, value_noise, Canvas, Plane};
use super::params::VanGoghParams;

/// A unit direction per pixel of a half-resolution grid, and the edge strength there.
struct Field {
    w: usize,
    h: usize,
    dir: Vec<(f32, f32)>,
    edge: Vec<f32>,
}

pub fn paint(photo: &RgbImage, seed: u64, p: &VanGoghParams) -> RgbImage {
    let src = Canvas::from_image(photo);
    let (w, h) = (src.w, src.h);
    let half = src.halve();
    let field = flow_field(&half, seed, p, scaled_f(w, h, 1.0));

    // Bristles: blotches about a stroke wide, plus fine grain; smeared along the flow they
    // become bands of paint.
    let band = scaled_f(w, h, p.stroke_width).max(1.0);
    let grain = Plane::from_fn(w, h, |x, y| hash01(seed ^ 0xB1, x as u64, y as u64));
    let blotches = grain.blur((band * 0.5).round().max(1.0) as usize);
    let bristles = Plane::from_fn(w, h, |x, y| {
        let i = y * w + x;
        // Blurred noise has little contrast left; stretch it back around its mean.
        (0.5 + (blotches.v[i] - 0.5) * 4.0).clamp(0.0, 1.0) * 0.75 + 0.25 * grain.v[i]
    });
    let steps = (scaled_f(w, h, p.stroke_length) / 1.5).round().max(2.0) as usize;
    let texture = lic_plane(&bristles, &field, steps);
    let smeared = lic_canvas(&half, &field, steps.div_ceil(2));

    let ultramarine = rgb(0x1F3A93);
    let cobalt = rgb(0x3D6CB9);
    let chrome = rgb(0xF2C12E);
    let outline = rgb(0x14213D);
    let relief = p.impasto * 2.5;
    let out = Canvas::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let c = smeared.sample(x as f32 * 0.5, y as f32 * 0.5);
        let t = texture.v[i];
        let l = luma(c);
        // Darks to ultramarine and cobalt, lights to chrome yellow; mid-tones (skin) keep
        // their own hue.
        let target = if l < 0.35 {
            mix(ultramarine, cobalt, l / 0.35)
        } else if l > 0.6 {
            mix(c, chrome, (l - 0.6) * 2.5)
        } else {
            c
        };
        // Warm colours (skin, red cloth) keep their hue in the shadows too.
        let warm = ((c[0] - c[2]) * 3.0).clamp(0.0, 1.0);
        let pull = if l < 0.35 {
            p.palette_pull * (1.0 - warm)
        } else {
            p.palette_pull
        };
        let mut q = mix(c, target, pull);
        // Impasto: the texture's slope toward the light catches it.
        let (xi, yi) = (x as isize, y as isize);
        let slope = texture.get(xi - 1, yi - 1) - texture.get(xi + 1, yi + 1);
        q = scale(q, 0.9 + relief * slope + 0.25 * (t - 0.5));
        // Outlines are broken by the strokes, not drawn with a ruler.
        let e = field.edge[(y / 2).min(field.h - 1) * field.w + (x / 2).min(field.w - 1)];
        if e > p.outline_threshold && t > 0.48 {
            q = mix(q, outline, ((e - p.outline_threshold) * 4.0).min(0.8));
        }
        q
    });
    out.to_image()
}

/// The stroke direction on `half`'s grid: the edge tangent of the smoothed structure
/// tensor where the picture has structure, the seeded swirl field where it is flat.
/// `unit` is one full-resolution pixel at 512 px, in full-resolution pixels.
fn flow_field(half: &Canvas, seed: u64, p: &VanGoghParams, unit: f32) -> Field {
    let (w, h) = (half.w, half.h);
    let lum = Plane::from_fn(w, h, |x, y| luma(half.px[y * w + x]));
    // At least a pixel of smoothing, so a small picture (a face painted on its own)
    // does not take its strokes from pixel noise.
    let (gx, gy) = lum.blur(((0.75 * unit).round() as usize).max(1)).gradient();
    // Structure tensor, smoothed so strokes bend gently instead of jittering.
    let r = (2.0 * unit).round().max(1.0) as usize;
    let product = |a: &Plane, b: &Plane| Plane {
        v: a.v.iter().zip(&b.v).map(|(x, y)| x * y).collect(),
        w,
        h,
    };
    let (jxx, (jyy, jxy)) = rayon::join(
        || product(&gx, &gx).blur(r),
        || rayon::join(|| product(&gy, &gy).blur(r), || product(&gx, &gy).blur(r)),
    );

    // The swirl field, as unit vectors on a coarse grid (its features are tens of pixels
    // wide), interpolated.
    let cell = (0.5 * unit * p.swirl_size).max(4.0);
    let step = 2usize;
    let (cw, ch) = (w / step + 2, h / step + 2);
    let angle = |x: usize, y: usize| {
        let (fx, fy) = ((x * step) as f32, (y * step) as f32);
        value_noise(seed, fx, fy, cell) * 4.0 * PI + (fx / cell).sin()
    };
    let swirl_x = Plane::from_fn(cw, ch, |x, y| angle(x, y).cos());
    let swirl_y = Plane::from_fn(cw, ch, |x, y| angle(x, y).sin());

    let mut dir = vec![(0.0f32, 0.0f32); w * h];
    let mut edge = vec![0.0f32; w * h];
    let inv = 1.0 / step as f32;
    dir.par_chunks_mut(w)
        .zip(edge.par_chunks_mut(w))
        .enumerate()
        .for_each(|(y, (drow, erow))| {
            for x in 0..w {
                let i = y * w + x;
                let (a, b, c) = (jxx.v[i], jxy.v[i], jyy.v[i]);
                let strength = (a + c).sqrt();
                // The edge tangent is perpendicular to the tensor's dominant direction;
                // half-angle formulas give it without trigonometry.
                let (u, v) = (a - c, 2.0 * b);
                let r = (u * u + v * v).sqrt().max(1e-12);
                let cos_t = ((1.0 + u / r) * 0.5).max(0.0).sqrt();
                let sin_t = ((1.0 - u / r) * 0.5).max(0.0).sqrt().copysign(v);
                let (tx, ty) = (-sin_t, cos_t);
                let (fx, fy) = (x as f32 * inv, y as f32 * inv);
                let (sx, sy) = (swirl_x.sample(fx, fy), swirl_y.sample(fx, fy));
                let k = (strength * 6.0).min(1.0);
                let (vx, vy) = (sx + (tx - sx) * k, sy + (ty - sy) * k);
                let n = (vx * vx + vy * vy).sqrt().max(1e-6);
                drow[x] = (vx / n, vy / n);
                erow[x] = strength;
            }
        });
    Field { w, h, dir, edge }
}

/// Line integral convolution of one channel at `shift` levels above the field's
/// resolution (0: the same grid, 1: twice as fine), with steps of 1.5 of its pixels.
/// Streamlines are walked eight pixels at a time in lockstep: each walk is a chain of
/// dependent loads, and eight independent chains keep the core busy while one waits.
fn lic_plane(src: &Plane, field: &Field, steps: usize) -> Plane {
    const LANES: usize = 8;
    let (w, h) = (src.w, src.h);
    let shift = usize::from(w > field.w);
    let (wf, hf) = (w as f32, h as f32);
    let at = |x: usize, y: usize| {
        field.dir[(y >> shift).min(field.h - 1) * field.w + (x >> shift).min(field.w - 1)]
    };
    Plane::from_rows(w, h, |y, row| {
        for x0 in (0..w).step_by(LANES) {
            let lanes = LANES.min(w - x0);
            let mut acc = [0.0f32; LANES];
            let mut count = [0.0f32; LANES];
            for sign in [1.0f32, -1.0] {
                let mut px = [0.0f32; LANES];
                let mut py = [0.0f32; LANES];
                let mut prev = [(0.0f32, 0.0f32); LANES];
                let mut live = [false; LANES];
                for l in 0..lanes {
                    px[l] = (x0 + l) as f32 + 0.5;
                    py[l] = y as f32 + 0.5;
                    let d = at(x0 + l, y);
                    prev[l] = (d.0 * sign, d.1 * sign);
                    live[l] = true;
                }
                for _ in 0..steps {
                    for l in 0..lanes {
                        if !live[l] {
                            continue;
                        }
                        if px[l] < 0.0 || py[l] < 0.0 || px[l] >= wf || py[l] >= hf {
                            live[l] = false;
                            continue;
                        }
                        let (ix, iy) = (px[l] as usize, py[l] as usize);
                        acc[l] += src.v[iy * w + ix];
                        count[l] += 1.0;
                        let mut d = at(ix, iy);
                        if d.0 * prev[l].0 + d.1 * prev[l].1 < 0.0 {
                            d = (-d.0, -d.1);
                        }
                        prev[l] = d;
                        px[l] += d.0 * 1.5;
                        py[l] += d.1 * 1.5;
                    }
                }
            }
            for l in 0..lanes {
                row[x0 + l] = acc[l] / count[l].max(1.0);
            }
        }
    })
}

/// Line integral convolution of a canvas on the field's own grid.
fn lic_canvas(src: &Canvas, field: &Field, steps: usize) -> Canvas {
    let (w, h) = (src.w, src.h);
    let (wf, hf) = (w as f32, h as f32);
    Canvas::from_fn(w, h, |x, y| {
        let mut acc = [0.0f32; 3];
        let mut count = 0.0f32;
        for sign in [1.0f32, -1.0] {
            let (mut px, mut py) = (x as f32 + 0.5, y as f32 + 0.5);
            let d0 = field.dir[y * w + x];
            let mut prev = (d0.0 * sign, d0.1 * sign);
            for _ in 0..steps {
                if px < 0.0 || py < 0.0 || px >= wf || py >= hf {
                    break;
                }
                let j = py as usize * w + px as usize;
                let c = src.px[j];
                acc = [acc[0] + c[0], acc[1] + c[1], acc[2] + c[2]];
                count += 1.0;
                let mut d = field.dir[j];
                if d.0 * prev.0 + d.1 * prev.1 < 0.0 {
                    d = (-d.0, -d.1);
                }
                prev = d;
                px += d.0 * 1.5;
                py += d.1 * 1.5;
            }
        }
        scale(acc, 1.0 / count.max(1.0))
    })
}
