//! The studio: a visit's whole life in booth words, with no HTTP in it. It receives a
//! photo that passed intake, has each painter paint it (each painter is a job stored
//! with the visit, tried again on failure, resumed after a restart), closes the visit
//! with its ticket, prints, deletes, and sweeps visits past their retention period.
//!
//! It owns what that life needs: the store, the rooms' event hub, the painting
//! backends, the ticket renderer, the running tasks and the per-visit locks, the CPU
//! permits and the operator log. The web crate parses, authenticates and limits
//! requests, then calls one method here and turns a [`StudioError`] into an answer.

pub mod clock;
pub mod events;
pub mod log;
pub mod previews;

mod backends;
mod error;
mod finishing;
mod matting;
mod offline;
mod outage;
mod painting;
mod print;
mod retention;
mod running;
mod studio;
mod tickets;
mod tries;
mod visits;

pub use backends::{Backends, ServerPool};
pub use error::{StudioError, StudioResult};
pub use events::RoomEvent;
pub use log::{Level, LogLine, OpsLog};
pub use matting::{backdrops, faces_of, load_matter, person_in};
pub use offline::{Offline, OfflinePainting};
pub use print::PrintOutcome;
pub use studio::{Studio, Tickets};
pub use visits::{NewPhoto, QuizProgress};
