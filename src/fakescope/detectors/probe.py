"""``probe``: a linear probe on a frozen pretrained backbone's features (Ojha et al., CVPR 2023).

UnivFD ("Towards Universal Fake Image Detectors that Generalize Across Generative Models")
observes that a classifier trained end to end on one generator's fakes latches onto that
generator's artefacts, while the feature space of a large *frozen* pretrained network, never
trained to tell real from fake, separates them well enough for a linear classifier that
generalises better to unseen generators.  UnivFD uses CLIP ViT-L/14; fakescope ships a head
for the ImageNet EfficientNet-Lite0 (small, permissively licensed, runs everywhere) and takes a
user's local CLIP or DINOv2 checkpoint together with a head trained for it.

Inference: each image's shorter side is resized to 224 px (Pillow BICUBIC) and the centre
224×224 crop goes through the backbone's cached ONNX feature export
(:func:`fakescope.backbones.backbone_onnx`; torch is needed only to build it once); the score is
``((f - mean) / scale) @ coef + intercept``, a logit (higher = more likely AI-generated).

Head files (``.npz``): ``mean``, ``scale``, ``coef`` (``D`` floats each), ``intercept`` (scalar);
optionally ``backbone`` (name), ``platt_a``/``platt_b`` (the head's own calibration).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..backbones import BACKBONES, backbone_onnx, to_input_batch
from ..errors import UsageError, WeightsError
from . import DETECTORS
from .base import Detector, DetectorCard, OnnxModel, sha256_file, load_card

__all__ = ["ProbeDetector", "load_head", "apply_head", "BATCH"]

BATCH = 16


def load_head(path: str | Path, *, feature_dim: int | None = None) -> dict[str, Any]:
    """Read and check a probe head ``.npz`` (see the module docstring for its arrays)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"probe head not found: {p}")
    try:
        with np.load(p, allow_pickle=False) as z:
            head = {k: z[k] for k in z.files}
    except Exception as e:
        raise WeightsError(f"cannot read the probe head {p}: {e}") from e
    missing = [k for k in ("mean", "scale", "coef", "intercept") if k not in head]
    if missing:
        raise WeightsError(f"probe head {p} lacks {missing} (needs mean, scale, coef, intercept)")
    out: dict[str, Any] = {k: np.asarray(head[k], np.float64).ravel() for k in ("mean", "scale", "coef")}
    d = out["coef"].size
    if out["mean"].size != d or out["scale"].size != d:
        raise WeightsError(f"probe head {p}: mean/scale/coef sizes differ "
                           f"({out['mean'].size}, {out['scale'].size}, {d})")
    if feature_dim is not None and d != feature_dim:
        raise WeightsError(f"probe head {p} expects {d}-d features, the backbone gives {feature_dim}")
    if np.any(out["scale"] <= 0) or not all(np.all(np.isfinite(v)) for v in out.values()):
        raise WeightsError(f"probe head {p} has non-finite values or non-positive scales")
    out["intercept"] = float(np.asarray(head["intercept"]).ravel()[0])
    if "backbone" in head:
        out["backbone"] = str(np.asarray(head["backbone"]).item())
    for k in ("platt_a", "platt_b"):
        if k in head:
            out[k] = float(np.asarray(head[k]).ravel()[0])
    return out


def apply_head(features: np.ndarray, head: dict[str, Any]) -> np.ndarray:
    """Logits ``((f - mean) / scale) @ coef + intercept`` (float64, one per row)."""
    f = np.asarray(features, np.float64)
    return ((f - head["mean"]) / head["scale"]) @ head["coef"] + head["intercept"]


class ProbeDetector(Detector):
    """Linear probe (logistic regression) on frozen backbone features, via ONNX Runtime.

    Parameters
    ----------
    card : DetectorCard
        ``extra`` names the ``backbone`` and the sha256 of its source weights
        (``backbone_sha256``); ``weights`` is the head ``.npz`` in ``weights/``.
    backbone, checkpoint : optional
        Another backbone (``"clip"``/``"dino"`` with a local checkpoint) — then ``head`` is required.
    head : path, optional
        A head ``.npz`` trained for that backbone's features.
    threads : int
        ONNX Runtime intra-op threads.
    """

    name = "probe"
    min_side = 16

    def __init__(self, card: DetectorCard, *, backbone: str | None = None, checkpoint: str | Path | None = None,
                 head: str | Path | None = None, threads: int = 1) -> None:
        shipped = card.extra.get("backbone", "efficientnet_lite0")
        backbone = backbone or shipped
        if backbone not in BACKBONES:
            raise UsageError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
        custom = head is not None or checkpoint is not None or backbone != shipped
        if custom:
            if head is None:
                raise UsageError(f"the shipped probe head was trained on {shipped} features; for backbone "
                                 f"{backbone!r} (or a custom checkpoint) pass head=PATH, a head trained for it "
                                 "(fakescope.training.probe.fit_probe / save_head)")
            self.head = load_head(head)
            if self.head.get("backbone", backbone) != backbone:
                raise WeightsError(f"probe head {head} was trained for backbone {self.head['backbone']!r}, "
                                   f"not {backbone!r}")
            cal = {"method": "platt", "a": self.head.get("platt_a", 1.0), "b": self.head.get("platt_b", 0.0)}
            card = replace(card, weights=None, sha256=sha256_file(head), metrics={}, calibration=cal,
                           summary=f"Linear probe on frozen {backbone} features (user head)",
                           training_data="user-supplied head (unknown to fakescope)", split="unknown",
                           parameters=int(self.head["coef"].size + 1),
                           extra={**card.extra, "backbone": backbone, "backbone_sha256": None,
                                  "checkpoint": str(checkpoint) if checkpoint else None, "head_path": str(head)})
            self.onnx_path = backbone_onnx(backbone, checkpoint)
        else:
            path = card.verify()
            if path is None:
                raise WeightsError("the probe card names no head file")
            self.head = load_head(path)
            self.onnx_path = backbone_onnx(backbone, card.extra.get("checkpoint"),
                                           source_sha256=card.extra.get("backbone_sha256"))
        super().__init__(card)
        self.backbone = backbone
        self.model = OnnxModel(self.onnx_path, threads=threads)

    def features(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Backbone features ``(n, D)`` float32 of the resized, centre-cropped images."""
        out = [self.model(to_input_batch(images[i : i + BATCH])) for i in range(0, len(images), BATCH)]
        if not out:
            return np.zeros((0, self.head["coef"].size), np.float32)
        feats = np.concatenate(out)
        if feats.shape[1] != self.head["coef"].size:
            raise WeightsError(f"the probe head expects {self.head['coef'].size}-d features, "
                               f"backbone {self.backbone} gives {feats.shape[1]}")
        return feats

    def raw_scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Probe logits (float64, one per image; higher = more likely AI-generated)."""
        return apply_head(self.features(list(images)), self.head)


@DETECTORS.register("probe")
def _create(**kw: Any) -> Detector:
    return ProbeDetector(load_card("probe", kw.pop("card_path", None)), **kw)
