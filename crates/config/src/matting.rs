//! `[matting]`: finding the person in each photo, so painters can paint their world
//! behind the visitor (`[painting] background`).

use std::path::PathBuf;

use serde::Deserialize;

/// Where `articket models pull modnet` puts MODNet's ONNX file.
pub const DEFAULT_MATTING_MODEL: &str = "models/modnet/onnx/model.onnx";

/// `[matting]`: MODNet portrait matting, run once per photo at intake.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MattingConfig {
    /// Off: no matte is made even where the model is present.
    pub enabled: bool,
    /// MODNet's ONNX file. Unset: [`DEFAULT_MATTING_MODEL`] when it exists (the booth
    /// runs without matting, and says how to add it, when it does not). Set: the file
    /// must exist, or the booth does not start.
    pub model: Option<PathBuf>,
    /// The long side the model looks at, 128–1024 (multiples of 32 are used).
    pub side: u32,
}

impl Default for MattingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            model: None,
            // articket_matting::DEFAULT_SIDE (docs/benchmarks.md: what each side costs).
            side: 320,
        }
    }
}

impl MattingConfig {
    /// The model file to load, and whether the operator named it: `None` when matting
    /// is off.
    pub fn model_path(&self) -> Option<(PathBuf, bool)> {
        if !self.enabled {
            return None;
        }
        Some(match &self.model {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from(DEFAULT_MATTING_MODEL), false),
        })
    }
}
