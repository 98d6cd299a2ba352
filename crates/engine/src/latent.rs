//! The VAE's encoder half, returning the mean of the latent distribution.
//!
//! candle's `AutoEncoderKL::encode` only offers a sample drawn with the device's random
//! generator, which cannot be seeded on the CPU. img2img wants the mean (diffusers'
//! "argmax" mode) so that the same photo and seed give the same painting. This is the
//! same network, built from candle's blocks and loaded from the same weights.

use candle_core::{Module, Result, Tensor};
use candle_nn as nn;
use candle_transformers::models::stable_diffusion::unet_2d_blocks::{
    DownEncoderBlock2D, DownEncoderBlock2DConfig, UNetMidBlock2D, UNetMidBlock2DConfig,
};
use candle_transformers::models::stable_diffusion::vae::AutoEncoderKLConfig;

pub struct LatentEncoder {
    conv_in: nn::Conv2d,
    down_blocks: Vec<DownEncoderBlock2D>,
    mid_block: UNetMidBlock2D,
    norm_out: nn::GroupNorm,
    conv_out: nn::Conv2d,
    quant_conv: Option<nn::Conv2d>,
    latent_channels: usize,
}

impl LatentEncoder {
    /// `vb` points at the VAE's weights (the encoder lives under `encoder.`).
    pub fn new(vb: nn::VarBuilder, config: &AutoEncoderKLConfig) -> Result<Self> {
        let channels = &config.block_out_channels;
        let latent = config.latent_channels;
        let enc = vb.pp("encoder");
        let padded = nn::Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let conv_in = nn::conv2d(3, channels[0], 3, padded, enc.pp("conv_in"))?;
        let mut down_blocks = Vec::new();
        for (i, &out) in channels.iter().enumerate() {
            let input = if i > 0 { channels[i - 1] } else { channels[0] };
            let cfg = DownEncoderBlock2DConfig {
                num_layers: config.layers_per_block,
                resnet_eps: 1e-6,
                resnet_groups: config.norm_num_groups,
                add_downsample: i + 1 < channels.len(),
                downsample_padding: 0,
                ..Default::default()
            };
            down_blocks.push(DownEncoderBlock2D::new(
                enc.pp("down_blocks").pp(i.to_string()),
                input,
                out,
                cfg,
            )?);
        }
        let last = *channels.last().expect("at least one block");
        let mid_cfg = UNetMidBlock2DConfig {
            resnet_eps: 1e-6,
            output_scale_factor: 1.,
            attn_num_head_channels: None,
            resnet_groups: Some(config.norm_num_groups),
            ..Default::default()
        };
        let mid_block = UNetMidBlock2D::new(enc.pp("mid_block"), last, None, mid_cfg)?;
        let norm_out = nn::group_norm(config.norm_num_groups, last, 1e-6, enc.pp("conv_norm_out"))?;
        let conv_out = nn::conv2d(last, 2 * latent, 3, padded, enc.pp("conv_out"))?;
        let quant_conv = if config.use_quant_conv {
            Some(nn::conv2d(
                2 * latent,
                2 * latent,
                1,
                Default::default(),
                vb.pp("quant_conv"),
            )?)
        } else {
            None
        };
        Ok(Self {
            conv_in,
            down_blocks,
            mid_block,
            norm_out,
            conv_out,
            quant_conv,
            latent_channels: latent,
        })
    }

    /// Images in [-1, 1], shape (N, 3, H, W), to latent means (N, C, H/f, W/f).
    pub fn mean(&self, images: &Tensor) -> Result<Tensor> {
        let mut xs = images.apply(&self.conv_in)?;
        for block in &self.down_blocks {
            xs = xs.apply(block)?;
        }
        let xs = self.mid_block.forward(&xs, None)?.apply(&self.norm_out)?;
        let mut xs = nn::ops::silu(&xs)?.apply(&self.conv_out)?;
        if let Some(q) = &self.quant_conv {
            xs = q.forward(&xs)?;
        }
        xs.narrow(1, 0, self.latent_channels)
    }
}
