"""Writes the LoRA parity fixtures: two LoRA files for the tiny SD 1.5 model, in the
two formats people download, written by diffusers and PEFT themselves, and what
diffusers paints with each after `load_lora_weights` + `fuse_lora`.

    .venv/bin/python bench/parity/make_lora_fixtures.py crates/engine/tests/fixtures/parity

Run after make_fixtures.py (it reads `sd15/`). It writes `lora/`:
- `peft.safetensors`: what `StableDiffusionPipeline.save_lora_weights` writes for a PEFT
  adapter (`unet.….lora_A.weight`, `text_encoder.….lora_B.weight`), with the adapters'
  configs (rank, `lora_alpha`) in the file's `lora_adapter_metadata`; UNet rank 4 with
  alpha 8 (scale 2) on attention, feed-forward, projections, the resnets' 3×3
  convolutions and time embeddings; text encoder rank 4, alpha 4, on every linear layer.
- `kohya.safetensors`: the same adapters through diffusers' `convert_state_dict_to_kohya`
  (`lora_unet_…`, `lora_te_…`, `.lora_down.weight`, `.lora_up.weight`, `.alpha`) as
  A1111 users download them, with alpha 2 on the UNet's rank-4 layers (scale 0.5), as
  kohya's trainer often writes.
- `expected.safetensors`: whole img2img runs (Euler a, the sd15 fixture's steps and
  guidance, strength 0.6) with each file fused at weight 0.8, with every noise draw
  recorded; and the text embeddings of the prompt with each fused.
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

import diffusers
from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionImg2ImgPipeline
from diffusers.utils import convert_state_dict_to_kohya
from peft import LoraConfig, inject_adapter_in_model
from peft.utils import get_peft_model_state_dict

import make_fixtures as base

UNET_TARGETS = [
    "to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2",
    "conv1", "conv2", "time_emb_proj",
]
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
WEIGHT = 0.8
STRENGTH = 0.6


def randomize_lora(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "lora_" in name:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)


def write_loras(src: Path, dest: Path):
    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(src)
    unet_cfg = LoraConfig(r=4, lora_alpha=8, target_modules=UNET_TARGETS, init_lora_weights=False)
    text_cfg = LoraConfig(r=4, lora_alpha=4, target_modules=TEXT_TARGETS, init_lora_weights=False)
    pipe.unet.add_adapter(unet_cfg)
    # transformers 5 wants PEFT ≥ 0.22 for `add_adapter`; PEFT's own call does the same.
    pipe.text_encoder = inject_adapter_in_model(text_cfg, pipe.text_encoder)
    randomize_lora(pipe.unet, 41)
    randomize_lora(pipe.text_encoder, 42)
    unet_sd = get_peft_model_state_dict(pipe.unet)
    text_sd = get_peft_model_state_dict(pipe.text_encoder)
    StableDiffusionImg2ImgPipeline.save_lora_weights(
        dest,
        unet_lora_layers=unet_sd,
        text_encoder_lora_layers=text_sd,
        weight_name="peft.safetensors",
        unet_lora_adapter_metadata=unet_cfg.to_dict(),
        text_encoder_lora_adapter_metadata=text_cfg.to_dict(),
    )
    # The kohya file: diffusers' own converter, SD 1.x's `lora_te_` prefix, and alpha 2
    # for the UNet's rank-4 layers (its up weights doubled by 4 ÷ 2 ... no: the scale
    # changes from 2 to 0.5, so this file paints differently from the PEFT one).
    combined = {f"unet.{k}": v for k, v in unet_sd.items()}
    combined.update({f"text_encoder.{k}": v for k, v in text_sd.items()})
    kohya = convert_state_dict_to_kohya(combined)
    out = {}
    for k, v in kohya.items():
        # SD 1.x kohya files name the text encoder `lora_te_text_model_…`.
        k = k.replace("lora_te1_", "lora_te_")
        if not k.startswith("lora_te_text_model_"):
            k = k.replace("lora_te_", "lora_te_text_model_")
        if k.startswith("lora_unet_") and k.endswith(".alpha"):
            v = torch.tensor(2.0)
        out[k] = v.contiguous()
    save_file(out, str(dest / "kohya.safetensors"))


@torch.no_grad()
def expected(src: Path, dest: Path):
    from PIL import Image

    out = {}
    img = base.photo()
    meta = {}
    for label in ("peft", "kohya"):
        pipe = StableDiffusionImg2ImgPipeline.from_pretrained(src)
        pipe.set_progress_bar_config(disable=True)
        pipe.load_lora_weights(dest, weight_name=f"{label}.safetensors")
        pipe.fuse_lora(lora_scale=WEIGHT)
        pipe.unload_lora_weights()  # the fused weights stay
        ids = base.token_ids(pipe.tokenizer, base.PROMPT)
        out[f"lora.{label}.text"] = pipe.text_encoder(ids)[0].contiguous()
        pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
        rec = base.Recorder(seed=3000 + len(label))
        base.patch_randn(rec)
        steps = base.STEPS
        lat = pipe(
            prompt=base.PROMPT,
            negative_prompt=base.NEGATIVE,
            image=Image.fromarray(img),
            strength=STRENGTH,
            num_inference_steps=steps,
            guidance_scale=base.CFG,
            output_type="latent",
        ).images
        key = f"img2img.lora_{label}"
        out[f"{key}.latents"] = lat.contiguous()
        out[f"{key}.noise"] = torch.stack(rec.draws).contiguous()
        sf = pipe.vae.config.scaling_factor
        pix = (pipe.vae.decode(lat / sf).sample / 2 + 0.5).clamp(0, 1)
        out[f"{key}.image"] = (pix[0].permute(1, 2, 0) * 255).round().to(torch.uint8).contiguous()
    meta.update({
        "prompt": base.PROMPT, "negative": base.NEGATIVE, "steps": str(base.STEPS),
        "cfg": str(base.CFG), "strength": str(STRENGTH), "weight": str(WEIGHT),
        "diffusers": diffusers.__version__, "torch": torch.__version__,
    })
    return out, meta


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/engine/tests/fixtures/parity")
    torch.manual_seed(0)
    base.VOCAB_DIR = root / "clip-vocab-merges"
    base.patch_latent_mean()
    src, dest = root / "sd15", root / "lora"
    dest.mkdir(exist_ok=True)
    write_loras(src, dest)
    tensors, meta = expected(src, dest)
    save_file(tensors, str(dest / "expected.safetensors"), metadata=meta)
    peft = load_file(str(dest / "peft.safetensors"))
    print("peft keys e.g.", sorted(peft)[:2], len(peft))
    from safetensors import safe_open
    with safe_open(str(dest / "peft.safetensors"), "pt") as f:
        print("metadata", json.dumps(f.metadata())[:400])
    kohya = load_file(str(dest / "kohya.safetensors"))
    print("kohya keys e.g.", sorted(kohya)[:3], len(kohya))


if __name__ == "__main__":
    main()
