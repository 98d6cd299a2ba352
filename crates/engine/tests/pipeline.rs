//! The real loader and pipeline on a tiny random-weight model built in the real formats.

use std::path::Path;
use std::sync::OnceLock;

use articket_engine::{tiny, Engine, EngineError, Img2Img, Sampler};
use candle_core::{DType, Device};
use image::{Rgb, RgbImage};

fn model_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        tiny::write_tiny_sd(dir.path()).unwrap();
        dir
    })
    .path()
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::load(model_dir(), &Device::Cpu, DType::F32, false).unwrap())
}

fn photo() -> RgbImage {
    RgbImage::from_fn(96, 128, |x, y| {
        let face = ((x as i32 - 48).pow(2) + (y as i32 - 56).pow(2)) < 900;
        if face {
            Rgb([230, 180, 150])
        } else {
            Rgb([(x * 2) as u8, 120, (255 - y * 2) as u8])
        }
    })
}

fn job(prompt: &str, seed: u64, strength: f64) -> Img2Img {
    Img2Img {
        image: photo(),
        prompt: prompt.into(),
        negative_prompt: "blurry".into(),
        steps: 10,
        strength,
        cfg_scale: 7.0,
        seed,
        sampler: Sampler::Ddim,
        width: 48,
        height: 64,
        loras: Vec::new(),
        change: None,
    }
}

fn distance(a: &RgbImage, b: &RgbImage) -> f64 {
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y) as u64)
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

fn paint(jobs: &[Img2Img]) -> Vec<RgbImage> {
    engine().img2img(jobs, &mut |_, _| {}).unwrap()
}

#[test]
fn a_painting_has_the_requested_size() {
    let out = paint(&[job("a cubist portrait", 1, 0.6)]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dimensions(), (48, 64));
    // Not a blank canvas: the decoder produced varied pixels.
    let first = out[0].get_pixel(0, 0);
    assert!(out[0].pixels().any(|p| p != first));
}

#[test]
fn the_same_seed_paints_the_same_picture_and_another_seed_another() {
    let a = paint(&[job("van gogh", 7, 0.6)]);
    let b = paint(&[job("van gogh", 7, 0.6)]);
    let c = paint(&[job("van gogh", 8, 0.6)]);
    assert!(a[0] == b[0], "same seed, different pixels");
    assert!(distance(&a[0], &c[0]) > 0.5, "another seed changed nothing");
}

#[test]
fn higher_strength_moves_further_from_the_photo() {
    let e = engine();
    let round_trip = e.vae_round_trip(&photo(), 48, 64).unwrap();
    // steps × strength < 1: nothing is denoised; the VAE round trip comes back.
    let none = paint(&[job("renoir", 3, 0.05)]);
    assert!(
        distance(&none[0], &round_trip) < 0.01,
        "{}",
        distance(&none[0], &round_trip)
    );
    let distances: Vec<f64> = [0.2, 0.5, 0.8, 1.0]
        .iter()
        .map(|&s| distance(&paint(&[job("renoir", 3, s)])[0], &round_trip))
        .collect();
    eprintln!("distance from the VAE round trip by strength: {distances:?}");
    assert!(distances[0] > 0.0);
    assert!(distances.windows(2).all(|w| w[0] < w[1]), "{distances:?}");
}

#[test]
fn four_painters_in_one_batch_match_four_runs_one_by_one() {
    let jobs: Vec<Img2Img> = [
        "picasso cubism",
        "renoir dabs",
        "van gogh swirls",
        "lichtenstein dots",
    ]
    .iter()
    .enumerate()
    .map(|(i, p)| Img2Img {
        cfg_scale: 5.0 + i as f64,
        ..job(p, 100 + i as u64, 0.6)
    })
    .collect();
    let mut steps_seen = Vec::new();
    let batched = engine()
        .img2img(&jobs, &mut |done, total| steps_seen.push((done, total)))
        .unwrap();
    assert_eq!(
        steps_seen.last(),
        Some(&(24, 24)),
        "4 jobs × 6 denoising steps"
    );
    for (j, b) in jobs.iter().zip(&batched) {
        let alone = paint(std::slice::from_ref(j));
        let d = distance(b, &alone[0]);
        assert!(d < 1.0, "batched and alone differ by {d}");
    }
    // And the painters really differ from each other.
    assert!(distance(&batched[0], &batched[1]) > 0.5);
}

#[test]
fn jobs_of_different_sizes_are_painted_in_separate_batches() {
    let small = Img2Img {
        width: 32,
        height: 32,
        ..job("a", 1, 0.5)
    };
    let out = paint(&[job("b", 1, 0.5), small]);
    assert_eq!(out[0].dimensions(), (48, 64));
    assert_eq!(out[1].dimensions(), (32, 32));
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    let odd = Img2Img {
        width: 47,
        ..job("a", 1, 0.5)
    };
    let err = engine().img2img(&[odd], &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, EngineError::Input(_)), "{err}");
    assert!(err.to_string().contains("multiples of 2"), "{err}");
}

#[test]
fn a_model_directory_with_missing_files_lists_them_all() {
    let dir = tempfile::tempdir().unwrap();
    tiny::write_tiny_sd(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join("vae/diffusion_pytorch_model.safetensors")).unwrap();
    std::fs::remove_dir_all(dir.path().join("tokenizer")).unwrap();
    let err = Engine::load(dir.path(), &Device::Cpu, DType::F32, false)
        .err()
        .expect("an error");
    let msg = err.to_string();
    assert!(
        msg.contains("vae/diffusion_pytorch_model.safetensors"),
        "{msg}"
    );
    assert!(msg.contains("tokenizer/tokenizer.json"), "{msg}");
    assert!(
        !msg.contains("unet/"),
        "present files are not listed: {msg}"
    );
    assert!(msg.contains("docs/models.md"), "{msg}");

    let empty = tempfile::tempdir().unwrap();
    let msg = Engine::load(empty.path(), &Device::Cpu, DType::F32, false)
        .err()
        .unwrap()
        .to_string();
    for part in [
        "unet/config.json",
        "vae/config.json",
        "text_encoder/model.safetensors",
        "tokenizer/tokenizer.json",
    ] {
        assert!(msg.contains(part), "{part} not listed: {msg}");
    }
}

/// Every sampler paints, and the same seed gives the same painting, Euler a included
/// (its noise per step comes from the job's seed, not the device's generator), whether
/// the job runs alone or batched with others.
#[test]
fn every_sampler_paints_and_repeats_for_a_seed() {
    let round_trip = engine().vae_round_trip(&photo(), 48, 64).unwrap();
    for sampler in Sampler::ALL {
        let j = Img2Img {
            sampler,
            ..job("pop art", 5, 0.7)
        };
        let other = Img2Img {
            seed: 6,
            ..j.clone()
        };
        let alone = paint(std::slice::from_ref(&j));
        let batched = paint(&[other, j]);
        assert_eq!(alone[0].dimensions(), (48, 64));
        assert!(
            distance(&alone[0], &round_trip) > 0.5,
            "{sampler:?} painted nothing"
        );
        assert_eq!(
            alone[0], batched[1],
            "{sampler:?}: batching changed the painting"
        );
        assert_ne!(
            batched[0], batched[1],
            "{sampler:?}: seeds 5 and 6 painted alike"
        );
    }
}
