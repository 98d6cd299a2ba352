//! The intake corpus: every kind of upload a booth meets, generated in code. Each case
//! either becomes a clean, upright, small JPEG or gets its documented refusal.

use articket_intake::fixtures::*;
use articket_intake::{encode_jpeg, process, IntakeError, IntakeOptions, Photo, Unsupported};
use image::{ImageEncoder, Rgb, RgbImage};

fn opts() -> IntakeOptions {
    IntakeOptions::default()
}

fn ok(bytes: &[u8]) -> Photo {
    match process(bytes, &opts()) {
        Ok(p) => p,
        Err(e) => panic!("expected success, got {e:?}"),
    }
}

fn is_red(p: &Rgb<u8>) -> bool {
    p[0] > 170 && p[1] < 90 && p[2] < 90
}

/// Every marker segment of a JPEG, as (marker, payload).
fn segments(jpeg: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 2;
    while pos + 4 <= jpeg.len() && jpeg[pos] == 0xFF {
        let marker = jpeg[pos + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
        out.push((marker, jpeg[pos + 4..pos + 2 + len].to_vec()));
        if marker == 0xDA {
            break;
        }
        pos += 2 + len;
    }
    out
}

/// What must never be found in anything intake outputs.
fn assert_clean(jpeg: &[u8]) {
    let has = |needle: &[u8]| jpeg.windows(needle.len()).any(|w| w == needle);
    assert!(!has(CAMERA_MODEL), "camera model survived");
    assert!(!has(b"Exif"), "EXIF survived");
    assert!(!has(b"GPS"), "GPS survived");
    assert!(!has(b"http://ns.adobe.com"), "XMP survived");
    let sois = jpeg.windows(2).filter(|w| w == &[0xFF, 0xD8]).count();
    assert_eq!(sois, 1, "an embedded thumbnail survived");
    for (marker, _) in segments(jpeg) {
        assert!(
            marker == 0xE0 || !(0xE1..=0xEF).contains(&marker) && marker != 0xFE,
            "segment FF{marker:02X} survived"
        );
    }
}

#[test]
fn a_12_megapixel_camera_photo_becomes_512px_upright_and_clean() {
    let src = camera_jpeg(4032, 3024, 92, 6, 7);
    assert!(
        src.len() > 2_000_000,
        "fixture should compress like a photo"
    );
    let photo = ok(&src);
    assert_eq!(photo.image.dimensions(), (384, 512));
    // Orientation 6 turns the stored top-left marker to the top-right.
    assert!(is_red(photo.image.get_pixel(380, 3)));
    assert_clean(&photo.jpeg);
    let back = image::load_from_memory(&photo.jpeg).unwrap();
    assert_eq!((back.width(), back.height()), (384, 512));
}

/// Where the stored top-left marker must end up for each EXIF orientation.
#[test]
fn all_eight_orientations_put_the_marker_in_the_documented_corner() {
    // (orientation, output transposed, marker at (right?, bottom?))
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
    // Big enough that the JPEG is decoded at a reduced DCT scale, too.
    for size in [(400, 240), (1600, 960)] {
        for (orientation, transposed, (right, bottom)) in cases {
            let img = ok(&jpeg_with_orientation(
                &portrait(size.0, size.1),
                orientation,
            ))
            .image;
            let (w, h) = if size.0 > 512 { (512, 307) } else { size };
            let expected = if transposed { (h, w) } else { (w, h) };
            assert_eq!(img.dimensions(), expected, "orientation {orientation}");
            let x = if right { img.width() - 4 } else { 3 };
            let y = if bottom { img.height() - 4 } else { 3 };
            assert!(
                is_red(img.get_pixel(x, y)),
                "orientation {orientation} at {size:?}: marker not at ({x},{y})"
            );
            // And the opposite corner is not the marker.
            let (ox, oy) = (img.width() - 1 - x, img.height() - 1 - y);
            assert!(!is_red(img.get_pixel(ox, oy)), "orientation {orientation}");
        }
    }
}

#[test]
fn two_megabytes_of_exif_xmp_gps_and_thumbnail_are_stripped() {
    let src = jpeg_with_huge_metadata(&portrait(1200, 900), 3, 2_000_000);
    assert!(src.len() > 2_000_000);
    assert!(src.windows(3).any(|w| w == b"GPS"));
    let photo = ok(&src);
    assert_eq!(photo.image.dimensions(), (512, 384));
    assert!(
        is_red(photo.image.get_pixel(508, 380)),
        "orientation 3 applied"
    );
    assert_clean(&photo.jpeg);
}

#[test]
fn output_is_a_baseline_jpeg_at_the_configured_quality() {
    let src = camera_jpeg(1000, 800, 92, 1, 3);
    let low = process(
        &src,
        &IntakeOptions {
            jpeg_quality: 40,
            ..opts()
        },
    )
    .unwrap();
    let high = process(
        &src,
        &IntakeOptions {
            jpeg_quality: 95,
            ..opts()
        },
    )
    .unwrap();
    assert!(
        low.jpeg.len() * 2 < high.jpeg.len(),
        "{} vs {}",
        low.jpeg.len(),
        high.jpeg.len()
    );
    // SOF0: baseline.
    assert!(segments(&high.jpeg).iter().any(|(m, _)| *m == 0xC0));
}

#[test]
fn cmyk_and_ycck_jpegs_come_out_in_the_right_colours() {
    let mut img = RgbImage::from_pixel(256, 256, Rgb([30, 90, 200]));
    for y in 0..128 {
        for x in 0..128 {
            img.put_pixel(x, y, Rgb([230, 20, 20]));
        }
    }
    for ycck in [false, true] {
        let photo = ok(&cmyk_jpeg(&img, ycck));
        let near = |p: &Rgb<u8>, c: [u8; 3]| p.0.iter().zip(c).all(|(a, b)| a.abs_diff(b) < 24);
        assert!(
            near(photo.image.get_pixel(40, 40), [230, 20, 20]),
            "ycck={ycck}: {:?}",
            photo.image.get_pixel(40, 40)
        );
        assert!(
            near(photo.image.get_pixel(200, 200), [30, 90, 200]),
            "ycck={ycck}: {:?}",
            photo.image.get_pixel(200, 200)
        );
    }
}

#[test]
fn grayscale_and_progressive_jpegs_are_read() {
    let img = portrait(900, 1200);
    let gray = ok(&gray_jpeg(&img));
    assert_eq!(gray.image.dimensions(), (384, 512));
    let p = gray.image.get_pixel(200, 200);
    assert!(p[0] == p[1] && p[1] == p[2], "gray stays gray: {p:?}");
    let prog = ok(&progressive_jpeg(&img));
    assert_eq!(prog.image.dimensions(), (384, 512));
    assert!(is_red(prog.image.get_pixel(3, 3)));
}

#[test]
fn an_icc_profile_is_honoured_by_converting_to_srgb() {
    let red = RgbImage::from_pixel(64, 64, Rgb([255, 0, 0]));
    let plain = encode_jpeg(&red, 95).unwrap();
    let tagged = jpeg_with_icc(&plain, &icc_swapping_red_and_blue());
    let untagged_px = *ok(&plain).image.get_pixel(32, 32);
    let photo = ok(&tagged);
    let px = *photo.image.get_pixel(32, 32);
    assert!(
        untagged_px[0] > 200 && untagged_px[2] < 60,
        "{untagged_px:?}"
    );
    // Under the swapped profile the stored "red" channel means blue.
    assert!(px[2] > 200 && px[0] < 60, "profile not applied: {px:?}");
    // The profile itself is not passed on: the output is plain sRGB.
    assert!(!photo.jpeg.windows(11).any(|w| w == b"ICC_PROFILE"));
}

#[test]
fn a_broken_icc_profile_costs_nothing_but_colour_management() {
    let plain = encode_jpeg(&portrait(300, 200), 90).unwrap();
    let mut icc = icc_swapping_red_and_blue();
    icc.truncate(150);
    let photo = ok(&jpeg_with_icc(&plain, &icc));
    assert!(is_red(photo.image.get_pixel(3, 3)));
}

#[test]
fn sixteen_bit_png_is_read() {
    let photo = ok(&png16(&portrait(600, 800)));
    assert_eq!(photo.image.dimensions(), (384, 512));
    assert!(is_red(photo.image.get_pixel(3, 3)));
}

#[test]
fn palette_png_with_transparency_is_flattened_on_white() {
    let (w, h) = (40u32, 30u32);
    let mut data = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut data, w, h);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(vec![255, 0, 0, 0, 0, 0]); // 0 = red, 1 = black
        enc.set_trns(vec![255, 0]); // black is fully transparent
        let mut writer = enc.write_header().unwrap();
        let pixels: Vec<u8> = (0..w * h).map(|i| u8::from(i % w >= w / 2)).collect();
        writer.write_image_data(&pixels).unwrap();
    }
    let photo = ok(&data);
    assert!(is_red(photo.image.get_pixel(5, 15)));
    let right = photo.image.get_pixel(35, 15);
    assert!(
        right.0.iter().all(|&c| c > 245),
        "transparent became {right:?}"
    );
}

