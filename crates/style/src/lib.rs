//! Style backends: everything that turns a visitor's photo into a painting.
//!
//! Every backend implements [`Stylizer`]: one call paints one painter's version of one
//! photo, may fail on its own, and reports progress as it goes. The web server runs the
//! four painters of a visit as four independent jobs, so a backend never needs to know
//! about visits, rooms or retries. [`BuiltinRenderer`] is the default backend: classical
//! non-photorealistic rendering on the CPU, with no model files and no GPU.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use image::{GrayImage, RgbImage};
use serde::{Deserialize, Serialize};

pub mod builtin;
pub mod faces;
mod painter_text;
mod resize;
#[doc(hidden)]
pub mod samples;

pub use builtin::BuiltinRenderer;

/// The four painters a booth offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Painter {
    Picasso,
    Renoir,
    #[serde(rename = "vangogh")]
    VanGogh,
    Lichtenstein,
}

impl Painter {
    /// Every painter, in the order the booth shows them.
    pub const ALL: [Painter; 4] = [
        Painter::Picasso,
        Painter::Renoir,
        Painter::VanGogh,
        Painter::Lichtenstein,
    ];

    /// The stable id used in the API, the store and file names.
    pub fn id(self) -> &'static str {
        match self {
            Painter::Picasso => "picasso",
            Painter::Renoir => "renoir",
            Painter::VanGogh => "vangogh",
            Painter::Lichtenstein => "lichtenstein",
        }
    }

    /// The painter's name in English.
    pub fn name_en(self) -> &'static str {
        painter_text::name_en(self)
    }

    /// The painter's name in Korean.
    pub fn name_ko(self) -> &'static str {
        painter_text::name_ko(self)
    }

    /// A one-line tagline for the single-painter ticket: (Korean, English).
    pub fn tagline(self) -> (&'static str, &'static str) {
        painter_text::tagline(self)
    }
}

impl fmt::Display for Painter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The id was none of `picasso`, `renoir`, `vangogh` or `lichtenstein`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown painter {0:?}; expected one of picasso, renoir, vangogh, lichtenstein")]
pub struct UnknownPainter(pub String);

impl FromStr for Painter {
    type Err = UnknownPainter;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Painter::ALL
            .into_iter()
            .find(|p| p.id() == s)
            .ok_or_else(|| UnknownPainter(s.to_owned()))
    }
}

/// One painter's work on one photo.
#[derive(Clone)]
pub struct PaintJob {
    pub painter: Painter,
    /// The visit this job belongs to. Queueing backends use it to share their servers
    /// fairly between visits and to caption each photo once.
    pub visit_id: Arc<str>,
    /// The photo after intake: upright, at most the configured long side.
    pub photo: Arc<RgbImage>,
    /// The same photo as the intake JPEG, for backends that send bytes over the wire.
    pub photo_jpeg: Arc<[u8]>,
    /// Seeds every random choice, so the same visit paints the same picture.
    pub seed: u64,
    /// Which pixels of `photo` are the person (255) and which the background (0), at
    /// the photo's size, when the booth has a matting model.
    pub matte: Option<Arc<GrayImage>>,
    /// The faces intake found in `photo` while it looked for the person; `None` when it
    /// did not look (a painter that needs them then finds them itself).
    pub faces: Option<Arc<Vec<faces::Face>>>,
}

/// What a backend tells the visit about one job while it works on it.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// The job waits for a free painter; `visits_ahead` other visits are served first.
    Queued { visits_ahead: usize },
    /// A painter (a CPU slot or a server) started on the job. Per-try time limits count
    /// from here, so time spent waiting in a queue is not held against the painter.
    Started,
    /// Fraction done, 0.0 to 1.0.
    Progress(f32),
    /// A look at the painting as it emerges: a small JPEG. Shown live in the painter's
    /// frame and never stored.
    Preview(Arc<[u8]>),
}

/// Previews are at most this many pixels on their long side: enough for a painter's
/// frame on a phone, a few kilobytes as JPEG.
pub const PREVIEW_LONG_SIDE: u32 = 256;

/// A picture as an [`Update::Preview`]: shrunk to [`PREVIEW_LONG_SIDE`] and encoded as
/// JPEG at quality 70; `None` if it cannot be encoded (an empty picture).
pub fn preview_jpeg(picture: &RgbImage) -> Option<Arc<[u8]>> {
    let (w, h) = picture.dimensions();
    if w == 0 || h == 0 {
        return None;
    }
    let long = w.max(h);
    let shrunk;
    let picture = if long > PREVIEW_LONG_SIDE {
        let scale = PREVIEW_LONG_SIDE as f64 / long as f64;
        let (nw, nh) = (
            ((w as f64 * scale).round() as u32).max(1),
            ((h as f64 * scale).round() as u32).max(1),
        );
        shrunk = image::imageops::resize(picture, nw, nh, image::imageops::FilterType::Triangle);
        &shrunk
    } else {
        picture
    };
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 70)
        .encode_image(picture)
        .ok()?;
    Some(out.into())
}

/// A preview a server sent (JPEG, PNG, WebP…) as an [`Update::Preview`]; `None` when it
/// is not a picture.
pub fn preview_from_bytes(bytes: &[u8]) -> Option<Arc<[u8]>> {
    let picture = image::load_from_memory(bytes).ok()?.to_rgb8();
    preview_jpeg(&picture)
}

/// Receives [`Update`]s. Cheap to call; backends call it freely.
pub type Progress = Arc<dyn Fn(Update) + Send + Sync>;

/// A boxed future, so that backends can sit behind `dyn Stylizer`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why one painter failed on one photo. The web layer decides whether to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StyleError {
    /// The backend is busy or unreachable; trying again later may work.
    #[error("the painter is unavailable: {0}")]
    Unavailable(String),
    /// The backend failed while painting.
    #[error("painting failed: {0}")]
    Failed(String),
    /// The backend refused the request itself (an HTTP 4xx such as a wrong sampler
    /// name or a missing checkpoint). Sending it again cannot help.
    #[error("the request was refused: {0}")]
    Rejected(String),
}

impl StyleError {
    /// Whether trying the same job again may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, StyleError::Rejected(_))
    }
}

/// A backend that paints photos in a painter's style.
pub trait Stylizer: Send + Sync {
    /// A short name for logs and the operator page, e.g. "builtin".
    fn backend(&self) -> &'static str;

    /// Whether the backend can take new work now. A server pool with no healthy server
    /// answers false, so the booth can fall back or tell the visitor.
    fn available(&self) -> bool {
        true
    }

    /// Paints `job.photo` as `job.painter` would. The result has the photo's aspect
    /// ratio; the built-in renderer keeps its size, Stable Diffusion paints at its own
    /// resolution (multiples of 64).
    fn paint(
        &self,
        job: PaintJob,
        progress: Progress,
    ) -> BoxFuture<'_, Result<RgbImage, StyleError>>;
}
