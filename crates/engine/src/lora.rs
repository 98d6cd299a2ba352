//! LoRA: low-rank updates of a model's weights, fused into them when loaded, so a
//! painting with a LoRA costs not one operation more per step.
//!
//! Two file formats, as people download them:
//! - diffusers/PEFT (`save_lora_weights`): `unet.<module>.lora_A.weight` and
//!   `.lora_B.weight`, `text_encoder.…`, `text_encoder_2.…`; rank and alpha in the
//!   file's `lora_adapter_metadata` (PEFT's config per part). Older diffusers files
//!   (`….lora.down.weight`, `processor.to_q_lora.down.weight`) are read too.
//! - kohya (sd-scripts, what A1111 and ComfyUI users download): `lora_unet_<module with
//!   _>.lora_down.weight`, `.lora_up.weight` and `.alpha`; `lora_te_` (SD 1.x/2.x),
//!   `lora_te1_`, `lora_te2_` (SDXL's two text encoders).
//!
//! Each layer adds `weight × scale × up·down` to the module's weight, where scale is
//! alpha ÷ rank (alpha ÷ √rank for rsLoRA), as diffusers' `fuse_lora(lora_scale=weight)`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::EngineError;

/// One LoRA file and how strongly it applies (1 = as trained).
#[derive(Debug, Clone, PartialEq)]
pub struct LoraRef {
    pub path: PathBuf,
    pub weight: f64,
}

/// Which of the model's weight files a LoRA layer changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Part {
    Unet,
    /// The n-th text encoder (SDXL has two).
    Text(usize),
}

/// How a layer names its module.
#[derive(Debug, Clone, PartialEq)]
enum Name {
    /// diffusers' module path: `down_blocks.0.attentions.0.proj_in`.
    Dotted(String),
    /// kohya's: the same with every `.` turned into `_`.
    Flat(String),
}

/// One low-rank update, read from a file.
pub(crate) struct Layer {
    pub(crate) part: Part,
    name: Name,
    /// The file's key for it, for messages.
    key: String,
    down: Tensor,
    up: Tensor,
    /// alpha ÷ rank.
    scale: f64,
}

fn err(path: &Path, msg: impl std::fmt::Display) -> EngineError {
    EngineError::Load(format!("LoRA {}: {msg}", path.display()))
}

/// The roles a tensor plays, from the end of its key.
#[derive(Clone, Copy)]
enum Role {
    Down,
    Up,
    Alpha,
}

/// Splits a key into (layer name, role); `None` for keys that are not LoRA tensors.
fn split(key: &str) -> Option<(String, Role)> {
    const ENDINGS: &[(&str, Role)] = &[
        (".lora_down.weight", Role::Down),
        (".lora_up.weight", Role::Up),
        (".lora_A.weight", Role::Down),
        (".lora_B.weight", Role::Up),
        (".lora.down.weight", Role::Down),
        (".lora.up.weight", Role::Up),
        (".lora_linear_layer.down.weight", Role::Down),
        (".lora_linear_layer.up.weight", Role::Up),
        (".alpha", Role::Alpha),
    ];
    for &(end, role) in ENDINGS {
        if let Some(name) = key.strip_suffix(end) {
            return Some((name.to_owned(), role));
        }
    }
    // Old diffusers attention processors: `….attn1.processor.to_q_lora.down.weight`.
    for (end, role) in [(".down.weight", Role::Down), (".up.weight", Role::Up)] {
        if let Some(name) = key.strip_suffix(end) {
            if let Some((head, proj)) = name.rsplit_once(".processor.") {
                let proj = match proj.strip_suffix("_lora")? {
                    "to_out" => "to_out.0",
                    p => p,
                };
                return Some((format!("{head}.{proj}"), role));
            }
        }
    }
    None
}

