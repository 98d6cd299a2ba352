//! Masked img2img, the same for every AI backend: the matte turned into how much each
//! pixel of the photo is repainted, so the background is painted freely and the
//! person gently (the visitor stays recognisable).

use articket_style::PaintJob;
use image::GrayImage;

use crate::GenerationSettings;

/// What a painter paints with a matte: the strength the run starts from (the larger
/// of the two) and, per pixel of the photo, the share of it that pixel gets (255: all
/// of it). White is change, as in A1111's and ComfyUI's masks.
#[derive(Debug, Clone, PartialEq)]
pub struct Masked {
    pub strength: f32,
    pub change: GrayImage,
}

/// The painting's mask, when the job has a matte and the painter's settings give the
/// person and the background different strengths; None otherwise (plain img2img at
/// `denoising_strength`).
pub fn masked(job: &PaintJob, g: &GenerationSettings) -> Option<Masked> {
    let matte = job.matte.as_deref()?;
    let (person, background) = g.masked_strengths()?;
    let strength = person.max(background);
    if strength <= 0.0 {
        return None;
    }
    let (p, b) = (person / strength, background / strength);
    let mut change = GrayImage::new(matte.width(), matte.height());
    for (out, alpha) in change.pixels_mut().zip(matte.pixels()) {
        let a = alpha[0] as f32 / 255.0;
        out[0] = ((b + (p - b) * a) * 255.0).round() as u8;
    }
    Some(Masked { strength, change })
}

/// `mask` as a PNG, for the servers.
pub fn png(mask: &GrayImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    mask.write_to(&mut out, image::ImageFormat::Png)
        .expect("a grey image encodes as PNG");
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use articket_style::Painter;
    use image::{Luma, RgbImage};

    use super::*;

    fn job(matte: Option<GrayImage>) -> PaintJob {
        PaintJob {
            painter: Painter::Renoir,
            visit_id: "v".into(),
            photo: Arc::new(RgbImage::new(4, 2)),
            photo_jpeg: Arc::from(Vec::new()),
            seed: 1,
            matte: matte.map(Arc::new),
            faces: None,
        }
    }

    fn matte() -> GrayImage {
        GrayImage::from_fn(4, 2, |x, _| Luma([[0, 255, 128, 255][x as usize]]))
    }

    #[test]
    fn the_person_gets_their_share_of_the_strength_and_the_background_all_of_it() {
        let g = GenerationSettings {
            denoising_strength: 0.6,
            ..Default::default()
        };
        let m = masked(&job(Some(matte())), &g).unwrap();
        assert_eq!(m.strength, 0.6);
        // Unset: the person at 0.4 × 0.6 = 0.24, that is 0.4 of the run's strength.
        let row: Vec<u8> = (0..4).map(|x| m.change.get_pixel(x, 1)[0]).collect();
        assert_eq!(row, vec![255, 102, 178, 102]);
        let decoded = image::load_from_memory(&png(&m.change)).unwrap().to_luma8();
        assert_eq!(decoded, m.change);
    }

    #[test]
    fn a_stronger_person_starts_the_run_at_their_strength() {
        let g = GenerationSettings {
            denoising_strength: 0.5,
            strength_person: Some(0.8),
            strength_background: Some(0.4),
            ..Default::default()
        };
        let m = masked(&job(Some(matte())), &g).unwrap();
        assert_eq!(m.strength, 0.8);
        assert_eq!(m.change.get_pixel(0, 0)[0], 128);
        assert_eq!(m.change.get_pixel(1, 0)[0], 255);
    }

    #[test]
    fn no_matte_or_equal_strengths_need_no_mask() {
        let g = GenerationSettings::default();
        assert!(masked(&job(None), &g).is_none());
        let same = GenerationSettings {
            strength_person: Some(0.65),
            ..Default::default()
        };
        assert!(masked(&job(Some(matte())), &same).is_none());
    }
}
