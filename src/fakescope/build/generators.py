"""Build step ``generators``: train the generator zoo on CIFAKE's real train split and measure it.

Each model of :data:`RECIPE` (a loss × an up-sampler, :mod:`fakescope.generators.models`) is trained
from its own seed on the real 32-px CIFAKE images of the frozen ``train`` split (2,000 photos), for the
fixed number of generator steps :data:`RECIPE` gives it, on one CPU thread (no time limit: the same
weights on every machine; the counts are those a first, time-capped run reached on this machine).  The weights are stored as
float16 (``weights/generators/<name>.npz``) with a card; FID/KID/precision/recall of ``n_eval`` samples
against the CIFAKE *test* split's real images (``cifake/val/real``, 500) on the Lite0 features
(:mod:`fakescope.generators.metrics`; not comparable with Inception-FID).  ``zoo.json`` holds the
input fingerprint and every model's numbers.

A model whose card (in the output folder) records the same ``train_key`` -- sha256 of its
:class:`~fakescope.generators.train.GanConfig` (recipe entry, seed, schedule), the training images'
bytes, the source of :mod:`fakescope.generators.models` and :mod:`~fakescope.generators.train` and the
torch and numpy versions: everything that decides its weights -- and whose weights still match the card's
sha256 is not retrained: training is deterministic (one thread), so it would write the same file.  Its
metrics are reused when the ``eval_key`` (the weights' sha256, the real features' bytes, ``n_eval``, the
sampling seed) matches too.  ``reuse=False`` (or an empty ``out_dir``) retrains everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["RECIPE", "MODELS", "build_generators", "ZOO_FILE"]

Log = Callable[[str], None] | None

# the full grid, 4 losses x 4 up-samplers.  The first seven (four up-samplers with the DCGAN loss, the
# other three losses with the transposed convolution) came first and keep their order, hence their seeds
# (``seed + index``); the other nine are appended after them.
MODELS: tuple[tuple[str, str], ...] = (
    ("dcgan", "transposed"), ("dcgan", "nearest"), ("dcgan", "bilinear"), ("dcgan", "pixelshuffle"),
    ("wgan-gp", "transposed"), ("lsgan", "transposed"), ("hinge", "transposed"),
    ("wgan-gp", "nearest"), ("wgan-gp", "bilinear"), ("wgan-gp", "pixelshuffle"),
    ("lsgan", "nearest"), ("lsgan", "bilinear"), ("lsgan", "pixelshuffle"),
    ("hinge", "nearest"), ("hinge", "bilinear"), ("hinge", "pixelshuffle"),
)
# Steps of the first seven: the counts a first run capped at 150 s of wall time reached on this machine.
# The nine appended ones: their loss's transposed-conv count x (their up-sampler's DCGAN count / 364, the
# DCGAN transposed-conv count), rounded (Python's round) -- the same relative cost of each up-sampler.
_FIRST_STEPS: dict[str, int] = {"dcgan-transposed": 364, "dcgan-nearest": 299, "dcgan-bilinear": 250,
                                "dcgan-pixelshuffle": 358, "wgan-gp-transposed": 377, "lsgan-transposed": 611,
                                "hinge-transposed": 490}


def _grid_steps() -> dict[str, int]:
    out = dict(_FIRST_STEPS)
    for loss, up in MODELS[len(_FIRST_STEPS):]:
        out[f"{loss}-{up}"] = round(_FIRST_STEPS[f"{loss}-transposed"] * _FIRST_STEPS[f"dcgan-{up}"]
                                    / _FIRST_STEPS["dcgan-transposed"])
    return out


RECIPE: dict[str, Any] = {"seed": 20261207, "width": 32, "batch": 32, "steps": _grid_steps(),
                          "time_limit_s": None, "n_eval": 500, "models": [list(m) for m in MODELS]}


def _zoo_dir() -> Path:
    from ..generators import GENERATORS_DIR

    return GENERATORS_DIR


ZOO_FILE = Path(__file__).resolve().parent.parent / "weights" / "generators" / "zoo.json"


EVAL_SEED = 12345


def train_key(config_dict: dict[str, Any], train_images: np.ndarray) -> str:
    """sha256 over everything that decides a generator's trained weights (see the module doc)."""
    import torch

    from ..generators import models as gm, train as gt

    h = hashlib.sha256(json.dumps(config_dict, sort_keys=True).encode())
    h.update(f"{train_images.dtype}{train_images.shape}".encode())
    h.update(hashlib.sha256(np.ascontiguousarray(train_images).tobytes()).digest())
    for mod in (gm, gt):
        h.update(hashlib.sha256(Path(mod.__file__).read_bytes()).digest())
    h.update(f"torch {torch.__version__} numpy {np.__version__}".encode())
    return h.hexdigest()