#[test]
fn animated_gif_gives_its_first_frame() {
    let photo = ok(&animated_gif(120, 80, [0, 200, 0], [200, 0, 200]));
    assert_eq!(photo.image.dimensions(), (120, 80));
    let p = photo.image.get_pixel(60, 40);
    assert!(p[1] > 150 && p[0] < 60 && p[2] < 60, "{p:?}");
}

#[test]
fn webp_is_read() {
    let img = portrait(200, 300);
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .write_image(img.as_raw(), 200, 300, image::ExtendedColorType::Rgb8)
        .unwrap();
    let photo = ok(&webp);
    assert_eq!(photo.image.dimensions(), (200, 300));
    assert!(is_red(photo.image.get_pixel(3, 3)));
}

#[test]
fn small_photos_are_not_enlarged() {
    let photo = ok(&encode_jpeg(&portrait(300, 200), 90).unwrap());
    assert_eq!(photo.image.dimensions(), (300, 200));
}

#[test]
fn extreme_aspect_ratios_keep_their_shape() {
    let photo = ok(&encode_jpeg(&portrait(4000, 100), 90).unwrap());
    assert_eq!(photo.image.dimensions(), (512, 13));
    let photo = ok(&encode_jpeg(&portrait(30, 3000), 90).unwrap());
    assert_eq!(photo.image.dimensions(), (5, 512));
}

