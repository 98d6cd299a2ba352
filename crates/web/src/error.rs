//! One error type for every route. Each error has an HTTP status, a stable code the UI
//! translates, and a message a person understands. Internal details are logged, never
//! sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Who reads an error's code: visitors' pages show their Korean and English text for
/// it (assets/web/common.js); the operator's page shows the message as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Visitor,
    Operator,
}

macro_rules! codes {
    ($($variant:ident = $code:literal, $reader:ident;)*) => {
        /// Every error code the API answers with: the one list.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            pub fn reader(self) -> Reader {
                match self {
                    $(Code::$variant => Reader::$reader,)*
                }
            }
        }
    };
}

codes! {
    NotFound = "not-found", Visitor;
    Internal = "internal", Visitor;
    BodyTooLarge = "body-too-large", Visitor;
    OtherSite = "other-site", Visitor;
    RoomTaken = "room-taken", Visitor;
    RoomNotFound = "room-not-found", Visitor;
    TooManyRooms = "too-many-rooms", Visitor;
    BoothPaused = "booth-paused", Visitor;
    JoinMalformed = "join-malformed", Visitor;
    NameRequired = "name-required", Visitor;
    ModeUnavailable = "mode-unavailable", Visitor;
    UploadMalformed = "upload-malformed", Visitor;
    PhotoMissing = "photo-missing", Visitor;
    PhotoAlreadyReceived = "photo-already-received", Visitor;
    TooManyUploads = "too-many-uploads", Visitor;
    PhotoEmpty = "photo-empty", Visitor;
    TypingMalformed = "typing-malformed", Visitor;
    PhotoTooLarge = "photo-too-large", Visitor;
    PhotoTooManyPixels = "photo-too-many-pixels", Visitor;
    PhotoHeic = "photo-heic", Visitor;
    PhotoUnsupportedFormat = "photo-unsupported-format", Visitor;
    PhotoCorrupt = "photo-corrupt", Visitor;
    IntakeBusy = "intake-busy", Visitor;
    IntakeFailed = "intake-failed", Visitor;
    PaintersOffline = "painters-offline", Visitor;
    UnknownPainter = "unknown-painter", Visitor;
    NothingToRetry = "nothing-to-retry", Visitor;
    StillPainting = "still-painting", Visitor;
    NotAQuiz = "not-a-quiz", Visitor;
    PhotoFirst = "photo-first", Visitor;
    AnswersMalformed = "answers-malformed", Visitor;
    AnswersChanged = "answers-changed", Visitor;
    QuizDone = "quiz-done", Visitor;
    NoTicket = "no-ticket", Visitor;
    PrintOff = "print-off", Visitor;
    PrintLimit = "print-limit", Visitor;
    PrintFailed = "print-failed", Visitor;
    AdminLogin = "admin-login", Operator;
    AdminPassword = "admin-password", Operator;
    LoginMalformed = "login-malformed", Operator;
    TooManyLogins = "too-many-logins", Operator;
    PauseMalformed = "pause-malformed", Operator;
    GalleryOff = "gallery-off", Operator;
}

impl Code {
    /// The code of a refused upload (intake names its own codes).
    fn of_intake(e: &articket_intake::IntakeError) -> Code {
        let code = e.code();
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == code)
            .unwrap_or(Code::IntakeFailed)
    }
}

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: Code,
    pub msg: String,
    /// Seconds for a `Retry-After` header (503 and 429 answers).
    pub retry_after: Option<u32>,
}

impl AppError {
    pub fn new(status: StatusCode, code: Code, msg: impl Into<String>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: Code, msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, msg)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            Code::NotFound,
            "There is nothing here.",
        )
    }

    /// Access denied looks exactly like "not found", so ids cannot be probed.
    pub fn no_access() -> Self {
        Self::not_found()
    }

    /// 503 with a `Retry-After`: the booth cannot take this right now.
    pub fn unavailable(code: Code, msg: impl Into<String>, retry_after_secs: u32) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, msg)
        }
    }

    /// 429 with a `Retry-After`: this client asked too often.
    pub fn too_many(code: Code, msg: impl Into<String>, retry_after_secs: u32) -> Self {
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
            Code::Internal,
            "Something went wrong on the booth. Please try again.",
        )
    }
}

/// A JSON body, or a clear error: 413 when it is over the body limit, else 400 with
/// `code` and `what` (which says what to send).
pub fn json_body<T>(
    body: Result<axum::Json<T>, axum::extract::rejection::JsonRejection>,
    code: Code,
    what: &str,
) -> AppResult<T> {
    match body {
        Ok(axum::Json(v)) => Ok(v),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::BodyTooLarge,
            "This request is too large.",
        )),
        Err(_) => Err(AppError::bad_request(code, what)),
    }
}

pub type AppResult<T> = Result<T, AppError>;

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "code": self.code.as_str(), "msg": self.msg }));
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
                Code::RoomTaken,
                "This QR code was already used by another phone. Please scan the new code on the kiosk.",
            ),
            E::NoSuchRoom | E::NoSuchVisit => AppError::not_found(),
            E::PhotoAlreadyReceived => AppError::new(
                StatusCode::CONFLICT,
                Code::PhotoAlreadyReceived,
                "This visit already has a photo.",
            ),
            other => AppError::internal("store", other),
        }
    }
}

