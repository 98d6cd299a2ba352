//! The denoising UNet, ours: our residual blocks and convolutions ([`crate::conv`]) and
//! transformer ([`crate::attention`]), candle's timestep embedding.
//!
//! candle's own `UNet2DConditionModel` has no input for SDXL's added conditioning (the
//! pooled text embedding and the six "time ids": original size, crop, target size),
//! without which SDXL paints nonsense, and its up blocks ignore `norm_num_groups`. This
//! one reads every shape from the diffusers config ([`UnetShape`]) and takes the added
//! conditioning when the model has `addition_embed_type = "text_time"`.

use candle_core::{Module, Result, Tensor, D};
use candle_nn as nn;
use candle_transformers::models::stable_diffusion::embeddings::{TimestepEmbedding, Timesteps};

use crate::attention::{Transformer2D, TransformerShape};
use crate::conv::{Conv2d, ResnetBlock, ResnetShape};

/// One resolution level of the UNet.
#[derive(Debug, Clone, PartialEq)]
pub struct UnetLevel {
    pub channels: usize,
    /// Transformer layers per attention, or `None` for a level without cross-attention.
    pub transformer_layers: Option<usize>,
    pub heads: usize,
}

/// SDXL's added conditioning: `text_embeds` (the pooled prompt) and `time_ids`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextTime {
    /// Sinusoidal width per time id (`addition_time_embed_dim`).
    pub time_embed_dim: usize,
    /// `projection_class_embeddings_input_dim`: pooled width + 6 × time_embed_dim.
    pub input_dim: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnetShape {
    pub in_channels: usize,
    pub out_channels: usize,
    pub levels: Vec<UnetLevel>,
    pub layers_per_block: usize,
    pub downsample_padding: usize,
    pub mid_block_scale_factor: f64,
    pub norm_num_groups: usize,
    pub norm_eps: f64,
    pub cross_attention_dim: usize,
    pub use_linear_projection: bool,
    pub flip_sin_to_cos: bool,
    pub freq_shift: f64,
    pub center_input_sample: bool,
    pub text_time: Option<TextTime>,
    /// LCM-distilled models (LCM Dreamshaper): the width of the guidance-scale
    /// embedding added to the timestep's (`time_embedding.cond_proj`).
    pub time_cond_proj_dim: Option<usize>,
}

enum Sampling {
    None,
    Down(Conv2d),
    Up(Conv2d),
}

struct Level {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<Transformer2D>,
    sampling: Sampling,
}

/// Conditioning for one UNet call on a batch.
pub struct Conditioning<'a> {
    /// (B, tokens, cross_attention_dim).
    pub context: &'a Tensor,
    /// SDXL: (B, pooled) and (B, 6).
    pub text_time: Option<(&'a Tensor, &'a Tensor)>,
    /// LCM-distilled models: the guidance-scale embedding, (B, time_cond_proj_dim).
    pub guidance: Option<&'a Tensor>,
}

pub struct Unet {
    shape: UnetShape,
    conv_in: Conv2d,
    time_proj: Timesteps,
    time_embedding: TimestepEmbedding,
    add_time_proj: Option<Timesteps>,
    add_embedding: Option<TimestepEmbedding>,
    /// `time_embedding.cond_proj`: the guidance embedding into the timestep's.
    cond_proj: Option<nn::Linear>,
    down: Vec<Level>,
    mid_resnets: Vec<ResnetBlock>,
    mid_attentions: Vec<Transformer2D>,
    up: Vec<Level>,
    norm_out: crate::norm::GroupNorm,
    conv_out: Conv2d,
}

fn conv3(vb: nn::VarBuilder, cin: usize, cout: usize, stride: usize, pad: usize) -> Result<Conv2d> {
    Conv2d::new(vb, cin, cout, 3, stride, pad)
}

