"""Writes the SDXL-Turbo parity fixture: the tiny SDXL model of `sdxl/` with SDXL-Turbo's
published scheduler config (Euler a, `timestep_spacing = "trailing"`), saved by
diffusers, and what diffusers' SDXL img2img pipeline paints with it as SDXL-Turbo is
used: guidance 0 (no unconditional pass), 1 to 4 steps.

    .venv/bin/python bench/parity/make_sdxl_turbo_fixtures.py crates/engine/tests/fixtures/parity

Run after make_fixtures.py. It writes `sdxl-turbo/scheduler/scheduler_config.json` and
`sdxl-turbo/expected.safetensors`; the test puts the scheduler config over a copy of
`sdxl/`, so the weights are not committed twice.
"""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

import diffusers
from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionXLImg2ImgPipeline

import make_fixtures as base

RUNS = ((1, 10), (2, 5), (4, 5), (4, 10))


@torch.no_grad()
def main():
    from PIL import Image

    root = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/engine/tests/fixtures/parity")
    base.VOCAB_DIR = root / "clip-vocab-merges"
    base.patch_latent_mean()
    pipe = StableDiffusionXLImg2ImgPipeline.from_pretrained(root / "sdxl")
    pipe.set_progress_bar_config(disable=True)
    # stabilityai/sdxl-turbo's scheduler_config.json, as published.
    pipe.scheduler = EulerAncestralDiscreteScheduler.from_config({
        "_class_name": "EulerAncestralDiscreteScheduler",
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "clip_sample": False,
        "interpolation_type": "linear",
        "num_train_timesteps": 1000,
        "prediction_type": "epsilon",
        "sample_max_value": 1.0,
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "timestep_spacing": "trailing",
        "trained_betas": None,
        "use_karras_sigmas": False,
    })
    dest = root / "sdxl-turbo"
    pipe.scheduler.save_pretrained(dest / "scheduler")
    img = base.photo()
    out = {"image": torch.from_numpy(img)}
    sf = pipe.vae.config.scaling_factor
    for steps, tenths in RUNS:
        rec = base.Recorder(seed=5000 + steps * 10 + tenths)
        base.patch_randn(rec)
        lat = pipe(
            prompt=base.PROMPT,
            image=Image.fromarray(img),
            strength=tenths / 10,
            num_inference_steps=steps,
            guidance_scale=0.0,
            output_type="latent",
        ).images
        key = f"img2img.sdxl_turbo.n{steps}.s{tenths}"
        out[f"{key}.latents"] = lat.contiguous()
        out[f"{key}.noise"] = torch.stack(rec.draws).contiguous()
        vae = pipe.vae.to(torch.float32)
        pix = (vae.decode(lat.float() / sf).sample / 2 + 0.5).clamp(0, 1)
        out[f"{key}.image"] = (pix[0].permute(1, 2, 0) * 255).round().to(torch.uint8).contiguous()
    meta = {
        "prompt": base.PROMPT, "size": str(base.SIZE),
        "diffusers": diffusers.__version__, "torch": torch.__version__,
    }
    save_file(out, str(dest / "expected.safetensors"), metadata=meta)
    print("sdxl-turbo written")


if __name__ == "__main__":
    main()
