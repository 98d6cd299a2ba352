//! Parity with the reference implementation, diffusers on PyTorch.
//!
//! `tests/fixtures/parity/{sd15,sdxl}` are tiny random-weight models written by
//! diffusers 0.42 and transformers 5 (`save_pretrained`), and `expected.safetensors` in
//! each holds what diffusers computed with them, stage by stage
//! (`bench/parity/make_fixtures.py` writes both; see docs/testing.md). Every stage here
//! gets the same inputs as the reference did.
//!
//! Tolerances (f32): latents and noise predictions max |diff| ≤ 1e-3; final images mean
//! |diff| ≤ 1/255 of the 0–255 range.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use articket_engine::pipeline::TextConditioning;
use articket_engine::sampler::{Denoiser, NoiseSchedule};
use articket_engine::text::Tokenizer;
use articket_engine::{max_abs, Engine, Img2Img, LoraRef, Sampler};
use candle_core::{DType, Device, IndexOp, Tensor};

const TOL: f32 = 1e-3;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity")
}

struct Case {
    engine: Engine,
    expected: HashMap<String, Tensor>,
    meta: HashMap<String, String>,
}

impl Case {
    fn get(&self, key: &str) -> Tensor {
        self.expected
            .get(key)
            .unwrap_or_else(|| panic!("expected.safetensors has no {key}"))
            .clone()
    }
}

fn load(name: &str) -> Case {
    let dir = fixtures().join(name);
    let engine = Engine::load(&dir, &Device::Cpu, DType::F32, false)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let path = dir.join("expected.safetensors");
    let expected = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let meta = articket_engine::fixture_metadata(&path).unwrap();
    Case {
        engine,
        expected,
        meta,
    }
}

fn sd15() -> &'static Case {
    static C: OnceLock<Case> = OnceLock::new();
    C.get_or_init(|| load("sd15"))
}

fn sdxl() -> &'static Case {
    static C: OnceLock<Case> = OnceLock::new();
    C.get_or_init(|| load("sdxl"))
}

fn cases() -> [(&'static str, &'static Case); 2] {
    [("sd15", sd15()), ("sdxl", sdxl())]
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    max_abs(&(a.to_dtype(DType::F32).unwrap() - b.to_dtype(DType::F32).unwrap()).unwrap()).unwrap()
}

fn mean_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a.to_dtype(DType::F32).unwrap() - b.to_dtype(DType::F32).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Asserts `got` matches `want` within `tol`, and that `want` is not trivially small
/// (a stage whose reference output is all zeros would prove nothing).
fn close(what: &str, got: &Tensor, want: &Tensor, tol: f32) -> f32 {
    let d = max_diff(got, want);
    let scale = max_abs(want).unwrap();
    eprintln!("{what}: max |diff| {d:.2e} (reference max |x| {scale:.3})");
    assert!(scale > 1e-3, "{what}: the reference is all but zero");
    assert!(d <= tol, "{what}: max |diff| {d} > {tol}");
    d
}

fn photo(case: &Case) -> image::RgbImage {
    let t = case.get("image");
    let (h, w, _) = t.dims3().unwrap();
    let raw = t.flatten_all().unwrap().to_vec1::<u8>().unwrap();
    image::RgbImage::from_raw(w as u32, h as u32, raw).unwrap()
}

fn ids(t: &Tensor) -> Vec<u32> {
    t.i(0)
        .unwrap()
        .to_vec1::<i64>()
        .unwrap()
        .into_iter()
        .map(|x| x as u32)
        .collect()
}

fn sampler_key(s: Sampler) -> &'static str {
    match s {
        Sampler::Ddim => "ddim",
        Sampler::EulerAncestral => "euler_a",
        Sampler::DpmPp2mKarras => "dpmpp_2m_karras",
        Sampler::Lcm => "lcm",
    }
}

#[test]
fn both_tokenizer_layouts_give_the_reference_ids() {
    let published = fixtures().join("clip-vocab-merges");
    for (name, case) in cases() {
        let prompt = &case.meta["prompt"];
        let negative = &case.meta["negative"];
        let folders: &[&str] = if name == "sdxl" {
            &["tokenizer", "tokenizer_2"]
        } else {
            &["tokenizer"]
        };
        for (i, folder) in folders.iter().enumerate() {
            let dir = fixtures().join(name).join(folder);
            let tok = Tokenizer::load_dir(&dir, 77).unwrap();
            let want_p = ids(&case.get(&format!("ids{}.prompt", i + 1)));
            let want_n = ids(&case.get(&format!("ids{}.negative", i + 1)));
            assert_eq!(tok.encode(prompt).unwrap(), want_p, "{name}/{folder}");
            assert_eq!(tok.encode(negative).unwrap(), want_n, "{name}/{folder}");

            // The published layout: vocab.json + merges.txt beside this folder's config.
            let old = tempfile::tempdir().unwrap();
            for f in ["vocab.json", "merges.txt"] {
                std::fs::copy(published.join(f), old.path().join(f)).unwrap();
            }
            std::fs::copy(
                dir.join("tokenizer_config.json"),
                old.path().join("tokenizer_config.json"),
            )
            .unwrap();
            let tok = Tokenizer::load_dir(old.path(), 77).unwrap();
            assert_eq!(
                tok.encode(prompt).unwrap(),
                want_p,
                "{name}/{folder} (published)"
            );
        }
    }
    // SDXL's second tokenizer pads with "!", not with the end token.
    let pad = ids(&sdxl().get("ids2.prompt"));
    assert_ne!(pad[76], ids(&sdxl().get("ids1.prompt"))[76]);
}

