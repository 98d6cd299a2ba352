//! The engine behind a bounded queue: one device thread owns the model and paints
//! whatever is waiting, batching jobs that fit together. Everything else talks to it
//! through [`EngineService`], from any thread or task.

use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use image::RgbImage;
use tokio::sync::oneshot;

use crate::{Engine, EngineError, Img2Img};

/// What the device is doing, for `/sdapi/v1/progress` and progress callbacks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DeviceProgress {
    /// Jobs in the batch being painted (0 when idle).
    pub job_count: usize,
    pub step: usize,
    pub steps: usize,
}

impl DeviceProgress {
    pub fn fraction(&self) -> f32 {
        if self.steps == 0 {
            0.0
        } else {
            self.step as f32 / self.steps as f32
        }
    }
}

/// Receives a painting's previews as small JPEGs.
pub type PreviewSink = Arc<dyn Fn(Arc<[u8]>) + Send + Sync>;

struct Request {
    job: Img2Img,
    reply: oneshot::Sender<Result<RgbImage, EngineError>>,
    preview: Option<PreviewSink>,
}

/// A cheap handle to the device thread.
#[derive(Clone)]
pub struct EngineService {
    tx: SyncSender<Request>,
    progress: Arc<Mutex<DeviceProgress>>,
    /// The latest preview of the batch being painted (for A1111's `current_image`).
    latest_preview: Arc<Mutex<Option<Arc<[u8]>>>>,
    pub model_name: String,
    pub size_multiple: usize,
    /// A few-step model (SD-Turbo, SDXL-Turbo): trained for 1 to 4 steps without
    /// guidance.
    pub few_step: bool,
    /// An LCM-distilled model (LCM Dreamshaper): 2 to 8 steps of LCM, guided through
    /// its embedding.
    pub lcm_distilled: bool,
}

impl EngineService {
    /// Starts the device thread. `queue`: jobs that may wait (more get `Busy`);
    /// `max_batch`: jobs per UNet batch on a GPU (on the CPU jobs run one by one: one
    /// image already keeps every core busy, and a batch of four measured 10 to 20 %
    /// slower than four in turn); `window`: how long the thread waits for more jobs to
    /// join a batch once one arrives (a visit's painters arrive together).
    pub fn start(
        engine: Engine,
        queue: usize,
        max_batch: usize,
        window: Duration,
    ) -> EngineService {
        let (tx, rx) = mpsc::sync_channel::<Request>(queue.max(1));
        let progress = Arc::new(Mutex::new(DeviceProgress::default()));
        let model_name = engine.files.name();
        let size_multiple = engine.size_multiple();
        let few_step = engine.is_few_step();
        let lcm_distilled = engine.is_lcm_distilled();
        let max_batch = if engine.device.is_cpu() { 1 } else { max_batch };
        let shared = progress.clone();
        let latest_preview = Arc::new(Mutex::new(None::<Arc<[u8]>>));
        let latest = latest_preview.clone();
        std::thread::Builder::new()
            .name("articket-engine".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < max_batch.max(1) {
                        match rx.recv_timeout(window) {
                            Ok(r) => batch.push(r),
                            Err(RecvTimeoutError::Timeout) => break,
                            Err(RecvTimeoutError::Disconnected) => break,
                        }
                    }
                    // Callers that gave up need no painting.
                    batch.retain(|r| !r.reply.is_closed());
                    if batch.is_empty() {
                        continue;
                    }
                    let jobs: Vec<Img2Img> = batch.iter().map(|r| r.job.clone()).collect();
                    let sinks: Vec<Option<PreviewSink>> =
                        batch.iter().map(|r| r.preview.clone()).collect();
                    let wants_previews = sinks.iter().any(Option::is_some);
                    let mut send_preview = |i: usize, picture: RgbImage| {
                        if let (Some(sink), Some(jpeg)) =
                            (&sinks[i], articket_style::preview_jpeg(&picture))
                        {
                            *latest.lock().unwrap() = Some(jpeg.clone());
                            sink(jpeg);
                        }
                    };
                    let count = jobs.len();
                    // A panic inside candle must not take the device thread, and with it
                    // every later painting, down with it.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        engine.img2img_previewed(
                            &jobs,
                            &mut |step, steps| {
                                *shared.lock().unwrap() = DeviceProgress {
                                    job_count: count,
                                    step,
                                    steps,
                                };
                            },
                            wants_previews.then_some(&mut send_preview as &mut dyn FnMut(_, _)),
                        )
                    }))
                    .unwrap_or_else(|_| {
                        Err(EngineError::Run("the engine panicked; see the log".into()))
                    });
                    *shared.lock().unwrap() = DeviceProgress::default();
                    *latest.lock().unwrap() = None;
                    match result {
                        Ok(images) => {
                            for (r, img) in batch.into_iter().zip(images) {
                                let _ = r.reply.send(Ok(img));
                            }
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            tracing::error!("the engine failed a batch of {count}: {msg}");
                            for r in batch {
                                let _ = r.reply.send(Err(match &e {
                                    EngineError::Input(m) => EngineError::Input(m.clone()),
                                    _ => EngineError::Run(msg.clone()),
                                }));
                            }
                        }
                    }
                }
            })
            .expect("spawn the engine thread");
        EngineService {
            tx,
            progress,
            latest_preview,
            model_name,
            size_multiple,
            few_step,
            lcm_distilled,
        }
    }

    /// Queues one painting and waits for it. `Busy` when the queue is full.
    pub async fn paint(&self, job: Img2Img) -> Result<RgbImage, EngineError> {
        self.paint_previewed(job, None).await
    }

    /// [`EngineService::paint`], with previews on the way where the engine makes them
    /// (a tiny autoencoder loaded).
    pub async fn paint_previewed(
        &self,
        job: Img2Img,
        preview: Option<PreviewSink>,
    ) -> Result<RgbImage, EngineError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Request {
            job,
            reply,
            preview,
        }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(EngineError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(EngineError::Run("the engine thread stopped".into()))
            }
        }
        rx.await
            .map_err(|_| EngineError::Run("the engine thread stopped".into()))?
    }

    pub fn progress(&self) -> DeviceProgress {
        *self.progress.lock().unwrap()
    }

    /// The latest preview (JPEG) of the paintings under way, if the engine makes them.
    pub fn current_preview(&self) -> Option<Arc<[u8]>> {
        self.latest_preview.lock().unwrap().clone()
    }
}
