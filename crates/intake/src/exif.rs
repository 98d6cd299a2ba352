//! Just enough EXIF to find the orientation tag. Nothing else from EXIF is kept.

/// Reads tag 0x0112 (Orientation) from IFD0 of a TIFF-structured EXIF payload (the bytes
/// after `Exif\0\0`). Returns 1 (upright) for anything missing, broken or out of range: a
/// damaged EXIF block must never cost a visitor their photo.
pub fn orientation(tiff: &[u8]) -> u8 {
    read_orientation(tiff)
        .filter(|o| (1..=8).contains(o))
        .unwrap_or(1)
}

fn read_orientation(tiff: &[u8]) -> Option<u8> {
    let big_endian = match tiff.get(..4)? {
        [b'M', b'M', 0, 42] => true,
        [b'I', b'I', 42, 0] => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b = tiff.get(at..at.checked_add(2)?)?;
        Some(if big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b = tiff.get(at..at.checked_add(4)?)?;
        Some(if big_endian {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        })
    };
    let ifd0 = u32_at(4)? as usize;
    let count = u16_at(ifd0)? as usize;
    for i in 0..count {
        let entry = ifd0.checked_add(2 + i * 12)?;
        if u16_at(entry)? == 0x0112 {
            // Type SHORT (3), count 1: the value sits in the first two bytes of the field.
            if u16_at(entry + 2)? != 3 {
                return None;
            }
            return u16_at(entry + 8).and_then(|v| u8::try_from(v).ok());
        }
    }
    None
}

/// The transform that turns stored pixels upright, for EXIF orientation 1–8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Orientation {
    /// Swap x and y (a transpose) before the flips: orientations 5–8.
    pub transpose: bool,
    /// Mirror left–right after the transpose.
    pub flip_x: bool,
    /// Mirror top–bottom after the transpose.
    pub flip_y: bool,
}

impl Orientation {
    pub fn from_exif(value: u8) -> Self {
        let (transpose, flip_x, flip_y) = match value {
            2 => (false, true, false),
            3 => (false, true, true),
            4 => (false, false, true),
            5 => (true, false, false),
            6 => (true, true, false),
            7 => (true, true, true),
            8 => (true, false, true),
            _ => (false, false, false),
        };
        Self {
            transpose,
            flip_x,
            flip_y,
        }
    }

    pub fn is_identity(self) -> bool {
        !(self.transpose || self.flip_x || self.flip_y)
    }
}
