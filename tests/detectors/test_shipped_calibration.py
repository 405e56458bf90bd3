"""The shipped calibration split's raw scores come from the code that ships.

``weights/calibration.json`` holds every default detector's raw score on every calibration
image; the fusion is fitted on them.  Rescoring a spread of those images (CIFAKE thumbnails,
modern-set images and photos, as stored) with today's detectors must give the same numbers,
else the fusion would be calibrated for a different detector than the one that runs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fakescope.detectors import create_detector
from fakescope.detectors.base import WEIGHTS_DIR


@pytest.mark.parametrize("name", ["npr", "spectral", "cnnspot", "rine"])
def test_calibration_scores_reproduce(name, shared_data):
    from fakescope.io.decode import load
    from fakescope.training.data import all_records

    cal = json.loads((WEIGHTS_DIR / "calibration.json").read_text())
    # calibration rows are matched by their split key: a machine without the optional system photos
    # has fewer records, and every record it has keeps its split (the frozen manifest)
    # (the tiles of one grid share a key: they are matched in record order)
    rows_of: dict[str, list[int]] = {}
    for i, (k, v) in enumerate(zip(cal["keys"], cal["variants"])):
        if v == "original":
            rows_of.setdefault(k, []).append(i)
    shared = [r for r in all_records(str(shared_data)) if r.split == "calibration"]
    assert shared and all(r.key in rows_of for r in shared)
    seen: dict[str, int] = {}
    row = {}
    for r in shared:
        row[id(r)] = rows_of[r.key][seen.get(r.key, 0)]
        seen[r.key] = seen.get(r.key, 0) + 1
    recs = shared
    by_source: dict[str, list] = {}
    for r in recs:
        by_source.setdefault(r.source, []).append(r)
    assert {"cifake", "modern", "photos"} <= set(by_source)
    picked = [r for rs in by_source.values() for r in rs[:: max(1, len(rs) // 6)][:6]]
    det = create_detector(name)
    got = det.raw_scores([load(r.path).image for r in picked])  # the scan's decoder, as the build
    want = np.array([cal["scores"][name][row[id(r)]] for r in picked])
    assert len(picked) >= 15
    # the file keeps 6 decimals; the spectrum is taken in float32 (logits within ~5e-6 of float64)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
