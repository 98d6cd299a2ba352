//! Painting a visit: each painter is its own job with its own retries, so one failure
//! never costs the visitor the others. Every state change is written to the store first
//! and then announced to the room. When the last painter ends, [`crate::finishing`]
//! closes the visit.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use articket_store::{PainterResult, ResultStatus, Visit};
use articket_style::{BoxFuture, PaintJob, Painter, Progress, StyleError, Stylizer, Update};
use image::{GrayImage, RgbImage};
use tokio::time::Instant;

use crate::clock::now;
use crate::error::{StudioError, StudioResult};
use crate::events::file_url;
use crate::events::RoomEvent;
use crate::finishing::finish_visit;
use crate::log::visit_label;
use crate::studio::Studio;
use crate::tries::{paint_tries, Tries, TryEvents};

/// The message a visitor sees on a painter that gave up. Details go to the log.
const PAINTER_FAILED: &str = "This painter could not finish. 이 화가는 그림을 완성하지 못했어요.";

/// What a visit's painters work from.
pub struct Sitting {
    pub room_id: String,
    pub visit_id: String,
    /// How the operator log names the visit: "Visit #12 (Kim)".
    pub label: String,
    pub photo: Arc<RgbImage>,
    pub photo_jpeg: Arc<[u8]>,
    /// Which pixels of the photo are the person, when the booth has a matting model.
    pub matte: Option<Arc<GrayImage>>,
    /// The faces intake found, for a fresh visit (a reloaded one looks again).
    pub faces: Option<Arc<Vec<articket_style::faces::Face>>>,
    /// The backend chosen for this visit (the configured one, or the fallback).
    pub stylizer: Arc<dyn Stylizer>,
}

/// A matte as the PNG stored with the visit; `None` if it cannot be encoded.
pub(crate) fn matte_png(matte: &GrayImage) -> Option<Vec<u8>> {
    let mut png = Vec::new();
    matte
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .ok()?;
    Some(png)
}

/// Rebuilds a stored visit's sitting from its photo file, for a restart or a retry.
pub async fn load_sitting(studio: &Studio, visit: &Visit) -> StudioResult<Result<Sitting, String>> {
    let Some(photo_file) = visit.photo_file.clone() else {
        return Ok(Err("the visit has no photo".into()));
    };
    let st = studio.clone();
    let matte_file = visit.matte_file.clone();
    let decoded = studio
        .cpu(
            move || -> Result<(Vec<u8>, RgbImage, Option<GrayImage>), String> {
                let bytes = st
                    .store
                    .files()
                    .read(&photo_file)
                    .map_err(|e| e.to_string())?;
                let img = image::load_from_memory(&bytes)
                    .map_err(|e| e.to_string())?
                    .into_rgb8();
                // A matte that cannot be read back is left out: the painters do without.
                let matte = matte_file
                    .and_then(|f| st.store.files().read(&f).ok())
                    .and_then(|png| image::load_from_memory(&png).ok())
                    .map(|m| m.into_luma8())
                    .filter(|m| m.dimensions() == img.dimensions());
                Ok((bytes, img, matte))
            },
        )
        .await?;
    Ok(decoded.map(|(jpeg, img, matte)| Sitting {
        room_id: visit.room_id.clone(),
        visit_id: visit.id.clone(),
        label: visit_label(visit.number, visit.name.as_deref()),
        photo: Arc::new(img),
        photo_jpeg: jpeg.into(),
        matte: matte.map(Arc::new),
        faces: None,
        stylizer: studio.backends.for_retry(),
    }))
}

/// One painter's job as the worker takes it up: its painter, the number of the try to
/// make first, and when that try may start (after a failed try's pause).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    pub painter: Painter,
    pub first_try: u32,
    /// Unix seconds.
    pub not_before: Option<i64>,
}

impl Job {
    /// A painter's first try, now.
    pub fn new(painter: Painter) -> Job {
        Job {
            painter,
            first_try: 1,
            not_before: None,
        }
    }

