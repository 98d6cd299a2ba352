//! Photos made in code for tests, fuzz seeds and benchmarks, so nothing depends on a file
//! we would have to license. Not part of the intake API proper.

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

/// What a phone camera produces, for benchmarks: the portrait with per-pixel sensor-like
/// noise (so it compresses like a real photo, not like flat colour), encoded at `quality`,
/// with an EXIF block carrying `orientation`.
pub fn camera_jpeg(width: u32, height: u32, quality: u8, orientation: u16, seed: u64) -> Vec<u8> {
    let mut img = portrait(width, height);
    let mut state = seed | 1;
    for p in img.pixels_mut() {
        // xorshift64*: cheap, deterministic noise.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        for (i, c) in p.0.iter_mut().enumerate() {
            let n = ((r >> (i * 16)) & 0x3F) as i16 - 32;
            *c = (i16::from(*c) + n).clamp(0, 255) as u8;
        }
    }
    let plain = crate::encode_jpeg(&img, quality).expect("encoding a test image");
    insert_segment(&plain, 0xE1, &exif_app1(&exif_block(orientation, None)))
}

/// Encodes `image` as a JPEG and inserts an EXIF APP1 segment carrying `orientation`
/// (1–8) right after the start-of-image marker, as a camera would.
pub fn jpeg_with_orientation(image: &RgbImage, orientation: u16) -> Vec<u8> {
    let plain = crate::encode_jpeg(image, 92).expect("encoding a test image");
    insert_exif(&plain, &exif_orientation_block(orientation))
}

/// Inserts a raw EXIF payload (starting with the TIFF header) as APP1 after SOI.
pub fn insert_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    insert_segment(jpeg, 0xE1, &exif_app1(tiff))
}

fn exif_app1(tiff: &[u8]) -> Vec<u8> {
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(tiff);
    app1
}

