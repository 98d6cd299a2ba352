//! diffusers `config.json` files turned into candle's model configs, so any model in
//! the diffusers layout loads with its own shapes (full-size checkpoints and the tiny
//! test models alike).

use std::path::Path;

use candle_transformers::models::stable_diffusion::{unet_2d, vae};
use serde_json::Value;

use crate::layout::{read_json, LayoutError};

fn bad(path: &Path, message: impl Into<String>) -> LayoutError {
    LayoutError::BadConfig {
        path: path.display().to_string(),
        message: message.into(),
    }
}

fn usize_of(v: &Value, key: &str, path: &Path) -> Result<usize, LayoutError> {
    v.get(key)
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .ok_or_else(|| bad(path, format!("`{key}` is missing or not a whole number")))
}

fn usizes_of(v: &Value, key: &str, path: &Path) -> Result<Vec<usize>, LayoutError> {
    v.get(key)
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|x| x.as_u64().map(|n| n as usize))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            bad(
                path,
                format!("`{key}` is missing or not a list of whole numbers"),
            )
        })
}

/// A number or one number per block.
fn per_block(
    v: &Value,
    key: &str,
    blocks: usize,
    default: usize,
    path: &Path,
) -> Result<Vec<usize>, LayoutError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(vec![default; blocks]),
        Some(Value::Number(n)) => Ok(vec![n.as_u64().unwrap_or(default as u64) as usize; blocks]),
        Some(Value::Array(_)) => {
            let list = usizes_of(v, key, path)?;
            if list.len() != blocks {
                return Err(bad(
                    path,
                    format!("`{key}` has {} entries for {blocks} blocks", list.len()),
                ));
            }
            Ok(list)
        }
        _ => Err(bad(path, format!("`{key}` must be a number or a list"))),
    }
}

/// The UNet's shape, plus its input channels (4, or 9 for inpainting models).
pub fn unet(path: &Path) -> Result<(unet_2d::UNet2DConditionModelConfig, usize), LayoutError> {
    let v = read_json(path)?;
    let channels = usizes_of(&v, "block_out_channels", path)?;
    let types: Vec<String> = v
        .get("down_block_types")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .ok_or_else(|| bad(path, "`down_block_types` is missing"))?;
    if types.len() != channels.len() || channels.is_empty() {
        return Err(bad(
            path,
            "`down_block_types` and `block_out_channels` differ in length",
        ));
    }
    let heads = per_block(&v, "attention_head_dim", channels.len(), 8, path)?;
    let layers = per_block(&v, "transformer_layers_per_block", channels.len(), 1, path)?;
    let groups = v
        .get("norm_num_groups")
        .and_then(Value::as_u64)
        .unwrap_or(32) as usize;
    if let Some(c) = channels.iter().find(|&&c| c % groups != 0) {
        return Err(bad(
            path,
            format!("{c} channels do not split into {groups} norm groups"),
        ));
    }
    let blocks = channels
        .iter()
        .zip(&types)
        .zip(heads.iter().zip(&layers))
        .map(
            |((&out_channels, t), (&attention_head_dim, &layers))| unet_2d::BlockConfig {
                out_channels,
                use_cross_attn: t.starts_with("CrossAttn").then_some(layers),
                attention_head_dim,
            },
        )
        .collect();
    let config = unet_2d::UNet2DConditionModelConfig {
        center_input_sample: v
            .get("center_input_sample")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        flip_sin_to_cos: v
            .get("flip_sin_to_cos")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        freq_shift: v.get("freq_shift").and_then(Value::as_f64).unwrap_or(0.0),
        blocks,
        layers_per_block: usize_of(&v, "layers_per_block", path)?,
        downsample_padding: v
            .get("downsample_padding")
            .and_then(Value::as_u64)
            .unwrap_or(1) as usize,
        mid_block_scale_factor: v
            .get("mid_block_scale_factor")
            .and_then(Value::as_f64)
            .unwrap_or(1.0),
        norm_num_groups: groups,
        norm_eps: v.get("norm_eps").and_then(Value::as_f64).unwrap_or(1e-5),
        cross_attention_dim: usize_of(&v, "cross_attention_dim", path)?,
        sliced_attention_size: None,
        use_linear_projection: v
            .get("use_linear_projection")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let in_channels = v.get("in_channels").and_then(Value::as_u64).unwrap_or(4) as usize;
    Ok((config, in_channels))
}

/// The VAE's shape and its latent scaling factor.
pub fn vae(path: &Path) -> Result<(vae::AutoEncoderKLConfig, f64), LayoutError> {
    let v = read_json(path)?;
    let config = vae::AutoEncoderKLConfig {
        block_out_channels: usizes_of(&v, "block_out_channels", path)?,
        layers_per_block: usize_of(&v, "layers_per_block", path)?,
        latent_channels: usize_of(&v, "latent_channels", path)?,
        norm_num_groups: v
            .get("norm_num_groups")
            .and_then(Value::as_u64)
            .unwrap_or(32) as usize,
        use_quant_conv: v
            .get("use_quant_conv")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        use_post_quant_conv: v
            .get("use_post_quant_conv")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    };
    let scale = v
        .get("scaling_factor")
        .and_then(Value::as_f64)
        .unwrap_or(0.18215);
    Ok((config, scale))
}

/// A CLIP text encoder's shape, from a transformers `CLIPTextModel` config.
#[derive(Debug, Clone, PartialEq)]
pub struct TextShape {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub max_positions: usize,
    pub activation: String,
    pub projection_dim: usize,
}

pub fn text(path: &Path) -> Result<TextShape, LayoutError> {
    let v = read_json(path)?;
    Ok(TextShape {
        vocab_size: usize_of(&v, "vocab_size", path)?,
        hidden_size: usize_of(&v, "hidden_size", path)?,
        intermediate_size: usize_of(&v, "intermediate_size", path)?,
        layers: usize_of(&v, "num_hidden_layers", path)?,
        heads: usize_of(&v, "num_attention_heads", path)?,
        max_positions: usize_of(&v, "max_position_embeddings", path)?,
        activation: v
            .get("hidden_act")
            .and_then(Value::as_str)
            .unwrap_or("quick_gelu")
            .to_owned(),
        projection_dim: v.get("projection_dim").and_then(Value::as_u64).unwrap_or(0) as usize,
    })
}
