//! The operator page's API under `/api/admin/`: log in, today's counters, backend
//! health, the live log, the gallery (when enabled), pause and kiosk reset. Every route
//! but `login` needs the operator's session cookie; kiosk tokens and phone cookies do
//! not open it.

use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::admin::{SESSION_COOKIE, SESSION_SECS};
use crate::error::{json_body, AppError, AppResult, Code};
use crate::state::AppState;
use crate::views::file_url;
use articket_studio::events::RoomEvent;

/// /api/admin: the operator's calls.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/status", get(status))
        .route("/admin/log", get(log))
        .route("/admin/gallery", get(gallery))
        .route("/admin/charts/{name}", get(chart))
        .route("/admin/showcase", get(showcase))
        .route("/admin/visits/{number}/delete", post(delete_visit))
        .route("/admin/pause", post(pause))
        .route("/admin/reset-kiosk", post(reset_kiosk))
}

/// Proof that the request comes from a logged-in operator.
pub struct OperatorSession;

impl FromRequestParts<AppState> for OperatorSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        if state.operator.has_session(&parts.headers) {
            Ok(OperatorSession)
        } else {
            Err(AppError::new(
                StatusCode::UNAUTHORIZED,
                Code::AdminLogin,
                "Please log in to the operator page.",
            ))
        }
    }
}

#[derive(Deserialize)]
pub struct Login {
    password: String,
}

/// `POST /api/admin/login {password}`: sets the session cookie.
pub async fn login(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Json<Login>, JsonRejection>,
) -> AppResult<Response> {
    // Served without connection info (a router driven in-process), all callers share
    // one count.
    let ip = peer.map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |p| {
        state.reach.client_ip(p.0 .0.ip(), &headers)
    });
    let req = json_body(body, Code::LoginMalformed, "Send {\"password\"} as JSON.")?;
    if let Err(secs) = state.operator.logins.hit(ip) {
        return Err(AppError::too_many(
            Code::TooManyLogins,
            "Too many password tries. Please wait a minute.",
            secs,
        ));
    }
    let st = state.clone();
    let ok = tokio::task::spawn_blocking(move || st.operator.check_password(&req.password))
        .await
        .map_err(|e| AppError::internal("password check", e))?;
    if !ok {
        state
            .studio
            .log
            .warn(format!("Wrong operator password from {ip}"));
        return Err(AppError::new(
            StatusCode::UNAUTHORIZED,
            Code::AdminPassword,
            "That password is not right.",
        ));
    }
    let token = state.operator.open_session();
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}{}",
        if state.reach.https(&headers) {
            "; Secure"
        } else {
            ""
        }
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| AppError::internal("cookie", e))?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// `POST /api/admin/logout`.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.operator.close_session(&headers);
    let gone = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    (
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            HeaderValue::from_str(&gone).unwrap_or(HeaderValue::from_static("")),
        )],
    )
        .into_response()
}

/// `GET /api/admin/status`: today's counters, the backend, rooms, prints and switches.
pub async fn status(
    _: OperatorSession,
    State(state): State<AppState>,
) -> AppResult<Json<serde_json::Value>> {
    let midnight = local_midnight();
    let today = state.db(move |s| s.day_stats(midnight)).await?;
    let since = articket_studio::clock::now() - 3600;
    let open_rooms = state.db(move |s| s.open_rooms(since)).await?;
    let (prints, _, _) = state.db(|s| s.print_log(10)).await?;
    Ok(Json(serde_json::json!({
        "paused": state.operator.paused(),
        "gallery": state.config().admin.gallery,
        "today": today,
        "backend": state.studio.backends.status_json(),
        // Why the painters cannot take work now (server errors included), if they cannot.
        "outage": state.studio.backends.outage(),
        "rooms": {
            "waiting_for_phone": open_rooms,
            "watched": state.studio.hub.watched_rooms(),
            "painting": state.studio.visits_painting(),
        },
        "prints": prints,
    })))
}

/// `GET /api/admin/charts/{visits.svg|time.svg}`: today's charts, by the hour.
pub async fn chart(
    _: OperatorSession,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> AppResult<impl IntoResponse> {
    let midnight = local_midnight();
    let hours = state.db(move |s| s.hourly_stats(midnight, 24)).await?;
    let svg = match name.as_str() {
        "visits.svg" => crate::charts::visits_per_hour(&hours, "방문 / 시간 · Visits per hour"),
        "time.svg" => {
            crate::charts::time_to_painting(&hours, "그림까지 걸린 시간 · Time to a painting")
        }
        _ => return Err(AppError::not_found()),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    ))
}