#[test]
fn text_embeddings_match() {
    for (name, case) in cases() {
        let e = &case.engine;
        let t = e
            .text_conditioning(&[&case.meta["prompt"], &case.meta["negative"]])
            .unwrap();
        close(
            &format!("{name} text (prompt)"),
            &t.context.i(0..1).unwrap(),
            &case.get("text.prompt"),
            TOL,
        );
        close(
            &format!("{name} text (negative)"),
            &t.context.i(1..2).unwrap(),
            &case.get("text.negative"),
            TOL,
        );
        if name == "sdxl" {
            let pooled = t.pooled.expect("SDXL has a pooled embedding");
            close(
                "sdxl pooled",
                &pooled.i(0..1).unwrap(),
                &case.get("text.pooled"),
                TOL,
            );
            close(
                "sdxl pooled (negative)",
                &pooled.i(1..2).unwrap(),
                &case.get("text.pooled_negative"),
                TOL,
            );
        } else {
            assert!(t.pooled.is_none());
        }
    }
}

#[test]
fn vae_encode_and_decode_match() {
    for (name, case) in cases() {
        let e = &case.engine;
        let img = photo(case);
        let lat = e.image_latents(&[&img], 64, 64).unwrap();
        close(
            &format!("{name} VAE latent"),
            &lat,
            &case.get("vae.latent"),
            TOL,
        );
        let dec = e.decode_unit(&case.get("vae.latent")).unwrap();
        close(
            &format!("{name} VAE decode"),
            &dec,
            &case.get("vae.decoded"),
            TOL,
        );
    }
}

#[test]
fn unet_noise_predictions_match_with_guidance() {
    for (name, case) in cases() {
        let e = &case.engine;
        let cfg: f64 = case.meta["cfg"].parse().unwrap();
        let text = TextConditioning {
            context: Tensor::cat(&[case.get("text.negative"), case.get("text.prompt")], 0).unwrap(),
            pooled: (name == "sdxl").then(|| {
                Tensor::cat(
                    &[case.get("text.pooled_negative"), case.get("text.pooled")],
                    0,
                )
                .unwrap()
            }),
            guidance: None,
        };
        let latents = case.get("unet.latents");
        let input = Tensor::cat(&[&latents, &latents], 0).unwrap();
        for t in [999, 500, 21] {
            let pred = e.predict(&input, t as f64, &text).unwrap();
            let (u, c) = (pred.i(0..1).unwrap(), pred.i(1..2).unwrap());
            close(
                &format!("{name} UNet t={t} uncond"),
                &u,
                &case.get(&format!("unet.t{t}.uncond")),
                TOL,
            );
            close(
                &format!("{name} UNet t={t} cond"),
                &c,
                &case.get(&format!("unet.t{t}.cond")),
                TOL,
            );
            let guided = (&u + ((c - &u).unwrap() * cfg).unwrap()).unwrap();
            close(
                &format!("{name} UNet t={t} guided"),
                &guided,
                &case.get(&format!("unet.t{t}.guided")),
                TOL,
            );
        }
        // Without SDXL's added conditioning the prediction is a different one: the
        // UNet refuses rather than guessing.
        if name == "sdxl" {
            let bare = TextConditioning {
                context: text.context.clone(),
                pooled: None,
                guidance: None,
            };
            assert!(e.predict(&input, 500.0, &bare).is_err());
        }
    }
}

