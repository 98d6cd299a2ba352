//! Finding the visitor's face, so the painters can keep it.
//!
//! The detector is SeetaFace's frontal face detector (a funnel-structured cascade),
//! through the `rustface` crate. Its model (1.2 MB, BSD-2-Clause, by the VIPL group of
//! the Chinese Academy of Sciences; licence in assets/models/LICENSE-seetaface.txt) is
//! compiled into the binary, so nothing is downloaded. It looks at the photo shrunk to
//! 256 px first, then, if it finds no face there, at the photo's own size for small
//! faces ([`detect`]).

use image::RgbImage;

const MODEL: &[u8] = include_bytes!("../../../assets/models/seeta_fd_frontal_v1.0.bin");

/// The long side the detector looks at.
const DETECT_SIDE: u32 = 256;

/// A face's box in the photo's pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl Face {
    pub fn area(&self) -> f32 {
        self.w * self.h
    }

    /// Intersection over union with another box.
    pub fn iou(&self, o: &Face) -> f32 {
        let x0 = self.x.max(o.x);
        let y0 = self.y.max(o.y);
        let x1 = (self.x + self.w).min(o.x + o.w);
        let y1 = (self.y + self.h).min(o.y + o.h);
        let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
        inter / (self.area() + o.area() - inter).max(1e-6)
    }
}

/// The detector's model, parsed once rather than at every detection.
fn model() -> Option<&'static rustface::Model> {
    static MODEL_READ: std::sync::OnceLock<Option<rustface::Model>> = std::sync::OnceLock::new();
    MODEL_READ
        .get_or_init(|| rustface::read_model(std::io::Cursor::new(MODEL)).ok())
        .as_ref()
}

/// The faces in `photo`, largest first. Empty when there is none (or the model cannot
/// be read, which the tests rule out).
///
/// The detector's window is 40 px and it never enlarges the picture, so on the photo
/// shrunk to [`DETECT_SIDE`] it finds faces from about 60 px of a 512 px photo up: a
/// close-up or a half-length portrait, at a quarter of the cost of the whole photo.
/// Only when that finds none does it look again at the photo's own size, for the
/// small faces of a full-length photo (about 35–80 px); a photo with no face pays for
/// both.
pub fn detect(photo: &RgbImage) -> Vec<Face> {
    two_looks(photo, false)
}

/// Every face in `photo`, small ones too, even where a large one is found: the shrunk
/// look for faces above 80 px, and the photo's own size for those below (for checking
/// that a matte holds every visitor; about twice the cost of [`detect`]).
pub fn detect_every(photo: &RgbImage) -> Vec<Face> {
    two_looks(photo, true)
}

/// The shrunk look, then the look at the photo's own size for faces up to 80 px: only
/// when the first found none, or (`always`) every time, keeping the faces the first
/// look did not find.
fn two_looks(photo: &RgbImage, always: bool) -> Vec<Face> {
    let (w, h) = photo.dimensions();
    if w < 24 || h < 24 {
        return Vec::new();
    }
    let Some(model) = model() else {
        return Vec::new();
    };
    let gray = image::imageops::grayscale(photo);
    let mut faces = detect_at(model, &gray, DETECT_SIDE, None);
    if (always || faces.is_empty()) && w.max(h) > DETECT_SIDE {
        // Faces above 80 px were the first look's to find.
        for small in detect_at(model, &gray, FULL_SIDE, Some(80)) {
            if faces.iter().all(|f| f.iou(&small) < 0.3) {
                faces.push(small);
            }
        }
    }
    faces.sort_by(|a, b| b.area().total_cmp(&a.area()));
    faces
}

/// The long side of the second look (intake's limit: the photo's own size).
const FULL_SIDE: u32 = 512;

/// One run of the detector on `gray` shrunk to at most `side` px long, finding faces up
/// to `max_face` px of the shrunk picture.
fn detect_at(
    model: &rustface::Model,
    gray: &image::GrayImage,
    side: u32,
    max_face: Option<u32>,
) -> Vec<Face> {
    let (w, h) = gray.dimensions();
    let scale = (side as f32 / w.max(h) as f32).min(1.0);
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let small;
    let gray = if scale < 1.0 {
        small = crate::resize::resize(gray, sw, sh, crate::resize::FilterType::Bilinear);
        &small
    } else {
        gray
    };
    let mut detector = rustface::create_detector_with_model(model.clone());
    detector.set_min_face_size(20);
    if let Some(max) = max_face {
        detector.set_max_face_size(max);
    }
    detector.set_score_thresh(2.0);
    detector.set_pyramid_scale_factor(0.7);
    detector.set_slide_window_step(4, 4);
    detector
        .detect(&rustface::ImageData::new(gray, sw, sh))
        .iter()
        .map(|f| {
            let b = f.bbox();
            Face {
                x: b.x() as f32 / scale,
                y: b.y() as f32 / scale,
                w: b.width() as f32 / scale,
                h: b.height() as f32 / scale,
            }
        })
        .collect()
}
