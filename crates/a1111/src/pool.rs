//! The AUTOMATIC1111 protocol on the shared pool ([`articket_pool::Pool`]): health is
//! `GET /sdapi/v1/progress`, a job is one `POST /sdapi/v1/img2img` with progress polled
//! while it runs alone on its server, and captions come from `/sdapi/v1/interrogate`.

use std::time::Duration;

use articket_pool::photo::output_size;
use articket_pool::seed::seed_of;
use articket_pool::{AiSettings, CallError, Painting, Pool, PoolCore, Probe, Protocol, Slot};
use articket_style::{BoxFuture, PaintJob, Progress, Update};
use image::RgbImage;

use crate::api::{soft_inpainting_args, Img2ImgRequest, InpaintMask, SOFT_INPAINTING};
use crate::client::{
    checkpoints, decode_image, encode_base64, img2img, img2img_scripts, interrogate, interrupt,
    progress, progress_with_image, Server,
};
pub use articket_pool::dispatch::{PoolStatus, ServerStatus};

/// The AUTOMATIC1111 backend: the shared pool speaking [`A1111`].
pub type A1111Pool = Pool<A1111>;

/// The AUTOMATIC1111 protocol: one client per server.
pub struct A1111 {
    servers: Vec<Server>,
    /// Per server: has soft inpainting (read at its first answer), so a painting with
    /// a matte can go as a masked one.
    soft_inpainting: Vec<std::sync::atomic::AtomicBool>,
}

/// A failed health probe in words, with the fix for the known mistakes: no `--api`, a
/// ComfyUI address, refused credentials.
async fn diagnose(server: &Server, error: CallError, timeout: Duration) -> String {
    match error {
        CallError::Rejected {
            status: 401 | 403, ..
        } => "the server refused our credentials: check user and password under [[ai.servers]] \
             (the server's --api-auth)"
            .to_owned(),
        CallError::Rejected { status: 404, .. } => {
            let rb = server.request(reqwest::Method::GET, "/system_stats", timeout);
            if server.json::<serde_json::Value>(rb).await.is_ok() {
                "this address is a ComfyUI server: set [ai] backend = \"comfyui\" (docs/ai.md)"
                    .to_owned()
            } else {
                "the server answers but has no API at /sdapi/v1: start AUTOMATIC1111 (or Forge) \
                 with --api"
                    .to_owned()
            }
        }
        e => e.to_string(),
    }
}

impl Protocol for A1111 {
    const BACKEND: &'static str = "a1111";
    const REQUEST: &'static str = "the request";

    fn new(settings: &AiSettings, http: &reqwest::Client) -> Result<Self, String> {
        let servers: Vec<Server> = settings
            .servers
            .iter()
            .map(|s| Server::new(s.clone(), http.clone()))
            .collect();
        let soft_inpainting = servers.iter().map(|_| Default::default()).collect();
        Ok(A1111 {
            servers,
            soft_inpainting,
        })
    }

    /// Up when `/sdapi/v1/progress` answers. Known mistakes are named with their fix.
    fn probe<'a>(&'a self, pool: &'a PoolCore, index: usize) -> BoxFuture<'a, Probe> {
        Box::pin(async move {
            let server = &self.servers[index];
            let timeout = pool.probe_timeout();
            match progress(server, timeout).await {
                Ok(_) => {}
                Err(e) => return Probe::Down(diagnose(server, e, timeout).await),
            }
            Probe::Up
        })
    }

    /// A server that answers lists a checkpoint (some forks lack the endpoint: they may
    /// still paint). Whether it has soft inpainting is noted.
    fn first_answer<'a>(&'a self, pool: &'a PoolCore, index: usize) -> BoxFuture<'a, Probe> {
        Box::pin(async move {
            let server = &self.servers[index];
            let soft = img2img_scripts(server, pool.probe_timeout())
                .await
                .is_ok_and(|s| s.iter().any(|s| s == SOFT_INPAINTING));
            self.soft_inpainting[index].store(soft, std::sync::atomic::Ordering::Relaxed);
            if !soft {
                tracing::info!(
                    server = %server.label,
                    "the server has no soft inpainting (A1111 1.8+): its paintings use no matte"
                );
            }
            match checkpoints(server, pool.probe_timeout()).await {
                Ok(list) if list.is_empty() => Probe::Down(
                    "the server lists no checkpoint: put a Stable Diffusion model in its \
                     models/Stable-diffusion folder and restart it"
                        .to_owned(),
                ),
                Ok(_) | Err(CallError::Rejected { .. }) => Probe::Up,
                Err(e) => Probe::Down(e.to_string()),
            }
        })
    }

