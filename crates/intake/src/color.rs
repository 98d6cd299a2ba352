//! ICC colour management through `qcms`, the colour engine of Firefox (pure Rust).

use image::RgbImage;

use crate::pixels::{naive_rgb, Layout, Pixels};

/// Converts to sRGB, through the embedded ICC profile when there is a usable one and
/// by the plain textbook formulas otherwise.
pub fn into_srgb(pixels: Pixels, icc: Option<&[u8]>) -> RgbImage {
    let (width, height) = (pixels.width, pixels.height);
    let data = match icc.and_then(|icc| to_srgb(&pixels, icc)) {
        Some(profiled) => profiled,
        None => naive_rgb(pixels),
    };
    RgbImage::from_raw(width, height, data).expect("buffer matches its size")
}

/// Converts `p` to sRGB through `icc`. `None` when the profile is unreadable, does not
/// fit the pixels' colour model, or is already sRGB; the caller then uses the plain
/// formulas, so a broken profile never costs the photo.
pub fn to_srgb(p: &Pixels, icc: &[u8]) -> Option<Vec<u8>> {
    // The profile's data colour space sits at bytes 16..20 of its header.
    let space = icc.get(16..20)?;
    let (src_type, fits) = match p.layout {
        Layout::Rgb => (qcms::DataType::RGB8, space == b"RGB "),
        Layout::Gray => (qcms::DataType::Gray8, space == b"GRAY"),
        Layout::Cmyk | Layout::CmykInverted => (qcms::DataType::CMYK, space == b"CMYK"),
    };
    if !fits {
        return None;
    }
    // qcms is hardened for the web, but a profile is attacker-controlled input: a panic in
    // it must become "no profile", not a failed upload.
    std::panic::catch_unwind(|| {
        let src = qcms::Profile::new_from_slice(icc, false)?;
        if p.layout == Layout::Rgb && src.is_sRGB() {
            return None;
        }
        let mut dst = qcms::Profile::new_sRGB();
        dst.precache_output_transform();
        let xfm = qcms::Transform::new_to(
            &src,
            &dst,
            src_type,
            qcms::DataType::RGB8,
            qcms::Intent::Perceptual,
        )?;
        let pixels = p.width as usize * p.height as usize;
        let mut out = vec![0u8; pixels * 3];
        if p.layout == Layout::CmykInverted {
            // ICC device values count ink: 0 is none. Adobe's files store 255 minus that.
            let ink: Vec<u8> = p.data.iter().map(|v| 255 - v).collect();
            xfm.convert(&ink, &mut out);
        } else {
            xfm.convert(&p.data, &mut out);
        }
        Some(out)
    })
    .ok()
    .flatten()
}
