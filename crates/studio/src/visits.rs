//! The studio's visit methods: what the web edge calls, one method per thing a visitor,
//! a kiosk or the operator does to a visit. Each reads the visit, checks that the step
//! fits where the visit stands, stores the change, tells the room, and hands the long
//! work (painting, closing) to the files below.

use std::sync::Arc;

use articket_store::{FileKind, ResultStatus, Visit, VisitMode, VisitStatus};
use articket_style::{Painter, Stylizer};
use image::{GrayImage, RgbImage};

use crate::clock::now;
use crate::error::{StudioError, StudioResult};
use crate::events::{file_url, RoomEvent};
use crate::log::visit_label;
use crate::painting::{self, Sitting};
use crate::print::{print_visit, PrintOutcome};
use crate::studio::Studio;
use crate::{finishing, retention, tickets};

/// A photo that passed intake, with what the visitor typed and chose.
pub struct NewPhoto {
    /// The photo, decoded and shrunk, as the painters see it.
    pub image: RgbImage,
    /// The same photo as the metadata-free JPEG that is stored and sent to servers.
    pub jpeg: Vec<u8>,
    pub name: String,
    pub painters: Vec<Painter>,
    /// The visit is a quiz visit (the visitor answers questions while painters work).
    pub quiz: bool,
    /// The visitor agreed to have their paintings shown on the booth's screen.
    pub on_screen: bool,
    /// Which pixels of the photo are the person, when the booth has a matting model.
    pub matte: Option<GrayImage>,
    /// The faces intake found with the matte, if it looked.
    pub faces: Option<Vec<articket_style::faces::Face>>,
}

/// How far a quiz visit's answers are, and its outcome once all are in.
pub struct QuizProgress {
    pub answered: usize,
    pub outcome: Option<articket_quiz::Outcome>,
}