/// Inserts one marker segment (`FF marker`, length, `payload`) right after SOI.
pub fn insert_segment(jpeg: &[u8], marker: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len() + 2).expect("a segment holds at most 64 KiB");
    let mut out = Vec::with_capacity(jpeg.len() + payload.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A big-endian TIFF header with one IFD holding the Orientation tag (0x0112) and a
/// camera-model string, so tests can check that metadata is stripped.
pub fn exif_orientation_block(orientation: u16) -> Vec<u8> {
    exif_block(orientation, None)
}

/// The camera-model string every fixture EXIF block carries.
pub const CAMERA_MODEL: &[u8] = b"ArticketTestCam";

/// An EXIF (TIFF) block as a phone writes one: IFD0 with Orientation, Model and a GPS
/// pointer; a GPS IFD placing the photo at 37.5665 N; and, when given, IFD1 with a JPEG
/// thumbnail.
pub fn exif_block(orientation: u16, thumbnail: Option<&[u8]>) -> Vec<u8> {
    // Layout: header(8) | IFD0: count(2) + 3 entries(36) + next(4) | model(16)
    //         | GPS IFD: count(2) + 2 entries(24) + next(4) | GPS latitude (3 rationals, 24)
    //         | IFD1: count(2) + 2 entries(24) + next(4) | thumbnail
    let model = b"ArticketTestCam\0";
    let ifd0 = 8u32;
    let model_at = ifd0 + 2 + 3 * 12 + 4;
    let gps_at = model_at + model.len() as u32;
    let lat_at = gps_at + 2 + 2 * 12 + 4;
    let ifd1_at = lat_at + 24;
    let thumb_at = ifd1_at + 2 + 2 * 12 + 4;

    let mut t = b"MM\0\x2A".to_vec();
    t.extend_from_slice(&ifd0.to_be_bytes());
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        t.extend_from_slice(&tag.to_be_bytes());
        t.extend_from_slice(&kind.to_be_bytes());
        t.extend_from_slice(&count.to_be_bytes());
        t.extend_from_slice(&value);
    };
    t.extend_from_slice(&3u16.to_be_bytes());
    let o = orientation.to_be_bytes();
    entry(
        &mut t,
        0x0110,
        2,
        model.len() as u32,
        model_at.to_be_bytes(),
    );
    entry(&mut t, 0x0112, 3, 1, [o[0], o[1], 0, 0]);
    entry(&mut t, 0x8825, 4, 1, gps_at.to_be_bytes());
    let next = if thumbnail.is_some() { ifd1_at } else { 0 };
    t.extend_from_slice(&next.to_be_bytes());
    t.extend_from_slice(model);
    // GPS IFD: GPSLatitudeRef "N", GPSLatitude 37/1 33/1 5994/100.
    t.extend_from_slice(&2u16.to_be_bytes());
    entry(&mut t, 0x0001, 2, 2, *b"N\0\0\0");
    entry(&mut t, 0x0002, 5, 3, lat_at.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    for (n, d) in [(37u32, 1u32), (33, 1), (5994, 100)] {
        t.extend_from_slice(&n.to_be_bytes());
        t.extend_from_slice(&d.to_be_bytes());
    }
    if let Some(thumb) = thumbnail {
        t.extend_from_slice(&2u16.to_be_bytes());
        entry(&mut t, 0x0201, 4, 1, thumb_at.to_be_bytes());
        entry(&mut t, 0x0202, 4, 1, (thumb.len() as u32).to_be_bytes());
        t.extend_from_slice(&0u32.to_be_bytes());
        t.extend_from_slice(thumb);
    }
    t
}

/// A JPEG carrying about `total` bytes of metadata the way big phone files do: an EXIF
/// APP1 (orientation, model, GPS, thumbnail) followed by extended-XMP APP1 segments that
/// repeat a GPS position, each under the 64 KiB segment limit.
pub fn jpeg_with_huge_metadata(image: &RgbImage, orientation: u16, total: usize) -> Vec<u8> {
    let thumb = crate::encode_jpeg(&portrait(160, 120), 70).expect("thumbnail");
    let plain = crate::encode_jpeg(image, 92).expect("encoding a test image");
    let mut xmp = b"http://ns.adobe.com/xmp/extension/\0".to_vec();
    while xmp.len() < 60_000 {
        xmp.extend_from_slice(b"<exif:GPSLatitude>37,33.999N</exif:GPSLatitude>");
    }
    let mut out = plain;
    let mut added = 0;
    while added < total {
        out = insert_segment(&out, 0xE1, &xmp);
        added += xmp.len();
    }
    insert_segment(
        &out,
        0xE1,
        &exif_app1(&exif_block(orientation, Some(&thumb))),
    )
}

/// Encodes `image` as CMYK the way Photoshop does: an Adobe APP14 marker and inverted
/// samples (255 means no ink). `ycck` stores it colour-transformed, as most such files are.
pub fn cmyk_jpeg(image: &RgbImage, ycck: bool) -> Vec<u8> {
    let mut cmyk = Vec::with_capacity(image.as_raw().len() / 3 * 4);
    for p in image.pixels() {
        let [r, g, b] = p.0.map(f32::from);
        let k = 255.0 - r.max(g).max(b);
        let ink = |c: f32| {
            if k >= 255.0 {
                0.0
            } else {
                (255.0 - c - k) / (255.0 - k) * 255.0
            }
        };
        for v in [ink(r), ink(g), ink(b), k] {
            cmyk.push(255 - v.round().clamp(0.0, 255.0) as u8);
        }
    }
    let (w, h) = image.dimensions();
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_CMYK);
    c.set_fastest_defaults();
    if ycck {
        c.set_color_space(mozjpeg::ColorSpace::JCS_YCCK);
    }
    c.set_size(w as usize, h as usize);
    c.set_quality(92.0);
    let mut s = c.start_compress(Vec::new()).expect("cmyk start");
    s.write_scanlines(&cmyk).expect("cmyk scanlines");
    s.finish().expect("cmyk finish")
}

/// A grayscale (one-component) JPEG.
pub fn gray_jpeg(image: &RgbImage) -> Vec<u8> {
    let gray = image::DynamicImage::ImageRgb8(image.clone()).into_luma8();
    let (w, h) = gray.dimensions();
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_GRAYSCALE);
    c.set_fastest_defaults();
    c.set_size(w as usize, h as usize);
    c.set_quality(90.0);
    let mut s = c.start_compress(Vec::new()).expect("gray start");
    s.write_scanlines(gray.as_raw()).expect("gray scanlines");
    s.finish().expect("gray finish")
}

/// A progressive JPEG.
pub fn progressive_jpeg(image: &RgbImage) -> Vec<u8> {
    let (w, h) = image.dimensions();
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_fastest_defaults();
    c.set_size(w as usize, h as usize);
    c.set_quality(90.0);
    c.set_progressive_mode();
    let mut s = c.start_compress(Vec::new()).expect("progressive start");
    s.write_scanlines(image.as_raw())
        .expect("progressive scanlines");
    s.finish().expect("progressive finish")
}

/// Adds an ICC profile to a JPEG as APP2 `ICC_PROFILE` chunks.
pub fn jpeg_with_icc(jpeg: &[u8], icc: &[u8]) -> Vec<u8> {
    let chunks: Vec<&[u8]> = icc.chunks(60_000).collect();
    let mut out = jpeg.to_vec();
    // Insert in reverse so the chunks end up in order right after SOI.
    for (i, chunk) in chunks.iter().enumerate().rev() {
        let mut payload = b"ICC_PROFILE\0".to_vec();
        payload.push(i as u8 + 1);
        payload.push(chunks.len() as u8);
        payload.extend_from_slice(chunk);
        out = insert_segment(&out, 0xE2, &payload);
    }
    out
}

