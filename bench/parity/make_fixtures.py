"""Writes the engine's parity fixtures: tiny random-weight Stable Diffusion models saved by
diffusers and transformers themselves, and what diffusers computes with them.

    python -m venv .venv && .venv/bin/pip install -r bench/parity/requirements.txt
    .venv/bin/python bench/parity/make_fixtures.py crates/engine/tests/fixtures/parity

Two shapes, each a complete model directory as `save_pretrained` writes it:
- `sd15/`: one CLIP text encoder (quick-GELU, last hidden state), epsilon prediction;
- `sdxl/`: two text encoders (penultimate hidden states, the second with a projection
  giving the pooled embedding, GELU, padded with "!"), and a UNet with SDXL's added
  conditioning (`addition_embed_type = "text_time"`).

Next to each model, `expected.safetensors` holds the inputs and diffusers' outputs for
every stage: token ids, text embeddings, the VAE latent mean × scaling factor, the UNet's
noise prediction with classifier-free guidance, one or two scheduler steps for each
sampler (DDIM, Euler a, DPM++ 2M Karras, LCM), the VAE decode, and whole img2img runs at
strengths 0.3, 0.6 and 0.9 with every noise tensor the run drew. The Rust test
`crates/engine/tests/parity.rs` reads them; CI needs no PyTorch.

Two reference settings differ from diffusers' defaults, both on purpose:
- img2img encodes the photo to the latent *mean* (`sample_mode="argmax"`), as our engine
  does, so the same photo and seed always give the same painting;
- every random draw (the initial noise and Euler a's noise per step) is recorded in
  order, so the Rust side feeds the very same numbers.
"""

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

import diffusers
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    PNDMScheduler,
    EulerDiscreteScheduler,
    LCMScheduler,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionXLImg2ImgPipeline,
    UNet2DConditionModel,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
)

PROMPT = "a portrait of a person, painted by Vincent van Gogh, swirling brush strokes"
NEGATIVE = "photo, blurry, lowres"
SIZE = 64
STEPS = 10
CFG = 7.5
STRENGTHS = (0.3, 0.6, 0.9)
SAMPLERS = ("ddim", "euler_a", "dpmpp_2m_karras", "lcm")


# ---------------------------------------------------------------------------------------
# A tiny CLIP vocabulary: byte-level symbols, their end-of-word forms, and BPE merges
# learned from painting prompts, with the special tokens last (as in CLIP, where
# <|endoftext|> is the highest id).

CORPUS = """a portrait of a person painted by pablo picasso cubism bold planes strong lines
painted by pierre auguste renoir impressionism soft light warm colours
painted by vincent van gogh swirling brush strokes starry night thick paint
painted by roy lichtenstein pop art comic dots bold outlines
photo blurry lowres ugly deformed watermark text""".split()


def bytes_to_unicode():
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def tiny_vocab(merges_wanted=160):
    symbols = bytes_to_unicode()
    vocab = symbols + [s + "</w>" for s in symbols]
    words = Counter()
    for w in CORPUS:
        chars = list(w)
        chars[-1] += "</w>"
        words[tuple(chars)] += 1
    merges = []
    for _ in range(merges_wanted):
        pairs = Counter()
        for word, n in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append((a, b))
        vocab.append(a + b)
        merged = Counter()
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == (a, b):
                    out.append(a + b)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(vocab)}, merges


# The published checkpoints' tokenizer folders hold `vocab.json` and `merges.txt` (no
# `tokenizer.json`), as transformers 4's slow CLIPTokenizer wrote them; transformers 5
# writes `tokenizer.json` only. The pair is kept here so both layouts are tested.
VOCAB_DIR = Path("clip-vocab-merges")


def tokenizer(dir_: Path, pad: str) -> CLIPTokenizer:
    vocab, merges = tiny_vocab()
    dir_.mkdir(parents=True, exist_ok=True)
    (dir_ / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (dir_ / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    )
    return CLIPTokenizer(
        vocab=str(dir_ / "vocab.json"),
        merges=str(dir_ / "merges.txt"),
        pad_token=pad,
        model_max_length=77,
    )


def clip_config(vocab_size, act, projection_dim=0):
    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=5,
        num_attention_heads=4,
        max_position_embeddings=77,
        hidden_act=act,
        projection_dim=projection_dim or 32,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )


