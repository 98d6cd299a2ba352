//! Photo intake: the only door through which a visitor's upload reaches the painters.
//!
//! ```text
//! bytes ─ sniff ─┬─ JPEG: marker walk (limits, EXIF orientation, ICC) ─ libjpeg-turbo scaled IDCT ─┐
//!                └─ PNG / WebP / GIF: header limits ─ image crate decode, alpha onto white ────────┤
//!   ┌────────────────────────────────────────────────────────────────────────────────────────────┘
//!   └─ Lanczos-3 resize (fast_image_resize) ─ ICC → sRGB (qcms) ─ orient ─ JPEG encode (no metadata)
//! ```
//!
//! Intake decides by content (never by file name or Content-Type) whether the bytes are a
//! photo we accept and checks every limit from the header *before* decoding, so that a
//! decompression bomb never gets its buffer. A JPEG is decoded straight to between one and
//! two times the target size in the DCT domain, so a 12-megapixel photo is never decoded
//! in full. Orientation is applied last, on the small picture. Only pixels survive: no
//! EXIF, GPS, thumbnail or camera data reaches the output. Where the booth has a
//! matting model, the pool then finds the person ([`Matting`]).

mod color;
mod error;
mod exif;
mod jpeg;
mod pixels;
mod pool;
mod raster;
mod resize;
mod sniff;

use image::RgbImage;

pub use error::IntakeError;
pub use pool::{IntakePool, Matting, Person, PoolStats};
pub use sniff::{sniff, Format, Unsupported};

/// Limits and output settings for intake. `Default` gives the booth defaults. The
/// booth's `[upload]` config section deserializes into it (with keys of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct IntakeOptions {
    /// Uploads larger than this many bytes are refused before any parsing.
    pub max_bytes: u64,
    /// Uploads wider than this (as stored, before orientation) are refused before decoding.
    pub max_width: u32,
    /// Uploads taller than this are refused before decoding.
    pub max_height: u32,
    /// Uploads whose header declares more pixels than this are refused before decoding.
    pub max_pixels: u64,
    /// The long side of the output, in pixels. Smaller photos are not enlarged.
    pub long_side: u32,
    /// JPEG quality of the output, 1–100.
    pub jpeg_quality: u8,
}

impl Default for IntakeOptions {
    fn default() -> Self {
        Self {
            max_bytes: 25_000_000,
            max_width: 12_000,
            max_height: 12_000,
            max_pixels: 50_000_000,
            long_side: 512,
            jpeg_quality: 90,
        }
    }
}

/// A photo that passed intake: small, upright, sRGB, with no metadata.
#[derive(Debug, Clone)]
pub struct Photo {
    /// The re-encoded JPEG, as stored and as sent to any AI backend.
    pub jpeg: Vec<u8>,
    /// The same pixels, decoded, for in-process renderers.
    pub image: RgbImage,
    /// Which pixels are the person, at the photo's size: made by an [`IntakePool`] that
    /// has a matting model ([`IntakePool::with_matting`]), `None` otherwise.
    pub matte: Option<image::GrayImage>,
    /// The faces found with the matte (x, y, width, height in the photo's pixels), so
    /// the painters need not look again; `None` when no one looked.
    pub faces: Option<Vec<[f32; 4]>>,
}

/// Runs the whole intake on one upload. CPU-bound: call it from a blocking thread, or
/// through an [`IntakePool`].
pub fn process(bytes: &[u8], opts: &IntakeOptions) -> Result<Photo, IntakeError> {
    if bytes.is_empty() {
        return Err(IntakeError::Empty);
    }
    let len = bytes.len() as u64;
    if len > opts.max_bytes {
        return Err(IntakeError::TooManyBytes {
            bytes: len,
            limit: opts.max_bytes,
        });
    }
    let format = sniff(bytes).map_err(IntakeError::UnsupportedFormat)?;
    let (pixels, orientation, icc, width, height) = match format {
        Format::Jpeg => {
            let info = jpeg::scan(bytes)?;
            check_dimensions(info.width, info.height, opts)?;
            let pixels = jpeg::decode(bytes, &info, opts.long_side)?;
            (pixels, info.orientation, info.icc, info.width, info.height)
        }
        other => {
            let d = raster::decode(bytes, other, opts)?;
            let (w, h) = (d.pixels.width, d.pixels.height);
            (d.pixels, d.orientation, d.icc, w, h)
        }
    };
    let (tw, th) = resize::target_size(width, height, opts.long_side);
    let small = resize::resize(pixels, tw, th)?;
    let rgb = crate::color::into_srgb(small, icc.as_deref());
    let upright = pixels::orient(rgb, exif::Orientation::from_exif(orientation));
    let jpeg = encode_jpeg(&upright, opts.jpeg_quality)?;
    Ok(Photo {
        jpeg,
        image: upright,
        matte: None,
        faces: None,
    })
}

pub(crate) fn check_dimensions(
    width: u32,
    height: u32,
    opts: &IntakeOptions,
) -> Result<(), IntakeError> {
    if width == 0 || height == 0 {
        return Err(IntakeError::Corrupt("the image has no pixels".into()));
    }
    let pixels = u64::from(width) * u64::from(height);
    if width > opts.max_width || height > opts.max_height || pixels > opts.max_pixels {
        return Err(IntakeError::TooManyPixels {
            width,
            height,
            max_width: opts.max_width,
            max_height: opts.max_height,
            max_pixels: opts.max_pixels,
        });
    }
    Ok(())
}

/// Encodes RGB pixels as a baseline JPEG (libjpeg-turbo, optimised Huffman tables) with a
/// JFIF header and no other metadata segment.
pub fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, IntakeError> {
    let (w, h) = image.dimensions();
    let result = std::panic::catch_unwind(|| -> std::io::Result<Vec<u8>> {
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        c.set_fastest_defaults();
        c.set_size(w as usize, h as usize);
        c.set_quality(f32::from(quality.clamp(1, 100)));
        c.set_optimize_coding(true);
        let mut started = c.start_compress(Vec::with_capacity(64 * 1024))?;
        started.write_scanlines(image.as_raw())?;
        started.finish()
    });
    match result {
        Ok(Ok(jpeg)) => Ok(jpeg),
        Ok(Err(e)) => Err(IntakeError::Encode(e.to_string())),
        Err(_) => Err(IntakeError::Encode("libjpeg failed to encode".into())),
    }
}

/// Drawn portraits and hand-made JPEGs for tests and benchmarks (feature `fixtures`).
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;

#[cfg(test)]
mod tests;
