//! A visit: read its state, upload its one photo, and say "finished".

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use articket_store::{FileKind, Visit, VisitMode, VisitStatus};
use articket_style::Painter;

use super::ids::check_id;
use super::rooms::KioskQuery;
use crate::auth::{self, Viewer};
use crate::clock::now;
use crate::error::{AppError, AppResult, Code};
use crate::events::RoomEvent;
use crate::painting::{self, Sitting};
use crate::state::AppState;
use crate::views::{file_url, VisitView};
use crate::{finishing, retention, tickets};

/// Loads the visit and checks that the caller is its kiosk or its phone.
async fn visit_for(
    state: &AppState,
    visit_id: &str,
    headers: &HeaderMap,
    kiosk_token: Option<&str>,
) -> AppResult<(Visit, Viewer)> {
    check_id(visit_id)?;
    let id = visit_id.to_owned();
    let visit = state
        .db(move |s| s.visit(&id))
        .await?
        .ok_or_else(AppError::not_found)?;
    let room_id = visit.room_id.clone();
    let room = state
        .db(move |s| s.room(&room_id))
        .await?
        .ok_or_else(AppError::not_found)?;
    let viewer =
        auth::viewer(&room, Some(&visit), headers, kiosk_token).ok_or_else(AppError::no_access)?;
    Ok((visit, viewer))
}

/// Loads the visit for its phone; anyone else (its kiosk included) gets "not found".
async fn phone_visit(state: &AppState, visit_id: &str, headers: &HeaderMap) -> AppResult<Visit> {
    match visit_for(state, visit_id, headers, None).await? {
        (visit, Viewer::Phone) => Ok(visit),
        _ => Err(AppError::no_access()),
    }
}

/// `GET /api/visits/{visit_id}`: the whole visit, for its kiosk or its phone.
pub async fn show(
    State(state): State<AppState>,
    Path(visit_id): Path<String>,
    Query(q): Query<KioskQuery>,
    headers: HeaderMap,
) -> AppResult<Json<VisitView>> {
    let (visit, _) = visit_for(&state, &visit_id, &headers, q.kiosk_token.as_deref()).await?;
    Ok(Json(
        VisitView::from(&visit)
            .with_promo(state.tickets.promo.is_some())
            .with_retention(state.config.privacy.retention_secs),
    ))
}

/// `POST /api/visits/{visit_id}/photo`: multipart `photo`, `name`, optional `painter`s.
pub async fn upload_photo(
    State(state): State<AppState>,
    Path(visit_id): Path<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let visit = phone_visit(&state, &visit_id, &headers).await?;
    if let Some(axum::Extension(axum::extract::ConnectInfo(addr))) = peer {
        let ip = state.reach.client_ip(addr.ip(), &headers);
        if let Err(wait) = state.uploads.hit(ip) {
            return Err(AppError::too_many(
                Code::TooManyUploads,
                "Too many photos from this device in a minute. Please wait a moment.",
                wait,
            ));
        }
    }
    if visit.status != VisitStatus::Waiting {
        return Err(articket_store::StoreError::PhotoAlreadyReceived.into());
    }
    // Know the painters can work before taking the photo.
    let stylizer = state.stylizer_for_new_visit()?;
    // Take a place in the intake pool before reading the body: when the booth is
    // swamped, the phone hears 503 at once and nobody's photo sits in memory unread.
    let admission = state.workers.intake.admit()?;
    let form = read_form(multipart?, state.config.upload.max_name_chars).await?;
    let photo_bytes = form.photo.ok_or_else(|| {
        AppError::bad_request(Code::PhotoMissing, "Please choose a photo to upload.")
    })?;
    if form.name.is_empty() {
        return Err(AppError::bad_request(
            Code::NameRequired,
            "Please type your name for the ticket.",
        ));
    }
    let quiz = quiz_chosen(&state, form.mode.as_deref())?;
    let painters = if quiz {
        // The quiz may pick any painter, and shows two more as matches.
        Painter::ALL.to_vec()
    } else if form.painters.is_empty() {
        state.config.painting.painters.clone()
    } else {
        form.painters
    };

    let photo = admission
        .process(photo_bytes, state.config.upload.intake)
        .await?;
    let photo_jpeg: Arc<[u8]> = photo.jpeg.into();

    let (v, name, jpeg) = (visit_id.clone(), form.name.clone(), photo_jpeg.clone());
    let on_screen = form.on_screen;
    let ids = painters.clone();
    let photo_file = state
        .db(move |s| {
            let file = s.files().put(&jpeg, FileKind::Jpeg)?;
            if let Err(e) = s.start_painting(&v, &name, &file, &ids, now()) {
                // Another upload won the race; do not leave its loser's file behind.
                let _ = s.files().remove(&file);
                return Err(e);
            }
            if quiz {
                s.set_quiz_mode(&v)?;
            }
            if on_screen {
                s.set_on_screen(&v, true)?;
            }
            Ok(file)
        })
        .await?;

    let label = crate::views::visit_label(visit.number, Some(&form.name));
    state.operator.log.info(format!(
        "{label}: photo received, {} painters at work ({})",
        painters.len(),
        stylizer.backend()
    ));
    state.hub.publish(
        &visit.room_id,
        &RoomEvent::PhotoReceived {
            visit_id: visit_id.clone(),
            name: form.name,
            photo_url: file_url(&photo_file),
        },
    );
    painting::spawn(
        state.clone(),
        Sitting {
            room_id: visit.room_id,
            visit_id: visit_id.clone(),
            label: label.clone(),
            photo: Arc::new(photo.image),
            photo_jpeg,
            stylizer,
        },
        painters,
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "visit_id": visit_id, "status": "painting" })),
    ))
}