#[derive(Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    after: u64,
}

/// `GET /api/admin/log?after=SEQ`: log lines newer than `after`.
pub async fn log(
    _: OperatorSession,
    State(state): State<AppState>,
    Query(q): Query<LogQuery>,
) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "lines": state.studio.log.after(q.after, 200) }))
}

/// `GET /api/admin/gallery`: the latest paintings, when `[admin] gallery` is on.
pub async fn gallery(
    _: OperatorSession,
    State(state): State<AppState>,
) -> AppResult<Json<serde_json::Value>> {
    if !state.config().admin.gallery {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            Code::GalleryOff,
            "The gallery is off. Set [admin] gallery = true to show recent paintings here.",
        ));
    }
    let recent = state.db(|s| s.recent_paintings(24)).await?;
    Ok(paintings_json(&recent))
}

/// `{"paintings": [{visit_number, painter, image_url}]}`.
fn paintings_json(paintings: &[articket_store::RecentPainting]) -> Json<serde_json::Value> {
    let paintings: Vec<_> = paintings
        .iter()
        .map(|p| {
            serde_json::json!({
                "visit_number": p.visit_number,
                "painter": p.painter,
                "image_url": file_url(&p.image_file),
            })
        })
        .collect();
    Json(serde_json::json!({ "paintings": paintings }))
}

/// `GET /api/admin/showcase`: the paintings the kiosks' attract loop shows now (those of
/// visitors who agreed), so the operator can see them and take a visit off.
pub async fn showcase(
    _: OperatorSession,
    State(state): State<AppState>,
) -> AppResult<Json<serde_json::Value>> {
    let limit = state.config().kiosk.attract_paintings;
    let shown = state.db(move |s| s.showcase(limit)).await?;
    Ok(paintings_json(&shown))
}

/// `POST /api/admin/visits/{number}/delete`: the operator deletes a visit (its photo,
/// paintings, ticket and records), as the visitor's "delete my photos" does; painters
/// still at work on it stop.
pub async fn delete_visit(
    _: OperatorSession,
    State(state): State<AppState>,
    Path(number): Path<String>,
) -> AppResult<StatusCode> {
    let number: i64 = number.parse().map_err(|_| AppError::not_found())?;
    state.studio.delete_by_number(number).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct Pause {
    paused: bool,
}

/// `POST /api/admin/pause {paused}`: while paused, no new QR codes and no new phones.
pub async fn pause(
    _: OperatorSession,
    State(state): State<AppState>,
    body: Result<Json<Pause>, JsonRejection>,
) -> AppResult<StatusCode> {
    let req = json_body(body, Code::PauseMalformed, "Send {\"paused\": true|false}.")?;
    state.operator.set_paused(req.paused);
    state
        .studio
        .hub
        .publish_all(&RoomEvent::BoothPaused { paused: req.paused });
    state.studio.log.info(if req.paused {
        "The operator paused the booth"
    } else {
        "The operator resumed the booth"
    });
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/admin/reset-kiosk`: every kiosk shows a fresh QR code. Visits under way
/// go on; their phones keep their results.
pub async fn reset_kiosk(_: OperatorSession, State(state): State<AppState>) -> StatusCode {
    let rooms = state.studio.hub.publish_all(&RoomEvent::KioskReset);
    state
        .studio
        .log
        .info(format!("The operator reset the kiosk ({rooms} rooms told)"));
    StatusCode::NO_CONTENT
}

/// The start of today in the booth's time zone, as Unix seconds.
fn local_midnight() -> i64 {
    use chrono::{Local, TimeZone};
    let today = Local::now().date_naive();
    today
        .and_hms_opt(0, 0, 0)
        .and_then(|t| Local.from_local_datetime(&t).earliest())
        .map_or(0, |t| t.timestamp())
}

/// The 503 a paused booth answers to new rooms and joins.
pub fn paused_error() -> AppError {
    AppError::unavailable(
        Code::BoothPaused,
        "The booth is taking a short break. Please come back in a few minutes.",
        10,
    )
}