#[test]
fn every_sampler_steps_like_diffusers() {
    for (name, case) in cases() {
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                fixtures()
                    .join(name)
                    .join("scheduler/scheduler_config.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let schedule = NoiseSchedule::from_config(&config).unwrap();
        let sample = case.get("sched.sample");
        let eps = case.get("sched.eps");
        let noise = case.get("sched.noise");
        for sampler in Sampler::ALL {
            let key = sampler_key(sampler);
            let plan = schedule.plan(sampler, 20);
            let want_t = case
                .get(&format!("sched.{key}.timesteps"))
                .to_vec1::<f64>()
                .unwrap();
            assert_eq!(plan.timesteps, want_t, "{name} {key} timesteps");
            if let Some(want_s) = case.expected.get(&format!("sched.{key}.sigmas")) {
                let want_s = want_s.to_vec1::<f64>().unwrap();
                assert_eq!(plan.sigmas.len(), want_s.len());
                for (a, b) in plan.sigmas.iter().zip(&want_s) {
                    assert!(
                        (a - b).abs() <= 1e-4 * b.max(1.0),
                        "{name} {key} σ {a} vs {b}"
                    );
                }
            }
            let mut d = Denoiser::new(&schedule, &plan);
            let mut x = sample.clone();
            let mut k = 0;
            for i in 0..3 {
                let scaled = d.scale_input(&x, i).unwrap();
                close(
                    &format!("{name} {key} scaled input {i}"),
                    &scaled,
                    &case.get(&format!("sched.{key}.scaled{i}")),
                    TOL,
                );
                let mut draw = || {
                    k += 1;
                    noise.i(k - 1)
                };
                x = d.step(&eps.i(i).unwrap(), i, &x, &mut draw).unwrap();
                close(
                    &format!("{name} {key} step {i}"),
                    &x,
                    &case.get(&format!("sched.{key}.step{i}")),
                    TOL,
                );
            }
            // Euler a draws each step; LCM between steps (none of these three is its
            // last of 20).
            let drew = match sampler {
                Sampler::EulerAncestral | Sampler::Lcm => 3,
                _ => 0,
            };
            assert_eq!(k, drew, "{key} draws noise only when ancestral or LCM");
        }
    }
}

#[test]
fn whole_img2img_matches_at_three_strengths() {
    for (name, case) in cases() {
        for sampler in Sampler::ALL {
            let key = sampler_key(sampler);
            for strength in [3, 6, 9] {
                let k = format!("img2img.{key}.s{strength}");
                let job = Img2Img {
                    image: photo(case),
                    prompt: case.meta["prompt"].clone(),
                    negative_prompt: case.meta["negative"].clone(),
                    steps: case.meta["steps"].parse().unwrap(),
                    strength: strength as f64 / 10.0,
                    cfg_scale: case.meta["cfg"].parse().unwrap(),
                    seed: 0,
                    sampler,
                    width: 64,
                    height: 64,
                    loras: Vec::new(),
                    change: None,
                };
                run_recorded(case, &job, &format!("{name} {k}"), &k);
            }
        }
    }
}

/// Runs `job` fed with the noise the reference drew (`{key}.noise`), checks that every
/// draw was used and that the latents and the picture match `{key}.latents` and
/// `{key}.image`; returns how many UNet steps ran.
fn run_recorded(case: &Case, job: &Img2Img, label: &str, key: &str) -> usize {
    run_recorded_in(&case.engine, &case.expected, job, label, key)
}

/// [`run_recorded`] against any file of recorded runs.
fn run_recorded_in(
    engine: &Engine,
    expected: &HashMap<String, Tensor>,
    job: &Img2Img,
    label: &str,
    key: &str,
) -> usize {
    let get = |k: String| {
        expected
            .get(&k)
            .unwrap_or_else(|| panic!("the fixture has no {k}"))
            .clone()
    };
    let noise = get(format!("{key}.noise"));
    let draws = noise.dim(0).unwrap();
    let mut used = 0;
    let mut feed = |shape: &[usize]| {
        let t = noise.i(used)?;
        used += 1;
        assert_eq!(t.dims(), shape);
        Ok(t)
    };
    let mut unet_steps = 0;
    let (latents, images) = engine
        .img2img_with_noise(&[job], &mut feed, &mut |n, _| unet_steps += n)
        .unwrap();
    assert_eq!(used, draws, "{label}: every reference draw used");
    close(
        &format!("{label} latents"),
        &latents,
        &get(format!("{key}.latents")),
        TOL,
    );
    let got = Tensor::from_vec(images[0].as_raw().clone(), (64, 64, 3), &Device::Cpu).unwrap();
    let m = mean_diff(&got, &get(format!("{key}.image")));
    eprintln!("{label} image: mean |diff| {m:.4}/255");
    assert!(m <= 1.0, "{label}: mean |diff| {m}/255");
    unet_steps
}

/// The published checkpoints name the CLIP text encoder's tensors `text_model.…`;
/// transformers 5 writes them without the prefix. Both load to the same embeddings.
#[test]
fn text_encoder_loads_from_the_published_tensor_layout() {
    let src = fixtures().join("sd15");
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&src, copy.path());
    let weights = copy.path().join("text_encoder/model.safetensors");
    let tensors = candle_core::safetensors::load(&weights, &Device::Cpu).unwrap();
    assert!(
        tensors.keys().all(|k| !k.starts_with("text_model.")),
        "transformers 5 writes no prefix"
    );
    let renamed: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(k, v)| (format!("text_model.{k}"), v))
        .collect();
    candle_core::safetensors::save(&renamed, &weights).unwrap();
    let engine = Engine::load(copy.path(), &Device::Cpu, DType::F32, false).unwrap();
    let case = sd15();
    let t = engine.text_conditioning(&[&case.meta["prompt"]]).unwrap();
    close(
        "published layout text",
        &t.context,
        &case.get("text.prompt"),
        TOL,
    );
}

