"""Writes the TAESDXL parity fixture: an `AutoencoderTiny` laid out as
`madebyollin/taesdxl` publishes it (`config.json`, `diffusion_pytorch_model.safetensors`;
TAESD's architecture, narrower), for the tiny SDXL model of `sdxl/`, and what diffusers
does with it: encode and decode, and SDXL-Turbo img2img with it as the pipeline's VAE
(the SDXL-Turbo scheduler of `sdxl-turbo/`, guidance 0).

    .venv/bin/python bench/parity/make_taesdxl_fixtures.py crates/engine/tests/fixtures/parity

Run after make_fixtures.py and make_sdxl_turbo_fixtures.py. It writes `taesdxl/`.
"""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

import diffusers
from diffusers import (
    AutoencoderTiny,
    EulerAncestralDiscreteScheduler,
    StableDiffusionXLImg2ImgPipeline,
)

import make_fixtures as base
from make_turbo_fixtures import taesd

RUNS = ((2, 5), (1, 10))


def taesdxl():
    return taesd(seed=71)


@torch.no_grad()
def main():
    from PIL import Image

    root = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/engine/tests/fixtures/parity")
    torch.manual_seed(0)
    base.VOCAB_DIR = root / "clip-vocab-merges"
    base.patch_latent_mean()
    dest = root / "taesdxl"
    taesdxl().save_pretrained(dest, safe_serialization=True)
    # From what was saved: the reference uses exactly the files the engine reads.
    tiny = AutoencoderTiny.from_pretrained(dest).eval()
    pipe = StableDiffusionXLImg2ImgPipeline.from_pretrained(root / "sdxl")
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = EulerAncestralDiscreteScheduler.from_pretrained(root / "sdxl-turbo" / "scheduler")
    img = base.photo()
    out = {}
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    out["taesdxl.latents"] = tiny.encode(x).latents.contiguous()
    full = pipe.vae.encode(x).latent_dist.mode() * pipe.vae.config.scaling_factor
    out["taesdxl.decoded"] = ((tiny.decode(full).sample / 2 + 0.5).clamp(0, 1)).contiguous()
    pipe.vae = tiny
    for steps, tenths in RUNS:
        rec = base.Recorder(seed=7000 + steps * 10 + tenths)
        base.patch_randn(rec)
        lat = pipe(
            prompt=base.PROMPT,
            image=Image.fromarray(img),
            strength=tenths / 10,
            num_inference_steps=steps,
            guidance_scale=0.0,
            output_type="latent",
        ).images
        key = f"img2img.sdxl_turbo_taesdxl.n{steps}.s{tenths}"
        out[f"{key}.latents"] = lat.contiguous()
        out[f"{key}.noise"] = torch.stack(rec.draws).contiguous()
        pix = (tiny.decode(lat).sample / 2 + 0.5).clamp(0, 1)
        out[f"{key}.image"] = (pix[0].permute(1, 2, 0) * 255).round().to(torch.uint8).contiguous()
    meta = {
        "prompt": base.PROMPT, "size": str(base.SIZE),
        "diffusers": diffusers.__version__, "torch": torch.__version__,
    }
    save_file(out, str(dest / "expected.safetensors"), metadata=meta)
    print("taesdxl written", {k: tuple(v.shape) for k, v in out.items() if "latents" in k})


if __name__ == "__main__":
    main()
