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

/// Uniform noise, the worst case for every edge and flow estimate.
fn noise(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    RgbImage::from_fn(w, h, |_, _| {
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        };
        Rgb([next(), next(), next()])
    })
}

/// Simple statistics that tell styles apart. They do not judge beauty; they catch a
/// renderer that collapsed into a copy of its input or of another painter.
mod stats {
    use image::RgbImage;

    /// Normalised 4×4×4 colour histogram.
    pub fn histogram(img: &RgbImage) -> [f64; 64] {
        let mut bins = [0.0; 64];
        for p in img.pixels() {
            let [r, g, b] = p.0.map(|c| (c >> 6) as usize);
            bins[r * 16 + g * 4 + b] += 1.0;
        }
        let n = (img.width() * img.height()) as f64;
        bins.map(|b| b / n)
    }

    /// Half the L1 distance of two histograms: 0 for the same colours, 1 for disjoint.
    pub fn histogram_distance(a: &RgbImage, b: &RgbImage) -> f64 {
        let (a, b) = (histogram(a), histogram(b));
        a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f64>() / 2.0
    }

    fn luma(img: &RgbImage) -> Vec<f64> {
        img.pixels()
            .map(|p| (0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64) / 255.0)
            .collect()
    }

    /// Share of pixels whose luma gradient (central differences) exceeds 0.08 per pixel.
    pub fn edge_density(img: &RgbImage) -> f64 {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let l = luma(img);
        let mut edges = 0;
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let gx = (l[y * w + x + 1] - l[y * w + x - 1]) / 2.0;
                let gy = (l[(y + 1) * w + x] - l[(y - 1) * w + x]) / 2.0;
                if gx.hypot(gy) > 0.08 {
                    edges += 1;
                }
            }
        }
        edges as f64 / ((w - 2) * (h - 2)) as f64
    }

    /// How strongly the image repeats along rows with period `lag`: the normalised
    /// autocorrelation of high-passed luma at `lag` minus that at `lag / 2`. A regular dot
    /// grid scores high (in phase at a full period, out of phase at half of one); photos,
    /// strokes and facets score near zero.
    pub fn periodicity(img: &RgbImage, lag: usize) -> f64 {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let l = luma(img);
        // High-pass: subtract a horizontal box mean one period wide.
        let r = lag as isize;
        let mut hp = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                let (lo, hi) = (
                    (x as isize - r).max(0) as usize,
                    (x as isize + r).min(w as isize - 1) as usize,
                );
                let mean = l[y * w + lo..=y * w + hi].iter().sum::<f64>() / (hi - lo + 1) as f64;
                hp[y * w + x] = l[y * w + x] - mean;
            }
        }
        let ac = |k: usize| {
            let (mut num, mut den) = (0.0, 0.0);
            for y in 0..h {
                for x in 0..w - k {
                    let (a, b) = (hp[y * w + x], hp[y * w + x + k]);
                    num += a * b;
                    den += (a * a + b * b) / 2.0;
                }
            }
            if den == 0.0 {
                0.0
            } else {
                num / den
            }
        };
        ac(lag) - ac(lag / 2)
    }
}