/// A missing tensor is one line naming the file and the tensor, without a backtrace.
#[test]
fn a_missing_tensor_is_one_clear_line() {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("sdxl"), copy.path());
    let weights = copy.path().join("unet/diffusion_pytorch_model.safetensors");
    let mut tensors = candle_core::safetensors::load(&weights, &Device::Cpu).unwrap();
    tensors.remove("add_embedding.linear_1.weight").unwrap();
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    let msg = match Engine::load(copy.path(), &Device::Cpu, DType::F32, false) {
        Ok(_) => panic!("loaded without add_embedding"),
        Err(e) => e.to_string(),
    };
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(msg.contains("diffusion_pytorch_model.safetensors"), "{msg}");
    assert!(msg.contains("add_embedding.linear_1.weight"), "{msg}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

// ---- Few-step models: SD-Turbo's shape and schedule, and the tiny autoencoder ----------
//
// `tests/fixtures/parity/sd-turbo` and `taesd` are written by
// `bench/parity/make_turbo_fixtures.py`: SD-Turbo's architecture (linear projections,
// per-block heads, GELU text encoder, "!" padding) and published scheduler config
// (Euler, trailing timesteps), and an `AutoencoderTiny`.

fn turbo(tiny: bool) -> Case {
    let mut case = load("sd-turbo");
    if tiny {
        case.engine.use_tiny_vae(&fixtures().join("taesd")).unwrap();
    }
    case
}

#[test]
fn the_tiny_autoencoder_encodes_and_decodes_like_diffusers() {
    let full = turbo(false);
    let tiny = turbo(true);
    let img = photo(&tiny);
    let lat = tiny.engine.image_latents(&[&img], 64, 64).unwrap();
    close("TAESD encode", &lat, &tiny.get("taesd.latents"), TOL);
    // TAESD decodes the full VAE's latents: they share one latent space.
    let full_latents = full.engine.image_latents(&[&img], 64, 64).unwrap();
    let dec = tiny.engine.decode_unit(&full_latents).unwrap();
    close("TAESD decode", &dec, &tiny.get("taesd.decoded"), TOL);
}

/// SD-Turbo as it is used: Euler a on trailing timesteps, 1 to 4 steps, guidance 0 (no
/// unconditional pass, so the prompt alone steers), with the full VAE and with TAESD;
/// and one guided run at cfg 2.
#[test]
fn turbo_img2img_matches_diffusers_in_one_to_four_steps() {
    for tiny in [false, true] {
        let case = turbo(tiny);
        let label = if tiny { "turbo_taesd" } else { "turbo" };
        let mut runs = vec![(1, 10, 0.0), (2, 5, 0.0), (4, 5, 0.0), (4, 10, 0.0)];
        if !tiny {
            runs.push((2, 5, 2.0));
        }
        for (steps, tenths, cfg) in runs {
            let mut k = format!("img2img.{label}.n{steps}.s{tenths}");
            if cfg > 1.0 {
                k.push_str(&format!(".cfg{}", cfg as u32));
            }
            let job = Img2Img {
                image: photo(&case),
                prompt: case.meta["prompt"].clone(),
                negative_prompt: if cfg > 1.0 {
                    case.meta["negative"].clone()
                } else {
                    String::new()
                },
                steps,
                strength: tenths as f64 / 10.0,
                cfg_scale: cfg,
                seed: 0,
                sampler: Sampler::EulerAncestral,
                width: 64,
                height: 64,
                loras: Vec::new(),
                change: None,
            };
            let unet_steps = run_recorded(&case, &job, &k, &k);
            assert_eq!(
                unet_steps,
                articket_engine::sampler::denoising_steps(steps, tenths as f64 / 10.0),
                "{k}: the steps diffusers runs"
            );
        }
    }
}

/// A TAESDXL-sized autoencoder on a model whose latents differ is refused with the
/// reason; a folder without one says what it lacks.
#[test]
fn a_tiny_autoencoder_that_does_not_fit_is_refused() {
    let mut case = load("sd-turbo");
    let empty = tempfile::tempdir().unwrap();
    let e = case
        .engine
        .use_tiny_vae(empty.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no tiny autoencoder here"), "{e}");
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("taesd"), copy.path());
    let config = copy.path().join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["latent_channels"] = serde_json::json!(16);
    std::fs::write(&config, v.to_string()).unwrap();
    let e = case
        .engine
        .use_tiny_vae(copy.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("do not fit this model"), "{e}");
}

// `tests/fixtures/parity/lora` is written by `bench/parity/make_lora_fixtures.py`:
// one PEFT adapter on the tiny SD 1.5 model's UNet (attention, feed-forward,
// projections, 3×3 convolutions, time embeddings; rank 4, alpha 8) and text encoder,
// saved by diffusers' `save_lora_weights`, and the same through diffusers'
// `convert_state_dict_to_kohya` with alpha 2 on the UNet; what diffusers paints after
// `load_lora_weights` + `fuse_lora(lora_scale=0.8)`.

fn lora_case() -> Case {
    let engine = Engine::load(&fixtures().join("sd15"), &Device::Cpu, DType::F32, false).unwrap();
    let path = fixtures().join("lora/expected.safetensors");
    Case {
        engine,
        expected: candle_core::safetensors::load(&path, &Device::Cpu).unwrap(),
        meta: articket_engine::fixture_metadata(&path).unwrap(),
    }
}

fn lora_file(name: &str, weight: f64) -> LoraRef {
    LoraRef {
        path: fixtures().join("lora").join(name),
        weight,
    }
}

#[test]
fn loras_in_both_formats_fuse_like_diffusers() {
    let case = lora_case();
    let weight: f64 = case.meta["weight"].parse().unwrap();
    for label in ["peft", "kohya"] {
        let lora = lora_file(&format!("{label}.safetensors"), weight);
        let fused = case.engine.with_loras(std::slice::from_ref(&lora)).unwrap();
        let text = fused.text_conditioning(&[&case.meta["prompt"]]).unwrap();
        close(
            &format!("{label} text"),
            &text.context,
            &case.get(&format!("lora.{label}.text")),
            TOL,
        );
        let key = format!("img2img.lora_{label}");
        let job = Img2Img {
            image: photo(sd15()),
            prompt: case.meta["prompt"].clone(),
            negative_prompt: case.meta["negative"].clone(),
            steps: case.meta["steps"].parse().unwrap(),
            strength: case.meta["strength"].parse().unwrap(),
            cfg_scale: case.meta["cfg"].parse().unwrap(),
            seed: 0,
            sampler: Sampler::EulerAncestral,
            width: 64,
            height: 64,
            loras: vec![lora],
            change: None,
        };
        run_recorded(&case, &job, &key, &key);
    }
    // The base model is untouched by the fusions.
    let plain = case
        .engine
        .text_conditioning(&[&case.meta["prompt"]])
        .unwrap();
    let base = sd15()
        .engine
        .text_conditioning(&[&case.meta["prompt"]])
        .unwrap();
    close("base text after fusing", &plain.context, &base.context, 0.0);
}

// `lora/lcm-lora.safetensors` and `lora/lcm-expected.safetensors` are written by
// `bench/parity/make_lcm_lora_fixtures.py`: a kohya-format LoRA on the layers LCM-LoRA
// trains (the resnets' 1×1 shortcuts and the down- and upsamplers' convolutions among
// them), and what diffusers paints with it fused into the SD 1.5 fixture, sampled by
// LCMScheduler from the model's own scheduler config at guidance 1.

/// LCM-LoRA as people use it on SD 1.5: fused at weight 1, LCM sampling, a few steps,
/// no guidance (one UNet pass a step).
#[test]
fn lcm_lora_on_sd15_paints_like_diffusers_in_few_steps_without_guidance() {
    let path = fixtures().join("lora/lcm-expected.safetensors");
    let expected = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let meta = articket_engine::fixture_metadata(&path).unwrap();
    let lora = lora_file("lcm-lora.safetensors", 1.0);
    for (steps, tenths) in [(4usize, 5usize), (2, 6)] {
        let key = format!("img2img.lcm_lora.n{steps}.s{tenths}");
        let strength = tenths as f64 / 10.0;
        let job = Img2Img {
            image: photo(sd15()),
            prompt: meta["prompt"].clone(),
            negative_prompt: String::new(),
            steps,
            strength,
            cfg_scale: 1.0,
            seed: 0,
            sampler: Sampler::Lcm,
            width: 64,
            height: 64,
            loras: vec![lora.clone()],
            change: None,
        };
        let unet_steps = run_recorded_in(&sd15().engine, &expected, &job, &key, &key);
        // diffusers' img2img runs int(steps × strength) of the plan's steps.
        assert_eq!(unet_steps, steps * tenths / 10, "{key}: one pass a step");
    }
}

/// Writes `kohya.safetensors` again with its keys renamed by `rename` (`None` drops
/// the tensor).
fn kohya_variant(dir: &Path, rename: impl Fn(&str) -> Option<String>) -> PathBuf {
    let src = fixtures().join("lora/kohya.safetensors");
    let tensors = candle_core::safetensors::load(&src, &Device::Cpu).unwrap();
    let renamed: HashMap<String, Tensor> = tensors
        .into_iter()
        .filter_map(|(k, t)| Some((rename(&k)?, t)))
        .collect();
    let path = dir.join("variant.safetensors");
    candle_core::safetensors::save(&renamed, &path).unwrap();
    path
}

#[test]
fn a_lora_for_another_model_stops_the_load_naming_the_file_and_the_first_unmatched_layer() {
    let case = lora_case();
    let dir = tempfile::tempdir().unwrap();
    // SDXL's kohya files name the UNet the original way (`input_blocks_…`): none of
    // it matches a diffusers UNet; its text encoder layers would.
    let ldm = |k: &str| {
        Some(
            k.replace("lora_unet_down_blocks_", "lora_unet_input_blocks_")
                .replace("lora_unet_up_blocks_", "lora_unet_output_blocks_")
                .replace("lora_unet_mid_block_", "lora_unet_middle_block_"),
        )
    };
    let path = kohya_variant(dir.path(), |k| {
        k.starts_with("lora_unet_").then(|| ldm(k)).flatten()
    });
    let err = case
        .engine
        .with_loras(&[LoraRef {
            path: path.clone(),
            weight: 1.0,
        }])
        .err()
        .expect("nothing matches")
        .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("match nothing"), "{err}");
    assert!(
        err.contains("`lora_unet_input_blocks_0_"),
        "names the first layer: {err}"
    );

    // Half of the layers (more, here) unmatched: refused too.
    let path = kohya_variant(dir.path(), ldm);
    let err = case
        .engine
        .with_loras(&[LoraRef { path, weight: 1.0 }])
        .err()
        .expect("half unmatched")
        .to_string();
    assert!(err.contains("layers match nothing"), "{err}");

    // A DoRA file: named, not half-applied.
    let path = kohya_variant(dir.path(), |k| Some(k.replace(".alpha", ".dora_scale")));
    let err = case
        .engine
        .with_loras(&[LoraRef { path, weight: 1.0 }])
        .err()
        .expect("DoRA")
        .to_string();
    assert!(err.contains("DoRA files are not supported"), "{err}");

    // And the engine still paints without it.
    assert!(case.engine.text_conditioning(&["a"]).is_ok());
}

