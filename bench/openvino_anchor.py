"""A second anchor for `articket bench sd`: the same img2img job through OpenVINO on the
CPU, as FastSD CPU runs SD-Turbo (text encoder, UNet and the tiny autoencoder compiled
by OpenVINO; diffusers' scheduler steps between them).

    python bench/openvino_anchor.py MODEL_DIR TINY_VAE_DIR SIZE STEPS STRENGTH ROUNDS THREADS [PRECISION]

The model is converted from the diffusers folder with `openvino.convert_model` (what
optimum-intel's export does underneath), so it runs the very weights ours and diffusers'
run. PRECISION is OpenVINO's `INFERENCE_PRECISION_HINT`: empty for its default (bf16
on processors with AVX-512 BF16 or AMX, as FastSD CPU gets it; f32 elsewhere), or f32.
Guidance 1 (no unconditional pass), Euler a, as SD-Turbo runs.

Prints one JSON line: the median seconds for four paintings one by one, of each
stage alone (text, encode, one UNet step, decode), and the conversion time.
"""

import json
import statistics
import sys
import time

import numpy as np
import openvino as ov
import torch
from PIL import Image

from diffusers import AutoencoderTiny, EulerAncestralDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer


class UnetOut(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, context):
        return self.unet(sample, timestep, encoder_hidden_states=context, return_dict=False)[0]


class TextOut(torch.nn.Module):
    def __init__(self, text):
        super().__init__()
        self.text = text

    def forward(self, ids):
        return self.text(ids)[0]


def default_precision(core):
    hint = core.get_property("CPU", "INFERENCE_PRECISION_HINT")
    name = getattr(hint, "get_type_name", None)
    return f"default, {name() if name else hint}"


def main():
    model, tiny, size, steps, strength, rounds, threads = sys.argv[1:8]
    precision = sys.argv[8] if len(sys.argv) > 8 else ""
    size, steps, strength, rounds, threads = int(size), int(steps), float(strength), int(rounds), int(threads)
    torch.set_num_threads(threads)
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision

    started = time.perf_counter()
    tok = CLIPTokenizer.from_pretrained(model, subfolder="tokenizer")
    text = CLIPTextModel.from_pretrained(model, subfolder="text_encoder").eval()
    unet = UNet2DConditionModel.from_pretrained(model, subfolder="unet").eval()
    taesd = AutoencoderTiny.from_pretrained(tiny).eval()
    lat = size // 8
    ids = tok(["a"], padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        ctx = text(ids)[0]
        ov_text = core.compile_model(ov.convert_model(TextOut(text), example_input=(ids,)), "CPU", config)
        ov_unet = core.compile_model(
            ov.convert_model(
                UnetOut(unet),
                example_input=(torch.randn(1, 4, lat, lat), torch.tensor([499.0]), ctx),
            ),
            "CPU",
            config,
        )
        ov_enc = core.compile_model(
            ov.convert_model(taesd.encoder, example_input=(torch.randn(1, 3, size, size),)), "CPU", config
        )
        ov_dec = core.compile_model(
            ov.convert_model(taesd.decoder, example_input=(torch.randn(1, 4, lat, lat),)), "CPU", config
        )
    converted = time.perf_counter() - started
    scheduler = EulerAncestralDiscreteScheduler.from_pretrained(model, subfolder="scheduler")
    photo = np.asarray(Image.new("RGB", (size, size), (180, 140, 120)), dtype=np.float32)
    x = torch.from_numpy(photo).permute(2, 0, 1)[None] / 255.0  # TAESD takes [0, 1]

    def paint(prompt, seed):
        g = torch.Generator().manual_seed(seed)
        ids = tok([prompt], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        context = torch.from_numpy(ov_text(ids.numpy())[0])
        clean = torch.from_numpy(ov_enc(x.numpy())[0])
        scheduler.set_timesteps(steps)
        start = steps - int(steps * strength)
        timesteps = scheduler.timesteps[start:]
        scheduler.set_begin_index(start)
        latents = scheduler.add_noise(clean, torch.randn(clean.shape, generator=g), timesteps[:1])
        for t in timesteps:
            inp = scheduler.scale_model_input(latents, t)
            eps = torch.from_numpy(ov_unet((inp.numpy(), np.array([float(t)], dtype=np.float32), context.numpy()))[0])
            latents = scheduler.step(eps, t, latents, generator=g).prev_sample
        out = ov_dec(latents.numpy())[0]
        return (np.clip(out, 0, 1) * 255).astype(np.uint8)

    prompts = [f"a {s} portrait of a person" for s in ("cubist", "impressionist", "post-impressionist", "pop art")]
    paint(prompts[0], 0)  # warm-up
    times = []
    for _ in range(max(rounds, 1)):
        t = time.perf_counter()
        for i, p in enumerate(prompts):
            paint(p, i)
        times.append(time.perf_counter() - t)
    # Each stage alone, as `articket bench sd` times ours.
    ids = tok([prompts[0]], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    lat_in = np.random.default_rng(0).standard_normal((1, 4, lat, lat)).astype(np.float32)
    calls = {
        "text": lambda: ov_text(ids.numpy()),
        "encode": lambda: ov_enc(x.numpy()),
        "unet_step": lambda: ov_unet((lat_in, np.array([499.0], dtype=np.float32), context0)),
        "decode": lambda: ov_dec(lat_in),
    }
    context0 = ov_text(ids.numpy())[0]
    stages = {}
    for name, call in calls.items():
        secs = []
        for _ in range(max(rounds, 5)):
            t = time.perf_counter()
            call()
            secs.append(time.perf_counter() - t)
        stages[name] = statistics.median(secs)
    print(json.dumps({
        "stages": stages,
        "four_one_by_one": statistics.median(times),
        "converted_secs": converted,
        "precision": precision or default_precision(core),
        "openvino": ov.__version__,
    }))


if __name__ == "__main__":
    main()
