//! `[painting]`: each painter's tries and time limits.

use std::collections::BTreeMap;
use std::path::PathBuf;

use articket_style::builtin::backdrop::Background;
use articket_style::Painter;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PaintingConfig {
    /// The painters a visit gets unless the upload names some.
    pub painters: Vec<Painter>,
    /// Tries per painter before it is marked failed.
    pub attempts: u32,
    /// Time limit for one try of one painter, counted from when a painter starts on it
    /// (time waiting in a queue does not count).
    pub timeout_secs: u64,
    /// First pause before a retry; each further retry waits about twice as long.
    pub backoff_ms: u64,
    /// Every painter of a visit ends (done or failed) within this time of the upload.
    pub visit_timeout_secs: u64,
    /// The built-in renderer's knobs per painter: `[painting.builtin.vangogh]` etc.
    pub builtin: articket_style::builtin::BuiltinParams,
    /// What the built-in painters put behind the visitor when the photo has a matte
    /// (`[matting]`): "photo" (the photo's own background), "painter" (the painter's
    /// world) or "image" (`background_image`, painted by the painter).
    pub background: Background,
    /// Painters whose background differs: `[painting.backgrounds] vangogh = "photo"`.
    pub backgrounds: BTreeMap<Painter, Background>,
    /// The operator's picture for `background = "image"` (JPEG, PNG or WebP).
    pub background_image: Option<PathBuf>,
}

impl Default for PaintingConfig {
    fn default() -> Self {
        Self {
            painters: Painter::ALL.to_vec(),
            attempts: 3,
            timeout_secs: 120,
            backoff_ms: 1000,
            visit_timeout_secs: 600,
            builtin: Default::default(),
            background: Background::default(),
            backgrounds: BTreeMap::new(),
            background_image: None,
        }
    }
}