/// The part and the module's name from a layer name.
fn part_of(layer: &str) -> Option<(Part, Name)> {
    const FLAT: &[(&str, Part)] = &[
        ("lora_unet_", Part::Unet),
        ("lora_te_", Part::Text(0)),
        ("lora_te1_", Part::Text(0)),
        ("lora_te2_", Part::Text(1)),
    ];
    const DOTTED: &[(&str, Part)] = &[
        ("unet.", Part::Unet),
        ("text_encoder.", Part::Text(0)),
        ("text_encoder_2.", Part::Text(1)),
    ];
    for (prefix, part) in FLAT {
        if let Some(rest) = layer.strip_prefix(prefix) {
            return Some((*part, Name::Flat(rest.to_owned())));
        }
    }
    for (prefix, part) in DOTTED {
        if let Some(rest) = layer.strip_prefix(prefix) {
            return Some((*part, Name::Dotted(rest.to_owned())));
        }
    }
    None
}

/// PEFT's config per part, from the file's `lora_adapter_metadata`.
#[derive(Default)]
struct PeftConfig {
    alpha: HashMap<&'static str, f64>,
    alpha_pattern: HashMap<&'static str, Vec<(String, f64)>>,
    rslora: HashSet<&'static str>,
}

impl PeftConfig {
    fn read(meta: &HashMap<String, String>) -> PeftConfig {
        let mut cfg = PeftConfig::default();
        let Some(json) = meta.get("lora_adapter_metadata") else {
            return cfg;
        };
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(json) else {
            return cfg;
        };
        for part in ["unet", "text_encoder", "text_encoder_2"] {
            if let Some(a) = map
                .get(&format!("{part}.lora_alpha"))
                .and_then(|v| v.as_f64())
            {
                cfg.alpha.insert(part, a);
            }
            if let Some(serde_json::Value::Object(p)) = map.get(&format!("{part}.alpha_pattern")) {
                let list = p
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                    .collect();
                cfg.alpha_pattern.insert(part, list);
            }
            if map
                .get(&format!("{part}.use_rslora"))
                .and_then(|v| v.as_bool())
                == Some(true)
            {
                cfg.rslora.insert(part);
            }
        }
        cfg
    }

    /// alpha for a module, PEFT's way: a pattern the module's path ends with wins.
    fn alpha(&self, part: &str, module: &str) -> Option<f64> {
        if let Some(list) = self.alpha_pattern.get(part) {
            for (pattern, a) in list {
                if module == pattern || module.ends_with(&format!(".{pattern}")) {
                    return Some(*a);
                }
            }
        }
        self.alpha.get(part).copied()
    }
}

