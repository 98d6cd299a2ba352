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

/// TAESD's published shape (`madebyollin/taesd`).
impl Default for TinyShape {
    fn default() -> TinyShape {
        TinyShape {
            in_channels: 3,
            out_channels: 3,
            latent_channels: 4,
            encoder_blocks: vec![1, 3, 3, 3],
            encoder_channels: vec![64; 4],
            decoder_blocks: vec![3, 3, 3, 1],
            decoder_channels: vec![64; 4],
            scaling_factor: 1.0,
        }
    }
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
    Conv(Box<Conv2d>),
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
    if crate::conv::direct_wanted() {
        if let Some(ys) = paired::run(layers, &xs)? {
            return Ok(ys);
        }
    }
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

/// The layers on AVX-512 BF16 with every convolution direct (src/direct.rs): the
/// activations stay bf16 pairs from one convolution to the next, the form the kernel
/// reads, instead of f32 planes converted again by every layer. At 512×512 a layer's
/// activations are 64 MiB in f32; in pairs half that, and no conversion pass. Only the
/// input and the last layer's output are f32. The skip connections add the block's
/// input as bf16 (the f32 path adds it in f32).
mod paired {
    use super::{Block, Layer};
    use crate::cpu::written;
    use crate::direct::{Epilogue, Input, Output, Residual};
    use candle_core::{DType, Result, Tensor};
    use rayon::prelude::*;

    /// An activation: b × c × h × w, in f32 (the input) or in bf16 pairs.
    struct Act {
        data: Data,
        dims: (usize, usize, usize, usize),
    }

    enum Data {
        F32(Vec<f32>),
        Pairs(Vec<u32>),
    }

    impl Act {
        fn input(&self) -> Input<'_> {
            match &self.data {
                Data::F32(x) => Input::F32(x),
                Data::Pairs(x) => Input::Pairs(x),
            }
        }
    }

    /// The layers' output, or None where a layer does not run direct (or the input is
    /// not f32 on the CPU): then the caller runs them one by one.
    pub(super) fn run(layers: &[Layer], xs: &Tensor) -> Result<Option<Tensor>> {
        if !xs.device().is_cpu() || xs.dtype() != DType::F32 || !fits(layers, xs.dims4()?) {
            return Ok(None);
        }
        let mut act = Act {
            data: Data::F32(xs.flatten_all()?.to_vec1()?),
            dims: xs.dims4()?,
        };
        let mut i = 0;
        while i < layers.len() {
            let last = i + 1 == layers.len()
                || (i + 2 == layers.len() && matches!(layers[i + 1], Layer::Relu));
            act = match &layers[i] {
                Layer::Conv(c) => {
                    let relu = matches!(layers.get(i + 1), Some(Layer::Relu));
                    i += usize::from(relu);
                    conv(c, &act, relu, None, last)
                }
                Layer::Block(b) => block(b, &act),
                Layer::Upsample => upsample(&act),
                Layer::Relu => unreachable!("checked by fits: a ReLU follows a convolution"),
            };
            i += 1;
        }
        let (b, c, h, w) = act.dims;
        match act.data {
            Data::F32(y) => Ok(Some(Tensor::from_vec(y, (b, c, h, w), xs.device())?)),
            Data::Pairs(_) => candle_core::bail!("the last layer writes f32"),
        }
    }

    /// Whether every layer runs here, given the input's dims: convolutions direct, a
    /// ReLU only after a convolution, blocks without a skip convolution and after a
    /// convolution (their input in pairs).
    fn fits(layers: &[Layer], (_, mut c, mut h, mut w): (usize, usize, usize, usize)) -> bool {
        let (mut after_conv, mut pairs) = (false, false);
        for layer in layers {
            let ok = match layer {
                Layer::Conv(conv) => match conv.direct(h, w) {
                    Some((d, _)) => {
                        (h, w) = d.out_size(h, w);
                        c = d.out();
                        true
                    }
                    None => false,
                },
                Layer::Block(b) => {
                    pairs
                        && b.skip.is_none()
                        && b.convs.iter().all(|conv| {
                            conv.direct(h, w)
                                .is_some_and(|(d, _)| d.out() == c && d.out_size(h, w) == (h, w))
                        })
                }
                Layer::Relu => after_conv,
                Layer::Upsample => {
                    (h, w) = (2 * h, 2 * w);
                    true
                }
            };
            if !ok {
                return false;
            }
            after_conv = matches!(layer, Layer::Conv(_));
            pairs |= after_conv;
        }
        true
    }

    /// One convolution (checked by `fits`), then the residual (pairs, laid out as the
    /// output) and ReLU; its output in f32 when `last`, else in pairs.
    fn conv(
        conv: &crate::conv::Conv2d,
        x: &Act,
        relu: bool,
        residual: Option<&[u32]>,
        last: bool,
    ) -> Act {
        let (b, _, h, w) = x.dims;
        let (d, bias) = conv.direct(h, w).expect("checked by fits");
        let (oh, ow) = d.out_size(h, w);
        let o = d.out();
        let ep = Epilogue {
            bias,
            residual: residual.map(Residual::Pairs),
            relu,
        };
        let (input, dims) = (x.input(), (b, h, w));
        // SAFETY: the kernel writes every element of its output and reads none.
        let data = unsafe {
            if last {
                Data::F32(written(b * o * oh * ow, |y| {
                    d.run(input, dims, ep, Output::F32(y))
                }))
            } else {
                Data::Pairs(written(b * o.div_ceil(2) * oh * ow, |y| {
                    d.run(input, dims, ep, Output::Pairs(y))
                }))
            }
        };
        Act {
            data,
            dims: (b, o, oh, ow),
        }
    }

