//! Why an upload was refused: a typed error with a stable code, an HTTP status and a
//! message a visitor understands. The UI shows its own Korean/English text per code.

use crate::sniff::Unsupported;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IntakeError {
    #[error("The photo is empty. Please choose a photo.")]
    Empty,
    #[error("The photo is {bytes} bytes; the booth takes photos up to {limit} bytes.")]
    TooManyBytes { bytes: u64, limit: u64 },
    #[error(
        "The photo is {width}×{height} pixels; the booth takes photos up to \
         {max_width}×{max_height} and {max_pixels} pixels in all."
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
        max_pixels: u64,
    },
    #[error("The photo would need more memory to open than the booth allows.")]
    TooBigToDecode,
    #[error(
        "This file is {}. Please send a JPEG, PNG, WebP or GIF photo.{}",
        .0.name(),
        if matches!(.0, Unsupported::Heic | Unsupported::Avif) {
            " On an iPhone, choose the photo from the photo library, or set \
             Settings > Camera > Formats to Most Compatible."
        } else {
            ""
        }
    )]
    UnsupportedFormat(Unsupported),
    #[error("This JPEG uses a rare encoding (12-bit, lossless or arithmetic). Please send an ordinary photo.")]
    UnsupportedJpeg,
    #[error("The photo file is damaged or incomplete ({0}). Please take or choose it again.")]
    Corrupt(String),
    #[error("The photo could not be saved as JPEG: {0}")]
    Encode(String),
    #[error(
        "The booth is busy with other photos. Please try again in {retry_after_secs} seconds."
    )]
    Busy { retry_after_secs: u32 },
    #[error("Something went wrong while reading the photo: {0}")]
    Internal(String),
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
            IntakeError::UnsupportedFormat(Unsupported::Heic | Unsupported::Avif) => "photo-heic",
            IntakeError::UnsupportedFormat(_) | IntakeError::UnsupportedJpeg => {
                "photo-unsupported-format"
            }
            IntakeError::Corrupt(_) => "photo-corrupt",
            IntakeError::Busy { .. } => "intake-busy",
            IntakeError::Encode(_) | IntakeError::Internal(_) => "intake-failed",
        }
    }

    /// The HTTP status the web layer answers with.
    pub fn status(&self) -> u16 {
        match self {
            IntakeError::Empty | IntakeError::Corrupt(_) => 400,
            IntakeError::TooManyBytes { .. }
            | IntakeError::TooManyPixels { .. }
            | IntakeError::TooBigToDecode => 413,
            IntakeError::UnsupportedFormat(_) | IntakeError::UnsupportedJpeg => 415,
            IntakeError::Busy { .. } => 503,
            IntakeError::Encode(_) | IntakeError::Internal(_) => 500,
        }
    }
}
