//! `POST /api/join`: a phone trades the QR code's secret for its own visit and a
//! first-party cookie. Same origin as the pages, so iOS Safari keeps the cookie.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use axum::Router;
use serde::Deserialize;

use articket_rooms::{new_id, same_secret, token_hash};

use crate::auth;
use crate::error::{AppError, AppResult, Code};
use crate::state::AppState;
use articket_studio::clock::now;
use articket_studio::events::RoomEvent;

/// /api: a phone joining a room.
pub fn routes() -> Router<AppState> {
    Router::new().route("/join", post(join))
}

#[derive(Deserialize)]
pub struct JoinRequest {
    room_id: String,
    secret: String,
}

/// How long the phone keeps access to its visit.
const COOKIE_MAX_AGE_SECS: u64 = 30 * 24 * 3600;

fn invalid_code() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        Code::RoomNotFound,
        "This QR code is not valid. Please scan the code on the kiosk screen.",
    )
}

pub async fn join(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<JoinRequest>, JsonRejection>,
) -> AppResult<Response> {
    let req = crate::error::json_body(
        body,
        Code::JoinMalformed,
        "Send {\"room_id\", \"secret\"} as JSON.",
    )?;
    if !articket_rooms::is_id(&req.room_id) {
        return Err(invalid_code());
    }
    let room_id = req.room_id.clone();
    let room = state
        .db(move |s| s.room(&room_id))
        .await?
        .ok_or_else(invalid_code)?;

    if let Some(visit_id) = room.visit_id.clone() {
        // The same phone opening the link again gets its own visit back.
        let v = visit_id.clone();
        let visit = state.db(move |s| s.visit(&v)).await?;
        if visit.as_ref().is_some_and(|v| auth::is_phone(v, &headers)) {
            return Ok(Json(serde_json::json!({ "visit_id": visit_id })).into_response());
        }
        return Err(articket_store::StoreError::RoomTaken.into());
    }
    if state.operator.paused() {
        return Err(super::admin::paused_error());
    }
    state.studio.accepting_visitors()?;
    if !room
        .join_secret
        .as_deref()
        .is_some_and(|s| same_secret(s, &req.secret))
    {
        return Err(invalid_code());
    }

    let (visit_id, token) = (new_id(), new_id());
    let (r, v, t) = (req.room_id.clone(), visit_id.clone(), token_hash(&token));
    state.db(move |s| s.join_room(&r, &v, &t, now())).await?;
    state.studio.hub.publish(
        &req.room_id,
        &RoomEvent::PhoneJoined {
            visit_id: visit_id.clone(),
        },
    );

    let secure = state.reach.https(&headers);
    let cookie = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={COOKIE_MAX_AGE_SECS}{}",
        auth::cookie_name(&visit_id),
        if secure { "; Secure" } else { "" }
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| AppError::internal("cookie", e))?;
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(serde_json::json!({ "visit_id": visit_id })),
    )
        .into_response())
}
