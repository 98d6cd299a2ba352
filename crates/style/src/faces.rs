//! Finding the visitor's face, so the painters can keep it.
//!
//! The detector is SeetaFace's frontal face detector (a funnel-structured cascade),
//! through the `rustface` crate. Its model (1.2 MB, BSD-2-Clause, by the VIPL group of
//! the Chinese Academy of Sciences; licence in assets/models/LICENSE-seetaface.txt) is
//! compiled into the binary, so nothing is downloaded. It runs on the photo shrunk to
//! 256 px, which finds faces down to about 40 px in a 512 px photo in about 10 ms.

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

/// The faces in `photo`, largest first. Empty when there is none (or the model cannot
/// be read, which the tests rule out).
pub fn detect(photo: &RgbImage) -> Vec<Face> {
    let (w, h) = photo.dimensions();
    if w < 24 || h < 24 {
        return Vec::new();
    }
    let Ok(model) = rustface::read_model(std::io::Cursor::new(MODEL)) else {
        return Vec::new();
    };
    let scale = (DETECT_SIDE as f32 / w.max(h) as f32).min(1.0);
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let gray = image::imageops::grayscale(photo);
    let gray = if scale < 1.0 {
        image::imageops::resize(&gray, sw, sh, image::imageops::FilterType::Triangle)
    } else {
        gray
    };
    let mut detector = rustface::create_detector_with_model(model);
    detector.set_min_face_size(20);
    detector.set_score_thresh(2.0);
    detector.set_pyramid_scale_factor(0.7);
    detector.set_slide_window_step(4, 4);
    let found = detector.detect(&rustface::ImageData::new(&gray, sw, sh));
    let mut faces: Vec<Face> = found
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
        .collect();
    faces.sort_by(|a, b| b.area().total_cmp(&a.area()));
    faces
}
