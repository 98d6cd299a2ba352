//! What CLIP and BLIP share: a transformers checkpoint folder's files, and an image
//! as their vision towers take it.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use image::RgbImage;

use crate::layout::LayoutError;
use crate::prep::crop_to_fill;
use crate::EngineError;

/// The three files of a transformers checkpoint folder (config, weights, tokenizer),
/// or one error listing the missing ones.
pub(crate) fn transformers_files(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), EngineError> {
    let files = (
        dir.join("config.json"),
        dir.join("model.safetensors"),
        dir.join("tokenizer.json"),
    );
    let missing: Vec<String> = [&files.0, &files.1, &files.2]
        .iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(EngineError::Layout(LayoutError::Missing {
            dir: dir.display().to_string(),
            missing,
        }));
    }
    Ok(files)
}

/// An image as CLIP and BLIP expect it: centre-cropped square of `size`, each channel
/// normalised with CLIP's mean and standard deviation, shape (1, 3, size, size).
pub(crate) fn clip_pixels(
    image: &RgbImage,
    size: u32,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let fitted = crop_to_fill(image, size, size);
    let (mean, std) = (
        [0.481_454_66, 0.457_827_5, 0.408_210_73],
        [0.268_629_54, 0.261_302_6, 0.275_777_1],
    );
    let n = (size * size) as usize;
    let raw = fitted.as_raw();
    let mut data = Vec::with_capacity(3 * n);
    for c in 0..3 {
        data.extend((0..n).map(|p| (raw[p * 3 + c] as f32 / 255.0 - mean[c]) / std[c]));
    }
    Tensor::from_vec(data, (1, 3, size as usize, size as usize), device)
}
