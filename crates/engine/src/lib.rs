//! Style backend: Stable Diffusion img2img on candle, with no Python anywhere.
//!
//! - [`layout`]: the model directory (diffusers layout), checked up front.
//! - [`config`]: diffusers configs turned into candle model configs.
//! - [`text`]: the CLIP tokenizer and text encoders.
//! - [`vae`]: our VAE: the encoder to the latent mean (deterministic) and the decoder.
//! - [`conv`]: convolutions and residual blocks (a fast CPU convolution).
//! - [`norm`]: group norms, with the SiLU after them, as one CPU pass.
//! - [`linear`]: linear layers, in bf16 on the CPU where that pays.
//! - [`bf16`], [`amx`]: the CPU's bf16 matrix products (AVX-512 BF16, AMX tiles).
//! - [`cpu`]: process settings for painting on the CPU (malloc keeps freed blocks).
//! - [`attention`]: the UNet's transformer and a fused CPU attention.
//! - [`clip`]: our CLIP text encoder (both tensor layouts, SDXL's pooled output).
//! - [`unet`]: our UNet, with SDXL's added conditioning.
//! - [`sampler`]: DDIM, Euler a and DPM++ 2M Karras, step for step as diffusers.
//! - [`lora`]: LoRA files (diffusers/PEFT and kohya), fused into the weights at load.
//! - [`pipeline`]: the img2img pipeline with batching and classifier-free guidance.
//! - [`tiny`]: builds tiny random-weight models in the real file formats, for tests.
//!
//! Build with `--features cuda` (and `flash-attn`) for a GPU. The CPU build runs the
//! same code, slowly, and is what the tests use.

pub mod amx;
pub mod attention;
pub mod backend;
pub mod bf16;
pub mod blip;
pub mod caption;
pub mod clip;
pub mod config;
pub mod conv;
pub mod cpu;
pub mod direct;
mod fastmath;
pub mod layout;
pub mod linear;
pub mod lora;
pub mod norm;
pub mod pipeline;
mod prep;
#[cfg(any(test, feature = "test-models"))]
mod random;
pub mod sampler;
pub mod service;
pub mod taesd;
pub mod text;
#[cfg(any(test, feature = "test-models"))]
pub mod tiny;
pub mod unet;
pub mod vae;
mod vision;
pub mod worker;

pub use candle_core;
pub use candle_nn;
pub use layout::{Family, LayoutError, ModelFiles};
pub use lora::LoraRef;
pub use pipeline::{Arch, ChangeMap, Engine, Img2Img, Sampler};
pub use service::EngineService;

/// The largest |x| in a tensor, in f32 (for comparing outputs with a reference).
pub fn max_abs(t: &candle_core::Tensor) -> candle_core::Result<f32> {
    t.to_dtype(candle_core::DType::F32)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_scalar::<f32>()
}

/// `t` rounded to bf16 and back, in f32: what the bf16 kernels' tests compare against.
#[cfg(test)]
pub(crate) fn bf16_rounded(t: &candle_core::Tensor) -> candle_core::Tensor {
    t.to_dtype(candle_core::DType::BF16)
        .and_then(|t| t.to_dtype(candle_core::DType::F32))
        .expect("a CPU tensor converts")
}

/// The string metadata of a safetensors file (the parity fixtures keep their prompt,
/// steps and guidance there).
pub fn fixture_metadata(
    path: &std::path::Path,
) -> Result<std::collections::HashMap<String, String>, EngineError> {
    let bytes =
        std::fs::read(path).map_err(|e| EngineError::Load(format!("{}: {e}", path.display())))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| EngineError::Load(format!("{}: {e}", path.display())))?;
    Ok(meta.metadata().clone().unwrap_or_default())
}

/// Whether this build uses flash attention (feature `flash-attn`, CUDA only).
pub const FLASH_ATTN: bool = cfg!(feature = "flash-attn");

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

/// A device from its name: `cpu`, `cuda` or `cuda:N` (CUDA needs the `cuda` feature).
pub fn device(name: &str) -> Result<candle_core::Device, EngineError> {
    let name = name.trim();
    if name.is_empty() || name == "cpu" {
        return Ok(candle_core::Device::Cpu);
    }
    let ordinal = match name.strip_prefix("cuda") {
        Some("") => 0,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                EngineError::Load(format!("unknown device {name:?}; use cpu or cuda:N"))
            })?,
        None => {
            return Err(EngineError::Load(format!(
                "unknown device {name:?}; use cpu or cuda:N"
            )))
        }
    };
    candle_core::Device::new_cuda(ordinal).map_err(|e| {
        EngineError::Load(format!(
            "cannot open {name}: {e} (CUDA needs a build with `--features cuda` and an NVIDIA driver)"
        ))
    })
}

/// The number type for a device: `f32` on the CPU; half precision on a GPU (`bf16` by
/// default: as fast as `f16` and free of the SDXL VAE's `f16` overflow).
pub fn dtype(
    device: &candle_core::Device,
    name: Option<&str>,
) -> Result<candle_core::DType, EngineError> {
    use candle_core::DType;
    match name.map(str::trim) {
        None | Some("") => Ok(if device.is_cpu() {
            DType::F32
        } else {
            DType::BF16
        }),
        Some("f32") => Ok(DType::F32),
        Some("f16") => Ok(DType::F16),
        Some("bf16") => Ok(DType::BF16),
        Some(other) => Err(EngineError::Load(format!(
            "unknown dtype {other:?}; use f32, f16 or bf16"
        ))),
    }
}
