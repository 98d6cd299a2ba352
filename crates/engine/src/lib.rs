//! Style backend: Stable Diffusion img2img on candle, with no Python anywhere.
//!
//! - [`layout`]: the model directory (diffusers layout), checked up front.
//! - [`config`]: diffusers configs turned into candle model configs.
//! - [`text`]: the CLIP tokenizer and text encoders.
//! - [`latent`]: the VAE encoder returning the latent mean (deterministic).
//! - [`pipeline`]: the img2img pipeline with batching and classifier-free guidance.
//! - [`tiny`]: builds tiny random-weight models in the real file formats, for tests.
//!
//! Build with `--features cuda` (and `flash-attn`) for a GPU. The CPU build runs the
//! same code, slowly, and is what the tests use.

pub mod backend;
pub mod caption;
pub mod config;
pub mod latent;
pub mod layout;
pub mod pipeline;
pub mod service;
pub mod text;
pub mod tiny;
pub mod worker;

pub use layout::{Family, LayoutError, ModelFiles};
pub use pipeline::{Engine, Img2Img, Sampler};
pub use service::EngineService;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("cannot load the model: {0}")]
    Load(String),
    #[error("bad request: {0}")]
    Input(String),
    #[error("painting failed: {0}")]
    Run(String),
    #[error("the engine's queue is full; try again shortly")]
    Busy,
}