#[test]
fn empty_and_truncated_files_are_refused() {
    assert_eq!(process(&[], &opts()).unwrap_err(), IntakeError::Empty);
    let jpeg = encode_jpeg(&portrait(640, 480), 90).unwrap();
    for cut in [3, 20, 200, jpeg.len() / 2, jpeg.len() - 2] {
        let err = process(&jpeg[..cut], &opts()).unwrap_err();
        assert!(
            matches!(err, IntakeError::Corrupt(_)),
            "cut at {cut}: {err:?}"
        );
        assert_eq!(err.status(), 400);
    }
    let png = png16(&portrait(64, 64));
    let err = process(&png[..png.len() / 2], &opts()).unwrap_err();
    assert!(matches!(err, IntakeError::Corrupt(_)), "{err:?}");
}

fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
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
    png
}

#[test]
fn a_png_claiming_100000_by_100000_is_refused_from_its_header() {
    let err = process(&png_header_only(100_000, 100_000), &opts()).unwrap_err();
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
    assert_eq!(err.status(), 413);
}

#[test]
fn a_jpeg_claiming_65535_square_is_refused_from_its_header() {
    let mut jpeg = encode_jpeg(&portrait(64, 64), 90).unwrap();
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let err = process(&jpeg, &opts()).unwrap_err();
    assert!(
        matches!(err, IntakeError::TooManyPixels { width: 65535, .. }),
        "{err:?}"
    );
}

