//! The kiosk's attract loop: `GET /api/rooms/{room_id}/showcase` (the kiosk's own
//! room token) and the sample paintings, `GET /api/samples/{painter}`.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Json;
use axum::Router;
use serde::Serialize;

use articket_style::Painter;

use super::rooms::{load_room, KioskQuery};
use crate::auth;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::views::file_url;

/// /api: the kiosk's attract loop and the painters' samples.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rooms/{room_id}/showcase", get(show))
        .route("/samples/{painter}", get(sample))
}

#[derive(Serialize)]
pub struct Showcase {
    /// Newest first.
    paintings: Vec<ShowcasePainting>,
    /// No visitor agreed yet: these are the built-in painters' samples.
    samples: bool,
}

#[derive(Serialize)]
struct ShowcasePainting {
    painter: Painter,
    image_url: String,
}

/// `GET /api/rooms/{room_id}/showcase`: what the waiting screen cycles through.
pub async fn show(
    State(state): State<AppState>,
    Path(room_id): Path<String>,
    Query(q): Query<KioskQuery>,
    headers: HeaderMap,
) -> AppResult<Json<Showcase>> {
    let room = load_room(&state, &room_id).await?;
    if !auth::is_kiosk(&room, &headers, q.kiosk_token.as_deref()) {
        return Err(AppError::no_access());
    }
    let limit = state.config().kiosk.attract_paintings;
    let agreed = state.db(move |s| s.showcase(limit)).await?;
    if !agreed.is_empty() {
        return Ok(Json(Showcase {
            paintings: agreed
                .into_iter()
                .map(|p| ShowcasePainting {
                    painter: p.painter,
                    image_url: file_url(&p.image_file),
                })
                .collect(),
            samples: false,
        }));
    }
    Ok(Json(Showcase {
        paintings: Painter::ALL
            .iter()
            .map(|&painter| ShowcasePainting {
                painter,
                image_url: format!("/api/samples/{painter}"),
            })
            .collect(),
        samples: true,
    }))
}

/// `GET /api/samples/{painter}`: a built-in painter on a public-domain photograph (no
/// visitor's data, so anyone may see it).
pub async fn sample(
    State(state): State<AppState>,
    Path(painter): Path<String>,
) -> AppResult<impl IntoResponse> {
    let painter: Painter = painter.parse().map_err(|_| AppError::not_found())?;
    let params = state.config().painting.builtin.clone();
    let render = state.cpu(move || crate::showcase::render_samples(&params));
    let samples = state.samples.get(render).await?;
    let jpeg = samples
        .iter()
        .find(|(p, _)| *p == painter)
        .map(|(_, jpeg)| jpeg.clone())
        .ok_or_else(AppError::not_found)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        jpeg,
    ))
}
