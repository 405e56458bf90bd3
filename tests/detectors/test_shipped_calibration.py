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


@pytest.mark.parametrize("name", ["npr", "spectral", "cnnspot"])
def test_calibration_scores_reproduce(name, shared_data):
    from fakescope.training.data import all_records, load_rgb

    cal = json.loads((WEIGHTS_DIR / "calibration.json").read_text())
    # rows are in record order, shared-data records first (training.calibrate.score_calibration)
    original = [i for i, v in enumerate(cal["variants"]) if v == "original"]
    shared = [r for r in all_records(str(shared_data)) if r.split == "calibration"]
    assert [cal["keys"][i] for i in original[: len(shared)]] == [r.key for r in shared]
    row = {id(r): i for r, i in zip(shared, original)}
    recs = shared
    by_source: dict[str, list] = {}
    for r in recs:
        by_source.setdefault(r.source, []).append(r)
    assert {"cifake", "modern", "photos"} <= set(by_source)
    picked = [r for rs in by_source.values() for r in rs[:: max(1, len(rs) // 6)][:6]]
    det = create_detector(name)
    got = det.raw_scores([load_rgb(r.path) for r in picked])
    want = np.array([cal["scores"][name][row[id(r)]] for r in picked])
    assert len(picked) >= 15
    # the file keeps 6 decimals; the spectrum is taken in float32 (logits within ~5e-6 of float64)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
