//! Full-size models with random weights, for timing without trained weights
//! (`articket bench sd`, the GPU box's script).

use candle_core::DType;
use candle_core::Device;
use candle_nn::VarBuilder;

use crate::clip::{Activation, ClipText};
use crate::config;
use crate::layout::{Family, ModelFiles};
use crate::pipeline::{Arch, Engine, Prompter};
use crate::sampler::{NoiseSchedule, Prediction, Spacing};
use crate::text::Tokenizer;
use crate::tiny::tokenizer_json;
use crate::unet::Unet;
use crate::vae::Vae;
use crate::EngineError;

impl Engine {
    /// A full-size model of `arch` with random weights, built in memory on `device`:
    /// for timing (`articket bench sd`), which needs no trained weights. Feature
    /// `test-models`.
    pub fn random(
        arch: Arch,
        device: &Device,
        dtype: DType,
        use_flash_attn: bool,
    ) -> Result<Engine, EngineError> {
        use crate::unet::{TextTime, UnetLevel, UnetShape};
        use candle_nn::VarMap;
        use candle_transformers::models::stable_diffusion::vae as sdvae;
        if device.is_cpu() {
            crate::cpu::keep_freed_memory();
        }
        let run = || -> candle_core::Result<Engine> {
            let lv = |channels, transformer_layers, heads| UnetLevel {
                channels,
                transformer_layers,
                heads,
            };
            let clip_l = config::TextShape {
                vocab_size: 49408,
                hidden_size: 768,
                intermediate_size: 3072,
                layers: 12,
                heads: 12,
                max_positions: 77,
                activation: "quick_gelu".into(),
                projection_dim: 768,
                layer_norm_eps: 1e-5,
            };
            let big_g = config::TextShape {
                hidden_size: 1280,
                intermediate_size: 5120,
                layers: 32,
                heads: 20,
                activation: "gelu".into(),
                projection_dim: 1280,
                ..clip_l.clone()
            };
            let (levels, cross, linear, family, texts, text_time) = match arch {
                Arch::Sd15 => (
                    vec![
                        lv(320, Some(1), 8),
                        lv(640, Some(1), 8),
                        lv(1280, Some(1), 8),
                        lv(1280, None, 8),
                    ],
                    768,
                    false,
                    Family::Sd15,
                    vec![clip_l],
                    None,
                ),
                Arch::SdxlTurbo => (
                    vec![
                        lv(320, None, 5),
                        lv(640, Some(2), 10),
                        lv(1280, Some(10), 20),
                    ],
                    2048,
                    true,
                    Family::Sdxl,
                    vec![clip_l, big_g],
                    Some(TextTime {
                        time_embed_dim: 256,
                        input_dim: 2816,
                    }),
                ),
            };
            let shape = UnetShape {
                in_channels: 4,
                out_channels: 4,
                levels,
                layers_per_block: 2,
                downsample_padding: 1,
                mid_block_scale_factor: 1.,
                norm_num_groups: 32,
                norm_eps: 1e-5,
                cross_attention_dim: cross,
                use_linear_projection: linear,
                flip_sin_to_cos: true,
                freq_shift: 0.,
                center_input_sample: false,
                text_time,
                time_cond_proj_dim: None,
            };
            let vae_cfg = sdvae::AutoEncoderKLConfig {
                block_out_channels: vec![128, 256, 512, 512],
                layers_per_block: 2,
                latent_channels: 4,
                norm_num_groups: 32,
                use_quant_conv: true,
                use_post_quant_conv: true,
            };
            let vm = VarMap::new();
            let unet = Unet::new(
                VarBuilder::from_varmap(&vm, dtype, device),
                shape,
                use_flash_attn,
            )?;
            let vm = VarMap::new();
            let vb = VarBuilder::from_varmap(&vm, dtype, device);
            let vae = Vae::new(vb, &vae_cfg)?;
            let mut prompters = Vec::new();
            for shape in &texts {
                let tokenizer = Tokenizer::from_json(&tokenizer_json(), 77)
                    .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
                let act = Activation::from_config(&shape.activation).expect("known activation");
                let vm = VarMap::new();
                let model = ClipText::new(
                    VarBuilder::from_varmap(&vm, dtype, device),
                    shape,
                    act,
                    tokenizer.eos(),
                )?;
                prompters.push(Prompter {
                    tokenizer: std::sync::Arc::new(tokenizer),
                    model,
                    shape: shape.clone(),
                    act,
                });
            }
            let name = match arch {
                Arch::Sd15 => "random-sd15",
                Arch::SdxlTurbo => "random-sdxl-turbo",
            };
            let none = std::path::PathBuf::new();
            Ok(Engine {
                vae_factor: 8,
                files: ModelFiles {
                    root: name.into(),
                    family,
                    v_prediction: false,
                    unet_config: none.clone(),
                    unet_weights: none.clone(),
                    vae_config: none.clone(),
                    vae_weights: none.clone(),
                    text_config: none.clone(),
                    text_weights: none.clone(),
                    tokenizer: none,
                    text2: None,
                },
                device: device.clone(),
                dtype,
                unet,
                vae: std::sync::Arc::new(vae),
                vae_scale: if family == Family::Sdxl {
                    0.13025
                } else {
                    0.18215
                },
                tiny: None,
                prompters,
                flash_attn: use_flash_attn,
                weights: None,
                fused: Default::default(),
                keep_fused: 1,
                schedule: NoiseSchedule::stable_diffusion(
                    Prediction::Epsilon,
                    if arch == Arch::SdxlTurbo {
                        Spacing::Trailing
                    } else {
                        Spacing::Leading
                    },
                ),
            })
        };
        run().map_err(|e| EngineError::Load(format!("random {arch:?} model: {e}")))
    }
}