impl Unet {
    pub fn new(vb: nn::VarBuilder, shape: UnetShape, flash_attn: bool) -> Result<Self> {
        let levels = &shape.levels;
        let n = levels.len();
        if n == 0 {
            candle_core::bail!("the UNet has no blocks");
        }
        let c0 = levels[0].channels;
        let temb = c0 * 4;
        let resnet = |cin: usize, cout: usize, scale: f64, vb: nn::VarBuilder| {
            ResnetBlock::new(
                vb,
                ResnetShape {
                    c_in: cin,
                    c_out: cout,
                    temb: Some(temb),
                    groups: shape.norm_num_groups,
                    eps: shape.norm_eps,
                    output_scale: scale,
                },
            )
        };
        let transformer = |channels: usize, heads: usize, depth: usize, vb: nn::VarBuilder| {
            if heads == 0 || !channels.is_multiple_of(heads) {
                candle_core::bail!("{channels} channels do not split into {heads} heads");
            }
            Transformer2D::new(
                vb,
                TransformerShape {
                    channels,
                    heads,
                    depth,
                    context_dim: shape.cross_attention_dim,
                    groups: shape.norm_num_groups,
                    linear_projection: shape.use_linear_projection,
                    flash_attn,
                },
            )
        };

        // A level's residual blocks, each followed by a transformer on cross-attention
        // levels; `input(j)` is block j's input width.
        let blocks = |vb: &nn::VarBuilder,
                      level: &UnetLevel,
                      count: usize,
                      input: &dyn Fn(usize) -> usize|
         -> Result<(Vec<ResnetBlock>, Vec<Transformer2D>)> {
            let mut resnets = Vec::with_capacity(count);
            let mut attentions = Vec::with_capacity(count);
            for j in 0..count {
                let name = j.to_string();
                resnets.push(resnet(
                    input(j),
                    level.channels,
                    1.0,
                    vb.pp("resnets").pp(&name),
                )?);
                if let Some(depth) = level.transformer_layers {
                    attentions.push(transformer(
                        level.channels,
                        level.heads,
                        depth,
                        vb.pp("attentions").pp(&name),
                    )?);
                }
            }
            Ok((resnets, attentions))
        };

        let conv_in = conv3(vb.pp("conv_in"), shape.in_channels, c0, 1, 1)?;
        let time_proj = Timesteps::new(c0, shape.flip_sin_to_cos, shape.freq_shift);
        let time_embedding = TimestepEmbedding::new(vb.pp("time_embedding"), c0, temb)?;
        let cond_proj = shape
            .time_cond_proj_dim
            .map(|d| nn::linear_no_bias(d, c0, vb.pp("time_embedding").pp("cond_proj")))
            .transpose()?;
        let (add_time_proj, add_embedding) = match shape.text_time {
            Some(tt) => (
                Some(Timesteps::new(
                    tt.time_embed_dim,
                    shape.flip_sin_to_cos,
                    shape.freq_shift,
                )),
                Some(TimestepEmbedding::new(
                    vb.pp("add_embedding"),
                    tt.input_dim,
                    temb,
                )?),
            ),
            None => (None, None),
        };

        let mut down = Vec::with_capacity(n);
        for (i, level) in levels.iter().enumerate() {
            let vb = vb.pp("down_blocks").pp(i.to_string());
            let cin = if i == 0 { c0 } else { levels[i - 1].channels };
            let (resnets, attentions) = blocks(&vb, level, shape.layers_per_block, &|j| {
                if j == 0 {
                    cin
                } else {
                    level.channels
                }
            })?;
            let sampling = if i + 1 < n {
                Sampling::Down(conv3(
                    vb.pp("downsamplers.0.conv"),
                    level.channels,
                    level.channels,
                    2,
                    shape.downsample_padding,
                )?)
            } else {
                Sampling::None
            };
            down.push(Level {
                resnets,
                attentions,
                sampling,
            });
        }

        let last = &levels[n - 1];
        let mvb = vb.pp("mid_block");
        let mid_resnets = vec![
            resnet(
                last.channels,
                last.channels,
                shape.mid_block_scale_factor,
                mvb.pp("resnets.0"),
            )?,
            resnet(
                last.channels,
                last.channels,
                shape.mid_block_scale_factor,
                mvb.pp("resnets.1"),
            )?,
        ];
        let mid_attentions = vec![transformer(
            last.channels,
            last.heads,
            last.transformer_layers.unwrap_or(1),
            mvb.pp("attentions.0"),
        )?];

        let mut up = Vec::with_capacity(n);
        for i in 0..n {
            let vb = vb.pp("up_blocks").pp(i.to_string());
            let level = &levels[n - 1 - i];
            let prev = if i == 0 {
                last.channels
            } else {
                levels[n - i].channels
            };
            // The skip from the level below this one's input (diffusers' `input_channel`).
            let skip_in = levels[(n - 1 - i).saturating_sub(1)].channels;
            let skip_in = if i == n - 1 { c0 } else { skip_in };
            let count = shape.layers_per_block + 1;
            let (resnets, attentions) = blocks(&vb, level, count, &|j| {
                let skip = if j + 1 == count {
                    skip_in
                } else {
                    level.channels
                };
                let from = if j == 0 { prev } else { level.channels };
                from + skip
            })?;
            let sampling = if i + 1 < n {
                Sampling::Up(conv3(
                    vb.pp("upsamplers.0.conv"),
                    level.channels,
                    level.channels,
                    1,
                    1,
                )?)
            } else {
                Sampling::None
            };
            up.push(Level {
                resnets,
                attentions,
                sampling,
            });
        }
        let norm_out = crate::norm::group_norm(
            shape.norm_num_groups,
            c0,
            shape.norm_eps,
            vb.pp("conv_norm_out"),
        )?;
        let conv_out = conv3(vb.pp("conv_out"), c0, shape.out_channels, 1, 1)?;
        Ok(Unet {
            shape,
            conv_in,
            time_proj,
            time_embedding,
            add_time_proj,
            add_embedding,
            cond_proj,
            down,
            mid_resnets,
            mid_attentions,
            up,
            norm_out,
            conv_out,
        })
    }