def eval_key(weights_sha256: str, real_features: np.ndarray, n_eval: int) -> str:
    """sha256 over what decides a generator's metrics, given the feature extractor of ``real_features``."""
    h = hashlib.sha256(f"{weights_sha256} {n_eval} {EVAL_SEED} {real_features.dtype}{real_features.shape}".encode())
    h.update(np.ascontiguousarray(real_features).tobytes())
    return h.hexdigest()


def _reusable(out: Path, name: str, key: str) -> Any:
    """The card of ``name`` in ``out`` when it records ``key`` and its weights match it, else None."""
    from ..detectors.base import sha256_file
    from ..generators import GeneratorCard

    try:
        card = GeneratorCard.load(out / f"{name}.json")
    except (OSError, ValueError, TypeError):
        return None
    path = out / card.weights
    if card.build.get("train_key") != key or not path.exists() or sha256_file(path) != card.sha256:
        return None
    return card


def _train_one(train: np.ndarray, config: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any], int, int]:
    """Train one generator on one thread (in a worker process or inline): its stored state (float16),
    the training summary, the parameter count and ``z_dim``."""
    import torch

    from ..generators.train import GanConfig, train_gan

    torch.set_num_threads(1)
    gen, summary = train_gan(train, GanConfig(**{k: v for k, v in config.items() if k != "schedule"}))
    state = {k: (v.numpy().astype(np.float16) if v.dtype == torch.float32 else v.numpy())
             for k, v in gen.state_dict().items()}
    return state, summary, int(sum(p.numel() for p in gen.parameters())), int(gen.z_dim)


def _images(records: Sequence[Any], limit: int | None = None) -> np.ndarray:
    from ..training.data import load_rgb

    recs = list(records)[:limit] if limit else list(records)
    return np.stack([load_rgb(r.path) for r in recs]).astype(np.uint8)