    /// The job of an unfinished row after a restart: a try the restart interrupted is
    /// made again under its own number; a painter waiting for its next try waits out the
    /// rest of its pause. None when the row has ended.
    pub fn resumed(row: &PainterResult, tries: u32) -> Option<Job> {
        let first_try = match row.status {
            ResultStatus::Done | ResultStatus::Failed => return None,
            ResultStatus::Painting => row.attempts.max(1),
            ResultStatus::Queued => row.attempts + 1,
        };
        Some(Job {
            painter: row.painter,
            first_try: first_try.min(tries.max(1)),
            not_before: row.next_try_at,
        })
    }
}

/// Sets `painters` of a stored visit to work in the background and returns at once:
/// the one way painting starts, for a new photo, a "try again" and a restart alike.
/// Each painter's row in the store is its job (queued, painting, done, failed, with its
/// tries), so a restart finds exactly the painters that had not finished. The task is
/// registered under the visit, so deleting the visit stops its painters.
pub fn enqueue(studio: Studio, sitting: Sitting, jobs: Vec<Job>) {
    let visit_id = sitting.visit_id.clone();
    let (registered, wait_registered) = tokio::sync::oneshot::channel::<()>();
    let st = studio.clone();
    let task = tokio::spawn(async move {
        // Start only once registered, so the entry never outlives the task.
        let _ = wait_registered.await;
        let outcome = paint_visit(&st, &sitting, jobs).await;
        st.running.tasks.finished(&sitting.visit_id);
        match outcome {
            Err(StudioError::VisitGone) => {
                tracing::info!(visit_id = %sitting.visit_id, "the visit was deleted while painting")
            }
            Err(e) => {
                tracing::error!(visit_id = %sitting.visit_id, "painting the visit failed: {e}")
            }
            Ok(()) => {}
        }
    });
    studio.running.tasks.started(&visit_id, task.abort_handle());
    let _ = registered.send(());
}

/// Picks up visits a crash or restart interrupted: painters that had not finished run
/// again from the stored photo; finished results are kept as they are.
pub async fn resume_unfinished(studio: &Studio) -> StudioResult<usize> {
    let ids = studio.db(|s| s.unfinished_visits()).await?;
    for visit_id in &ids {
        let id = visit_id.clone();
        let Some(visit) = studio.db(move |s| s.visit(&id)).await? else {
            continue;
        };
        let tries = studio.config.painting.attempts;
        let jobs: Vec<Job> = visit
            .results
            .iter()
            .filter_map(|r| Job::resumed(r, tries))
            .collect();
        let decoded = load_sitting(studio, &visit).await?;
        match decoded {
            Ok(sitting) => {
                tracing::info!(visit_id, "resuming {} unfinished painters", jobs.len());
                studio.log.info(format!(
                    "{}: resumed after a restart ({} painters to go)",
                    sitting.label,
                    jobs.len()
                ));
                enqueue(studio.clone(), sitting, jobs);
            }
            Err(e) => {
                tracing::error!(
                    visit_id,
                    "cannot resume: the stored photo is unreadable: {e}"
                );
                studio.log.error(format!(
                    "{}: cannot resume after a restart, the photo is unreadable",
                    visit_label(visit.number, visit.name.as_deref())
                ));
                for job in jobs {
                    fail_painter(studio, &visit.room_id, visit_id, job.painter).await?;
                }
                let label = visit_label(visit.number, visit.name.as_deref());
                finish_visit(studio, &visit.room_id, visit_id, &label).await?;
            }
        }
    }
    Ok(ids.len())
}