def vae(scaling_factor, force_upcast):
    return AutoencoderKL(
        block_out_channels=(8, 16, 16, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=4,
        sample_size=SIZE,
        scaling_factor=scaling_factor,
        force_upcast=force_upcast,
    )


def vivid(vae_model):
    """Random VAE weights leave latents and pictures nearly flat (a grey picture would
    hide a wrong decoder): scale the last layers so latents have a trained model's
    spread (std about 0.2 after scaling) and pictures use the whole 0–255 range."""
    with torch.no_grad():
        vae_model.encoder.conv_out.weight.mul_(25.0)
        vae_model.encoder.conv_out.bias.mul_(25.0)
        vae_model.decoder.conv_out.weight.mul_(15.0)
    return vae_model


def randomize(module, seed):
    """Random weights large enough that every layer matters (diffusers zero-initialises
    some output convolutions, which would hide mistakes after them)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("norm.weight") or ".norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif p.ndim == 1:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)
    return module


def sd15_unet(**extra):
    """SD 1.5's UNet shape, narrow: conv projections, 4 heads, 32-wide text."""
    return UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=2,
        sample_size=SIZE // 8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=8,
        **extra,
    )


def sd15():
    tok = tokenizer(VOCAB_DIR, pad="<|endoftext|>")
    text = randomize(CLIPTextModel(clip_config(len(tok), "quick_gelu")), 1).eval()
    unet = randomize(sd15_unet(), 2).eval()
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        set_alpha_to_one=False,
        skip_prk_steps=True,
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipe = StableDiffusionImg2ImgPipeline(
        vae=vivid(randomize(vae(0.18215, False), 3)).eval(),
        text_encoder=text,
        tokenizer=tok,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return pipe


def sdxl():
    tok = tokenizer(VOCAB_DIR, pad="<|endoftext|>")
    tok2 = tokenizer(VOCAB_DIR, pad="!")
    text = randomize(CLIPTextModel(clip_config(len(tok), "quick_gelu")), 11).eval()
    text2 = randomize(
        CLIPTextModelWithProjection(clip_config(len(tok2), "gelu", projection_dim=32)), 12
    ).eval()
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=2,
        sample_size=SIZE // 8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        transformer_layers_per_block=(1, 2),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + 32,
        cross_attention_dim=64,
        norm_num_groups=8,
    )
    unet = randomize(unet, 13).eval()
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        timestep_spacing="leading",
        interpolation_type="linear",
    )
    return StableDiffusionXLImg2ImgPipeline(
        vae=vivid(randomize(vae(0.13025, True), 14)).eval(),
        text_encoder=text,
        text_encoder_2=text2,
        tokenizer=tok,
        tokenizer_2=tok2,
        unet=unet,
        scheduler=scheduler,
        requires_aesthetics_score=False,
    )


# ---------------------------------------------------------------------------------------


def scheduler_for(pipe, sampler):
    config = pipe.scheduler.config
    if sampler == "ddim":
        return DDIMScheduler.from_config(config)
    if sampler == "euler_a":
        return EulerAncestralDiscreteScheduler.from_config(config)
    if sampler == "lcm":
        return LCMScheduler.from_config(config)
    if sampler == "dpmpp_2m_karras":
        return DPMSolverMultistepScheduler.from_config(
            config, use_karras_sigmas=True, algorithm_type="dpmsolver++", solver_order=2
        )
    raise ValueError(sampler)


class Recorder:
    """Replaces diffusers' `randn_tensor` and keeps every draw, in order."""

    def __init__(self, seed):
        self.generator = torch.Generator().manual_seed(seed)
        self.draws = []

    def __call__(self, shape, generator=None, device=None, dtype=None, layout=None):
        x = torch.randn(shape, generator=self.generator, dtype=torch.float32)
        self.draws.append(x.clone())
        return x.to(dtype=dtype or torch.float32)


