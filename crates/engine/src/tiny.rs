//! Tiny Stable Diffusion models for tests: the diffusers layout, SD-shaped configs with
//! tiny channel counts, random weights written as real safetensors files by candle, and
//! a real `tokenizer.json`. Everything then goes through the real loader and pipeline.
//! No weights are downloaded; the paintings are noise, but made the real way.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::clip::text_model as clip;
use candle_transformers::models::stable_diffusion::vae::AutoEncoderKL;
use serde_json::json;

/// Characters the tiny tokenizer knows; anything else becomes `<|endoftext|>`.
const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz0123456789,.-'";

/// Writes a tiny SD 1.5-shaped model into `dir`. Output sizes must be multiples of 2
/// (the tiny VAE halves the image, where a real one divides by 8).
pub fn write_tiny_sd(dir: &Path) -> candle_core::Result<()> {
    let write = |rel: &str, v: serde_json::Value| -> candle_core::Result<()> {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("nested path"))?;
        std::fs::write(p, serde_json::to_vec_pretty(&v).expect("json"))?;
        Ok(())
    };
    let dev = Device::Cpu;
    write(
        "model_index.json",
        json!({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0"}),
    )?;
    write(
        "scheduler/scheduler_config.json",
        json!({"_class_name": "DDIMScheduler", "prediction_type": "epsilon", "timestep_spacing": "leading",
               "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}),
    )?;

    let unet_config = json!({
        "_class_name": "UNet2DConditionModel",
        "in_channels": 4, "out_channels": 4, "sample_size": 16,
        "block_out_channels": [32, 64],
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "attention_head_dim": 4,
        "cross_attention_dim": 32,
        "layers_per_block": 1,
        "norm_num_groups": 8,
        "norm_eps": 1e-5,
        "flip_sin_to_cos": true, "freq_shift": 0, "downsample_padding": 1,
        "use_linear_projection": false
    });
    write("unet/config.json", unet_config)?;
    let shape = crate::config::unet(&dir.join("unet/config.json"))
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let vm = VarMap::new();
    crate::unet::Unet::new(VarBuilder::from_varmap(&vm, DType::F32, &dev), shape, false)?;
    reseed(&vm, 1)?;
    // A freshly initialised UNet predicts noise far larger than a trained one, and
    // guidance multiplies it until every picture saturates. Shrinking the output layer
    // keeps its predictions small and random, like a model early in training, so tests
    // can see strength and seeds at work.
    {
        let data = vm.data().lock().expect("varmap lock");
        for name in ["conv_out.weight", "conv_out.bias"] {
            let var = data.get(name).expect("the UNet has conv_out");
            var.set(&(var.as_tensor() * 0.02)?)?;
        }
    }
    vm.save(dir.join("unet/diffusion_pytorch_model.safetensors"))?;

    write(
        "vae/config.json",
        json!({"_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3,
               "block_out_channels": [16, 32], "layers_per_block": 1, "latent_channels": 4,
               "norm_num_groups": 8, "scaling_factor": 0.18215, "sample_size": 32}),
    )?;
    let (vcfg, _) = crate::config::vae(&dir.join("vae/config.json"))
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    AutoEncoderKL::new(vb, 3, 3, vcfg.clone())?;
    reseed(&vm, 2)?;
    vm.save(dir.join("vae/diffusion_pytorch_model.safetensors"))?;

    let vocab_size = 2 * ALPHABET.len() + 2;
    write(
        "text_encoder/config.json",
        json!({"architectures": ["CLIPTextModel"], "model_type": "clip_text_model",
               "vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64,
               "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 16,
               "hidden_act": "quick_gelu", "projection_dim": 32}),
    )?;
    let shape = crate::config::text(&dir.join("text_encoder/config.json"))
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let vm = VarMap::new();
    let config = clip::ClipTextConfig {
        vocab_size: shape.vocab_size,
        embed_dim: shape.hidden_size,
        activation: clip::Activation::QuickGelu,
        intermediate_size: shape.intermediate_size,
        max_position_embeddings: shape.max_positions,
        pad_with: None,
        num_hidden_layers: shape.layers,
        num_attention_heads: shape.heads,
        projection_dim: shape.projection_dim,
    };
    clip::ClipTextTransformer::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev).pp("text_model"),
        &config,
    )?;
    reseed(&vm, 3)?;
    vm.save(dir.join("text_encoder/model.safetensors"))?;

    write("tokenizer/tokenizer.json", tokenizer_json())?;
    Ok(())
}

/// candle initialises weights from the CPU's unseedable generator, so every test run
/// would get another model, and a test could pass on one and fail on the next. This
/// redraws every randomly initialised weight from `seed`: matrices and kernels with
/// Kaiming's spread for their fan-in (candle's own default), vectors (biases) small;
/// constant ones (norm scales, zero biases) stay as they are.
fn reseed(vm: &VarMap, seed: u64) -> candle_core::Result<()> {
    let data = vm.data().lock().expect("varmap lock");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng: rand::rngs::StdRng = rand::SeedableRng::seed_from_u64(seed);
    for name in names {
        let var = &data[name];
        let t = var.as_tensor();
        let values = t.flatten_all()?.to_vec1::<f32>()?;
        if values.iter().all(|&v| v == values[0]) {
            continue;
        }
        let dims = t.dims();
        let std = if dims.len() >= 2 {
            let fan_in = values.len() / dims[0];
            (2.0 / fan_in as f32).sqrt()
        } else {
            0.02
        };
        let fresh: Vec<f32> = crate::prep::gaussian_from(&mut rng, values.len())
            .into_iter()
            .map(|g| g * std)
            .collect();
        var.set(&Tensor::from_vec(fresh, t.shape(), t.device())?)?;
    }
    Ok(())
}

/// A CLIP-style BPE tokenizer over single characters (with `</w>` word ends), in the
/// Hugging Face `tokenizers` JSON format, with CLIP's start and end tokens.
pub fn tokenizer_json() -> serde_json::Value {
    let mut vocab = serde_json::Map::new();
    for (i, c) in ALPHABET.chars().enumerate() {
        vocab.insert(c.to_string(), json!(i));
        vocab.insert(format!("{c}</w>"), json!(ALPHABET.len() + i));
    }
    let bos = 2 * ALPHABET.len();
    let eos = bos + 1;
    vocab.insert("<|startoftext|>".into(), json!(bos));
    vocab.insert("<|endoftext|>".into(), json!(eos));
    let special = |id: usize, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": true, "special": true})
    };
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(bos, "<|startoftext|>"), special(eos, "<|endoftext|>")],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<|startoftext|>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {
                "<|startoftext|>": {"id": "<|startoftext|>", "ids": [bos], "tokens": ["<|startoftext|>"]},
                "<|endoftext|>": {"id": "<|endoftext|>", "ids": [eos], "tokens": ["<|endoftext|>"]}
            }
        },
        "decoder": null,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": "<|endoftext|>",
            "continuing_subword_prefix": null, "end_of_word_suffix": "</w>",
            "fuse_unk": true, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": []
        }
    })
}

