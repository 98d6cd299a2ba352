//! `backend = "local"`: the booth paints in-process on its own GPU (or CPU), with the
//! same per-painter generation settings as the server pool.

use std::sync::Arc;
use std::time::Duration;

use articket_pool::caption::Captions;
use articket_pool::photo::output_size;
use articket_pool::seed::seed_of;
use articket_pool::AiSettings;
use articket_style::{BoxFuture, PaintJob, Painter, Progress, StyleError, Stylizer, Update};
use image::RgbImage;

use crate::worker::{CaptionModel, Captioner};
use crate::{ChangeMap, EngineError, EngineService, Img2Img, LoraRef, Sampler};

pub struct LocalBackend {
    service: EngineService,
    settings: AiSettings,
    /// The captioners, and which one `[ai] captioner` picks ("clip", "blip").
    captioner: Option<Arc<dyn Captioner>>,
    /// Recent visits' captions, so a visit's painters share one.
    captions: Captions,
    /// Each painter's LoRAs (`[[ai.local.<painter>.lora]]`), in `Painter::ALL` order.
    loras: [Vec<LoraRef>; 4],
}

impl LocalBackend {
    /// Logs, once at start-up, each painter whose sampler this engine lacks (it then
    /// paints with DDIM).
    pub fn new(
        service: EngineService,
        mut settings: AiSettings,
        captioner: Option<Arc<dyn Captioner>>,
    ) -> LocalBackend {
        if service.lcm_distilled {
            few_step_defaults(&mut settings, FewStep::LcmDistilled);
        } else if service.few_step {
            few_step_defaults(&mut settings, FewStep::Turbo);
        }
        for p in Painter::ALL {
            let name = &settings.generation(p).sampler;
            if Sampler::from_a1111(name).is_none() {
                tracing::warn!(painter = %p, sampler = %name, "the local engine has no such sampler; using DDIM");
            }
        }
        LocalBackend {
            service,
            settings,
            captioner,
            captions: Captions::default(),
            loras: Default::default(),
        }
    }

    /// Paints `painter` with these LoRAs fused into the model.
    pub fn set_loras(&mut self, painter: Painter, loras: Vec<LoraRef>) {
        self.loras[painter_index(painter)] = loras;
    }

    /// The visit's caption from the captioner `[ai] captioner` names, made once; the
    /// neutral phrase without one or when captioning fails.
    async fn caption(&self, job: &PaintJob) -> String {
        let neutral = self.settings.neutral_caption.clone();
        let Some(model) = CaptionModel::configured(self.settings.captioner) else {
            return neutral;
        };
        let Some(captioner) = self.captioner.clone() else {
            return neutral;
        };
        self.captions
            .caption(&job.visit_id, &neutral, || async move {
                let photo = job.photo.clone();
                match tokio::task::spawn_blocking(move || captioner.caption(&photo, model)).await {
                    Ok(Some(caption)) => caption.map_err(|e| e.to_string()),
                    Ok(None) => Err(format!("no {model} captioner is loaded")),
                    Err(e) => Err(format!("captioning crashed: {e}")),
                }
            })
            .await
    }

    /// Paints one picture at start-up, so the first visitor does not wait for the
    /// device to warm up, and says what a visit will cost on this machine.
    pub async fn warm_up(&self) {
        let photo = Arc::new(articket_style::samples::portrait(
            384,
            512,
            articket_style::samples::LOOKS[0],
        ));
        let job = PaintJob {
            painter: Painter::Picasso,
            visit_id: "warm-up".into(),
            photo,
            photo_jpeg: Arc::from(Vec::new()),
            seed: 1,
            matte: None,
            faces: None,
        };
        let img2img = self.job(&job, &self.settings.neutral_caption);
        let steps = img2img.denoising_steps();
        let started = std::time::Instant::now();
        match self.service.paint(img2img).await {
            Ok(_) => {
                let secs = started.elapsed().as_secs_f64();
                tracing::info!(
                    "warm-up painting: {secs:.1} s ({steps} denoising steps); a visitor's four paintings take about {:.0} s on this machine",
                    secs * 4.0
                );
            }
            Err(e) => tracing::warn!("the warm-up painting failed: {e}"),
        }
    }

    /// The engine job for one painter, from the `[ai.<painter>]` settings.
    pub fn job(&self, job: &PaintJob, caption: &str) -> Img2Img {
        let g = self.settings.generation(job.painter);
        let m = self.service.size_multiple.max(8);
        let (w, h) = match (g.width, g.height) {
            (Some(w), Some(h)) => (w, h),
            _ => output_size(job.photo.dimensions(), g.long_side),
        };
        let round = |v: u32| ((v as usize / m).max(1)) * m;
        let seed = seed_of(g.seed, job.seed, job.painter);
        // With a matte: the background at its strength, the person at theirs.
        let masked = articket_pool::mask::masked(job, g);
        let strength = masked.as_ref().map_or(g.denoising_strength, |m| m.strength);
        let change = masked.map(|m| ChangeMap::from_gray(&m.change));
        Img2Img {
            image: (*job.photo).clone(),
            prompt: g.prompt.replace("{caption}", caption),
            negative_prompt: g.negative_prompt.clone(),
            steps: g.steps as usize,
            strength: strength as f64,
            cfg_scale: g.cfg_scale as f64,
            seed,
            sampler: Sampler::from_a1111(&g.sampler).unwrap_or(Sampler::Ddim),
            width: round(w),
            height: round(h),
            loras: self.loras[painter_index(job.painter)].clone(),
            change,
        }
    }
}

