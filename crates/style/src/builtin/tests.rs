use super::*;
use image::Rgb;

/// A small portrait-like scene with a face, a sky and a lawn, enough structure for every
/// painter to show its character.
fn scene(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32 - 0.5, y as f32 / h as f32 - 0.45);
        if fx * fx / 0.08 + fy * fy / 0.1 < 1.0 {
            Rgb([225, 180, 150])
        } else if y < h * 6 / 10 {
            Rgb([90, (140 + y * 60 / h) as u8, 210])
        } else {
            Rgb([60, 130, 50])
        }
    })
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y) as u64)
        .sum();
    total as f64 / a.as_raw().len() as f64
}

#[test]
fn same_seed_gives_the_same_pixels_and_size_is_kept() {
    let photo = scene(160, 200);
    for p in Painter::ALL {
        let a = render(p, &photo, 42, &BuiltinParams::default());
        let b = render(p, &photo, 42, &BuiltinParams::default());
        assert_eq!(a.dimensions(), photo.dimensions(), "{p}");
        assert!(a == b, "{p} is not deterministic");
    }
}

#[test]
fn painters_differ_from_each_other_and_from_the_photo() {
    let photo = scene(200, 240);
    let out: Vec<_> = Painter::ALL
        .iter()
        .map(|&p| (p, render(p, &photo, 7, &BuiltinParams::default())))
        .collect();
    for (p, img) in &out {
        let d = mean_abs_diff(img, &photo);
        assert!(d > 12.0, "{p} is too close to the photo ({d:.1})");
    }
    for i in 0..out.len() {
        for j in i + 1..out.len() {
            let d = mean_abs_diff(&out[i].1, &out[j].1);
            assert!(
                d > 12.0,
                "{} and {} look alike ({d:.1})",
                out[i].0,
                out[j].0
            );
        }
    }
}

#[test]
fn degenerate_images_do_not_panic() {
    let cases = [
        RgbImage::new(1, 1),
        RgbImage::from_pixel(1, 400, Rgb([200, 100, 50])),
        RgbImage::from_pixel(400, 1, Rgb([200, 100, 50])),
        RgbImage::from_pixel(64, 64, Rgb([0, 0, 0])),
        RgbImage::from_pixel(64, 64, Rgb([255, 255, 255])),
        RgbImage::new(0, 0),
    ];
    for img in &cases {
        for p in Painter::ALL {
            assert_eq!(render(p, img, 1, &BuiltinParams::default()).dimensions(), img.dimensions(), "{p}");
        }
    }
}

#[tokio::test]
async fn builtin_backend_reports_progress_and_paints() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let renderer = BuiltinRenderer::new(Arc::new(Semaphore::new(1)), BuiltinParams::default());
    let photo = Arc::new(scene(64, 64));
    let last = Arc::new(AtomicU32::new(0));
    let seen = last.clone();
    let job = PaintJob {
        painter: Painter::Lichtenstein,
        photo: photo.clone(),
        photo_jpeg: Arc::from(Vec::new()),
        seed: 3,
    };
    let img = renderer
        .paint(
            job,
            Arc::new(move |f| seen.store(f.to_bits(), Ordering::SeqCst)),
        )
        .await
        .unwrap();
    assert_eq!(img, render(Painter::Lichtenstein, &photo, 3, &BuiltinParams::default()));
    assert_eq!(f32::from_bits(last.load(Ordering::SeqCst)), 1.0);
}

#[test]
fn painter_ids_round_trip() {
    for p in Painter::ALL {
        assert_eq!(p.id().parse::<Painter>().unwrap(), p);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            format!("\"{}\"", p.id())
        );
    }
    assert!("monet".parse::<Painter>().is_err());
}
