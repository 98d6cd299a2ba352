//! A visit: read its state, upload its one photo, and say "finished".

use axum::extract::multipart::MultipartRejection;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Json;
use axum::Router;

use articket_store::{Visit, VisitStatus};
use articket_studio::NewPhoto;
use articket_style::Painter;

use super::ids::check_id;
use super::rooms::KioskQuery;
use crate::auth::{self, Viewer};
use crate::error::{AppError, AppResult, Code};
use crate::state::AppState;
use crate::views::VisitView;

/// /api: a visit, from its photo to its ticket, the quiz, and deleting it. The photo
/// upload alone takes bodies up to `upload_limit` bytes.
pub fn routes(upload_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/visits/{visit_id}", get(show))
        .route(
            "/visits/{visit_id}/photo",
            post(upload_photo).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/visits/{visit_id}/finish", post(finish))
        .route("/visits/{visit_id}/typing", post(typing))
        .route("/visits/{visit_id}/print", post(print))
        .route("/promo", get(promo))
        .route("/quiz", get(quiz))
        .route("/visits/{visit_id}/answers", post(answers))
        .route("/visits/{visit_id}/saved", post(ticket_saved))
        .route("/visits/{visit_id}/delete", post(delete))
        .route("/visits/{visit_id}/tickets/{painter}", get(single_ticket))
        .route(
            "/visits/{visit_id}/painters/{painter}/retry",
            post(retry_painter),
        )
}

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
            .with_promo(state.studio.tickets.promo.is_some())
            .with_retention(state.config().privacy.retention_secs),
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
    let stylizer = state.studio.painters_ready()?;
    // Take a place in the intake pool before reading the body: when the booth is
    // swamped, the phone hears 503 at once and nobody's photo sits in memory unread.
    let admission = state.intake.admit()?;
    let form = read_form(multipart?, state.config().upload.max_name_chars).await?;
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
        state.config().painting.painters.clone()
    } else {
        form.painters
    };

    let photo = admission
        .process(photo_bytes, state.config().upload.intake)
        .await?;
    state
        .studio
        .receive_photo(
            &visit,
            NewPhoto {
                image: photo.image,
                jpeg: photo.jpeg,
                name: form.name,
                painters,
                quiz,
                on_screen: form.on_screen,
                matte: photo.matte,
                faces: photo.faces.as_deref().map(articket_studio::faces_of),
            },
            stylizer,
        )
        .await?;
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
    state.studio.visitor_finished(&visit).await?;
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
    state.studio.retry_painter(&visit_id, painter).await?;
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
    state.studio.delete_for_visitor(&visit).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether this upload starts a quiz: the booth's `[quiz] mode`, and where it offers
/// both, the visitor's choice (the form's `mode` field; "convert" when absent).
fn quiz_chosen(state: &AppState, asked: Option<&str>) -> AppResult<bool> {
    use articket_config::VisitMode;
    let offered = state.config().quiz.mode;
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

#[derive(serde::Deserialize)]
pub struct TypingBody {
    name: String,
}

/// `POST /api/visits/{visit_id}/typing {"name": "…"}`: the name as the visitor types
/// it, for the kiosk's greeting; only before the photo, and nothing is stored.
pub async fn typing(
    State(state): State<AppState>,
    Path(visit_id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<TypingBody>, axum::extract::rejection::JsonRejection>,
) -> AppResult<StatusCode> {
    let visit = phone_visit(&state, &visit_id, &headers).await?;
    let req = crate::error::json_body(body, Code::TypingMalformed, "Send {\"name\": \"…\"}.")?;
    let name = articket_ticket::clean_name(&req.name, state.config().upload.max_name_chars);
    state.studio.visitor_typing(&visit, &name);
    Ok(StatusCode::NO_CONTENT)
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
    let req = crate::error::json_body(
        body,
        Code::AnswersMalformed,
        "Send {\"answers\": \"abba…\"}: up to 8 letters, each a or b.",
    )?;
    let text = req.answers.trim().to_ascii_lowercase();
    if articket_quiz::Quiz::parse_answers(&text).is_err() {
        return Err(AppError::bad_request(
            Code::AnswersMalformed,
            "Answers are up to 8 letters, each a or b.",
        ));
    }
    let progress = state.studio.answer_quiz(&visit, &text).await?;
    let outcome = progress.outcome;
    Ok(Json(serde_json::json!({
        "answered": progress.answered,
        "personality": outcome.map(|o| o.code.to_string()),
        "painter": outcome.map(|o| o.painter.id()),
    })))
}

/// `GET /api/quiz`: the booth's mode and the quiz's questions and texts, for the pages.
pub async fn quiz(State(state): State<AppState>) -> Json<serde_json::Value> {
    use articket_config::VisitMode;
    let mode = match state.config().quiz.mode {
        VisitMode::Convert => "convert",
        VisitMode::Quiz => "quiz",
        VisitMode::Both => "both",
    };
    Json(serde_json::json!({ "mode": mode, "quiz": &*state.studio.quiz }))
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
        .studio
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
    let png = state
        .studio
        .single_ticket(visit, painter)
        .await?
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
) -> AppResult<Json<articket_studio::PrintOutcome>> {
    let (_, viewer) = visit_for(&state, &visit_id, &headers, q.kiosk_token.as_deref()).await?;
    if viewer != Viewer::Kiosk {
        return Err(AppError::no_access());
    }
    Ok(Json(state.studio.print(&visit_id).await?))
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
