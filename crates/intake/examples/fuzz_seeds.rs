//! Writes small seed files for the intake fuzzer: one of each kind of upload the corpus
//! tests use. `cargo run -p articket-intake --example fuzz_seeds -- fuzz/corpus/intake`

use articket_intake::encode_jpeg;
use articket_intake::fixtures::*;
use image::ImageEncoder;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: fuzz_seeds DIR");
    std::fs::create_dir_all(&dir).expect("creating the seed folder");
    let img = portrait(48, 40);
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .write_image(img.as_raw(), 48, 40, image::ExtendedColorType::Rgb8)
        .expect("webp");
    let mut png8 = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png8)
        .write_image(img.as_raw(), 48, 40, image::ExtendedColorType::Rgb8)
        .expect("png");
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("baseline.jpg", encode_jpeg(&img, 80).expect("jpeg")),
        ("exif6.jpg", jpeg_with_orientation(&img, 6)),
        ("camera.jpg", camera_jpeg(64, 48, 85, 3, 9)),
        ("cmyk.jpg", cmyk_jpeg(&img, false)),
        ("ycck.jpg", cmyk_jpeg(&img, true)),
        ("gray.jpg", gray_jpeg(&img)),
        ("progressive.jpg", progressive_jpeg(&img)),
        (
            "icc.jpg",
            jpeg_with_icc(
                &encode_jpeg(&img, 80).expect("jpeg"),
                &icc_swapping_red_and_blue(),
            ),
        ),
        ("png8.png", png8),
        ("png16.png", png16(&img)),
        ("anim.gif", animated_gif(16, 12, [0, 200, 0], [200, 0, 200])),
        ("lossless.webp", webp),
    ];
    for (name, bytes) in seeds {
        std::fs::write(format!("{dir}/{name}"), bytes).expect("writing a seed");
    }
}
