"""Writes a full-size Stable Diffusion model with random weights, as diffusers and
transformers write a real one (`save_pretrained`), for timing: trained weights cost the
same to run. Both `articket bench sd --model` and the diffusers anchor load the same
directory, so they time the same weights.

    python bench/gpu/random_model.py sd15|sd-turbo|sdxl-turbo|taesd OUT_DIR [f16|bf16|f32]

The shapes are the published checkpoints' (SD 1.5; SD-Turbo, which is SD 2.1's shape
with its trailing Euler schedule; SDXL-Turbo, which is SDXL's shape; TAESD, diffusers'
`AutoencoderTiny` at its default size, as madebyollin/taesd publishes it).
The tokenizer is the parity fixtures' small CLIP vocabulary: token ids only index the
embedding table, so its size does not change the work.
"""

import sys
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderTiny,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    PNDMScheduler,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionXLImg2ImgPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "parity"))
import make_fixtures  # noqa: E402  (the tiny CLIP vocabulary)


def clip(hidden, layers, heads, inter, act, projection):
    return CLIPTextConfig(
        vocab_size=49408, hidden_size=hidden, intermediate_size=inter,
        num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=77,
        hidden_act=act, projection_dim=projection, bos_token_id=49406, eos_token_id=49407,
        pad_token_id=49407,
    )


def vae(scaling):
    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
        norm_num_groups=32, sample_size=512, scaling_factor=scaling,
    )


def main():
    arch, out = sys.argv[1], Path(sys.argv[2])
    dtype = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}[
        sys.argv[3] if len(sys.argv) > 3 else "f16"
    ]
    make_fixtures.VOCAB_DIR = out / "vocab"
    # The tiny vocabulary's ids must fit the full-size table; its end token is placed
    # last (id 673), well inside 49408.
    tok = make_fixtures.tokenizer(make_fixtures.VOCAB_DIR, pad="<|endoftext|>")
    torch.manual_seed(0)
    if arch == "taesd":
        AutoencoderTiny().to(dtype).save_pretrained(out, safe_serialization=True)
        print(f"{arch}: written to {out}")
        return
    if arch == "sd-turbo":
        tok = make_fixtures.tokenizer(make_fixtures.VOCAB_DIR, pad="!")
        unet = UNet2DConditionModel(
            block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=1024,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
            layers_per_block=2, sample_size=64,
        )
        # OpenCLIP ViT-H as SD 2.x ships it: 23 of its 24 layers, GELU.
        text = CLIPTextModel(clip(1024, 23, 16, 4096, "gelu", 1024))
        text.config.eos_token_id = tok.eos_token_id
        pipe = StableDiffusionImg2ImgPipeline(
            vae=vae(0.18215), text_encoder=text, tokenizer=tok, unet=unet,
            scheduler=EulerDiscreteScheduler(
                beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                steps_offset=1, timestep_spacing="trailing", prediction_type="epsilon",
            ),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )
    elif arch == "sd15":
        unet = UNet2DConditionModel(
            block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            attention_head_dim=8, layers_per_block=2, sample_size=64,
        )
        text = CLIPTextModel(clip(768, 12, 12, 3072, "quick_gelu", 768))
        text.config.eos_token_id = tok.eos_token_id
        pipe = StableDiffusionImg2ImgPipeline(
            vae=vae(0.18215), text_encoder=text, tokenizer=tok, unet=unet,
            scheduler=PNDMScheduler(
                beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1,
            ),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )
    else:
        tok2 = make_fixtures.tokenizer(make_fixtures.VOCAB_DIR, pad="!")
        unet = UNet2DConditionModel(
            block_out_channels=(320, 640, 1280), cross_attention_dim=2048,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10),
            use_linear_projection=True, addition_embed_type="text_time",
            addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
            layers_per_block=2, sample_size=64,
        )
        text = CLIPTextModel(clip(768, 12, 12, 3072, "quick_gelu", 768))
        text2 = CLIPTextModelWithProjection(clip(1280, 32, 20, 5120, "gelu", 1280))
        for t in (text, text2):
            t.config.eos_token_id = tok.eos_token_id
        pipe = StableDiffusionXLImg2ImgPipeline(
            vae=vae(0.13025), text_encoder=text, text_encoder_2=text2, tokenizer=tok,
            tokenizer_2=tok2, unet=unet,
            scheduler=EulerAncestralDiscreteScheduler(
                beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                timestep_spacing="trailing",
            ),
            requires_aesthetics_score=False,
        )
    pipe.to(dtype).save_pretrained(out, safe_serialization=True)
    print(f"{arch}: written to {out}")


if __name__ == "__main__":
    main()
