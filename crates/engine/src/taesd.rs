//! The tiny autoencoder (diffusers' `AutoencoderTiny`: TAESD for SD 1.x/2.x, TAESDXL for
//! SDXL, madebyollin's weights), ours: plain 3×3 convolutions and ReLU, no group norms
//! and no attention, so a decode costs a few milliseconds where the full VAE's costs
//! seconds on a CPU. It works in the same scaled latent space as the full VAE
//! (`scaling_factor` 1.0), so the UNet cannot tell which one made its latents.
//!
//! Layer names follow diffusers' `nn.Sequential` indices: `encoder.layers.{i}` and
//! `decoder.layers.{i}`, where activations and upsamplers take an index but hold no
//! weights.

use std::path::Path;

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn as nn;
use serde_json::Value;

use crate::conv::Conv2d;
use crate::layout::{read_json, LayoutError};

/// `AutoencoderTiny`'s shape, from its `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct TinyShape {
    pub in_channels: usize,
    pub out_channels: usize,
    pub latent_channels: usize,
    pub encoder_blocks: Vec<usize>,
    pub encoder_channels: Vec<usize>,
    pub decoder_blocks: Vec<usize>,
    pub decoder_channels: Vec<usize>,
    pub scaling_factor: f64,
}

impl TinyShape {
    /// Reads `config.json`; refuses what our layers do not build (another activation, a
    /// non-nearest or non-2× upsampler, a latent shift that is not diffusers' 0.5).
    pub fn read(path: &Path) -> std::result::Result<TinyShape, LayoutError> {
        let v = read_json(path)?;
        let bad = |message: String| LayoutError::BadConfig {
            path: path.display().to_string(),
            message,
        };
        if let Some(class) = v.get("_class_name").and_then(Value::as_str) {
            if class != "AutoencoderTiny" {
                return Err(bad(format!(
                    "this is a {class}, not a tiny autoencoder (AutoencoderTiny)"
                )));
            }
        }
        let list = |key: &str, default: &[usize]| -> std::result::Result<Vec<usize>, LayoutError> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(default.to_vec()),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| {
                        x.as_u64()
                            .map(|n| n as usize)
                            .ok_or_else(|| bad(format!("`{key}` must list whole numbers")))
                    })
                    .collect(),
                Some(_) => Err(bad(format!("`{key}` must be a list"))),
            }
        };
        let num = |key: &str, default: usize| -> std::result::Result<usize, LayoutError> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(x) => x
                    .as_u64()
                    .map(|n| n as usize)
                    .ok_or_else(|| bad(format!("`{key}` must be a whole number"))),
            }
        };
        for (key, want) in [("act_fn", "relu"), ("upsample_fn", "nearest")] {
            if let Some(got) = v.get(key).and_then(Value::as_str) {
                if got != want {
                    return Err(bad(format!(
                        "`{key}` {got:?} is not supported (only {want:?})"
                    )));
                }
            }
        }
        if num("upsampling_scaling_factor", 2)? != 2 {
            return Err(bad("`upsampling_scaling_factor` must be 2".into()));
        }
        let shape = TinyShape {
            in_channels: num("in_channels", 3)?,
            out_channels: num("out_channels", 3)?,
            latent_channels: num("latent_channels", 4)?,
            encoder_blocks: list("num_encoder_blocks", &[1, 3, 3, 3])?,
            encoder_channels: list("encoder_block_out_channels", &[64, 64, 64, 64])?,
            decoder_blocks: list("num_decoder_blocks", &[3, 3, 3, 1])?,
            decoder_channels: list("decoder_block_out_channels", &[64, 64, 64, 64])?,
            scaling_factor: v
                .get("scaling_factor")
                .and_then(Value::as_f64)
                .unwrap_or(1.0),
        };
        if shape.encoder_blocks.len() != shape.encoder_channels.len()
            || shape.decoder_blocks.len() != shape.decoder_channels.len()
            || shape.encoder_blocks.is_empty()
            || shape.decoder_blocks.is_empty()
        {
            return Err(bad(
                "the numbers of blocks and of block channels must match".into(),
            ));
        }
        Ok(shape)
    }

    /// How much smaller than the image the latents are: one halving per encoder level
    /// after the first.
    pub fn factor(&self) -> usize {
        1 << (self.encoder_blocks.len() - 1)
    }
}

