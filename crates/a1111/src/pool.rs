//! The pool: the shared queue ([`crate::dispatch`]) in front of every A1111-style
//! server, health probes, captions, and the [`Stylizer`] that paints through them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use articket_style::{BoxFuture, PaintJob, Painter, Progress, StyleError, Stylizer, Update};
use image::RgbImage;
use tokio::sync::{Notify, OnceCell};

use crate::api::Img2ImgRequest;
use crate::client::{blip_caption, encode_base64, CallError, Server};
use crate::dispatch::{Dispatcher, Slot};
pub use crate::dispatch::{PoolStatus, ServerStatus};
use crate::settings::{A1111Settings, Captioner, SeedPolicy};

/// How many visits' captions are remembered (a visit's painters and retries share one).
const CAPTION_CACHE: usize = 64;

/// The AUTOMATIC1111 backend.
#[derive(Clone)]
pub struct A1111Pool {
    shared: Arc<Shared>,
}

struct Shared {
    settings: A1111Settings,
    servers: Vec<Server>,
    http: reqwest::Client,
    queue: Dispatcher,
    captions: CaptionCache,
    /// Wakes the health task for an immediate probe (after a job's network error).
    probe_now: Notify,
}

/// One visit's caption, made by whichever of its jobs asks first.
type CaptionSlot = (Arc<str>, Arc<OnceCell<String>>);

impl A1111Pool {
    /// Builds the pool, probes every server once, and starts the health task.
    pub async fn start(settings: A1111Settings) -> Result<A1111Pool, String> {
        settings
            .validate()
            .map_err(|(k, m)| format!("ai.{k}: {m}"))?;
        let http = crate::client::http_client()?;
        let servers: Vec<Server> = settings
            .servers
            .iter()
            .map(|s| Server::new(s.clone(), http.clone()))
            .collect();
        let queue = Dispatcher::for_settings(&settings);
        let shared = Arc::new(Shared {
            settings,
            servers,
            http,
            queue,
            captions: CaptionCache::default(),
            probe_now: Notify::new(),
        });
        probe_all(&shared).await;
        tokio::spawn(health_task(Arc::downgrade(&shared)));
        Ok(A1111Pool { shared })
    }

    pub fn status(&self) -> PoolStatus {
        self.shared.queue.status()
    }

    pub fn settings(&self) -> &A1111Settings {
        &self.shared.settings
    }

    /// Waits for a slot on a server for one of `visit`'s jobs.
    async fn acquire(
        &self,
        visit: &Arc<str>,
        progress: &Progress,
    ) -> Result<SlotGuard, StyleError> {
        let slot = self.shared.queue.acquire(visit, progress).await?;
        Ok(SlotGuard {
            shared: self.shared.clone(),
            slot,
        })
    }

    /// The photo's caption, made once per visit; never fails (falls back to neutral).
    async fn caption(&self, job: &PaintJob, progress: &Progress) -> String {
        let settings = &self.shared.settings;
        if settings.captioner == Captioner::None {
            return settings.neutral_caption.clone();
        }
        self.shared.captions.get_or_make(&job.visit_id, || async {
            let timeout = Duration::from_secs(settings.caption_timeout_secs);
            let jpeg = photo_jpeg(job);
            let result = match settings.captioner {
                Captioner::Blip if !settings.blip_url.is_empty() => {
                    blip_caption(&self.shared.http, &settings.blip_url, jpeg, timeout).await
                }
                // Without a BLIP server, ask the painting servers: `articket worker`
                // answers interrogate with model "blip" too.
                Captioner::Blip | Captioner::Clip => {
                    let model = if settings.captioner == Captioner::Blip { "blip" } else { "clip" };
                    match self.acquire(&job.visit_id, progress).await {
                        Ok(slot) => slot.server().interrogate(&encode_base64(&jpeg), model, timeout).await,
                        Err(e) => Err(CallError::Network(e.to_string())),
                    }
                }
                Captioner::None => unreachable!(),
            };
            match result.map(|c| clean_caption(&c)) {
                Ok(c) if !c.is_empty() => {
                    tracing::info!(visit_id = %job.visit_id, caption = %c, "captioned");
                    c
                }
                Ok(_) => settings.neutral_caption.clone(),
                Err(e) => {
                    tracing::warn!(visit_id = %job.visit_id, "captioning failed, using the neutral phrase: {e}");
                    settings.neutral_caption.clone()
                }
            }
        })
        .await
    }

