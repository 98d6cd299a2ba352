//! The studio runs a visit's painters: each painter is its own job with its own retries,
//! so one failure never costs the visitor the others. When all are finished it renders
//! the ticket from whatever succeeded. Every state change is written to the store first
//! and then announced to the room.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use articket_store::{ResultStatus, Visit, VisitStatus};
use articket_style::{PaintJob, Painter, Progress, StyleError, Stylizer, Update};
use articket_ticket::{TicketContent, TicketPainting};
use image::RgbImage;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::AppResult;
use crate::events::RoomEvent;
use crate::state::AppState;
use crate::views::file_url;

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
    /// The backend chosen for this visit (the configured one, or the fallback).
    pub stylizer: Arc<dyn Stylizer>,
}

/// Rebuilds a stored visit's sitting from its photo file, for a restart or a retry.
pub async fn load_sitting(state: &AppState, visit: &Visit) -> AppResult<Result<Sitting, String>> {
    let Some(photo_file) = visit.photo_file.clone() else {
        return Ok(Err("the visit has no photo".into()));
    };
    let st = state.clone();
    let decoded = state
        .cpu(move || -> Result<(Vec<u8>, RgbImage), String> {
            let bytes = st
                .store
                .files()
                .read(&photo_file)
                .map_err(|e| e.to_string())?;
            let img = image::load_from_memory(&bytes)
                .map_err(|e| e.to_string())?
                .into_rgb8();
            Ok((bytes, img))
        })
        .await?;
    Ok(decoded.map(|(jpeg, img)| Sitting {
        room_id: visit.room_id.clone(),
        visit_id: visit.id.clone(),
        label: crate::admin::visit_label(visit.number, visit.name.as_deref()),
        photo: Arc::new(img),
        photo_jpeg: jpeg.into(),
        stylizer: state.stylizer_for_retry(),
    }))
}

/// Starts painting in the background and returns at once.
/// The task is registered under the visit, so deleting the visit stops its painters.
pub fn spawn(state: AppState, sitting: Sitting, painters: Vec<Painter>) {
    let visit_id = sitting.visit_id.clone();
    let (registered, wait_registered) = tokio::sync::oneshot::channel::<()>();
    let st = state.clone();
    let task = tokio::spawn(async move {
        // Start only once registered, so the entry never outlives the task.
        let _ = wait_registered.await;
        let outcome = paint_visit(&st, &sitting, painters).await;
        st.painting_tasks.finished(&sitting.visit_id);
        match outcome {
            Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => {
                tracing::info!(visit_id = %sitting.visit_id, "the visit was deleted while painting")
            }
            Err(e) => {
                tracing::error!(visit_id = %sitting.visit_id, "painting the visit failed: {}", e.msg)
            }
            Ok(()) => {}
        }
    });
    state.painting_tasks.started(&visit_id, task.abort_handle());
    let _ = registered.send(());
}

/// Picks up visits a crash or restart interrupted: painters that had not finished run
/// again from the stored photo; finished results are kept as they are.
pub async fn resume_unfinished(state: &AppState) -> AppResult<usize> {
    let ids = state.db(|s| s.unfinished_visits()).await?;
    for visit_id in &ids {
        let id = visit_id.clone();
        let Some(visit) = state.db(move |s| s.visit(&id)).await? else {
            continue;
        };
        let painters: Vec<Painter> = visit
            .results
            .iter()
            .filter(|r| r.status != ResultStatus::Done)
            .filter_map(|r| r.painter.parse().ok())
            .collect();
        let decoded = load_sitting(state, &visit).await?;
        match decoded {
            Ok(sitting) => {
                tracing::info!(visit_id, "resuming {} unfinished painters", painters.len());
                state.operator.log.info(format!(
                    "{}: resumed after a restart ({} painters to go)",
                    sitting.label,
                    painters.len()
                ));
                spawn(state.clone(), sitting, painters);
            }
            Err(e) => {
                tracing::error!(
                    visit_id,
                    "cannot resume: the stored photo is unreadable: {e}"
                );
                state.operator.log.error(format!(
                    "{}: cannot resume after a restart, the photo is unreadable",
                    crate::admin::visit_label(visit.number, visit.name.as_deref())
                ));
                for p in painters {
                    fail_painter(state, &visit.room_id, visit_id, p.id()).await?;
                }
                let label = crate::admin::visit_label(visit.number, visit.name.as_deref());
                finish_visit(state, &visit.room_id, visit_id, &label).await?;
            }
        }
    }
    Ok(ids.len())
}

