//! The in-between picture: 8-bit samples in whatever colour model the file used, until
//! `into_srgb` (in color.rs) turns them into the RGB every later stage expects.

use image::RgbImage;

use crate::exif::Orientation;

/// How the samples of a [`Pixels`] are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Gray,
    Rgb,
    /// CMYK as Adobe applications write it: each sample is 255 minus the ink amount.
    CmykInverted,
    /// CMYK with plain ink amounts (0 = no ink).
    Cmyk,
}

#[derive(Debug, Clone)]
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub data: Vec<u8>,
}

/// The samples as RGB by the plain textbook formulas (no colour profile).
pub fn naive_rgb(p: Pixels) -> Vec<u8> {
    match p.layout {
        Layout::Rgb => p.data,
        Layout::Gray => p.data.iter().flat_map(|&g| [g, g, g]).collect(),
        Layout::CmykInverted | Layout::Cmyk => {
            let inverted = p.layout == Layout::CmykInverted;
            let mut out = Vec::with_capacity(p.data.len() / 4 * 3);
            for px in p.data.chunks_exact(4) {
                // Work in "paper left" terms: 255 = no ink.
                let paper = |v: u8| if inverted { v } else { 255 - v };
                let k = u16::from(paper(px[3]));
                for &c in &px[..3] {
                    out.push(((u16::from(paper(c)) * k + 127) / 255) as u8);
                }
            }
            out
        }
    }
}

/// Turns a small RGB picture upright. Runs after the resize, so it touches few pixels.
pub fn orient(image: RgbImage, o: Orientation) -> RgbImage {
    use image::imageops;
    if o.is_identity() {
        return image;
    }
    let mut out = if o.transpose {
        let (w, h) = image.dimensions();
        RgbImage::from_fn(h, w, |x, y| *image.get_pixel(y, x))
    } else {
        image
    };
    if o.flip_x {
        imageops::flip_horizontal_in_place(&mut out);
    }
    if o.flip_y {
        imageops::flip_vertical_in_place(&mut out);
    }
    out
}
