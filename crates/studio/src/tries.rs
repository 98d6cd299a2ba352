//! One painter's tries, wherever the painting goes (a booth's visit or `articket
//! stylize`): each try on the backend that can take it (the fallback when every server
//! is down), a time limit per try from the moment a painter starts on it (time in a
//! queue does not count), a pause with jitter between tries, and all tries within the
//! deadline. Errors that cannot heal by trying again end it at once. What the tries
//! mean to the caller (rows in the store, events to a room, lines on a terminal) is
//! the caller's [`TryEvents`].

use std::sync::Arc;
use std::time::Duration;

use articket_config::PaintingConfig;
use articket_style::{BoxFuture, PaintJob, Progress, StyleError, Stylizer, Update};
use image::RgbImage;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::backends::Backends;
use crate::clock::now;
use crate::error::StudioResult;

/// Which tries a job makes, from when, and until when.
#[derive(Debug, Clone, Copy)]
pub struct Tries {
    /// The number of the first try (a resumed job goes on counting).
    pub first: u32,
    /// When the first may start (Unix seconds), after a pause a restart interrupted.
    pub not_before: Option<i64>,
    /// When every try must have ended.
    pub deadline: Instant,
}

/// What a painter's tries tell the one who asked for the painting.
pub trait TryEvents: Send + Sync {
    /// A backend took up try `attempt`: it is painting now.
    fn started(&self, attempt: u32) -> BoxFuture<'_, StudioResult<()>>;

    /// Try `attempt` on `backend` failed with `error`; the next try starts after
    /// `pause`, or there is none.
    fn failed<'a>(
        &'a self,
        attempt: u32,
        backend: &'static str,
        error: &'a StyleError,
        pause: Option<Duration>,
    ) -> BoxFuture<'a, StudioResult<()>>;

    /// Where the backend's progress goes.
    fn progress(&self) -> Progress;
}

/// Paints `job` in up to `cfg.attempts` tries: the painting, or the last try's error.
/// Only the caller's own errors (from `events`) end it with `Err`.
pub async fn paint_tries(
    backends: &Backends,
    cfg: &PaintingConfig,
    primary: &Arc<dyn Stylizer>,
    job: &PaintJob,
    tries: Tries,
    events: &dyn TryEvents,
) -> StudioResult<Result<RgbImage, StyleError>> {
    let painter = job.painter;
    let limit = Duration::from_secs(cfg.timeout_secs);
    let deadline = tries.deadline;
    if let Some(at) = tries.not_before {
        let wait = Duration::from_secs(u64::try_from(at - now()).unwrap_or(0));
        tokio::time::sleep_until(deadline.min(Instant::now() + wait)).await;
    }
    let mut last = StyleError::Unavailable("no try was left".to_owned());
    for attempt in tries.first..=cfg.attempts {
        let stylizer = backends.for_try(primary);
        let started = Arc::new(Notify::new());
        let work = stylizer.paint(
            job.clone(),
            noting_start(events.progress(), started.clone()),
        );
        tokio::pin!(work);
        let mut try_deadline = deadline;
        let mut running = false;
        let outcome = loop {
            tokio::select! {
                result = &mut work => break result,
                _ = started.notified(), if !running => {
                    // Queued until a painter takes it: only now does the try count.
                    running = true;
                    try_deadline = deadline.min(Instant::now() + limit);
                    events.started(attempt).await?;
                }
                _ = tokio::time::sleep_until(try_deadline) => {
                    break Err(StyleError::Unavailable(if try_deadline == deadline {
                        "the visit ran out of time".to_owned()
                    } else {
                        format!("no result within {} s", limit.as_secs())
                    }));
                }
            }
        };
        let error = match outcome {
            Ok(painting) => return Ok(Ok(painting)),
            Err(e) => e,
        };
        let backend = stylizer.backend();
        let pause = if !error.is_retryable() {
            tracing::error!(
                visit_id = %job.visit_id,
                painter = painter.id(),
                attempt,
                backend,
                "painter refused, not retrying: {error}"
            );
            None
        } else {
            tracing::warn!(
                visit_id = %job.visit_id,
                painter = painter.id(),
                attempt,
                attempts = cfg.attempts,
                backend,
                "painter failed: {error}"
            );
            let pause = backoff(cfg.backoff_ms, attempt);
            let in_time = Instant::now() + pause < deadline;
            if attempt < cfg.attempts && !in_time {
                tracing::warn!(
                    visit_id = %job.visit_id,
                    painter = painter.id(),
                    "no time left before the deadline"
                );
            }
            (attempt < cfg.attempts && in_time).then_some(pause)
        };
        events.failed(attempt, backend, &error, pause).await?;
        last = error;
        match pause {
            Some(pause) => tokio::time::sleep(pause).await,
            None => break,
        }
    }
    Ok(Err(last))
}

/// `progress`, with the backend's start also noted on `started`.
fn noting_start(progress: Progress, started: Arc<Notify>) -> Progress {
    Arc::new(move |update: Update| {
        if matches!(update, Update::Started) {
            started.notify_one();
        }
        progress(update)
    })
}

/// Exponential backoff with jitter: about base, 2×base, 4×base…, each between half and
/// one and a half of that, so retries from many visits do not arrive in step.
fn backoff(base_ms: u64, attempt: u32) -> Duration {
    let nominal = base_ms.saturating_mul(1 << (attempt - 1).min(16));
    let jitter = 0.5 + rand::random::<f64>();
    Duration::from_millis((nominal as f64 * jitter) as u64)
}
