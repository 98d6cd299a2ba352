//! img2img: photo → VAE latent → noised to the strength's start step → denoised with
//! classifier-free guidance → decoded. Jobs of the same size and schedule go through
//! the UNet together as one batch.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, IndexOp, Tensor, D};
use candle_nn::VarBuilder;
use image::RgbImage;
use rand::SeedableRng;

use crate::clip::{Activation, ClipText};
use crate::layout::{read_json, Family, ModelFiles};
use crate::lora::{LoraRef, Part, Weights};
pub use crate::prep::ChangeMap;
use crate::prep::{crop_to_fill, gaussian_from};
pub use crate::sampler::Sampler;
use crate::sampler::{Denoiser, NoiseSchedule, Prediction, Spacing};
use crate::taesd::TinyVae;
use crate::text::Tokenizer;
use crate::unet::{Conditioning, Unet};
use crate::vae::Vae;
use crate::{config, EngineError};

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
    /// LoRAs fused into the model for this painting (none: the model as it is).
    pub loras: Vec<LoraRef>,
    /// How much of `strength` each pixel gets (differential diffusion), over the same
    /// photo; none: all of it everywhere. The booth paints the person more gently than
    /// the background with it.
    pub change: Option<ChangeMap>,
}

impl Img2Img {
    /// Jobs that can share one UNet batch: same size, schedule and LoRAs, and all
    /// guided or none.
    pub fn batches_with(&self, other: &Img2Img) -> bool {
        self.loras == other.loras
            && (
                self.width,
                self.height,
                self.steps,
                self.sampler,
                self.guided(),
            ) == (
                other.width,
                other.height,
                other.steps,
                other.sampler,
                other.guided(),
            )
            && self.strength == other.strength
    }

    /// Classifier-free guidance runs only above 1, as in diffusers: at 1 it would give
    /// the prompt's prediction anyway, at twice the cost.
    pub fn guided(&self) -> bool {
        self.cfg_scale > 1.0
    }

    /// Denoising steps that actually run: about steps × strength.
    pub fn denoising_steps(&self) -> usize {
        crate::sampler::denoising_steps(self.steps, self.strength)
    }
}

/// A prompt encoder: its tokenizer and CLIP text model, and how that was built (to
/// build it again with LoRAs fused).
pub(crate) struct Prompter {
    pub(crate) tokenizer: Arc<Tokenizer>,
    pub(crate) model: ClipText,
    pub(crate) shape: config::TextShape,
    pub(crate) act: Activation,
}

/// Prompts as the UNet takes them.
pub struct TextConditioning {
    /// (B, tokens, cross_attention_dim).
    pub context: Tensor,
    /// SDXL: the pooled embedding of the last encoder, (B, pooled width).
    pub pooled: Option<Tensor>,
    /// LCM-distilled models: the guidance-scale embedding, (B, time_cond_proj_dim).
    pub guidance: Option<Tensor>,
}

/// A loaded model, resident on its device.
pub struct Engine {
    pub files: ModelFiles,
    pub device: Device,
    pub dtype: DType,
    pub(crate) unet: Unet,
    pub(crate) vae: Arc<Vae>,
    pub(crate) vae_scale: f64,
    /// The tiny autoencoder, when configured: it then encodes and decodes instead of
    /// the full VAE.
    pub(crate) tiny: Option<Arc<TinyVae>>,
    /// Pixels per latent cell: 8 for real models.
    pub(crate) vae_factor: usize,
    pub(crate) prompters: Vec<Prompter>,
    pub(crate) schedule: NoiseSchedule,
    pub(crate) flash_attn: bool,
    /// The UNet's and text encoders' weights as loaded, which LoRAs are fused into;
    /// `None` for models built in memory.
    pub(crate) weights: Option<Arc<HashMap<Part, Weights>>>,
    /// The model with LoRAs fused, most recently used first (see [`Engine::keep_fused`]).
    pub(crate) fused: Mutex<Vec<(Vec<LoraRef>, Arc<Engine>)>>,
    pub(crate) keep_fused: usize,
}

