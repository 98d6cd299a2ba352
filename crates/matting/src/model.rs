//! MODNet, loaded once from its ONNX file and run by the crate's own interpreter.

use std::path::Path;

use image::RgbImage;

use crate::net::Net;
use crate::{Matte, MattingError};

/// A loaded matting model. Cheap to share behind an `Arc`; runs on the calling thread.
pub struct Matter {
    net: Net,
    side: u32,
}

/// The model's input size for a `w`×`h` photo at long side `side`: both sides multiples
/// of 32 (MODNet halves the picture five times), the aspect kept as closely as that
/// allows, and never larger than the photo rounded up to 32.
pub fn input_size(w: u32, h: u32, side: u32) -> (u32, u32) {
    let long = w.max(h).max(1) as f32;
    let scale = (side as f32 / long).min(1.0);
    let fit = |v: u32| (((v as f32 * scale) / 32.0).round() as u32).max(1) * 32;
    (fit(w), fit(h))
}

impl Matter {
    /// Reads the ONNX file and runs it once on a 3:4 portrait at long side `side`, so
    /// that a broken file fails here and not at the first visit.
    pub fn load(path: &Path, side: u32) -> Result<Self, MattingError> {
        let shown = path.display().to_string();
        let err = |why: String| MattingError::Load {
            path: shown.clone(),
            why,
        };
        if !path.is_file() {
            return Err(err("no such file".into()));
        }
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let graph = crate::onnx::parse(&bytes)
            .map_err(|e| err(format!("not a readable ONNX model ({e})")))?;
        drop(bytes);
        let net = Net::new(graph).map_err(|e| err(format!("not a MODNet-shaped model: {e}")))?;
        let matter = Matter {
            net,
            side: side.clamp(64, 1024),
        };
        // One run on a grey 3:4 portrait, so that a model that loads but cannot run
        // fails here and not at the first visit.
        let (w, h) = input_size(384, 512, matter.side);
        matter
            .alpha_at(&RgbImage::from_pixel(w, h, image::Rgb([128, 128, 128])))
            .map_err(|e| err(e.to_string()))?;
        Ok(matter)
    }

    /// The long side the model looks at.
    pub fn side(&self) -> u32 {
        self.side
    }

    /// MODNet's alpha for a picture already at a model size (both sides multiples of 32),
    /// row by row, 0–1. Pixels are normalised as MODNet was trained: (v − 127.5) / 127.5.
    pub fn alpha_at(&self, small: &RgbImage) -> Result<Vec<f32>, MattingError> {
        let (w, h) = small.dimensions();
        if w == 0 || h == 0 || w % 32 != 0 || h % 32 != 0 {
            return Err(MattingError::Run(format!(
                "the model needs sides that are multiples of 32, got {w}×{h}"
            )));
        }
        let (wu, hu) = (w as usize, h as usize);
        let mut input = vec![0f32; 3 * wu * hu];
        for (i, p) in small.as_raw().chunks_exact(3).enumerate() {
            for c in 0..3 {
                input[c * wu * hu + i] = (f32::from(p[c]) - 127.5) / 127.5;
            }
        }
        let (_, alpha) = self
            .net
            .run(&[1, 3, hu, wu], input)
            .map_err(MattingError::Run)?;
        if alpha.len() != wu * hu {
            return Err(MattingError::Run(format!(
                "the model answered {} values for {w}×{h} pixels",
                alpha.len()
            )));
        }
        Ok(alpha.iter().map(|a| a.clamp(0.0, 1.0)).collect())
    }

    /// The matte of `photo`, at the photo's size. CPU-bound (about 75 ms
    /// at the default side on one core): run it on a blocking thread.
    pub fn matte(&self, photo: &RgbImage) -> Result<Matte, MattingError> {
        let (pw, ph) = photo.dimensions();
        if pw == 0 || ph == 0 {
            return Err(MattingError::Run("the photo has no pixels".into()));
        }
        let (w, h) = input_size(pw, ph, self.side);
        let small = image::imageops::resize(photo, w, h, image::imageops::FilterType::CatmullRom);
        let alpha = self.alpha_at(&small)?;
        Ok(crate::upsample_guided(&alpha, &small, photo))
    }
}
