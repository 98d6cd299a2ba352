//! The events a room's sockets receive. Each is a hint with the changed data; the full
//! state is always at `GET /api/visits/{id}`, and clients re-read it after connecting.

use articket_store::{ResultStatus, VisitStatus};
use articket_style::Painter;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RoomEvent {
    /// A phone claimed the room's QR code.
    PhoneJoined { visit_id: String },
    /// The photo passed intake; painters are queued.
    PhotoReceived {
        visit_id: String,
        name: String,
        photo_url: String,
    },
    /// The visit waits for a painting server; `visits_ahead` other visits go first.
    Queue {
        visit_id: String,
        visits_ahead: usize,
    },
    /// One painter changed state or made progress.
    Painter {
        visit_id: String,
        painter: Painter,
        status: ResultStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        progress: Option<f32>,
        image_url: Option<String>,
        error: Option<String>,
    },
    /// A look at a painting as it emerges (`url`: a small JPEG, held in memory until
    /// the next preview or the painting).
    Preview {
        visit_id: String,
        painter: Painter,
        url: String,
    },
    /// Every painter is finished; the ticket is ready if any painter succeeded.
    VisitDone {
        visit_id: String,
        status: VisitStatus,
        ticket_url: Option<String>,
    },
    /// The visit's photos and records were deleted (by the visitor, or at the end of the
    /// retention period); the kiosk resets.
    VisitDeleted { visit_id: String },
    /// The name as the visitor types it on the phone, before the photo: the kiosk greets
    /// them by it. Never stored.
    VisitorTyping { visit_id: String, name: String },
    /// The visitor tapped "finish"; the kiosk may reset.
    VisitorFinished { visit_id: String },
    /// A quiz visitor answered a question; `personality` and `painter` come with the
    /// last answer.
    Quiz {
        visit_id: String,
        answered: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        personality: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        painter: Option<Painter>,
    },
    /// The operator asked every kiosk to show a fresh QR code.
    KioskReset,
    /// The operator paused the booth (kiosks show a break screen) or resumed it.
    BoothPaused { paused: bool },
    /// No painter answers and nothing falls back: kiosks with no visitor show that the
    /// painters are resting, until a server answers again.
    PaintersResting,
}

/// The URL of a stored file, as events and views carry it: a capability URL under
/// `/files/`, with no visitor name in it.
pub fn file_url(name: &str) -> String {
    format!("/files/{name}")
}
