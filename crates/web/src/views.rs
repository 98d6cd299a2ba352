//! The JSON shapes of the API, built from store rows. Paths to images are capability
//! URLs under `/files/`; no visitor name ever appears in one.

use articket_store::{ResultStatus, Visit, VisitMode, VisitStatus};
use articket_style::Painter;
use serde::Serialize;

pub use articket_studio::events::file_url;

#[derive(Debug, Serialize)]
pub struct VisitView {
    pub visit_id: String,
    pub room_id: String,
    pub status: VisitStatus,
    pub name: Option<String>,
    pub photo_url: Option<String>,
    pub results: Vec<ResultView>,
    pub ticket_url: Option<String>,
    /// The visitor tapped "finish".
    pub finished: bool,
    /// The booth's promo image, offered after the ticket, if it has one.
    pub promo_url: Option<String>,
    /// How long after the visit began its photos are deleted.
    pub retention_secs: u64,
    /// "convert" or "quiz".
    pub mode: VisitMode,
    /// A quiz visit's progress and, once complete, its outcome.
    pub quiz: Option<QuizView>,
    /// The visitor agreed to have their paintings shown on the booth's screen.
    pub on_screen: bool,
}

#[derive(Debug, Serialize)]
pub struct QuizView {
    /// The answers so far, one letter (a or b) per question.
    pub answers: String,
    /// The four-letter type, the visitor's painter and their matches, once all eight
    /// questions are answered.
    pub personality: Option<String>,
    pub painter: Option<String>,
    pub good: Option<String>,
    pub bad: Option<String>,
}

impl QuizView {
    fn of(v: &Visit) -> Option<QuizView> {
        if v.mode != VisitMode::Quiz {
            return None;
        }
        let outcome = v
            .personality
            .as_deref()
            .and_then(articket_quiz::TypeCode::parse)
            .map(|c| c.outcome());
        Some(QuizView {
            answers: v.answers.clone().unwrap_or_default(),
            personality: outcome.map(|o| o.code.to_string()),
            painter: outcome.map(|o| o.painter.id().to_owned()),
            good: outcome.map(|o| o.good.id().to_owned()),
            bad: outcome.map(|o| o.bad.id().to_owned()),
        })
    }
}

impl VisitView {
    pub fn with_retention(mut self, secs: u64) -> Self {
        self.retention_secs = secs;
        self
    }

    pub fn with_promo(mut self, has_promo: bool) -> Self {
        self.promo_url = has_promo.then(|| "/api/promo".to_owned());
        self
    }
}

#[derive(Debug, Serialize)]
pub struct ResultView {
    pub painter: Painter,
    pub status: ResultStatus,
    /// Tries so far (retries included).
    pub attempts: u32,
    pub image_url: Option<String>,
    pub error: Option<String>,
}

impl From<&Visit> for VisitView {
    fn from(v: &Visit) -> Self {
        VisitView {
            visit_id: v.id.clone(),
            room_id: v.room_id.clone(),
            status: v.status,
            name: v.name.clone(),
            photo_url: v.photo_file.as_deref().map(file_url),
            results: v
                .results
                .iter()
                .map(|r| ResultView {
                    painter: r.painter,
                    status: r.status,
                    attempts: r.attempts,
                    image_url: r.image_file.as_deref().map(file_url),
                    // A try's error is for the operator; a visitor sees a painter's last word.
                    error: r.error.clone().filter(|_| r.status == ResultStatus::Failed),
                })
                .collect(),
            ticket_url: v.ticket_file.as_deref().map(file_url),
            finished: v.finished_at.is_some(),
            promo_url: None,
            retention_secs: 0,
            mode: v.mode,
            quiz: QuizView::of(v),
            on_screen: v.on_screen,
        }
    }
}