/// `POST /api/visits/{visit_id}/finish`: the visitor is done; the kiosk may reset.
pub async fn finish(
    State(state): State<AppState>,
    Path(visit_id): Path<String>,
    headers: HeaderMap,
) -> AppResult<StatusCode> {
    let visit = phone_visit(&state, &visit_id, &headers).await?;
    let v = visit_id.clone();
    state.db(move |s| s.visitor_finished(&v, now())).await?;
    state
        .hub
        .publish(&visit.room_id, &RoomEvent::VisitorFinished { visit_id });
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/visits/{visit_id}/painters/{painter}/retry`: the phone's "try again" on
/// a painter that failed. The visit paints that one painter again and gets a new ticket.
pub async fn retry_painter(
    State(state): State<AppState>,
    Path((visit_id, painter)): Path<(String, String)>,
    headers: HeaderMap,
) -> AppResult<StatusCode> {
    phone_visit(&state, &visit_id, &headers).await?;
    let painter: Painter = painter.parse().map_err(|_| AppError::not_found())?;
    let stylizer = state.stylizer_for_new_visit()?;
    let (v, p) = (visit_id.clone(), painter);
    if !state.db(move |s| s.retry_painter(&v, p, now())).await? {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            Code::NothingToRetry,
            "Only a painter that failed can be tried again, once the others are finished.",
        ));
    }
    let id = visit_id.clone();
    let visit = state
        .db(move |s| s.visit(&id))
        .await?
        .ok_or_else(AppError::not_found)?;
    match painting::load_sitting(&state, &visit).await? {
        Ok(mut sitting) => {
            sitting.stylizer = stylizer;
            painting::spawn(state.clone(), sitting, vec![painter]);
        }
        Err(e) => return Err(AppError::internal("retry: the stored photo", e)),
    }
    state.hub.publish(
        &visit.room_id,
        &RoomEvent::Painter {
            visit_id,
            painter: painter.id().to_owned(),
            status: articket_store::ResultStatus::Queued,
            progress: None,
            image_url: None,
            error: None,
        },
    );
    Ok(StatusCode::ACCEPTED)
}

/// `POST /api/visits/{visit_id}/delete`: "delete my photos now". The phone's visit,
/// its photo, paintings, ticket and records are deleted at once.
pub async fn delete(
    State(state): State<AppState>,
    Path(visit_id): Path<String>,
    headers: HeaderMap,
) -> AppResult<StatusCode> {
    let visit = phone_visit(&state, &visit_id, &headers).await?;
    if visit.status == VisitStatus::Painting {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            Code::StillPainting,
            "The painters are still at work. Delete once they are finished.",
        ));
    }
    retention::delete_visit(&state, &visit.room_id, &visit_id).await?;
    state.operator.log.info(format!(
        "Visit #{}: the visitor deleted their photos",
        visit.number
    ));
    Ok(StatusCode::NO_CONTENT)
}

/// Whether this upload starts a quiz: the booth's `[quiz] mode`, and where it offers
/// both, the visitor's choice (the form's `mode` field; "convert" when absent).
fn quiz_chosen(state: &AppState, asked: Option<&str>) -> AppResult<bool> {
    use crate::config::VisitMode;
    let offered = state.config.quiz.mode;
    match (offered, asked.map(str::trim)) {
        (VisitMode::Quiz, None | Some("quiz")) | (VisitMode::Both, Some("quiz")) => Ok(true),
        (VisitMode::Convert, None | Some("convert"))
        | (VisitMode::Both, None | Some("convert")) => Ok(false),
        (_, Some(other)) => Err(AppError::bad_request(
            Code::ModeUnavailable,
            format!("This booth does not offer the mode {other:?}."),
        )),
    }
}

#[derive(serde::Deserialize)]
pub struct AnswersBody {
    answers: String,
}

/// `POST /api/visits/{visit_id}/answers {"answers": "abba"}`: the quiz so far. Each
/// call sends every answer given, and may only add to what was sent before; the eighth
/// answer settles the visitor's type and painter.
pub async fn answers(
    State(state): State<AppState>,
    Path(visit_id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<AnswersBody>, axum::extract::rejection::JsonRejection>,
) -> AppResult<Json<serde_json::Value>> {
    let visit = phone_visit(&state, &visit_id, &headers).await?;
    let conflict =
        |code: Code, msg: &str| AppError::new(StatusCode::CONFLICT, code, msg.to_owned());
    if visit.mode != VisitMode::Quiz {
        return Err(conflict(Code::NotAQuiz, "This visit has no quiz."));
    }
    if visit.status == VisitStatus::Waiting {
        return Err(conflict(Code::PhotoFirst, "Please send your photo first."));
    }
    if visit.personality.is_some() {
        return Err(conflict(Code::QuizDone, "The quiz is already finished."));
    }
    let req = crate::error::json_body(
        body,
        Code::AnswersMalformed,
        "Send {\"answers\": \"abba…\"}: up to 8 letters, each a or b.",
    )?;
    let text = req.answers.trim().to_ascii_lowercase();
    let given = articket_quiz::Quiz::parse_answers(&text).map_err(|_| {
        AppError::bad_request(
            Code::AnswersMalformed,
            "Answers are up to 8 letters, each a or b.",
        )
    })?;
    let before = visit.answers.clone().unwrap_or_default();
    if !text.starts_with(&before) {
        return Err(conflict(
            Code::AnswersChanged,
            "Earlier answers cannot be changed.",
        ));
    }
    let outcome = (given.len() == articket_quiz::QUESTIONS)
        .then(|| state.quiz.score(&given))
        .transpose()
        .map_err(|e| AppError::internal("quiz scoring", e))?;
    let (v, t, code) = (
        visit_id.clone(),
        text.clone(),
        outcome.map(|o| o.code.to_string()),
    );
    if !state
        .db(move |s| s.record_answers(&v, &t, code.as_deref()))
        .await?
    {
        return Err(conflict(Code::QuizDone, "The quiz is already finished."));
    }
    state.hub.publish(
        &visit.room_id,
        &RoomEvent::Quiz {
            visit_id: visit_id.clone(),
            answered: given.len(),
            personality: outcome.map(|o| o.code.to_string()),
            painter: outcome.map(|o| o.painter.id().to_owned()),
        },
    );
    if let Some(o) = outcome {
        state.operator.log.info(format!(
            "{}: quiz finished, {} → {}",
            crate::views::visit_label(visit.number, visit.name.as_deref()),
            o.code,
            o.painter.name_en()
        ));
        let id = visit_id.clone();
        if let Some(now_visit) = state.db(move |s| s.visit(&id)).await? {
            finishing::finish_quiz_if_painted(&state, &now_visit).await?;
        }
    }
    Ok(Json(serde_json::json!({
        "answered": given.len(),
        "personality": outcome.map(|o| o.code.to_string()),
        "painter": outcome.map(|o| o.painter.id()),
    })))
}

/// `GET /api/quiz`: the booth's mode and the quiz's questions and texts, for the pages.
pub async fn quiz(State(state): State<AppState>) -> Json<serde_json::Value> {
    use crate::config::VisitMode;
    let mode = match state.config.quiz.mode {
        VisitMode::Convert => "convert",
        VisitMode::Quiz => "quiz",
        VisitMode::Both => "both",
    };
    Json(serde_json::json!({ "mode": mode, "quiz": &*state.quiz }))
}

/// `POST /api/visits/{visit_id}/saved`: the phone saved its ticket (for the operator's
/// counters).
pub async fn ticket_saved(
    State(state): State<AppState>,
    Path(visit_id): Path<String>,
    headers: HeaderMap,
) -> AppResult<StatusCode> {
    phone_visit(&state, &visit_id, &headers).await?;
    state.db(move |s| s.ticket_saved(&visit_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/promo`: the booth's promo image (404 when it has none).
pub async fn promo(State(state): State<AppState>) -> AppResult<impl axum::response::IntoResponse> {
    let promo = state
        .tickets
        .promo
        .clone()
        .ok_or_else(AppError::not_found)?;
    let (bytes, kind) = (promo.bytes, promo.content_type);
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, kind),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        bytes,
    ))
}