async fn paint_visit(state: &AppState, sitting: &Sitting, painters: Vec<Painter>) -> AppResult<()> {
    let seed = seed_of(&sitting.visit_id);
    let deadline = Instant::now() + Duration::from_secs(state.config.painting.visit_timeout_secs);
    // The visit's place in the painters' queue, shared by its jobs: announced on change.
    let place = Arc::new(AtomicUsize::new(usize::MAX));
    // Dropping the set (when the visit's task is aborted) aborts every painter.
    let mut jobs = tokio::task::JoinSet::new();
    for painter in painters {
        let job = PaintJob {
            painter,
            visit_id: sitting.visit_id.as_str().into(),
            photo: sitting.photo.clone(),
            photo_jpeg: sitting.photo_jpeg.clone(),
            seed,
        };
        let visit = VisitRef {
            state: state.clone(),
            room_id: sitting.room_id.clone(),
            visit_id: sitting.visit_id.clone(),
            label: sitting.label.clone(),
            place: place.clone(),
        };
        let stylizer = sitting.stylizer.clone();
        jobs.spawn(async move { paint_one(&visit, job, stylizer, deadline).await });
    }
    while let Some(job) = jobs.join_next().await {
        match job {
            // The visit was deleted while it was painted: its painting was dropped.
            Ok(Err(e)) if e.status == axum::http::StatusCode::NOT_FOUND => {
                tracing::info!(visit_id = %sitting.visit_id, "the visit was deleted while painting")
            }
            Ok(Err(e)) => tracing::error!("a painter job failed: {}", e.msg),
            Err(e) => tracing::error!("a painter job panicked: {e}"),
            Ok(Ok(())) => {}
        }
    }
    finish_visit(state, &sitting.room_id, &sitting.visit_id, &sitting.label).await
}

/// One job's view of its visit.
struct VisitRef {
    state: AppState,
    room_id: String,
    visit_id: String,
    label: String,
    place: Arc<AtomicUsize>,
}

