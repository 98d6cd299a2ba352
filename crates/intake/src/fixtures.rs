//! Photos made in code for tests and benchmarks, so no test depends on a file we would
//! have to license. Not part of the intake API proper.

use image::{Rgb, RgbImage};

/// A portrait-like test picture: a warm face-ish ellipse on a cool two-tone background,
/// with a red marker square in the top-left corner so orientation can be checked.
pub fn portrait(width: u32, height: u32) -> RgbImage {
    let (cx, cy) = (width as f32 / 2.0, height as f32 * 0.45);
    let (rx, ry) = (width as f32 * 0.28, height as f32 * 0.32);
    let marker = (width.min(height) / 8).max(1);
    RgbImage::from_fn(width, height, |x, y| {
        if x < marker && y < marker {
            return Rgb([230, 20, 20]);
        }
        let (fx, fy) = (x as f32, y as f32);
        let d = ((fx - cx) / rx).powi(2) + ((fy - cy) / ry).powi(2);
        if d < 1.0 {
            let shade = (1.0 - d * 0.4) * 255.0;
            Rgb([shade as u8, (shade * 0.78) as u8, (shade * 0.62) as u8])
        } else if fy < height as f32 * 0.6 {
            let t = fy / height as f32;
            Rgb([60, (110.0 + 80.0 * t) as u8, 190])
        } else {
            Rgb([70, 120, 60])
        }
    })
}

/// Encodes `image` as a JPEG and inserts an EXIF APP1 segment carrying `orientation`
/// (1–8) right after the start-of-image marker, as a camera would.
pub fn jpeg_with_orientation(image: &RgbImage, orientation: u16) -> Vec<u8> {
    let plain = crate::encode_jpeg(image, 92).expect("encoding a test image");
    insert_exif(&plain, &exif_orientation_block(orientation))
}

/// Inserts a raw EXIF payload (starting with the TIFF header) as APP1 after SOI.
pub fn insert_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(tiff);
    let len = u16::try_from(app1.len() + 2).expect("an APP1 segment holds at most 64 KiB");
    let mut out = Vec::with_capacity(jpeg.len() + app1.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A big-endian TIFF header with one IFD holding the Orientation tag (0x0112) and a
/// camera-model string, so tests can check that metadata is stripped.
pub fn exif_orientation_block(orientation: u16) -> Vec<u8> {
    let model = b"ArticketTestCam\0";
    let mut t = b"MM\0\x2A\0\0\0\x08".to_vec();
    t.extend_from_slice(&2u16.to_be_bytes()); // two entries
                                              // Orientation: SHORT, count 1, value left-justified in the 4-byte field.
    t.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1]);
    t.extend_from_slice(&orientation.to_be_bytes());
    t.extend_from_slice(&[0, 0]);
    // Model (0x0110): ASCII, stored after the IFD.
    let model_offset = 8 + 2 + 2 * 12 + 4;
    t.extend_from_slice(&[0x01, 0x10, 0x00, 0x02]);
    t.extend_from_slice(&(model.len() as u32).to_be_bytes());
    t.extend_from_slice(&(model_offset as u32).to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    t.extend_from_slice(model);
    t
}
