//! Photo intake: the only door through which a visitor's upload reaches the painters.
//!
//! Intake decides by content (never by file name or Content-Type) whether the bytes are a
//! photo we accept, checks the byte and pixel limits *before* decoding so that a
//! decompression bomb never gets its buffer, applies the EXIF orientation, shrinks the
//! picture to the configured long side and re-encodes it as a metadata-free JPEG. Nothing
//! downstream (renderers, AI servers, the store) ever sees the original upload.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

/// Limits and output settings for intake. `Default` gives the booth defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntakeOptions {
    /// Uploads larger than this many bytes are refused before any parsing.
    pub max_bytes: u64,
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
            max_pixels: 50_000_000,
            long_side: 512,
            jpeg_quality: 90,
        }
    }
}

/// A photo that passed intake: small, upright, sRGB-ish RGB, with no metadata.
#[derive(Debug, Clone)]
pub struct Photo {
    /// The re-encoded JPEG, as stored and as sent to any AI backend.
    pub jpeg: Vec<u8>,
    /// The same pixels, decoded, for in-process renderers.
    pub image: RgbImage,
}

/// Why an upload was refused. Each kind has a stable machine-readable code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IntakeError {
    #[error("the upload is empty")]
    Empty,
    #[error("the photo is {bytes} bytes; the limit is {limit} bytes")]
    TooManyBytes { bytes: u64, limit: u64 },
    #[error("the photo is {width}x{height} pixels; the limit is {limit} pixels")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the photo would need more memory to decode than the booth allows")]
    TooBigToDecode,
    #[error("this is not a JPEG, PNG or WebP photo")]
    UnsupportedFormat,
    #[error("the photo file is damaged or incomplete: {0}")]
    Corrupt(String),
}

impl IntakeError {
    /// A stable code for clients; the UI translates codes, never messages.
    pub fn code(&self) -> &'static str {
        match self {
            IntakeError::Empty => "photo-empty",
            IntakeError::TooManyBytes { .. } => "photo-too-large",
            IntakeError::TooManyPixels { .. } | IntakeError::TooBigToDecode => {
                "photo-too-many-pixels"
            }
            IntakeError::UnsupportedFormat => "photo-unsupported-format",
            IntakeError::Corrupt(_) => "photo-corrupt",
        }
    }
}

/// Runs the whole intake on one upload. CPU-bound: call it from a blocking thread.
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
    let format = sniff(bytes)?;
    if format == ImageFormat::Jpeg && !jpeg_has_end_after_last_scan(bytes) {
        // Decoders fill a cut-off scan with grey and report success; a visitor would get
        // paintings of half a face. Refuse instead, so they can send the photo again.
        return Err(IntakeError::Corrupt("the JPEG data ends early".into()));
    }

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    // A second guard behind the pixel check: no single allocation larger than the
    // declared-pixel budget at 4 bytes per pixel (RGBA8) may happen while decoding.
    limits.max_alloc = Some(opts.max_pixels.saturating_mul(4).max(1 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;

    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(IntakeError::Corrupt("the image has no pixels".into()));
    }
    if u64::from(width) * u64::from(height) > opts.max_pixels {
        return Err(IntakeError::TooManyPixels {
            width,
            height,
            limit: opts.max_pixels,
        });
    }
    // A broken EXIF block must not cost the visitor their photo: fall back to upright.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    image.apply_orientation(orientation);

    let image = shrink(image, opts.long_side);
    let rgb = flatten_on_white(image);
    let jpeg = encode_jpeg(&rgb, opts.jpeg_quality)?;
    Ok(Photo { jpeg, image: rgb })
}

/// Encodes RGB pixels as a baseline JPEG with no metadata segments.
pub fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, IntakeError> {
    let mut out = Vec::with_capacity(64 * 1024);
    JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
        .encode_image(image)
        .map_err(|e| IntakeError::Corrupt(e.to_string()))?;
    Ok(out)
}

fn sniff(bytes: &[u8]) -> Result<ImageFormat, IntakeError> {
    match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => Ok(f),
        _ => Err(IntakeError::UnsupportedFormat),
    }
}

fn corrupt(e: image::ImageError) -> IntakeError {
    match e {
        image::ImageError::Limits(_) => IntakeError::TooBigToDecode,
        image::ImageError::Unsupported(_) => IntakeError::UnsupportedFormat,
        other => IntakeError::Corrupt(other.to_string()),
    }
}

/// A complete JPEG has an EOI marker (FF D9) after its last start-of-scan (FF DA).
/// Inside entropy-coded data every FF byte is followed by 00 or a restart marker, so the
/// pair cannot appear by accident; data appended after EOI (gain maps, vendor trailers)
/// ends with its own EOI and passes too.
fn jpeg_has_end_after_last_scan(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(pos) => bytes[pos..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

fn shrink(image: DynamicImage, long_side: u32) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    let long = w.max(h);
    if long <= long_side {
        return image;
    }
    let scale = f64::from(long_side) / f64::from(long);
    let nw = ((f64::from(w) * scale).round() as u32).max(1);
    let nh = ((f64::from(h) * scale).round() as u32).max(1);
    image.resize_exact(nw, nh, FilterType::CatmullRom)
}

/// Transparent pixels become white, as on paper, rather than black.
fn flatten_on_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    RgbImage::from_fn(w, h, |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u16::from(p[3]);
        let mix = |c: u8| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([mix(p[0]), mix(p[1]), mix(p[2])])
    })
}

#[doc(hidden)]
pub mod fixtures;

#[cfg(test)]
mod tests;