/// One painter with retries. Each try has `painting.timeout_secs` from the moment a
/// painter starts on it (time in a queue does not count); all tries together end at the
/// visit's deadline. Errors that cannot heal by trying again end it at once. Store
/// errors end the job; painting errors are retried.
async fn paint_one(
    visit: &VisitRef,
    job: PaintJob,
    primary: Arc<dyn Stylizer>,
    deadline: Instant,
) -> AppResult<()> {
    let (state, room_id, visit_id) = (
        &visit.state,
        visit.room_id.as_str(),
        visit.visit_id.as_str(),
    );
    let painter = job.painter.id();
    let cfg = &state.config.painting;
    let limit = Duration::from_secs(cfg.timeout_secs);
    for attempt in 1..=cfg.attempts {
        // When every server is down, a retry goes to the fallback if there is one.
        let stylizer = if primary.available() {
            primary.clone()
        } else {
            state.fallback.clone().unwrap_or_else(|| primary.clone())
        };
        let started = Arc::new(Notify::new());
        let work = stylizer.paint(job.clone(), reporter(visit, painter, started.clone()));
        tokio::pin!(work);
        let mut try_deadline = deadline;
        let mut running = false;
        let outcome = loop {
            tokio::select! {
                result = &mut work => break result,
                _ = started.notified(), if !running => {
                    // Queued until a painter takes it: only now is it "painting", and
                    // only now does the try count.
                    running = true;
                    try_deadline = deadline.min(Instant::now() + limit);
                    let (v, p) = (visit_id.to_owned(), painter.to_owned());
                    state.db(move |s| s.result_started(&v, &p, now())).await?;
                    announce(state, room_id, visit_id, painter, ResultStatus::Painting, None);
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
            Ok(painting) => {
                let quality = state.config.upload.jpeg_quality;
                let jpeg = state
                    .cpu(move || articket_intake::encode_jpeg(&painting, quality))
                    .await?;
                match jpeg {
                    Ok(jpeg) => {
                        let (v, p) = (visit_id.to_owned(), painter.to_owned());
                        let file = state
                            .db(move |s| s.put_painting(&v, &p, &jpeg, now()))
                            .await?;
                        announce(
                            state,
                            room_id,
                            visit_id,
                            painter,
                            ResultStatus::Done,
                            Some(file_url(&file)),
                        );
                        state.operator.log.info(format!(
                            "{}: {} finished",
                            visit.label,
                            job.painter.name_en()
                        ));
                        return Ok(());
                    }
                    Err(e) => StyleError::Failed(e.to_string()),
                }
            }
            Err(e) => e,
        };
        let backend = stylizer.backend();
        state.operator.log.warn(format!(
            "{}: {} failed (try {attempt} of {}, {backend}): {error}",
            visit.label,
            job.painter.name_en(),
            cfg.attempts
        ));
        if !error.is_retryable() {
            tracing::error!(
                visit_id,
                painter,
                attempt,
                backend,
                "painter refused, not retrying: {error}"
            );
            break;
        }
        tracing::warn!(
            visit_id,
            painter,
            attempt,
            attempts = cfg.attempts,
            backend,
            "painter failed: {error}"
        );
        if attempt < cfg.attempts {
            let pause = backoff(cfg.backoff_ms, attempt);
            if Instant::now() + pause >= deadline {
                tracing::warn!(
                    visit_id,
                    painter,
                    "no time left before the visit's deadline"
                );
                break;
            }
            tokio::time::sleep(pause).await;
        }
    }
    state.operator.log.error(format!(
        "{}: {} gave up; the visitor may tap \"try again\"",
        visit.label,
        job.painter.name_en()
    ));
    fail_painter(state, room_id, visit_id, painter).await
}

/// Exponential backoff with jitter: about base, 2×base, 4×base…, each between half and
/// one and a half of that, so retries from many visits do not arrive in step.
fn backoff(base_ms: u64, attempt: u32) -> Duration {
    let nominal = base_ms.saturating_mul(1 << (attempt - 1).min(16));
    let jitter = 0.5 + rand::random::<f64>();
    Duration::from_millis((nominal as f64 * jitter) as u64)
}

async fn fail_painter(
    state: &AppState,
    room_id: &str,
    visit_id: &str,
    painter: &str,
) -> AppResult<()> {
    let (v, p) = (visit_id.to_owned(), painter.to_owned());
    state
        .db(move |s| s.result_finished(&v, &p, Err(PAINTER_FAILED), now()))
        .await?;
    state.hub.publish(
        room_id,
        &RoomEvent::Painter {
            visit_id: visit_id.to_owned(),
            painter: painter.to_owned(),
            status: ResultStatus::Failed,
            progress: None,
            image_url: None,
            error: Some(PAINTER_FAILED.to_owned()),
        },
    );
    Ok(())
}

/// Renders the ticket from every finished painting and closes the painting phase.
///
/// A quiz visit is closed only once its quiz is complete too: whichever of the painters
/// and the quiz finishes last closes it (see [`finish_quiz_if_painted`]).
async fn finish_visit(
    state: &AppState,
    room_id: &str,
    visit_id: &str,
    label: &str,
) -> AppResult<()> {
    let lock = state.finishing.of(visit_id);
    let _closing = lock.lock().await;
    let id = visit_id.to_owned();
    let Some(visit) = state.db(move |s| s.visit(&id)).await? else {
        return Ok(());
    };
    if visit.status.is_terminal() {
        return Ok(()); // closed already
    }
    if visit.mode == "quiz" && visit.personality.is_none() {
        tracing::debug!(visit_id, "painted; the ticket waits for the quiz");
        return Ok(());
    }
    let has_results = visit.results.iter().any(|r| r.image_file.is_some());
    let png = if !has_results {
        None
    } else {
        let st = state.clone();
        let v = visit.clone();
        let rendered = state
            .cpu(move || -> Result<Vec<u8>, String> {
                st.tickets
                    .phone_ticket_png(&ticket_content(&st, &v)?)
                    .map_err(|e| e.to_string())
            })
            .await?;
        match rendered {
            Ok(png) => Some(png),
            Err(e) => {
                tracing::error!(visit_id, "the ticket could not be rendered: {e}");
                None
            }
        }
    };
    // Stored and recorded in one blocking step, which runs to its end even if this task
    // is stopped meanwhile, so a ticket file never outlives its record.
    let v = visit_id.to_owned();
    let (status, ticket_file) = state
        .db(move |s| s.close_painting(&v, png.as_deref(), now()))
        .await?;
    let painted = visit
        .results
        .iter()
        .filter(|r| r.image_file.is_some())
        .count();
    if ticket_file.is_some() {
        state.operator.log.info(format!(
            "{label}: ticket ready ({painted} of {} paintings)",
            visit.results.len()
        ));
    } else {
        state
            .operator
            .log
            .error(format!("{label}: no ticket, no painting succeeded"));
    }
    state.hub.publish(
        room_id,
        &RoomEvent::VisitDone {
            visit_id: visit_id.to_owned(),
            status,
            ticket_url: ticket_file.as_deref().map(file_url),
        },
    );
    if ticket_file.is_some() && state.config.print.enabled && state.config.print.auto {
        let (st, v) = (state.clone(), visit_id.to_owned());
        tokio::spawn(async move {
            match crate::print::print_visit(&st, &v).await {
                Ok(outcome) => tracing::info!(visit_id = %v, "automatic print: {outcome:?}"),
                Err(e) => tracing::error!(visit_id = %v, "automatic print failed: {}", e.msg),
            }
        });
    }
    Ok(())
}

/// Closes a quiz visit whose quiz just finished, if its painters are all done. (If
/// they are still at work, the last of them closes it.)
pub async fn finish_quiz_if_painted(state: &AppState, visit: &Visit) -> AppResult<()> {
    let painted = visit.results.iter().all(|r| r.status.is_terminal());
    if visit.status == VisitStatus::Painting && painted {
        let label = crate::admin::visit_label(visit.number, visit.name.as_deref());
        finish_visit(state, &visit.room_id, &visit.id, &label).await?;
    }
    Ok(())
}

/// The quiz part of a quiz visit's ticket: its type, its painter with their
/// description, and the good and bad matches with that painter's line about each.
fn quiz_part(state: &AppState, visit: &Visit) -> Option<articket_ticket::QuizPart> {
    let outcome = articket_quiz::TypeCode::parse(visit.personality.as_deref()?)?.outcome();
    let texts = state.quiz.painter_text(outcome.painter);
    let slot = |p: Painter, ko: &str, en: &str| articket_ticket::QuizSlot {
        painter: p.id().to_owned(),
        label_ko: p.name_ko().to_owned(),
        label_en: p.name_en().to_owned(),
        line_ko: ko.to_owned(),
        line_en: en.to_owned(),
    };
    Some(articket_ticket::QuizPart {
        code: outcome.code.to_string(),
        painter: slot(outcome.painter, &texts.ko, &texts.en),
        good: slot(outcome.good, &texts.good_ko, &texts.good_en),
        bad: slot(outcome.bad, &texts.bad_ko, &texts.bad_en),
    })
}

/// What a visit's ticket shows: its finished paintings, name, date, number and link.
/// Reads the painting files, so call it off the async threads.
pub fn ticket_content(state: &AppState, visit: &Visit) -> Result<TicketContent, String> {
    let mut paintings = Vec::new();
    for r in &visit.results {
        let (Ok(painter), Some(file)) = (r.painter.parse::<Painter>(), &r.image_file) else {
            continue;
        };
        paintings.push(TicketPainting {
            painter: painter.id().to_owned(),
            label_en: painter.name_en().to_owned(),
            label_ko: painter.name_ko().to_owned(),
            tagline: None,
            image: state.store.files().read(file).map_err(|e| e.to_string())?,
        });
    }
    Ok(TicketContent {
        name: visit.name.clone().unwrap_or_default(),
        date: ticket_date(visit.created_at),
        serial: Some(visit.number - 1 + state.config.ticket.serial_start),
        link: Some(format!("{}/v/{}", state.base_url, visit.id)),
        paintings,
        quiz: quiz_part(state, visit),
    })
}

fn announce(
    state: &AppState,
    room_id: &str,
    visit_id: &str,
    painter: &str,
    status: ResultStatus,
    image_url: Option<String>,
) {
    state.hub.publish(
        room_id,
        &RoomEvent::Painter {
            visit_id: visit_id.to_owned(),
            painter: painter.to_owned(),
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
/// sockets quiet), the visit's place in the queue when it changes, and the start of work.
fn reporter(visit: &VisitRef, painter: &str, started: Arc<Notify>) -> Progress {
    let last = AtomicU32::new(0);
    let (hub, room_id, visit_id, painter, place) = (
        visit.state.hub.clone(),
        visit.room_id.clone(),
        visit.visit_id.clone(),
        painter.to_owned(),
        visit.place.clone(),
    );
    Arc::new(move |update: Update| match update {
        Update::Started => {
            // Once one painter of the visit is at work, its place in line is moot.
            place.store(SERVED, Ordering::Relaxed);
            started.notify_one()
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
                        painter: painter.clone(),
                        status: ResultStatus::Painting,
                        progress: Some(pct as f32 / 100.0),
                        image_url: None,
                        error: None,
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

fn ticket_date(created_at: i64) -> String {
    use chrono::TimeZone;
    chrono::Local
        .timestamp_opt(created_at, 0)
        .single()
        .map_or_else(String::new, |d| d.format("%Y.%m.%d").to_string())
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Deletes a visit's records and files, and tells its room (the kiosk resets).
pub async fn delete_visit(state: &AppState, room_id: &str, visit_id: &str) -> AppResult<()> {
    let id = visit_id.to_owned();
    let files = state.db(move |s| s.delete_visit(&id)).await?;
    // Painters still at work on it stop: nothing more is painted for a deleted visit.
    if state.painting_tasks.abort(visit_id) {
        tracing::info!(visit_id, "stopped its painters");
    }
    for name in files {
        if let Err(e) = state.store.files().remove(&name) {
            tracing::warn!(visit_id, "cannot delete {name}: {e}");
        }
    }
    state.hub.publish(
        room_id,
        &RoomEvent::VisitDeleted {
            visit_id: visit_id.to_owned(),
        },
    );
    Ok(())
}

/// The retention sweeper: every so often, deletes visits older than
/// `privacy.retention_secs`, with their files. Runs until the server closes.
pub async fn sweep_forever(state: AppState) {
    let retention = state.config.privacy.retention_secs;
    let every = Duration::from_secs((retention / 4).clamp(1, 60));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = state.closed() => return,
        }
        let cutoff = now() - retention as i64;
        let expired = match state.db(move |s| s.expired_visits(cutoff)).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!("retention sweep failed: {}", e.msg);
                continue;
            }
        };
        for visit_id in expired {
            let id = visit_id.clone();
            let room_id = match state.db(move |s| s.visit(&id)).await {
                Ok(Some(v)) => v.room_id,
                _ => continue,
            };
            match delete_visit(&state, &room_id, &visit_id).await {
                Ok(()) => {
                    tracing::info!(visit_id, "deleted after the retention period");
                    state
                        .operator
                        .log
                        .info("A visit's photos were deleted after the retention period");
                }
                Err(e) => tracing::error!(visit_id, "cannot delete an expired visit: {}", e.msg),
            }
        }
    }
}