/// `AutoencoderTinyBlock`: three 3×3 convolutions with ReLU between, plus a skip (a 1×1
/// convolution when the channels change), then ReLU.
struct Block {
    convs: [Conv2d; 3],
    skip: Option<Conv2d>,
}

impl Block {
    fn new(vb: nn::VarBuilder, c_in: usize, c_out: usize) -> Result<Block> {
        let c = vb.pp("conv");
        Ok(Block {
            convs: [
                Conv2d::new(c.pp("0"), c_in, c_out, 3, 1, 1)?,
                Conv2d::new(c.pp("2"), c_out, c_out, 3, 1, 1)?,
                Conv2d::new(c.pp("4"), c_out, c_out, 3, 1, 1)?,
            ],
            skip: if c_in != c_out {
                Some(Conv2d::without_bias(vb.pp("skip"), c_in, c_out, 1, 1, 0)?)
            } else {
                None
            },
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let h = self.convs[0].forward_relu(xs)?;
        let h = self.convs[1].forward_relu(&h)?;
        let skip = match &self.skip {
            Some(s) => s.forward(xs)?,
            None => xs.clone(),
        };
        self.convs[2].forward_residual(&h, &skip, true)
    }
}

/// One entry of a `nn.Sequential`.
enum Layer {
    Conv(Conv2d),
    Block(Box<Block>),
    Relu,
    Upsample,
}

impl Layer {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Layer::Conv(c) => c.forward(xs),
            Layer::Block(b) => b.forward(xs),
            Layer::Relu => xs.relu(),
            Layer::Upsample => {
                let (_, _, h, w) = xs.dims4()?;
                xs.upsample_nearest2d(2 * h, 2 * w)
            }
        }
    }
}

fn run(layers: &[Layer], mut xs: Tensor) -> Result<Tensor> {
    let mut i = 0;
    while i < layers.len() {
        // A convolution and the ReLU after it run as one pass.
        if let (Layer::Conv(c), Some(Layer::Relu)) = (&layers[i], layers.get(i + 1)) {
            xs = c.forward_relu(&xs)?;
            i += 2;
            continue;
        }
        xs = layers[i].forward(&xs)?;
        i += 1;
    }
    Ok(xs)
}

/// The tiny autoencoder, loaded.
pub struct TinyVae {
    encoder: Vec<Layer>,
    decoder: Vec<Layer>,
    pub shape: TinyShape,
}

