"""The aligned fakes the tile networks and the probe train on: auto-encoder reconstructions of real photos.

Four convolutional auto-encoders (nearest, transposed-conv, bilinear and pixel-shuffle decoders,
:mod:`fakescope.training.autoencoder`) are trained on the train-split real photos (modern-set reals
and the photo collections) for a fixed :data:`RECIPE` ``steps`` each, from the first of the four
streams of ``numpy.random.SeedSequence(RECIPE["seed"]).spawn(4)`` (the npr and spectral steps use
the second and third); then every real photo of every split is reconstructed (its central crop up
to ``max_side``), each reconstruction in its source photo's split (source ``"ae"``, group ``"ae"``).
A fake that differs from a real photo only by the decoder's traces: a network trained on it cannot
separate the classes by content, format or size.

Not a build step of its own (nothing ships): the npr, spectral, safe, cnnspot, patchcraft and
probe steps call :func:`aligned_fakes`, which builds the reconstructions once into
``$FAKESCOPE_CACHE/build/aligned-<fingerprint>/`` (PNG files and ``records.json``) and reuses them;
its fingerprint (:func:`inputs`, :func:`recipe_json`) is part of theirs.

Deterministic: a fixed step count per auto-encoder (no wall-clock limit), seeded streams, two torch
threads (the float results depend on the thread count), the split's record order
(``tests/build/test_detector_steps.py`` builds them twice on tiny data and compares the PNG bytes).
Weights trained on the reconstructions ``bench/train_defaults.py`` once made under a 180-second cap per
auto-encoder cannot be reproduced; a detector step records in its card whether its weights are bitwise
the files they replaced (``metrics.build.reproduced``, :func:`fakescope.build.experts.check_reproduced`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["RECIPE", "inputs", "recipe_json", "aligned_fakes", "streams", "cache_root"]

Log = Callable[[str], None]

#: the reconstructions' recipe (a fixed step count per auto-encoder; no wall-clock limit)
RECIPE: dict[str, Any] = {"seed": 20240601, "steps": 1000, "max_side": 768,
                          "variants": ["nearest", "transposed", "bilinear", "pixelshuffle"]}


def inputs() -> list[Path]:
    """The files the reconstructions depend on (besides the data the split lists)."""
    from ..io.splits import SPLIT_FILE
    from ..training import autoencoder

    return [SPLIT_FILE, Path(__file__), Path(autoencoder.__file__)]


def recipe_json(recipe: dict[str, Any] | None = None) -> str:
    return json.dumps(recipe or RECIPE, sort_keys=True)


def streams(seed: int) -> list[np.random.Generator]:
    """The four random streams of a detector build seeded with ``seed``: auto-encoders, npr, spectral, spare."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]


def cache_root() -> Path:
    from ..backbones import cache_dir

    return cache_dir() / "build"


def aligned_fakes(root: str | os.PathLike[str] | None = None, *, log: Log | None = None,
                  recipe: dict[str, Any] | None = None, records: Sequence[Any] | None = None,
                  work: str | os.PathLike[str] | None = None, threads: int = 2) -> list[Any]:
    """The auto-encoder reconstructions (records with source ``"ae"``), built on first use.

    ``records`` (default: the frozen split's records), ``work`` (default: a folder under
    :func:`cache_root` named by the fingerprint) and ``threads`` (torch threads: the shipped
    reconstructions were made with two, and the float results depend on it) exist for tests on tiny data.
    """
    import torch

    from ..training.autoencoder import make_ae_fakes, train_autoencoder
    from ..training.data import Record, all_records, load_rgb

    rec = {**RECIPE, **(recipe or {})}
    recs = list(records) if records is not None else all_records(root)
    if work is None:
        from . import fingerprint

        key = fingerprint(inputs(), recipe_json(rec) + "\n".join(r.path for r in recs))
        work = cache_root() / f"aligned-{key[:16]}"
    work = Path(work)
    index = work / "records.json"
    if index.is_file():
        out = [Record(**d) for d in json.loads(index.read_text(encoding="utf-8"))]
        if all(Path(r.path).is_file() for r in out):
            if log:
                log(f"aligned fakes: {len(out)} reconstructions from {work}")
            return out
    torch.set_num_threads(threads)
    rng = streams(int(rec["seed"]))[0]
    train_src = [r for r in recs if r.split == "train" and r.label == 0 and r.source in ("photos", "modern")]
    imgs = [load_rgb(r.path) for r in train_src]
    models = {}
    for variant in rec["variants"]:
        t0 = time.perf_counter()
        models[f"ae-{variant}"] = train_autoencoder(imgs, upsample=variant, rng=rng, steps=int(rec["steps"]), log=log)
        if log:
            log(f"aligned fakes: ae-{variant} trained ({rec['steps']} steps, {time.perf_counter() - t0:.0f}s)")
    sources = [r for r in recs if r.label == 0 and r.source in ("photos", "modern")]
    out, psnr = make_ae_fakes(sources, models, work / "ae", max_side=int(rec["max_side"]), log=log)
    work.mkdir(parents=True, exist_ok=True)
    tmp = index.with_suffix(".tmp")
    tmp.write_text(json.dumps([r.__dict__ for r in out]), encoding="utf-8")
    os.replace(tmp, index)
    if log:
        log(f"aligned fakes: {len(out)} reconstructions, mean PSNR {psnr}")
    return out

