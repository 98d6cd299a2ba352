use image::{Rgb, RgbImage};

use super::*;

#[test]
fn model_sizes_are_multiples_of_32_near_the_photos_aspect() {
    assert_eq!(input_size(384, 512, 320), (256, 320));
    assert_eq!(input_size(512, 600, 320), (288, 320));
    assert_eq!(input_size(512, 512, 256), (256, 256));
    assert_eq!(input_size(600, 512, 320), (320, 288));
    // A small photo is not enlarged past its own size rounded to 32.
    assert_eq!(input_size(100, 60, 320), (96, 64));
    // A sliver still gets one block.
    assert_eq!(input_size(512, 10, 320), (320, 32));
}

/// A photo whose left part is dark and right part light, with the edge at `edge` px.
fn two_tone(w: u32, h: u32, edge: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, _| {
        if x < edge {
            Rgb([30, 30, 40])
        } else {
            Rgb([220, 210, 200])
        }
    })
}

#[test]
fn guided_upsampling_puts_the_edge_where_the_photo_has_it() {
    // The full photo's edge is at x = 203, not on the small picture's 8 px grid: a plain
    // bilinear enlargement would smear alpha over 8 px around 200; the guide puts it on
    // the photo's edge.
    let photo = two_tone(256, 64, 203);
    let small = image::imageops::resize(&photo, 32, 8, image::imageops::FilterType::Triangle);
    let alpha: Vec<f32> = small
        .pixels()
        .map(|p| if p[0] < 125 { 1.0 } else { 0.0 })
        .collect();
    let matte = upsample_guided(&alpha, &small, &photo);
    assert_eq!(matte.dimensions(), (256, 64));
    for y in [0, 31, 63] {
        assert!(
            matte.get_pixel(195, y)[0] > 235,
            "person side {}",
            matte.get_pixel(195, y)[0]
        );
        assert!(
            matte.get_pixel(201, y)[0] > 200,
            "just inside {}",
            matte.get_pixel(201, y)[0]
        );
        assert!(
            matte.get_pixel(205, y)[0] < 55,
            "just outside {}",
            matte.get_pixel(205, y)[0]
        );
        assert!(
            matte.get_pixel(212, y)[0] < 20,
            "background {}",
            matte.get_pixel(212, y)[0]
        );
    }
}

#[test]
fn a_flat_alpha_stays_flat() {
    let photo = two_tone(64, 64, 20);
    let small = image::imageops::resize(&photo, 32, 32, image::imageops::FilterType::Triangle);
    let matte = upsample_guided(&vec![0.5; 32 * 32], &small, &photo);
    assert!(matte.pixels().all(|p| (127..=128).contains(&p[0])));
}

#[test]
fn a_missing_or_broken_model_file_is_named_in_the_error() {
    let err = Matter::load(std::path::Path::new("/nonexistent/modnet.onnx"), 320)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("/nonexistent/modnet.onnx") && err.contains("no such file"),
        "{err}"
    );
    let dir = std::env::temp_dir().join(format!("articket-matting-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("model.onnx");
    std::fs::write(&bad, b"<html>404 Not Found</html>").unwrap();
    let err = Matter::load(&bad, 320).err().unwrap().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        err.contains("model.onnx") && err.contains("not a readable ONNX model"),
        "{err}"
    );
}
