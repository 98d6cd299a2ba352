//! img2img: photo → VAE latent → noised to the strength's start step → denoised with
//! classifier-free guidance → decoded. Jobs of the same size and schedule go through
//! the UNet together as one batch.

use std::path::Path;

use candle_core::{DType, Device, IndexOp, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::stable_diffusion::{
    ddim::DDIMSchedulerConfig,
    euler_ancestral_discrete::EulerAncestralDiscreteSchedulerConfig,
    schedulers::{PredictionType, Scheduler, SchedulerConfig, TimestepSpacing},
    unet_2d::UNet2DConditionModel,
    vae::AutoEncoderKL,
};
use image::RgbImage;
use rand::{Rng, SeedableRng};

use crate::latent::LatentEncoder;
use crate::layout::{read_json, Family, ModelFiles};
use crate::text::{TextEncoder, Tokenizer};
use crate::{config, EngineError};

/// The samplers we run, by their A1111 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampler {
    /// "DDIM", with eta 0: deterministic for a seed on every device.
    Ddim,
    /// "Euler a": adds fresh noise each step from the device's generator, which is
    /// seeded on CUDA but cannot be seeded on the CPU.
    EulerAncestral,
}

impl Sampler {
    pub fn from_a1111(name: &str) -> Option<Sampler> {
        match name.trim() {
            "DDIM" | "ddim" => Some(Sampler::Ddim),
            "Euler a" | "Euler Ancestral" | "euler_a" | "k_euler_a" => {
                Some(Sampler::EulerAncestral)
            }
            _ => None,
        }
    }

    pub fn a1111_name(self) -> &'static str {
        match self {
            Sampler::Ddim => "DDIM",
            Sampler::EulerAncestral => "Euler a",
        }
    }
}

/// Architectures `articket bench sd` can build at full size with random weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Sd15,
    SdxlTurbo,
}

/// One painting to make.
#[derive(Debug, Clone)]
pub struct Img2Img {
    pub image: RgbImage,
    pub prompt: String,
    pub negative_prompt: String,
    pub steps: usize,
    /// 0 keeps the photo, 1 ignores it.
    pub strength: f64,
    pub cfg_scale: f64,
    pub seed: u64,
    pub sampler: Sampler,
    /// Output size; multiples of 8 (of the VAE's scale factor). The photo is centre-
    /// cropped to this aspect ratio and resized, never stretched.
    pub width: usize,
    pub height: usize,
}

impl Img2Img {
    /// Jobs that can share one UNet batch: same size and schedule.
    pub fn batches_with(&self, other: &Img2Img) -> bool {
        (self.width, self.height, self.steps, self.sampler)
            == (other.width, other.height, other.steps, other.sampler)
            && self.strength == other.strength
    }

    /// Denoising steps that actually run: about steps × strength.
    pub fn denoising_steps(&self) -> usize {
        ((self.steps as f64 * self.strength).floor() as usize).min(self.steps)
    }
}

/// A loaded model, resident on its device.
pub struct Engine {
    pub files: ModelFiles,
    pub device: Device,
    pub dtype: DType,
    unet: UNet2DConditionModel,
    vae: AutoEncoderKL,
    encoder: LatentEncoder,
    vae_scale: f64,
    /// Pixels per latent cell: 8 for real models.
    vae_factor: usize,
    latent_channels: usize,
    tokenizer: Tokenizer,
    text: TextEncoder,
    text2: Option<(Tokenizer, TextEncoder)>,
    prediction: PredictionType,
    spacing: TimestepSpacing,
}

fn load_err(path: &Path) -> impl Fn(candle_core::Error) -> EngineError + '_ {
    move |e| EngineError::Load(format!("{}: {e}", path.display()))
}

