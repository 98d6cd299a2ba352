//! A small standing figure, painted again at a person's scale.
//!
//! A painter's strokes, cells and dots are sized for the whole picture. A visitor
//! photographed full-length fills a third of the frame, and the marks that suit a
//! head-and-shoulders portrait wash their figure out. When the photo has a matte, its
//! person box tells how large the visitor is: a small figure (under
//! [`SMALL_FIGURE`] of the picture) is cut out with a margin, enlarged to about
//! [`PERSON_SIDE`] px, painted there, brought back and blended in through the matte, so
//! the figure is painted with marks a portrait's size relative to the person. The face
//! pass ([`super::portrait`]) then runs on top as before.

use image::{imageops, GrayImage, RgbImage};

use super::backdrop::person_box;
use super::canvas::{blend_in, smoothstep};
use super::params::BuiltinParams;
use crate::resize::{resize, FilterType};
use crate::Painter;

/// The long side a small figure is painted at.
pub const PERSON_SIDE: f32 = 384.0;
/// A figure whose box's long side is under this share of the picture's is small.
pub const SMALL_FIGURE: f32 = 0.6;

/// `painting` (of `picture`) with the person of `matte` painted again at a person's
/// scale when the figure is small; unchanged otherwise.
pub fn paint_person(
    painter: Painter,
    picture: &RgbImage,
    matte: &GrayImage,
    seed: u64,
    params: &BuiltinParams,
    mut painting: RgbImage,
) -> RgbImage {
    let (pw, ph) = picture.dimensions();
    if matte.dimensions() != (pw, ph) || painting.dimensions() != (pw, ph) {
        return painting;
    }
    let Some((x, y, w, h)) = person_box(matte) else {
        return painting;
    };
    let long = pw.max(ph) as f32;
    let side = w.max(h);
    if side as f32 >= SMALL_FIGURE * long || side < 24 {
        return painting;
    }
    let margin = (side as f32 * 0.08).ceil() as u32;
    let (mut x0, mut y0) = (x.saturating_sub(margin), y.saturating_sub(margin));
    let (x1, y1) = ((x + w + margin).min(pw), (y + h + margin).min(ph));
    let scale = (PERSON_SIDE / side as f32).clamp(1.0, 3.0);
    let mut fp = params.clone();
    if painter == Painter::Lichtenstein {
        // The figure is printed with the picture's own dot screen: dots of the same
        // size once shrunk back, on the same grid (a 45° grid of pitch p repeats every
        // p√2 along x and y).
        let pitch = params.lichtenstein.dot_pitch * long / 512.0;
        let period = (pitch * std::f32::consts::SQRT_2).round().max(1.0) as u32;
        (x0, y0) = (x0 - x0 % period, y0 - y0 % period);
    }
    let (rw, rh) = (x1 - x0, y1 - y0);
    let (sw, sh) = (
        (rw as f32 * scale).round() as u32,
        (rh as f32 * scale).round() as u32,
    );
    if painter == Painter::Lichtenstein {
        // Pitch in the enlarged crop's terms (a share of its long side), so that it
        // is the picture's pitch once shrunk back by `scale`.
        fp.lichtenstein.dot_pitch =
            params.lichtenstein.dot_pitch * long * scale / sw.max(sh) as f32;
    }
    let crop = imageops::crop_imm(picture, x0, y0, rw, rh).to_image();
    let enlarged = resize(&crop, sw, sh, FilterType::CatmullRom);
    let painted = super::render_whole(painter, &enlarged, seed ^ 0x9E45, &fp, false);
    let painted = resize(&painted, rw, rh, FilterType::Bilinear);
    blend_in(&mut painting, (x0, y0), &painted, |px, py| {
        let a = f32::from(matte.get_pixel(x0 + px, y0 + py)[0]) / 255.0;
        smoothstep(0.15, 0.7, a)
    });
    painting
}
