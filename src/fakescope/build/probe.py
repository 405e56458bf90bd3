"""Build step ``probe``: the ``probe`` head (a linear probe on frozen EfficientNet-Lite0 features) and
the ``rigid`` calibration (``weights/probe.npz``, ``probe.json``, ``rigid.json``).

:func:`fakescope.training.probe.ship_probe_and_rigid` on the frozen split plus the aligned fakes
(:mod:`.aligned`): backbone features of the train split as stored and once JPEG-re-encoded (seed
:data:`~fakescope.training.probe.PROBE_SEED`), a logistic head per L2 strength of
:data:`~fakescope.training.probe.L2_GRID` (closed-form Newton fits: no step count, no clock), the
strength chosen on the calibration split, Platt parameters for both on the calibration split,
test-split metrics in the cards (measured only).  Backbone features are cached under
``$FAKESCOPE_CACHE/build/probe``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from . import aligned

__all__ = ["build_probe", "inputs", "recipe_dict"]

Log = Callable[[str], None]


def inputs() -> list[Path]:
    from ..backbones import efficientnet_lite0_path
    from ..detectors import rigid
    from ..training import probe

    return aligned.inputs() + [Path(__file__), Path(probe.__file__), Path(rigid.__file__), efficientnet_lite0_path()]


def recipe_dict(l2_grid: Sequence[float] | None = None, seed: int | None = None) -> dict[str, Any]:
    from ..detectors.rigid import DRAWS, SEED, SIGMA
    from ..training.probe import L2_GRID, PROBE_SEED

    return {"backbone": "efficientnet_lite0", "l2_grid": list(l2_grid or L2_GRID),
            "seed": PROBE_SEED if seed is None else seed, "jpeg_quality": [65, 100],
            "rigid": {"sigma": SIGMA, "draws": DRAWS, "seed": SEED}, "aligned_fakes": aligned.RECIPE}


def build_probe(root: str | os.PathLike[str] | None = None, *, log: Log | None = None, inputs_sha256: str = "",
                out_dir: str | os.PathLike[str] | None = None, records: Sequence[Any] | None = None,
                aligned_records: Sequence[Any] | None = None, work: str | os.PathLike[str] | None = None,
                l2_grid: Sequence[float] | None = None, timing_reps: int = 15) -> dict[str, Any]:
    """Fit probe and rigid into ``out_dir`` (default the package's ``weights/``); returns the report.
    ``records``, ``aligned_records``, ``work``, ``l2_grid`` and ``timing_reps`` exist for tests on tiny data."""
    import torch

    from ..detectors.base import WEIGHTS_DIR, DetectorCard
    from ..training.data import all_records
    from ..training.probe import L2_GRID, ship_probe_and_rigid
    from .experts import record_build

    log = log or (lambda m: None)
    torch.set_num_threads(1)
    out = Path(out_dir) if out_dir is not None else WEIGHTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    recs = list(records) if records is not None else all_records(root)
    ae = list(aligned_records) if aligned_records is not None else aligned.aligned_fakes(root, log=log)
    w = Path(work) if work is not None else aligned.cache_root() / "probe"
    w.mkdir(parents=True, exist_ok=True)
    grid = tuple(l2_grid or L2_GRID)
    rep = ship_probe_and_rigid(log, work=w, weights_dir=out, l2_grid=grid, records=recs, aligned=ae,
                               timing_reps=timing_reps)
    for name in ("probe", "rigid"):
        card = DetectorCard.load(out / f"{name}.json")
        record_build(card, step="probe", recipe=recipe_dict(grid), inputs_sha256=inputs_sha256).save(out / f"{name}.json")
    return rep
