//! Intake must turn any bytes into either a typed error or a small, clean JPEG. A panic,
//! an abort, a sanitizer report, a timeout or an out-of-memory is a finding.
#![no_main]

use articket_intake::{process, IntakeOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run fast; the code paths are the same as the booth's.
    let opts = IntakeOptions {
        max_bytes: 1 << 20,
        max_width: 4096,
        max_height: 4096,
        max_pixels: 4_000_000,
        long_side: 96,
        jpeg_quality: 80,
    };
    if let Ok(photo) = process(data, &opts) {
        let (w, h) = photo.image.dimensions();
        assert!(w.max(h) <= 96 && w > 0 && h > 0, "{w}x{h}");
        let back = image::load_from_memory(&photo.jpeg).expect("output decodes");
        assert_eq!((back.width(), back.height()), (w, h));
        // Nothing but a JFIF header may precede the image data.
        assert!(!photo
            .jpeg
            .windows(2)
            .any(|m| m == [0xFF, 0xE1] || m == [0xFF, 0xE2]));
    }
});
