//! The kiosk's side of a room: create one, read its state, show its QR code.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Json;
use axum::Router;
use serde::{Deserialize, Serialize};

use articket_rooms::{new_id, token_hash};
use articket_store::Room;

use super::ids::check_id;
use crate::auth;
use crate::error::{AppError, AppResult, Code};
use crate::state::AppState;
use crate::views::VisitView;
use articket_studio::clock::now;

/// /api: the kiosk's rooms.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rooms", post(create))
        .route("/rooms/{room_id}", get(show))
        .route("/rooms/{room_id}/qr.svg", get(qr_svg))
}

#[derive(Serialize)]
pub struct NewRoom {
    room_id: String,
    kiosk_token: String,
    join_url: String,
    qr_svg_url: String,
    /// The kiosk resets after this long without activity in a visit.
    idle_reset_secs: u64,
    finished_hold_secs: u64,
    /// The kiosk shows a finished visit's results this long.
    results_secs: u64,
    /// The kiosk shows a print button.
    print_enabled: bool,
    /// The waiting screen re-reads its attract loop this often.
    attract_refresh_secs: u64,
}

/// `POST /api/rooms`: a fresh room for the next visitor.
pub async fn create(State(state): State<AppState>) -> AppResult<(StatusCode, Json<NewRoom>)> {
    if state.operator.paused() {
        return Err(super::admin::paused_error());
    }
    // No painter answers and nothing falls back: the kiosk shows the painters resting.
    state.studio.accepting_visitors()?;
    // A kiosk holds one waiting room at a time and makes a fresh one every few minutes,
    // so many waiting rooms in the last hour mean someone is making them on purpose.
    let since = now() - 3600;
    let open = state.db(move |s| s.open_rooms(since)).await?;
    if open >= state.config().limits.max_open_rooms {
        return Err(AppError::too_many(
            Code::TooManyRooms,
            "The booth has too many QR codes waiting. Please try again in a minute.",
            60,
        ));
    }
    let (room_id, kiosk_token, secret) = (new_id(), new_id(), new_id());
    let room = Room {
        id: room_id.clone(),
        kiosk_token_hash: token_hash(&kiosk_token),
        join_secret: Some(secret.clone()),
        visit_id: None,
        created_at: now(),
    };
    state.db(move |s| s.create_room(&room)).await?;
    let join_url = join_url(&state, &room_id, &secret);
    Ok((
        StatusCode::CREATED,
        Json(NewRoom {
            qr_svg_url: format!("/api/rooms/{room_id}/qr.svg?kiosk_token={kiosk_token}"),
            room_id,
            kiosk_token,
            join_url,
            idle_reset_secs: state.config().kiosk.idle_reset_secs,
            finished_hold_secs: state.config().kiosk.finished_hold_secs,
            results_secs: state.config().kiosk.results_secs,
            attract_refresh_secs: state.config().kiosk.attract_refresh_secs,
            print_enabled: state.config().print.enabled,
        }),
    ))
}

#[derive(Deserialize)]
pub struct KioskQuery {
    pub kiosk_token: Option<String>,
}

#[derive(Serialize)]
pub struct RoomView {
    room_id: String,
    joined: bool,
    visit: Option<VisitView>,
}

/// `GET /api/rooms/{room_id}`: the room and its visit, for the kiosk.
pub async fn show(
    State(state): State<AppState>,
    Path(room_id): Path<String>,
    Query(q): Query<KioskQuery>,
    headers: HeaderMap,
) -> AppResult<Json<RoomView>> {
    let room = load_room(&state, &room_id).await?;
    if !auth::is_kiosk(&room, &headers, q.kiosk_token.as_deref()) {
        return Err(AppError::no_access());
    }
    let visit = match room.visit_id.clone() {
        Some(v) => state.db(move |s| s.visit(&v)).await?,
        None => None,
    };
    Ok(Json(RoomView {
        room_id,
        joined: room.visit_id.is_some(),
        visit: visit.as_ref().map(|v| {
            VisitView::from(v)
                .with_promo(state.studio.tickets.promo.is_some())
                .with_retention(state.config().privacy.retention_secs)
        }),
    }))
}

/// `GET /api/rooms/{room_id}/qr.svg?kiosk_token=…`: the join link as a QR code. Only
/// the kiosk may see it, since it carries the join secret.
pub async fn qr_svg(
    State(state): State<AppState>,
    Path(room_id): Path<String>,
    Query(q): Query<KioskQuery>,
    headers: HeaderMap,
) -> AppResult<impl IntoResponse> {
    let room = load_room(&state, &room_id).await?;
    if !auth::is_kiosk(&room, &headers, q.kiosk_token.as_deref()) {
        return Err(AppError::no_access());
    }
    let secret = room.join_secret.ok_or_else(|| {
        AppError::new(
            StatusCode::GONE,
            Code::RoomTaken,
            "A phone already joined this room; the kiosk will show a new code.",
        )
    })?;
    let svg = crate::qr::svg(&join_url(&state, &room_id, &secret))
        .ok_or_else(|| AppError::internal("qr", "the join URL does not fit in a QR code"))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg))
}

/// The room with this id; 404 for a malformed or unknown id.
pub(crate) async fn load_room(state: &AppState, room_id: &str) -> AppResult<Room> {
    check_id(room_id)?;
    let id = room_id.to_owned();
    state
        .db(move |s| s.room(&id))
        .await?
        .ok_or_else(AppError::not_found)
}

/// The secret travels in the URL fragment, which browsers never send to a server, so it
/// stays out of every access log; the phone page posts it to `/api/join`.
fn join_url(state: &AppState, room_id: &str, secret: &str) -> String {
    format!("{}/j/{room_id}#{secret}", state.reach.base_url)
}
