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
    /// Seconds for a `Retry-After` header (503 and 429 answers).
    pub retry_after: Option<u32>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, msg: impl Into<String>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
            retry_after: None,
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

    /// 503 with a `Retry-After`: the booth cannot take this right now.
    pub fn unavailable(code: &'static str, msg: impl Into<String>, retry_after_secs: u32) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, msg)
        }
    }

    /// 429 with a `Retry-After`: this client asked too often.
    pub fn too_many(code: &'static str, msg: impl Into<String>, retry_after_secs: u32) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, msg)
        }
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

/// A JSON body, or a clear error: 413 when it is over the body limit, else 400 with
/// `code` and `what` (which says what to send).
pub fn json_body<T>(
    body: Result<axum::Json<T>, axum::extract::rejection::JsonRejection>,
    code: &'static str,
    what: &str,
) -> AppResult<T> {
    match body {
        Ok(axum::Json(v)) => Ok(v),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "This request is too large.",
        )),
        Err(_) => Err(AppError::bad_request(code, what)),
    }
}

pub type AppResult<T> = Result<T, AppError>;

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "code": self.code, "msg": self.msg }));
        let mut response = (self.status, body).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
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
        match &e {
            E::Encode(_) | E::Internal(_) => return AppError::internal("intake", e),
            E::Busy { retry_after_secs } => tracing::warn!(
                retry_after_secs,
                "intake queue full; asking the phone to retry"
            ),
            _ => tracing::info!(code = e.code(), "upload refused: {e}"),
        }
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut err = AppError::new(status, e.code(), e.to_string());
        if let E::Busy { retry_after_secs } = e {
            err.retry_after = Some(retry_after_secs);
        }
        err
    }
}