impl TinyVae {
    pub fn new(vb: nn::VarBuilder, shape: &TinyShape) -> Result<TinyVae> {
        let (e, d) = (vb.pp("encoder.layers"), vb.pp("decoder.layers"));
        let mut encoder = Vec::new();
        for (i, (&blocks, &c)) in shape
            .encoder_blocks
            .iter()
            .zip(&shape.encoder_channels)
            .enumerate()
        {
            let at = encoder.len().to_string();
            encoder.push(Layer::Conv(if i == 0 {
                Conv2d::new(e.pp(&at), shape.in_channels, c, 3, 1, 1)?
            } else {
                // diffusers builds this convolution c → c (so levels share a width).
                Conv2d::without_bias(e.pp(&at), c, c, 3, 2, 1)?
            }));
            for _ in 0..blocks {
                let at = encoder.len().to_string();
                encoder.push(Layer::Block(Box::new(Block::new(e.pp(&at), c, c)?)));
            }
        }
        let last = *shape.encoder_channels.last().expect("checked non-empty");
        let at = encoder.len().to_string();
        encoder.push(Layer::Conv(Conv2d::new(
            e.pp(&at),
            last,
            shape.latent_channels,
            3,
            1,
            1,
        )?));

        let first = shape.decoder_channels[0];
        let mut decoder = vec![
            Layer::Conv(Conv2d::new(
                d.pp("0"),
                shape.latent_channels,
                first,
                3,
                1,
                1,
            )?),
            Layer::Relu,
        ];
        let n = shape.decoder_blocks.len();
        for (i, (&blocks, &c)) in shape
            .decoder_blocks
            .iter()
            .zip(&shape.decoder_channels)
            .enumerate()
        {
            // As in diffusers, every block keeps its level's width.
            for _ in 0..blocks {
                let at = decoder.len().to_string();
                decoder.push(Layer::Block(Box::new(Block::new(d.pp(&at), c, c)?)));
            }
            let final_block = i == n - 1;
            if !final_block {
                decoder.push(Layer::Upsample);
            }
            let at = decoder.len().to_string();
            let c_out = if final_block { shape.out_channels } else { c };
            decoder.push(Layer::Conv(if final_block {
                Conv2d::new(d.pp(&at), c, c_out, 3, 1, 1)?
            } else {
                Conv2d::without_bias(d.pp(&at), c, c_out, 3, 1, 1)?
            }));
        }
        Ok(TinyVae {
            encoder,
            decoder,
            shape: shape.clone(),
        })
    }

    /// Images in [-1, 1], (N, 3, H, W), to latents (N, 4, H/8, W/8), unscaled (TAESD's
    /// scaling factor is 1: these are already in the UNet's space).
    pub fn encode(&self, images: &Tensor) -> Result<Tensor> {
        // TAESD works on images in [0, 1].
        run(&self.encoder, ((images + 1.0)? / 2.0)?)
    }

    /// Unscaled latents to images in about [-1, 1].
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        // The decoder first clamps its input softly to ±3.
        let xs = ((latents / 3.0)?.tanh()? * 3.0)?;
        let ys = run(&self.decoder, xs)?;
        (ys * 2.0)? - 1.0
    }
}

/// The weight files a tiny autoencoder's folder may hold, in order of preference.
const WEIGHTS: &[&str] = &[
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
];

impl TinyVae {
    /// Loads the tiny autoencoder in `dir` (a folder as `madebyollin/taesd` publishes
    /// it: `config.json` and the weights, or the same under `vae/`), refusing one whose
    /// latents are not `channels` deep at 1/`factor` of the image (the UNet's).
    pub fn load(
        dir: &Path,
        dtype: DType,
        device: &Device,
        channels: usize,
        factor: usize,
    ) -> std::result::Result<TinyVae, LayoutError> {
        let root = if dir.join("config.json").is_file() {
            dir.to_path_buf()
        } else {
            dir.join("vae")
        };
        let config = root.join("config.json");
        let weights = WEIGHTS
            .iter()
            .map(|w| root.join(w))
            .find(|p| p.is_file())
            .ok_or_else(|| LayoutError::BadConfig {
                path: dir.display().to_string(),
                message: format!(
                    "no tiny autoencoder here (config.json and {})",
                    WEIGHTS.join(" or ")
                ),
            })?;
        let shape = TinyShape::read(&config)?;
        if shape.latent_channels != channels || shape.factor() != factor {
            return Err(LayoutError::BadConfig {
                path: config.display().to_string(),
                message: format!(
                    "its latents ({} channels, 1/{} of the image) do not fit this model ({channels} channels, 1/{factor}); TAESD fits SD 1.x and 2.x, TAESDXL fits SDXL",
                    shape.latent_channels,
                    shape.factor(),
                ),
            });
        }
        let bad_weights = |e: candle_core::Error| LayoutError::BadConfig {
            path: weights.display().to_string(),
            message: e.to_string().lines().next().unwrap_or_default().to_owned(),
        };
        let vb = unsafe { nn::VarBuilder::from_mmaped_safetensors(&[&weights], dtype, device) }
            .map_err(bad_weights)?;
        TinyVae::new(vb, &shape).map_err(bad_weights)
    }
}
