//! diffusers `config.json` files turned into candle's model configs, so any model in
//! the diffusers layout loads with its own shapes (full-size checkpoints and the tiny
//! test models alike).

use std::path::Path;

use candle_transformers::models::stable_diffusion::vae;

use crate::unet::{TextTime, UnetLevel, UnetShape};
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

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The UNet's shape. Refuses, by name, what our UNet does not implement rather than
/// painting wrongly without it.
pub fn unet(path: &Path) -> Result<UnetShape, LayoutError> {
    let v = read_json(path)?;
    let channels = usizes_of(&v, "block_out_channels", path)?;
    let names = |key: &str| -> Result<Vec<String>, LayoutError> {
        v.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .ok_or_else(|| bad(path, format!("`{key}` is missing")))
    };
    let down = names("down_block_types")?;
    if down.len() != channels.len() || channels.is_empty() {
        return Err(bad(
            path,
            "`down_block_types` and `block_out_channels` differ in length",
        ));
    }
    let cross: Vec<bool> = down
        .iter()
        .map(|t| match t.as_str() {
            "CrossAttnDownBlock2D" => Ok(true),
            "DownBlock2D" => Ok(false),
            other => Err(bad(
                path,
                format!("down block type {other:?} is not supported"),
            )),
        })
        .collect::<Result<_, _>>()?;
    let up = names("up_block_types")?;
    let mirrored: Vec<String> = down.iter().rev().map(|t| t.replace("Down", "Up")).collect();
    if up != mirrored {
        return Err(bad(
            path,
            format!("`up_block_types` must mirror the down blocks ({mirrored:?})"),
        ));
    }
    if let Some(mid) = str_of(&v, "mid_block_type") {
        if mid != "UNetMidBlock2DCrossAttn" {
            return Err(bad(
                path,
                format!("mid block type {mid:?} is not supported"),
            ));
        }
    }
    for key in ["class_embed_type", "encoder_hid_dim_type"] {
        if v.get(key).is_some_and(|x| !x.is_null()) {
            return Err(bad(path, format!("`{key}` is not supported")));
        }
    }
    let n = channels.len();
    // diffusers' naming: `attention_head_dim` is the number of heads unless
    // `num_attention_heads` is given.
    let heads = match v.get("num_attention_heads") {
        Some(x) if !x.is_null() => per_block(&v, "num_attention_heads", n, 8, path)?,
        _ => per_block(&v, "attention_head_dim", n, 8, path)?,
    };
    let layers = per_block(&v, "transformer_layers_per_block", n, 1, path)?;
    let groups = v
        .get("norm_num_groups")
        .and_then(Value::as_u64)
        .unwrap_or(32) as usize;
    if let Some(c) = channels
        .iter()
        .find(|&&c| groups == 0 || !c.is_multiple_of(groups))
    {
        return Err(bad(
            path,
            format!("{c} channels do not split into {groups} norm groups"),
        ));
    }
    let text_time = match str_of(&v, "addition_embed_type") {
        None => None,
        Some("text_time") => Some(TextTime {
            time_embed_dim: usize_of(&v, "addition_time_embed_dim", path)?,
            input_dim: usize_of(&v, "projection_class_embeddings_input_dim", path)?,
        }),
        Some(other) => {
            return Err(bad(
                path,
                format!("addition_embed_type {other:?} is not supported"),
            ))
        }
    };
    let levels = (0..n)
        .map(|i| UnetLevel {
            channels: channels[i],
            transformer_layers: cross[i].then_some(layers[i]),
            heads: heads[i],
        })
        .collect();
    Ok(UnetShape {
        in_channels: v.get("in_channels").and_then(Value::as_u64).unwrap_or(4) as usize,
        out_channels: v.get("out_channels").and_then(Value::as_u64).unwrap_or(4) as usize,
        levels,
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
        use_linear_projection: v
            .get("use_linear_projection")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        flip_sin_to_cos: v
            .get("flip_sin_to_cos")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        freq_shift: v.get("freq_shift").and_then(Value::as_f64).unwrap_or(0.0),
        center_input_sample: v
            .get("center_input_sample")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        text_time,
        time_cond_proj_dim: v
            .get("time_cond_proj_dim")
            .and_then(Value::as_u64)
            .map(|d| d as usize),
    })
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
    pub layer_norm_eps: f64,
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
        layer_norm_eps: v
            .get("layer_norm_eps")
            .and_then(Value::as_f64)
            .unwrap_or(1e-5),
    })
}
