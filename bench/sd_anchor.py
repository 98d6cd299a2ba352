"""The anchor for `articket bench sd`: the same img2img job through diffusers on PyTorch,
with the same model directory, size, steps, strength, guidance and sampler.

    python bench/sd_anchor.py MODEL_DIR SIZE STEPS STRENGTH SAMPLER ROUNDS DEVICE DTYPE [CFG [TINY_VAE_DIR]]

With CFG ≤ 1 diffusers runs no unconditional pass; with TINY_VAE_DIR, an AutoencoderTiny
(TAESD) replaces the pipeline's VAE, as `articket bench sd --tiny-vae` does for ours.

Prints one JSON line: the median seconds for one painting and for four in one batch.
"""

import json
import statistics
import sys
import time

import numpy as np
import torch
from PIL import Image

from diffusers import (
    AutoencoderTiny,
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionXLImg2ImgPipeline,
)


def main():
    model, size, steps, strength, sampler, rounds, device, dtype = sys.argv[1:9]
    cfg = float(sys.argv[9]) if len(sys.argv) > 9 else 7.0
    tiny_vae = sys.argv[10] if len(sys.argv) > 10 else None
    size, steps, strength, rounds = int(size), int(steps), float(strength), int(rounds)
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    index = json.load(open(f"{model}/model_index.json"))
    cls = (
        StableDiffusionXLImg2ImgPipeline
        if "XL" in index["_class_name"]
        else StableDiffusionImg2ImgPipeline
    )
    kw = {"safety_checker": None} if cls is StableDiffusionImg2ImgPipeline else {}
    pipe = cls.from_pretrained(model, torch_dtype=dtype, **kw).to(device)
    if tiny_vae:
        pipe.vae = AutoencoderTiny.from_pretrained(tiny_vae, torch_dtype=dtype).to(device)
    pipe.set_progress_bar_config(disable=True)
    config = pipe.scheduler.config
    pipe.scheduler = {
        "DDIM": lambda: DDIMScheduler.from_config(config),
        "Euler a": lambda: EulerAncestralDiscreteScheduler.from_config(config),
        "DPM++ 2M Karras": lambda: DPMSolverMultistepScheduler.from_config(
            config, use_karras_sigmas=True
        ),
    }[sampler]()
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    styles = ["cubist", "impressionist", "post-impressionist", "pop art"]

    def paint(n):
        g = [torch.Generator(device).manual_seed(i) for i in range(n)]
        pipe(
            prompt=[f"a {s} portrait of a person" for s in styles[:n]],
            negative_prompt=["photo, blurry"] * n if cfg > 1 else None,
            image=[photo] * n,
            strength=strength,
            num_inference_steps=steps,
            guidance_scale=cfg,
            generator=g,
            output_type="np",
        )
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    with torch.inference_mode():
        paint(1)  # warm-up
        one, four = [], []
        for _ in range(max(rounds, 1)):
            t = time.perf_counter()
            paint(1)
            one.append(time.perf_counter() - t)
            t = time.perf_counter()
            paint(4)
            four.append(time.perf_counter() - t)
    print(json.dumps({
        "one": statistics.median(one), "four": statistics.median(four),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
