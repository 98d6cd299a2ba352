//! Unit tests of the pieces; the whole pipeline is tested over a corpus in tests/corpus.rs.

use super::*;
use crate::fixtures::{camera_jpeg, exif_block, portrait};

#[test]
fn scale_numerator_picks_the_smallest_scale_that_still_covers_the_target() {
    // 4032 px: 1/8 gives 504 (too small), 2/8 gives 1008.
    assert_eq!(jpeg::scale_numerator(4032, 3024, 512), 2);
    assert_eq!(jpeg::scale_numerator(4096, 3072, 512), 1);
    assert_eq!(jpeg::scale_numerator(1600, 1200, 512), 3);
    assert_eq!(jpeg::scale_numerator(600, 400, 512), 7);
    assert_eq!(jpeg::scale_numerator(300, 200, 512), 8);
}

#[test]
fn target_size_keeps_the_aspect_ratio_and_never_enlarges() {
    assert_eq!(resize::target_size(4032, 3024, 512), (512, 384));
    assert_eq!(resize::target_size(3024, 4032, 512), (384, 512));
    assert_eq!(resize::target_size(512, 100, 512), (512, 100));
    assert_eq!(resize::target_size(100_000, 1, 512), (512, 1));
}

#[test]
fn marker_walk_reads_size_orientation_and_scans() {
    let jpeg = camera_jpeg(640, 480, 90, 8, 1);
    let info = jpeg::scan(&jpeg).unwrap();
    assert_eq!((info.width, info.height, info.components), (640, 480, 3));
    assert_eq!(info.orientation, 8);
    assert_eq!(info.scans, 1);
    assert!(!info.progressive && !info.adobe && info.icc.is_none());
}

#[test]
fn marker_walk_skips_restart_markers_and_stops_at_the_first_eoi() {
    let mut jpeg = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut jpeg, 90);
    enc.set_restart_interval(4);
    enc.encode(
        portrait(256, 256).as_raw(),
        256,
        256,
        jpeg_encoder::ColorType::Rgb,
    )
    .unwrap();
    assert!(
        jpeg.windows(2).any(|w| w == [0xFF, 0xD0]),
        "has restart markers"
    );
    // Trailing data after EOI, as phones append gain maps, is ignored.
    jpeg.extend_from_slice(b"\xFF\xD8\xFF\xE1trailing junk");
    let info = jpeg::scan(&jpeg).unwrap();
    assert_eq!(info.scans, 1);
    assert!(process(&jpeg, &IntakeOptions::default()).is_ok());
}

#[test]
fn orientation_survives_little_endian_exif_and_rejects_nonsense() {
    // Little-endian IFD with Orientation = 6.
    let mut le = b"II\x2A\0\x08\0\0\0\x01\0".to_vec();
    le.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
    assert_eq!(exif::orientation(&le), 6);
    assert_eq!(exif::orientation(&exif_block(7, None)), 7);
    // Out of range, wrong type, truncated, and an IFD offset past the end: all upright.
    let mut bad = exif_block(9, None);
    assert_eq!(exif::orientation(&bad), 1);
    bad.truncate(12);
    assert_eq!(exif::orientation(&bad), 1);
    assert_eq!(exif::orientation(b"MM\0\x2A\xFF\xFF\xFF\xF0"), 1);
    assert_eq!(exif::orientation(b""), 1);
}

#[test]
fn cmyk_without_a_profile_uses_the_textbook_formula() {
    let p = pixels::Pixels {
        width: 2,
        height: 1,
        layout: pixels::Layout::Cmyk,
        // Pure cyan ink; then 50% black only.
        data: vec![255, 0, 0, 0, 0, 0, 0, 128],
    };
    let rgb = crate::color::into_srgb(p, None);
    assert_eq!(rgb.get_pixel(0, 0).0, [0, 255, 255]);
    assert_eq!(rgb.get_pixel(1, 0).0, [127, 127, 127]);
}

#[tokio::test]
async fn pool_admits_workers_plus_queue_then_answers_busy() {
    let pool = IntakePool::new(1, 2);
    let a = pool.admit().unwrap();
    let b = pool.admit().unwrap();
    let c = pool.admit().unwrap();
    assert_eq!(pool.stats().admitted, 3);
    let err = pool.admit().err().expect("fourth upload must be refused");
    assert_eq!(
        err,
        IntakeError::Busy {
            retry_after_secs: 2
        }
    );
    assert_eq!(err.status(), 503);
    drop(c);
    let jpeg = encode_jpeg(&portrait(100, 80), 90).unwrap();
    let photo = a
        .process(jpeg.clone(), IntakeOptions::default())
        .await
        .unwrap();
    assert_eq!(photo.image.dimensions(), (100, 80));
    let err = b.process(b"nope".to_vec(), IntakeOptions::default()).await;
    assert!(matches!(err, Err(IntakeError::UnsupportedFormat(_))));
    assert_eq!(
        pool.stats().admitted,
        0,
        "places come back after processing"
    );
    assert!(pool.admit().is_ok());
}
