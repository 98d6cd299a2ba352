//! PNG, WebP and GIF, through the `image` crate's pure-Rust decoders.
//!
//! These formats have no DCT to shrink in, so they are decoded at full size; the header
//! check and `image::Limits` keep that size within the configured budget.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::pixels::{Layout, Pixels};
use crate::sniff::Format;
use crate::{check_dimensions, IntakeError, IntakeOptions};

pub struct Decoded {
    pub pixels: Pixels,
    pub orientation: u8,
    pub icc: Option<Vec<u8>>,
}

pub fn decode(bytes: &[u8], format: Format, opts: &IntakeOptions) -> Result<Decoded, IntakeError> {
    let format = match format {
        Format::Png => ImageFormat::Png,
        Format::WebP => ImageFormat::WebP,
        Format::Gif => ImageFormat::Gif,
        Format::Jpeg => unreachable!("JPEG has its own decoder"),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    // No single allocation beyond the pixel budget at 8 bytes per pixel (RGBA, 16 bits).
    limits.max_alloc = Some(opts.max_pixels.saturating_mul(8).max(1 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, opts)?;
    let orientation = decoder.orientation().map(|o| o.to_exif()).unwrap_or(1);
    let icc = decoder.icc_profile().ok().flatten();
    let image = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    Ok(Decoded {
        pixels: to_pixels(image),
        orientation,
        icc,
    })
}

/// Down to 8 bits per sample; transparency is flattened onto white, like paper.
fn to_pixels(image: DynamicImage) -> Pixels {
    let (width, height) = (image.width(), image.height());
    let color = image.color();
    if !color.has_alpha() && !color.has_color() {
        return Pixels {
            width,
            height,
            layout: Layout::Gray,
            data: image.into_luma8().into_raw(),
        };
    }
    let data = if color.has_alpha() {
        let rgba = image.into_rgba8().into_raw();
        let mut rgb = Vec::with_capacity(rgba.len() / 4 * 3);
        for px in rgba.chunks_exact(4) {
            let a = u16::from(px[3]);
            for &c in &px[..3] {
                rgb.push(((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8);
            }
        }
        rgb
    } else {
        image.into_rgb8().into_raw()
    };
    Pixels {
        width,
        height,
        layout: Layout::Rgb,
        data,
    }
}

fn image_error(e: image::ImageError) -> IntakeError {
    match e {
        image::ImageError::Limits(_) => IntakeError::TooBigToDecode,
        image::ImageError::Unsupported(u) => {
            IntakeError::Corrupt(format!("unsupported variant: {u}"))
        }
        other => IntakeError::Corrupt(other.to_string()),
    }
}