/// Writes a tiny CLIP model (text and vision towers with projections) into `dir`, in
/// the transformers layout: `config.json`, `model.safetensors`, `tokenizer.json`.
pub fn write_tiny_clip(dir: &Path) -> candle_core::Result<()> {
    use candle_transformers::models::clip::{vision_model, ClipConfig, ClipModel};
    std::fs::create_dir_all(dir)?;
    let vocab_size = 2 * ALPHABET.len() + 2;
    let config = json!({
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 16,
        "logit_scale_init_value": 2.6592,
        "text_config": {"vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64,
                        "num_hidden_layers": 2, "num_attention_heads": 4,
                        "max_position_embeddings": 24, "hidden_act": "quick_gelu"},
        "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "image_size": 32, "patch_size": 8,
                          "num_channels": 3, "hidden_act": "quick_gelu"}
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&config).expect("json"),
    )?;
    let text_config = clip::ClipTextConfig {
        vocab_size,
        embed_dim: 32,
        activation: clip::Activation::QuickGelu,
        intermediate_size: 64,
        max_position_embeddings: 24,
        pad_with: None,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        projection_dim: 16,
    };
    let vision_config = vision_model::ClipVisionConfig {
        embed_dim: 32,
        activation: clip::Activation::QuickGelu,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        projection_dim: 16,
        num_channels: 3,
        image_size: 32,
        patch_size: 8,
    };
    let vm = VarMap::new();
    ClipModel::new(
        VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
        &ClipConfig {
            text_config,
            vision_config,
            logit_scale_init_value: 2.6592,
            image_size: 32,
        },
    )?;
    vm.save(dir.join("model.safetensors"))?;
    std::fs::write(
        dir.join("tokenizer.json"),
        serde_json::to_vec_pretty(&tokenizer_json()).expect("json"),
    )?;
    Ok(())
}

