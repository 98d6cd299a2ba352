//! The photo as the servers get it, and the size of what they paint.

use articket_style::{PaintJob, StyleError};

/// The intake's JPEG of the photo, or the photo encoded now when a caller has none
/// (`articket stylize` with a decoded image). An image that cannot be encoded fails
/// the job instead of sending the server nothing.
pub fn photo_jpeg(job: &PaintJob) -> Result<Vec<u8>, StyleError> {
    if !job.photo_jpeg.is_empty() {
        return Ok(job.photo_jpeg.to_vec());
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&*job.photo)
        .map_err(|e| StyleError::Rejected(format!("the photo cannot be encoded as JPEG: {e}")))?;
    Ok(out)
}

/// The output size: the photo's aspect at `long_side`, both sides multiples of 64.
pub fn output_size(photo: (u32, u32), long_side: u32) -> (u32, u32) {
    let (w, h) = (photo.0.max(1) as f64, photo.1.max(1) as f64);
    let round64 = |v: f64| ((v / 64.0).round() as u32).max(1) * 64;
    let long = round64(long_side as f64);
    if w >= h {
        (long, round64(long as f64 * h / w))
    } else {
        (round64(long as f64 * w / h), long)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use articket_style::Painter;
    use image::RgbImage;

    use super::*;

    fn job(photo: RgbImage, jpeg: &[u8]) -> PaintJob {
        PaintJob {
            painter: Painter::Picasso,
            visit_id: "v".into(),
            photo: Arc::new(photo),
            photo_jpeg: jpeg.into(),
            seed: 1,
            matte: None,
            faces: None,
        }
    }

    #[test]
    fn the_intake_jpeg_is_sent_as_is_and_a_missing_one_is_made() {
        assert_eq!(
            photo_jpeg(&job(RgbImage::new(8, 8), b"jpeg")).unwrap(),
            b"jpeg"
        );
        let made = photo_jpeg(&job(RgbImage::new(8, 8), b"")).unwrap();
        assert_eq!(
            image::load_from_memory(&made)
                .unwrap()
                .into_rgb8()
                .dimensions(),
            (8, 8)
        );
    }

    #[test]
    fn a_photo_that_cannot_be_encoded_fails_the_job_instead_of_sending_nothing() {
        // JPEG's limit is 65535 pixels a side.
        let err = photo_jpeg(&job(RgbImage::new(70_000, 1), b"")).unwrap_err();
        assert!(matches!(err, StyleError::Rejected(_)), "{err:?}");
    }

    #[test]
    fn output_keeps_the_aspect_at_multiples_of_64() {
        assert_eq!(output_size((384, 512), 768), (576, 768));
        assert_eq!(output_size((512, 384), 768), (768, 576));
        assert_eq!(output_size((512, 512), 1024), (1024, 1024));
        // 3:2 → 768×512; 16:9 → 768×448 (432 rounds to 448): the server crops 8 px.
        assert_eq!(output_size((600, 400), 768), (768, 512));
        assert_eq!(output_size((1920, 1080), 768), (768, 448));
        assert_eq!(output_size((1, 4000), 768), (64, 768));
    }
}
