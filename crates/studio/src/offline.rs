//! Painting without a booth (`articket stylize`): photos through the configured
//! backend (the built-in painters, a server pool, or the local engine, with the
//! fallback), with the same tries as a visit, and nothing stored or announced.

use std::sync::Arc;
use std::time::Duration;

use articket_config::Config;
use articket_style::{BoxFuture, PaintJob, Painter, Progress, StyleError};
use image::RgbImage;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::backends::Backends;
use crate::error::StudioResult;
use crate::tries::{paint_tries, Tries, TryEvents};

/// The configured painters, started.
pub struct Offline {
    config: Config,
    backends: Backends,
    /// Makes each photo's matte, as intake does in the booth.
    matter: Option<Arc<articket_matting::Matter>>,
}

/// One painter's outcome for one photo.
pub struct OfflinePainting {
    pub painter: Painter,
    /// From the first try's start to the painting (or the last error).
    pub took: Duration,
    pub painting: Result<RgbImage, StyleError>,
}

impl Offline {
    /// Starts the configured backend: probes the servers or loads the model.
    pub async fn start(config: Config) -> anyhow::Result<Offline> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let backends = Backends::start(&config, Arc::new(Semaphore::new(threads))).await?;
        let matter = crate::matting::load_matter(&config)?;
        Ok(Offline {
            config,
            backends,
            matter,
        })
    }

    /// The backend that paints ("builtin", "a1111", "comfyui", "local").
    pub fn backend(&self) -> &'static str {
        self.backends.for_retry().backend()
    }

    /// The photo as intake would send it. Without a JPEG (it cannot be made), a server
    /// pool makes one itself and says why it cannot.
    fn jpeg_of(&self, photo: &RgbImage) -> Arc<[u8]> {
        articket_intake::encode_jpeg(photo, self.config.upload.intake.jpeg_quality)
            .map(Into::into)
            .unwrap_or_else(|_| Arc::from(Vec::new()))
    }

    /// What paints, and each server's state (as the start-up banner says it).
    pub fn describe(&self) -> Vec<String> {
        self.backends.describe()
    }

    /// Each server's label and, when it does not answer, why (with the fix for the
    /// known mistakes).
    pub fn servers(&self) -> Vec<(String, Option<String>)> {
        self.backends
            .pool()
            .map(|p| p.status().servers)
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.label, s.last_error))
            .collect()
    }

    /// One painting by the configured backend itself (never the fallback), in one try:
    /// the check that it can paint, and how long it takes.
    pub async fn test_painting(
        &self,
        photo: RgbImage,
        painter: Painter,
    ) -> Result<(RgbImage, Duration), StyleError> {
        let jpeg = self.jpeg_of(&photo);
        let job = PaintJob {
            painter,
            visit_id: "check-ai".into(),
            photo: Arc::new(photo),
            photo_jpeg: jpeg,
            seed: 1,
            matte: None,
            faces: None,
        };
        let started = std::time::Instant::now();
        let limit = Duration::from_secs(self.config.painting.timeout_secs.max(1));
        let painting =
            tokio::time::timeout(limit, self.backends.active().paint(job, Arc::new(|_| {})))
                .await
                .map_err(|_| {
                    StyleError::Unavailable(format!("no result within {} s", limit.as_secs()))
                })??;
        Ok((painting, started.elapsed()))
    }

    /// Paints `photo` (after intake) as each of `painters`, all at once. `name` names
    /// the photo to the backends (they caption a photo once per name).
    pub async fn paint(
        &self,
        name: &str,
        photo: RgbImage,
        painters: &[Painter],
        seed: u64,
    ) -> StudioResult<Vec<OfflinePainting>> {
        let jpeg = self.jpeg_of(&photo);
        let person = match &self.matter {
            Some(m) => {
                let (m, p) = (m.clone(), photo.clone());
                tokio::task::spawn_blocking(move || crate::matting::person_in(&m, &p))
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            None => None,
        };
        let faces = person
            .as_ref()
            .map(|p| Arc::new(crate::matting::faces_of(&p.faces)));
        let matte = person.and_then(|p| p.matte).map(Arc::new);
        let photo = Arc::new(photo);
        let cfg = &self.config.painting;
        let deadline = Instant::now() + Duration::from_secs(cfg.visit_timeout_secs);
        let primary = self.backends.for_retry();
        let each = painters.iter().map(|&painter| {
            let job = PaintJob {
                painter,
                visit_id: name.into(),
                photo: photo.clone(),
                photo_jpeg: jpeg.clone(),
                seed,
                matte: matte.clone(),
                faces: faces.clone(),
            };
            let primary = primary.clone();
            async move {
                let tries = Tries {
                    first: 1,
                    not_before: None,
                    deadline,
                };
                let started = std::time::Instant::now();
                let painting =
                    paint_tries(&self.backends, cfg, &primary, &job, tries, &Quiet).await?;
                Ok(OfflinePainting {
                    painter,
                    took: started.elapsed(),
                    painting,
                })
            }
        });
        futures_util::future::try_join_all(each).await
    }
}

/// Offline tries report nothing beyond the log lines every try writes.
struct Quiet;

impl TryEvents for Quiet {
    fn started(&self, _attempt: u32) -> BoxFuture<'_, StudioResult<()>> {
        Box::pin(async { Ok(()) })
    }

    fn failed<'a>(
        &'a self,
        _attempt: u32,
        _backend: &'static str,
        _error: &'a StyleError,
        _pause: Option<Duration>,
    ) -> BoxFuture<'a, StudioResult<()>> {
        Box::pin(async { Ok(()) })
    }

    fn progress(&self) -> Progress {
        Arc::new(|_| {})
    }
}