    /// Captions by the painting servers' interrogate: "clip", or "blip" without a BLIP
    /// server (`articket worker` answers it; A1111 does not).
    fn caption<'a>(
        &'a self,
        pool: &'a Pool<Self>,
        job: &'a PaintJob,
        jpeg: Vec<u8>,
        progress: &'a Progress,
    ) -> Option<BoxFuture<'a, Result<String, CallError>>> {
        Some(Box::pin(async move {
            let settings = pool.settings();
            let timeout = Duration::from_secs(settings.caption_timeout_secs);
            let model = match settings.captioner {
                articket_pool::Captioner::Blip => "blip",
                _ => "clip",
            };
            let slot = pool
                .acquire(&job.visit_id, progress)
                .await
                .map_err(|e| CallError::Network(e.to_string()))?;
            interrogate(
                &self.servers[slot.index()],
                &encode_base64(&jpeg),
                model,
                timeout,
            )
            .await
        }))
    }

    fn paint<'a>(&'a self, p: Painting<'a, Self>) -> BoxFuture<'a, Result<RgbImage, CallError>> {
        Box::pin(async move {
            let settings = p.pool.settings();
            let index = p.slot.index();
            let soft = self.soft_inpainting[index].load(std::sync::atomic::Ordering::Relaxed);
            let request = build_request(settings, p.job, &p.jpeg, p.caption, soft);
            let server = &self.servers[index];
            let timeout = Duration::from_secs(settings.request_timeout_secs);
            let call = img2img(server, &request, timeout);
            tokio::pin!(call);
            let mut tick =
                tokio::time::interval(Duration::from_secs_f64(settings.progress_interval_secs));
            tick.tick().await;
            let mut last_preview = None;
            loop {
                tokio::select! {
                    result = &mut call => break result,
                    _ = tick.tick() => {
                        // Progress is per server, not per job: only meaningful while
                        // ours is the only job on it. So is its live preview.
                        if p.slot.alone() {
                            if let Ok(r) = progress_with_image(server, Duration::from_secs(2)).await {
                                if r.progress > 0.0 {
                                    (p.progress)(Update::Progress(r.progress.clamp(0.0, 0.99)));
                                }
                                if let Some(b64) = r.current_image.filter(|i| !i.is_empty()) {
                                    if last_preview.as_ref() != Some(&b64) {
                                        let preview = decode_image(&b64)
                                            .ok()
                                            .and_then(|i| articket_style::preview_jpeg(&i));
                                        if let Some(jpeg) = preview {
                                            (p.progress)(Update::Preview(jpeg));
                                        }
                                        last_preview = Some(b64);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        })
    }

    /// The server may still be painting the abandoned job: free it.
    fn abandoned(&self, slot: &Slot) {
        if slot.alone() {
            let server = self.servers[slot.index()].clone();
            tokio::spawn(async move { interrupt(&server).await });
        }
    }
}

/// The painter's `alwayson_scripts`, with its ControlNet units as the extension's
/// `controlnet.args` (each unit enabled, its control image the img2img input).
fn alwayson_scripts(
    g: &articket_pool::GenerationSettings,
) -> serde_json::Map<String, serde_json::Value> {
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

/// The img2img request for one painter; with a matte and a server that has soft
/// inpainting (`soft_inpainting`), a masked one: the background at its strength, the
/// person at theirs.
pub fn build_request(
    settings: &AiSettings,
    job: &PaintJob,
    jpeg: &[u8],
    caption: &str,
    soft_inpainting: bool,
) -> Img2ImgRequest {
    let g = settings.generation(job.painter);
    let (width, height) = match (g.width, g.height) {
        (Some(w), Some(h)) => (w, h),
        _ => output_size(job.photo.dimensions(), g.long_side),
    };
    let seed = seed_of(g.seed, job.seed, job.painter) as i64;
    let masked = articket_pool::mask::masked(job, g).filter(|_| soft_inpainting);
    let mut scripts = alwayson_scripts(g);
    let mut denoising_strength = g.denoising_strength;
    let mask = masked.map(|m| {
        denoising_strength = m.strength;
        scripts.insert(SOFT_INPAINTING.into(), soft_inpainting_args());
        InpaintMask {
            mask: encode_base64(&articket_pool::mask::png(&m.change)),
            mask_blur: 4,
            inpainting_fill: 1,
            inpaint_full_res: false,
            inpainting_mask_invert: 0,
        }
    });
    Img2ImgRequest {
        init_images: vec![encode_base64(jpeg)],
        prompt: g.prompt.replace("{caption}", caption),
        negative_prompt: g.negative_prompt.clone(),
        steps: g.steps,
        cfg_scale: g.cfg_scale,
        denoising_strength,
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
        alwayson_scripts: scripts,
        mask,
        send_images: true,
        save_images: false,
    }
}