/// The studio's errors in HTTP terms: the visitor's or operator's sentence, a status and
/// the code the pages translate.
impl From<articket_studio::StudioError> for AppError {
    fn from(e: articket_studio::StudioError) -> Self {
        use articket_studio::StudioError as E;
        let conflict = |code, msg: &str| AppError::new(StatusCode::CONFLICT, code, msg);
        match e {
            E::VisitGone => AppError::not_found(),
            E::NothingToRetry => conflict(
                Code::NothingToRetry,
                "Only a painter that failed can be tried again, once the others are finished.",
            ),
            E::StillPainting => conflict(
                Code::StillPainting,
                "The painters are still at work. Delete once they are finished.",
            ),
            E::PaintersOffline => AppError::unavailable(
                Code::PaintersOffline,
                "The painting servers are offline right now. Please try again in a few minutes.",
                30,
            ),
            E::PrintOff => conflict(
                Code::PrintOff,
                "Printing is turned off on this booth ([print] enabled).",
            ),
            E::NoTicket => conflict(Code::NoTicket, "There is no ticket to print yet."),
            E::PrintLimit(n) => AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                Code::PrintLimit,
                format!("This ticket was already printed {n} times, the limit for one visit."),
            ),
            E::PrintFailed(why) => AppError::new(
                StatusCode::BAD_GATEWAY,
                Code::PrintFailed,
                format!("The printer did not take the ticket: {why}"),
            ),
            E::NotAQuiz => conflict(Code::NotAQuiz, "This visit has no quiz."),
            E::PhotoFirst => conflict(Code::PhotoFirst, "Please send your photo first."),
            E::QuizDone => conflict(Code::QuizDone, "The quiz is already finished."),
            E::AnswersChanged => {
                conflict(Code::AnswersChanged, "Earlier answers cannot be changed.")
            }
            E::Store(e) => AppError::from(e),
            E::Internal { context, detail } => AppError::internal(context, detail),
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
        let mut err = AppError::new(status, Code::of_intake(&e), e.to_string());
        if let E::Busy { retry_after_secs } = e {
            err.retry_after = Some(retry_after_secs);
        }
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `errors` table of the pages' script: code → (Korean, English or null).
    fn page_texts() -> Vec<(String, String, Option<String>)> {
        let js = include_str!("../../../assets/web/common.js");
        let start = js
            .find("  errors: {")
            .expect("common.js has an errors table");
        let table = &js[start..start + js[start..].find("\n  },").unwrap()];
        table
            .lines()
            .skip(1)
            .map(|line| {
                let entry: serde_json::Value =
                    serde_json::from_str(&format!("{{{}}}", line.trim().trim_end_matches(',')))
                        .unwrap_or_else(|e| panic!("{line}: {e}"));
                let (code, pair) = entry.as_object().unwrap().iter().next().unwrap();
                let text = |i: usize| pair[i].as_str().map(str::to_owned);
                (code.clone(), text(0).unwrap_or_default(), text(1))
            })
            .collect()
    }

    #[test]
    fn every_code_a_visitor_can_meet_has_korean_and_english_text_and_no_other_has() {
        let texts = page_texts();
        assert!(texts.len() > 30, "the table was read: {}", texts.len());
        for code in Code::ALL {
            let text = texts.iter().find(|(c, ..)| c == code.as_str());
            match code.reader() {
                Reader::Visitor => {
                    let (_, ko, en) = text
                        .unwrap_or_else(|| panic!("{} has no text in common.js", code.as_str()));
                    assert!(
                        ko.chars().any(|c| ('가'..='힣').contains(&c)),
                        "{}: {ko:?} is not Korean",
                        code.as_str()
                    );
                    // null English shows the server's own (English) message, which
                    // names the actual problem; only the printer's complaint does so.
                    match en {
                        Some(en) => assert!(en.is_ascii() && en.len() > 5, "{en:?}"),
                        None => assert_eq!(*code, Code::PrintFailed),
                    }
                }
                Reader::Operator => assert!(text.is_none(), "{}", code.as_str()),
            }
        }
        for (code, ..) in &texts {
            assert!(
                Code::ALL.iter().any(|c| c.as_str() == code),
                "common.js translates {code}, which the server never sends"
            );
        }
    }

    #[test]
    fn every_refused_upload_has_its_own_code() {
        use articket_intake::IntakeError as E;
        let refusals = [
            E::Empty,
            E::TooManyBytes { bytes: 2, limit: 1 },
            E::TooBigToDecode,
            E::UnsupportedJpeg,
            E::Corrupt("x".into()),
            E::Busy {
                retry_after_secs: 1,
            },
        ];
        for e in refusals {
            let code = Code::of_intake(&e);
            assert_eq!(code.as_str(), e.code());
            assert_ne!(code, Code::IntakeFailed, "{e}");
        }
    }
}
