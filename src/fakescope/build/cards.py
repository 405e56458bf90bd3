"""The build steps' one card writer: a :class:`~fakescope.detectors.base.DetectorCard` for a step's weights,
its split statement, the step's timing and input fingerprint among its metrics, saved next to the weights,
with the step's benchmark page written from it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

__all__ = ["split_statement", "write_card"]


def split_statement(use: str) -> str:
    """``the frozen split manifest fakescope/io/split.csv (sha256 …): <use>``."""
    from ..io.splits import split_sha256

    return f"the frozen split manifest fakescope/io/split.csv (sha256 {split_sha256()[:16]}…): {use}"


def write_card(path: str | os.PathLike[str], *, weights: str | os.PathLike[str], t0: float, inputs_sha256: str,
               split_use: str, metrics: Mapping[str, Any], report: str | os.PathLike[str] | None = None,
               write_report: Callable[[dict[str, Any], str | os.PathLike[str]], None] | None = None,
               log: Callable[[str], None] | None = None, **fields: Any) -> dict[str, Any]:
    """Write the card of the weights file ``weights`` to ``path`` and return it as a dict.

    ``fields`` are the card's descriptive fields (name, family, summary, paper, input_policy, preprocessing,
    training_data, parameters, calibration, extra); the weights' name and sha256, the split statement
    (:func:`split_statement` of ``split_use``) and ``metrics`` plus ``seconds`` since ``t0`` and the step's
    ``inputs_sha256`` are filled here.  With ``report``, ``write_report(card, report)`` writes the benchmark
    page."""
    from ..detectors.base import DetectorCard, sha256_file

    w = Path(weights)
    card = DetectorCard(weights=w.name, sha256=sha256_file(w), split=split_statement(split_use),
                        metrics={**metrics, "seconds": round(time.time() - t0, 1), "inputs_sha256": inputs_sha256},
                        **fields)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    card.save(out)
    d = card.to_dict()
    if report is not None and write_report is not None:
        write_report(d, report)
    if log:
        log(f"wrote {out} ({d['metrics']['seconds']} s)")
    return d
