//! The VAE (diffusers' `AutoencoderKL`), ours, on our convolutions, residual blocks and
//! attention: the encoder to the latent *mean* (img2img wants the same latent for the
//! same photo; sampling would need a generator the CPU cannot seed) and the decoder.
//!
//! The mid-block attention reads both tensor-name layouts in use (`to_q`… as diffusers
//! writes today, `query`/`key`/`value`/`proj_attn` as older checkpoints have, with 2-D or
//! 1×1-convolution-shaped weights).

use candle_core::{Module, Result, Tensor};
use candle_nn as nn;
use candle_transformers::models::stable_diffusion::vae::AutoEncoderKLConfig;

use crate::attention::attention;
use crate::conv::{Conv2d, ResnetBlock, ResnetShape};

const EPS: f64 = 1e-6;

fn linear_any(vb: nn::VarBuilder, c: usize) -> Result<nn::Linear> {
    let weight = match vb.get((c, c), "weight") {
        Ok(w) => w,
        Err(_) => vb.get((c, c, 1, 1), "weight")?.reshape((c, c))?,
    };
    Ok(nn::Linear::new(weight, Some(vb.get(c, "bias")?)))
}

/// Single-head self-attention over all positions, with a residual.
struct SelfAttention {
    norm: crate::norm::GroupNorm,
    q: nn::Linear,
    k: nn::Linear,
    v: nn::Linear,
    out: nn::Linear,
}