def patch_randn(recorder):
    import diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img as p1
    import diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl_img2img as p2
    import diffusers.schedulers.scheduling_euler_ancestral_discrete as s1
    import diffusers.schedulers.scheduling_lcm as s2

    for m in (p1, p2, s1, s2):
        m.randn_tensor = recorder


def patch_latent_mean():
    import diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img as p1
    import diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl_img2img as p2

    for m in (p1, p2):
        original = m.retrieve_latents

        def mean(encoder_output, generator=None, sample_mode="sample", _o=original):
            return _o(encoder_output, generator, sample_mode="argmax")

        m.retrieve_latents = mean


def photo(seed=7):
    """A 64×64 test picture: smooth shapes plus grain, deterministic."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    r = 0.5 + 0.4 * np.sin(6 * x + 2 * y)
    g = 0.5 + 0.4 * np.cos(5 * y - 3 * x)
    b = np.clip(1.2 - 2.5 * ((x - 0.5) ** 2 + (y - 0.45) ** 2) ** 0.5, 0, 1)
    img = np.stack([r, g, b], -1) + 0.05 * rng.standard_normal((SIZE, SIZE, 3))
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def token_ids(tok, text):
    return tok(
        text, padding="max_length", max_length=tok.model_max_length, truncation=True,
        return_tensors="pt",
    ).input_ids


@torch.no_grad()
def expected(pipe, xl):
    out = {}
    img = photo()
    out["image"] = torch.from_numpy(img)

    # Text.
    toks = [pipe.tokenizer] + ([pipe.tokenizer_2] if xl else [])
    for i, tok in enumerate(toks):
        out[f"ids{i + 1}.prompt"] = token_ids(tok, PROMPT).to(torch.int64)
        out[f"ids{i + 1}.negative"] = token_ids(tok, NEGATIVE).to(torch.int64)
    if xl:
        cond, uncond, pooled, pooled_neg = pipe.encode_prompt(
            PROMPT, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True,
            negative_prompt=NEGATIVE,
        )
        out["text.pooled"] = pooled.contiguous()
        out["text.pooled_negative"] = pooled_neg.contiguous()
    else:
        cond, uncond = pipe.encode_prompt(
            PROMPT, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True,
            negative_prompt=NEGATIVE,
        )
    out["text.prompt"] = cond.contiguous()
    out["text.negative"] = uncond.contiguous()

    # VAE encode: the latent mean × scaling factor.
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    sf = pipe.vae.config.scaling_factor
    latent = pipe.vae.encode(x).latent_dist.mode() * sf
    out["vae.latent"] = latent.contiguous()

    # UNet: fixed latents, timestep and embeddings, with guidance.
    g = torch.Generator().manual_seed(21)
    latents = torch.randn((1, 4, SIZE // 8, SIZE // 8), generator=g)
    out["unet.latents"] = latents
    context = torch.cat([uncond, cond])
    kwargs = {}
    if xl:
        time_ids = torch.tensor([[SIZE, SIZE, 0, 0, SIZE, SIZE]] * 2, dtype=torch.float32)
        kwargs["added_cond_kwargs"] = {
            "text_embeds": torch.cat([out["text.pooled_negative"], out["text.pooled"]]),
            "time_ids": time_ids,
        }
    for t in (999, 500, 21):
        pred = pipe.unet(torch.cat([latents] * 2), t, encoder_hidden_states=context, **kwargs).sample
        u, c = pred.chunk(2)
        out[f"unet.t{t}.uncond"] = u.contiguous()
        out[f"unet.t{t}.cond"] = c.contiguous()
        out[f"unet.t{t}.guided"] = (u + CFG * (c - u)).contiguous()

    # Scheduler steps, 20-step schedules: two steps in (DPM++ 2M needs a history).
    g = torch.Generator().manual_seed(22)
    sample = torch.randn((1, 4, 8, 8), generator=g)
    eps = [torch.randn((1, 4, 8, 8), generator=g) for _ in range(3)]
    step_noise = [torch.randn((1, 4, 8, 8), generator=g) for _ in range(3)]
    out["sched.sample"], out["sched.eps"], out["sched.noise"] = (
        sample, torch.stack(eps), torch.stack(step_noise),
    )
    for sampler in SAMPLERS:
        s = scheduler_for(pipe, sampler)
        s.set_timesteps(20)
        out[f"sched.{sampler}.timesteps"] = s.timesteps.to(torch.float64)
        if hasattr(s, "sigmas"):
            out[f"sched.{sampler}.sigmas"] = s.sigmas.to(torch.float64)
        x = sample.clone()
        noises = list(step_noise)
        if sampler in ("euler_a", "lcm"):
            import diffusers.schedulers.scheduling_euler_ancestral_discrete as m1
            import diffusers.schedulers.scheduling_lcm as m2
            m = m1 if sampler == "euler_a" else m2
            saved = m.randn_tensor
            m.randn_tensor = lambda *a, **k: noises.pop(0)
        for i in range(3):
            t = s.timesteps[i]
            scaled = s.scale_model_input(x, t)
            out[f"sched.{sampler}.scaled{i}"] = scaled.contiguous()
            x = s.step(eps[i], t, x).prev_sample
            out[f"sched.{sampler}.step{i}"] = x.contiguous()
        if sampler in ("euler_a", "lcm"):
            m.randn_tensor = saved

    # VAE decode, as pixels in [0, 1] before rounding.
    dec = pipe.vae.decode(latent / sf).sample
    out["vae.decoded"] = ((dec / 2 + 0.5).clamp(0, 1)).contiguous()

    # Whole img2img runs.
    from PIL import Image

    for sampler in SAMPLERS:
        for strength in STRENGTHS:
            pipe.scheduler = scheduler_for(pipe, sampler)
            rec = Recorder(seed=1000 + int(strength * 10))
            patch_randn(rec)
            kw = dict(
                prompt=PROMPT, negative_prompt=NEGATIVE, image=Image.fromarray(img),
                strength=strength, num_inference_steps=STEPS, guidance_scale=CFG,
                output_type="latent",
            )
            lat = pipe(**kw).images
            key = f"img2img.{sampler}.s{int(strength * 10)}"
            out[f"{key}.latents"] = lat.contiguous()
            out[f"{key}.noise"] = torch.stack(rec.draws).contiguous()
            pix = pipe.vae.decode(lat / sf).sample
            pix = (pix / 2 + 0.5).clamp(0, 1)
            out[f"{key}.image"] = (
                (pix[0].permute(1, 2, 0) * 255).round().to(torch.uint8).contiguous()
            )
    pipe.scheduler = scheduler_for(pipe, "ddim").__class__.from_config(pipe.scheduler.config)
    return out


def main():
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/engine/tests/fixtures/parity")
    torch.manual_seed(0)
    global VOCAB_DIR
    VOCAB_DIR = dest / "clip-vocab-merges"
    patch_latent_mean()
    for name, make, xl in (("sd15", sd15, False), ("sdxl", sdxl, True)):
        pipe = make()
        # Save first, reload, and compute from what was saved: the reference then uses
        # exactly the files the Rust side reads.
        pipe.save_pretrained(dest / name, safe_serialization=True)
        cls = StableDiffusionXLImg2ImgPipeline if xl else StableDiffusionImg2ImgPipeline
        pipe = cls.from_pretrained(dest / name)
        pipe.set_progress_bar_config(disable=True)
        tensors = {k: v.detach().clone().contiguous() for k, v in expected(pipe, xl).items()}
        meta = {
            "prompt": PROMPT, "negative": NEGATIVE, "size": str(SIZE), "steps": str(STEPS),
            "cfg": str(CFG), "diffusers": diffusers.__version__, "torch": torch.__version__,
        }
        save_file(tensors, str(dest / name / "expected.safetensors"), metadata=meta)
        print(name, "written:", sum(t.numel() * t.element_size() for t in tensors.values()), "bytes of tensors")


if __name__ == "__main__":
    main()