/// Writes a tiny BLIP captioning model into `dir`, in the transformers layout, with a
/// WordPiece (BERT-style) `tokenizer.json` over single characters.
pub fn write_tiny_blip(dir: &Path) -> candle_core::Result<()> {
    use candle_transformers::models::{blip, blip_text};
    std::fs::create_dir_all(dir)?;
    let mut vocab = serde_json::Map::new();
    for (i, t) in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
        .iter()
        .enumerate()
    {
        vocab.insert(t.to_string(), json!(i));
    }
    for c in ALPHABET.chars() {
        let n = vocab.len();
        vocab.insert(c.to_string(), json!(n));
        vocab.insert(format!("##{c}"), json!(n + 1));
    }
    let vocab_size = vocab.len();
    let (sep, bos) = (3u32, 5u32);
    let config = json!({
        "architectures": ["BlipForConditionalGeneration"], "model_type": "blip",
        "projection_dim": 16, "image_text_hidden_size": 16,
        "text_config": {"vocab_size": vocab_size, "hidden_size": 32, "encoder_hidden_size": 32,
                        "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                        "max_position_embeddings": 64, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
                        "bos_token_id": bos, "sep_token_id": sep, "pad_token_id": 0},
        "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "image_size": 32, "patch_size": 8,
                          "hidden_act": "gelu", "layer_norm_eps": 1e-5}
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&config).expect("json"),
    )?;
    let cfg = blip::Config {
        text_config: blip_text::Config {
            vocab_size,
            hidden_size: 32,
            encoder_hidden_size: 32,
            intermediate_size: 64,
            projection_dim: 16,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            max_position_embeddings: 64,
            hidden_act: candle_nn::Activation::Gelu,
            layer_norm_eps: 1e-12,
            is_decoder: true,
        },
        vision_config: blip::VisionConfig {
            hidden_size: 32,
            intermediate_size: 64,
            projection_dim: 16,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            image_size: 32,
            patch_size: 8,
            hidden_act: candle_nn::Activation::Gelu,
            layer_norm_eps: 1e-5,
        },
        projection_dim: 16,
        image_text_hidden_size: 16,
    };
    let vm = VarMap::new();
    blip::BlipForConditionalGeneration::new(
        &cfg,
        VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
    )?;
    vm.save(dir.join("model.safetensors"))?;
    let special = |id: usize, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"),
                         special(3, "[SEP]"), special(4, "[MASK]"), special(5, "[DEC]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": null,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    });
    std::fs::write(
        dir.join("tokenizer.json"),
        serde_json::to_vec_pretty(&tokenizer).expect("json"),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The tiny model is the same file every time, so tests do not pass on one model
    /// and fail on the next.
    #[test]
    fn the_tiny_model_is_the_same_every_time() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        super::write_tiny_sd(a.path()).unwrap();
        super::write_tiny_sd(b.path()).unwrap();
        for f in [
            "unet/diffusion_pytorch_model.safetensors",
            "vae/diffusion_pytorch_model.safetensors",
            "text_encoder/model.safetensors",
        ] {
            let dev = candle_core::Device::Cpu;
            let ta = candle_core::safetensors::load(a.path().join(f), &dev).unwrap();
            let tb = candle_core::safetensors::load(b.path().join(f), &dev).unwrap();
            assert_eq!(ta.len(), tb.len(), "{f}");
            for (name, x) in &ta {
                let y = &tb[name];
                let d = crate::max_abs(&(x - y).unwrap()).unwrap();
                assert_eq!(d, 0.0, "{f}: {name} differs between two writes");
            }
        }
    }
}