/// With a tiny autoencoder, each step but the last sends a preview: the latents so
/// far, decoded small; they change step by step and end near the painting. Without
/// one, no previews (a full VAE decode per step would cost seconds on a CPU).
#[test]
fn previews_come_each_step_from_the_tiny_autoencoder() {
    let tiny = turbo(true);
    let job = Img2Img {
        image: photo(&tiny),
        prompt: tiny.meta["prompt"].clone(),
        negative_prompt: String::new(),
        steps: 4,
        strength: 1.0,
        cfg_scale: 0.0,
        seed: 3,
        sampler: Sampler::EulerAncestral,
        width: 64,
        height: 64,
        loras: Vec::new(),
        change: None,
    };
    let mut previews: Vec<(usize, image::RgbImage)> = Vec::new();
    let mut sink = |i: usize, p: image::RgbImage| previews.push((i, p));
    let painted = tiny
        .engine
        .img2img_previewed(std::slice::from_ref(&job), &mut |_, _| {}, Some(&mut sink))
        .unwrap();
    assert_eq!(previews.len(), 3, "one per step but the last");
    assert!(previews
        .iter()
        .all(|(i, p)| *i == 0 && p.dimensions() == (64, 64)));
    assert!(
        previews.windows(2).all(|w| w[0].1 != w[1].1),
        "each step differs"
    );
    // The last preview is closer to the painting than the first.
    let dist = |a: &image::RgbImage| -> u64 {
        a.as_raw()
            .iter()
            .zip(painted[0].as_raw())
            .map(|(&x, &y)| (x as i64 - y as i64).unsigned_abs())
            .sum()
    };
    assert!(dist(&previews[2].1) < dist(&previews[0].1));
    // The same painting as without previews.
    let plain = tiny
        .engine
        .img2img(std::slice::from_ref(&job), &mut |_, _| {})
        .unwrap();
    assert_eq!(plain[0], painted[0]);

    let full = turbo(false);
    let mut none = 0;
    let mut count = |_: usize, _: image::RgbImage| none += 1;
    full.engine
        .img2img_previewed(&[job], &mut |_, _| {}, Some(&mut count))
        .unwrap();
    assert_eq!(none, 0);
}

