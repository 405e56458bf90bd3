"""Build step ``generators``: train the generator zoo on CIFAKE's real train split and measure it.

Each model of :data:`RECIPE` (a loss × an up-sampler, :mod:`fakescope.generators.models`) is trained
from its own seed on the real 32-px CIFAKE images of the frozen ``train`` split (2,000 photos), for the
fixed number of generator steps :data:`RECIPE` gives it, on one CPU thread (no time limit: the same
weights on every machine; the counts are those a first, time-capped run reached on this machine).  The weights are stored as
float16 (``weights/generators/<name>.npz``) with a card; FID/KID/precision/recall of ``n_eval`` samples
against the CIFAKE *test* split's real images (``cifake/val/real``, 500) on the Lite0 features
(:mod:`fakescope.generators.metrics`; not comparable with Inception-FID).  ``zoo.json`` holds the
input fingerprint and every model's numbers.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["RECIPE", "MODELS", "build_generators", "ZOO_FILE"]

Log = Callable[[str], None] | None

# four up-samplers with the DCGAN loss; the other three losses with the transposed convolution
MODELS: tuple[tuple[str, str], ...] = (
    ("dcgan", "transposed"), ("dcgan", "nearest"), ("dcgan", "bilinear"), ("dcgan", "pixelshuffle"),
    ("wgan-gp", "transposed"), ("lsgan", "transposed"), ("hinge", "transposed"),
)
RECIPE: dict[str, Any] = {"seed": 20261207, "width": 32, "batch": 32,
                          "steps": {"dcgan-transposed": 364, "dcgan-nearest": 299, "dcgan-bilinear": 250,
                                    "dcgan-pixelshuffle": 358, "wgan-gp-transposed": 377, "lsgan-transposed": 611,
                                    "hinge-transposed": 490},
                          "time_limit_s": None, "n_eval": 500, "models": [list(m) for m in MODELS]}


def _zoo_dir() -> Path:
    from ..generators import GENERATORS_DIR

    return GENERATORS_DIR


ZOO_FILE = Path(__file__).resolve().parent.parent / "weights" / "generators" / "zoo.json"


def _images(records: Sequence[Any], limit: int | None = None) -> np.ndarray:
    from ..training.data import load_rgb

    recs = list(records)[:limit] if limit else list(records)
    return np.stack([load_rgb(r.path) for r in recs]).astype(np.uint8)


def build_generators(root: str | os.PathLike[str] | None = None, *, log: Log = None, inputs_sha256: str = "",
                     out_dir: str | os.PathLike[str] | None = None, recipe: dict[str, Any] | None = None,
                     max_train: int | None = None, max_eval_real: int | None = None,
                     features: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, Any]:
    """Train, store and measure every model of ``recipe`` (default :data:`RECIPE`); returns ``zoo.json``'s
    content.  ``out_dir`` (default the package's ``weights/generators``), ``max_train``,
    ``max_eval_real`` and ``features`` (default :func:`~fakescope.generators.metrics.lite0_features`) exist
    for tests on tiny data."""
    import torch

    from ..detectors.base import sha256_file
    from ..generators import GeneratorCard, ShippedGenerator
    from ..generators.metrics import lite0_features, quality_report
    from ..generators.train import GanConfig, train_gan
    from ..training.data import cifake_records, select

    torch.set_num_threads(1)
    rec = {**RECIPE, **(recipe or {})}
    out = Path(out_dir) if out_dir is not None else _zoo_dir()
    out.mkdir(parents=True, exist_ok=True)
    cif = cifake_records(root)
    train = _images(select(cif, split="train", label=0), max_train)
    test = _images(select(cif, split="test", label=0), max_eval_real)
    if log:
        log(f"generators: {len(train)} real CIFAKE train images, {len(test)} test reals for the metrics")
    feats = features or lite0_features
    real_f = feats(test)
    zoo: dict[str, Any] = {"inputs_sha256": inputs_sha256, "recipe": rec,
                           "features": "EfficientNet-Lite0 pooled 1280-d at 224 px (NOT Inception-v3)",
                           "eval_reals": f"CIFAKE test split real images (cifake/val/real), n={len(test)}",
                           "models": {}}
    for i, (loss, up) in enumerate(rec["models"]):
        steps = rec["steps"][f"{loss}-{up}"] if isinstance(rec["steps"], dict) else rec["steps"]
        cfg = GanConfig(loss=loss, upsample=up, width=int(rec["width"]), steps=int(steps),
                        batch=int(rec["batch"]), time_limit_s=rec["time_limit_s"], seed=int(rec["seed"]) + i)
        if log:
            log(f"generators: training {cfg.name}")
        gen, summary = train_gan(train, cfg, log=log)
        path = out / f"{cfg.name}.npz"
        state = {k: (v.numpy().astype(np.float16) if v.dtype == torch.float32 else v.numpy())
                 for k, v in gen.state_dict().items()}
        with open(path, "wb") as f:
            np.savez(f, **state)
        card = GeneratorCard(
            name=cfg.name, loss=loss, upsample=up, width=cfg.width, z_dim=gen.z_dim, weights=path.name,
            sha256=sha256_file(path),
            training_data=f"CIFAKE real images of the frozen train split (fakescope/io/split.csv), n={len(train)}, "
                          "random horizontal flips",
            config=cfg.to_dict(), train=summary, parameters=int(sum(p.numel() for p in gen.parameters())))
        # metrics on the stored (float16) weights, exactly what `fakescope generate` samples
        shipped = ShippedGenerator(card, out)
        t0 = time.perf_counter()
        q = quality_report(real_f, feats(shipped.sample(int(rec["n_eval"]), seed=12345)))
        card = GeneratorCard(**{**card.to_dict(), "metrics": {**q, "eval_seed": 12345,
                                                               "eval_seconds": round(time.perf_counter() - t0, 1)}})
        (out / f"{cfg.name}.json").write_text(json.dumps(card.to_dict(), indent=2) + "\n", encoding="utf-8")
        zoo["models"][cfg.name] = {"train": summary, "metrics": q, "parameters": card.parameters,
                                   "bytes": path.stat().st_size}
        if log:
            log(f"generators: {cfg.name} {summary['steps_done']} steps, FID(Lite0) {q['fid_lite0']}, "
                f"KIDx1000 {q['kid_x1000']}, P {q['precision']} R {q['recall']}")
    # the real-vs-real floor: two disjoint halves of the test reals
    h = len(real_f) // 2
    if h >= 10:
        zoo["real_vs_real_floor"] = quality_report(real_f[:h], real_f[h:])
    (out / "zoo.json").write_text(json.dumps(zoo, indent=2) + "\n", encoding="utf-8")
    return zoo