/// `GET /api/visits/{visit_id}/tickets/{painter}`: the single-painter ticket, one
/// painting large with its tagline, rendered on request (PNG).
pub async fn single_ticket(
    State(state): State<AppState>,
    Path((visit_id, painter)): Path<(String, String)>,
    Query(q): Query<KioskQuery>,
    headers: HeaderMap,
) -> AppResult<impl axum::response::IntoResponse> {
    let (visit, _) = visit_for(&state, &visit_id, &headers, q.kiosk_token.as_deref()).await?;
    let painter: Painter = painter.parse().map_err(|_| AppError::not_found())?;
    let st = state.clone();
    let png = state
        .cpu(move || -> Result<Option<Vec<u8>>, String> {
            let mut content = tickets::ticket_content(&st, &visit)?;
            content.paintings.retain(|p| p.painter == painter.id());
            let Some(p) = content.paintings.first_mut() else {
                return Ok(None);
            };
            let (ko, en) = painter.tagline();
            p.tagline = Some((ko.to_owned(), en.to_owned()));
            st.tickets
                .renderer
                .phone_ticket_png(&content)
                .map(Some)
                .map_err(|e| e.to_string())
        })
        .await?
        .map_err(|e| AppError::internal("single ticket", e))?
        .ok_or_else(AppError::not_found)?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/png"),
            (axum::http::header::CACHE_CONTROL, "private, no-store"),
        ],
        png,
    ))
}

