"""Model definitions in plain torch: the NPR tile classifier and the aligned-fake auto-encoders.

Nothing here is imported by the inference path: shipped detectors run the ONNX export
(:mod:`fakescope.training.export`) through ONNX Runtime.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["npr_residual", "NPRNet", "ConvAutoEncoder", "UPSAMPLERS", "HELDOUT_UPSAMPLERS", "FourierUpsample",
           "MeanOfNets", "count_parameters"]

UPSAMPLERS: tuple[str, ...] = ("nearest", "transposed", "bilinear", "pixelshuffle")
# decoders no shipped detector was trained on: their reconstructions stand in for new generators
# when the ensemble's stacker is fitted and when generalisation is measured
HELDOUT_UPSAMPLERS: tuple[str, ...] = ("bicubic", "transposed2", "fourier")


class FourierUpsample(nn.Module):
    """×2 up-sampling by zero-padding the centred 2-D spectrum (band-limited, no aliasing).

    >>> x = torch.randn(1, 2, 8, 6)
    >>> y = FourierUpsample()(x)
    >>> tuple(y.shape), bool(torch.allclose(y[..., ::2, ::2].mean(), x.mean(), atol=1e-5))
    ((1, 2, 16, 12), True)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        spec = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
        pad = (w // 2, w - w // 2, h // 2, h - h // 2)
        spec = torch.complex(F.pad(spec.real, pad), F.pad(spec.imag, pad))
        return torch.fft.ifft2(torch.fft.ifftshift(spec, dim=(-2, -1))).real * 4.0


def npr_residual(x: torch.Tensor) -> torch.Tensor:
    """Neighbouring-pixel relationships: ``x - nearest_up(x[..., ::2, ::2])``.

    Tan et al. (CVPR 2024): every 2×2 block minus its top-left pixel.  Written as a
    strided slice, an exact nearest ×2 up-sampling and a subtraction: the ONNX graph
    (Slice, Resize nearest, Sub) computes the same float32 values and runs ~1 ms faster per
    1024×768 image in ONNX Runtime than the 6-D reshape-and-broadcast form it replaced
    (which gave bit-identical outputs).

    Parameters
    ----------
    x : torch.Tensor
        ``(N, C, H, W)`` with even ``H`` and ``W``.

    Returns
    -------
    torch.Tensor
        Same shape as ``x``; zero at the top-left pixel of every 2×2 block.

    Examples
    --------
    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> npr_residual(x)[0, 0]
    tensor([[0., 1., 0., 1.],
            [4., 5., 4., 5.],
            [0., 1., 0., 1.],
            [4., 5., 4., 5.]])
    """
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        raise ValueError(f"npr_residual needs even height and width, got {tuple(x.shape[-2:])}")
    return x - F.interpolate(x[:, :, ::2, ::2], scale_factor=2.0, mode="nearest")


def _conv_bn(cin: int, cout: int, k: int, s: int, norm: str = "batch") -> nn.Sequential:
    pad = (k - 1) // 2 if k % 2 else (k - s) // 2
    if norm == "batch":
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride=s, padding=pad, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(inplace=True))
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=s, padding=pad), nn.ReLU(inplace=True))


