//! `GET /api/rooms/{room_id}/events`: the room's WebSocket. The kiosk authenticates
//! with `?kiosk_token=`, the phone with its cookie. The socket only pushes; clients
//! re-read `GET /api/visits/{id}` after every (re)connect, so nothing is lost.

use axum::routing::get;
use axum::Router;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use articket_rooms::Subscription;

use super::rooms::{load_room, KioskQuery};
use crate::auth;
use crate::error::{AppError, AppResult, Code};
use crate::origin::same_origin;
use crate::state::AppState;

/// /api: a room's event socket.
pub fn routes() -> Router<AppState> {
    Router::new().route("/rooms/{room_id}/events", get(socket))
}

const PING_EVERY: Duration = Duration::from_secs(20);
/// Clients have nothing to say on the socket but pongs and a close; more messages than
/// this in `CHATTER_WINDOW` close the socket with 1008 (policy violation).
const MAX_CHATTER: u32 = 20;
const CHATTER_WINDOW: Duration = Duration::from_secs(10);
/// The largest message a client may send.
const MAX_MESSAGE_BYTES: usize = 4096;

pub async fn socket(
    State(state): State<AppState>,
    Path(room_id): Path<String>,
    Query(q): Query<KioskQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> AppResult<Response> {
    if !same_origin(&headers, &state.config().server.public_url) {
        tracing::warn!(origin = ?headers.get("origin"), "WebSocket from another site refused");
        return Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            Code::OtherSite,
            "This booth's live updates are only for its own pages.",
        ));
    }
    let room = load_room(&state, &room_id).await?;
    let visit = match room.visit_id.clone() {
        Some(v) => state.db(move |s| s.visit(&v)).await?,
        None => None,
    };
    auth::viewer(&room, visit.as_ref(), &headers, q.kiosk_token.as_deref())
        .ok_or_else(AppError::no_access)?;
    // Subscribe before the upgrade, so no event between now and the client's state
    // read can slip through the gap.
    let subscription = state.studio.hub.subscribe(&room_id);
    Ok(ws
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| pump(socket, subscription, state)))
}

async fn pump(mut socket: WebSocket, mut events: Subscription, state: AppState) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let (mut window_start, mut chatter) = (tokio::time::Instant::now(), 0u32);
    loop {
        tokio::select! {
            event = events.recv() => {
                let text = match event {
                    Ok(json) => json.to_string(),
                    // Too slow to keep up: tell the client to re-read the state.
                    Err(RecvError::Lagged(_)) => r#"{"type":"resync"}"#.to_owned(),
                    Err(RecvError::Closed) => break,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                // Clients have nothing to say; anything but a close is counted and
                // dropped, and a flood ends the socket.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {
                    if window_start.elapsed() >= CHATTER_WINDOW {
                        (window_start, chatter) = (tokio::time::Instant::now(), 0);
                    }
                    chatter += 1;
                    if chatter > MAX_CHATTER {
                        let _ = socket
                            .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                                code: 1008,
                                reason: "too many messages".into(),
                            })))
                            .await;
                        break;
                    }
                }
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
            _ = state.closed() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
        }
    }
}
