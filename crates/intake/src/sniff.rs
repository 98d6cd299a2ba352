//! Deciding what an upload is from its first bytes, never from its name or Content-Type.

/// The formats intake decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    WebP,
    Gif,
}

/// What an upload was, when it is not something we decode. Named so that the visitor can
/// be told what to send instead ("this is a HEIC photo" beats "unsupported").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    Heic,
    Avif,
    Tiff,
    Bmp,
    Svg,
    Pdf,
    Html,
    Video,
    Unknown,
}

impl Unsupported {
    /// A short human name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Unsupported::Heic => "a HEIC photo",
            Unsupported::Avif => "an AVIF image",
            Unsupported::Tiff => "a TIFF image",
            Unsupported::Bmp => "a BMP image",
            Unsupported::Svg => "an SVG drawing",
            Unsupported::Pdf => "a PDF document",
            Unsupported::Html => "a web page",
            Unsupported::Video => "a video",
            Unsupported::Unknown => "not a photo we recognise",
        }
    }
}

/// Looks at the magic numbers at the start of `bytes`.
pub fn sniff(bytes: &[u8]) -> Result<Format, Unsupported> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Ok(Format::WebP);
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Ok(Format::Gif);
    }
    Err(unsupported_kind(bytes))
}

fn unsupported_kind(bytes: &[u8]) -> Unsupported {
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return iso_brand_kind(bytes);
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return Unsupported::Tiff;
    }
    if bytes.starts_with(b"BM") {
        return Unsupported::Bmp;
    }
    if bytes.starts_with(b"%PDF") {
        return Unsupported::Pdf;
    }
    // Text formats may start with a BOM, white space, an XML declaration or comments.
    let head = &bytes[..bytes.len().min(1024)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    if text.contains("<svg") {
        return Unsupported::Svg;
    }
    if text.contains("<html") || text.contains("<!doctype html") || text.contains("<script") {
        return Unsupported::Html;
    }
    Unsupported::Unknown
}

/// ISO base media files (HEIF, AVIF, MP4, MOV) name their kind in the `ftyp` box: a major
/// brand at offset 8 and compatible brands after the minor version.
fn iso_brand_kind(bytes: &[u8]) -> Unsupported {
    let box_len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let end = box_len.clamp(12, 256).min(bytes.len());
    let major = &bytes[8..12];
    let compatible = bytes.get(16..end).unwrap_or(&[]);
    let brands = std::iter::once(major).chain(compatible.chunks_exact(4));
    let mut kind = Unsupported::Video;
    for brand in brands {
        match brand {
            b"avif" | b"avis" => return Unsupported::Avif,
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"hevm" | b"hevs"
            | b"mif1" | b"msf1" => kind = Unsupported::Heic,
            _ => {}
        }
    }
    kind
}
