"""Build step ``spectral``: fit the residual-spectrum MLP (``weights/spectral.npz``).

The train split of the frozen manifest plus the aligned fakes (:mod:`.aligned`), the same pools as
npr; :func:`fakescope.training.loops.spectral_training_set` draws format-aligned views and
:func:`fakescope.training.loops.fit_spectral` fits the MLP (a fixed ``max_iter``), both from the third
stream of ``SeedSequence(RECIPE.seed).spawn(4)``, two torch threads (:data:`fakescope.build.npr.RECIPE`'s ``spectral``);
saved as plain arrays; Platt parameters on the calibration split (as stored and JPEG q90).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..training.pipeline import Recipe
from . import aligned
from .npr import RECIPE

__all__ = ["build_spectral", "inputs"]

Log = Callable[[str], None]


def inputs() -> list[Path]:
    from ..detectors import spectral as d
    from ..training import augment, loops

    return aligned.inputs() + [Path(__file__), Path(loops.__file__), Path(augment.__file__), Path(d.__file__)]


def recipe_dict(recipe: Recipe = RECIPE) -> dict[str, Any]:
    return {"seed": recipe.seed, "spectral": recipe.spectral.to_dict(), "aligned_fakes": aligned.RECIPE}


def build_spectral(root: str | os.PathLike[str] | None = None, *, log: Log | None = None, inputs_sha256: str = "",
                   out_dir: str | os.PathLike[str] | None = None, recipe: Recipe = RECIPE,
                   records: Sequence[Any] | None = None, aligned_records: Sequence[Any] | None = None,
                   threads: int = 2) -> Any:
    """Fit spectral into ``out_dir`` (default the package's ``weights/``); returns the card.  ``threads``:
    torch threads of the MLP fit (set, not inherited: the float results depend on it)."""
    import torch

    from ..detectors.base import WEIGHTS_DIR, sha256_file
    from ..detectors.spectral import SpectralDetector
    from ..training.data import all_records
    from ..training.loops import fit_spectral, load_train_data, spectral_training_set
    from ..training.pipeline import _spectral_card
    from .calibrate import calibration_rows
    from .experts import calibration_platt, record_build

    log = log or (lambda m: None)
    t0 = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else WEIGHTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    recs = list(records) if records is not None else all_records(root)
    ae = list(aligned_records) if aligned_records is not None else aligned.aligned_fakes(root, log=log)
    data = load_train_data([r for r in recs + ae if r.split == "train"], log=log)
    torch.set_num_threads(threads)
    rng = aligned.streams(recipe.seed)[2]
    X, y, w = spectral_training_set(data, recipe.spectral, rng=rng, log=log)
    mlp = fit_spectral(X, y, w, recipe.spectral, rng=rng)
    seconds = time.perf_counter() - t0
    path = out / "spectral.npz"
    with open(path, "wb") as f:
        np.savez(f, **mlp.to_arrays())
    n_params = int(sum(a.size for k, a in mlp.to_arrays().items() if k[0] in "wb"))
    card = _spectral_card(recipe, sha256_file(path), n_params, len(y))
    det = SpectralDetector(replace(card, weights=str(path)))
    cal = [r for r in recs if r.split == "calibration"] if records is not None else calibration_rows(root)
    card = replace(card, calibration=calibration_platt(det, cal, log=log))
    card = record_build(card, step="spectral", recipe=recipe_dict(recipe), inputs_sha256=inputs_sha256,
                        train_seconds=round(seconds, 1))
    card.save(out / "spectral.json")
    log(f"spectral: wrote {path.name}, spectral.json ({time.perf_counter() - t0:.0f}s)")
    return card