/// A valid ICC v2 RGB display profile whose red and blue primaries are swapped relative
/// to sRGB (gamma 2.2). A file tagged with it that stores pure red means pure *blue*, so
/// a test can see whether colour management ran.
pub fn icc_swapping_red_and_blue() -> Vec<u8> {
    // sRGB primaries adapted to D50, as ICC profiles store them.
    let red = [0.4361, 0.2225, 0.0139];
    let green = [0.3851, 0.7169, 0.0971];
    let blue = [0.1431, 0.0606, 0.7141];
    let d50 = [0.9642, 1.0, 0.8249];
    let s15 = |v: f64| ((v * 65536.0).round() as i32).to_be_bytes();
    let xyz = |v: [f64; 3]| {
        let mut t = b"XYZ \0\0\0\0".to_vec();
        for c in v {
            t.extend_from_slice(&s15(c));
        }
        t
    };
    let mut curve = b"curv\0\0\0\0".to_vec();
    curve.extend_from_slice(&1u32.to_be_bytes());
    curve.extend_from_slice(&0x0233u16.to_be_bytes()); // gamma 2.2 as u8Fixed8
    curve.extend_from_slice(&[0, 0]);
    let mut desc = b"desc\0\0\0\0".to_vec();
    let text = b"Articket swapped RB\0";
    desc.extend_from_slice(&(text.len() as u32).to_be_bytes());
    desc.extend_from_slice(text);
    desc.extend_from_slice(&[0; 4 + 4 + 2 + 1 + 67]);
    let tags: Vec<(&[u8; 4], Vec<u8>)> = vec![
        (b"desc", desc),
        (b"wtpt", xyz(d50)),
        (b"rXYZ", xyz(blue)),
        (b"gXYZ", xyz(green)),
        (b"bXYZ", xyz(red)),
        (b"rTRC", curve.clone()),
        (b"gTRC", curve.clone()),
        (b"bTRC", curve),
    ];
    let table_len = 4 + 12 * tags.len();
    let mut body = Vec::new();
    let mut table = (tags.len() as u32).to_be_bytes().to_vec();
    for (sig, data) in &tags {
        let offset = 128 + table_len + body.len();
        table.extend_from_slice(*sig);
        table.extend_from_slice(&(offset as u32).to_be_bytes());
        table.extend_from_slice(&(data.len() as u32).to_be_bytes());
        body.extend_from_slice(data);
        while body.len() % 4 != 0 {
            body.push(0);
        }
    }
    let size = 128 + table_len + body.len();
    let mut h = Vec::with_capacity(size);
    h.extend_from_slice(&(size as u32).to_be_bytes());
    h.extend_from_slice(&[0; 4]); // CMM
    h.extend_from_slice(&[2, 0x10, 0, 0]); // version 2.1
    h.extend_from_slice(b"mntrRGB XYZ ");
    h.extend_from_slice(&[0; 12]); // date
    h.extend_from_slice(b"acsp");
    h.extend_from_slice(&[0; 24]); // platform, flags, manufacturer, model, attributes
    h.extend_from_slice(&0u32.to_be_bytes()); // perceptual intent
    for c in d50 {
        h.extend_from_slice(&s15(c));
    }
    h.extend_from_slice(&[0; 4 + 16 + 28]); // creator, id, reserved
    assert_eq!(h.len(), 128);
    h.extend_from_slice(&table);
    h.extend_from_slice(&body);
    h
}

/// Encodes `image` as PNG with 16 bits per sample.
pub fn png16(image: &RgbImage) -> Vec<u8> {
    use image::ImageEncoder;
    let (w, h) = image.dimensions();
    let wide: Vec<u8> = image
        .as_raw()
        .iter()
        .flat_map(|&v| (u16::from(v) * 257).to_be_bytes())
        .collect();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&wide, w, h, image::ExtendedColorType::Rgb16)
        .expect("16-bit png");
    out
}

/// A two-frame animated GIF: the first frame is all `first`, the second all `second`.
pub fn animated_gif(width: u32, height: u32, first: [u8; 3], second: [u8; 3]) -> Vec<u8> {
    use image::codecs::gif::{GifEncoder, Repeat};
    use image::{Delay, Frame, Rgba, RgbaImage};
    let mut out = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut out);
        enc.set_repeat(Repeat::Infinite).expect("gif repeat");
        for c in [first, second] {
            let img = RgbaImage::from_pixel(width, height, Rgba([c[0], c[1], c[2], 255]));
            enc.encode_frame(Frame::from_parts(
                img,
                0,
                0,
                Delay::from_numer_denom_ms(500, 1),
            ))
            .expect("gif frame");
        }
    }
    out
}
