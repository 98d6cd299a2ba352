//! A job's inputs made ready: the photo cropped to the output's shape, and the
//! Gaussian noise the sampler starts from.

use image::RgbImage;
use rand::Rng;

/// The centre of `img` at the aspect ratio of w:h, resized to w×h (Lanczos).
pub fn crop_to_fill(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (iw, ih) = img.dimensions();
    let scale = f64::max(w as f64 / iw as f64, h as f64 / ih as f64);
    let (cw, ch) = (
        ((w as f64 / scale).round() as u32).clamp(1, iw),
        ((h as f64 / scale).round() as u32).clamp(1, ih),
    );
    let (x, y) = ((iw - cw) / 2, (ih - ch) / 2);
    let crop = image::imageops::crop_imm(img, x, y, cw, ch).to_image();
    if (cw, ch) == (w, h) {
        crop
    } else {
        image::imageops::resize(&crop, w, h, image::imageops::FilterType::Lanczos3)
    }
}

/// The next `count` standard normal numbers from `rng` (Box–Muller).
pub fn gaussian_from(rng: &mut rand::rngs::StdRng, count: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(count + 1);
    while out.len() < count {
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        out.push((r * a.cos()) as f32);
        out.push((r * a.sin()) as f32);
    }
    out.truncate(count);
    out
}
