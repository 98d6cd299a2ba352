//! The built-in CPU renderer: one module per painter, each a pure function
//! `(photo, seed) -> painting`, plus the [`BuiltinRenderer`] backend that runs them on
//! blocking threads under the server's CPU semaphore.

use std::sync::Arc;

use image::RgbImage;
use tokio::sync::Semaphore;

use crate::{BoxFuture, PaintJob, Painter, Progress, StyleError, Stylizer, Update};

pub mod backdrop;
pub(crate) mod canvas;
mod lichtenstein;
mod params;
pub mod person;
mod picasso;
pub mod portrait;
mod renoir;
mod vangogh;

pub use params::{
    BuiltinParams, Hex, LichtensteinParams, PicassoParams, RenoirParams, VanGoghParams,
};

/// Paints `photo` in `painter`'s style, keeping the faces it finds. Deterministic: the
/// same photo and seed give the same pixels. The output has the photo's size.
/// CPU-bound.
pub fn render(painter: Painter, photo: &RgbImage, seed: u64, params: &BuiltinParams) -> RgbImage {
    render_with_faces(painter, photo, &crate::faces::detect(photo), seed, params)
}

/// [`render`] with the faces already found (a visit finds them once for its painters).
pub fn render_with_faces(
    painter: Painter,
    photo: &RgbImage,
    faces: &[crate::faces::Face],
    seed: u64,
    params: &BuiltinParams,
) -> RgbImage {
    render_finding_faces(painter, photo, seed, params, || faces.to_vec())
}

/// [`render`], asking `faces` for the faces only once the whole picture is painted: a
/// visit's painters share one detection, which the first of them to get there runs
/// while the others are still painting.
pub fn render_finding_faces(
    painter: Painter,
    photo: &RgbImage,
    seed: u64,
    params: &BuiltinParams,
    faces: impl FnOnce() -> Vec<crate::faces::Face>,
) -> RgbImage {
    render_visit(painter, photo, None, seed, params, faces)
}

/// [`render_finding_faces`] with the photo's matte, when there is one: a small
/// standing figure is painted again at a person's scale ([`person`]) before the faces.
/// Without a matte, a small face's figure ([`person::figure`]) is.
pub fn render_visit(
    painter: Painter,
    photo: &RgbImage,
    matte: Option<&image::GrayImage>,
    seed: u64,
    params: &BuiltinParams,
    faces: impl FnOnce() -> Vec<crate::faces::Face>,
) -> RgbImage {
    let person = |whole: RgbImage, faces: &[crate::faces::Face]| match matte {
        Some(m) => person::paint_person(painter, photo, m, seed, params, whole),
        None => match person::figure(faces, photo.dimensions()) {
            Some(m) => person::paint_person(painter, photo, &m, seed, params, whole),
            None => whole,
        },
    };
    if painter == Painter::Picasso {
        // Picasso needs the faces first: around a face his background breaks into
        // larger planes than in a picture without one.
        let faces = faces();
        if faces.is_empty() {
            return person(render_whole(painter, photo, seed, params, false), &faces);
        }
        let whole = person(
            render_whole(
                painter,
                photo,
                seed,
                &portrait::backdrop_params(params),
                false,
            ),
            &faces,
        );
        return portrait::paint_faces(painter, photo, &faces, seed, params, whole);
    }
    let whole = render_whole(painter, photo, seed, params, false);
    let faces = faces();
    let whole = person(whole, &faces);
    if faces.is_empty() {
        return whole;
    }
    portrait::paint_faces(painter, photo, &faces, seed, params, whole)
}

/// The painter's pass over the whole picture, without regard to faces; `face` when the
/// picture is a face on its own.
pub(crate) fn render_whole(
    painter: Painter,
    photo: &RgbImage,
    seed: u64,
    params: &BuiltinParams,
    face: bool,
) -> RgbImage {
    if photo.width() == 0 || photo.height() == 0 {
        return photo.clone();
    }
    match painter {
        Painter::Picasso => {
            picasso::paint(photo, seed, &params.picasso, if face { 0.85 } else { 0.0 })
        }
        Painter::Renoir => renoir::paint(photo, seed, &params.renoir),
        Painter::VanGogh => vangogh::paint(photo, seed, &params.vangogh),
        Painter::Lichtenstein => lichtenstein::paint(photo, seed, &params.lichtenstein),
    }
}

