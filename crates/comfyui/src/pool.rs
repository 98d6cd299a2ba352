//! The ComfyUI protocol on the shared pool ([`articket_pool::Pool`]): health from
//! `/system_stats` (with the workflows checked against each server's `/object_info`
//! the first time it answers), and each job the painter's workflow.
//!
//! One job, start to end: upload the photo (`/upload/image`), open a socket with our
//! own client id (`/ws`), queue the filled workflow (`/prompt`), follow `progress` and
//! the end (`executing` with `node: null`, or `execution_success`) on the socket, or
//! over HTTP (`/history/{id}`) when the socket stalls, fetch the picture (`/view`),
//! then delete the job's history entry. A job that runs past its time is interrupted.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use articket_pool::seed::seed_of;
use articket_pool::{AiSettings, CallError, Captioner, Painting, Pool, PoolCore, Probe, Protocol};
use articket_style::{BoxFuture, Painter, Update};
use image::RgbImage;
use tokio::time::Instant;

use crate::client::{images_of, outcome_of, ComfyServer, Event, Outcome};
use crate::workflow::{Fill, Workflow};
pub use articket_pool::dispatch::PoolStatus;

/// Where our uploads and outputs go on the server (`input/articket`, `output/articket`).
pub const SUBFOLDER: &str = "articket";

/// The ComfyUI backend: the shared pool speaking [`Comfy`].
pub type ComfyPool = Pool<Comfy>;

/// The ComfyUI protocol: one client per server, and each painter's workflow.
pub struct Comfy {
    servers: Vec<ComfyServer>,
    workflows: HashMap<Painter, Arc<Workflow>>,
}

impl Protocol for Comfy {
    const BACKEND: &'static str = "comfyui";
    const REQUEST: &'static str = "the workflow";

    /// Loads and checks the workflows. An error is a sentence naming the key or the
    /// file and node.
    fn new(settings: &AiSettings, http: &reqwest::Client) -> Result<Self, String> {
        let workflows = load_workflows(settings)?;
        if settings.captioner == Captioner::Clip
            || (settings.captioner == Captioner::Blip && settings.blip_url.is_empty())
        {
            tracing::info!(
                "ComfyUI has no captioning API: prompts use the neutral phrase unless \
                 [ai] captioner = \"blip\" with a blip_url"
            );
        }
        let servers: Vec<ComfyServer> = settings
            .servers
            .iter()
            .map(|s| ComfyServer::new(s.clone(), http.clone()))
            .collect();
        Ok(Comfy { servers, workflows })
    }

    fn probe<'a>(&'a self, pool: &'a PoolCore, index: usize) -> BoxFuture<'a, Probe> {
        Box::pin(async move {
            let server = &self.servers[index];
            match server.system_stats(pool.probe_timeout()).await {
                Ok(_) => {}
                Err(CallError::Rejected {
                    status: 401 | 403, ..
                }) => {
                    return Probe::Down(
                        "the server refused our credentials: check user, password and headers \
                         under [[ai.servers]]"
                            .to_owned(),
                    )
                }
                Err(CallError::Rejected { status: 404, .. }) => {
                    let rb = server.request(
                        reqwest::Method::GET,
                        "/sdapi/v1/progress",
                        pool.probe_timeout(),
                    );
                    return Probe::Down(
                        if server.json::<serde_json::Value>(rb).await.is_ok() {
                            "this address is an AUTOMATIC1111-style server: set [ai] backend = \
                             \"a1111\" (docs/ai.md)"
                        } else {
                            "no ComfyUI answers at this address (/system_stats is missing): \
                             check the port (ComfyUI's default is 8188)"
                        }
                        .to_owned(),
                    );
                }
                Err(e) => return Probe::Down(e.to_string()),
            }
            Probe::Up
        })
    }

    /// The workflows against the server's `/object_info`.
    fn first_answer<'a>(&'a self, _pool: &'a PoolCore, index: usize) -> BoxFuture<'a, Probe> {
        Box::pin(async move {
            match self.check_server(index).await {
                Ok(()) => Probe::Up,
                Err(e) => Probe::Unfit(e),
            }
        })
    }

    fn paint<'a>(&'a self, p: Painting<'a, Self>) -> BoxFuture<'a, Result<RgbImage, CallError>> {
        Box::pin(async move {
            let server = self.servers[p.slot.index()].clone();
            let mut cleanup = Cleanup {
                server: server.clone(),
                prompt_id: None,
                running: true,
                armed: true,
            };
            self.run(&p, &server, &mut cleanup).await
        })
    }
}