class NPRNet(nn.Module):
    """A small CNN on the NPR residual, global-average pooled so any even tile size works.

    Input: ``(N, 3, H, W)`` float32 RGB in ``[0, 255]`` (raw pixels; the residual,
    scaling and optional low-weight image channels are computed inside the graph).
    Output: ``(N,)`` logits, higher = more likely AI-generated.

    Parameters
    ----------
    width : int
        Channels of the first stage; later stages use 2× and 4×.
    image_weight : float
        When > 0, the centred image ``(x/255 - 0.5) * image_weight`` is fed as 3 extra
        channels beside the residual (documented in the card).  0 means pure NPR.
    norm : {"batch", "none"}
        Batch-norm (folded into the convolutions at export) or plain biased convolutions.
        Training mixes 32-pixel CIFAKE batches with 96-pixel crops, whose activation
        statistics differ; ``"none"`` keeps one set of running statistics from serving both.
    """

    def __init__(self, *, width: int = 16, image_weight: float = 0.0, norm: str = "batch") -> None:
        super().__init__()
        if norm not in ("batch", "none"):
            raise ValueError(f"norm must be 'batch' or 'none', got {norm!r}")
        self.image_weight = float(image_weight)
        cin = 6 if image_weight > 0 else 3
        w = width
        self.features = nn.Sequential(
            _conv_bn(cin, w, 4, 2, norm),  # /2  (a 4×4 window sees whole 2×2 blocks and their neighbours)
            _conv_bn(w, 2 * w, 3, 2, norm),  # /4
            _conv_bn(2 * w, 2 * w, 3, 1, norm),
            _conv_bn(2 * w, 4 * w, 3, 2, norm),  # /8
            _conv_bn(4 * w, 4 * w, 3, 1, norm),
            _conv_bn(4 * w, 8 * w, 3, 2, norm),  # /16
        )
        self.head = nn.Linear(8 * w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * (1.0 / 255.0)
        r = npr_residual(x) * 4.0  # residuals are small; bring them to unit-ish scale
        if self.image_weight > 0:
            r = torch.cat([r, (x - 0.5) * self.image_weight], dim=1)
        f = self.features(r).mean(dim=(2, 3))
        return self.head(f)[:, 0]


class MeanOfNets(nn.Module):
    """The mean logit of several networks with the same input (e.g. one recipe trained from several
    seeds): one ONNX graph, one detector, the variance of any single run averaged away."""

    def __init__(self, nets: list[nn.Module]) -> None:
        super().__init__()
        if not nets:
            raise ValueError("MeanOfNets needs at least one network")
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([n(x) for n in self.nets]).mean(dim=0)


class ConvAutoEncoder(nn.Module):
    """A stride-8 convolutional auto-encoder whose decoder up-samples like a generator.

    Reconstructions of real photos carry the decoder's up-sampling traces while keeping
    the photo's content: "aligned" fakes (Rajan et al. 2025).

    Parameters
    ----------
    upsample : {"nearest", "transposed", "bilinear", "pixelshuffle"}
        ``"nearest"``: nearest-neighbour ×2 then 3×3 conv (as in most latent-diffusion
        VAEs); ``"transposed"``: 4×4 stride-2 transposed convolutions (as in DCGAN-style
        generators, which leave checkerboard traces); ``"bilinear"``: bilinear ×2 then 3×3
        conv (StyleGAN-like smooth up-sampling); ``"pixelshuffle"``: 3×3 conv to 4× the
        channels then depth-to-space (sub-pixel convolution, as in super-resolution nets).
        Held out from detector training (:data:`HELDOUT_UPSAMPLERS`): ``"bicubic"``: bicubic ×2
        then 3×3 conv; ``"transposed2"``: 2×2 stride-2 transposed convolutions (no overlap:
        block-periodic traces); ``"fourier"``: spectral zero-padding ×2 then 3×3 conv.
    latent : int
        Channels of the stride-8 latent.
    width : int
        Channels of the first encoder stage.
    """

    def __init__(self, *, upsample: str = "nearest", latent: int = 48, width: int = 32) -> None:
        super().__init__()
        if upsample not in UPSAMPLERS + HELDOUT_UPSAMPLERS:
            raise ValueError(f"upsample must be one of {UPSAMPLERS + HELDOUT_UPSAMPLERS}, got {upsample!r}")
        self.upsample = upsample
        w = width
        act = nn.SiLU
        # encoder: an 8×8 stride-8 "patchify" convolution (well conditioned: it starts close to a
        # block transform and trains in CPU minutes), a 3×3 mixing layer, a 1×1 bottleneck
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 4 * w, 8, stride=8), act(),
            nn.Conv2d(4 * w, 4 * w, 3, padding=1), act(),
            nn.Conv2d(4 * w, latent, 1),
        )
        chans = [4 * w, 2 * w, w, w]
        layers: list[nn.Module] = [nn.Conv2d(latent, chans[0], 3, padding=1), act()]
        for cin, cout in zip(chans[:-1], chans[1:]):
            if upsample == "nearest":
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1), act()]
            elif upsample == "bilinear":
                layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                           nn.Conv2d(cin, cout, 3, padding=1), act()]
            elif upsample == "pixelshuffle":
                layers += [nn.Conv2d(cin, 4 * cout, 3, padding=1), nn.PixelShuffle(2), act()]
            elif upsample == "bicubic":
                layers += [nn.Upsample(scale_factor=2, mode="bicubic", align_corners=False),
                           nn.Conv2d(cin, cout, 3, padding=1), act()]
            elif upsample == "transposed2":
                layers += [nn.ConvTranspose2d(cin, cout, 2, stride=2), act()]
            elif upsample == "fourier":
                layers += [FourierUpsample(), nn.Conv2d(cin, cout, 3, padding=1), act()]
            else:
                layers += [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), act()]
        layers += [nn.Conv2d(chans[-1], 3, 3, padding=1)]
        self.decoder = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` (``(N, 3, H, W)`` in ``[0, 1]``, sides multiples of 8)."""
        return self.decoder(self.encoder(x - 0.5)) + 0.5


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
