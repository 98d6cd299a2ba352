//! `articket bench parity`: our engine against the diffusers reference on a device and
//! number type of choice, for the GPU box, where `cargo test` cannot run. It reads a
//! parity fixture (`crates/engine/tests/fixtures/parity/{sd15,sdxl}`: a model written by
//! diffusers and the tensors diffusers computed with it in f32) and compares the text
//! embeddings, the guided UNet prediction, the VAE decode and a whole img2img run.
//!
//! Tolerances, as a fraction of the reference's largest magnitude: 1e-3 in f32 (as the
//! test); 1e-2 in f16, whose 11-bit significand rounds each operation to about 5e-4 and
//! which a few dozen layers accumulate to a few 1e-3; 5e-2 in bf16, whose 8-bit
//! significand rounds to about 4e-3, eight times coarser. Final images: mean |diff|
//! ≤ 1/255 in f32 and 2/255 in half precision.

#[derive(clap::Args)]
pub struct ParityArgs {
    /// A parity fixture directory (model + expected.safetensors).
    pub fixture: std::path::PathBuf,
    /// "cpu", or "cuda" (a `--features cuda` build).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// f32, f16 or bf16 (default: f32 on the CPU, bf16 on a GPU).
    #[arg(long)]
    pub dtype: Option<String>,
}

#[cfg(feature = "engine")]
pub fn run(a: &ParityArgs) -> anyhow::Result<()> {
    use articket_engine::candle_core::{DType, Device, IndexOp, Tensor};
    use articket_engine::pipeline::TextConditioning;
    use articket_engine::{Engine, Img2Img, Sampler};

    let device = articket_engine::device(&a.device)?;
    let dtype = articket_engine::dtype(&device, a.dtype.as_deref())?;
    let engine = Engine::load(&a.fixture, &device, dtype, articket_engine::FLASH_ATTN)?;
    let path = a.fixture.join("expected.safetensors");
    let expected = articket_engine::candle_core::safetensors::load(&path, &Device::Cpu)?;
    let meta = articket_engine::fixture_metadata(&path)?;
    let get = |k: &str| -> anyhow::Result<Tensor> {
        expected
            .get(k)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("{}: no tensor {k}", path.display()))
    };
    let field = |k: &str| -> anyhow::Result<String> {
        meta.get(k)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("{}: no metadata {k}", path.display()))
    };
    let (tol, image_tol) = match dtype {
        DType::F32 => (1e-3, 1.0),
        DType::F16 => (1e-2, 2.0),
        _ => (5e-2, 2.0),
    };
    let on = |t: Tensor| -> anyhow::Result<Tensor> { Ok(t.to_device(&device)?.to_dtype(dtype)?) };
    let mut failed = Vec::new();
    let mut check = |what: &str, got: &Tensor, want: &Tensor| -> anyhow::Result<()> {
        let got = got.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
        let want = want.to_dtype(DType::F32)?;
        let d = articket_engine::max_abs(&(&got - &want)?)? as f64;
        let scale = articket_engine::max_abs(&want)? as f64;
        let rel = d / scale.max(1e-6);
        let ok = if dtype == DType::F32 {
            d <= tol
        } else {
            rel <= tol
        };
        println!(
            "  {what:<28} max |diff| {d:.2e}  ({:.2e} of the reference's max {scale:.3})  {}",
            rel,
            if ok { "ok" } else { "FAIL" }
        );
        if !ok {
            failed.push(what.to_owned());
        }
        Ok(())
    };
    println!("{} on {} in {dtype:?}", a.fixture.display(), a.device);

    let (prompt, negative) = (field("prompt")?, field("negative")?);
    let text = engine.text_conditioning(&[&prompt, &negative])?;
    check(
        "text (prompt)",
        &text.context.i(0..1)?,
        &get("text.prompt")?,
    )?;

    let cfg: f64 = field("cfg")?.parse()?;
    let sdxl = expected.contains_key("text.pooled");
    let cond = TextConditioning {
        context: on(Tensor::cat(
            &[get("text.negative")?, get("text.prompt")?],
            0,
        )?)?,
        pooled: if sdxl {
            Some(on(Tensor::cat(
                &[get("text.pooled_negative")?, get("text.pooled")?],
                0,
            )?)?)
        } else {
            None
        },
        guidance: None,
    };
    let latents = on(get("unet.latents")?)?;
    let pred = engine.predict(&Tensor::cat(&[&latents, &latents], 0)?, 500.0, &cond)?;
    let (u, c) = (pred.i(0..1)?, pred.i(1..2)?);
    let guided = (&u + ((c - &u)? * cfg)?)?;
    check("UNet t=500, guided", &guided, &get("unet.t500.guided")?)?;

    let decoded = engine.decode_unit(&on(get("vae.latent")?)?)?;
    check("VAE decode", &decoded, &get("vae.decoded")?)?;

    let image = get("image")?;
    let (h, w, _) = image.dims3()?;
    let photo =
        image::RgbImage::from_raw(w as u32, h as u32, image.flatten_all()?.to_vec1::<u8>()?)
            .ok_or_else(|| anyhow::anyhow!("bad image tensor"))?;
    let job = Img2Img {
        image: photo,
        prompt,
        negative_prompt: negative,
        steps: field("steps")?.parse()?,
        strength: 0.6,
        cfg_scale: cfg,
        seed: 0,
        sampler: Sampler::DpmPp2mKarras,
        width: w,
        height: h,
        loras: Vec::new(),
        change: None,
    };
    let noise = get("img2img.dpmpp_2m_karras.s6.noise")?;
    let mut used = 0;
    let mut feed = |_: &[usize]| {
        used += 1;
        noise.i(used - 1)
    };
    let (lat, images) = engine.img2img_with_noise(&[&job], &mut feed, &mut |_, _| {})?;
    check(
        "img2img DPM++ 2M Karras 0.6",
        &lat,
        &get("img2img.dpmpp_2m_karras.s6.latents")?,
    )?;
    let want = get("img2img.dpmpp_2m_karras.s6.image")?.to_dtype(DType::F32)?;
    let got = Tensor::from_vec(images[0].as_raw().clone(), (h, w, 3), &Device::Cpu)?
        .to_dtype(DType::F32)?;
    let mean = (got - want)?.abs()?.mean_all()?.to_scalar::<f32>()? as f64;
    let ok = mean <= image_tol;
    println!(
        "  {:<28} mean |diff| {mean:.3}/255 (tolerance {image_tol}/255)  {}",
        "img2img image",
        if ok { "ok" } else { "FAIL" }
    );
    if !ok {
        failed.push("img2img image".into());
    }
    if failed.is_empty() {
        println!("parity: PASS");
        Ok(())
    } else {
        anyhow::bail!("parity: FAIL ({})", failed.join(", "))
    }
}

#[cfg(not(feature = "engine"))]
pub fn run(_: &ParityArgs) -> anyhow::Result<()> {
    anyhow::bail!("this build has no engine; build with `--features engine` (or `cuda` for a GPU)")
}
