//! The face, painted again at a face's scale and set back into the painting.
//!
//! A painter's strokes, cells and dots are sized for the whole picture, so a face that
//! is a tenth of the frame gets three cells across and loses its eyes. For each face
//! found ([`crate::faces`]), the region around it (hair to chin) is cut from the photo,
//! brought to about [`FACE_SIDE`] px (enlarged when small, reduced when large), painted by the same painter
//! in its face manner ([`face_params`]: finer marks, truer skin, features drawn), shrunk
//! back and blended in through a soft-edged oval. Picasso and Van Gogh lose any face
//! otherwise; Renoir and Lichtenstein keep a large one, so only a small face (a region
//! under [`FACE_SIDE`]) is painted again for them.

use image::imageops;
use image::RgbImage;

use super::params::BuiltinParams;
use crate::faces::Face;
use crate::resize::{resize, FilterType};
use crate::Painter;

/// The long side a face region is painted at.
pub const FACE_SIDE: f32 = 224.0;
/// Faces beyond this many (largest first) keep the whole-picture painting.
const MAX_FACES: usize = 3;

/// The region painted for a face: x, y, w, h in photo pixels, clipped to the photo.
pub fn region(face: &Face, (pw, ph): (u32, u32)) -> (u32, u32, u32, u32) {
    let cx = face.x + face.w * 0.5;
    let cy = face.y + face.h * 0.55;
    let (rw, rh) = (face.w * 0.86, face.h * 1.1);
    let x0 = (cx - rw).floor().max(0.0) as u32;
    let y0 = (cy - rh).floor().max(0.0) as u32;
    let x1 = ((cx + rw).ceil() as u32).min(pw);
    let y1 = ((cy + rh).ceil() as u32).min(ph);
    (x0, y0, x1.saturating_sub(x0), y1.saturating_sub(y0))
}

/// The painter's settings for a face.
pub fn face_params(painter: Painter, p: &BuiltinParams) -> BuiltinParams {
    let mut f = p.clone();
    match painter {
        Painter::Picasso => {
            // A few bold planes across the face, its features drawn as contours, the
            // skin kept warm rather than pulled to the palette's greys.
            let q = &mut f.picasso;
            q.facet_size = (q.facet_size * 3.0).min(512.0);
            q.planes = 1;
            q.displacement = q.displacement.min(0.02);
            q.palette_pull *= 0.1;
            q.contour_contrast = q.contour_contrast.max(0.35);
        }
        Painter::Renoir => {
            // Smaller, crisper dabs so the eyes and mouth do not blur.
            let q = &mut f.renoir;
            q.dab_spacing = (q.dab_spacing * 0.75).max(1.0);
            q.softness *= 0.5;
        }
        Painter::VanGogh => {
            // Shorter, finer strokes; skin kept in skin tones; no dark outline smears.
            let q = &mut f.vangogh;
            q.stroke_length = (q.stroke_length * 0.6).max(1.0);
            q.stroke_width = (q.stroke_width * 0.7).max(0.5);
            q.palette_pull *= 0.6;
            q.impasto *= 0.5;
            q.outline_threshold = 1.0;
        }
        Painter::Lichtenstein => {
            // Finer dots and outlines, so the features read at the face's size.
            // The enlarged face has softer edges than the picture, so its lines need a
            // lower threshold to be drawn at all.
            let q = &mut f.lichtenstein;
            q.dot_pitch = (q.dot_pitch * 0.75).max(3.0);
            q.outline_threshold *= 0.7;
        }
    }
    f
}

/// The settings for the picture around a face: Picasso breaks it into larger planes,
/// so the portrait stands out against a bolder backdrop.
pub fn backdrop_params(p: &BuiltinParams) -> BuiltinParams {
    let mut f = p.clone();
    f.picasso.facet_size = (f.picasso.facet_size * 1.7).min(512.0);
    f
}

/// `painting` with each face of `photo` painted at its own scale and blended in.
pub fn paint_faces(
    painter: Painter,
    photo: &RgbImage,
    faces: &[Face],
    seed: u64,
    params: &BuiltinParams,
    mut painting: RgbImage,
) -> RgbImage {
    let mut fp = face_params(painter, params);
    let long = photo.width().max(photo.height()) as f32;
    for face in faces.iter().take(MAX_FACES) {
        let (mut x, mut y, mut w, mut h) = region(face, photo.dimensions());
        if w < 8 || h < 8 {
            continue;
        }
        // Lichtenstein's face is printed with the picture's own dot screen: at the
        // picture's scale, from a corner on the screen's grid (a 45° grid of pitch p
        // repeats every p√2 along x and y). A face too small to hold a dozen of those
        // dots across (a visitor photographed full-length) would print as a blob, so
        // it is enlarged and painted at a face's scale like the other painters' faces.
        let pitch = params.lichtenstein.dot_pitch * long / 512.0;
        let screen = painter == Painter::Lichtenstein && w.max(h) as f32 >= 12.0 * pitch;
        if screen {
            let period = (pitch * std::f32::consts::SQRT_2).round().max(1.0) as u32;
            let (x0, y0) = (x - x % period, y - y % period);
            (w, h, x, y) = (w + x - x0, h + y - y0, x0, y0);
            fp.lichtenstein.dot_pitch = params.lichtenstein.dot_pitch * long / w.max(h) as f32;
        }
        // Every face is painted at about FACE_SIDE: a small one enlarged, a large one
        // reduced (its marks are then a little softer, but the pass costs a fraction
        // of the picture's).
        let scale = if screen {
            1.0
        } else {
            (FACE_SIDE / w.max(h) as f32).clamp(0.5, 4.0)
        };
        // Renoir and Lichtenstein keep a face that fills enough of the picture on their
        // own; only a small one is worth painting again.
        let small = (w.max(h) as f32) < FACE_SIDE;
        if matches!(painter, Painter::Renoir | Painter::Lichtenstein) && !small {
            continue;
        }
        let crop = imageops::crop_imm(photo, x, y, w, h).to_image();
        let (sw, sh) = (
            (w as f32 * scale).round() as u32,
            (h as f32 * scale).round() as u32,
        );
        let crop = if scale != 1.0 {
            resize(&crop, sw, sh, FilterType::CatmullRom)
        } else {
            crop
        };
        let painted = super::render_whole(painter, &crop, seed ^ 0xFACE, &fp, true);
        let painted = if scale != 1.0 {
            resize(&painted, w, h, FilterType::Bilinear)
        } else {
            painted
        };
        // A soft oval around the face: fully the face painting inside, the picture's
        // own painting outside, blended over the outer fifth (Van Gogh: the outer
        // third, so his differently stroked backgrounds meet without a ring).
        let inner = if painter == Painter::VanGogh {
            0.62
        } else {
            0.78
        };
        let (cx, cy) = (
            face.x + face.w * 0.5 - x as f32,
            face.y + face.h * 0.55 - y as f32,
        );
        let (rx, ry) = (face.w * 0.84, face.h * 1.07);
        super::canvas::blend_in(&mut painting, (x, y), &painted, |px, py| {
            let dx = (px as f32 + 0.5 - cx) / rx;
            let dy = (py as f32 + 0.5 - cy) / ry;
            let r = (dx * dx + dy * dy).sqrt();
            let t = 1.0 - ((r - inner) / (1.0 - inner)).clamp(0.0, 1.0);
            t * t * (3.0 - 2.0 * t)
        });
    }
    painting
}