// `tests/fixtures/parity/lcm` is written by `bench/parity/make_lcm_fixtures.py`: LCM
// Dreamshaper v7's shape (SD 1.5's UNet with the guidance embedding,
// `time_cond_proj_dim`) and published LCMScheduler config, and what diffusers'
// `LatentConsistencyModelImg2ImgPipeline` paints with it.

/// LCM-distilled img2img as diffusers runs it: the strength limits the distillation
/// grid and every step runs inside it; guidance goes in through the embedding (w = cfg
/// − 1), with no unconditional pass; cfg 1 still adds the embedding of w = 0.
#[test]
fn lcm_distilled_img2img_matches_diffusers_with_its_guidance_embedding() {
    let case = load("lcm");
    assert!(case.engine.is_lcm_distilled());
    let emb = articket_engine::pipeline::guidance_embedding(&[7.0], 32, &Device::Cpu).unwrap();
    close(
        "guidance embedding",
        &emb,
        &case.get("lcm.guidance_embedding.w7"),
        1e-5,
    );
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("lcm/scheduler/scheduler_config.json")).unwrap(),
    )
    .unwrap();
    let schedule = NoiseSchedule::from_config(&config).unwrap();
    for (steps, tenths, g) in [(4, 5, 80), (2, 10, 80), (4, 3, 10), (1, 6, 85)] {
        let key = format!("img2img.lcm.n{steps}.s{tenths}.g{g}");
        let strength = tenths as f64 / 10.0;
        let plan = schedule.lcm_img2img_plan(steps, strength);
        let want: Vec<f64> = case
            .get(&format!("{key}.timesteps"))
            .to_vec1::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect();
        assert_eq!(plan.timesteps, want, "{key}: diffusers' timesteps");
        let job = Img2Img {
            image: photo(&case),
            prompt: case.meta["prompt"].clone(),
            negative_prompt: String::new(),
            steps,
            strength,
            cfg_scale: g as f64 / 10.0,
            seed: 0,
            sampler: Sampler::Lcm,
            width: 64,
            height: 64,
            loras: Vec::new(),
            change: None,
        };
        let unet_steps = run_recorded(&case, &job, &key, &key);
        assert_eq!(unet_steps, steps, "{key}: every step runs, one pass each");
        assert_eq!(case.engine.steps_run(&job), steps);
    }
}