impl Engine {
    /// Checks the directory, then loads every part onto `device` in `dtype` (f32 on the
    /// CPU; f16 or bf16 on CUDA).
    pub fn load(
        dir: &Path,
        device: &Device,
        dtype: DType,
        use_flash_attn: bool,
    ) -> Result<Engine, EngineError> {
        let files = ModelFiles::locate(dir)?;
        let (unet_cfg, in_channels) = config::unet(&files.unet_config)?;
        let (vae_cfg, vae_scale) = config::vae(&files.vae_config)?;
        let text_shape = config::text(&files.text_config)?;

        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&files.unet_weights], dtype, device) }
                .map_err(load_err(&files.unet_weights))?;
        let unet = UNet2DConditionModel::new(vb, in_channels, 4, use_flash_attn, unet_cfg)
            .map_err(load_err(&files.unet_weights))?;
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&files.vae_weights], dtype, device) }
                .map_err(load_err(&files.vae_weights))?;
        let vae = AutoEncoderKL::new(vb.clone(), 3, 3, vae_cfg.clone())
            .map_err(load_err(&files.vae_weights))?;
        let encoder = LatentEncoder::new(vb, &vae_cfg).map_err(load_err(&files.vae_weights))?;

        let tokenizer = Tokenizer::load(&files.tokenizer, text_shape.max_positions)?;
        let text = TextEncoder::load(&text_shape, &files.text_weights, device, dtype)?;
        let text2 = match &files.text2 {
            Some((config_path, weights, tok)) => {
                let shape = config::text(config_path)?;
                Some((
                    Tokenizer::load(tok, shape.max_positions)?,
                    TextEncoder::load(&shape, weights, device, dtype)?,
                ))
            }
            None => None,
        };
        let (prediction, spacing) = scheduler_settings(&files)?;
        Ok(Engine {
            vae_factor: 1 << (vae_cfg.block_out_channels.len() - 1),
            latent_channels: vae_cfg.latent_channels,
            files,
            device: device.clone(),
            dtype,
            unet,
            vae,
            encoder,
            vae_scale,
            tokenizer,
            text,
            text2,
            prediction,
            spacing,
        })
    }

    /// A full-size model of `arch` with random weights, built in memory on `device`:
    /// for timing (`articket bench sd`), which needs no trained weights.
    pub fn random(
        arch: Arch,
        device: &Device,
        dtype: DType,
        use_flash_attn: bool,
    ) -> Result<Engine, EngineError> {
        use candle_nn::VarMap;
        use candle_transformers::models::stable_diffusion::{
            clip as preset, unet_2d, vae as sdvae,
        };
        let run = || -> candle_core::Result<Engine> {
            let bc = |out_channels, use_cross_attn, attention_head_dim| unet_2d::BlockConfig {
                out_channels,
                use_cross_attn,
                attention_head_dim,
            };
            let (blocks, cross, linear, family, texts) = match arch {
                Arch::Sd15 => (
                    vec![
                        bc(320, Some(1), 8),
                        bc(640, Some(1), 8),
                        bc(1280, Some(1), 8),
                        bc(1280, None, 8),
                    ],
                    768,
                    false,
                    Family::Sd15,
                    vec![preset::Config::v1_5()],
                ),
                Arch::SdxlTurbo => (
                    vec![
                        bc(320, None, 5),
                        bc(640, Some(2), 10),
                        bc(1280, Some(10), 20),
                    ],
                    2048,
                    true,
                    Family::Sdxl,
                    vec![preset::Config::sdxl(), preset::Config::sdxl2()],
                ),
            };
            let unet_cfg = unet_2d::UNet2DConditionModelConfig {
                blocks,
                center_input_sample: false,
                cross_attention_dim: cross,
                downsample_padding: 1,
                flip_sin_to_cos: true,
                freq_shift: 0.,
                layers_per_block: 2,
                mid_block_scale_factor: 1.,
                norm_eps: 1e-5,
                norm_num_groups: 32,
                sliced_attention_size: None,
                use_linear_projection: linear,
            };
            let vae_cfg = sdvae::AutoEncoderKLConfig {
                block_out_channels: vec![128, 256, 512, 512],
                layers_per_block: 2,
                latent_channels: 4,
                norm_num_groups: 32,
                use_quant_conv: true,
                use_post_quant_conv: true,
            };
            let vm = VarMap::new();
            let unet = UNet2DConditionModel::new(
                VarBuilder::from_varmap(&vm, dtype, device),
                4,
                4,
                use_flash_attn,
                unet_cfg,
            )?;
            let vm = VarMap::new();
            let vb = VarBuilder::from_varmap(&vm, dtype, device);
            let vae = AutoEncoderKL::new(vb.clone(), 3, 3, vae_cfg.clone())?;
            let encoder = LatentEncoder::new(vb, &vae_cfg)?;
            let tok = || {
                Tokenizer::from_json(&crate::tiny::tokenizer_json(), 77)
                    .map_err(|e| candle_core::Error::Msg(e.to_string()))
            };
            let mut encoders = Vec::new();
            for c in &texts {
                let vm = VarMap::new();
                encoders.push(TextEncoder::Preset(preset::ClipTextTransformer::new(
                    VarBuilder::from_varmap(&vm, dtype, device),
                    c,
                )?));
            }
            let text2 = if encoders.len() > 1 {
                Some((tok()?, encoders.pop().expect("two")))
            } else {
                None
            };
            let text = encoders.pop().expect("one");
            let name = match arch {
                Arch::Sd15 => "random-sd15",
                Arch::SdxlTurbo => "random-sdxl-turbo",
            };
            let none = std::path::PathBuf::new();
            Ok(Engine {
                vae_factor: 8,
                latent_channels: 4,
                files: ModelFiles {
                    root: name.into(),
                    family,
                    v_prediction: false,
                    unet_config: none.clone(),
                    unet_weights: none.clone(),
                    vae_config: none.clone(),
                    vae_weights: none.clone(),
                    text_config: none.clone(),
                    text_weights: none.clone(),
                    tokenizer: none,
                    text2: None,
                },
                device: device.clone(),
                dtype,
                unet,
                vae,
                encoder,
                vae_scale: if family == Family::Sdxl {
                    0.13025
                } else {
                    0.18215
                },
                tokenizer: tok()?,
                text,
                text2,
                prediction: PredictionType::Epsilon,
                spacing: if arch == Arch::SdxlTurbo {
                    TimestepSpacing::Trailing
                } else {
                    TimestepSpacing::Leading
                },
            })
        };
        run().map_err(|e| EngineError::Load(format!("random {arch:?} model: {e}")))
    }

    /// Pixels per latent cell: output sizes must be multiples of it.
    pub fn size_multiple(&self) -> usize {
        self.vae_factor
    }

    /// Paints every job; jobs that can share a batch run through the UNet together.
    /// `progress(done, total)` counts denoising steps over all batches.
    pub fn img2img(
        &self,
        jobs: &[Img2Img],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<RgbImage>, EngineError> {
        for job in jobs {
            self.check(job)?;
        }
        let total: usize = jobs
            .iter()
            .map(Img2Img::denoising_steps)
            .sum::<usize>()
            .max(1);
        let mut done_steps = 0;
        let mut out: Vec<Option<RgbImage>> = vec![None; jobs.len()];
        let mut left: Vec<usize> = (0..jobs.len()).collect();
        while let Some(&first) = left.first() {
            let group: Vec<usize> = left
                .iter()
                .copied()
                .filter(|&i| jobs[i].batches_with(&jobs[first]))
                .collect();
            left.retain(|i| !group.contains(i));
            let batch: Vec<&Img2Img> = group.iter().map(|&i| &jobs[i]).collect();
            let images = self
                .run_batch(&batch, &mut |n| {
                    done_steps += n;
                    progress(done_steps, total)
                })
                .map_err(|e| EngineError::Run(e.to_string()))?;
            for (i, img) in group.into_iter().zip(images) {
                out[i] = Some(img);
            }
        }
        progress(total, total);
        Ok(out
            .into_iter()
            .map(|i| i.expect("every job painted"))
            .collect())
    }

    /// The photo through the VAE and back, with no denoising: what strength 0 gives.
    pub fn vae_round_trip(
        &self,
        image: &RgbImage,
        width: usize,
        height: usize,
    ) -> Result<RgbImage, EngineError> {
        let run = || -> candle_core::Result<RgbImage> {
            let x = self.to_tensor(&[image], width, height)?;
            let latents = (self.encoder.mean(&x)? * self.vae_scale)?;
            Ok(self.decode(&latents)?.remove(0))
        };
        run().map_err(|e| EngineError::Run(e.to_string()))
    }

    fn check(&self, job: &Img2Img) -> Result<(), EngineError> {
        let m = self.vae_factor;
        if job.width == 0
            || job.height == 0
            || !job.width.is_multiple_of(m)
            || !job.height.is_multiple_of(m)
        {
            return Err(EngineError::Input(format!(
                "width and height must be positive multiples of {m}, not {}x{}",
                job.width, job.height
            )));
        }
        if !(0.0..=1.0).contains(&job.strength) || job.steps == 0 || job.steps > 1000 {
            return Err(EngineError::Input(
                "strength must be 0 to 1 and steps 1 to 1000".into(),
            ));
        }
        if job.image.width() == 0 || job.image.height() == 0 {
            return Err(EngineError::Input("the init image is empty".into()));
        }
        Ok(())
    }

    fn scheduler(&self, sampler: Sampler, steps: usize) -> candle_core::Result<Box<dyn Scheduler>> {
        match sampler {
            Sampler::Ddim => DDIMSchedulerConfig {
                prediction_type: self.prediction,
                timestep_spacing: self.spacing,
                eta: 0.0,
                ..Default::default()
            }
            .build(steps),
            Sampler::EulerAncestral => EulerAncestralDiscreteSchedulerConfig {
                prediction_type: self.prediction,
                timestep_spacing: self.spacing,
                ..Default::default()
            }
            .build(steps),
        }
    }

    fn embed(&self, prompts: &[&str]) -> candle_core::Result<Tensor> {
        let ids = |tok: &Tokenizer| -> candle_core::Result<Tensor> {
            let mut rows = Vec::new();
            for p in prompts {
                let ids = tok
                    .encode(p)
                    .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
                rows.push(Tensor::new(ids.as_slice(), &self.device)?);
            }
            Tensor::stack(&rows, 0)
        };
        let sdxl = self.files.family == Family::Sdxl;
        let first = self.text.forward(&ids(&self.tokenizer)?, sdxl)?;
        match &self.text2 {
            Some((tok, enc)) => {
                let second = enc.forward(&ids(tok)?, true)?;
                Tensor::cat(&[first, second], D::Minus1)?.to_dtype(self.dtype)
            }
            None => first.to_dtype(self.dtype),
        }
    }

    fn run_batch(
        &self,
        jobs: &[&Img2Img],
        on_steps: &mut dyn FnMut(usize),
    ) -> candle_core::Result<Vec<RgbImage>> {
        let n = jobs.len();
        let (w, h) = (jobs[0].width, jobs[0].height);
        let images: Vec<&RgbImage> = jobs.iter().map(|j| &j.image).collect();
        let x = self.to_tensor(&images, w, h)?;
        let clean = (self.encoder.mean(&x)? * self.vae_scale)?;

        let steps = jobs[0].steps;
        let mut scheduler = self.scheduler(jobs[0].sampler, steps)?;
        let run = jobs[0].denoising_steps();
        if run == 0 {
            // steps × strength < 1: no denoising step would run; the photo comes back
            // through the VAE unchanged in style.
            return self.decode(&clean);
        }
        let timesteps = scheduler.timesteps().to_vec();
        let t_start = timesteps.len() - run;

        let negatives: Vec<&str> = jobs.iter().map(|j| j.negative_prompt.as_str()).collect();
        let prompts: Vec<&str> = jobs.iter().map(|j| j.prompt.as_str()).collect();
        let context = Tensor::cat(&[self.embed(&negatives)?, self.embed(&prompts)?], 0)?;

        // Seeded noise per job, drawn on the CPU so every device gets the same numbers.
        let (lh, lw) = (h / self.vae_factor, w / self.vae_factor);
        let per = self.latent_channels * lh * lw;
        let mut noise = Vec::with_capacity(n * per);
        for job in jobs {
            noise.extend(gaussian(job.seed, per));
        }
        let noise = Tensor::from_vec(noise, (n, self.latent_channels, lh, lw), &Device::Cpu)?
            .to_device(&self.device)?
            .to_dtype(clean.dtype())?;
        let mut latents = scheduler.add_noise(&clean, noise, timesteps[t_start])?;

        let cfg: Vec<f32> = jobs.iter().map(|j| j.cfg_scale as f32).collect();
        let cfg = Tensor::from_vec(cfg, (n, 1, 1, 1), &self.device)?.to_dtype(latents.dtype())?;
        for &t in &timesteps[t_start..] {
            let input = Tensor::cat(&[&latents, &latents], 0)?;
            let input = scheduler.scale_model_input(input, t)?;
            let pred = self.unet.forward(&input, t as f64, &context)?;
            let uncond = pred.i(0..n)?;
            let cond = pred.i(n..2 * n)?;
            let guided = (&uncond + (cond - &uncond)?.broadcast_mul(&cfg)?)?;
            latents = scheduler.step(&guided, t, &latents)?;
            on_steps(n);
        }
        self.decode(&latents)
    }

    fn decode(&self, latents: &Tensor) -> candle_core::Result<Vec<RgbImage>> {
        let images = self.vae.decode(&(latents / self.vae_scale)?)?;
        let images = ((images / 2.)? + 0.5)?.clamp(0f32, 1f32)?;
        let images = (images * 255.)?
            .to_dtype(DType::U8)?
            .to_device(&Device::Cpu)?;
        let (n, _, h, w) = images.dims4()?;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let hwc = images
                .i(i)?
                .permute((1, 2, 0))?
                .contiguous()?
                .flatten_all()?
                .to_vec1::<u8>()?;
            out.push(RgbImage::from_raw(w as u32, h as u32, hwc).expect("sized buffer"));
        }
        Ok(out)
    }

    /// Photos centre-cropped to w:h, resized, as (N, 3, h, w) in [-1, 1].
    fn to_tensor(&self, images: &[&RgbImage], w: usize, h: usize) -> candle_core::Result<Tensor> {
        let mut data = Vec::with_capacity(images.len() * 3 * w * h);
        for img in images {
            let fitted = crop_to_fill(img, w as u32, h as u32);
            let raw = fitted.as_raw();
            for c in 0..3 {
                data.extend((0..w * h).map(|p| raw[p * 3 + c] as f32 / 127.5 - 1.0));
            }
        }
        Tensor::from_vec(data, (images.len(), 3, h, w), &Device::Cpu)?
            .to_device(&self.device)?
            .to_dtype(self.dtype)
    }
}