#[test]
fn painters_differ_from_each_other_and_from_the_photo() {
    use stats::*;
    let photo = crate::samples::portrait(384, 512, crate::samples::LOOKS[0]);
    let params = BuiltinParams::default();
    let out: Vec<_> = Painter::ALL
        .iter()
        .map(|&p| (p, render(p, &photo, 7, &params)))
        .collect();
    let edges_in = edge_density(&photo);
    // Lichtenstein's Ben-Day grid is rotated 45°, so along a row it repeats every √2 pitches.
    let lag = (params.lichtenstein.dot_pitch * std::f32::consts::SQRT_2).round() as usize;
    let mut report = format!(
        "photo: edges {edges_in:.3}, dots {:.2}\n",
        periodicity(&photo, lag)
    );
    for (p, img) in &out {
        report += &format!(
            "{p}: histogram vs photo {:.2}, edges {:.3}, dots {:.2}, mean diff {:.1}\n",
            histogram_distance(img, &photo),
            edge_density(img),
            periodicity(img, lag),
            mean_abs_diff(img, &photo)
        );
    }
    eprint!("{report}");

    for (p, img) in &out {
        let h = histogram_distance(img, &photo);
        assert!(
            h > 0.25,
            "{p}: its colours are the photo's ({h:.2})\n{report}"
        );
        assert!(
            mean_abs_diff(img, &photo) > 12.0,
            "{p} is too close to the photo\n{report}"
        );
        let dots = periodicity(img, lag);
        if *p == Painter::Lichtenstein {
            assert!(
                dots > 0.5,
                "Lichtenstein lost its dot grid ({dots:.2})\n{report}"
            );
        } else {
            assert!(dots < 0.25, "{p} has a print grid ({dots:.2})\n{report}");
        }
    }
    // Painting adds marks the photo does not have: strokes, contours, facets, dots.
    for p in [Painter::VanGogh, Painter::Picasso, Painter::Lichtenstein] {
        let e = edge_density(&out.iter().find(|(q, _)| *q == p).unwrap().1);
        assert!(
            e > edges_in * 1.5,
            "{p} adds no marks ({e:.3} vs {edges_in:.3})\n{report}"
        );
    }
    for i in 0..out.len() {
        for j in i + 1..out.len() {
            let (a, b) = (&out[i], &out[j]);
            let h = histogram_distance(&a.1, &b.1);
            let ea = edge_density(&a.1);
            let eb = edge_density(&b.1);
            let edge_ratio = ea.max(eb) / ea.min(eb).max(1e-6);
            assert!(
                h > 0.2 || edge_ratio > 1.5,
                "{} and {} look alike: histogram {h:.2}, edges {ea:.3} vs {eb:.3}\n{report}",
                a.0,
                b.0
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
        RgbImage::from_pixel(1, 4000, Rgb([90, 140, 210])),
        RgbImage::from_pixel(4000, 1, Rgb([90, 140, 210])),
        noise(97, 131, 5),
        RgbImage::new(0, 0),
    ];
    for img in &cases {
        for p in Painter::ALL {
            assert_eq!(
                render(p, img, 1, &BuiltinParams::default()).dimensions(),
                img.dimensions(),
                "{p}"
            );
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
        visit_id: "v".into(),
        photo: photo.clone(),
        photo_jpeg: Arc::from(Vec::new()),
        seed: 3,
        matte: None,
        faces: None,
    };
    let img = renderer
        .paint(
            job,
            Arc::new(move |u| {
                if let Update::Progress(f) = u {
                    seen.store(f.to_bits(), Ordering::SeqCst)
                }
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        img,
        render(Painter::Lichtenstein, &photo, 3, &BuiltinParams::default())
    );
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

#[test]
fn halving_averages_each_2x2_block_and_repeats_the_odd_edge() {
    // 3×2: columns 0, 1 average to 127.5 / 255; column 2 stands alone (repeated).
    let img = RgbImage::from_fn(3, 2, |x, _| match x {
        0 => Rgb([0, 0, 0]),
        1 => Rgb([255, 255, 255]),
        _ => Rgb([255, 0, 0]),
    });
    let half = canvas::Canvas::from_image(&img).halve();
    assert_eq!((half.w, half.h), (2, 1));
    assert_eq!(half.get(0, 0), [0.5, 0.5, 0.5]);
    assert_eq!(half.get(1, 0), [1.0, 0.0, 0.0]);
}

/// Faces intake found come with the job, and the renderer paints with them instead of
/// looking again: given none on Grace Hopper's portrait, it paints no face pass;
/// given nothing, it finds her face itself.
#[tokio::test]
async fn the_faces_intake_found_are_the_ones_painted() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/samples/photos/grace_hopper.jpg");
    let photo = Arc::new(image::open(path).unwrap().to_rgb8());
    let params = BuiltinParams::default();
    let found = crate::faces::detect(&photo);
    assert_eq!(found.len(), 1);
    for (visit, given, want) in [
        ("told-none", Some(Vec::new()), Vec::new()),
        ("looks-itself", None, found.clone()),
    ] {
        let renderer = BuiltinRenderer::new(Arc::new(Semaphore::new(1)), params.clone());
        let job = PaintJob {
            painter: Painter::Renoir,
            visit_id: visit.into(),
            photo: photo.clone(),
            photo_jpeg: Arc::from(Vec::new()),
            seed: 4,
            matte: None,
            faces: given.map(Arc::new),
        };
        let img = renderer.paint(job, Arc::new(|_| {})).await.unwrap();
        assert_eq!(
            img,
            render_with_faces(Painter::Renoir, &photo, &want, 4, &params),
            "{visit}"
        );
    }
}
