//! Guided upsampling (He, Sun and Tang's guided filter, in its fast form): the alpha is
//! modelled, in each small window, as a linear function of the photo's brightness,
//! `alpha ≈ a·I + b`. The coefficients are fitted at the model's size, enlarged
//! bilinearly, and applied to the full-size photo, so the matte's edges follow the
//! photo's own edges (a strand of hair, the line of a shoulder) instead of the blur of
//! an enlarged low-resolution mask.

use image::{GrayImage, RgbImage};

/// Window radius at the model's size.
const RADIUS: usize = 2;
/// Regularisation: how far a window's brightness must vary before the alpha follows
/// it. Brightness is 0–1; a window flatter than about 0.03 keeps its mean alpha.
const EPS: f32 = 1e-3;

fn luma(p: &[u8]) -> f32 {
    (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])) / 255.0
}

/// Box mean over a (2r+1)² window, clipped at the borders, through summed-area tables.
fn box_mean(v: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut sat = vec![0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0f64;
        for x in 0..w {
            row += f64::from(v[y * w + x]);
            sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1] + row;
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let s = sat[y1 * (w + 1) + x1] - sat[y0 * (w + 1) + x1] - sat[y1 * (w + 1) + x0]
                + sat[y0 * (w + 1) + x0];
            out[y * w + x] = (s / ((y1 - y0) * (x1 - x0)) as f64) as f32;
        }
    }
    out
}

/// Bilinear sample of a `w`×`h` field at the centre of full-size pixel (`x`, `y`) of a
/// `fw`×`fh` picture.
fn sample(v: &[f32], w: usize, h: usize, fx: f32, fy: f32) -> f32 {
    let x = (fx - 0.5).clamp(0.0, (w - 1) as f32);
    let y = (fy - 0.5).clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (tx, ty) = (x - x0 as f32, y - y0 as f32);
    let top = v[y0 * w + x0] * (1.0 - tx) + v[y0 * w + x1] * tx;
    let bottom = v[y1 * w + x0] * (1.0 - tx) + v[y1 * w + x1] * tx;
    top * (1.0 - ty) + bottom * ty
}

/// `alpha` (row by row, 0–1) at the size of `small`, brought to the size of `photo`
/// with `small` and `photo` (the same picture at two sizes) as guides.
pub fn upsample_guided(alpha: &[f32], small: &RgbImage, photo: &RgbImage) -> GrayImage {
    let (w, h) = (small.width() as usize, small.height() as usize);
    assert_eq!(
        alpha.len(),
        w * h,
        "one alpha per pixel of the small picture"
    );
    let i: Vec<f32> = small.as_raw().chunks_exact(3).map(luma).collect();
    let ii: Vec<f32> = i.iter().map(|v| v * v).collect();
    let ip: Vec<f32> = i.iter().zip(alpha).map(|(a, b)| a * b).collect();
    let (mi, mp) = (box_mean(&i, w, h, RADIUS), box_mean(alpha, w, h, RADIUS));
    let (mii, mip) = (box_mean(&ii, w, h, RADIUS), box_mean(&ip, w, h, RADIUS));
    let mut a = vec![0f32; w * h];
    let mut b = vec![0f32; w * h];
    for k in 0..w * h {
        let var = mii[k] - mi[k] * mi[k];
        let cov = mip[k] - mi[k] * mp[k];
        a[k] = cov / (var + EPS);
        b[k] = mp[k] - a[k] * mi[k];
    }
    let (a, b) = (box_mean(&a, w, h, RADIUS), box_mean(&b, w, h, RADIUS));
    let (fw, fh) = photo.dimensions();
    let (sx, sy) = (w as f32 / fw as f32, h as f32 / fh as f32);
    let mut out = GrayImage::new(fw, fh);
    for (x, y, px) in out.enumerate_pixels_mut() {
        let (cx, cy) = ((x as f32 + 0.5) * sx, (y as f32 + 0.5) * sy);
        let guide = luma(&photo.get_pixel(x, y).0);
        let v = sample(&a, w, h, cx, cy) * guide + sample(&b, w, h, cx, cy);
        px[0] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    }
    out
}
