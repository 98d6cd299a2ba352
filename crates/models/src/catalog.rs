//! The models Articket recommends, by short name, with their licences, and which of a
//! repository's files our engine reads.

/// What a model folder is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Stable Diffusion pipeline in the diffusers layout (`model_dir`).
    Diffusion,
    /// A tiny autoencoder (TAESD, TAESDXL: `tiny_vae`).
    TinyVae,
    /// A captioning model (CLIP, BLIP: `clip_dir`, `blip_dir`).
    Captioner,
    /// A LoRA file.
    Lora,
    /// A portrait matting model (MODNet's ONNX file: `[matting] model`).
    Matting,
}

/// A model's licence, as its card names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Licence {
    pub name: &'static str,
    pub url: &'static str,
    /// What it means for an event, in one line.
    pub note: &'static str,
}

/// One recommended model.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub name: &'static str,
    pub repo: &'static str,
    pub kind: Kind,
    pub licence: Licence,
    pub about: &'static str,
}

const OPENRAIL_M: Licence = Licence {
    name: "CreativeML Open RAIL-M",
    url: "https://huggingface.co/spaces/CompVis/stable-diffusion-license",
    note: "free to use, also commercially, within the use restrictions it lists",
};
const OPENRAIL_PP_M: Licence = Licence {
    name: "CreativeML Open RAIL++-M",
    url: "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/blob/main/LICENSE.md",
    note: "free to use, also commercially, within the use restrictions it lists",
};
const STABILITY_COMMUNITY: Licence = Licence {
    name: "Stability AI Community License",
    url: "https://huggingface.co/stabilityai/sd-turbo/blob/main/LICENSE.md",
    note: "free for research, non-commercial use, and commercial use by organisations under US$1M yearly revenue",
};
const SDXL_TURBO: Licence = Licence {
    name: "Stability AI SDXL-Turbo licence (non-commercial research)",
    url: "https://huggingface.co/stabilityai/sdxl-turbo/blob/main/LICENSE.md",
    note: "the model card still shows a non-commercial licence: not for a paid or commercial event without Stability AI's agreement",
};
const APACHE_2: Licence = Licence {
    name: "Apache-2.0",
    url: "https://www.apache.org/licenses/LICENSE-2.0",
    note: "free to use for any purpose",
};
const MIT: Licence = Licence {
    name: "MIT",
    url: "https://opensource.org/license/mit",
    note: "free to use for any purpose",
};
const BSD3: Licence = Licence {
    name: "BSD-3-Clause",
    url: "https://opensource.org/license/bsd-3-clause",
    note: "free to use for any purpose",
};

/// The short names `articket models pull` knows.
pub const CATALOG: &[Entry] = &[
    Entry {
        name: "sd-turbo",
        repo: "stabilityai/sd-turbo",
        kind: Kind::Diffusion,
        licence: STABILITY_COMMUNITY,
        about: "SD-Turbo: 1 to 4 steps at 512 px; the laptop CPU's model",
    },
    Entry {
        name: "sdxl-turbo",
        repo: "stabilityai/sdxl-turbo",
        kind: Kind::Diffusion,
        licence: SDXL_TURBO,
        about: "SDXL-Turbo: 1 to 4 steps at 512 px, SDXL's detail; a GPU's model",
    },
    Entry {
        name: "lcm-dreamshaper-v7",
        repo: "SimianLuo/LCM_Dreamshaper_v7",
        kind: Kind::Diffusion,
        licence: MIT,
        about: "LCM Dreamshaper v7: 2 to 8 steps, guided through its embedding (one pass a step)",
    },
    Entry {
        name: "sd15",
        repo: "stable-diffusion-v1-5/stable-diffusion-v1-5",
        kind: Kind::Diffusion,
        licence: OPENRAIL_M,
        about: "Stable Diffusion 1.5: 20 to 30 steps; for a GPU",
    },
    Entry {
        name: "lcm-lora-sdv1-5",
        repo: "latent-consistency/lcm-lora-sdv1-5",
        kind: Kind::Lora,
        licence: OPENRAIL_PP_M,
        about: "LCM-LoRA for SD 1.5: 4 steps of LCM at cfg 1 ([[ai.local.lora]], docs/models.md)",
    },
    Entry {
        name: "taesd",
        repo: "madebyollin/taesd",
        kind: Kind::TinyVae,
        licence: MIT,
        about: "the tiny autoencoder for SD 1.x and 2.x (sd-turbo, sd15)",
    },
    Entry {
        name: "modnet",
        repo: "Xenova/modnet",
        kind: Kind::Matting,
        licence: APACHE_2,
        about: "portrait matting (MODNet, ONNX): the painters paint their world behind the visitor",
    },
    Entry {
        name: "taesdxl",
        repo: "madebyollin/taesdxl",
        kind: Kind::TinyVae,
        licence: MIT,
        about: "the tiny autoencoder for SDXL (sdxl-turbo)",
    },
    Entry {
        name: "clip",
        repo: "openai/clip-vit-large-patch14",
        kind: Kind::Captioner,
        licence: MIT,
        about: "CLIP ViT-L/14, for captioner = \"clip\"",
    },
    Entry {
        name: "blip",
        repo: "Salesforce/blip-image-captioning-large",
        kind: Kind::Captioner,
        licence: BSD3,
        about: "BLIP large, for captioner = \"blip\"",
    },
];

/// The catalogue's entry for a short name.
pub fn entry(name: &str) -> Option<&'static Entry> {
    CATALOG.iter().find(|e| e.name == name)
}

/// A repository that is not in the catalogue: treated by what its files say, with its
/// licence unknown (the operator reads the card).
pub const UNKNOWN_LICENCE: Licence = Licence {
    name: "see the model card",
    url: "",
    note: "check that its licence allows your event's use",
};

