"""The ``cascade`` build step: the two-stage scan's first stage, fitted on the calibration split.

A full-resolution image is scanned by the default full-resolution set.  In a two-stage scan each
member contributes to a first stage either half of its tiles (``"half"``: one chessboard colour of
its tile grid, :meth:`fakescope.detectors.Detector.staged_raw_score`) or its whole score
(``"full"``); when the first-stage fusion is far enough from the thresholds the scan stops there
(:meth:`fakescope.fusion.Fuser.early_exit`, which fits the exit margin on these rows), else the
rest is scored and the image gets exactly the exhaustive scan's scores.

1. Every calibration row (as stored and JPEG q90, row-aligned with ``weights/calibration.json``; the
   thumbnails made of larger images that follow them are never in a first stage: null) is scored
   in two stages, exactly as :class:`fakescope.pipeline.Scanner` does; the finished scores must
   reproduce the calibration file's.
2. The plan: among the plans where at least one member takes half of its tiles (members with a
   single stage always take part whole), the lowest expected detector time per image — first
   stage + (1 - exit rate) × second stage, each plan's exit rate on the calibration split's
   full-resolution rows and the stage times from the build's committed price list
   (``docs/benchmarks/detector_costs.json``, :func:`.calibrate.load_costs`: a 1024×768 image), half
   of the tiles at half the detector's price.  A clock would differ from run to run and could pick
   another plan on a rebuild of the same inputs; the price list is an input of the step.
3. ``weights/cascade.json``: the plan's first-stage scores and the calibration file's sha256.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["staged_rows", "stage_ms", "write_cascade"]

Log = Callable[[str], None]


def _staged_chunk(args: tuple[list[str], tuple[str, ...]]) -> list[dict[str, Any]]:
    from ..detectors import create_detector
    from ..regimes import THUMBNAIL_MAX_SIDE
    from ..io.decode import load
    from .calibrate import CAL_CHAINS

    paths, names = args
    dets = {n: create_detector(n) for n in names}
    out = []
    for path in paths:
        sample = load(path)
        for chain in CAL_CHAINS.values():
            im = chain.apply(sample.image)
            row: dict[str, Any] = {}
            for n, d in dets.items():
                if min(im.shape[:2]) <= THUMBNAIL_MAX_SIDE or min(im.shape[:2]) < d.min_side:
                    row[n] = (None, None)
                    continue
                a, finish = d.staged_raw_score(im)
                row[n] = (a if finish is not None else None, finish() if finish is not None else a)
            out.append(row)
    return out


def staged_rows(records: Sequence[Any], names: Sequence[str], *, jobs: int = 2,
                log: Log | None = None) -> dict[str, dict[str, list[float | None]]]:
    """Per detector: ``first`` (half of its tiles; None without a second stage) and ``full`` scores of
    every calibration row (record-major, variants in :data:`.calibrate.CAL_CHAINS` order)."""
    from .generalisation import map_chunks

    parts = map_chunks(_staged_chunk, [r.path for r in records], (tuple(names),), jobs=jobs, log=log,
                       what="cascade: two stages", every=25)
    rows = [row for part in parts for row in part]
    return {n: {"first": [r[n][0] for r in rows], "full": [r[n][1] for r in rows]} for n in names}


def _plan_column(how: str, s: dict[str, list[float | None]]) -> np.ndarray:
    """First-stage scores under a plan entry, as the scan computes them: ``half`` the first half (NaN
    where the image has no second stage: no early exit there), ``full`` the whole score."""
    col = s["first"] if how == "half" else s["full"]
    return np.array([np.nan if v is None else float(v) for v in col], np.float64)


def _tile_to(image: np.ndarray, h: int = 768, w: int = 1024) -> np.ndarray:
    """``image`` repeated to fill ``h``×``w`` (what the price list, bench/detector_costs.py, times the
    detectors on: a detector's cost depends on the image's size, the scan's typical one is 1024×768)."""
    reps = (-(-h // image.shape[0]), -(-w // image.shape[1]), 1)
    return np.ascontiguousarray(np.tile(image, reps)[:h, :w])


def stage_ms(names: Sequence[str], two: Sequence[str], costs: str | os.PathLike[str] | None = None
             ) -> dict[str, tuple[float, float]]:
    """Per detector, ms of its first and of its second stage on a 1024×768 image, from the committed price
    list: a member with two stages (``two``) half and half of its price (half of its tiles each), the
    others all in the first.  (Measured once, rine's halves took 9.8 and 9.3 ms of its 20.9.)"""
    from .calibrate import load_costs

    full = load_costs(names, costs)["full"]
    return {n: (full[n] / 2, full[n] / 2) if n in two else (full[n], 0.0) for n in names}


def write_cascade(root: str | os.PathLike[str] | None = None, *, path: str | os.PathLike[str] | None = None,
                  jobs: int = 2, log: Log | None = None, inputs_sha256: str = "",
                  records: Sequence[Any] | None = None, calibration: str | os.PathLike[str] | None = None,
                  costs: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Score the calibration rows in two stages, choose the plan (priced by ``costs``, default the committed
    :data:`.calibrate.COSTS_FILE`), write ``weights/cascade.json``."""
    from ..errors import WeightsError
    from ..fusion import CALIBRATION_FILE, CASCADE_FILE, CalibrationSet, CascadeScores, Fuser, regime_of
    from ..regimes import MADE_THUMBNAIL
    from .calibrate import CAL_CHAINS, calibration_rows

    t0 = time.time()
    cal_path = Path(calibration) if calibration is not None else CALIBRATION_FILE
    cal = CalibrationSet.from_json(cal_path)
    raw = json.loads(cal_path.read_text(encoding="utf-8"))
    recs = calibration_rows(root) if records is None else list(records)
    keys = [r.key for r in recs for _ in CAL_CHAINS]
    n_rows = len(keys)  # then the thumbnails made of the larger images: never in the first stage
    if keys != raw["keys"][:n_rows] or any(v != MADE_THUMBNAIL for v in raw.get("variants", [])[n_rows:]):
        raise WeightsError("the calibration file's rows are not the calibration split's: run `fakescope build "
                           "calibrate` first")
    names = tuple(cal.regime_default["full"]) if cal.regime_default else tuple(cal.default)
    s = staged_rows(recs, names, jobs=jobs, log=log)
    for v in s.values():
        for k in ("first", "full"):
            v[k] = v[k] + [None] * (len(raw["keys"]) - n_rows)
    worst = 0.0
    for n in names:
        for i, v in enumerate(s[n]["full"]):
            if v is not None:
                worst = max(worst, abs(float(v) - float(cal.scores[n][i])))
    if worst > 1e-4:
        raise WeightsError(f"the finished two-stage scores differ from the calibration file's by {worst:.2e}")
    two = [n for n in names if any(v is not None for v in s[n]["first"])]  # members with a second stage
    full_rows = [i for i, m in enumerate(cal.min_sides()) if regime_of(m) == "full"]
    times = stage_ms(names, two, costs)
    candidates = []
    for hows in itertools.product(("half", "full"), repeat=len(two)):
        if "half" not in hows:
            continue
        plan = {n: (dict(zip(two, hows)).get(n, "full")) for n in names}
        cs = CascadeScores(calibration_sha256=cal.sha256, members=plan,
                           scores={n: _plan_column(plan[n], s[n]) for n in names})
        fuser = Fuser(cal.default, calibration=cal, regime_detectors=cal.regime_default, cascade=cs)
        row: dict[str, Any] = {"plan": plan, "margin": fuser.cascade_margin}
        if fuser.cascade_margin is not None:
            exits = [fuser.early_exit({n: float(cs.scores[n][i]) for n in names}, min_side=cal.min_sides()[i])
                     for i in full_rows]
            rate = float(np.mean(exits))
            first = sum(times[n][0] + (times[n][1] if plan[n] == "full" else 0.0) for n in names)
            rest = sum(times[n][1] for n in names if plan[n] == "half")
            row.update(exit_rate=rate, first_ms=round(first, 3), rest_ms=round(rest, 3),
                       expected_ms=round(first + (1 - rate) * rest, 3))
        candidates.append(row)
    usable = [r for r in candidates if r["margin"] is not None]
    if not usable:
        raise WeightsError("no two-stage plan keeps every calibration label: no cascade")
    best = min(usable, key=lambda r: r["expected_ms"])
    plan = best["plan"]
    doc = {"calibration_sha256": cal.sha256, "members": plan, "safety_margin": 0.5, "inputs_sha256": inputs_sha256,
           "about": "First-stage raw scores of the full-resolution default detectors on the calibration split, "
                    "row-aligned with calibration.json (null: thumbnails and images without two stages). 'half': "
                    "half of the detector's tiles (one chessboard colour of its grid); 'full': its whole score. "
                    "Written by the cascade build step (fakescope.build.cascade); fusion.Fuser fits the first-stage "
                    "stacker and the exit margin on these.",
           "choice": {"candidates": candidates, "stage_ms": times,
                      "exhaustive_ms": round(sum(sum(v) for v in times.values()), 3)},
           "scores": {n: [None if not np.isfinite(v) else round(float(v), 6) for v in _plan_column(plan[n], s[n])]
                      for n in names},
           "seconds": round(time.time() - t0, 1)}
    out = Path(path) if path is not None else CASCADE_FILE
    out.write_text(json.dumps(doc) + "\n", encoding="utf-8")
    if log:
        log(f"wrote {out}: plan {plan}, expected {best['expected_ms']:.2f} ms vs exhaustive "
            f"{doc['choice']['exhaustive_ms']:.2f} ms, calibration exit rate {best['exit_rate']:.1%}")
    return doc
