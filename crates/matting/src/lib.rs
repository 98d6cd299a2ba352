//! Portrait matting: how much of each pixel of a visitor's photo is the person.
//!
//! ```text
//! photo ─ shrink to `side` px (multiples of 32) ─ MODNet (ONNX, our interpreter) ─ alpha at `side`
//!       ─ guided upsampling to the photo's size (edges follow the photo: hair stays soft) ─ matte
//! ```
//!
//! The model is MODNet (Ke et al., Apache-2.0), read from its ONNX file by this crate's
//! own small runtime, in Rust: no Python, no C++ runtime, nothing downloaded at run time.
//!
//! - `onnx.rs` reads the file (the protobuf wire format, only the fields inference needs);
//! - `net.rs` runs the graph node by node, with the operators convolutional image models
//!   exported from PyTorch use, and refuses a model with any other at load;
//! - `kernels.rs` has the convolutions: matrix products in the `gemm` crate's AVX-512 /
//!   AVX2 kernels (patches gathered per band of rows; one product per tap for wide
//!   kernels over many channels), depthwise filters in wide vector loops;
//! - `winograd.rs` runs 3×3 convolutions with 64 or more outputs by Winograd's
//!   F(4×4, 3×3);
//! - `direct.rs` runs convolutions with 8 to 32 outputs at stride 1 directly on AVX-512,
//!   the outputs kept in registers.
//!
//! It replaced tract (0.23), which took 2.5–2.8× onnxruntime's time on this model;
//! docs/benchmarks.md has the figures.
//!
//! The booth finds the file where `articket models pull modnet` puts it
//! (`models/modnet/onnx/model.onnx`) or where `[matting] model` says; without it the
//! booth runs as before, with no matte.
//!
//! MODNet was trained on portraits at 512 px; the booth runs it smaller (see
//! [`DEFAULT_SIDE`]) and brings the alpha back to the photo's size with a guided filter
//! whose guide is the photo itself, so the matte's edges land on the photo's edges.

mod direct;
mod guided;
mod kernels;
mod model;
mod net;
mod onnx;
mod products;
mod winograd;

pub use guided::upsample_guided;
pub use model::{input_size, Matter};

use image::GrayImage;

/// The long side MODNet looks at in the booth. docs/benchmarks.md has what 256, 320 and
/// 512 cost and lose against 512.
pub const DEFAULT_SIDE: u32 = 320;

/// A matte: one byte per photo pixel, 255 where the pixel is all person, 0 where it is
/// all background.
pub type Matte = GrayImage;

/// Why a matte could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MattingError {
    /// The model file is missing, unreadable, or not a MODNet-shaped ONNX graph.
    #[error("cannot load the matting model {path}: {why}")]
    Load { path: String, why: String },
    /// The model ran and failed (it should not, once loaded).
    #[error("matting failed: {0}")]
    Run(String),
}

#[cfg(test)]
mod tests;