/// Every tensor of a safetensors file, in `dtype` on `device`.
fn read_weights(path: &Path, dtype: DType, device: &Device) -> Result<Weights, EngineError> {
    let st = unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }
        .map_err(load_err(path))?;
    let mut out = HashMap::new();
    for (name, _) in st.tensors() {
        let t = st
            .load(&name, device)
            .and_then(|t| t.to_dtype(dtype))
            .map_err(load_err(path))?;
        out.insert(name, t);
    }
    Ok(out)
}

/// One line for a load error: candle's message without its backtrace, after the file.
fn load_err(path: &Path) -> impl Fn(candle_core::Error) -> EngineError + '_ {
    move |e| {
        let e = match e {
            candle_core::Error::WithBacktrace { inner, .. } => *inner,
            e => e,
        };
        let msg = e.to_string();
        let first = msg.lines().next().unwrap_or_default();
        let first = match first.strip_prefix("cannot find tensor ") {
            Some(name) => format!("missing tensor `{name}`"),
            None => first.to_owned(),
        };
        EngineError::Load(format!("{}: {first}", path.display()))
    }
}

fn activation(config_path: &Path, shape: &config::TextShape) -> Result<Activation, EngineError> {
    Activation::from_config(&shape.activation).ok_or_else(|| {
        EngineError::Load(format!(
            "{}: hidden_act {:?} is not supported (quick_gelu or gelu)",
            config_path.display(),
            shape.activation
        ))
    })
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
        if device.is_cpu() {
            crate::cpu::keep_freed_memory();
        }
        let unet_shape = config::unet(&files.unet_config)?;
        let (vae_cfg, vae_scale) = config::vae(&files.vae_config)?;

        let mut weights = HashMap::new();
        let unet_weights = read_weights(&files.unet_weights, dtype, device)?;
        let vb = VarBuilder::from_tensors(unet_weights.clone(), dtype, device);
        let unet =
            Unet::new(vb, unet_shape, use_flash_attn).map_err(load_err(&files.unet_weights))?;
        weights.insert(Part::Unet, unet_weights);
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&files.vae_weights], dtype, device) }
                .map_err(load_err(&files.vae_weights))?;
        let vae = Vae::new(vb, &vae_cfg).map_err(load_err(&files.vae_weights))?;

        let mut prompters = Vec::new();
        let mut parts = vec![(
            files.text_config.clone(),
            files.text_weights.clone(),
            files.tokenizer.clone(),
        )];
        parts.extend(files.text2.clone());
        for (i, (config_path, weights_path, tok)) in parts.into_iter().enumerate() {
            let shape = config::text(&config_path)?;
            let act = activation(&config_path, &shape)?;
            let tok_dir = tok.parent().unwrap_or(Path::new("."));
            let tokenizer = Tokenizer::load_dir(tok_dir, shape.max_positions)?;
            let text_weights = read_weights(&weights_path, dtype, device)?;
            let vb = VarBuilder::from_tensors(text_weights.clone(), dtype, device);
            let model =
                ClipText::new(vb, &shape, act, tokenizer.eos()).map_err(load_err(&weights_path))?;
            weights.insert(Part::Text(i), text_weights);
            prompters.push(Prompter {
                tokenizer: Arc::new(tokenizer),
                model,
                shape,
                act,
            });
        }
        let schedule = noise_schedule(&files)?;
        if files.family == Family::Sdxl && unet.shape().text_time.is_none() {
            return Err(EngineError::Load(format!(
                "{}: two text encoders but no `addition_embed_type = \"text_time\"`",
                files.unet_config.display()
            )));
        }
        Ok(Engine {
            vae_factor: 1 << (vae_cfg.block_out_channels.len() - 1),
            files,
            device: device.clone(),
            dtype,
            unet,
            vae: Arc::new(vae),
            vae_scale,
            tiny: None,
            prompters,
            schedule,
            flash_attn: use_flash_attn,
            weights: Some(Arc::new(weights)),
            fused: Mutex::new(Vec::new()),
            keep_fused: 4,
        })
    }

    /// How many LoRA combinations stay fused in memory (each holds its own copy of
    /// the weights its LoRAs change): 4 by default, one per painter.
    pub fn keep_fused(&mut self, n: usize) {
        self.keep_fused = n.max(1);
    }

    /// This model with `loras` fused into its UNet and text encoders: only the weights
    /// they change are copied; the rest, the autoencoders and tokenizers are shared.
    /// Kept for reuse (the most recently used [`Engine::keep_fused`] combinations).
    pub fn with_loras(&self, loras: &[LoraRef]) -> Result<Arc<Engine>, EngineError> {
        {
            let mut cache = self.fused.lock().unwrap();
            if let Some(i) = cache.iter().position(|(k, _)| k.as_slice() == loras) {
                let hit = cache.remove(i);
                let engine = hit.1.clone();
                cache.insert(0, hit);
                return Ok(engine);
            }
        }
        let weights = self.weights.as_ref().ok_or_else(|| {
            EngineError::Load("this model was built in memory; LoRAs need its files".into())
        })?;
        let parts: HashMap<Part, &Weights> = weights.iter().map(|(p, w)| (*p, w)).collect();
        let started = std::time::Instant::now();
        let changed = crate::lora::fuse(loras, &parts, self.dtype)?;
        let with = |part: Part| -> Weights {
            let mut w = weights[&part].clone();
            if let Some(c) = changed.get(&part) {
                w.extend(c.iter().map(|(k, t)| (k.clone(), t.clone())));
            }
            w
        };
        let build = || -> candle_core::Result<Engine> {
            let vb = VarBuilder::from_tensors(with(Part::Unet), self.dtype, &self.device);
            let unet = Unet::new(vb, self.unet.shape().clone(), self.flash_attn)?;
            let mut prompters = Vec::new();
            for (i, p) in self.prompters.iter().enumerate() {
                let vb = VarBuilder::from_tensors(with(Part::Text(i)), self.dtype, &self.device);
                prompters.push(Prompter {
                    tokenizer: p.tokenizer.clone(),
                    model: ClipText::new(vb, &p.shape, p.act, p.tokenizer.eos())?,
                    shape: p.shape.clone(),
                    act: p.act,
                });
            }
            Ok(Engine {
                files: self.files.clone(),
                device: self.device.clone(),
                dtype: self.dtype,
                unet,
                vae: self.vae.clone(),
                vae_scale: self.vae_scale,
                tiny: self.tiny.clone(),
                vae_factor: self.vae_factor,
                prompters,
                schedule: self.schedule.clone(),
                flash_attn: self.flash_attn,
                weights: None,
                fused: Mutex::new(Vec::new()),
                keep_fused: 1,
            })
        };
        let engine = Arc::new(build().map_err(|e| EngineError::Load(e.to_string()))?);
        let copied: usize = changed.values().map(|c| c.len()).sum();
        tracing::info!(
            loras = %loras.iter().map(|l| format!("{} × {}", l.path.display(), l.weight)).collect::<Vec<_>>().join(", "),
            "LoRAs fused into {copied} weights in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let mut cache = self.fused.lock().unwrap();
        cache.insert(0, (loras.to_vec(), engine.clone()));
        cache.truncate(self.keep_fused);
        Ok(engine)
    }

    /// Encodes and decodes with the tiny autoencoder in `dir` from now on (TAESD for
    /// SD 1.x/2.x, TAESDXL for SDXL) instead of the full VAE.
    pub fn use_tiny_vae(&mut self, dir: &Path) -> Result<(), EngineError> {
        let channels = self.unet.shape().in_channels;
        self.tiny = Some(Arc::new(TinyVae::load(
            dir,
            self.dtype,
            &self.device,
            channels,
            self.vae_factor,
        )?));
        // Fused models made before share the old autoencoder.
        self.fused.lock().unwrap().clear();
        Ok(())
    }

    /// Whether the model is a few-step one: its scheduler spaces timesteps from the end
    /// ("trailing"), as SD-Turbo's and SDXL-Turbo's published configs do.
    pub fn is_few_step(&self) -> bool {
        self.schedule.spacing == Spacing::Trailing
    }

    /// Whether the model was distilled with a guidance embedding (LCM Dreamshaper:
    /// `time_cond_proj_dim`): it then paints with LCM, guided through that embedding
    /// (one UNet pass per step), and img2img runs every step inside the strength.
    pub fn is_lcm_distilled(&self) -> bool {
        self.unet.shape().time_cond_proj_dim.is_some()
    }

    /// The UNet steps a job runs on this model.
    pub fn steps_run(&self, job: &Img2Img) -> usize {
        if self.is_lcm_distilled() {
            self.schedule
                .lcm_img2img_plan(job.steps, job.strength)
                .len()
        } else {
            job.denoising_steps()
        }
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
        self.img2img_previewed(jobs, progress, None)
    }

    /// [`Engine::img2img`], and with a tiny autoencoder loaded, `preview(job index,
    /// picture)` after each step but the last: the latents so far, decoded by the tiny
    /// autoencoder at half size (a few milliseconds).
    pub fn img2img_previewed(
        &self,
        jobs: &[Img2Img],
        progress: &mut dyn FnMut(usize, usize),
        mut preview: Option<&mut dyn FnMut(usize, RgbImage)>,
    ) -> Result<Vec<RgbImage>, EngineError> {
        for job in jobs {
            self.check(job)?;
        }
        let total: usize = jobs.iter().map(|j| self.steps_run(j)).sum::<usize>().max(1);
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
            if !batch[0].loras.is_empty() {
                // Fused here (and kept) so that a LoRA that does not fit is the
                // request's fault, not the engine's.
                self.with_loras(&batch[0].loras)
                    .map_err(|e| EngineError::Input(e.to_string()))?;
            }
            let steps = self.steps_run(batch[0]);
            let mut step = 0;
            let mut failed_preview = None;
            let images = self
                .run_batch(&batch, &mut |n, latents| {
                    done_steps += n;
                    step += 1;
                    progress(done_steps, total);
                    let Some(sink) = preview.as_deref_mut() else {
                        return;
                    };
                    if step >= steps || self.tiny.is_none() {
                        return;
                    }
                    match self.preview_images(latents) {
                        Ok(pictures) => {
                            for (&i, p) in group.iter().zip(pictures) {
                                sink(i, p);
                            }
                        }
                        Err(e) => failed_preview = Some(e),
                    }
                })
                .map_err(|e| EngineError::Run(e.to_string()))?;
            if let Some(e) = failed_preview {
                tracing::warn!("a preview could not be decoded: {e}");
            }
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
            let latents = self.image_latents(&[image], width, height)?;
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

    /// Prompts to the UNet's conditioning: SD 1.x/2.x take the last hidden state; SDXL
    /// the penultimate states of both encoders side by side, and the second encoder's
    /// pooled embedding.
    pub fn text_conditioning(&self, prompts: &[&str]) -> candle_core::Result<TextConditioning> {
        let sdxl = self.files.family == Family::Sdxl;
        let mut hidden = Vec::new();
        let mut pooled = None;
        for p in &self.prompters {
            let mut rows = Vec::new();
            for prompt in prompts {
                let ids = p
                    .tokenizer
                    .encode(prompt)
                    .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
                rows.push(Tensor::new(ids.as_slice(), &self.device)?);
            }
            let ids = Tensor::stack(&rows, 0)?;
            let out = self.compute(|| p.model.forward(&ids, sdxl))?;
            hidden.push(out.hidden);
            pooled = Some(out.pooled);
        }
        Ok(TextConditioning {
            context: Tensor::cat(&hidden, D::Minus1)?.to_dtype(self.dtype)?,
            pooled: if sdxl { pooled } else { None },
            guidance: None,
        })
    }

    /// Photos (already w×h) to scaled latent means: what img2img starts from.
    pub fn image_latents(
        &self,
        images: &[&RgbImage],
        w: usize,
        h: usize,
    ) -> candle_core::Result<Tensor> {
        let x = self.to_tensor(images, w, h)?;
        self.compute(|| match &self.tiny {
            Some(tiny) => tiny.encode(&x)? * tiny.shape.scaling_factor,
            None => self.vae.mean(&x)? * self.vae_scale,
        })
    }

    /// `f` (a model's forward pass) on the CPU's worker threads where the model runs on
    /// the CPU ([`crate::cpu::on_workers`]); a GPU's calls stay on this thread.
    fn compute<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        if self.device.is_cpu() {
            crate::cpu::on_workers(f)
        } else {
            f()
        }
    }

    /// The UNet's prediction for `latents` (B, …) at timestep `t`, given the
    /// conditioning of B rows; SDXL's time ids are the output size, uncropped.
    pub fn predict(
        &self,
        latents: &Tensor,
        t: f64,
        text: &TextConditioning,
    ) -> candle_core::Result<Tensor> {
        let (b, _, lh, lw) = latents.dims4()?;
        let time_ids;
        let text_time = match (&text.pooled, self.unet.shape().text_time) {
            (Some(pooled), Some(_)) => {
                let (h, w) = ((lh * self.vae_factor) as f32, (lw * self.vae_factor) as f32);
                let row = [h, w, 0.0, 0.0, h, w];
                let ids: Vec<f32> = (0..b).flat_map(|_| row).collect();
                time_ids = Tensor::from_vec(ids, (b, 6), &self.device)?;
                Some((pooled, &time_ids))
            }
            _ => None,
        };
        let conditioning = Conditioning {
            context: &text.context,
            text_time,
            guidance: text.guidance.as_ref(),
        };
        self.compute(|| self.unet.forward(latents, t, &conditioning))
    }

    /// Latents as small pictures through the tiny autoencoder: halved first where the
    /// latents are large enough, so a preview costs a quarter of a decode.
    pub fn preview_images(&self, latents: &Tensor) -> candle_core::Result<Vec<RgbImage>> {
        let (_, _, h, w) = latents.dims4()?;
        let small = if h >= 16 && w >= 16 && h % 2 == 0 && w % 2 == 0 {
            latents.avg_pool2d(2)?
        } else {
            latents.clone()
        };
        self.decode(&small)
    }

    /// Latents back to pixels in [0, 1], (N, 3, H, W), in f32.
    pub fn decode_unit(&self, latents: &Tensor) -> candle_core::Result<Tensor> {
        let images = self.compute(|| match &self.tiny {
            Some(tiny) => tiny.decode(&(latents / tiny.shape.scaling_factor)?),
            None => self.vae.decode(&(latents / self.vae_scale)?),
        })?;
        ((images.to_dtype(DType::F32)? / 2.)? + 0.5)?.clamp(0f32, 1f32)
    }

    /// One batch of img2img with the noise from `noise` (called once for the start and,
    /// for Euler a, once per step, each time for the whole batch); `on_steps` gets the
    /// batch's size and latents after each step. Returns the final latents and the
    /// paintings.
    pub fn img2img_with_noise(
        &self,
        jobs: &[&Img2Img],
        noise: &mut dyn FnMut(&[usize]) -> candle_core::Result<Tensor>,
        on_steps: &mut dyn FnMut(usize, &Tensor),
    ) -> candle_core::Result<(Tensor, Vec<RgbImage>)> {
        if jobs[0].loras.is_empty() {
            return self.denoise(jobs, noise, on_steps);
        }
        let fused = self
            .with_loras(&jobs[0].loras)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        fused.denoise(jobs, noise, on_steps)
    }

    /// [`Engine::img2img_with_noise`] with this model as it is, LoRAs aside.
    fn denoise(
        &self,
        jobs: &[&Img2Img],
        noise: &mut dyn FnMut(&[usize]) -> candle_core::Result<Tensor>,
        on_steps: &mut dyn FnMut(usize, &Tensor),
    ) -> candle_core::Result<(Tensor, Vec<RgbImage>)> {
        let n = jobs.len();
        let (w, h) = (jobs[0].width, jobs[0].height);
        let images: Vec<&RgbImage> = jobs.iter().map(|j| &j.image).collect();
        let clean = self.image_latents(&images, w, h)?;

        let distilled = self.unet.shape().time_cond_proj_dim;
        let (plan, start) = match distilled {
            Some(_) => (
                self.schedule
                    .lcm_img2img_plan(jobs[0].steps, jobs[0].strength),
                0,
            ),
            None => {
                let plan = self.schedule.plan(jobs[0].sampler, jobs[0].steps);
                let start = plan.start_for(jobs[0].strength);
                (plan, start)
            }
        };
        if start == plan.len() {
            // steps × strength < 1: no denoising step would run; the photo comes back
            // through the VAE unchanged in style.
            let images = self.decode(&clean)?;
            return Ok((clean, images));
        }
        // One encoder pass: with guidance, the negatives' rows first, then the
        // prompts', as the guidance below splits the UNet's batch. Without (cfg ≤ 1, as
        // few-step models run), only the prompts: no unconditional pass at all, as in
        // diffusers.
        // An LCM-distilled model takes guidance as an embedding: no unconditional pass.
        let guided = jobs[0].guided() && distilled.is_none();
        let negatives = jobs.iter().map(|j| j.negative_prompt.as_str());
        let prompts = jobs.iter().map(|j| j.prompt.as_str());
        let texts: Vec<&str> = if guided {
            negatives.chain(prompts).collect()
        } else {
            prompts.collect()
        };
        let mut text = self.text_conditioning(&texts)?;
        if let Some(dim) = distilled {
            // As diffusers' LCM pipelines: w = guidance − 1 (Imagen's formulation).
            let w: Vec<f32> = jobs.iter().map(|j| j.cfg_scale as f32 - 1.0).collect();
            text.guidance = Some(guidance_embedding(&w, dim, &self.device)?.to_dtype(self.dtype)?);
        }

        let shape = clean.dims().to_vec();
        let mut draw = || -> candle_core::Result<Tensor> {
            noise(&shape)?
                .to_device(&self.device)?
                .to_dtype(clean.dtype())
        };
        let mut denoiser = Denoiser::new(&self.schedule, &plan);
        let first_noise = draw()?;
        let mut latents = denoiser.add_noise(&clean, &first_noise, start)?;
        let keep = self.keep_map(jobs, &shape)?;
        let cfg: Vec<f32> = jobs.iter().map(|j| j.cfg_scale as f32).collect();
        let cfg = Tensor::from_vec(cfg, (n, 1, 1, 1), &self.device)?.to_dtype(latents.dtype())?;
        let run = (plan.len() - start) as f32;
        for i in start..plan.len() {
            if let (Some(keep), true) = (&keep, i > start) {
                // Differential diffusion: where the photo is kept a while longer, the
                // latents go back to the photo noised to this step, with the noise the
                // run started from.
                let threshold = (i - start) as f32 / run;
                let mask = keep.gt(threshold)?.to_dtype(latents.dtype())?;
                let photo = denoiser.add_noise(&clean, &first_noise, i)?;
                latents = (&latents + (photo - &latents)?.broadcast_mul(&mask)?)?;
            }
            let scaled = denoiser.scale_input(&latents, i)?;
            let prediction = if guided {
                let input = Tensor::cat(&[&scaled, &scaled], 0)?;
                let pred = self.predict(&input, plan.timesteps[i], &text)?;
                let uncond = pred.i(0..n)?;
                let cond = pred.i(n..2 * n)?;
                (&uncond + (cond - &uncond)?.broadcast_mul(&cfg)?)?
            } else {
                self.predict(&scaled, plan.timesteps[i], &text)?
            };
            latents = denoiser.step(&prediction, i, &latents, &mut draw)?;
            on_steps(n, &latents);
        }
        let images = self.decode(&latents)?;
        Ok((latents, images))
    }

    /// With a change map in any job: 1 − change on the latent grid, (N, 1, h, w) in
    /// f32 (jobs without one: 0, all change). None when no job has one.
    fn keep_map(&self, jobs: &[&Img2Img], shape: &[usize]) -> candle_core::Result<Option<Tensor>> {
        if jobs.iter().all(|j| j.change.is_none()) {
            return Ok(None);
        }
        let (lh, lw) = (shape[2], shape[3]);
        let mut keep = Vec::with_capacity(jobs.len() * lh * lw);
        for job in jobs {
            match &job.change {
                Some(map) => keep.extend(
                    map.on_latent_grid(job.width as u32, job.height as u32, lw, lh)
                        .into_iter()
                        .map(|c| 1.0 - c),
                ),
                None => keep.extend(std::iter::repeat_n(0f32, lh * lw)),
            }
        }
        Ok(Some(Tensor::from_vec(
            keep,
            (jobs.len(), 1, lh, lw),
            &self.device,
        )?))
    }

    fn run_batch(
        &self,
        jobs: &[&Img2Img],
        on_steps: &mut dyn FnMut(usize, &Tensor),
    ) -> candle_core::Result<Vec<RgbImage>> {
        // Each job draws from its own seeded stream, on the CPU, so a painting depends
        // on its seed alone: not on the device, nor on the jobs it was batched with.
        let mut streams: Vec<rand::rngs::StdRng> = jobs
            .iter()
            .map(|j| rand::rngs::StdRng::seed_from_u64(j.seed))
            .collect();
        let mut noise = |shape: &[usize]| -> candle_core::Result<Tensor> {
            let per: usize = shape[1..].iter().product();
            let mut all = Vec::with_capacity(per * streams.len());
            for rng in &mut streams {
                all.extend(gaussian_from(rng, per));
            }
            Tensor::from_vec(all, shape, &Device::Cpu)
        };
        Ok(self.img2img_with_noise(jobs, &mut noise, on_steps)?.1)
    }

    fn decode(&self, latents: &Tensor) -> candle_core::Result<Vec<RgbImage>> {
        let images = (self.decode_unit(latents)? * 255.)?
            .round()?
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

/// The guidance-scale embedding of LCM-distilled models (from VDM), computed in f32 as
/// diffusers' `get_guidance_scale_embedding`: sin and cos of 1000·w at geometric
/// frequencies; (B, dim).
pub fn guidance_embedding(w: &[f32], dim: usize, device: &Device) -> candle_core::Result<Tensor> {
    let half = dim / 2;
    let step = 10000f32.ln() / (half as f32 - 1.0).max(1.0);
    let freqs: Vec<f32> = (0..half).map(|i| (i as f32 * -step).exp()).collect();
    let mut data = Vec::with_capacity(w.len() * dim);
    for &w in w {
        let w = w * 1000.0;
        data.extend(freqs.iter().map(|f| (w * f).sin()));
        data.extend(freqs.iter().map(|f| (w * f).cos()));
        if dim % 2 == 1 {
            data.push(0.0);
        }
    }
    Tensor::from_vec(data, (w.len(), dim), device)
}

/// The model's noise schedule from `scheduler/scheduler_config.json` (Stable
/// Diffusion's own when there is none).
fn noise_schedule(files: &ModelFiles) -> Result<NoiseSchedule, EngineError> {
    let path = files.root.join("scheduler").join("scheduler_config.json");
    if !path.is_file() {
        let prediction = if files.v_prediction {
            Prediction::VPrediction
        } else {
            Prediction::Epsilon
        };
        return Ok(NoiseSchedule::stable_diffusion(
            prediction,
            Spacing::Leading,
        ));
    }
    NoiseSchedule::from_config(&read_json(&path)?)
        .map_err(|e| EngineError::Load(format!("{}: {e}", path.display())))
}
