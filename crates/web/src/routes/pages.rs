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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    fn hangul(c: char) -> bool {
        matches!(c, '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}' | '\u{AC00}'..='\u{D7A3}')
    }

    /// Every Hangul character a page, its script or the server's messages can show is in
    /// both weights of the bundled Hangul font, which the pages fall back to on a
    /// machine without a Korean font of its own (the operator's table header once
    /// showed boxes there).
    #[test]
    fn every_hangul_character_the_pages_show_is_in_the_bundled_fonts() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut texts = String::new();
        for dir in [
            "assets/web",
            "crates/web/src",
            "crates/studio/src",
            "crates/quiz/src",
        ] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if let Ok(text) = std::fs::read_to_string(&path) {
                    texts.push_str(&text);
                }
            }
        }
        // The quiz's questions and painters' texts, as shipped.
        for entry in std::fs::read_dir(root.join("assets")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml" || e == "json") {
                texts.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
        let wanted: BTreeSet<char> = texts.chars().filter(|&c| hangul(c)).collect();
        assert!(
            wanted.len() > 200,
            "the pages' Hangul was found: {}",
            wanted.len()
        );
        for font in ["ArticketHangul-Regular.ttf", "ArticketHangul-Bold.ttf"] {
            let data = std::fs::read(root.join("assets/fonts").join(font)).unwrap();
            let face = ttf_parser::Face::parse(&data, 0).unwrap();
            let missing: String = wanted
                .iter()
                .filter(|&&c| face.glyph_index(c).is_none())
                .collect();
            assert!(missing.is_empty(), "{font} lacks: {missing}");
        }
    }
}
