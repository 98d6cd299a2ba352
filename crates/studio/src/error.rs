//! What can go wrong in a visit's life, in booth words. The web edge turns each into
//! an HTTP answer with a code the pages translate; nothing here knows about HTTP.

use articket_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum StudioError {
    /// The visit (or its room) does not exist, or was deleted meanwhile.
    #[error("the visit is gone")]
    VisitGone,
    /// "Try again" on a painter that has not failed, or while others still paint.
    #[error("only a painter that failed can be tried again, once the others are finished")]
    NothingToRetry,
    /// "Delete my photos" while the painters are at work.
    #[error("the painters are still at work")]
    StillPainting,
    /// No painting backend can take a visit, and there is no fallback.
    #[error("no painting server is answering")]
    PaintersOffline,
    #[error("printing is turned off on this booth")]
    PrintOff,
    #[error("there is no ticket to print yet")]
    NoTicket,
    /// The visit was printed this many times, its limit.
    #[error("the ticket was already printed {0} times")]
    PrintLimit(u32),
    /// The printer refused; the sentence is for the operator.
    #[error("the printer did not take the ticket: {0}")]
    PrintFailed(String),
    #[error("this visit has no quiz")]
    NotAQuiz,
    #[error("the quiz starts after the photo")]
    PhotoFirst,
    #[error("the quiz is already finished")]
    QuizDone,
    #[error("earlier answers cannot be changed")]
    AnswersChanged,
    /// A store failure other than a missing visit.
    #[error("store: {0}")]
    Store(StoreError),
    /// Something broke inside the booth; `context` says where.
    #[error("{context}: {detail}")]
    Internal {
        context: &'static str,
        detail: String,
    },
}

impl StudioError {
    pub fn internal(context: &'static str, detail: impl std::fmt::Display) -> StudioError {
        StudioError::Internal {
            context,
            detail: detail.to_string(),
        }
    }
}

impl From<StoreError> for StudioError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchVisit | StoreError::NoSuchRoom => StudioError::VisitGone,
            other => StudioError::Store(other),
        }
    }
}

pub type StudioResult<T> = Result<T, StudioError>;