def build_generators(root: str | os.PathLike[str] | None = None, *, log: Log = None, inputs_sha256: str = "",
                     out_dir: str | os.PathLike[str] | None = None, recipe: dict[str, Any] | None = None,
                     max_train: int | None = None, max_eval_real: int | None = None,
                     features: Callable[[np.ndarray], np.ndarray] | None = None,
                     reuse: bool = True, jobs: int = 1) -> dict[str, Any]:
    """Train, store and measure every model of ``recipe`` (default :data:`RECIPE`); returns ``zoo.json``'s
    content; a model already in ``out_dir`` with the same ``train_key`` is reused (``reuse``, see the module
    doc).  ``jobs`` > 1 trains that many models at a time in worker processes (one thread each: the same
    weights as ``jobs=1``); each is measured in this process as it finishes.  ``out_dir`` (default the
    package's ``weights/generators``), ``max_train``, ``max_eval_real`` and ``features`` (default
    :func:`~fakescope.generators.metrics.lite0_features`) exist for tests on tiny data."""
    import torch

    from ..detectors.base import sha256_file
    from ..generators import GeneratorCard, ShippedGenerator
    from ..generators.metrics import lite0_features, quality_report
    from ..generators.train import GanConfig
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

    def measure(cfg: Any, key: str, old: Any, trained: Any = None) -> None:
        """Store (unless reused; ``trained``: :func:`_train_one`'s result, else trained here), measure and
        record one model."""
        path = out / f"{cfg.name}.npz"
        if old is not None:
            if log:
                log(f"generators: {cfg.name} reused (same recipe entry, seed, training images, code: "
                    f"train_key {key[:12]})")
            card = old
        else:
            if trained is not None:
                state, summary, n_params, z_dim = trained
            else:
                if log:
                    log(f"generators: training {cfg.name}")
                state, summary, n_params, z_dim = _train_one(train, cfg.to_dict())
            with open(path, "wb") as f:
                np.savez(f, **state)
            card = GeneratorCard(
                name=cfg.name, loss=cfg.loss, upsample=cfg.upsample, width=cfg.width, z_dim=z_dim,
                weights=path.name, sha256=sha256_file(path),
                training_data=f"CIFAKE real images of the frozen train split (fakescope/io/split.csv), n={len(train)}, "
                              "random horizontal flips",
                config=cfg.to_dict(), train=summary, parameters=n_params)
        ekey = eval_key(card.sha256, real_f, int(rec["n_eval"]))
        if old is None or old.build.get("eval_key") != ekey:
            # metrics on the stored (float16) weights, exactly what `fakescope generate` samples
            shipped = ShippedGenerator(card, out)
            t0 = time.perf_counter()
            q = quality_report(real_f, feats(shipped.sample(int(rec["n_eval"]), seed=EVAL_SEED)))
            card = GeneratorCard(**{**card.to_dict(), "metrics": {
                **q, "eval_seed": EVAL_SEED, "eval_seconds": round(time.perf_counter() - t0, 1)}})
        q = {k: v for k, v in card.metrics.items() if k not in ("eval_seed", "eval_seconds")}
        card = GeneratorCard(**{**card.to_dict(), "build": {"step": "generators", "train_key": key,
                                                            "eval_key": ekey}})
        (out / f"{cfg.name}.json").write_text(json.dumps(card.to_dict(), indent=2) + "\n", encoding="utf-8")
        zoo["models"][cfg.name] = {"train": card.train, "metrics": q, "parameters": card.parameters,
                                   "bytes": path.stat().st_size}
        if log:
            log(f"generators: {cfg.name} {card.train['steps_done']} steps, FID(Lite0) {q['fid_lite0']}, "
                f"KIDx1000 {q['kid_x1000']}, P {q['precision']} R {q['recall']}")

    cfgs = []
    for i, (loss, up) in enumerate(rec["models"]):
        steps = rec["steps"][f"{loss}-{up}"] if isinstance(rec["steps"], dict) else rec["steps"]
        cfg = GanConfig(loss=loss, upsample=up, width=int(rec["width"]), steps=int(steps),
                        batch=int(rec["batch"]), time_limit_s=rec["time_limit_s"], seed=int(rec["seed"]) + i)
        key = train_key(cfg.to_dict(), train)
        cfgs.append((cfg, key, _reusable(out, cfg.name, key) if reuse else None))
    # models with no weights in the output folder first: an interrupted build (the next run resumes it,
    # reusing what was stored) leaves as many new models as possible; every one is measured as it is stored
    todo = sorted((c for c in cfgs if c[2] is None), key=lambda c: (out / f"{c[0].name}.npz").exists())
    for cfg, key, old in cfgs:
        if old is not None:
            measure(cfg, key, old)
    if jobs > 1 and len(todo) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        n = min(jobs, len(todo))
        if log:
            log(f"generators: training {len(todo)} models, {n} at a time (one thread each)")
        with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_train_one, train, c[0].to_dict()): c for c in todo}
            for fut in as_completed(futures):
                cfg, key, _ = futures[fut]
                measure(cfg, key, None, fut.result())
    else:
        for cfg, key, _ in todo:
            measure(cfg, key, None)
    zoo["models"] = {c[0].name: zoo["models"][c[0].name] for c in cfgs}
    # the real-vs-real floor: two disjoint halves of the test reals
    h = len(real_f) // 2
    if h >= 10:
        zoo["real_vs_real_floor"] = quality_report(real_f[:h], real_f[h:])
    (out / "zoo.json").write_text(json.dumps(zoo, indent=2) + "\n", encoding="utf-8")
    return zoo