async fn paint_visit(studio: &Studio, sitting: &Sitting, todo: Vec<Job>) -> StudioResult<()> {
    let seed = seed_of(&sitting.visit_id);
    let deadline = Instant::now() + Duration::from_secs(studio.config.painting.visit_timeout_secs);
    // The visit's place in the painters' queue, shared by its jobs: announced on change.
    let place = Arc::new(AtomicUsize::new(usize::MAX));
    // Dropping the set (when the visit's task is aborted) aborts every painter.
    let mut jobs = tokio::task::JoinSet::new();
    for Job {
        painter,
        first_try,
        not_before,
    } in todo
    {
        let job = PaintJob {
            painter,
            visit_id: sitting.visit_id.as_str().into(),
            photo: sitting.photo.clone(),
            photo_jpeg: sitting.photo_jpeg.clone(),
            seed,
            matte: sitting.matte.clone(),
            faces: sitting.faces.clone(),
        };
        let visit = VisitRef {
            studio: studio.clone(),
            room_id: sitting.room_id.clone(),
            visit_id: sitting.visit_id.clone(),
            label: sitting.label.clone(),
            place: place.clone(),
        };
        let stylizer = sitting.stylizer.clone();
        let tries = Tries {
            first: first_try,
            not_before,
            deadline,
        };
        jobs.spawn(async move { paint_one(&visit, job, stylizer, tries).await });
    }
    while let Some(job) = jobs.join_next().await {
        match job {
            // The visit was deleted while it was painted: its painting was dropped.
            Ok(Err(StudioError::VisitGone)) => {
                tracing::info!(visit_id = %sitting.visit_id, "the visit was deleted while painting")
            }
            Ok(Err(e)) => tracing::error!("a painter job failed: {e}"),
            Err(e) => tracing::error!("a painter job panicked: {e}"),
            Ok(Ok(())) => {}
        }
    }
    finish_visit(studio, &sitting.room_id, &sitting.visit_id, &sitting.label).await
}

/// One job's view of its visit.
struct VisitRef {
    studio: Studio,
    room_id: String,
    visit_id: String,
    label: String,
    place: Arc<AtomicUsize>,
}

/// One painter of a visit: its tries, each recorded in the store and announced to the
/// room, and then its painting stored, or the painter marked failed.
async fn paint_one(
    visit: &VisitRef,
    job: PaintJob,
    primary: Arc<dyn Stylizer>,
    tries: Tries,
) -> StudioResult<()> {
    let (studio, room_id, visit_id) = (
        &visit.studio,
        visit.room_id.as_str(),
        visit.visit_id.as_str(),
    );
    let painter = job.painter;
    let cfg = &studio.config.painting;
    let events = VisitTries { visit, painter };
    let outcome = paint_tries(&studio.backends, cfg, &primary, &job, tries, &events).await?;
    let painting = match outcome {
        Ok(painting) => Arc::new(painting),
        Err(_) => {
            studio.log.error(format!(
                "{}: {} gave up; the visitor may tap \"try again\"",
                visit.label,
                painter.name_en()
            ));
            return fail_painter(studio, room_id, visit_id, painter).await;
        }
    };
    let quality = studio.config.upload.intake.jpeg_quality;
    let pixels = painting.clone();
    let jpeg = studio
        .cpu(move || articket_intake::encode_jpeg(&pixels, quality))
        .await?;
    let jpeg = match jpeg {
        Ok(jpeg) => jpeg,
        Err(e) => {
            tracing::error!(
                visit_id,
                painter = painter.id(),
                "the painting cannot be stored: {e}"
            );
            return fail_painter(studio, room_id, visit_id, painter).await;
        }
    };
    let v = visit_id.to_owned();
    let file = studio
        .db(move |s| s.put_painting(&v, painter, &jpeg, now()))
        .await?;
    studio.running.paintings.keep(visit_id, painter, painting);
    announce(
        studio,
        room_id,
        visit_id,
        painter,
        ResultStatus::Done,
        Some(file_url(&file)),
    );
    studio
        .log
        .info(format!("{}: {} finished", visit.label, painter.name_en()));
    Ok(())
}

/// A visit's painter's tries: each start and failure stored (so a restart knows where
/// the job stood), announced to the room, and written to the operator log.
struct VisitTries<'a> {
    visit: &'a VisitRef,
    painter: Painter,
}

impl TryEvents for VisitTries<'_> {
    fn started(&self, attempt: u32) -> BoxFuture<'_, StudioResult<()>> {
        Box::pin(async move {
            let (studio, painter) = (&self.visit.studio, self.painter);
            let v = self.visit.visit_id.clone();
            studio
                .db(move |s| s.result_started(&v, painter, attempt, now()))
                .await?;
            announce(
                studio,
                &self.visit.room_id,
                &self.visit.visit_id,
                painter,
                ResultStatus::Painting,
                None,
            );
            Ok(())
        })
    }

    fn failed<'a>(
        &'a self,
        attempt: u32,
        backend: &'static str,
        error: &'a StyleError,
        pause: Option<Duration>,
    ) -> BoxFuture<'a, StudioResult<()>> {
        Box::pin(async move {
            let (studio, painter) = (&self.visit.studio, self.painter);
            studio.log.warn(format!(
                "{}: {} failed (try {attempt} of {}, {backend}): {error}",
                self.visit.label,
                painter.name_en(),
                studio.config.painting.attempts
            ));
            if let Some(pause) = pause {
                // The job waits queued, durably: a restart keeps the pause and the count.
                let (v, e) = (self.visit.visit_id.clone(), error.to_string());
                let due = now() + pause.as_secs_f64().ceil() as i64;
                studio
                    .db(move |s| s.result_retry_at(&v, painter, &e, due, now()))
                    .await?;
            }
            Ok(())
        })
    }

    fn progress(&self) -> Progress {
        reporter(self.visit, self.painter)
    }
}

