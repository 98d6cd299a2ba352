//! The pool every kind of painting server shares: the settings, the fair queue, the
//! captions, the health loop, the sorting of errors, and the [`Stylizer`] the studio
//! paints through. A server kind adds only its protocol ([`Protocol`]): how to ask a
//! server whether it is up, and how to paint one job on it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use articket_style::{BoxFuture, PaintJob, Progress, StyleError, Stylizer, Update};
use image::RgbImage;
use tokio::sync::Notify;

use crate::caption::Captions;
use crate::dispatch::{Dispatcher, PoolStatus, Slot};
use crate::http::{blip_caption, http_client, CallError};
use crate::photo::photo_jpeg;
use crate::settings::{AiSettings, Captioner};

/// What a server said to a health probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Up,
    /// No answer, or a failed one: out of rotation until it answers.
    Down(String),
    /// It answers but cannot do the booth's work (a workflow's node or model is
    /// missing): the booth does not start; later, it stays out of rotation.
    Unfit(String),
}

/// One kind of painting server's protocol.
pub trait Protocol: Send + Sync + Sized + 'static {
    /// The backend's name in logs and on the operator page ("a1111", "comfyui").
    const BACKEND: &'static str;
    /// What a refusal refused, for the log: "the request", "the workflow".
    const REQUEST: &'static str;

    /// The servers' clients, from the settings (checked already).
    fn new(settings: &AiSettings, http: &reqwest::Client) -> Result<Self, String>;

    /// Asks server `index` whether it is up.
    fn probe<'a>(&'a self, pool: &'a PoolCore, index: usize) -> BoxFuture<'a, Probe>;

    /// Once per server, the first time it is up: can it do the booth's work (a model to
    /// load, the workflows' nodes)? Asked again at the next probe until it says Up.
    fn first_answer<'a>(&'a self, _pool: &'a PoolCore, _index: usize) -> BoxFuture<'a, Probe> {
        Box::pin(async { Probe::Up })
    }

    /// A caption made by the painting servers themselves (`captioner = "clip"`, or
    /// "blip" without a BLIP server), or None when this kind has no such API.
    fn caption<'a>(
        &'a self,
        _pool: &'a Pool<Self>,
        _job: &'a PaintJob,
        _jpeg: Vec<u8>,
        _progress: &'a Progress,
    ) -> Option<BoxFuture<'a, Result<String, CallError>>> {
        None
    }

    /// Paints one job on the server `slot` names.
    fn paint<'a>(&'a self, job: Painting<'a, Self>) -> BoxFuture<'a, Result<RgbImage, CallError>>;

    /// The job on `slot`'s server was abandoned after a network error.
    fn abandoned(&self, _slot: &Slot) {}
}

/// One job on its server, as a protocol paints it.
pub struct Painting<'a, P: Protocol> {
    pub pool: &'a Pool<P>,
    pub slot: &'a Slot,
    pub job: &'a PaintJob,
    pub caption: &'a str,
    /// The photo as the intake's JPEG.
    pub jpeg: Vec<u8>,
    pub progress: &'a Progress,
}

/// What every pool holds besides its protocol.
pub struct PoolCore {
    pub settings: AiSettings,
    pub http: reqwest::Client,
    pub queue: Dispatcher,
    captions: Captions,
    /// Servers whose first answer ([`Protocol::first_answer`]) was Up.
    checked: std::sync::Mutex<Vec<bool>>,
    /// Wakes the health task for an immediate probe (after a job's network error).
    probe_now: Notify,
}

/// A pool of servers of one kind; clones share it.
pub struct Pool<P: Protocol> {
    shared: Arc<Shared<P>>,
}

