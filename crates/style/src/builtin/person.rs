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
//!
//! Without a matte to trust (no model, or one that missed the person: MODNet, made for
//! portraits, keeps only the legs of the men standing in docs/samples/photos'
//! full-length street photograph), a small face stands for its figure: [`figure`]
//! draws a soft standing body below it, as tall as eight faces.

use image::{imageops, GrayImage, RgbImage};

use super::backdrop::person_box;
use super::canvas::{blend_in, smoothstep};
use super::params::BuiltinParams;
use crate::faces::Face;
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

/// A matte for the standing figures whose faces these are, when the photo has no
/// matte to trust: each face's head (an oval) and below it a body three faces wide,
/// down to eight faces below the top of the head (an adult's height) or the frame's
/// edge, with edges soft over a quarter of a face. `None` without faces.
pub fn figure(faces: &[Face], (w, h): (u32, u32)) -> Option<GrayImage> {
    if faces.is_empty() {
        return None;
    }
    let mut matte = GrayImage::new(w, h);
    for f in faces {
        let (cx, cy) = (f.x + f.w * 0.5, f.y + f.h * 0.5);
        let soft = (f.w * 0.25).max(1.0);
        let top = f.y - f.h * 0.3;
        let (body_top, bottom) = (f.y + f.h * 0.9, top + f.h * 8.0);
        let half = f.w * 1.5;
        let y0 = top.floor().max(0.0) as u32;
        let y1 = (bottom.ceil().max(0.0) as u32).min(h);
        let x0 = (cx - half - soft).floor().max(0.0) as u32;
        let x1 = ((cx + half + soft).ceil().max(0.0) as u32).min(w);
        for y in y0..y1 {
            for x in x0..x1 {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                // Inside the head's oval, in faces: below 1 is inside.
                let head =
                    (((px - cx) / (f.w * 0.7)).powi(2) + ((py - cy) / (f.h * 0.85)).powi(2)).sqrt();
                let head = 1.0 - smoothstep(1.0 - soft / f.w, 1.0 + soft / f.w, head);
                // The body: its distance outside the column, in pixels.
                let out = ((px - cx).abs() - half).max(body_top - py).max(py - bottom);
                let body = 1.0 - smoothstep(-soft, soft, out);
                let a = head.max(body);
                let p = matte.get_pixel_mut(x, y);
                p[0] = p[0].max((a * 255.0).round() as u8);
            }
        }
    }
    Some(matte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_faces_figure_is_a_head_over_a_body_eight_faces_tall_with_soft_edges() {
        let face = Face {
            x: 90.0,
            y: 40.0,
            w: 20.0,
            h: 20.0,
        };
        assert!(figure(&[], (200, 300)).is_none());
        let m = figure(&[face], (200, 300)).unwrap();
        assert_eq!(m.dimensions(), (200, 300));
        let at = |x: u32, y: u32| m.get_pixel(x, y)[0];
        // The face, the chest, the knees: all person.
        assert_eq!(at(100, 50), 255);
        assert_eq!(at(100, 90), 255);
        assert_eq!(at(100, 180), 255);
        // Above the head, beside the body, below the feet (8 faces from the head's
        // top, 34 + 160 = 194): background.
        assert_eq!(at(100, 20), 0);
        assert_eq!(at(40, 120), 0);
        assert_eq!(at(100, 210), 0);
        // Beside the head (the shoulders start below it): background.
        assert_eq!(at(74, 45), 0);
        // The body's edge is soft: 1.5 faces out (x = 70) it is half person.
        assert!((96..=160).contains(&at(70, 120)), "{}", at(70, 120));
        // Two faces, two figures.
        let two = figure(&[face, Face { x: 10.0, ..face }], (200, 300)).unwrap();
        assert_eq!(two.get_pixel(20, 120)[0], 255);
        assert_eq!(two.get_pixel(100, 120)[0], 255);
    }
}
