//! The final shrink to the booth's long side, with `fast_image_resize` (SIMD convolution).

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::pixels::{Layout, Pixels};
use crate::IntakeError;

/// The size a `width`×`height` picture gets when its long side is brought down to
/// `long_side`, keeping the aspect ratio. Pictures already small enough keep their size.
pub fn target_size(width: u32, height: u32, long_side: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= long_side {
        return (width, height);
    }
    let scale = f64::from(long_side) / f64::from(long);
    let side = |v: u32| ((f64::from(v) * scale).round() as u32).clamp(1, long_side);
    (side(width), side(height))
}

/// Resizes `p` to exactly `width`×`height` with a Lanczos-3 filter. The caller chooses the
/// size from the photo's true dimensions (see [`target_size`]), so a decoder that rounded
/// its scaled output up by a pixel cannot skew the aspect ratio.
pub fn resize(p: Pixels, width: u32, height: u32) -> Result<Pixels, IntakeError> {
    if (p.width, p.height) == (width, height) {
        return Ok(p);
    }
    let pixel_type = match p.layout {
        Layout::Gray => PixelType::U8,
        Layout::Rgb => PixelType::U8x3,
        Layout::Cmyk | Layout::CmykInverted => PixelType::U8x4,
    };
    let layout = p.layout;
    let src = Image::from_vec_u8(p.width, p.height, p.data, pixel_type)
        .map_err(|e| IntakeError::Corrupt(format!("resize input: {e}")))?;
    let mut dst = Image::new(width, height, pixel_type);
    // The fourth channel of CMYK is black ink, not alpha: never premultiply by it.
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .use_alpha(false);
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| IntakeError::Corrupt(format!("resize: {e}")))?;
    Ok(Pixels {
        width,
        height,
        layout,
        data: dst.into_vec(),
    })
}