impl SelfAttention {
    fn new(vb: nn::VarBuilder, c: usize, groups: usize) -> Result<Self> {
        let (q, k, v, o) = if vb.contains_tensor("to_q.weight") {
            ("to_q", "to_k", "to_v", "to_out.0")
        } else {
            ("query", "key", "value", "proj_attn")
        };
        Ok(SelfAttention {
            norm: crate::norm::group_norm(groups, c, EPS, vb.pp("group_norm"))?,
            q: linear_any(vb.pp(q), c)?,
            k: linear_any(vb.pp(k), c)?,
            v: linear_any(vb.pp(v), c)?,
            out: linear_any(vb.pp(o), c)?,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = xs.dims4()?;
        let t = self
            .norm
            .forward(xs)?
            .reshape((b, c, h * w))?
            .transpose(1, 2)?
            .contiguous()?;
        let (q, k, v) = (
            self.q.forward(&t)?,
            self.k.forward(&t)?,
            self.v.forward(&t)?,
        );
        let a = attention(&q, &k, &v, 1.0 / (c as f64).sqrt())?;
        let a = self
            .out
            .forward(&a)?
            .transpose(1, 2)?
            .reshape((b, c, h, w))?;
        a + xs
    }
}

struct Mid {
    first: ResnetBlock,
    attn: SelfAttention,
    second: ResnetBlock,
}

impl Mid {
    fn new(vb: nn::VarBuilder, c: usize, groups: usize) -> Result<Self> {
        let res = |vb| ResnetBlock::new(vb, resnet(c, c, groups));
        Ok(Mid {
            first: res(vb.pp("resnets.0"))?,
            attn: SelfAttention::new(vb.pp("attentions.0"), c, groups)?,
            second: res(vb.pp("resnets.1"))?,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let xs = self.first.forward(xs, None)?;
        let xs = self.attn.forward(&xs)?;
        self.second.forward(&xs, None)
    }
}

fn resnet(c_in: usize, c_out: usize, groups: usize) -> ResnetShape {
    ResnetShape {
        c_in,
        c_out,
        temb: None,
        groups,
        eps: EPS,
        output_scale: 1.0,
    }
}

struct Level {
    resnets: Vec<ResnetBlock>,
    /// Down: a stride-2 convolution after padding right and bottom by one. Up: nearest
    /// 2× then a convolution.
    resample: Option<Conv2d>,
}

pub struct Vae {
    enc_in: Conv2d,
    enc_levels: Vec<Level>,
    enc_mid: Mid,
    enc_norm: crate::norm::GroupNorm,
    enc_out: Conv2d,
    quant: Option<Conv2d>,
    post_quant: Option<Conv2d>,
    dec_in: Conv2d,
    dec_mid: Mid,
    dec_levels: Vec<Level>,
    dec_norm: crate::norm::GroupNorm,
    dec_out: Conv2d,
    latent: usize,
}

impl Vae {
    pub fn new(vb: nn::VarBuilder, cfg: &AutoEncoderKLConfig) -> Result<Self> {
        let ch = &cfg.block_out_channels;
        let g = cfg.norm_num_groups;
        let n = ch.len();
        if n == 0 {
            candle_core::bail!("the VAE has no blocks");
        }
        let last = ch[n - 1];
        let latent = cfg.latent_channels;

        let e = vb.pp("encoder");
        let mut enc_levels = Vec::with_capacity(n);
        for (i, &out) in ch.iter().enumerate() {
            let vb = e.pp("down_blocks").pp(i.to_string());
            let cin = if i == 0 { ch[0] } else { ch[i - 1] };
            let resnets = (0..cfg.layers_per_block)
                .map(|j| {
                    let from = if j == 0 { cin } else { out };
                    ResnetBlock::new(vb.pp("resnets").pp(j.to_string()), resnet(from, out, g))
                })
                .collect::<Result<_>>()?;
            let resample = if i + 1 < n {
                Some(Conv2d::new(
                    vb.pp("downsamplers.0.conv"),
                    out,
                    out,
                    3,
                    2,
                    0,
                )?)
            } else {
                None
            };
            enc_levels.push(Level { resnets, resample });
        }

        let d = vb.pp("decoder");
        let mut dec_levels = Vec::with_capacity(n);
        for i in 0..n {
            let vb = d.pp("up_blocks").pp(i.to_string());
            let out = ch[n - 1 - i];
            let prev = if i == 0 { last } else { ch[n - i] };
            let resnets = (0..cfg.layers_per_block + 1)
                .map(|j| {
                    let from = if j == 0 { prev } else { out };
                    ResnetBlock::new(vb.pp("resnets").pp(j.to_string()), resnet(from, out, g))
                })
                .collect::<Result<_>>()?;
            let resample = if i + 1 < n {
                Some(Conv2d::new(vb.pp("upsamplers.0.conv"), out, out, 3, 1, 1)?)
            } else {
                None
            };
            dec_levels.push(Level { resnets, resample });
        }
        let one = |vb: nn::VarBuilder, c| Conv2d::new(vb, c, c, 1, 1, 0);
        Ok(Vae {
            enc_in: Conv2d::new(e.pp("conv_in"), 3, ch[0], 3, 1, 1)?,
            enc_levels,
            enc_mid: Mid::new(e.pp("mid_block"), last, g)?,
            enc_norm: crate::norm::group_norm(g, last, EPS, e.pp("conv_norm_out"))?,
            enc_out: Conv2d::new(e.pp("conv_out"), last, 2 * latent, 3, 1, 1)?,
            quant: if cfg.use_quant_conv {
                Some(one(vb.pp("quant_conv"), 2 * latent)?)
            } else {
                None
            },
            post_quant: if cfg.use_post_quant_conv {
                Some(one(vb.pp("post_quant_conv"), latent)?)
            } else {
                None
            },
            dec_in: Conv2d::new(d.pp("conv_in"), latent, last, 3, 1, 1)?,
            dec_mid: Mid::new(d.pp("mid_block"), last, g)?,
            dec_levels,
            dec_norm: crate::norm::group_norm(g, ch[0], EPS, d.pp("conv_norm_out"))?,
            dec_out: Conv2d::new(d.pp("conv_out"), ch[0], 3, 3, 1, 1)?,
            latent,
        })
    }

    /// Images in [-1, 1], (N, 3, H, W), to latent means (N, C, H/f, W/f), unscaled.
    pub fn mean(&self, images: &Tensor) -> Result<Tensor> {
        let mut xs = self.enc_in.forward(images)?;
        for level in &self.enc_levels {
            for r in &level.resnets {
                xs = r.forward(&xs, None)?;
            }
            if let Some(conv) = &level.resample {
                xs = conv.forward(&xs.pad_with_zeros(2, 0, 1)?.pad_with_zeros(3, 0, 1)?)?;
            }
        }
        let xs = self.enc_mid.forward(&xs)?;
        let xs = self.enc_norm.forward_silu(&xs)?;
        let mut xs = self.enc_out.forward(&xs)?;
        if let Some(q) = &self.quant {
            xs = q.forward(&xs)?;
        }
        xs.narrow(1, 0, self.latent)
    }

    /// Unscaled latents to images in about [-1, 1].
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        let mut xs = match &self.post_quant {
            Some(p) => p.forward(latents)?,
            None => latents.clone(),
        };
        xs = self.dec_in.forward(&xs)?;
        xs = self.dec_mid.forward(&xs)?;
        for level in &self.dec_levels {
            for r in &level.resnets {
                xs = r.forward(&xs, None)?;
            }
            if let Some(conv) = &level.resample {
                let (_, _, h, w) = xs.dims4()?;
                xs = conv.forward(&xs.upsample_nearest2d(2 * h, 2 * w)?)?;
            }
        }
        let xs = self.dec_norm.forward_silu(&xs)?;
        self.dec_out.forward(&xs)
    }
}