/// Reads a LoRA file: every layer, with its scale. Tensors of kinds we do not fuse
/// (LoHa, LoKr, DoRA, LoCon's mid weights) stop the read, naming the kind.
pub(crate) fn read(path: &Path) -> Result<Vec<Layer>, EngineError> {
    if !path.is_file() {
        return Err(err(path, "no such file"));
    }
    // Read once: the tensors and the header's metadata come from the same bytes.
    let bytes = std::fs::read(path).map_err(|e| err(path, e))?;
    let not_safetensors =
        |e: &dyn std::fmt::Display| err(path, format!("not a safetensors file ({e})"));
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .map_err(|e| not_safetensors(&e))?;
    let (_, header) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| not_safetensors(&e))?;
    let peft = PeftConfig::read(&header.metadata().clone().unwrap_or_default());

    let mut keys: Vec<&String> = tensors.keys().collect();
    keys.sort();
    #[derive(Default)]
    struct Pieces {
        key: String,
        down: Option<Tensor>,
        up: Option<Tensor>,
        alpha: Option<f64>,
    }
    let mut layers: HashMap<String, Pieces> = HashMap::new();
    let mut order = Vec::new();
    for key in keys {
        for (kind, what) in [
            ("hada_", "LoHa"),
            ("lokr_", "LoKr"),
            ("dora_scale", "DoRA"),
            ("lora_magnitude_vector", "DoRA"),
            ("lora_mid", "LoCon with a mid weight (Tucker)"),
        ] {
            if key.contains(kind) {
                return Err(err(
                    path,
                    format!("{what} files are not supported, only plain LoRA (key `{key}`)"),
                ));
            }
        }
        let Some((name, role)) = split(key) else {
            return Err(err(path, format!("`{key}` is not a LoRA tensor")));
        };
        let entry = layers.entry(name.clone()).or_insert_with(|| {
            order.push(name.clone());
            Pieces {
                key: key.clone(),
                ..Default::default()
            }
        });
        let t = tensors[key].clone();
        match role {
            Role::Down => entry.down = Some(t),
            Role::Up => entry.up = Some(t),
            Role::Alpha => {
                let a = t
                    .to_dtype(DType::F32)
                    .and_then(|t| t.flatten_all()?.to_vec1::<f32>())
                    .map_err(|e| err(path, e))?;
                entry.alpha = a.first().map(|&a| a as f64);
            }
        }
    }
    let mut out = Vec::with_capacity(order.len());
    for name in order {
        let p = layers.remove(&name).expect("collected");
        let (Some(down), Some(up)) = (p.down, p.up) else {
            return Err(err(
                path,
                format!("`{}` lacks its down or up weight", p.key),
            ));
        };
        let Some((part, module)) = part_of(&name) else {
            return Err(err(
                path,
                format!(
                    "`{}` names no part we know (lora_unet_, lora_te_, unet., text_encoder.)",
                    p.key
                ),
            ));
        };
        let rank = down.dim(0).map_err(|e| err(path, e))? as f64;
        let part_name = match part {
            Part::Unet => "unet",
            Part::Text(0) => "text_encoder",
            Part::Text(_) => "text_encoder_2",
        };
        let dotted = match &module {
            Name::Dotted(m) => m.as_str(),
            Name::Flat(_) => "",
        };
        let alpha = p.alpha.or_else(|| peft.alpha(part_name, dotted));
        let scale = match alpha {
            Some(a) if peft.rslora.contains(part_name) => a / rank.sqrt(),
            Some(a) => a / rank,
            None => 1.0,
        };
        out.push(Layer {
            part,
            name: module,
            key: p.key,
            down,
            up,
            scale,
        });
    }
    if out.is_empty() {
        return Err(err(path, "holds no LoRA layers"));
    }
    Ok(out)
}

/// Finds the weight each layer changes among one part's tensor names.
struct Index {
    keys: HashSet<String>,
    flat: HashMap<String, String>,
}

impl Index {
    fn new<'a>(names: impl Iterator<Item = &'a String>) -> Index {
        let keys: HashSet<String> = names.cloned().collect();
        let mut flat = HashMap::new();
        for key in &keys {
            if let Some(module) = key.strip_suffix(".weight") {
                // Text encoders are saved with and without `text_model.`; a LoRA may
                // name them either way.
                let bare = module.strip_prefix("text_model.").unwrap_or(module);
                for m in [bare.to_owned(), format!("text_model.{bare}")] {
                    flat.insert(m.replace('.', "_"), key.clone());
                }
            }
        }
        Index { keys, flat }
    }

    fn find(&self, name: &Name) -> Option<&String> {
        match name {
            Name::Flat(f) => self.flat.get(f),
            Name::Dotted(m) => {
                let bare = m.strip_prefix("text_model.").unwrap_or(m);
                [
                    format!("{m}.weight"),
                    format!("{bare}.weight"),
                    format!("text_model.{bare}.weight"),
                ]
                .into_iter()
                .find_map(|k| self.keys.get(&k))
            }
        }
    }
}

/// The model's weights, by part, as loaded: what LoRAs are fused into.
pub(crate) type Weights = HashMap<String, Tensor>;

