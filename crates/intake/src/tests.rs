use super::*;
use crate::fixtures::{jpeg_with_orientation, portrait};
use image::{ImageEncoder, Rgba, RgbaImage};

fn opts() -> IntakeOptions {
    IntakeOptions::default()
}

fn is_red(p: &image::Rgb<u8>) -> bool {
    p[0] > 170 && p[1] < 90 && p[2] < 90
}

#[test]
fn large_landscape_is_shrunk_to_long_side_keeping_aspect() {
    let src = jpeg_with_orientation(&portrait(1600, 1200), 1);
    let photo = process(&src, &opts()).unwrap();
    assert_eq!(photo.image.dimensions(), (512, 384));
    let decoded = image::load_from_memory(&photo.jpeg).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (512, 384));
}

#[test]
fn small_photo_is_not_enlarged() {
    let src = encode_jpeg(&portrait(300, 200), 90).unwrap();
    let photo = process(&src, &opts()).unwrap();
    assert_eq!(photo.image.dimensions(), (300, 200));
}

/// Where the stored top-left marker must appear once each EXIF orientation is applied.
#[test]
fn every_exif_orientation_puts_the_marker_in_the_right_corner() {
    // (orientation, output is transposed, marker corner as (right?, bottom?))
    let cases = [
        (1, false, (false, false)),
        (2, false, (true, false)),
        (3, false, (true, true)),
        (4, false, (false, true)),
        (5, true, (false, false)),
        (6, true, (true, false)),
        (7, true, (true, true)),
        (8, true, (false, true)),
    ];
    for (orientation, transposed, (right, bottom)) in cases {
        let src = jpeg_with_orientation(&portrait(400, 240), orientation);
        let img = process(&src, &opts()).unwrap().image;
        let expected = if transposed { (240, 400) } else { (400, 240) };
        assert_eq!(img.dimensions(), expected, "orientation {orientation}");
        let x = if right { img.width() - 5 } else { 4 };
        let y = if bottom { img.height() - 5 } else { 4 };
        assert!(
            is_red(img.get_pixel(x, y)),
            "orientation {orientation}: marker not at ({x},{y})"
        );
    }
}

#[test]
fn exif_and_camera_model_do_not_survive() {
    let src = jpeg_with_orientation(&portrait(800, 600), 6);
    assert!(src.windows(15).any(|w| w == b"ArticketTestCam"));
    let out = process(&src, &opts()).unwrap().jpeg;
    assert!(!out.windows(15).any(|w| w == b"ArticketTestCam"));
    assert!(!out.windows(4).any(|w| w == b"Exif"));
}

#[test]
fn empty_upload_is_refused() {
    assert_eq!(process(&[], &opts()).unwrap_err(), IntakeError::Empty);
}

#[test]
fn text_named_like_a_photo_is_refused_as_unsupported() {
    let err = process(b"hello, I am not a photo at all", &opts()).unwrap_err();
    assert_eq!(err, IntakeError::UnsupportedFormat);
    assert_eq!(err.code(), "photo-unsupported-format");
}

#[test]
fn truncated_jpeg_is_refused_as_corrupt() {
    let src = encode_jpeg(&portrait(640, 480), 90).unwrap();
    let cut = &src[..src.len() * 2 / 3];
    assert!(matches!(
        process(cut, &opts()).unwrap_err(),
        IntakeError::Corrupt(_)
    ));
}

#[test]
fn byte_limit_is_checked_before_parsing() {
    let src = encode_jpeg(&portrait(640, 480), 90).unwrap();
    let small = IntakeOptions {
        max_bytes: 1000,
        ..opts()
    };
    assert!(matches!(
        process(&src, &small).unwrap_err(),
        IntakeError::TooManyBytes { limit: 1000, .. }
    ));
}

/// A valid PNG header that declares 100000×100000 pixels, with a correct CRC, followed by
/// one tiny IDAT: the pixel check must refuse it from the header alone.
#[test]
fn png_claiming_ten_gigapixels_is_refused_from_its_header() {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32fast::hash(&ihdr).to_be_bytes());
    for (kind, data) in [
        (&b"IDAT"[..], &b"\x78\x9c\x03\x00\x00\x00\x00\x01"[..]),
        (b"IEND", b""),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32fast::hash(&chunk).to_be_bytes());
    }
    let err = process(&png, &opts()).unwrap_err();
    assert!(
        matches!(
            err,
            IntakeError::TooManyPixels {
                width: 100_000,
                height: 100_000,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn transparent_png_is_flattened_on_white() {
    let img = RgbaImage::from_pixel(64, 64, Rgba([0, 0, 0, 0]));
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(img.as_raw(), 64, 64, image::ExtendedColorType::Rgba8)
        .unwrap();
    let photo = process(&png, &opts()).unwrap();
    let p = photo.image.get_pixel(32, 32);
    assert!(p.0.iter().all(|&c| c > 250), "{p:?}");
}

#[test]
fn webp_is_accepted() {
    let img = portrait(200, 300);
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .write_image(img.as_raw(), 200, 300, image::ExtendedColorType::Rgb8)
        .unwrap();
    let photo = process(&webp, &opts()).unwrap();
    assert_eq!(photo.image.dimensions(), (200, 300));
    assert_eq!(&photo.jpeg[..2], &[0xFF, 0xD8]);
}
