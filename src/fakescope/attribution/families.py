"""Generator names and families: the committed table that maps the names the data and provenance use
to one canonical generator name and its family.

Families (:data:`FAMILIES`) follow the architecture that makes the pixels, not the vendor: a GAN, a
diffusion model with a U-Net denoiser (pixel or latent), a diffusion transformer or flow-matching
transformer, an autoregressive token model, an auto-encoder reconstruction, an inpainting or editing
model (part of a real image kept), or ``unknown`` (closed models whose architecture is not public,
and generators outside these families, e.g. SIREN + CLIP optimisation).

>>> canonical("Stable Diffusion v1")
('stable-diffusion-1.x', 'diffusion-unet')
>>> canonical("some new model")
('some-new-model', 'unknown')
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["FAMILIES", "FAMILY_NAMES", "GENERATORS", "canonical", "family_of", "generator_of", "family_words"]

FAMILIES: tuple[str, ...] = ("gan", "diffusion-unet", "diffusion-transformer", "autoregressive", "autoencoder",
                             "inpainting", "unknown")
FAMILY_NAMES: dict[str, str] = {
    "gan": "GAN",
    "diffusion-unet": "diffusion (U-Net)",
    "diffusion-transformer": "diffusion transformer / flow",
    "autoregressive": "autoregressive",
    "autoencoder": "auto-encoder / reconstruction",
    "inpainting": "inpainting / editing",
    "unknown": "unknown family",
}

_G, _U, _T, _A, _E, _I, _X = FAMILIES

# name as the data, the provenance readers or a user write it -> (canonical name, family)
GENERATORS: dict[str, tuple[str, str]] = {
    # GANs
    "BigGAN (ImageNet)": ("biggan", _G),
    "BigGAN (ImageNet, class interpolation)": ("biggan", _G),
    "BigGAN-deep (ImageNet)": ("biggan", _G),
    "Big Sleep (BigGAN + CLIP)": ("big-sleep", _G),
    "StyleGAN2 (FFHQ)": ("stylegan2-ffhq", _G),
    "StyleGAN2 (stylegan2-pytorch, celebrity faces 128)": ("stylegan2-pytorch-celeb", _G),
    "StyleGAN2 (stylegan2-pytorch, hands 256)": ("stylegan2-pytorch-hands", _G),
    "ProGAN / PGGAN (CelebA-HQ)": ("progan", _G),
    "Lightweight GAN (FastGAN, flowers 512)": ("lightweight-gan", _G),
    "Lightweight GAN (FastGAN, pizza 512)": ("lightweight-gan", _G),
    # diffusion with a U-Net denoiser (pixel or latent space)
    "DDPM (denoising-diffusion-pytorch, Oxford Flowers)": ("ddpm-flowers", _U),
    "DALLE2-pytorch decoder (unconditional, Oxford Flowers)": ("dalle2-pytorch-flowers", _U),
    "DALL-E 2 (April 1 2022 checkpoint)": ("dall-e-2", _U),
    "DALL-E 2 (April 2022 preview model)": ("dall-e-2", _U),
    "DALL-E 2 (March 2022 red-teaming model)": ("dall-e-2", _U),
    "Latent Diffusion (LDM-KL-8-G text2img, LAION-400M)": ("latent-diffusion-txt2img", _U),
    "Latent Diffusion (LDM-KL-8-G text2img, 384x1024 conv sampling)": ("latent-diffusion-txt2img", _U),
    "Latent Diffusion (class-conditional ImageNet cin256)": ("latent-diffusion-cin256", _U),
    "Stable Diffusion v1": ("stable-diffusion-1.x", _U),
    "Stable Diffusion (base model)": ("stable-diffusion-1.x", _U),
    "stable-diffusion-1.4": ("stable-diffusion-1.x", _U),
    "stable-diffusion-1.5": ("stable-diffusion-1.x", _U),
    "Stable Diffusion 2.x (512)": ("stable-diffusion-2.x", _U),
    "Stable Diffusion 2.x (768-v)": ("stable-diffusion-2.x", _U),
    "Stable unCLIP 2.1 + Karlo prior (Stable Karlo)": ("stable-diffusion-2.x", _U),
    "SDXL": ("sdxl", _U),
    "sd_xl_base_1.0 + sd_xl_refiner_1.0": ("sdxl", _U),
    "sd_xl_1.0 + lcm_lora_sdxl": ("sdxl", _U),
    "SDXL-Turbo": ("sdxl-turbo", _U),
    "sd_xl_turbo_1.0_fp16": ("sdxl-turbo", _U),
    "Kolors": ("kolors", _U),
    "Stable Cascade": ("stable-cascade", _U),
    "Stable Cascade + LoRA": ("stable-cascade", _U),
    "stable_cascade_stage_c + stable_cascade_stage_b": ("stable-cascade", _U),
    "Kandinsky 2.0": ("kandinsky-2", _U),
    "Kandinsky 2.1": ("kandinsky-2", _U),
    "Kandinsky 3": ("kandinsky-3", _U),
    "DeepFloyd IF": ("deepfloyd-if", _U),
    # diffusion transformers and flow-matching transformers
    "DiT-XL/2 (ImageNet)": ("dit-xl-2", _T),
    "PixArt-alpha": ("pixart", _T),
    "PixArt-Sigma (LoRA, 512)": ("pixart", _T),
    "HunyuanDiT": ("hunyuan-dit", _T),
    "hunyuan_dit_1.2": ("hunyuan-dit", _T),
    "HunyuanImage-2.1": ("hunyuan-image-2.1", _T),
    "HiDream-I1": ("hidream-i1", _T),
    "hidream_i1_dev_bf16": ("hidream-i1", _T),
    "hidream_i1_full_fp16": ("hidream-i1", _T),
    "CogView4": ("cogview4", _T),
    "OmniGen": ("omnigen", _T),
    "omnigen2_fp16": ("omnigen", _T),
    "FLUX.1 [dev]": ("flux.1", _T),
    "FLUX.1 [schnell]": ("flux.1", _T),
    "FLUX.1-dev + LoRA": ("flux.1", _T),
    "flux1-dev": ("flux.1", _T),
    "flux1-schnell": ("flux.1", _T),
    "flux2_dev_fp8mixed": ("flux.2", _T),
    "sd3_medium_incl_clips_t5xxlfp8": ("stable-diffusion-3", _T),
    "sd3.5_large_fp8_scaled": ("stable-diffusion-3", _T),
    "aura_flow_0.2": ("auraflow", _T),
    "Chroma1-HD": ("chroma", _T),
    "cosmos_predict2_2B_t2i": ("cosmos-predict2", _T),
    "lumina_2": ("lumina-2", _T),
    "qwen_image_fp8_e4m3fn": ("qwen-image", _T),
    "z_image_turbo_bf16": ("z-image", _T),
    # autoregressive token models (none in the shipped data; names for provenance and enrolment)
    "DALL-E (2021)": ("dall-e-1", _A),
    "Parti": ("parti", _A),
    "LlamaGen": ("llamagen", _A),
    "VAR": ("var", _A),
    "Janus-Pro": ("janus-pro", _A),
    # inpainting / editing (part of a real image kept)
    "512-inpainting-ema": ("stable-diffusion-2-inpainting", _I),
    "cosxl_edit": ("cosxl-edit", _I),
    "flux1-kontext-dev": ("flux.1-kontext", _I),
    "qwen_image_edit_fp8_e4m3fn": ("qwen-image-edit", _I),
    # closed or outside the families
    "Midjourney v6": ("midjourney-v6", _X),
    "Deep Daze (SIREN + CLIP)": ("deep-daze", _X),
}

_CANON_FAMILY: dict[str, str] = {c: f for c, f in GENERATORS.values()}
_SAFE = re.compile(r"[^a-z0-9.]+")


def _slug(text: str) -> str:
    return _SAFE.sub("-", text.lower()).strip("-.") or "unknown"


def canonical(name: str) -> tuple[str, str]:
    """``(canonical name, family)`` of a generator name of the data, the provenance readers or a user
    (a canonical name maps to itself; a name outside the table: its slug, family ``unknown``)."""
    name = name.strip()
    if name in GENERATORS:
        return GENERATORS[name]
    if name in _CANON_FAMILY:
        return name, _CANON_FAMILY[name]
    s = _slug(name)
    return s, _CANON_FAMILY.get(s, "unknown")


def family_of(name: str) -> str:
    """The family of a generator name (``unknown`` outside the table)."""
    return canonical(name)[1]


def generator_of(record: Any) -> str | None:
    """The generator name of a training-data record (:class:`fakescope.training.data.Record`), None for a
    real image: the group says it (``modern:<name>``, ``unseen:<name>``, ``comfyui:<name>``); the wild
    ``faces`` fakes are FLUX.1-dev + LoRA portraits (shared/data/SOURCES.md)."""
    if not record.label:
        return None
    group = str(record.group)
    if group == "faces:fake":
        return "FLUX.1-dev + LoRA"
    for prefix in ("modern:", "unseen:", "comfyui:"):
        if group.startswith(prefix):
            return group[len(prefix):]
    if group == "ae" or record.source == "ae":
        return "auto-encoder reconstruction"
    return None


def family_words(family: str) -> str:
    """The family in words (``diffusion (U-Net)``)."""
    return FAMILY_NAMES.get(family, family)
