"""Plain-torch Vision Transformers that load a user's local CLIP or DINOv2/timm checkpoint.

Two key layouts are supported, each mirrored exactly so that loading is strict:

* **CLIP** (Radford et al., "Learning Transferable Visual Models From Natural Language
  Supervision", ICML 2021): OpenAI's visual tower, keys ``visual.conv1.weight``,
  ``visual.class_embedding``, ``visual.positional_embedding``, ``visual.ln_pre``,
  ``visual.transformer.resblocks.N.{ln_1, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj,
  ln_2, mlp.c_fc, mlp.c_proj}``, ``visual.ln_post``, ``visual.proj``; QuickGELU; pre-norm
  blocks; features = ``ln_post(cls) @ proj``; CLIP's mean/std normalisation.  OpenAI's ``.pt``
  files are TorchScript archives (read with ``torch.jit.load``); the text tower is ignored.
* **DINOv2 / timm** (Oquab et al., "DINOv2: Learning Robust Visual Features without
  Supervision", TMLR 2024; Darcet et al., "Vision Transformers Need Registers", ICLR 2024):
  keys ``patch_embed.proj``, ``cls_token``, ``pos_embed``, optional ``register_tokens`` and
  ``mask_token``, ``blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2,
  ls2.gamma}`` (layer scale optional; DINOv2-g's SwiGLU ``mlp.w12``/``mlp.w3`` also read),
  ``norm``; GELU; features = ``norm(x)[:, 0]`` (the class token); ImageNet mean/std.

Depth, width, patch size and grid are read from the state dict's shapes; heads are 64-wide
(``width // 64``).  Models run at a fixed 224×224 input: when the checkpoint's position grid
differs (DINOv2 ships a 37×37 grid for 518 px), the patch position embeddings are resampled
bicubically once, at load time.  Inputs are raw RGB float 0..255; normalisation is in the graph.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError, WeightsError

__all__ = ["CLIPVisual", "DinoViT", "load_clip_visual", "load_dino_vit", "read_state_dict", "clip_config",
           "dino_config", "resample_pos_embed", "CLIP_MEAN", "CLIP_STD", "IMAGENET_MEAN", "IMAGENET_STD"]

CLIP_MEAN = (0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255)
CLIP_STD = (0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255)
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
INPUT_SIZE = 224
HEAD_DIM = 64


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Plain softmax attention on ``(N, heads, L, d)`` (matmul + softmax: exports to any ONNX opset)."""
    w = torch.softmax((q * (q.shape[-1] ** -0.5)) @ k.transpose(-2, -1), dim=-1)
    return w @ v


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    n, l, c = x.shape
    return x.reshape(n, l, heads, c // heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    n, h, l, d = x.shape
    return x.transpose(1, 2).reshape(n, l, h * d)


class _Normalise(nn.Module):
    def __init__(self, mean, std) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)