impl Studio {
    /// Starts the studio's own work: visits a previous run left unfinished are painted
    /// to the end, and the retention sweeper runs until [`Studio::close`].
    pub async fn start(&self) {
        match painting::resume_unfinished(self).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("resumed {n} unfinished visits"),
            Err(e) => tracing::error!("could not resume unfinished visits: {e}"),
        }
        tokio::spawn(retention::sweep_forever(self.clone()));
        tokio::spawn(crate::outage::watch(self.clone()));
    }

    /// Whether a new visitor may start: not when no painter answers and nothing falls
    /// back ([`StudioError::PaintersOffline`]; kiosks then show the painters resting).
    pub fn accepting_visitors(&self) -> StudioResult<()> {
        if self.backends.turning_away() {
            return Err(StudioError::PaintersOffline);
        }
        Ok(())
    }

    /// The visit, if it exists.
    pub async fn visit(&self, visit_id: &str) -> StudioResult<Option<Visit>> {
        let id = visit_id.to_owned();
        self.db(move |s| s.visit(&id)).await
    }

    /// The backend a new visit (or a "try again") paints with, or
    /// [`StudioError::PaintersOffline`] when none can take it. Asked before the photo is
    /// read, so a visitor is not kept waiting for nothing.
    pub fn painters_ready(&self) -> StudioResult<Arc<dyn Stylizer>> {
        self.backends.for_new_visit()
    }

    /// Takes a waiting visit's photo: stores it, tells the room, and sets the painters
    /// to work with `stylizer` (from [`Studio::painters_ready`]).
    pub async fn receive_photo(
        &self,
        visit: &Visit,
        photo: NewPhoto,
        stylizer: Arc<dyn Stylizer>,
    ) -> StudioResult<()> {
        let NewPhoto {
            image,
            jpeg,
            name,
            painters,
            quiz,
            on_screen,
            matte,
            faces,
        } = photo;
        let matte = matte.map(Arc::new);
        let jpeg: Arc<[u8]> = jpeg.into();
        let (v, n, bytes, ids, m) = (
            visit.id.clone(),
            name.clone(),
            jpeg.clone(),
            painters.clone(),
            matte.clone(),
        );
        let photo_file = self
            .db(move |s| {
                let file = s.files().put(&bytes, FileKind::Jpeg)?;
                if let Err(e) = s.start_painting(&v, &n, &file, &ids, now()) {
                    // Another upload won the race; do not leave its loser's file behind.
                    let _ = s.files().remove(&file);
                    return Err(e);
                }
                if quiz {
                    s.set_quiz_mode(&v)?;
                }
                if on_screen {
                    s.set_on_screen(&v, true)?;
                }
                if let Some(png) = m.as_deref().and_then(painting::matte_png) {
                    let matte = s.files().put(&png, FileKind::Png)?;
                    if !s.set_matte(&v, &matte)? {
                        let _ = s.files().remove(&matte);
                    }
                }
                Ok(file)
            })
            .await?;
        let label = visit_label(visit.number, Some(&name));
        self.log.info(format!(
            "{label}: photo received, {} painters at work ({})",
            painters.len(),
            stylizer.backend()
        ));
        self.hub.publish(
            &visit.room_id,
            &RoomEvent::PhotoReceived {
                visit_id: visit.id.clone(),
                name,
                photo_url: file_url(&photo_file),
            },
        );
        let sitting = Sitting {
            room_id: visit.room_id.clone(),
            visit_id: visit.id.clone(),
            label,
            photo: Arc::new(image),
            photo_jpeg: jpeg,
            matte,
            faces: faces.map(Arc::new),
            stylizer,
        };
        painting::enqueue(
            self.clone(),
            sitting,
            painters.into_iter().map(painting::Job::new).collect(),
        );
        Ok(())
    }

    /// The visitor's "try again" on a painter that failed: that painter paints again
    /// and the visit gets a new ticket.
    pub async fn retry_painter(&self, visit_id: &str, painter: Painter) -> StudioResult<()> {
        let stylizer = self.painters_ready()?;
        let v = visit_id.to_owned();
        if !self
            .db(move |s| s.retry_painter(&v, painter, now()))
            .await?
        {
            return Err(StudioError::NothingToRetry);
        }
        let visit = self.visit(visit_id).await?.ok_or(StudioError::VisitGone)?;
        let mut sitting = painting::load_sitting(self, &visit)
            .await?
            .map_err(|e| StudioError::internal("retry: the stored photo", e))?;
        sitting.stylizer = stylizer;
        painting::enqueue(self.clone(), sitting, vec![painting::Job::new(painter)]);
        self.hub.publish(
            &visit.room_id,
            &RoomEvent::Painter {
                visit_id: visit_id.to_owned(),
                painter,
                status: ResultStatus::Queued,
                progress: None,
                image_url: None,
                error: None,
            },
        );
        Ok(())
    }

    /// A quiz visit's answers so far (`text`: one letter a or b per question). Each call
    /// may only add to what was given before; the last answer settles the type and
    /// painter and, if the painters are done, closes the visit.
    pub async fn answer_quiz(&self, visit: &Visit, text: &str) -> StudioResult<QuizProgress> {
        if visit.mode != VisitMode::Quiz {
            return Err(StudioError::NotAQuiz);
        }
        if visit.status == VisitStatus::Waiting {
            return Err(StudioError::PhotoFirst);
        }
        if visit.personality.is_some() {
            return Err(StudioError::QuizDone);
        }
        let given = articket_quiz::Quiz::parse_answers(text)
            .map_err(|e| StudioError::internal("quiz answers", e))?;
        let before = visit.answers.clone().unwrap_or_default();
        if !text.starts_with(&before) {
            return Err(StudioError::AnswersChanged);
        }
        let outcome = (given.len() == articket_quiz::QUESTIONS)
            .then(|| self.quiz.score(&given))
            .transpose()
            .map_err(|e| StudioError::internal("quiz scoring", e))?;
        let (v, t, code) = (
            visit.id.clone(),
            text.to_owned(),
            outcome.map(|o| o.code.to_string()),
        );
        if !self
            .db(move |s| s.record_answers(&v, &t, code.as_deref()))
            .await?
        {
            return Err(StudioError::QuizDone);
        }
        self.hub.publish(
            &visit.room_id,
            &RoomEvent::Quiz {
                visit_id: visit.id.clone(),
                answered: given.len(),
                personality: outcome.map(|o| o.code.to_string()),
                painter: outcome.map(|o| o.painter),
            },
        );
        if let Some(o) = outcome {
            self.log.info(format!(
                "{}: quiz finished, {} → {}",
                visit_label(visit.number, visit.name.as_deref()),
                o.code,
                o.painter.name_en()
            ));
            if let Some(now_visit) = self.visit(&visit.id).await? {
                finishing::finish_quiz_if_painted(self, &now_visit).await?;
            }
        }
        Ok(QuizProgress {
            answered: given.len(),
            outcome,
        })
    }

    /// The visitor tapped "finish": the kiosk may reset.
    /// The name as the visitor types it (already cleaned): told to the room's kiosk
    /// while the visit waits for its photo, and kept nowhere.
    pub fn visitor_typing(&self, visit: &Visit, name: &str) {
        if visit.status == VisitStatus::Waiting {
            self.hub.publish(
                &visit.room_id,
                &RoomEvent::VisitorTyping {
                    visit_id: visit.id.clone(),
                    name: name.to_owned(),
                },
            );
        }
    }

    pub async fn visitor_finished(&self, visit: &Visit) -> StudioResult<()> {
        let v = visit.id.clone();
        self.db(move |s| s.visitor_finished(&v, now())).await?;
        self.hub.publish(
            &visit.room_id,
            &RoomEvent::VisitorFinished {
                visit_id: visit.id.clone(),
            },
        );
        Ok(())
    }

    /// "Delete my photos now": once the painters are done, the visit's photo,
    /// paintings, ticket and records are deleted at once.
    pub async fn delete_for_visitor(&self, visit: &Visit) -> StudioResult<()> {
        if visit.status == VisitStatus::Painting {
            return Err(StudioError::StillPainting);
        }
        retention::delete_visit(self, &visit.room_id, &visit.id).await?;
        self.log.info(format!(
            "Visit #{}: the visitor deleted their photos",
            visit.number
        ));
        Ok(())
    }

    /// The operator deletes visit number `number`, painters and all. Returns its label.
    pub async fn delete_by_number(&self, number: i64) -> StudioResult<()> {
        let (visit_id, room_id) = self
            .db(move |s| s.visit_by_number(number))
            .await?
            .ok_or(StudioError::VisitGone)?;
        retention::delete_visit(self, &room_id, &visit_id).await?;
        self.log
            .info(format!("Visit #{number}: deleted by the operator"));
        Ok(())
    }

    /// Prints the visit's ticket at the kiosk, once per press.
    pub async fn print(&self, visit_id: &str) -> StudioResult<PrintOutcome> {
        print_visit(self, visit_id).await
    }

    /// The single-painter ticket: `painter`'s painting large with its tagline (PNG), or
    /// `None` when that painter has no painting in this visit.
    pub async fn single_ticket(
        &self,
        visit: Visit,
        painter: Painter,
    ) -> StudioResult<Option<Vec<u8>>> {
        let studio = self.clone();
        self.cpu(move || -> Result<Option<Vec<u8>>, String> {
            let mut content = tickets::ticket_content(&studio, &visit, &[])?;
            content.paintings.retain(|p| p.painter == painter);
            let Some(p) = content.paintings.first_mut() else {
                return Ok(None);
            };
            let (ko, en) = painter.tagline();
            p.tagline = Some((ko.to_owned(), en.to_owned()));
            studio
                .tickets
                .renderer
                .phone_ticket_png(&content)
                .map(Some)
                .map_err(|e| e.to_string())
        })
        .await?
        .map_err(|e| StudioError::internal("single ticket", e))
    }
}