    async fn paint_job(&self, job: PaintJob, progress: Progress) -> Result<RgbImage, StyleError> {
        let caption = self.caption(&job, &progress).await;
        let request = build_request(&self.shared.settings, &job, &caption);
        let slot = self.acquire(&job.visit_id, &progress).await?;
        progress(Update::Started);
        let server = slot.server();
        let timeout = Duration::from_secs(self.shared.settings.request_timeout_secs);
        let call = server.img2img(&request, timeout);
        tokio::pin!(call);
        let mut tick = tokio::time::interval(Duration::from_secs_f64(
            self.shared.settings.progress_interval_secs,
        ));
        tick.tick().await;
        let outcome = loop {
            tokio::select! {
                result = &mut call => break result,
                _ = tick.tick() => {
                    // Progress is per server, not per job: only meaningful while ours
                    // is the only job on it.
                    if slot.alone() {
                        if let Ok(p) = server.progress(Duration::from_secs(2)).await {
                            if p.progress > 0.0 {
                                progress(Update::Progress(p.progress.clamp(0.0, 0.99)));
                            }
                        }
                    }
                }
            }
        };
        match outcome {
            Ok(image) => {
                progress(Update::Progress(1.0));
                Ok(image)
            }
            Err(e) => {
                let what = format!("{} ({}): {e}", server.label, job.painter);
                Err(match e {
                    CallError::Network(_) => {
                        if slot.alone() {
                            // It may still be painting our abandoned job; free it.
                            let s = server.clone();
                            tokio::spawn(async move { s.interrupt().await });
                        }
                        self.shared.probe_now.notify_one();
                        StyleError::Unavailable(what)
                    }
                    CallError::Server { .. } | CallError::Malformed(_) => StyleError::Failed(what),
                    CallError::Rejected { .. } => {
                        tracing::error!(
                            "the server refused the request; check [ai] settings: {what}"
                        );
                        StyleError::Rejected(what)
                    }
                })
            }
        }
    }
}

impl Stylizer for A1111Pool {
    fn backend(&self) -> &'static str {
        "a1111"
    }

    fn available(&self) -> bool {
        self.shared.queue.available()
    }

    fn paint(
        &self,
        job: PaintJob,
        progress: Progress,
    ) -> BoxFuture<'_, Result<RgbImage, StyleError>> {
        Box::pin(self.paint_job(job, progress))
    }
}

/// A claimed slot with the server it names.
struct SlotGuard {
    shared: Arc<Shared>,
    slot: Slot,
}

impl SlotGuard {
    fn server(&self) -> &Server {
        &self.shared.servers[self.slot.index()]
    }

    fn alone(&self) -> bool {
        self.slot.alone()
    }
}

async fn probe_all(shared: &Arc<Shared>) {
    let interval = Duration::from_secs_f64(shared.settings.health_interval_secs);
    let timeout = interval.clamp(Duration::from_millis(500), Duration::from_secs(5));
    let probes = shared.servers.iter().map(|s| s.progress(timeout));
    let results = futures_util::future::join_all(probes).await;
    for (i, r) in results.into_iter().enumerate() {
        shared
            .queue
            .set_health(i, r.map(|_| ()).map_err(|e| e.to_string()));
    }
}