#[test]
fn width_height_and_pixel_limits_are_each_enforced() {
    let jpeg = encode_jpeg(&portrait(400, 300), 90).unwrap();
    for limits in [
        IntakeOptions {
            max_width: 399,
            ..opts()
        },
        IntakeOptions {
            max_height: 299,
            ..opts()
        },
        IntakeOptions {
            max_pixels: 119_999,
            ..opts()
        },
    ] {
        assert!(matches!(
            process(&jpeg, &limits),
            Err(IntakeError::TooManyPixels { .. })
        ));
    }
    let exact = IntakeOptions {
        max_width: 400,
        max_height: 300,
        max_pixels: 120_000,
        ..opts()
    };
    assert!(process(&jpeg, &exact).is_ok());
    let err = process(
        &jpeg,
        &IntakeOptions {
            max_bytes: 1000,
            ..opts()
        },
    )
    .unwrap_err();
    assert!(matches!(err, IntakeError::TooManyBytes { limit: 1000, .. }));
}

#[test]
fn svg_pdf_and_html_renamed_to_jpg_are_refused_as_what_they_are() {
    let cases: [(&[u8], Unsupported); 5] = [
        (
            b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            Unsupported::Svg,
        ),
        (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", Unsupported::Pdf),
        (
            b"<!DOCTYPE html><html><script>alert(1)</script></html>",
            Unsupported::Html,
        ),
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", Unsupported::Heic),
        (b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf", Unsupported::Avif),
    ];
    for (bytes, kind) in cases {
        let err = process(bytes, &opts()).unwrap_err();
        assert_eq!(err, IntakeError::UnsupportedFormat(kind));
        assert_eq!(err.status(), 415);
    }
    let heic = process(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", &opts()).unwrap_err();
    assert_eq!(heic.code(), "photo-heic");
    assert!(heic.to_string().contains("Most Compatible"), "{heic}");
}

#[test]
fn a_jpeg_with_hundreds_of_scans_is_refused() {
    let jpeg = progressive_jpeg(&portrait(64, 64));
    // Repeat the last scan (SOS header plus its data) until there are far too many.
    let last_sos = jpeg.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
    let scan = jpeg[last_sos..jpeg.len() - 2].to_vec();
    let mut bomb = jpeg[..jpeg.len() - 2].to_vec();
    for _ in 0..300 {
        bomb.extend_from_slice(&scan);
    }
    bomb.extend_from_slice(&[0xFF, 0xD9]);
    let err = process(&bomb, &opts()).unwrap_err();
    assert!(
        matches!(err, IntakeError::Corrupt(ref m) if m.contains("scans")),
        "{err:?}"
    );
}

#[test]
fn garbage_after_a_valid_header_gives_a_photo_or_a_visitors_error() {
    let jpeg = camera_jpeg(320, 240, 90, 1, 5);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..300 {
        let mut bad = jpeg.clone();
        for _ in 0..1 + i % 8 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = (state >> 33) as usize % bad.len();
            bad[at] = (state >> 17) as u8;
        }
        // A damaged photo is either still a photo (decoded, shrunk, re-encoded) or
        // refused with the visitor's error for what the damage hit; never an internal
        // failure, and never a panic or abort.
        match process(&bad, &opts()) {
            Ok(photo) => {
                let (w, h) = photo.image.dimensions();
                assert!(
                    w.max(h) <= opts().long_side && w > 0 && h > 0,
                    "{i}: {w}x{h}"
                );
                let again = image::load_from_memory(&photo.jpeg).unwrap();
                assert_eq!((again.width(), again.height()), (w, h), "{i}");
            }
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        IntakeError::Corrupt(_)
                            | IntakeError::UnsupportedFormat(_)
                            | IntakeError::UnsupportedJpeg
                            | IntakeError::TooManyPixels { .. }
                            | IntakeError::TooBigToDecode
                    ),
                    "{i}: {e:?}"
                );
                assert!((400..500).contains(&e.status()), "{i}: {e:?}");
            }
        }
    }
}