/// The ONNX file a matting repository is read for (where `[matting] model` looks).
pub const MATTING_FILE: &str = "onnx/model.onnx";

/// Which of a repository's files our engine reads, given all of them: the configs, the
/// tokenizers, and for each weight file the fp16 variant where the repository has one
/// (our engine converts on load), never the other formats (`.bin`, `.ckpt`, ONNX,
/// Flax) nor a whole-pipeline single file.
pub fn wanted(files: &[String]) -> Vec<String> {
    // A matting repository (ONNX files, no diffusers configs): its full-precision
    // `onnx/model.onnx` only, not the fp16 or quantised variants beside it.
    if files.iter().any(|f| f == MATTING_FILE)
        && !files.iter().any(|f| f.ends_with("model_index.json"))
    {
        return vec![MATTING_FILE.to_owned()];
    }
    let has = |f: &str| files.iter().any(|x| x == f);
    let mut out = Vec::new();
    for f in files {
        let (dir, base) = match f.rsplit_once('/') {
            Some((d, b)) => (d, b),
            None => ("", f.as_str()),
        };
        // Only the top level and the pipeline's component folders, one deep.
        if dir.contains('/') {
            continue;
        }
        let keep = match base {
            "model_index.json"
            | "config.json"
            | "scheduler_config.json"
            | "tokenizer.json"
            | "tokenizer_config.json"
            | "special_tokens_map.json"
            | "vocab.json"
            | "merges.txt"
            | "preprocessor_config.json" => true,
            b if b.ends_with(".fp16.safetensors") => true,
            b if b.ends_with(".safetensors") => {
                // The full-precision file only where no fp16 variant sits beside it.
                let fp16 = format!("{}.fp16.safetensors", &f[..f.len() - ".safetensors".len()]);
                !has(&fp16)
            }
            _ => false,
        };
        // At the top level, only a model's own weights, or a LoRA's (the name diffusers'
        // `save_lora_weights` gives it): a single-file checkpoint beside a diffusers
        // pipeline's folders, or TAESD's separate encoder and decoder files, duplicate
        // what is read.
        let own = base.starts_with("diffusion_pytorch_model.")
            || base.starts_with("model.")
            || base.starts_with("pytorch_lora_weights.");
        let stray =
            dir.is_empty() && base.ends_with(".safetensors") && (has("model_index.json") || !own);
        if keep && !stray {
            out.push(f.clone());
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_diffusers_repository_gives_the_configs_and_the_fp16_weights_only() {
        // sd-turbo's file list, as the hub lists it.
        let files = names(&[
            ".gitattributes",
            "README.md",
            "model_index.json",
            "sd_turbo.safetensors",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            "text_encoder/model.fp16.safetensors",
            "text_encoder/model.safetensors",
            "tokenizer/merges.txt",
            "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json",
            "tokenizer/vocab.json",
            "unet/config.json",
            "unet/diffusion_pytorch_model.fp16.safetensors",
            "unet/diffusion_pytorch_model.safetensors",
            "vae/config.json",
            "vae/diffusion_pytorch_model.fp16.safetensors",
            "vae/diffusion_pytorch_model.safetensors",
            "text_encoder/flax_model.msgpack",
            "unet/diffusion_pytorch_model.bin",
        ]);
        assert_eq!(
            wanted(&files),
            names(&[
                "model_index.json",
                "scheduler/scheduler_config.json",
                "text_encoder/config.json",
                "text_encoder/model.fp16.safetensors",
                "tokenizer/merges.txt",
                "tokenizer/special_tokens_map.json",
                "tokenizer/tokenizer_config.json",
                "tokenizer/vocab.json",
                "unet/config.json",
                "unet/diffusion_pytorch_model.fp16.safetensors",
                "vae/config.json",
                "vae/diffusion_pytorch_model.fp16.safetensors",
            ])
        );
    }

    #[test]
    fn a_matting_repository_gives_its_full_precision_onnx_file_only() {
        let files = names(&[
            "README.md",
            "config.json",
            "onnx/model.onnx",
            "onnx/model_fp16.onnx",
            "onnx/model_quantized.onnx",
            "preprocessor_config.json",
        ]);
        assert_eq!(wanted(&files), names(&["onnx/model.onnx"]));
        assert_eq!(entry("modnet").unwrap().kind, Kind::Matting);
    }

    #[test]
    fn a_tiny_autoencoder_repository_gives_its_config_and_weights() {
        let files = names(&[
            "README.md",
            "config.json",
            "diffusion_pytorch_model.safetensors",
            "taesd_decoder.pth",
            "taesd_encoder.pth",
            "taesd_decoder.safetensors",
        ]);
        assert_eq!(
            wanted(&files),
            names(&["config.json", "diffusion_pytorch_model.safetensors"])
        );
    }

    /// latent-consistency/lcm-lora-sdv1-5's files: the LoRA sits at the top level.
    #[test]
    fn a_lora_repository_gives_its_weights() {
        let files = names(&[
            ".gitattributes",
            "README.md",
            "image.png",
            "pytorch_lora_weights.safetensors",
        ]);
        assert_eq!(wanted(&files), names(&["pytorch_lora_weights.safetensors"]));
    }

    #[test]
    fn every_short_name_is_unique_and_names_a_licence() {
        for (i, e) in CATALOG.iter().enumerate() {
            assert!(CATALOG[..i].iter().all(|o| o.name != e.name), "{}", e.name);
            assert!(e.licence.url.starts_with("https://"), "{}", e.name);
            assert!(e.repo.contains('/'), "{}", e.name);
        }
        assert_eq!(entry("sd-turbo").unwrap().licence, STABILITY_COMMUNITY);
    }
}