    fn block(block: &Block, x: &Act) -> Act {
        let h = conv(&block.convs[0], x, true, None, false);
        let h = conv(&block.convs[1], &h, true, None, false);
        let Data::Pairs(skip) = &x.data else {
            unreachable!("checked by fits: a block's input is pairs")
        };
        conv(&block.convs[2], &h, true, Some(skip), false)
    }

    /// Nearest-neighbour 2× upsampling, pairs as they are (f32 likewise).
    fn upsample(x: &Act) -> Act {
        let (b, c, h, w) = x.dims;
        fn double<T: Copy + Send + Sync>(src: &[T], (h, w): (usize, usize), dst: &mut [T]) {
            dst.par_chunks_mut(4 * h * w)
                .zip(src.par_chunks(h * w))
                .for_each(|(out, plane)| {
                    for (rows, line) in out.chunks_exact_mut(4 * w).zip(plane.chunks_exact(w)) {
                        let (top, bottom) = rows.split_at_mut(2 * w);
                        for (pair, &v) in top.chunks_exact_mut(2).zip(line) {
                            pair[0] = v;
                            pair[1] = v;
                        }
                        bottom.copy_from_slice(top);
                    }
                });
        }
        // SAFETY: `double` writes every element, and reads only rows it has written.
        let data = unsafe {
            match &x.data {
                Data::F32(v) => Data::F32(written(4 * v.len(), |y| double(v, (h, w), y))),
                Data::Pairs(v) => Data::Pairs(written(4 * v.len(), |y| double(v, (h, w), y))),
            }
        };
        Act {
            data,
            dims: (b, c, 2 * h, 2 * w),
        }
    }
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
            encoder.push(Layer::Conv(Box::new(if i == 0 {
                Conv2d::new(e.pp(&at), shape.in_channels, c, 3, 1, 1)?
            } else {
                // diffusers builds this convolution c → c (so levels share a width).
                Conv2d::without_bias(e.pp(&at), c, c, 3, 2, 1)?
            })));
            for _ in 0..blocks {
                let at = encoder.len().to_string();
                encoder.push(Layer::Block(Box::new(Block::new(e.pp(&at), c, c)?)));
            }
        }
        let last = *shape.encoder_channels.last().expect("checked non-empty");
        let at = encoder.len().to_string();
        encoder.push(Layer::Conv(Box::new(Conv2d::new(
            e.pp(&at),
            last,
            shape.latent_channels,
            3,
            1,
            1,
        )?)));

        let first = shape.decoder_channels[0];
        let mut decoder = vec![
            Layer::Conv(Box::new(Conv2d::new(
                d.pp("0"),
                shape.latent_channels,
                first,
                3,
                1,
                1,
            )?)),
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
            decoder.push(Layer::Conv(Box::new(if final_block {
                Conv2d::new(d.pp(&at), c, c_out, 3, 1, 1)?
            } else {
                Conv2d::without_bias(d.pp(&at), c, c_out, 3, 1, 1)?
            })));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The layers on bf16 pairs against the same layers one by one in f32, on the
    /// diffusers-written TAESD fixture (16 channels, blocks of every kind, stride-2
    /// convolutions, upsampling): within bf16's rounding, relative to the output's
    /// range. Called directly, so the process-wide bf16 switch stays off.
    #[test]
    fn the_paired_layers_match_the_f32_layers_within_bf16_rounding() {
        if !crate::bf16::available() {
            eprintln!("skipped: no AVX-512 BF16 here");
            return;
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity/taesd");
        let vae = TinyVae::load(&dir, DType::F32, &Device::Cpu, 4, 8).unwrap();
        let dev = Device::Cpu;
        let image = Tensor::rand(0f32, 1.0, (2, 3, 48, 80), &dev).unwrap();
        let latents = Tensor::randn(0f32, 1.0, (1, 4, 6, 10), &dev).unwrap();
        for (what, layers, x) in [
            ("encoder", &vae.encoder, image),
            ("decoder", &vae.decoder, latents),
        ] {
            let want = run(layers, x.clone()).unwrap();
            let got = paired::run(layers, &x)
                .unwrap()
                .expect("every layer runs direct");
            assert_eq!(got.dims(), want.dims(), "{what}");
            let scalar = |t: Tensor| t.to_scalar::<f32>().unwrap();
            let scale = scalar(want.abs().unwrap().max_all().unwrap());
            let typical = scalar(want.abs().unwrap().mean_all().unwrap());
            let diff = (&got - &want).unwrap().abs().unwrap();
            let (max, mean) = (
                scalar(diff.max_all().unwrap()),
                scalar(diff.mean_all().unwrap()),
            );
            eprintln!(
                "{what}: max |diff| {max:.2e} of max |x| {scale:.3}, mean {mean:.2e} of {typical:.3}"
            );
            assert!(scale > 1e-3, "{what}: the output is all but zero");
            // bf16 keeps 8 bits: about 0.4 % a value, growing over the layers (1 % on
            // average at the end here). A wrong tap or plane is off by about the values
            // themselves.
            assert!(
                mean <= 0.025 * typical,
                "{what}: mean |diff| {mean} of {typical}"
            );
            assert!(max <= 0.08 * scale, "{what}: max |diff| {max} of {scale}");
        }
    }
}
