"""The generator zoo: small GANs trained here (``fakescope build generators``) and ``fakescope generate``.

Every shipped generator is a :class:`~fakescope.generators.models.Generator` (32 px, a swappable
up-sampling layer) whose weights (``weights/generators/<name>.npz``, float16) and card
(``<name>.json``: loss, up-sampler, training data, seed, steps, sha256, FID/KID/precision/recall) are
outputs of the model build.  Names are ``<loss>-<upsampler>``, e.g. ``dcgan-transposed``.

>>> from fakescope.generators import GENERATORS, list_generators
>>> "dcgan-transposed" in list_generators()
True
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._registry import Registry
from ..errors import MissingDependencyError, UsageError, WeightsError

__all__ = ["GENERATORS", "GENERATORS_DIR", "GeneratorCard", "ShippedGenerator", "create_generator",
           "list_generators", "generate"]

GENERATORS_DIR = Path(__file__).resolve().parent.parent / "weights" / "generators"
GENERATORS: Registry["ShippedGenerator"] = Registry("generator")


@dataclass(frozen=True)
class GeneratorCard:
    """Where a generator's weights came from (like a detector card)."""

    name: str
    loss: str
    upsample: str
    width: int
    z_dim: int
    weights: str
    sha256: str
    training_data: str
    config: dict[str, Any]
    train: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    parameters: int = 0
    license: str = "Apache-2.0"
    # what made it: the build step and the keys that let a rebuild reuse it (fakescope.build.generators)
    build: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "GeneratorCard":
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


class ShippedGenerator:
    """A trained generator: ``sample(n, seed)`` → ``(n, 32, 32, 3)`` uint8, a function of the seed only."""

    def __init__(self, card: GeneratorCard, weights_dir: Path = GENERATORS_DIR) -> None:
        try:
            import torch
        except ImportError as e:  # pragma: no cover - [train] extra
            raise MissingDependencyError("torch", "train", "generating images") from e
        from ..detectors.base import sha256_file
        from .models import Generator

        path = weights_dir / card.weights
        if not path.exists():
            raise WeightsError(f"weights of generator {card.name!r} not found: {path} (fakescope build generators)")
        if sha256_file(path) != card.sha256:
            raise WeightsError(f"{path} does not match its card's sha256")
        self.card = card
        self.name = card.name
        self.net = Generator(upsample=card.upsample, width=card.width, z_dim=card.z_dim)
        with np.load(path) as z:
            state = {k: torch.from_numpy(z[k].astype(np.float32) if z[k].dtype == np.float16 else z[k]) for k in z.files}
        self.net.load_state_dict(state, strict=True)
        self.net.eval()

    def sample(self, n: int, *, seed: int = 0, batch: int = 256) -> np.ndarray:
        import torch

        if n < 0:
            raise UsageError(f"n must be >= 0, got {n}")
        g = torch.Generator().manual_seed(int(seed))
        z = torch.randn(n, self.card.z_dim, generator=g)
        out = []
        with torch.no_grad():
            for i in range(0, n, batch):
                x = self.net(z[i : i + batch])
                out.append(((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
        return np.concatenate(out) if out else np.zeros((0, 32, 32, 3), np.uint8)


def _register_shipped() -> None:
    if not GENERATORS_DIR.is_dir():
        return
    for card_path in sorted(GENERATORS_DIR.glob("*.json")):
        if card_path.name == "zoo.json":
            continue
        name = card_path.stem

        def factory(_p: Path = card_path) -> ShippedGenerator:
            return ShippedGenerator(GeneratorCard.load(_p))

        GENERATORS.register(name)(factory)


_register_shipped()


def list_generators(pattern: str = "*") -> list[str]:
    """Names of the shipped generators matching a glob ``pattern``."""
    return GENERATORS.names(pattern)


def create_generator(name: str) -> ShippedGenerator:
    """A shipped generator by name (weights verified against the card's sha256)."""
    return GENERATORS.get(name)()


def generate(name: str, n: int, out_dir: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Write ``n`` PNG samples of generator ``name`` to ``out_dir`` and ``manifest.csv`` (one row per image:
    path, label 1, generator, loss, upsampler, seed, index).  The same ``seed`` gives the same bytes."""
    from PIL import Image

    gen = create_generator(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = gen.sample(n, seed=seed)
    rows = []
    for i, im in enumerate(images):
        fname = f"{name}-s{seed}-{i:05d}.png"
        Image.fromarray(im).save(out / fname, optimize=False)
        rows.append({"path": fname, "label": 1, "generator": name, "loss": gen.card.loss,
                     "upsampler": gen.card.upsample, "seed": seed, "index": i, "weights_sha256": gen.card.sha256})
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label", "generator", "loss", "upsampler", "seed", "index",
                                          "weights_sha256"])
        w.writeheader()
        w.writerows(rows)
    return out / "manifest.csv"