    pub fn shape(&self) -> &UnetShape {
        &self.shape
    }

    /// The noise (or v) prediction for `xs` (B, C, H, W) at `timestep`.
    pub fn forward(&self, xs: &Tensor, timestep: f64, cond: &Conditioning) -> Result<Tensor> {
        let (b, _, h, w) = xs.dims4()?;
        let dtype = xs.dtype();
        let device = xs.device();
        let xs = if self.shape.center_input_sample {
            ((xs * 2.0)? - 1.0)?
        } else {
            xs.clone()
        };

        // Time, computed in f32 as diffusers does, then in the model's type.
        let t = (Tensor::ones(b, candle_core::DType::F32, device)? * timestep)?;
        let mut t_emb = self.time_proj.forward(&t)?.to_dtype(dtype)?;
        if let (Some(proj), Some(guidance)) = (&self.cond_proj, cond.guidance) {
            // As diffusers' `TimestepEmbedding`: the condition joins before linear_1.
            t_emb = (t_emb + proj.forward(&guidance.to_dtype(dtype)?)?)?;
        }
        let mut emb = self.time_embedding.forward(&t_emb)?;
        match (&self.add_time_proj, &self.add_embedding, cond.text_time) {
            (Some(proj), Some(embed), Some((text_embeds, time_ids))) => {
                let ids = time_ids.to_dtype(candle_core::DType::F32)?.flatten_all()?;
                let time = proj.forward(&ids)?.reshape((b, ()))?.to_dtype(dtype)?;
                let added = Tensor::cat(&[&text_embeds.to_dtype(dtype)?, &time], D::Minus1)?;
                emb = (emb + embed.forward(&added)?)?;
            }
            (Some(_), _, None) => {
                candle_core::bail!("this UNet (SDXL) needs the pooled prompt and time ids")
            }
            _ => {}
        }
        let context = cond.context;

        let mut xs = self.conv_in.forward(&xs)?;
        let mut skips = vec![xs.clone()];
        for level in &self.down {
            for (j, resnet) in level.resnets.iter().enumerate() {
                xs = resnet.forward(&xs, Some(&emb))?;
                if let Some(attn) = level.attentions.get(j) {
                    xs = attn.forward(&xs, context)?;
                }
                skips.push(xs.clone());
            }
            if let Sampling::Down(conv) = &level.sampling {
                xs = conv.forward(&xs)?;
                skips.push(xs.clone());
            }
        }

        xs = self.mid_resnets[0].forward(&xs, Some(&emb))?;
        xs = self.mid_attentions[0].forward(&xs, context)?;
        xs = self.mid_resnets[1].forward(&xs, Some(&emb))?;

        let upsamplers = self.up.len() - 1;
        let factor = 1usize << upsamplers;
        let odd_size = h % factor != 0 || w % factor != 0;
        for level in &self.up {
            for (j, resnet) in level.resnets.iter().enumerate() {
                let skip = skips.pop().expect("one skip per up resnet");
                xs = Tensor::cat(&[&xs, &skip], 1)?;
                xs = resnet.forward(&xs, Some(&emb))?;
                if let Some(attn) = level.attentions.get(j) {
                    xs = attn.forward(&xs, context)?;
                }
            }
            if let Sampling::Up(conv) = &level.sampling {
                let (_, _, lh, lw) = xs.dims4()?;
                let (th, tw) = match skips.last() {
                    Some(s) if odd_size => {
                        let (_, _, sh, sw) = s.dims4()?;
                        (sh, sw)
                    }
                    _ => (2 * lh, 2 * lw),
                };
                xs = conv.forward(&xs.upsample_nearest2d(th, tw)?)?;
            }
        }
        let xs = self.norm_out.forward_silu(&xs)?;
        self.conv_out.forward(&xs)
    }
}