async fn fail_painter(
    studio: &Studio,
    room_id: &str,
    visit_id: &str,
    painter: Painter,
) -> StudioResult<()> {
    let v = visit_id.to_owned();
    studio
        .db(move |s| s.result_finished(&v, painter, Err(PAINTER_FAILED), now()))
        .await?;
    studio.hub.publish(
        room_id,
        &RoomEvent::Painter {
            visit_id: visit_id.to_owned(),
            painter,
            status: ResultStatus::Failed,
            progress: None,
            image_url: None,
            error: Some(PAINTER_FAILED.to_owned()),
        },
    );
    Ok(())
}

fn announce(
    studio: &Studio,
    room_id: &str,
    visit_id: &str,
    painter: Painter,
    status: ResultStatus,
    image_url: Option<String>,
) {
    studio.previews.clear(visit_id, painter);
    studio.hub.publish(
        room_id,
        &RoomEvent::Painter {
            visit_id: visit_id.to_owned(),
            painter,
            status,
            progress: None,
            image_url,
            error: None,
        },
    );
}

/// A visit's place once any of its painters started.
const SERVED: usize = usize::MAX - 1;

/// The callback a backend reports to: progress in steps of at least 10 % (to keep
/// sockets quiet), and the visit's place in the queue when it changes.
fn reporter(visit: &VisitRef, painter: Painter) -> Progress {
    let last = AtomicU32::new(0);
    let studio = visit.studio.clone();
    let (hub, room_id, visit_id, painter, place) = (
        visit.studio.hub.clone(),
        visit.room_id.clone(),
        visit.visit_id.clone(),
        painter,
        visit.place.clone(),
    );
    Arc::new(move |update: Update| match update {
        Update::Started => {
            // Once one painter of the visit is at work, its place in line is moot.
            place.store(SERVED, Ordering::Relaxed);
        }
        Update::Queued { visits_ahead } => {
            let before = place.load(Ordering::Relaxed);
            if before != SERVED && place.swap(visits_ahead, Ordering::Relaxed) != visits_ahead {
                hub.publish(
                    &room_id,
                    &RoomEvent::Queue {
                        visit_id: visit_id.clone(),
                        visits_ahead,
                    },
                );
            }
        }
        Update::Progress(fraction) => {
            let pct = (fraction.clamp(0.0, 1.0) * 100.0) as u32;
            if pct >= last.load(Ordering::Relaxed) + 10 {
                last.store(pct, Ordering::Relaxed);
                hub.publish(
                    &room_id,
                    &RoomEvent::Painter {
                        visit_id: visit_id.clone(),
                        painter,
                        status: ResultStatus::Painting,
                        progress: Some(pct as f32 / 100.0),
                        image_url: None,
                        error: None,
                    },
                );
            }
        }
        Update::Preview(jpeg) => {
            // Announced to this room only; the URL dies with the next preview. A
            // deleted visit's painter may still be finishing a step: nothing is kept.
            if !studio.running.tasks.is_painting(&visit_id) {
                return;
            }
            if let Some(url) = studio.previews.offer(&visit_id, painter, jpeg) {
                hub.publish(
                    &room_id,
                    &RoomEvent::Preview {
                        visit_id: visit_id.clone(),
                        painter,
                        url,
                    },
                );
            }
        }
    })
}

/// The visit id's first 64 bits: a stable seed, so a visit always paints the same.
fn seed_of(visit_id: &str) -> u64 {
    u64::from_str_radix(visit_id.get(..16).unwrap_or("0"), 16).unwrap_or(0)
}