# ----------------------------------------------------------------------------------------- CLIP
class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _CLIPAttention(nn.Module):
    """``nn.MultiheadAttention``'s parameter names (``in_proj_weight``, ``in_proj_bias``, ``out_proj``)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        o = _attention(_split_heads(q, self.heads), _split_heads(k, self.heads), _split_heads(v, self.heads))
        return self.out_proj(_merge_heads(o))


class _CLIPMLP(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, hidden)
        self.gelu = QuickGELU()
        self.c_proj = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class _CLIPBlock(nn.Module):
    def __init__(self, width: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = _CLIPAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = _CLIPMLP(width, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class _CLIPTransformer(nn.Module):
    def __init__(self, width: int, depth: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList([_CLIPBlock(width, heads, hidden) for _ in range(depth)])


class CLIPVisual(_Normalise):
    """OpenAI CLIP's visual tower (key names without the ``visual.`` prefix).

    Parameters
    ----------
    width, depth, patch : int
        Token width, number of residual blocks, patch side.
    output_dim : int
        Columns of ``proj`` (the joint embedding size): the feature size.
    grid : int
        Patches per side (``input_size // patch``).
    mlp_ratio : float
        MLP hidden size over width (4 for every OpenAI model).

    Examples
    --------
    >>> m = CLIPVisual(width=64, depth=1, patch=32, output_dim=16, grid=7).eval()
    >>> m.forward_features(torch.zeros(2, 3, 224, 224)).shape
    torch.Size([2, 16])
    """

    input_size = INPUT_SIZE

    def __init__(self, *, width: int, depth: int, patch: int, output_dim: int, grid: int,
                 mlp_ratio: float = 4.0) -> None:
        super().__init__(CLIP_MEAN, CLIP_STD)
        heads = max(1, width // HEAD_DIM)
        self.patch = patch
        self.feature_dim = output_dim
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = _CLIPTransformer(width, depth, heads, int(width * mlp_ratio))
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``ln_post(class token) @ proj``: CLIP's image embedding (not L2-normalised)."""
        x = (x - self.mean) / self.std
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.unsqueeze(0)
        x = self.ln_pre(x)
        for b in self.transformer.resblocks:
            x = b(x)
        return self.ln_post(x[:, 0]) @ self.proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


# ----------------------------------------------------------------------------------------- DINOv2 / timm
class _PatchEmbed(nn.Module):
    def __init__(self, width: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, width, patch, stride=patch)


class _DinoAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        o = _attention(_split_heads(q, self.heads), _split_heads(k, self.heads), _split_heads(v, self.heads))
        return self.proj(_merge_heads(o))


class _LayerScale(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((width,), 1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class _Mlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class _SwiGLU(nn.Module):
    """DINOv2-g's fused SwiGLU feed-forward (``w12``: both gates in one matrix, ``w3``: output)."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.w12 = nn.Linear(width, 2 * hidden)
        self.w3 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(a) * b)


class _DinoBlock(nn.Module):
    def __init__(self, width: int, heads: int, hidden: int, *, layerscale: bool, swiglu: bool, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=eps)
        self.attn = _DinoAttention(width, heads)
        self.ls1 = _LayerScale(width) if layerscale else nn.Identity()
        self.norm2 = nn.LayerNorm(width, eps=eps)
        self.mlp = _SwiGLU(width, hidden) if swiglu else _Mlp(width, hidden)
        self.ls2 = _LayerScale(width) if layerscale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoViT(_Normalise):
    """A DINOv2/timm-layout ViT; features = the normalised class token.

    Parameters
    ----------
    width, depth, patch, grid : int
        Token width, blocks, patch side, patches per side (``input_size // patch``).
    hidden : int
        MLP hidden size (SwiGLU: the size of each gate).
    registers : int
        Register tokens (Darcet et al. 2024), 0 for none.
    layerscale, swiglu, mask_token : bool
        Which optional parameters the checkpoint has.

    Examples
    --------
    >>> m = DinoViT(width=64, depth=1, patch=14, grid=16, hidden=256, registers=4).eval()
    >>> m.forward_features(torch.zeros(1, 3, 224, 224)).shape
    torch.Size([1, 64])
    """

    input_size = INPUT_SIZE

    def __init__(self, *, width: int, depth: int, patch: int, grid: int, hidden: int, registers: int = 0,
                 layerscale: bool = True, swiglu: bool = False, mask_token: bool = True, eps: float = 1e-6) -> None:
        super().__init__(IMAGENET_MEAN, IMAGENET_STD)
        heads = max(1, width // HEAD_DIM)
        self.patch = patch
        self.feature_dim = width
        self.patch_embed = _PatchEmbed(width, patch)
        self.cls_token = nn.Parameter(0.02 * torch.randn(1, 1, width))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, grid * grid + 1, width))
        if registers:
            self.register_tokens = nn.Parameter(0.02 * torch.randn(1, registers, width))
        else:
            self.register_tokens = None
        if mask_token:
            self.mask_token = nn.Parameter(torch.zeros(1, width))  # unused at inference; kept for strict loading
        self.blocks = nn.ModuleList([_DinoBlock(width, heads, hidden, layerscale=layerscale, swiglu=swiglu, eps=eps)
                                     for _ in range(depth)])
        self.norm = nn.LayerNorm(width, eps=eps)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embed
        if self.register_tokens is not None:  # registers come after the class token, without position
            x = torch.cat([x[:, :1], self.register_tokens.expand(x.shape[0], -1, -1), x[:, 1:]], dim=1)
        for b in self.blocks:
            x = b(x)
        return self.norm(x)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


# ----------------------------------------------------------------------------------------- loading
def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint as a flat ``{name: tensor}`` dict (float32).

    Accepts a plain ``torch.save`` state dict, one wrapped in ``{"state_dict": ...}`` /
    ``{"model": ...}`` / ``{"teacher": ...}``, and TorchScript archives (OpenAI's CLIP ``.pt``).
    """
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"checkpoint not found: {p}")
    obj: Any
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript archives are dispatched to torch.jit.load, with a warning
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as first:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit.load announces its deprecation
                obj = torch.jit.load(str(p), map_location="cpu").state_dict()
        except Exception:
            raise WeightsError(f"cannot read {p} as a torch state dict or a TorchScript archive: {first}") from first
    if isinstance(obj, nn.Module):  # a TorchScript archive (OpenAI CLIP) or a pickled module
        obj = obj.state_dict()
    for key in ("state_dict", "model", "teacher", "module"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{p} does not hold a state dict of tensors (got {type(obj).__name__})")
    out = {}
    for k, v in obj.items():
        for prefix in ("module.", "backbone."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v.float() if v.is_floating_point() else v
    return out


def resample_pos_embed(pos: torch.Tensor, grid: int, *, prefix: int = 1) -> torch.Tensor:
    """Bicubically resample the patch part of position embeddings ``(L, C)`` or ``(1, L, C)`` to ``grid²``.

    The first ``prefix`` rows (the class token's) are kept as they are.
    """
    squeeze = pos.ndim == 2
    p = pos.unsqueeze(0) if squeeze else pos
    extra, patches = p[:, :prefix], p[:, prefix:]
    old = int(round(math.sqrt(patches.shape[1])))
    if old * old != patches.shape[1]:
        raise WeightsError(f"position embeddings of {patches.shape[1]} patches are not a square grid")
    if old != grid:
        c = patches.shape[-1]
        img = patches.reshape(1, old, old, c).permute(0, 3, 1, 2)
        img = F.interpolate(img, size=(grid, grid), mode="bicubic", align_corners=False)
        patches = img.permute(0, 2, 3, 1).reshape(1, grid * grid, c)
    out = torch.cat([extra, patches], dim=1)
    return out[0] if squeeze else out


def clip_config(sd: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """Architecture of a CLIP visual state dict (keys without ``visual.``), read from shapes."""
    if "conv1.weight" not in sd or "proj" not in sd:
        raise WeightsError("not a CLIP visual state dict: no 'visual.conv1.weight' / 'visual.proj'")
    width, _, patch, _ = sd["conv1.weight"].shape
    depth = len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks.")})
    hidden = sd["transformer.resblocks.0.mlp.c_fc.weight"].shape[0] if depth else 4 * width
    return {"width": int(width), "depth": depth, "patch": int(patch), "output_dim": int(sd["proj"].shape[1]),
            "mlp_ratio": hidden / width}


def dino_config(sd: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Architecture of a DINOv2/timm ViT state dict, read from shapes."""
    if "patch_embed.proj.weight" not in sd or "cls_token" not in sd or "pos_embed" not in sd:
        raise WeightsError("not a DINOv2/timm ViT state dict: no 'patch_embed.proj.weight' / 'cls_token' / 'pos_embed'")
    width, _, patch, _ = sd["patch_embed.proj.weight"].shape
    depth = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    swiglu = "blocks.0.mlp.w12.weight" in sd
    if swiglu:
        hidden = sd["blocks.0.mlp.w12.weight"].shape[0] // 2
    elif "blocks.0.mlp.fc1.weight" in sd:
        hidden = sd["blocks.0.mlp.fc1.weight"].shape[0]
    else:
        raise WeightsError("unsupported ViT blocks: no 'blocks.0.mlp.fc1' (or SwiGLU 'mlp.w12') weights "
                           "(chunked DINOv2 checkpoints 'blocks.0.0.*' are not supported)")
    return {"width": int(width), "depth": depth, "patch": int(patch), "hidden": int(hidden),
            "registers": int(sd["register_tokens"].shape[1]) if "register_tokens" in sd else 0,
            "layerscale": "blocks.0.ls1.gamma" in sd, "swiglu": swiglu, "mask_token": "mask_token" in sd}


def _strict_load(model: nn.Module, sd: Mapping[str, torch.Tensor], what: str, path: str | Path) -> None:
    # our own normalisation constants (non-persistent buffers) appear only in TorchScript archives
    # traced from these modules; they are not weights
    sd = {k: v for k, v in sd.items() if not (k in ("mean", "std") and tuple(v.shape) == (1, 3, 1, 1))}
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path} does not match the {what} layout: {e}") from e


def _freeze(model: nn.Module) -> nn.Module:
    for q in model.parameters():
        q.requires_grad_(False)
    return model.eval()


def load_clip_visual(path: str | Path) -> CLIPVisual:
    """Build :class:`CLIPVisual` from a local OpenAI CLIP checkpoint (state dict or TorchScript ``.pt``).

    Only the ``visual.*`` keys are read (a visual-only state dict without the prefix works too);
    they must all match the model (strict).  Position embeddings for another input size are
    resampled to a 224-px grid.
    """
    full = read_state_dict(path)
    if any(k.startswith("visual.") for k in full):
        sd = {k[len("visual."):]: v for k, v in full.items() if k.startswith("visual.")}
    else:
        sd = dict(full)
    if "conv1.weight" not in sd:
        raise WeightsError(f"{path} is not an OpenAI CLIP checkpoint: no 'visual.conv1.weight' key "
                           f"(first keys: {list(full)[:4]})")
    cfg = clip_config(sd)
    grid = INPUT_SIZE // cfg["patch"]
    sd["positional_embedding"] = resample_pos_embed(sd["positional_embedding"], grid)
    model = CLIPVisual(grid=grid, **cfg)
    _strict_load(model, sd, "CLIP visual", path)
    return _freeze(model)


def load_dino_vit(path: str | Path) -> DinoViT:
    """Build :class:`DinoViT` from a local DINOv2 (or timm ViT) state dict.

    Classifier heads (``head.*``) are dropped; every other key must match the model (strict).
    Position embeddings for another grid (DINOv2: 37×37 at 518 px) are resampled to 224 px.
    """
    sd = {k: v for k, v in read_state_dict(path).items() if not k.startswith("head.")}
    cfg = dino_config(sd)
    grid = INPUT_SIZE // cfg["patch"]
    sd["pos_embed"] = resample_pos_embed(sd["pos_embed"], grid)
    model = DinoViT(grid=grid, **cfg)
    _strict_load(model, sd, "DINOv2/timm ViT", path)
    return _freeze(model)