/// The default backend. CPU work waits for a permit of the shared semaphore, so the
/// painters of many visits never oversubscribe the machine's cores.
pub struct BuiltinRenderer {
    cpu: Arc<Semaphore>,
    params: Arc<BuiltinParams>,
    backdrops: Arc<backdrop::Backdrops>,
    faces: Arc<FaceCache>,
}

/// Recent visits' faces: the first of a visit's painters finds them (or takes the ones
/// intake found), the others (and retries) reuse them, so a visit runs the detector
/// once.
#[derive(Default)]
struct FaceCache {
    visits: std::sync::Mutex<std::collections::VecDeque<FaceSlot>>,
}

type FaceSlot = (Arc<str>, Arc<std::sync::OnceLock<Vec<crate::faces::Face>>>);

/// How many visits' faces are remembered.
const FACE_CACHE: usize = 64;

impl FaceCache {
    fn of(
        &self,
        visit_id: &Arc<str>,
        photo: &RgbImage,
        known: Option<&[crate::faces::Face]>,
    ) -> Vec<crate::faces::Face> {
        let cell = {
            let mut visits = self.visits.lock().unwrap_or_else(|p| p.into_inner());
            match visits.iter().find(|(v, _)| v == visit_id) {
                Some((_, cell)) => cell.clone(),
                None => {
                    let cell = Arc::new(std::sync::OnceLock::new());
                    visits.push_back((visit_id.clone(), cell.clone()));
                    if visits.len() > FACE_CACHE {
                        visits.pop_front();
                    }
                    cell
                }
            }
        };
        cell.get_or_init(|| match known {
            Some(faces) => faces.to_vec(),
            None => crate::faces::detect(photo),
        })
        .clone()
    }
}

impl BuiltinRenderer {
    pub fn new(cpu: Arc<Semaphore>, params: BuiltinParams) -> Self {
        Self {
            cpu,
            params: Arc::new(params),
            backdrops: Arc::default(),
            faces: Arc::default(),
        }
    }

    /// What the painters put behind the visitor when a photo comes with a matte.
    pub fn with_backdrops(self, backdrops: backdrop::Backdrops) -> Self {
        Self {
            backdrops: Arc::new(backdrops),
            ..self
        }
    }
}

impl Stylizer for BuiltinRenderer {
    fn backend(&self) -> &'static str {
        "builtin"
    }

    fn paint(
        &self,
        job: PaintJob,
        progress: Progress,
    ) -> BoxFuture<'_, Result<RgbImage, StyleError>> {
        Box::pin(async move {
            let _permit = self
                .cpu
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| StyleError::Unavailable("the server is shutting down".into()))?;
            progress(Update::Started);
            progress(Update::Progress(0.05));
            let (params, faces) = (self.params.clone(), self.faces.clone());
            let backdrops = self.backdrops.clone();
            let painting = tokio::task::spawn_blocking(move || {
                // The faces are found on the photo itself, the same for every painter.
                let composed =
                    backdrops.compose(job.painter, &job.photo, job.matte.as_deref(), job.seed);
                let picture = composed.as_ref().unwrap_or(&job.photo);
                let matte = job.matte.as_deref();
                render_visit(job.painter, picture, matte, job.seed, &params, || {
                    faces.of(
                        &job.visit_id,
                        &job.photo,
                        job.faces.as_deref().map(Vec::as_slice),
                    )
                })
            })
            .await
            .map_err(|e| StyleError::Failed(format!("the renderer crashed: {e}")))?;
            progress(Update::Progress(1.0));
            Ok(painting)
        })
    }
}

#[cfg(test)]
mod tests;