// `tests/fixtures/parity/sdxl-turbo` is written by
// `bench/parity/make_sdxl_turbo_fixtures.py`: SDXL-Turbo's published scheduler config
// (Euler a, trailing timesteps) for the tiny SDXL model of `sdxl/`, and what diffusers'
// SDXL img2img pipeline paints with it at guidance 0.

/// The tiny SDXL model with SDXL-Turbo's scheduler config (a copy of `sdxl/`, so the
/// weights are not committed twice), and the recorded runs in `expected` (a fixture
/// file under the parity folder).
fn sdxl_turbo(expected: &str) -> Case {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("sdxl"), copy.path());
    std::fs::copy(
        fixtures().join("sdxl-turbo/scheduler/scheduler_config.json"),
        copy.path().join("scheduler/scheduler_config.json"),
    )
    .unwrap();
    let path = fixtures().join(expected);
    Case {
        engine: Engine::load(copy.path(), &Device::Cpu, DType::F32, false).unwrap(),
        expected: candle_core::safetensors::load(&path, &Device::Cpu).unwrap(),
        meta: articket_engine::fixture_metadata(&path).unwrap(),
    }
}

/// SDXL-Turbo as it is used: Euler a on trailing timesteps, 1 to 4 steps, no guidance
/// (no unconditional pass: the test counts the UNet steps), both text encoders, the
/// pooled embedding and the time ids.
#[test]
fn sdxl_turbo_img2img_matches_diffusers_in_one_to_four_steps() {
    let case = sdxl_turbo("sdxl-turbo/expected.safetensors");
    assert!(
        case.engine.is_few_step(),
        "trailing timesteps: a few-step model"
    );
    for (steps, tenths) in [(1, 10), (2, 5), (4, 5), (4, 10)] {
        let key = format!("img2img.sdxl_turbo.n{steps}.s{tenths}");
        sdxl_turbo_paints_like_diffusers(&case, photo(&case), &key, steps, tenths);
    }
}

/// SDXL-Turbo img2img of `image` at (steps, strength tenths), guidance off, against
/// diffusers' recording `key`, with the UNet run once per step diffusers runs.
fn sdxl_turbo_paints_like_diffusers(
    case: &Case,
    image: image::RgbImage,
    key: &str,
    steps: usize,
    tenths: u32,
) {
    let job = Img2Img {
        image,
        prompt: case.meta["prompt"].clone(),
        negative_prompt: String::new(),
        steps,
        strength: f64::from(tenths) / 10.0,
        cfg_scale: 0.0,
        seed: 0,
        sampler: Sampler::EulerAncestral,
        width: 64,
        height: 64,
        loras: Vec::new(),
        change: None,
    };
    let unet_steps = run_recorded(case, &job, key, key);
    assert_eq!(
        unet_steps,
        articket_engine::sampler::denoising_steps(steps, f64::from(tenths) / 10.0),
        "{key}: the steps diffusers runs, one pass each"
    );
}

// `tests/fixtures/parity/taesdxl` is written by `bench/parity/make_taesdxl_fixtures.py`:
// an `AutoencoderTiny` laid out as `madebyollin/taesdxl` publishes it, and what
// diffusers does with it on the tiny SDXL model: encode, decode the full VAE's latents,
// and SDXL-Turbo img2img with it as the pipeline's VAE.

/// TAESDXL: the tiny autoencoder for SDXL encodes and decodes like diffusers, shares
/// the SDXL VAE's latent space, and SDXL-Turbo paints through it like diffusers.
#[test]
fn taesdxl_encodes_decodes_and_paints_sdxl_turbo_like_diffusers() {
    let full = sdxl_turbo("taesdxl/expected.safetensors");
    let mut case = sdxl_turbo("taesdxl/expected.safetensors");
    case.engine
        .use_tiny_vae(&fixtures().join("taesdxl"))
        .unwrap();
    let img = photo(sdxl());
    let lat = case.engine.image_latents(&[&img], 64, 64).unwrap();
    close("TAESDXL encode", &lat, &case.get("taesdxl.latents"), TOL);
    let full_latents = full.engine.image_latents(&[&img], 64, 64).unwrap();
    let dec = case.engine.decode_unit(&full_latents).unwrap();
    close("TAESDXL decode", &dec, &case.get("taesdxl.decoded"), TOL);
    for (steps, tenths) in [(2, 5), (1, 10)] {
        let key = format!("img2img.sdxl_turbo_taesdxl.n{steps}.s{tenths}");
        sdxl_turbo_paints_like_diffusers(&case, img.clone(), &key, steps, tenths);
    }
}