/// `POST /api/visits/{visit_id}/print`: the kiosk prints the visit's ticket.
pub async fn print(
    State(state): State<AppState>,
    Path(visit_id): Path<String>,
    Query(q): Query<KioskQuery>,
    headers: HeaderMap,
) -> AppResult<Json<crate::print::PrintOutcome>> {
    let (_, viewer) = visit_for(&state, &visit_id, &headers, q.kiosk_token.as_deref()).await?;
    if viewer != Viewer::Kiosk {
        return Err(AppError::no_access());
    }
    Ok(Json(crate::print::print_visit(&state, &visit_id).await?))
}

struct UploadForm {
    photo: Option<Vec<u8>>,
    name: String,
    painters: Vec<Painter>,
    /// "convert" or "quiz", where the booth lets the visitor choose.
    mode: Option<String>,
    /// The visitor ticked "show my painting on the booth screen".
    on_screen: bool,
}

impl From<MultipartRejection> for AppError {
    fn from(_: MultipartRejection) -> Self {
        AppError::bad_request(
            Code::UploadMalformed,
            "Send the photo as multipart/form-data with a `photo` field.",
        )
    }
}

async fn read_form(mut multipart: Multipart, max_name_chars: usize) -> AppResult<UploadForm> {
    let mut form = UploadForm {
        photo: None,
        name: String::new(),
        painters: Vec::new(),
        mode: None,
        on_screen: false,
    };
    let too_large = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::PhotoTooLarge,
                "The photo is too large. Please send a smaller photo.",
            )
        } else {
            AppError::bad_request(
                Code::UploadMalformed,
                "The upload was cut off or malformed. Please try again.",
            )
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(too_large)? {
        match field.name() {
            Some("photo") => form.photo = Some(field.bytes().await.map_err(too_large)?.to_vec()),
            Some("name") => {
                form.name = articket_ticket::clean_name(
                    &field.text().await.map_err(too_large)?,
                    max_name_chars,
                )
            }
            Some("mode") => form.mode = Some(field.text().await.map_err(too_large)?),
            // A checked box sends "on" (or the page's "1"); an unchecked one sends nothing.
            Some("on_screen") => {
                let value = field.text().await.map_err(too_large)?;
                form.on_screen = matches!(value.trim(), "on" | "1" | "true");
            }
            Some("painter") => {
                let id = field.text().await.map_err(too_large)?;
                let painter: Painter =
                    id.trim()
                        .parse()
                        .map_err(|e: articket_style::UnknownPainter| {
                            AppError::bad_request(Code::UnknownPainter, e.to_string())
                        })?;
                if !form.painters.contains(&painter) {
                    form.painters.push(painter);
                }
            }
            _ => {} // Unknown fields are ignored, as browsers may add their own.
        }
    }
    Ok(form)
}
