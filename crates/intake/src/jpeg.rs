//! JPEG: our own marker walk for limits and metadata, then libjpeg-turbo (built from
//! source by `mozjpeg-sys`) decoding straight to a reduced size with its scaled IDCT.
//!
//! The walk reads every segment header before libjpeg sees a byte. It learns the
//! dimensions (for the limits), the orientation, the ICC profile and the Adobe marker,
//! counts the scans, and checks that the image ends with EOI. Nothing else of the file's
//! metadata is kept, so none of it can reach the stored JPEG.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::pixels::{Layout, Pixels};
use crate::IntakeError;

/// More scans than any encoder writes (progressive JPEGs use about 10). Hostile files use
/// thousands to make each decode cost seconds of CPU.
const MAX_SCANS: u32 = 200;
/// ICC profiles larger than this are ignored (the photo is kept, its colours unmanaged).
const MAX_ICC_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, Default)]
pub struct JpegInfo {
    pub width: u32,
    pub height: u32,
    pub components: u8,
    pub progressive: bool,
    pub scans: u32,
    /// EXIF orientation 1–8 (1 when absent or unreadable).
    pub orientation: u8,
    pub icc: Option<Vec<u8>>,
    /// An APP14 "Adobe" segment was present: four-channel data is stored inverted.
    pub adobe: bool,
}

fn corrupt(why: &str) -> IntakeError {
    IntakeError::Corrupt(why.to_owned())
}

/// Walks the marker segments from SOI to the first EOI.
pub fn scan(bytes: &[u8]) -> Result<JpegInfo, IntakeError> {
    let mut info = JpegInfo {
        orientation: 1,
        ..JpegInfo::default()
    };
    let mut sof_seen = false;
    let mut icc_chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut icc_bytes = 0usize;
    let mut pos = 2; // after SOI
    loop {
        // A marker is FF, any number of FF fill bytes, then the marker code.
        if bytes.get(pos) != Some(&0xFF) {
            return Err(if pos >= bytes.len() {
                corrupt("the JPEG data ends early")
            } else {
                corrupt("the JPEG structure is broken")
            });
        }
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let Some(&marker) = bytes.get(pos) else {
            return Err(corrupt("the JPEG data ends early"));
        };
        pos += 1;
        match marker {
            0xD9 => break,
            0xD0..=0xD7 | 0x01 => continue, // stand-alone markers
            0xD8 | 0x00 => return Err(corrupt("the JPEG structure is broken")),
            _ => {}
        }
        let len = match bytes.get(pos..pos + 2) {
            Some(b) => usize::from(u16::from_be_bytes([b[0], b[1]])),
            None => return Err(corrupt("the JPEG data ends early")),
        };
        if len < 2 {
            return Err(corrupt("the JPEG structure is broken"));
        }
        let Some(body) = bytes.get(pos + 2..pos + len) else {
            return Err(corrupt("the JPEG data ends early"));
        };
        pos += len;
        match marker {
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                if sof_seen {
                    return Err(corrupt("the JPEG has two frame headers"));
                }
                sof_seen = true;
                read_frame(marker, body, &mut info)?;
            }
            0xE1 if body.starts_with(b"Exif\0\0") && info.orientation == 1 => {
                info.orientation = crate::exif::orientation(&body[6..]);
            }
            0xE2 if body.starts_with(b"ICC_PROFILE\0") && body.len() > 14 => {
                let chunk = &body[14..];
                icc_bytes += chunk.len();
                icc_chunks.push((body[12], chunk));
            }
            0xEE if body.starts_with(b"Adobe") => info.adobe = true,
            0xDA => {
                if !sof_seen {
                    return Err(corrupt("the JPEG has a scan before its frame header"));
                }
                info.scans += 1;
                if info.scans > MAX_SCANS {
                    return Err(corrupt("the JPEG has an absurd number of scans"));
                }
                pos = skip_entropy_coded(bytes, pos);
            }
            _ => {}
        }
    }
    if !sof_seen || info.scans == 0 {
        return Err(corrupt("the JPEG has no image data"));
    }
    if icc_bytes <= MAX_ICC_BYTES && !icc_chunks.is_empty() {
        // Chunks are numbered from 1; a stable sort keeps a broken numbering harmless.
        icc_chunks.sort_by_key(|(seq, _)| *seq);
        info.icc = Some(
            icc_chunks
                .iter()
                .flat_map(|(_, c)| c.iter().copied())
                .collect(),
        );
    }
    Ok(info)
}