async fn health_task(shared: Weak<Shared>) {
    loop {
        let Some(s) = shared.upgrade() else { return };
        let interval = Duration::from_secs_f64(s.settings.health_interval_secs);
        let wake = async {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = s.probe_now.notified() => {}
            }
        };
        wake.await;
        probe_all(&s).await;
        drop(s);
    }
}

/// The intake JPEG, or the photo encoded now when a caller has none.
pub fn photo_jpeg(job: &PaintJob) -> Vec<u8> {
    if !job.photo_jpeg.is_empty() {
        return job.photo_jpeg.to_vec();
    }
    let mut out = Vec::new();
    let _ =
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&*job.photo);
    out
}

/// A caption fit for a prompt: the subject clause only (CLIP interrogation appends
/// artists and "flavors" after commas, which would fight the painter's style), without
/// the characters A1111 reads as prompt syntax, at most 120 characters.
pub fn clean_caption(raw: &str) -> String {
    let subject = raw.split([',', '\n']).next().unwrap_or("");
    let cleaned: String = subject
        .chars()
        .filter(|c| {
            !matches!(
                c,
                '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | ':' | '|' | '\\'
            )
        })
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.chars().count() > 120 {
        out = out.chars().take(120).collect();
    }
    out
}

/// The output size: the photo's aspect at `long_side`, both sides multiples of 64.
pub fn output_size(photo: (u32, u32), long_side: u32) -> (u32, u32) {
    let (w, h) = (photo.0.max(1) as f64, photo.1.max(1) as f64);
    let round64 = |v: f64| ((v / 64.0).round() as u32).max(1) * 64;
    let long = round64(long_side as f64);
    if w >= h {
        (long, round64(long as f64 * h / w))
    } else {
        (round64(long as f64 * w / h), long)
    }
}

/// One painter's seed for a visit (`seed = "visit"`): the same visit and painter always
/// get the same seed, the four painters different ones, in A1111's positive 31-bit
/// range. Every backend uses this one.
pub fn painter_seed(visit_seed: u64, painter: Painter) -> u64 {
    let index = Painter::ALL.iter().position(|&p| p == painter).unwrap_or(0) as u64;
    let mixed = (visit_seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    mixed >> 33
}

/// Recent visits' captions. The first of a visit's jobs to ask makes the caption; the
/// others (its other painters, retries) wait for that one instead of captioning the same
/// photo again. Every backend uses this one.
#[derive(Default)]
pub struct CaptionCache {
    slots: Mutex<VecDeque<CaptionSlot>>,
}

impl CaptionCache {
    /// The visit's caption, made by `make` if no job of the visit has made it yet.
    pub async fn get_or_make<F>(&self, visit_id: &Arc<str>, make: impl FnOnce() -> F) -> String
    where
        F: std::future::Future<Output = String>,
    {
        let cell = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            match slots.iter().find(|(v, _)| v == visit_id) {
                Some((_, cell)) => cell.clone(),
                None => {
                    let cell = Arc::new(OnceCell::new());
                    slots.push_back((visit_id.clone(), cell.clone()));
                    if slots.len() > CAPTION_CACHE {
                        slots.pop_front();
                    }
                    cell
                }
            }
        };
        cell.get_or_init(make).await.clone()
    }
}

/// The painter's `alwayson_scripts`, with its ControlNet units as the extension's
/// `controlnet.args` (each unit enabled, its control image the img2img input).
fn alwayson_scripts(g: &crate::GenerationSettings) -> serde_json::Map<String, serde_json::Value> {
    let mut scripts: serde_json::Map<_, _> = g.alwayson_scripts.clone().into_iter().collect();
    if !g.controlnet.is_empty() {
        let args: Vec<serde_json::Value> = g
            .controlnet
            .iter()
            .map(|u| {
                serde_json::json!({
                    "enabled": true,
                    "module": u.module,
                    "model": u.model,
                    "weight": u.weight,
                    "guidance_start": u.guidance_start,
                    "guidance_end": u.guidance_end,
                    "control_mode": u.control_mode,
                    "pixel_perfect": u.pixel_perfect,
                    "resize_mode": "Crop and Resize",
                })
            })
            .collect();
        scripts.insert("controlnet".into(), serde_json::json!({ "args": args }));
    }
    scripts
}

