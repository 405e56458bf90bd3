"""Training a 32-px GAN on CPU: one loop for the four losses (the only place with their optimizers)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .models import LOSSES, UPSAMPLERS, Discriminator, Generator, d_loss, g_loss, gradient_penalty

__all__ = ["GanConfig", "train_gan", "standing_stats"]

Log = Callable[[str], None] | None


@dataclass(frozen=True)
class GanConfig:
    """One generator of the zoo: loss, up-sampler and the schedule.

    ``n_critic`` discriminator steps per generator step (WGAN-GP needs several); the hinge loss runs a
    spectrally normalised discriminator (SNGAN).  Learning rates and Adam betas follow each paper's
    usual settings (DCGAN/LSGAN 2e-4, β=(0.5, 0.999); WGAN-GP 1e-4, β=(0, 0.9), λ=10; SNGAN 2e-4,
    β=(0, 0.9)).
    """

    loss: str = "dcgan"
    upsample: str = "transposed"
    width: int = 48
    steps: int = 3000
    batch: int = 64
    time_limit_s: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.upsample not in UPSAMPLERS:
            raise ValueError(f"upsample must be one of {UPSAMPLERS}, got {self.upsample!r}")

    @property
    def name(self) -> str:
        return f"{self.loss}-{self.upsample}"

    def schedule(self) -> dict[str, Any]:
        if self.loss == "wgan-gp":
            return {"lr_g": 1e-4, "lr_d": 1e-4, "betas": (0.0, 0.9), "n_critic": 3, "gp": 10.0, "spectral": False}
        if self.loss == "hinge":
            return {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.0, 0.9), "n_critic": 2, "gp": 0.0, "spectral": True}
        return {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "n_critic": 1, "gp": 0.0, "spectral": False}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "schedule": {k: list(v) if isinstance(v, tuple) else v
                                             for k, v in self.schedule().items()}}


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """``(N, 32, 32, 3)`` uint8 → ``(N, 3, 32, 32)`` float32 in ``[-1, 1]``."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float().div(127.5).sub(1.0)


@torch.no_grad()
def standing_stats(gen: Generator, *, batches: int = 20, batch: int = 128, seed: int = 0) -> Generator:
    """Recompute the generator's batch-norm statistics as plain averages over fresh samples (BigGAN's
    "standing statistics"), then switch to eval mode: sampling becomes a deterministic function of
    ``z``, independent of the batch it is drawn in."""
    g = torch.Generator().manual_seed(seed)
    for m in gen.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    gen.train()
    for _ in range(batches):
        gen(torch.randn(batch, gen.z_dim, generator=g))
    return gen.eval()


def train_gan(images: np.ndarray, config: GanConfig, *, log: Log = None) -> tuple[Generator, dict[str, Any]]:
    """Train one generator on ``images`` (``(N, 32, 32, 3)`` uint8 real photos).

    Deterministic for a given ``config.seed`` (one thread); random horizontal flips of the reals.
    Returns the generator in eval mode (standing statistics) and a summary: steps done, seconds, the
    last losses.
    """
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3) or images.dtype != np.uint8:
        raise ValueError(f"train_gan needs (N, 32, 32, 3) uint8 images, got {images.dtype} {images.shape}")
    torch.manual_seed(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    sch = config.schedule()
    gen = Generator(upsample=config.upsample, width=config.width)
    disc = Discriminator(width=config.width, spectral=sch["spectral"])
    opt_g = torch.optim.Adam(gen.parameters(), lr=sch["lr_g"], betas=sch["betas"])
    opt_d = torch.optim.Adam(disc.parameters(), lr=sch["lr_d"], betas=sch["betas"])
    reals = _to_tensor(images)
    t0 = time.perf_counter()
    step, ld, lg = 0, float("nan"), float("nan")
    while step < config.steps:
        if config.time_limit_s is not None and time.perf_counter() - t0 > config.time_limit_s:
            break
        for _ in range(sch["n_critic"]):
            idx = torch.from_numpy(rng.integers(0, len(reals), config.batch))
            real = reals[idx]
            flip = torch.from_numpy(rng.random(config.batch) < 0.5)
            real = torch.where(flip[:, None, None, None], real.flip(-1), real)
            with torch.no_grad():
                fake = gen(torch.randn(config.batch, gen.z_dim, generator=g))
            loss = d_loss(config.loss, disc(real), disc(fake))
            if sch["gp"]:
                loss = loss + sch["gp"] * gradient_penalty(disc, real, fake, g)
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
            ld = float(loss.detach())
        fake = gen(torch.randn(config.batch, gen.z_dim, generator=g))
        loss = g_loss(config.loss, disc(fake))
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        lg = float(loss.detach())
        step += 1
        if log and step % 500 == 0:
            log(f"  {config.name}: step {step}/{config.steps}  D {ld:.3f}  G {lg:.3f}  "
                f"{time.perf_counter() - t0:.0f} s")
    standing_stats(gen, seed=config.seed)
    return gen, {"steps_done": step, "seconds": round(time.perf_counter() - t0, 1), "last_d_loss": ld,
                 "last_g_loss": lg}
