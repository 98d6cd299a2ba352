"""Writes the few-step parity fixtures: a tiny SD-Turbo-shaped model and a tiny TAESD,
saved by diffusers and transformers themselves, and what diffusers computes with them.

    .venv/bin/python bench/parity/make_turbo_fixtures.py crates/engine/tests/fixtures/parity

Run after make_fixtures.py (it reuses its tokenizer files and helpers). It writes:
- `sd-turbo/`: SD-Turbo's shape (SD 2.1's UNet with linear projections and per-block
  head counts, a GELU text encoder, "!" padding) and SD-Turbo's published scheduler
  config: Euler with `timestep_spacing = "trailing"`;
- `taesd/`: an `AutoencoderTiny` (TAESD's architecture, narrower), as
  `madebyollin/taesd` lays it out: `config.json` and `diffusion_pytorch_model.safetensors`.

`sd-turbo/expected.safetensors` holds the TAESD encode and decode of the test photo and
whole img2img runs with Euler a, as SD-Turbo is used: guidance 0 (diffusers then runs
no unconditional pass), 1, 2 and 4 steps at strengths 0.5 and 1.0, with the full VAE
and with TAESD as the pipeline's VAE; plus one guided run (cfg 2) for comparison. Every
noise tensor each run drew is recorded, so the Rust side feeds the very same numbers.
"""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

import diffusers
from diffusers import (
    AutoencoderTiny,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    StableDiffusionImg2ImgPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextModel

import make_fixtures as base

# (steps, strength tenths, cfg): the runs recorded, keyed img2img.turbo.n{steps}.s{tenths}.
RUNS = ((1, 10, 0.0), (2, 5, 0.0), (4, 5, 0.0), (4, 10, 0.0))
GUIDED = (2, 5, 2.0)


def sd_turbo():
    tok = base.tokenizer(base.VOCAB_DIR, pad="!")
    text = base.randomize(CLIPTextModel(base.clip_config(len(tok), "gelu")), 31).eval()
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=2,
        sample_size=base.SIZE // 8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        norm_num_groups=8,
    )
    unet = base.randomize(unet, 32).eval()
    # SD-Turbo's scheduler_config.json, as published.
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        prediction_type="epsilon",
        steps_offset=1,
        timestep_spacing="trailing",
        interpolation_type="linear",
        use_karras_sigmas=False,
    )
    return StableDiffusionImg2ImgPipeline(
        vae=base.vivid(base.randomize(base.vae(0.18215, False), 33)).eval(),
        text_encoder=text,
        tokenizer=tok,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def taesd(seed=34):
    """TAESD's architecture, narrower; TAESDXL's is the same (only its weights differ)."""
    model = AutoencoderTiny(
        in_channels=3,
        out_channels=3,
        encoder_block_out_channels=(16, 16, 16, 16),
        decoder_block_out_channels=(16, 16, 16, 16),
        num_encoder_blocks=(1, 2, 2, 2),
        num_decoder_blocks=(2, 2, 2, 1),
        latent_channels=4,
    )
    model = base.randomize(model, seed).eval()
    with torch.no_grad():
        # As `vivid` does for the full VAE: latents with a trained model's spread, and
        # pictures that use the whole range, so a wrong layer cannot hide in grey.
        last = model.encoder.layers[-1]
        last.weight.mul_(8.0)
        model.decoder.layers[-1].weight.mul_(4.0)
    return model


@torch.no_grad()
def expected(pipe, tiny):
    from PIL import Image

    out = {}
    img = base.photo()
    out["image"] = torch.from_numpy(img)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    # TAESD: photo → latents (its scaling factor is 1), and the full VAE's latents → pixels.
    out["taesd.latents"] = tiny.encode(x).latents.contiguous()
    full = pipe.vae.encode(x).latent_dist.mode() * pipe.vae.config.scaling_factor
    out["taesd.decoded"] = ((tiny.decode(full).sample / 2 + 0.5).clamp(0, 1)).contiguous()

    full_vae = pipe.vae
    for label, vae in (("turbo", full_vae), ("turbo_taesd", tiny)):
        pipe.vae = vae
        sf = vae.config.scaling_factor
        runs = RUNS + ((GUIDED,) if label == "turbo" else ())
        for steps, tenths, cfg in runs:
            pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
            rec = base.Recorder(seed=2000 + steps * 10 + tenths)
            base.patch_randn(rec)
            lat = pipe(
                prompt=base.PROMPT,
                negative_prompt=base.NEGATIVE if cfg > 1 else None,
                image=Image.fromarray(img),
                strength=tenths / 10,
                num_inference_steps=steps,
                guidance_scale=cfg,
                output_type="latent",
            ).images
            key = f"img2img.{label}.n{steps}.s{tenths}" + (f".cfg{int(cfg)}" if cfg > 1 else "")
            out[f"{key}.latents"] = lat.contiguous()
            out[f"{key}.noise"] = torch.stack(rec.draws).contiguous()
            pix = (vae.decode(lat / sf).sample / 2 + 0.5).clamp(0, 1)
            out[f"{key}.image"] = (pix[0].permute(1, 2, 0) * 255).round().to(torch.uint8).contiguous()
    pipe.vae = full_vae
    return out


def main():
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/engine/tests/fixtures/parity")
    torch.manual_seed(0)
    base.VOCAB_DIR = dest / "clip-vocab-merges"
    base.patch_latent_mean()
    pipe = sd_turbo()
    pipe.save_pretrained(dest / "sd-turbo", safe_serialization=True)
    tiny = taesd()
    tiny.save_pretrained(dest / "taesd", safe_serialization=True)
    # Compute from what was saved: the reference then uses exactly the files we read.
    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(dest / "sd-turbo")
    pipe.set_progress_bar_config(disable=True)
    tiny = AutoencoderTiny.from_pretrained(dest / "taesd").eval()
    tensors = {k: v.detach().clone().contiguous() for k, v in expected(pipe, tiny).items()}
    meta = {
        "prompt": base.PROMPT, "negative": base.NEGATIVE, "size": str(base.SIZE),
        "diffusers": diffusers.__version__, "torch": torch.__version__,
    }
    save_file(tensors, str(dest / "sd-turbo" / "expected.safetensors"), metadata=meta)
    print("sd-turbo written:", sum(t.numel() * t.element_size() for t in tensors.values()), "bytes of tensors")


if __name__ == "__main__":
    main()
