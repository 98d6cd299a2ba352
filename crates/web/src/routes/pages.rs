//! The kiosk and phone pages and their assets, embedded in the binary from
//! `assets/web/` so a booth is one file to copy.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;

use super::ids::check_id;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The pages and their assets.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(kiosk))
        .route("/admin", get(admin))
        .route("/j/{room_id}", get(phone))
        .route("/v/{visit_id}", get(phone))
        .route("/assets/{*path}", get(asset))
        .route("/favicon.ico", get(favicon))
}

#[derive(RustEmbed)]
#[folder = "../../assets/web/"]
struct WebAssets;

/// The ticket's Hangul font, offered to browsers that have no Korean font of their own.
#[derive(RustEmbed)]
#[folder = "../../assets/fonts/"]
struct Fonts;

fn embedded(path: &str) -> AppResult<Response> {
    let file = match path.strip_prefix("fonts/") {
        Some(font) if font.ends_with(".ttf") => Fonts::get(font),
        Some(_) => None,
        None => WebAssets::get(path),
    }
    .ok_or_else(AppError::not_found)?;
    let mime = file.metadata.mimetype().to_owned();
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        file.data,
    )
        .into_response())
}

/// `/`: the kiosk screen.
pub async fn kiosk() -> AppResult<Response> {
    embedded("kiosk.html")
}

/// `/admin`: the operator page; its script asks for the password.
pub async fn admin() -> AppResult<Response> {
    embedded("admin.html")
}

/// `/j/{room_id}` and `/v/{visit_id}`: the phone page; its script reads the path.
pub async fn phone(Path(id): Path<String>) -> AppResult<Response> {
    check_id(&id)?;
    embedded("phone.html")
}

/// `/favicon.ico`, which browsers ask for on their own: the booth's icon (SVG).
pub async fn favicon() -> AppResult<Response> {
    embedded("favicon.svg")
}

pub async fn asset(Path(path): Path<String>) -> AppResult<Response> {
    if path.ends_with(".html") {
        return Err(AppError::not_found());
    }
    embedded(&path)
}
