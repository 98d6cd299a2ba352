//! `GET /files/{name}`: stored images. The random name is the capability; only names
//! of the exact shape the store makes are looked up, so no path can escape the folder.
//! `GET /previews/{token}`: a painting in progress, from memory, while it is the
//! painter's latest preview (the token is announced to the visit's room only).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use articket_store::FileKind;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Stored images and tickets.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/files/{name}", get(serve))
        .route("/previews/{token}", get(preview))
}

async fn preview(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> AppResult<impl IntoResponse> {
    if !articket_rooms::is_id(&token) {
        return Err(AppError::not_found());
    }
    let jpeg = state
        .studio
        .previews
        .get(&token)
        .ok_or_else(AppError::not_found)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        jpeg.to_vec(),
    ))
}

pub async fn serve(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> AppResult<impl IntoResponse> {
    let kind = FileKind::of_name(&name).ok_or_else(AppError::not_found)?;
    let path = state
        .studio
        .store
        .files()
        .path(&name)
        .ok_or_else(AppError::not_found)?;
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(AppError::not_found()),
        Err(e) => return Err(AppError::internal("reading a stored file", e)),
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind.content_type()),
            // A file never changes under its name.
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ),
        ],
        bytes,
    ))
}
