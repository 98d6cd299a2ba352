"""Writes the masked img2img (differential diffusion) parity fixtures: what diffusers
computes when each latent pixel follows the model only from a step its change map
decides, on the committed tiny SD 1.5 and SD-Turbo models.

    cd bench/parity && ../../.venv/bin/python make_masked_fixtures.py ../../crates/engine/tests/fixtures/parity

Run after make_fixtures.py and make_turbo_fixtures.py: it loads their saved models and
writes `sd15/masked.safetensors` and `sd-turbo/masked.safetensors`.

The reference is diffusers' own `StableDiffusionImg2ImgPipeline` with the algorithm of
Differential Diffusion (Levin & Fried, 2024; the diffusers community pipelines
`pipeline_stable_diffusion_diffimg2img` and `DifferentialDiffusionSDXLPipeline`): with N
denoising steps, at the start of step i > 0 every latent pixel whose keep value
(1 − change) exceeds i / N is set back to the photo's latents noised to step i with the
noise the run started from (`scheduler.add_noise`, as diffusers' inpainting pipeline
does). Here that happens in `callback_on_step_end` after step i − 1, which is the same
point. Every noise tensor drawn is recorded so the Rust side feeds the same numbers.
"""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from PIL import Image

import diffusers
from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionImg2ImgPipeline

import make_fixtures as base

# The change map on the 8×8 latent grid of a 64 px painting: background 1 (all of the
# strength), a person-shaped ellipse 0.27, a rim of 0.62 between, and one cell 0 (the
# photo kept until the last step). No value sits on a threshold i / N of these runs.
def change_map():
    y, x = torch.meshgrid(torch.arange(8, dtype=torch.float32), torch.arange(8, dtype=torch.float32), indexing="ij")
    d = ((x - 3.5) / 2.6) ** 2 + ((y - 4.2) / 3.4) ** 2
    c = torch.where(d < 0.55, torch.tensor(0.27), torch.where(d < 1.0, torch.tensor(0.62), torch.tensor(1.0)))
    c[4, 3] = 0.0
    return c.contiguous()


def masked_img2img(pipe, scheduler, change, *, steps, strength, cfg, seed, negative):
    pipe.scheduler = scheduler
    rec = base.Recorder(seed=seed)
    base.patch_randn(rec)
    keep = 1.0 - change
    captured = {}
    original = pipe.prepare_latents

    def prepare(image, *args, **kwargs):
        captured["image"] = image
        return original(image, *args, **kwargs)

    pipe.prepare_latents = prepare

    def blend(p, i, t, kwargs):
        latents = kwargs["latents"]
        n = p._num_timesteps
        if i + 1 < n:
            if "clean" not in captured:
                vae = p.vae
                enc = vae.encode(captured["image"].to(vae.dtype)).latent_dist.mode()
                captured["clean"] = enc * vae.config.scaling_factor
            thresholds = torch.arange(n, dtype=torch.float32) / n
            timesteps = p.scheduler.timesteps
            t_next = timesteps[len(timesteps) - n + i + 1].reshape(1)
            photo = p.scheduler.add_noise(captured["clean"], rec.draws[0], t_next)
            mask = (keep > thresholds[i + 1]).to(latents.dtype)[None, None]
            latents = photo * mask + latents * (1 - mask)
        return {"latents": latents}

    img = base.photo()
    lat = pipe(
        prompt=base.PROMPT,
        negative_prompt=negative,
        image=Image.fromarray(img),
        strength=strength,
        num_inference_steps=steps,
        guidance_scale=cfg,
        output_type="latent",
        callback_on_step_end=blend,
        callback_on_step_end_tensor_inputs=["latents"],
    ).images
    pipe.prepare_latents = original
    sf = pipe.vae.config.scaling_factor
    pix = (pipe.vae.decode(lat / sf).sample / 2 + 0.5).clamp(0, 1)
    return {
        "latents": lat.contiguous(),
        "noise": torch.stack(rec.draws).contiguous(),
        "image": (pix[0].permute(1, 2, 0) * 255).round().to(torch.uint8).contiguous(),
    }


@torch.no_grad()
def sd15(dest):
    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(dest / "sd15")
    pipe.set_progress_bar_config(disable=True)
    change = change_map()
    out = {"change": change}
    for sampler in base.SAMPLERS:
        run = masked_img2img(
            pipe, base.scheduler_for(pipe, sampler), change,
            steps=base.STEPS, strength=0.6, cfg=base.CFG, seed=3006, negative=base.NEGATIVE,
        )
        for k, v in run.items():
            out[f"masked.{sampler}.s6.{k}"] = v
    return out


@torch.no_grad()
def turbo(dest):
    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(dest / "sd-turbo")
    pipe.set_progress_bar_config(disable=True)
    change = change_map()
    out = {"change": change}
    for steps, tenths in ((2, 10), (4, 10), (4, 5)):
        run = masked_img2img(
            pipe, EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config), change,
            steps=steps, strength=tenths / 10, cfg=0.0, seed=4000 + steps * 10 + tenths, negative=None,
        )
        for k, v in run.items():
            out[f"masked.turbo.n{steps}.s{tenths}.{k}"] = v
    return out


def main():
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/engine/tests/fixtures/parity")
    base.patch_latent_mean()
    meta = {
        "prompt": base.PROMPT, "negative": base.NEGATIVE, "steps": str(base.STEPS),
        "cfg": str(base.CFG), "diffusers": diffusers.__version__, "torch": torch.__version__,
    }
    for name, make in (("sd15", sd15), ("sd-turbo", turbo)):
        tensors = {k: v.detach().clone().contiguous() for k, v in make(dest).items()}
        save_file(tensors, str(dest / name / "masked.safetensors"), metadata=meta)
        print(name, "written:", sum(t.numel() * t.element_size() for t in tensors.values()), "bytes of tensors")


if __name__ == "__main__":
    main()