/// Reads the prediction type and timestep spacing from `scheduler/scheduler_config.json`.
fn scheduler_settings(
    files: &ModelFiles,
) -> Result<(PredictionType, TimestepSpacing), EngineError> {
    let path = files.root.join("scheduler").join("scheduler_config.json");
    let prediction = if files.v_prediction {
        PredictionType::VPrediction
    } else {
        PredictionType::Epsilon
    };
    if !path.is_file() {
        return Ok((prediction, TimestepSpacing::Leading));
    }
    let v = read_json(&path)?;
    let spacing = match v.get("timestep_spacing").and_then(|s| s.as_str()) {
        Some("trailing") => TimestepSpacing::Trailing,
        Some("linspace") => TimestepSpacing::Linspace,
        _ => TimestepSpacing::Leading,
    };
    Ok((prediction, spacing))
}

/// The centre of `img` at the aspect ratio of w:h, resized to w×h (Lanczos).
pub fn crop_to_fill(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (iw, ih) = img.dimensions();
    let scale = f64::max(w as f64 / iw as f64, h as f64 / ih as f64);
    let (cw, ch) = (
        ((w as f64 / scale).round() as u32).clamp(1, iw),
        ((h as f64 / scale).round() as u32).clamp(1, ih),
    );
    let (x, y) = ((iw - cw) / 2, (ih - ch) / 2);
    let crop = image::imageops::crop_imm(img, x, y, cw, ch).to_image();
    if (cw, ch) == (w, h) {
        crop
    } else {
        image::imageops::resize(&crop, w, h, image::imageops::FilterType::Lanczos3)
    }
}

/// `count` standard normal numbers from `seed` (Box–Muller over a seeded generator).
pub fn gaussian(seed: u64, count: usize) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(count + 1);
    while out.len() < count {
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        out.push((r * a.cos()) as f32);
        out.push((r * a.sin()) as f32);
    }
    out.truncate(count);
    out
}
