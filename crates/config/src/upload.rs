//! `[upload]`: what a photo may be, and how the intake shrinks and re-encodes it.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Size and pixel limits, the long side photos are shrunk to, and the JPEG quality:
    /// the keys `max_bytes`, `max_width`, `max_height`, `max_pixels`, `long_side` and
    /// `jpeg_quality`, as intake defines them.
    #[serde(flatten)]
    pub intake: articket_intake::IntakeOptions,
    /// The longest visitor name kept, in characters.
    pub max_name_chars: usize,
    /// How many photos are decoded at once. 0 = one per core.
    pub workers: usize,
    /// How many more uploads may wait for a worker; beyond that they get 503.
    pub queue: usize,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            intake: articket_intake::IntakeOptions::default(),
            max_name_chars: 24,
            workers: 0,
            queue: 8,
        }
    }
}