/// Fuses `loras` into copies of the weights they change and returns those, per part;
/// the weights they leave alone are shared with the base model.
pub(crate) fn fuse(
    loras: &[LoraRef],
    parts: &HashMap<Part, &Weights>,
    dtype: DType,
) -> Result<HashMap<Part, HashMap<String, Tensor>>, EngineError> {
    let mut sums: HashMap<Part, HashMap<String, Tensor>> = HashMap::new();
    let indexes: HashMap<Part, Index> = parts
        .iter()
        .map(|(p, w)| (*p, Index::new(w.keys())))
        .collect();
    for lora in loras {
        let path = &lora.path;
        let layers = read(path)?;
        let total = layers.len();
        let mut unmatched = Vec::new();
        for layer in layers {
            let (Some(index), Some(weights)) = (indexes.get(&layer.part), parts.get(&layer.part))
            else {
                unmatched.push(layer.key);
                continue;
            };
            let Some(key) = index.find(&layer.name) else {
                unmatched.push(layer.key);
                continue;
            };
            let base = &weights[key];
            let fused = sums.entry(layer.part).or_default();
            let current = match fused.remove(key) {
                Some(t) => t,
                None => base.to_dtype(DType::F32).map_err(|e| err(path, e))?,
            };
            let delta = delta(&layer, base.dims())
                .map_err(|e| err(path, format!("`{}` does not fit `{key}`: {e}", layer.key)))?;
            let updated = (current
                + (delta * (lora.weight * layer.scale)).map_err(|e| err(path, e))?)
            .map_err(|e| err(path, e))?;
            fused.insert(key.clone(), updated);
        }
        if !unmatched.is_empty() {
            if unmatched.len() * 2 >= total {
                return Err(err(
                    path,
                    format!(
                        "{} of its {total} layers match nothing in this model, first `{}`: \
                         is it made for another model family (SD 1.5, SD 2.x, SDXL)?",
                        unmatched.len(),
                        unmatched[0]
                    ),
                ));
            }
            tracing::warn!(
                lora = %path.display(),
                "{} of {total} layers match nothing in this model and are left out, first `{}`",
                unmatched.len(),
                unmatched[0]
            );
        }
    }
    for tensors in sums.values_mut() {
        for t in tensors.values_mut() {
            *t = t
                .to_dtype(dtype)
                .map_err(|e| EngineError::Load(e.to_string()))?;
        }
    }
    Ok(sums)
}

/// up·down in the weight's shape, in f32: linear layers and convolutions alike (a
/// LoRA on a 3×3 convolution has a 3×3 down and a 1×1 up).
fn delta(layer: &Layer, shape: &[usize]) -> candle_core::Result<Tensor> {
    let device = layer.down.device();
    let rank = layer.down.dim(0)?;
    let out = layer.up.dim(0)?;
    let rest = layer.down.elem_count() / rank;
    let up = layer.up.to_dtype(DType::F32)?.reshape((out, rank))?;
    let down = layer.down.to_dtype(DType::F32)?.reshape((rank, rest))?;
    let want: usize = shape.iter().product();
    if out * rest != want || shape.first() != Some(&out) {
        candle_core::bail!("its update is {out}×{rest}, the weight is {shape:?}");
    }
    up.matmul(&down)?.reshape(shape)?.to_device(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_every_format_name_their_module() {
        let name = |k: &str| split(k).map(|(n, _)| n);
        assert_eq!(
            name("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight").as_deref(),
            Some("lora_unet_down_blocks_0_attentions_0_proj_in")
        );
        assert_eq!(
            name("unet.mid_block.attentions.0.proj_out.lora_B.weight").as_deref(),
            Some("unet.mid_block.attentions.0.proj_out")
        );
        assert_eq!(
            name("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.processor.to_out_lora.up.weight")
                .as_deref(),
            Some("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_out.0")
        );
        assert_eq!(name("unet.conv_in.weight"), None);
        let idx = Index::new(["text_model.encoder.layers.0.mlp.fc1.weight".to_owned()].iter());
        let want = "text_model.encoder.layers.0.mlp.fc1.weight";
        for n in [
            Name::Flat("text_model_encoder_layers_0_mlp_fc1".into()),
            Name::Flat("encoder_layers_0_mlp_fc1".into()),
            Name::Dotted("encoder.layers.0.mlp.fc1".into()),
            Name::Dotted("text_model.encoder.layers.0.mlp.fc1".into()),
        ] {
            assert_eq!(idx.find(&n).map(String::as_str), Some(want), "{n:?}");
        }
    }
}