fn painter_index(p: Painter) -> usize {
    Painter::ALL
        .iter()
        .position(|&q| q == p)
        .expect("every painter is in ALL")
}

/// Which kind of few-step model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FewStep {
    /// SD-Turbo, SDXL-Turbo: trailing timesteps, no guidance.
    Turbo,
    /// LCM Dreamshaper: LCM, guided through its embedding.
    LcmDistilled,
}

/// A few-step model gets few-step settings where the operator kept the defaults made
/// for SD 1.5 (30 steps of DPM++ 2M at cfg 7 and 768 px would take 15 guided steps at
/// a size the model was not trained for), at 512 px, the training size of both kinds:
/// - Turbo: 4 steps of Euler a, so each painter's own strength runs ⌊4 × strength⌋ of
///   them (2 for 0.5 to 0.74, 3 from 0.75); cfg 1, which runs no unconditional pass. As
///   in diffusers' and Stability AI's SD-Turbo examples (img2img: 2 steps at strength
///   0.5, guidance 0).
/// - LCM-distilled: 4 steps of LCM (all 4 run, inside each painter's strength) at cfg
///   8, the guidance its model card and diffusers' example use; the embedding carries
///   it, so no step runs twice.
pub fn few_step_defaults(settings: &mut AiSettings, kind: FewStep) {
    let (sampler, cfg) = match kind {
        FewStep::Turbo => ("Euler a", 1.0),
        FewStep::LcmDistilled => ("LCM", 8.0),
    };
    let stock = articket_pool::GenerationSettings::default();
    let mut changed = Vec::new();
    for p in Painter::ALL {
        let g = settings.generation_mut(p);
        if g.steps == stock.steps && g.cfg_scale == stock.cfg_scale && g.sampler == stock.sampler {
            g.steps = 4;
            g.cfg_scale = cfg;
            g.sampler = sampler.into();
            if g.long_side == stock.long_side && g.width.is_none() {
                g.long_side = 512;
            }
            changed.push(p.to_string());
        }
    }
    if !changed.is_empty() {
        tracing::info!(
            painters = %changed.join(", "),
            "a few-step model: painting with 4 steps of {sampler} at cfg {cfg} and 512 px \
             (set steps, cfg_scale and sampler under [ai] to choose otherwise)"
        );
    }
}

impl Stylizer for LocalBackend {
    fn backend(&self) -> &'static str {
        "local"
    }

    fn paint(
        &self,
        job: PaintJob,
        progress: Progress,
    ) -> BoxFuture<'_, Result<RgbImage, StyleError>> {
        Box::pin(async move {
            let caption = self.caption(&job).await;
            let sink = progress.clone();
            let preview: crate::service::PreviewSink =
                Arc::new(move |jpeg| sink(Update::Preview(jpeg)));
            let work = self
                .service
                .paint_previewed(self.job(&job, &caption), Some(preview));
            tokio::pin!(work);
            progress(Update::Started);
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            let result = loop {
                tokio::select! {
                    r = &mut work => break r,
                    _ = tick.tick() => {
                        let p = self.service.progress();
                        if p.steps > 0 {
                            progress(Update::Progress(p.fraction().min(0.99)));
                        }
                    }
                }
            };
            match result {
                Ok(img) => {
                    progress(Update::Progress(1.0));
                    Ok(img)
                }
                Err(EngineError::Busy) => {
                    Err(StyleError::Unavailable("the engine's queue is full".into()))
                }
                Err(EngineError::Input(m)) => Err(StyleError::Rejected(m)),
                Err(e) => Err(StyleError::Failed(e.to_string())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_step_model_gets_few_step_settings_only_where_the_operator_kept_the_defaults() {
        let mut s = AiSettings::default();
        s.generation_mut(Painter::Renoir).steps = 8;
        s.generation_mut(Painter::VanGogh).long_side = 640;
        few_step_defaults(&mut s, FewStep::Turbo);
        let p = s.generation(Painter::Picasso);
        assert_eq!(
            (p.steps, p.cfg_scale, p.sampler.as_str(), p.long_side),
            (4, 1.0, "Euler a", 512)
        );
        // Picasso keeps his own strength (0.7): 4 × 0.7 runs 2 steps.
        assert_eq!(
            crate::sampler::denoising_steps(4, p.denoising_strength as f64),
            2
        );
        assert_eq!(
            s.generation(Painter::Renoir).steps,
            8,
            "the operator's choice"
        );
        assert_eq!(s.generation(Painter::Renoir).sampler, "DPM++ 2M");
        let v = s.generation(Painter::VanGogh);
        assert_eq!((v.steps, v.long_side), (4, 640), "their size, our steps");

        let mut lcm = AiSettings::default();
        few_step_defaults(&mut lcm, FewStep::LcmDistilled);
        let p = lcm.generation(Painter::Picasso);
        assert_eq!(
            (p.steps, p.cfg_scale, p.sampler.as_str(), p.long_side),
            (4, 8.0, "LCM", 512)
        );
    }
}
