//! `GET /api/rooms/{room_id}/events`: the room's WebSocket. The kiosk authenticates
//! with `?kiosk_token=`, the phone with its cookie. The socket only pushes; clients
//! re-read `GET /api/visits/{id}` after every (re)connect, so nothing is lost.

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
use crate::state::AppState;

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
    if !same_site(&headers, &state.config.server.public_url) {
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
    let subscription = state.hub.subscribe(&room_id);
    Ok(ws
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| pump(socket, subscription, state)))
}

/// Whether a WebSocket upgrade comes from the booth's own pages: no `Origin` (not a
/// browser), or an `Origin` naming the host the request was sent to, or
/// `server.public_url`. A cookie alone is not enough: a page on another site could open
/// a socket with the visitor's cookie (cross-site WebSocket hijacking).
fn same_site(headers: &HeaderMap, public_url: &str) -> bool {
    let Some(origin) = headers.get("origin") else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let authority = |url: &str| -> Option<String> {
        let rest = url.split_once("://")?.1;
        let host = rest.split('/').next()?;
        (!host.is_empty()).then(|| host.to_ascii_lowercase())
    };
    let Some(origin_host) = authority(&origin) else {
        return false; // "null" and anything unparsable
    };
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| h.trim().to_ascii_lowercase());
    if host.as_deref() == Some(origin_host.as_str()) {
        return true;
    }
    let public = public_url.trim().trim_end_matches('/').to_ascii_lowercase();
    !public.is_empty()
        && authority(&public).is_some_and(|p| p == origin_host)
        && public.split("://").next() == origin.split("://").next()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", host.parse().unwrap());
        if let Some(o) = origin {
            h.insert("origin", o.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_the_booths_own_pages_may_open_a_socket() {
        let none = "";
        assert!(same_site(&headers(None, "192.168.1.5:8080"), none));
        assert!(same_site(
            &headers(Some("http://192.168.1.5:8080"), "192.168.1.5:8080"),
            none
        ));
        assert!(same_site(
            &headers(Some("http://LOCALHOST:8080"), "localhost:8080"),
            none
        ));
        assert!(!same_site(
            &headers(Some("https://evil.example"), "192.168.1.5:8080"),
            none
        ));
        assert!(!same_site(
            &headers(Some("http://192.168.1.5:9999"), "192.168.1.5:8080"),
            none
        ));
        assert!(!same_site(&headers(Some("null"), "192.168.1.5:8080"), none));
        // Behind a proxy the Host header is the proxy's upstream; public_url names the
        // origin visitors use.
        let public = "https://booth.example.org/";
        assert!(same_site(
            &headers(Some("https://booth.example.org"), "127.0.0.1:8080"),
            public
        ));
        assert!(!same_site(
            &headers(Some("http://booth.example.org"), "127.0.0.1:8080"),
            public
        ));
        assert!(!same_site(
            &headers(Some("https://evil.example"), "127.0.0.1:8080"),
            public
        ));
    }
}
