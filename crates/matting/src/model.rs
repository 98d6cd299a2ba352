//! MODNet, loaded once from its ONNX file; one optimised tract plan per input shape.

use std::path::Path;
use std::sync::Mutex;

use image::RgbImage;
use tract_onnx::prelude::*;

use crate::{Matte, MattingError};

type Plan = std::sync::Arc<TypedRunnableModel>;

/// How many input shapes keep their optimised plan (a phone's portrait and landscape
/// photos, a square crop, and a few more).
const PLANS: usize = 6;

/// A loaded matting model. Cheap to share behind an `Arc`; runs on the calling thread.
pub struct Matter {
    proto: InferenceModel,
    side: u32,
    plans: Mutex<Vec<((u32, u32), Plan)>>,
}

/// The model's input size for a `w`×`h` photo at long side `side`: both sides multiples
/// of 32 (MODNet halves the picture five times), the aspect kept as closely as that
/// allows, and never larger than the photo rounded up to 32.
pub fn input_size(w: u32, h: u32, side: u32) -> (u32, u32) {
    let long = w.max(h).max(1) as f32;
    let scale = (side as f32 / long).min(1.0);
    let fit = |v: u32| (((v as f32 * scale) / 32.0).round() as u32).max(1) * 32;
    (fit(w), fit(h))
}

impl Matter {
    /// Reads the ONNX file and prepares the plan for a 3:4 portrait at long side `side`,
    /// so that a broken file fails here and the first visit does not wait for it.
    pub fn load(path: &Path, side: u32) -> Result<Self, MattingError> {
        let shown = path.display().to_string();
        let err = |why: String| MattingError::Load {
            path: shown.clone(),
            why,
        };
        if !path.is_file() {
            return Err(err("no such file".into()));
        }
        let proto = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(|e| err(format!("not a readable ONNX model ({e})")))?;
        if proto.inputs.len() != 1 || proto.outputs.len() != 1 {
            return Err(err(format!(
                "expected one input and one output (MODNet), found {} and {}",
                proto.inputs.len(),
                proto.outputs.len()
            )));
        }
        let matter = Matter {
            proto,
            side: side.clamp(64, 1024),
            plans: Mutex::new(Vec::new()),
        };
        let (w, h) = input_size(384, 512, matter.side);
        matter.plan(w, h).map_err(|e| err(e.to_string()))?;
        Ok(matter)
    }

    /// The long side the model looks at.
    pub fn side(&self) -> u32 {
        self.side
    }

    fn plan(&self, w: u32, h: u32) -> Result<Plan, MattingError> {
        let mut plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = plans.iter().position(|(s, _)| *s == (w, h)) {
            let hit = plans.remove(i);
            let plan = hit.1.clone();
            plans.push(hit);
            return Ok(plan);
        }
        // tract's direct convolution is slower than im2col and a matrix product on
        // MODNet's wide full-resolution layers: 15 % of the run (docs/benchmarks.md).
        let knobs = tract_onnx::tract_core::tract_data::knobs::KnobScope::new([(
            "TRACT_DISABLE_DIRECT_SPATIAL",
            "true",
        )])
        .map_err(|e| MattingError::Run(e.to_string()))?;
        let plan = knobs
            .enter(|| {
                self.proto
                    .clone()
                    .with_input_fact(0, f32::fact([1, 3, h as usize, w as usize]).into())
                    .and_then(|m| m.into_optimized())
                    .and_then(|m| m.into_runnable())
            })
            .map_err(|e| MattingError::Run(format!("preparing {w}×{h}: {e}")))?;
        plans.push(((w, h), plan.clone()));
        if plans.len() > PLANS {
            plans.remove(0);
        }
        Ok(plan)
    }

    /// MODNet's alpha for a picture already at a model size (both sides multiples of 32),
    /// row by row, 0–1. Pixels are normalised as MODNet was trained: (v − 127.5) / 127.5.
    pub fn alpha_at(&self, small: &RgbImage) -> Result<Vec<f32>, MattingError> {
        let (w, h) = small.dimensions();
        if w == 0 || h == 0 || w % 32 != 0 || h % 32 != 0 {
            return Err(MattingError::Run(format!(
                "the model needs sides that are multiples of 32, got {w}×{h}"
            )));
        }
        let plan = self.plan(w, h)?;
        let (wu, hu) = (w as usize, h as usize);
        let mut input = vec![0f32; 3 * wu * hu];
        for (i, p) in small.as_raw().chunks_exact(3).enumerate() {
            for c in 0..3 {
                input[c * wu * hu + i] = (f32::from(p[c]) - 127.5) / 127.5;
            }
        }
        let tensor = Tensor::from_shape(&[1, 3, hu, wu], &input)
            .map_err(|e| MattingError::Run(e.to_string()))?;
        let out = plan
            .run(tvec!(tensor.into()))
            .map_err(|e| MattingError::Run(e.to_string()))?;
        let alpha = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| MattingError::Run(e.to_string()))?;
        if alpha.len() != wu * hu {
            return Err(MattingError::Run(format!(
                "the model answered {} values for {w}×{h} pixels",
                alpha.len()
            )));
        }
        Ok(alpha.iter().map(|a| a.clamp(0.0, 1.0)).collect())
    }

    /// The matte of `photo`, at the photo's size. CPU-bound (about a third of a second
    /// at the default side on one core): run it on a blocking thread.
    pub fn matte(&self, photo: &RgbImage) -> Result<Matte, MattingError> {
        let (pw, ph) = photo.dimensions();
        if pw == 0 || ph == 0 {
            return Err(MattingError::Run("the photo has no pixels".into()));
        }
        let (w, h) = input_size(pw, ph, self.side);
        let small = image::imageops::resize(photo, w, h, image::imageops::FilterType::CatmullRom);
        let alpha = self.alpha_at(&small)?;
        Ok(crate::upsample_guided(&alpha, &small, photo))
    }
}
