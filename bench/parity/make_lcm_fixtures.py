"""Writes the LCM-distilled parity fixture: a tiny model shaped like LCM Dreamshaper v7
(SD 1.5's UNet with the guidance embedding, `time_cond_proj_dim`, and LCM Dreamshaper's
published LCMScheduler config), saved by diffusers and transformers themselves, and
what diffusers' `LatentConsistencyModelImg2ImgPipeline` paints with it.

    .venv/bin/python bench/parity/make_lcm_fixtures.py crates/engine/tests/fixtures/parity

Run after make_fixtures.py (it reuses its tokenizer files and helpers). It writes
`lcm/`: the model and `expected.safetensors` with the guidance embedding at w = 7 and
whole img2img runs (each noise draw recorded): LCM over the strength's part of the
distillation grid, every step run, guidance through the embedding alone.
"""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

import diffusers
from diffusers import LatentConsistencyModelImg2ImgPipeline, LCMScheduler
from transformers import CLIPTextModel

import make_fixtures as base

# (steps, strength, guidance): keyed img2img.lcm.n{steps}.s{strength×10}.g{guidance×10}.
RUNS = ((4, 0.5, 8.0), (2, 1.0, 8.0), (4, 0.3, 1.0), (1, 0.6, 8.5))
COND_DIM = 32


def lcm_model():
    tok = base.tokenizer(base.VOCAB_DIR, pad="<|endoftext|>")
    text = base.randomize(CLIPTextModel(base.clip_config(len(tok), "quick_gelu")), 51).eval()
    unet = base.randomize(base.sd15_unet(time_cond_proj_dim=COND_DIM), 52).eval()
    with torch.no_grad():
        # A guidance embedding strong enough that a wrong one shows.
        unet.time_embedding.cond_proj.weight.mul_(4.0)
    # LCM Dreamshaper v7's scheduler_config.json, as published.
    scheduler = LCMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        original_inference_steps=50,
        prediction_type="epsilon",
        set_alpha_to_one=True,
        steps_offset=1,
        timestep_scaling=10.0,
        timestep_spacing="leading",
        clip_sample=False,
    )
    return LatentConsistencyModelImg2ImgPipeline(
        vae=base.vivid(base.randomize(base.vae(0.18215, False), 53)).eval(),
        text_encoder=text,
        tokenizer=tok,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def patch(recorder):
    import diffusers.pipelines.latent_consistency_models.pipeline_latent_consistency_img2img as p

    base.patch_randn(recorder)
    p.randn_tensor = recorder
    original = p.retrieve_latents

    def mean(encoder_output, generator=None, sample_mode="sample", _o=original):
        return _o(encoder_output, generator, sample_mode="argmax")

    p.retrieve_latents = mean


@torch.no_grad()
def expected(pipe):
    from PIL import Image

    out = {}
    img = base.photo()
    out["image"] = torch.from_numpy(img)
    w = torch.tensor([7.0])
    out["lcm.guidance_embedding.w7"] = pipe.get_guidance_scale_embedding(w, embedding_dim=COND_DIM).contiguous()
    sf = pipe.vae.config.scaling_factor
    for steps, strength, guidance in RUNS:
        rec = base.Recorder(seed=4000 + steps * 10 + int(strength * 10))
        patch(rec)
        lat = pipe(
            prompt=base.PROMPT,
            image=Image.fromarray(img),
            strength=strength,
            num_inference_steps=steps,
            guidance_scale=guidance,
            output_type="latent",
        ).images
        key = f"img2img.lcm.n{steps}.s{int(strength * 10)}.g{int(guidance * 10)}"
        out[f"{key}.latents"] = lat.contiguous()
        out[f"{key}.noise"] = torch.stack(rec.draws).contiguous()
        out[f"{key}.timesteps"] = pipe.scheduler.timesteps.clone().float().contiguous()
        pix = (pipe.vae.decode(lat / sf).sample / 2 + 0.5).clamp(0, 1)
        out[f"{key}.image"] = (pix[0].permute(1, 2, 0) * 255).round().to(torch.uint8).contiguous()
    return out


def main():
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/engine/tests/fixtures/parity")
    torch.manual_seed(0)
    base.VOCAB_DIR = dest / "clip-vocab-merges"
    pipe = lcm_model()
    pipe.save_pretrained(dest / "lcm", safe_serialization=True)
    pipe = LatentConsistencyModelImg2ImgPipeline.from_pretrained(dest / "lcm")
    pipe.set_progress_bar_config(disable=True)
    tensors = {k: v.detach().clone().contiguous() for k, v in expected(pipe).items()}
    meta = {
        "prompt": base.PROMPT, "size": str(base.SIZE),
        "diffusers": diffusers.__version__, "torch": torch.__version__,
    }
    save_file(tensors, str(dest / "lcm" / "expected.safetensors"), metadata=meta)
    print("lcm written:", sum(t.numel() * t.element_size() for t in tensors.values()), "bytes of tensors")
    for k, v in tensors.items():
        if k.endswith(".timesteps"):
            print(k, v.tolist())


if __name__ == "__main__":
    main()
