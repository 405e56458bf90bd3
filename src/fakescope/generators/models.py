"""Small 32-px GAN generators and discriminators with a swappable up-sampling layer (plain torch).

The up-sampling layer is the trace that NPR-style and spectral detectors read (Odena et al. 2016,
"Deconvolution and Checkerboard Artifacts"; Durall et al. 2020, "Watch your Up-Convolution"):

``transposed``
    4×4 stride-2 transposed convolution (DCGAN): uneven kernel overlap leaves a checkerboard, i.e.
    spectral peaks at the Nyquist frequencies (±1/2 cycles/pixel).
``nearest``
    nearest-neighbour ×2 then a 3×3 convolution: pixel replication (the NPR residual's target).
``bilinear``
    bilinear ×2 then a 3×3 convolution: a low-pass interpolator, which suppresses high frequencies.
``pixelshuffle``
    a 3×3 convolution to 4× the channels then depth-to-space (sub-pixel convolution).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["UPSAMPLERS", "LOSSES", "Generator", "Discriminator", "upsample_block", "Z_DIM"]

UPSAMPLERS: tuple[str, ...] = ("transposed", "nearest", "bilinear", "pixelshuffle")
LOSSES: tuple[str, ...] = ("dcgan", "wgan-gp", "lsgan", "hinge")
Z_DIM = 64


def upsample_block(cin: int, cout: int, upsample: str) -> nn.Sequential:
    """One ×2 up-sampling stage (``cin`` → ``cout`` channels), batch-norm and ReLU."""
    if upsample == "transposed":
        up: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False)]
    elif upsample == "nearest":
        up = [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1, bias=False)]
    elif upsample == "bilinear":
        up = [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
              nn.Conv2d(cin, cout, 3, padding=1, bias=False)]
    elif upsample == "pixelshuffle":
        up = [nn.Conv2d(cin, 4 * cout, 3, padding=1, bias=False), nn.PixelShuffle(2)]
    else:
        raise ValueError(f"upsample must be one of {UPSAMPLERS}, got {upsample!r}")
    return nn.Sequential(*up, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Generator(nn.Module):
    """``z`` (``(N, 64)``) → ``(N, 3, 32, 32)`` in ``[-1, 1]``: a 4×4 projection and three ×2 stages.

    Parameters
    ----------
    upsample : one of :data:`UPSAMPLERS` (every stage uses it).
    width : channels of the last stage; the 4×4 map has ``4 * width``.

    >>> g = Generator(upsample="pixelshuffle", width=8)
    >>> tuple(g(torch.zeros(2, Z_DIM)).shape)
    (2, 3, 32, 32)
    """

    def __init__(self, *, upsample: str = "transposed", width: int = 48, z_dim: int = Z_DIM) -> None:
        super().__init__()
        if upsample not in UPSAMPLERS:
            raise ValueError(f"upsample must be one of {UPSAMPLERS}, got {upsample!r}")
        self.upsample, self.width, self.z_dim = upsample, width, z_dim
        w = width
        self.project = nn.Sequential(nn.Linear(z_dim, 4 * w * 16, bias=False), nn.Unflatten(1, (4 * w, 4, 4)),
                                     nn.BatchNorm2d(4 * w), nn.ReLU(inplace=True))
        self.stages = nn.Sequential(upsample_block(4 * w, 2 * w, upsample), upsample_block(2 * w, w, upsample),
                                    upsample_block(w, w, upsample))
        self.to_rgb = nn.Conv2d(w, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.to_rgb(self.stages(self.project(z))))


class Discriminator(nn.Module):
    """A DCGAN discriminator for 32-px images: three 4×4 stride-2 convolutions (LeakyReLU) and a linear
    read-out.  ``spectral=True`` wraps every layer in spectral normalisation (SNGAN, Miyato et al. 2018);
    no batch-norm (it would break WGAN-GP's per-sample gradient penalty)."""

    def __init__(self, *, width: int = 48, spectral: bool = False) -> None:
        super().__init__()
        sn = nn.utils.spectral_norm if spectral else (lambda m: m)
        w = width
        self.body = nn.Sequential(
            sn(nn.Conv2d(3, w, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(w, 2 * w, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True),
        )
        self.head = sn(nn.Linear(4 * w * 16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1))[:, 0]


def d_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss on its outputs for a real and a generated batch."""
    if loss == "dcgan":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if loss == "lsgan":
        return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake ** 2).mean()
    if loss == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if loss == "wgan-gp":
        return fake.mean() - real.mean()
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def g_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss on the discriminator's outputs for a generated batch (non-saturating GAN)."""
    if loss == "dcgan":
        return F.softplus(-fake).mean()
    if loss == "lsgan":
        return 0.5 * ((fake - 1.0) ** 2).mean()
    if loss in ("hinge", "wgan-gp"):
        return -fake.mean()
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def gradient_penalty(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017): ``(||∇D(x̂)||₂ - 1)²`` on random interpolates."""
    a = torch.rand(real.shape[0], 1, 1, 1, generator=gen)
    x = (a * real + (1 - a) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(disc(x).sum(), x, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