/// Differential diffusion: `bench/parity/make_masked_fixtures.py` ran diffusers'
/// img2img with each latent pixel set back to the noised photo at the start of every
/// step i > 0 where its keep value (1 − change) exceeds i / N, on the SD 1.5 model with
/// each sampler and on SD-Turbo in 2 and 4 steps (`masked.safetensors`). The engine,
/// given the same change map, matches it; the cell the map keeps stays nearest the
/// photo.
#[test]
fn masked_img2img_follows_the_change_map_like_diffusers() {
    let turbo_case = turbo(false);
    // (fixture key, sampler, steps, strength, cfg) per model.
    type Run = (String, Sampler, usize, f64, f64);
    let runs: Vec<(&Case, &str, Vec<Run>)> = vec![
        (
            sd15(),
            "sd15",
            Sampler::ALL
                .iter()
                .map(|&s| (format!("masked.{}.s6", sampler_key(s)), s, 10, 0.6, 7.5))
                .collect(),
        ),
        (
            &turbo_case,
            "sd-turbo",
            [(2, 10), (4, 10), (4, 5)]
                .iter()
                .map(|&(n, t)| {
                    let key = format!("masked.turbo.n{n}.s{t}");
                    (key, Sampler::EulerAncestral, n, t as f64 / 10.0, 0.0)
                })
                .collect(),
        ),
    ];
    for (case, name, jobs) in runs {
        let path = fixtures().join(name).join("masked.safetensors");
        let expected = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
        let change = expected["change"]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let map = articket_engine::ChangeMap::new(8, 8, change.clone()).unwrap();
        for (key, sampler, steps, strength, cfg) in jobs {
            let job = Img2Img {
                image: photo(case),
                prompt: case.meta["prompt"].clone(),
                negative_prompt: if cfg > 1.0 {
                    case.meta["negative"].clone()
                } else {
                    String::new()
                },
                steps,
                strength,
                cfg_scale: cfg,
                seed: 0,
                sampler,
                width: 64,
                height: 64,
                loras: Vec::new(),
                change: Some(map.clone()),
            };
            let label = format!("{name} {key}");
            run_recorded_in(&case.engine, &expected, &job, &label, &key);
            // The map did something: the painting is not the unmasked one, and the
            // kept cell (change 0) is nearer the photo's latents than the background.
            let plain = Img2Img {
                change: None,
                ..job.clone()
            };
            let noise = expected[&format!("{key}.noise")].clone();
            let mut used = 0;
            let mut feed = |shape: &[usize]| {
                used += 1;
                noise.i(used - 1)?.reshape(shape)
            };
            let (unmasked, _) = case
                .engine
                .img2img_with_noise(&[&plain], &mut feed, &mut |_, _| {})
                .unwrap();
            let masked = &expected[&format!("{key}.latents")];
            let clean = case.engine.image_latents(&[&job.image], 64, 64).unwrap();
            let off = |t: &Tensor, y: usize, x: usize| {
                let a = t.i((0, .., y, x)).unwrap();
                let b = clean.i((0, .., y, x)).unwrap();
                max_diff(&a, &b)
            };
            assert!(
                max_diff(masked, &unmasked) > 1e-2,
                "{label}: the map changes the painting"
            );
            assert!(
                off(masked, 4, 3) < off(&unmasked, 4, 3),
                "{label}: the kept cell is nearer the photo with the map ({} against {})",
                off(masked, 4, 3),
                off(&unmasked, 4, 3)
            );
        }
    }
}

/// A map that gives every pixel the whole strength paints exactly what no map does.
#[test]
fn a_change_map_of_ones_paints_the_unmasked_picture() {
    let case = sd15();
    let job = Img2Img {
        image: photo(case),
        prompt: case.meta["prompt"].clone(),
        negative_prompt: case.meta["negative"].clone(),
        steps: 10,
        strength: 0.6,
        cfg_scale: 7.5,
        seed: 5,
        sampler: Sampler::EulerAncestral,
        width: 64,
        height: 64,
        loras: Vec::new(),
        change: Some(articket_engine::ChangeMap::new(3, 3, vec![1.0; 9]).unwrap()),
    };
    let plain = Img2Img {
        change: None,
        ..job.clone()
    };
    let a = case.engine.img2img(&[job], &mut |_, _| {}).unwrap();
    let b = case.engine.img2img(&[plain], &mut |_, _| {}).unwrap();
    assert_eq!(a[0], b[0]);
}
