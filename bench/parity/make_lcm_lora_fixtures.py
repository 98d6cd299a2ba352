"""Writes the LCM-LoRA parity fixture: a LoRA on the tiny SD 1.5 model with the layers
LCM-LoRA trains (diffusers' `train_lcm_distill_lora_sd_wds.py`: attention, projections,
feed-forward, the resnets' convolutions and 1×1 shortcuts, the down- and upsamplers'
convolutions, time embeddings), in the kohya format LCM-LoRA's published file uses, and
what diffusers paints with it the way LCM-LoRA is used: `load_lora_weights` +
`fuse_lora`, LCMScheduler from the model's own scheduler config, few steps, guidance 1.

    .venv/bin/python bench/parity/make_lcm_lora_fixtures.py crates/engine/tests/fixtures/parity

Run after make_fixtures.py (it reads `sd15/`). It writes into `lora/`:
- `lcm-lora.safetensors`: `lora_unet_…` with `lora_down`, `lora_up` and `alpha` (rank 4,
  alpha 8), through diffusers' `convert_state_dict_to_kohya`;
- `lcm-expected.safetensors`: img2img runs (recorded noise) at (steps, strength)
  in RUNS, guidance 1 (no unconditional pass), weight 1.
"""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

import diffusers
from diffusers import LCMScheduler, StableDiffusionImg2ImgPipeline
from diffusers.utils import convert_state_dict_to_kohya
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict

import make_fixtures as base
from make_lora_fixtures import randomize_lora

TARGETS = [
    "to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2",
    "conv1", "conv2", "conv_shortcut", "downsamplers.0.conv", "upsamplers.0.conv",
    "time_emb_proj",
]
RUNS = ((4, 0.5), (2, 0.6))


def write_lora(src: Path, dest: Path):
    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(src)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, init_lora_weights=False)
    pipe.unet.add_adapter(config)
    randomize_lora(pipe.unet, 61)
    state = get_peft_model_state_dict(pipe.unet)
    kohya = convert_state_dict_to_kohya({f"unet.{k}": v for k, v in state.items()})
    names = sorted({k.split(".")[0] for k in kohya})
    for part in ("conv_shortcut", "downsamplers_0_conv", "upsamplers_0_conv"):
        assert any(part in n for n in names), f"the tiny UNet has no {part}"
    save_file({k: v.contiguous() for k, v in kohya.items()}, str(dest / "lcm-lora.safetensors"))
    return len(names)


@torch.no_grad()
def expected(src: Path, dest: Path):
    from PIL import Image

    out = {}
    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(src)
    pipe.set_progress_bar_config(disable=True)
    pipe.load_lora_weights(dest, weight_name="lcm-lora.safetensors")
    pipe.fuse_lora(lora_scale=1.0)
    pipe.unload_lora_weights()  # the fused weights stay
    pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
    for steps, strength in RUNS:
        rec = base.Recorder(seed=4000 + steps)
        base.patch_randn(rec)
        lat = pipe(
            prompt=base.PROMPT,
            image=Image.fromarray(base.photo()),
            strength=strength,
            num_inference_steps=steps,
            guidance_scale=1.0,
            output_type="latent",
        ).images
        key = f"img2img.lcm_lora.n{steps}.s{round(strength * 10)}"
        out[f"{key}.latents"] = lat.contiguous()
        out[f"{key}.noise"] = torch.stack(rec.draws).contiguous()
        out[f"{key}.timesteps"] = pipe.scheduler.timesteps.to(torch.float32).contiguous()
        sf = pipe.vae.config.scaling_factor
        pix = (pipe.vae.decode(lat / sf).sample / 2 + 0.5).clamp(0, 1)
        out[f"{key}.image"] = (pix[0].permute(1, 2, 0) * 255).round().to(torch.uint8).contiguous()
    meta = {
        "prompt": base.PROMPT, "runs": ",".join(f"{n}:{s}" for n, s in RUNS),
        "diffusers": diffusers.__version__, "torch": torch.__version__,
    }
    return out, meta


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/engine/tests/fixtures/parity")
    torch.manual_seed(0)
    base.VOCAB_DIR = root / "clip-vocab-merges"
    base.patch_latent_mean()
    src, dest = root / "sd15", root / "lora"
    layers = write_lora(src, dest)
    tensors, meta = expected(src, dest)
    save_file(tensors, str(dest / "lcm-expected.safetensors"), metadata=meta)
    print(f"{layers} layers;", {k: tuple(v.shape) for k, v in tensors.items() if "timesteps" in k})


if __name__ == "__main__":
    main()
