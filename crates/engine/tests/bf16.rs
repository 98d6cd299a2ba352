//! The CPU's bf16 path (`articket_engine::bf16`), in a process of its own: it is
//! switched on for the whole process. On the SD-Turbo-shaped parity model with the tiny
//! autoencoder (both written by diffusers), a painting made with the convolutions,
//! linear layers and attention in bf16 stays within a small distance of the f32
//! painting, and is not the same bits (the bf16 kernels did run).

use std::path::Path;

use articket_engine::{Engine, Img2Img, Sampler};
use candle_core::{DType, Device};

/// Each kernel this processor has: AVX-512 BF16 (asked for explicitly, as Intel
/// processors would otherwise stay in f32), then AMX where present. A fresh engine for
/// each: the layers keep their weights packed for the kernel they first ran on.
#[test]
fn bf16_paints_what_f32_paints_within_rounding() {
    if !articket_engine::bf16::available() {
        eprintln!("skipped: this processor has no AVX-512 BF16");
        return;
    }
    let mut kernels = vec![false];
    if articket_engine::amx::available() {
        kernels.push(true);
    } else {
        eprintln!("no AMX here: its kernel is not painted with");
    }
    let f32_painting = paint();
    for amx in kernels {
        articket_engine::bf16::allow_amx(amx);
        assert!(articket_engine::bf16::enable(true));
        let kernel = articket_engine::bf16::Kernel::current();
        let bf16_painting = paint();
        articket_engine::bf16::enable(false);
        let (a, b) = (f32_painting.as_raw(), bf16_painting.as_raw());
        assert_ne!(a, b, "the bf16 kernels ran ({kernel:?})");
        let mean = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y as f64).abs())
            .sum::<f64>()
            / a.len() as f64;
        eprintln!("bf16 ({kernel:?}) against f32: mean |diff| {mean:.3}/255");
        assert!(mean < 2.0, "{kernel:?}: mean |diff| {mean}/255");
    }
}

/// One painting on the SD-Turbo-shaped parity model with TAESD, in whatever precision
/// the process is set to.
fn paint() -> image::RgbImage {
    let parity = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity");
    let mut engine =
        Engine::load(&parity.join("sd-turbo"), &Device::Cpu, DType::F32, false).unwrap();
    engine.use_tiny_vae(&parity.join("taesd")).unwrap();
    // 128 px: enough tokens (256) for the bf16 linear layers, and convolutions.
    let photo = image::RgbImage::from_fn(128, 128, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 2) as u8, ((x + y) % 256) as u8])
    });
    let job = Img2Img {
        image: photo,
        prompt: "a portrait of a person, painted by Vincent van Gogh".into(),
        negative_prompt: String::new(),
        steps: 4,
        strength: 0.5,
        cfg_scale: 0.0,
        seed: 11,
        sampler: Sampler::EulerAncestral,
        width: 128,
        height: 128,
        loras: Vec::new(),
        change: None,
    };
    engine
        .img2img(std::slice::from_ref(&job), &mut |_, _| {})
        .unwrap()
        .remove(0)
}