fn read_frame(marker: u8, body: &[u8], info: &mut JpegInfo) -> Result<(), IntakeError> {
    if body.len() < 6 {
        return Err(corrupt("the JPEG frame header is cut short"));
    }
    let precision = body[0];
    info.height = u32::from(u16::from_be_bytes([body[1], body[2]]));
    info.width = u32::from(u16::from_be_bytes([body[3], body[4]]));
    info.components = body[5];
    info.progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
    let arithmetic = marker >= 0xC9;
    let lossless = matches!(marker, 0xC3 | 0xC7 | 0xCB | 0xCF);
    if arithmetic || lossless || precision != 8 {
        return Err(IntakeError::UnsupportedJpeg);
    }
    if info.width == 0 || info.height == 0 {
        return Err(corrupt("the JPEG declares no pixels"));
    }
    if !matches!(info.components, 1 | 3 | 4) {
        return Err(IntakeError::UnsupportedJpeg);
    }
    Ok(())
}

/// Skips entropy-coded data after a scan header: inside it every FF is followed by 00
/// (a stuffed byte) or by a restart marker D0–D7. Returns the position of the next real
/// marker, or the end of the data.
fn skip_entropy_coded(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(off) = memchr::memchr(0xFF, &bytes[pos.min(bytes.len())..]) {
        let at = pos + off;
        match bytes.get(at + 1) {
            Some(0x00 | 0xD0..=0xD7 | 0xFF) => pos = at + 1,
            Some(_) => return at,
            None => return bytes.len(),
        }
    }
    bytes.len()
}

/// The smallest libjpeg scale `n/8` whose output still has a long side of at least
/// `long_side`. The DCT-domain reduction is itself a proper low-pass filter, so unlike a
/// pixel-domain shrink it needs no headroom against aliasing.
pub fn scale_numerator(width: u32, height: u32, long_side: u32) -> u8 {
    let long = u64::from(width.max(height));
    (1..=8u8)
        .find(|&n| (long * u64::from(n)).div_ceil(8) >= u64::from(long_side))
        .unwrap_or(8)
}

/// Decodes at the reduced scale. libjpeg reports fatal errors by unwinding (the
/// `mozjpeg` crate's error manager); they are caught here and become `Corrupt`.
pub fn decode(bytes: &[u8], info: &JpegInfo, long_side: u32) -> Result<Pixels, IntakeError> {
    let numerator = scale_numerator(info.width, info.height, long_side);
    let adobe = info.adobe;
    let result = catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Pixels> {
        let mut d = mozjpeg::Decompress::new_mem(bytes)?;
        d.scale(numerator);
        let (layout, mut started) = match d.image()? {
            mozjpeg::decompress::Format::RGB(s) => (Layout::Rgb, s),
            mozjpeg::decompress::Format::Gray(s) => (Layout::Gray, s),
            mozjpeg::decompress::Format::CMYK(s) => (
                if adobe {
                    Layout::CmykInverted
                } else {
                    Layout::Cmyk
                },
                s,
            ),
        };
        let (width, height) = (started.width() as u32, started.height() as u32);
        let data = started.read_scanlines::<u8>()?;
        started.finish()?;
        Ok(Pixels {
            width,
            height,
            layout,
            data,
        })
    }));
    match result {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(IntakeError::Corrupt(format!("JPEG: {e}"))),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("libjpeg failed");
            Err(IntakeError::Corrupt(why.to_owned()))
        }
    }
}
