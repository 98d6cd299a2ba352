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
use crate::{EngineError, EngineService, Img2Img, Sampler};

pub struct LocalBackend {
    service: EngineService,
    settings: AiSettings,
    /// The captioners, and which one `[ai] captioner` picks ("clip", "blip").
    captioner: Option<Arc<dyn Captioner>>,
    /// Recent visits' captions, so a visit's painters share one.
    captions: Captions,
}

impl LocalBackend {
    /// Logs, once at start-up, each painter whose sampler this engine lacks (it then
    /// paints with DDIM).
    pub fn new(
        service: EngineService,
        settings: AiSettings,
        captioner: Option<Arc<dyn Captioner>>,
    ) -> LocalBackend {
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
        }
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
        Img2Img {
            image: (*job.photo).clone(),
            prompt: g.prompt.replace("{caption}", caption),
            negative_prompt: g.negative_prompt.clone(),
            steps: g.steps as usize,
            strength: g.denoising_strength as f64,
            cfg_scale: g.cfg_scale as f64,
            seed,
            sampler: Sampler::from_a1111(&g.sampler).unwrap_or(Sampler::Ddim),
            width: round(w),
            height: round(h),
        }
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
            let work = self.service.paint(self.job(&job, &caption));
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