impl Comfy {
    /// One job on one server; `cleanup` learns the prompt id as soon as there is one,
    /// so an abandoned job is taken off the server.
    async fn run(
        &self,
        p: &Painting<'_, Self>,
        server: &ComfyServer,
        cleanup: &mut Cleanup,
    ) -> Result<RgbImage, CallError> {
        let (job, caption, progress) = (p.job, p.caption, p.progress);
        let s = p.pool.settings();
        let short = Duration::from_secs(10);
        let deadline = Instant::now() + Duration::from_secs(s.request_timeout_secs);
        let nonce = format!("{:016x}", rand::random::<u64>());
        let client_id = format!("articket-{nonce}");
        let visit: String = job.visit_id.chars().take(12).collect();
        let name = format!("{visit}-{}-{nonce}", job.painter.id());
        let jpeg = p.jpeg.clone();
        // The socket first, so no message about the job can be missed.
        let mut socket = match server.connect(&client_id, short).await {
            Ok(socket) => Some(socket),
            Err(e) => {
                tracing::warn!(server = %server.label, "no socket, following the job over HTTP: {e}");
                None
            }
        };
        let input = server
            .upload_image(jpeg, SUBFOLDER, &format!("{name}.jpg"), short)
            .await?;
        let g = s.generation(job.painter);
        let workflow = &self.workflows[&job.painter];
        // A workflow with `{{mask_image}}`: the matte's mask, or all change without one.
        let mut denoise = g.denoising_strength;
        let mask = if workflow.masked() {
            let change = match articket_pool::mask::masked(job, g) {
                Some(m) => {
                    denoise = m.strength;
                    m.change
                }
                None => {
                    let (w, h) = job.photo.dimensions();
                    image::GrayImage::from_pixel(w, h, image::Luma([255]))
                }
            };
            let png = articket_pool::mask::png(&change);
            let name = format!("{name}-mask.png");
            Some(server.upload_image(png, SUBFOLDER, &name, short).await?)
        } else {
            None
        };
        let seed = seed_of(g.seed, job.seed, job.painter);
        let prompt = g.prompt.replace("{caption}", caption);
        let negative = g.negative_prompt.replace("{caption}", caption);
        let filled = workflow.fill(&Fill {
            input_image: &input,
            mask_image: mask.as_deref(),
            prompt: &prompt,
            negative_prompt: &negative,
            caption,
            seed,
            steps: g.steps,
            cfg: g.cfg_scale,
            denoise,
            filename_prefix: &format!("{SUBFOLDER}/{name}"),
        });
        let prompt_id = server.queue_prompt(&filled, &client_id, short).await?;
        cleanup.prompt_id = Some(prompt_id.clone());
        let stall = Duration::from_secs_f64(s.socket_stall_secs);
        let poll = Duration::from_secs_f64(s.progress_interval_secs);
        let outcome = loop {
            if let Some(sock) = socket.as_mut() {
                let wait = stall.min(deadline.saturating_duration_since(Instant::now()));
                match tokio::time::timeout(wait, sock.next(&prompt_id)).await {
                    Ok(Ok(Some(Event::Progress { value, max }))) => {
                        let fraction = value as f32 / max as f32;
                        progress(Update::Progress(fraction.clamp(0.0, 0.99)));
                        continue;
                    }
                    Ok(Ok(Some(Event::Preview(image)))) => {
                        if let Some(jpeg) = articket_style::preview_from_bytes(&image) {
                            progress(Update::Preview(jpeg));
                        }
                        continue;
                    }
                    Ok(Ok(Some(Event::Started))) => continue,
                    Ok(Ok(Some(Event::Ended(outcome)))) => break outcome,
                    Ok(Ok(None)) | Ok(Err(_)) => {
                        tracing::warn!(server = %server.label, "the socket closed; following the job over HTTP");
                        socket = None;
                    }
                    Err(_) if Instant::now() >= deadline => {
                        return Err(
                            timed_out(server, &prompt_id, cleanup, s.request_timeout_secs).await,
                        );
                    }
                    Err(_) => {
                        // Quiet for a while: the job may have ended unseen. Ask.
                        if let Some(entry) = server.history(&prompt_id, short).await? {
                            break outcome_of(&entry);
                        }
                        continue;
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(timed_out(server, &prompt_id, cleanup, s.request_timeout_secs).await);
            }
            tokio::time::sleep(poll).await;
            if let Some(entry) = server.history(&prompt_id, short).await? {
                break outcome_of(&entry);
            }
        };
        cleanup.running = false;
        // The history entry can trail the socket's last message by a moment.
        let entry = wait_for_history(server, &prompt_id).await?;
        let failure = match outcome {
            Outcome::Done => None,
            Outcome::Failed(message) => Some(format!("the workflow failed at {message}")),
            Outcome::Interrupted => Some("the job was interrupted on the server".to_owned()),
        };
        if let Some(detail) = failure {
            cleanup.armed = false;
            if let Err(e) = server.delete_history(&prompt_id, short).await {
                tracing::warn!(server = %server.label, "could not delete the job's history: {e}");
            }
            return Err(CallError::Server {
                status: 500,
                detail,
            });
        }
        let entry = entry
            .ok_or_else(|| CallError::Malformed("the job ended but has no history entry".into()))?;
        let Some(image) = images_of(&entry).into_iter().next() else {
            return Err(CallError::Malformed(
                "the workflow saved no image (does it end in SaveImage or PreviewImage?)".into(),
            ));
        };
        let bytes = server.view(&image, Duration::from_secs(30)).await?;
        let picture = image::load_from_memory(&bytes)
            .map_err(|e| CallError::Malformed(format!("the picture cannot be decoded ({e})")))?
            .into_rgb8();
        cleanup.armed = false;
        if let Err(e) = server.delete_history(&prompt_id, short).await {
            tracing::warn!(server = %server.label, "could not delete the job's history: {e}");
        }
        Ok(picture)
    }

    /// Every workflow against one server's node classes and model files.
    async fn check_server(&self, index: usize) -> Result<(), String> {
        let server = &self.servers[index];
        let info = server
            .object_info(Duration::from_secs(30))
            .await
            .map_err(|e| format!("{}: cannot read /object_info: {e}", server.label))?;
        let mut seen = Vec::new();
        for workflow in self.workflows.values() {
            if seen.contains(&workflow.file) {
                continue;
            }
            seen.push(workflow.file.clone());
            workflow
                .check_against(&info, &server.label)
                .map_err(|e| format!("ai workflow {e}"))?;
        }
        Ok(())
    }
}

/// The job's history entry, waiting up to 2 s for it to be stored.
async fn wait_for_history(
    server: &ComfyServer,
    prompt_id: &str,
) -> Result<Option<serde_json::Value>, CallError> {
    for _ in 0..20 {
        if let Some(entry) = server.history(prompt_id, Duration::from_secs(10)).await? {
            return Ok(Some(entry));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(None)
}

/// Stops a job that ran out of time: interrupted if it is the one running (its
/// cleanup then takes it off the queue and deletes its history).
async fn timed_out(
    server: &ComfyServer,
    prompt_id: &str,
    cleanup: &mut Cleanup,
    secs: u64,
) -> CallError {
    server.interrupt_if_running(prompt_id).await;
    cleanup.running = false;
    CallError::Network(format!("no result within {secs} s; the job was stopped"))
}

/// Takes an abandoned job (an error, a timeout, or the visit gone) off its server:
/// out of the queue, interrupted if it was running, its history deleted.
struct Cleanup {
    server: ComfyServer,
    prompt_id: Option<String>,
    running: bool,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (Some(prompt_id), true) = (self.prompt_id.take(), self.armed) else {
            return;
        };
        let (server, running) = (self.server.clone(), self.running);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let t = Duration::from_secs(5);
                let _ = server.delete_queued(&prompt_id, t).await;
                if running {
                    server.interrupt_if_running(&prompt_id).await;
                }
                // A job that ran (or was interrupted) gets its entry a moment later.
                let _ = wait_for_history(&server, &prompt_id).await;
                let _ = server.delete_history(&prompt_id, t).await;
            });
        }
    }
}

/// Each painter's workflow: its own (`[ai.<painter>] workflow`) or the shared one.
fn load_workflows(settings: &AiSettings) -> Result<HashMap<Painter, Arc<Workflow>>, String> {
    let mut loaded: HashMap<String, Arc<Workflow>> = HashMap::new();
    let mut out = HashMap::new();
    for painter in Painter::ALL {
        let own = &settings.generation(painter).workflow;
        let (key, path) = if own.is_empty() {
            ("ai.workflow".to_owned(), &settings.workflow)
        } else {
            (format!("ai.{}.workflow", painter.id()), own)
        };
        if path.is_empty() {
            return Err(format!(
                "{key}: backend \"comfyui\" needs a workflow (an API-format JSON file; see docs/ai.md)"
            ));
        }
        let workflow = match loaded.get(path) {
            Some(w) => w.clone(),
            None => {
                let w =
                    Arc::new(Workflow::load(Path::new(path)).map_err(|e| format!("{key}: {e}"))?);
                loaded.insert(path.clone(), w.clone());
                w
            }
        };
        out.insert(painter, workflow);
    }
    Ok(out)
}