/// The img2img request for one painter.
pub fn build_request(settings: &A1111Settings, job: &PaintJob, caption: &str) -> Img2ImgRequest {
    let g = settings.generation(job.painter);
    let (width, height) = match (g.width, g.height) {
        (Some(w), Some(h)) => (w, h),
        _ => output_size(job.photo.dimensions(), g.long_side),
    };
    let seed = match g.seed {
        SeedPolicy::Random => -1,
        SeedPolicy::Visit => painter_seed(job.seed, job.painter) as i64,
    };
    Img2ImgRequest {
        init_images: vec![encode_base64(&photo_jpeg(job))],
        prompt: g.prompt.replace("{caption}", caption),
        negative_prompt: g.negative_prompt.clone(),
        steps: g.steps,
        cfg_scale: g.cfg_scale,
        denoising_strength: g.denoising_strength,
        sampler_name: g.sampler.clone(),
        scheduler: (!g.scheduler.is_empty()).then(|| g.scheduler.clone()),
        seed,
        width,
        height,
        resize_mode: g.resize_mode,
        batch_size: 1,
        n_iter: 1,
        override_settings: g.override_settings.clone().into_iter().collect(),
        override_settings_restore_afterwards: true,
        alwayson_scripts: alwayson_scripts(g),
        send_images: true,
        save_images: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A visit's four painters asking at once get one caption, made once; another
    /// visit gets its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_visits_painters_share_one_caption_made_once() {
        let cache = Arc::new(CaptionCache::default());
        let made = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let visit: Arc<str> = "visit-a".into();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (cache, made, visit) = (cache.clone(), made.clone(), visit.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_make(&visit, || async {
                        made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        "a person smiling".to_owned()
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), "a person smiling");
        }
        assert_eq!(made.load(std::sync::atomic::Ordering::SeqCst), 1);
        let other = cache
            .get_or_make(&"visit-b".into(), || async { "a dog".to_owned() })
            .await;
        assert_eq!(other, "a dog");
    }

    #[test]
    fn painter_seeds_are_stable_distinct_and_positive_31_bit() {
        let seeds: Vec<u64> = Painter::ALL.iter().map(|&p| painter_seed(42, p)).collect();
        let again: Vec<u64> = Painter::ALL.iter().map(|&p| painter_seed(42, p)).collect();
        assert_eq!(seeds, again);
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), Painter::ALL.len());
        assert!(seeds.iter().all(|&s| s < 1 << 31));
        assert_ne!(painter_seed(43, Painter::ALL[0]), seeds[0]);
    }

    #[test]
    fn output_keeps_the_aspect_at_multiples_of_64() {
        assert_eq!(output_size((384, 512), 768), (576, 768));
        assert_eq!(output_size((512, 384), 768), (768, 576));
        assert_eq!(output_size((512, 512), 1024), (1024, 1024));
        // 3:2 → 768×512; 16:9 → 768×448 (432 rounds to 448): the server crops 8 px.
        assert_eq!(output_size((600, 400), 768), (768, 512));
        assert_eq!(output_size((1920, 1080), 768), (768, 448));
        assert_eq!(output_size((1, 4000), 768), (64, 768));
    }

    #[test]
    fn captions_lose_flavors_and_prompt_syntax() {
        assert_eq!(
            clean_caption("a woman with (long hair) and a [red] scarf, by greg rutkowski, trending on artstation"),
            "a woman with long hair and a red scarf"
        );
        assert_eq!(
            clean_caption("  <lora:x:1> a\tman \n smiling"),
            "lorax1 a man"
        );
        assert_eq!(clean_caption(&"a".repeat(300)).len(), 120);
    }
}