impl<P: Protocol> Clone for Pool<P> {
    fn clone(&self) -> Self {
        Pool {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<P> {
    core: PoolCore,
    protocol: P,
}

impl<P: Protocol> Pool<P> {
    /// Checks the settings, probes every server once, and starts the health task. An
    /// error is a sentence naming the key (or the server and what it lacks).
    pub async fn start(settings: AiSettings) -> Result<Pool<P>, String> {
        settings
            .validate()
            .map_err(|(k, m)| format!("ai.{k}: {m}"))?;
        let http = http_client()?;
        let protocol = P::new(&settings, &http)?;
        let queue = Dispatcher::for_settings(&settings);
        let servers = settings.servers.len();
        let shared = Arc::new(Shared {
            core: PoolCore {
                settings,
                http,
                queue,
                captions: Captions::default(),
                checked: std::sync::Mutex::new(vec![false; servers]),
                probe_now: Notify::new(),
            },
            protocol,
        });
        probe_all(&shared, true).await?;
        tokio::spawn(health_task(Arc::downgrade(&shared)));
        Ok(Pool { shared })
    }

    pub fn status(&self) -> PoolStatus {
        self.shared.core.queue.status()
    }

    pub fn settings(&self) -> &AiSettings {
        &self.shared.core.settings
    }

    pub fn core(&self) -> &PoolCore {
        &self.shared.core
    }

    pub fn protocol(&self) -> &P {
        &self.shared.protocol
    }

    /// Waits for a slot on a server for one of `visit`'s jobs.
    pub async fn acquire(&self, visit: &Arc<str>, progress: &Progress) -> Result<Slot, StyleError> {
        self.shared.core.queue.acquire(visit, progress).await
    }

    /// The photo's caption, made once per visit: by the BLIP server when one is set,
    /// else by the painting servers if they can; the neutral phrase otherwise.
    async fn caption(&self, job: &PaintJob, jpeg: &[u8], progress: &Progress) -> String {
        let settings = &self.shared.core.settings;
        let neutral = settings.neutral_caption.as_str();
        let blip_server = settings.captioner == Captioner::Blip && !settings.blip_url.is_empty();
        if settings.captioner == Captioner::None {
            return neutral.to_owned();
        }
        let timeout = Duration::from_secs(settings.caption_timeout_secs);
        let captions = &self.shared.core.captions;
        if blip_server {
            let http = &self.shared.core.http;
            return captions
                .caption(&job.visit_id, neutral, || {
                    blip_caption(http, &settings.blip_url, jpeg.to_vec(), timeout)
                })
                .await;
        }
        let protocol = &self.shared.protocol;
        match protocol.caption(self, job, jpeg.to_vec(), progress) {
            Some(from_servers) => {
                captions
                    .caption(&job.visit_id, neutral, || from_servers)
                    .await
            }
            None => neutral.to_owned(),
        }
    }

    async fn paint_job(&self, job: PaintJob, progress: Progress) -> Result<RgbImage, StyleError> {
        let jpeg = photo_jpeg(&job)?;
        let caption = self.caption(&job, &jpeg, &progress).await;
        let slot = self.acquire(&job.visit_id, &progress).await?;
        progress(Update::Started);
        let outcome = self
            .shared
            .protocol
            .paint(Painting {
                pool: self,
                slot: &slot,
                job: &job,
                caption: &caption,
                jpeg,
                progress: &progress,
            })
            .await;
        match outcome {
            Ok(image) => {
                progress(Update::Progress(1.0));
                Ok(image)
            }
            Err(e) => {
                let core = &self.shared.core;
                let what = format!("{} ({}): {e}", core.queue.label(slot.index()), job.painter);
                Err(match e {
                    CallError::Network(_) => {
                        self.shared.protocol.abandoned(&slot);
                        core.probe_now.notify_one();
                        StyleError::Unavailable(what)
                    }
                    CallError::Server { .. } | CallError::Malformed(_) => StyleError::Failed(what),
                    CallError::Rejected { .. } => {
                        tracing::error!(
                            "the server refused {}; check the [ai] settings: {what}",
                            P::REQUEST
                        );
                        StyleError::Rejected(format!("settings: {what}"))
                    }
                })
            }
        }
    }
}

impl<P: Protocol> Stylizer for Pool<P> {
    fn backend(&self) -> &'static str {
        P::BACKEND
    }

    fn available(&self) -> bool {
        self.shared.core.queue.available()
    }

    fn paint(
        &self,
        job: PaintJob,
        progress: Progress,
    ) -> BoxFuture<'_, Result<RgbImage, StyleError>> {
        Box::pin(self.paint_job(job, progress))
    }
}

impl PoolCore {
    /// How long a health probe may take: within the probing interval, 0.5 to 5 s.
    pub fn probe_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.settings.health_interval_secs)
            .clamp(Duration::from_millis(500), Duration::from_secs(5))
    }
}

/// Probes every server at once and records their health. At start-up (`strict`) an
/// unfit server stops the booth; later it stays out of rotation.
async fn probe_all<P: Protocol>(shared: &Shared<P>, strict: bool) -> Result<(), String> {
    let core = &shared.core;
    let checked = |i: usize| core.checked.lock().unwrap_or_else(|p| p.into_inner())[i];
    let probes = (0..core.settings.servers.len()).map(|i| async move {
        match shared.protocol.probe(core, i).await {
            Probe::Up if !checked(i) => {
                let first = shared.protocol.first_answer(core, i).await;
                if first == Probe::Up {
                    core.checked.lock().unwrap_or_else(|p| p.into_inner())[i] = true;
                }
                first
            }
            probe => probe,
        }
    });
    let results = futures_util::future::join_all(probes).await;
    for (i, probe) in results.into_iter().enumerate() {
        let health = match probe {
            Probe::Up => Ok(()),
            Probe::Down(e) => Err(e),
            Probe::Unfit(e) if strict => return Err(e),
            Probe::Unfit(e) => {
                tracing::error!(server = %core.queue.label(i), "{e}");
                Err(e)
            }
        };
        core.queue.set_health(i, health);
    }
    Ok(())
}

/// Probes every `health_interval_secs`, or at once after a job's network error, for as
/// long as the pool exists.
async fn health_task<P: Protocol>(shared: Weak<Shared<P>>) {
    loop {
        let Some(s) = shared.upgrade() else { return };
        let interval = Duration::from_secs_f64(s.core.settings.health_interval_secs);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = s.core.probe_now.notified() => {}
        }
        let _ = probe_all(&s, false).await;
        drop(s);
    }
}
