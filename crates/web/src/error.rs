//! One error type for every route. Each error has an HTTP status, a stable code the UI
//! translates, and a message a person understands. Internal details are logged, never
//! sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub msg: String,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, msg: impl Into<String>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
        }
    }

    pub fn bad_request(code: &'static str, msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, msg)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "There is nothing here.")
    }

    /// Access denied looks exactly like "not found", so ids cannot be probed.
    pub fn no_access() -> Self {
        Self::not_found()
    }

    /// Logs the real cause and answers with a generic 500.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on the booth. Please try again.",
        )
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "code": self.code, "msg": self.msg }));
        (self.status, body).into_response()
    }
}

impl From<articket_store::StoreError> for AppError {
    fn from(e: articket_store::StoreError) -> Self {
        use articket_store::StoreError as E;
        match e {
            E::RoomTaken => AppError::new(
                StatusCode::CONFLICT,
                "room-taken",
                "This QR code was already used by another phone. Please scan the new code on the kiosk.",
            ),
            E::NoSuchRoom | E::NoSuchVisit => AppError::not_found(),
            E::PhotoAlreadyReceived => AppError::new(
                StatusCode::CONFLICT,
                "photo-already-received",
                "This visit already has a photo.",
            ),
            other => AppError::internal("store", other),
        }
    }
}

impl From<articket_intake::IntakeError> for AppError {
    fn from(e: articket_intake::IntakeError) -> Self {
        use articket_intake::IntakeError as E;
        let status = match e {
            E::Empty | E::Corrupt(_) => StatusCode::BAD_REQUEST,
            E::TooManyBytes { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            E::TooManyPixels { .. } | E::TooBigToDecode => StatusCode::PAYLOAD_TOO_LARGE,
            E::UnsupportedFormat => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        };
        let msg = match &e {
            E::Empty => "The photo is empty. Please choose a photo.".to_owned(),
            E::UnsupportedFormat => {
                "This file is not a photo we can read. Please send a JPEG, PNG or WebP photo."
                    .to_owned()
            }
            E::Corrupt(_) => {
                "The photo file is damaged or incomplete. Please take or choose it again."
                    .to_owned()
            }
            other => format!("The photo is too large: {other}."),
        };
        AppError::new(status, e.code(), msg)
    }
}

pub type AppResult<T> = Result<T, AppError>;
