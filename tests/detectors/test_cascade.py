"""The two-stage scan (early exit) on the shipped weights and real images.

The shipped ``weights/cascade.json`` holds first-stage scores of the full-resolution default
detectors on the calibration split; :class:`fakescope.fusion.Fuser` fits the exit on them.
"""

from __future__ import annotations

import json
from dataclasses import replace
import numpy as np
import pytest

import fakescope
from fakescope.backbones import native_crops
from fakescope.detectors import create_detector
from fakescope.detectors.base import WEIGHTS_DIR, grid_tiles, two_stage_indices
from fakescope.errors import UsageError
from fakescope.fusion import CalibrationSet, Fuser, _labels, load_calibration, load_cascade, regime_of

def test_shipped_cascade_belongs_to_the_shipped_calibration():
    cascade = load_cascade()
    cal = load_calibration()
    assert cascade is not None and cascade.calibration_sha256 == cal.sha256
    fuser = Fuser.default()
    assert set(cascade.members) == set(fuser.detectors_for(768))
    assert fuser.stage_plan(768) == dict(cascade.members) and fuser.stage_plan(32) is None
    assert fuser.cascade_margin is not None and fuser.cascade_margin >= cascade.safety_margin


@pytest.mark.parametrize("fpr", [0.01, 0.05])
def test_no_calibration_image_that_exits_changes_its_label(fpr):
    """The margin is fitted so that on the calibration split (rows the fusion fits on) every early
    label equals the exhaustive one; recheck it from the two files."""
    cal, cascade = load_calibration(), load_cascade()
    fuser = Fuser.default(fpr=fpr)
    names = fuser.detectors_for(768)
    rows = np.array([regime_of(s) == "full" for s in cal.min_sides()]) & cal.fit_mask()
    exits = 0
    for i in np.flatnonzero(rows):
        first = {n: float(cascade.scores[n][i]) for n in names}
        if not all(np.isfinite(list(first.values()))):
            continue
        full = {n: float(cal.scores[n][i]) for n in names}
        if fuser.early_exit(first, min_side=768):
            exits += 1
            assert fuser.decide([], first, min_side=768, first_stage=True).label == \
                fuser.decide([], full, min_side=768).label
    # few or none (safe + cnnspot + rine rarely settle an image on half of rine's crops): as many as the
    # fusion's own count on these rows says
    assert (exits > 0) == (fuser.cascade_exit_rate > 0)


def test_a_stale_cascade_file_is_ignored():
    cal, cascade = load_calibration(), load_cascade()
    stale = replace(cascade, calibration_sha256="0" * 64)
    fuser = Fuser(cal.default, calibration=cal, regime_detectors=cal.regime_default, cascade=stale)
    low = {n: -20.0 for n in fuser.detectors_for(768)}
    assert fuser.stage_plan(768) is None and not fuser.early_exit(low, min_side=768)
    with pytest.raises(UsageError):
        fuser.decide([], low, min_side=768, first_stage=True)


def test_margin_search_on_synthetic_scores():
    """A first stage that is the full score plus noise: the fitted margin keeps every label, and a
    noisier first stage needs a wider margin."""
    rng = np.random.default_rng(0)
    n = 600
    y = np.r_[np.zeros(n), np.ones(n)].astype(np.int64)
    full = np.r_[rng.normal(0, 1, n), rng.normal(2.5, 1, n)]
    cal = CalibrationSet(split="s", labels=y, groups=("photos",) * (2 * n), scores={"a": full}, sha256="x" * 64)
    margins = []
    for noise in (0.2, 0.8):
        first = full + rng.normal(0, noise, 2 * n)
        from fakescope.fusion import CascadeScores

        c = CascadeScores(calibration_sha256="x" * 64, members={"a": "half"}, scores={"a": first})
        f = Fuser(["a"], calibration=cal, cascade=c)
        assert f.cascade_margin is not None
        margins.append(f.cascade_margin)
        p1 = f._cascade.stacker.p(first[:, None])
        z = np.log(p1 / (1 - p1))
        op1 = f._cascade.stacker.op
        ex = (z >= np.log(op1.threshold / (1 - op1.threshold)) + f.cascade_margin) | \
             (z < np.log(op1.real_threshold / (1 - op1.real_threshold)) - f.cascade_margin)
        full_lab = _labels(f._models["full"].p(full[:, None]), f._models["full"].op)
        assert ex.any() and (_labels(p1, op1)[ex] == full_lab[ex]).all()
    assert margins[1] >= margins[0]


@pytest.mark.parametrize("name", ["npr", "spectral", "rine"])
def test_staged_scores_finish_to_the_exhaustive_score(name, photo_1024x768):
    det = create_detector(name)
    first, finish = det.staged_raw_score(photo_1024x768)
    assert finish is not None
    assert finish() == pytest.approx(det.raw_score(photo_1024x768), abs=1e-9)
    assert first != pytest.approx(det.raw_score(photo_1024x768), abs=1e-6)  # half of the evidence differs
    if name == "npr":  # the first stage is the mean logit of one chessboard colour of the 2x4 grid
        idx, rest = two_stage_indices(768, 1024, det.tile, det.max_tiles, mirror=True)
        assert idx == [0, 2, 5, 7] and rest == [1, 3, 4, 6]
        assert first == pytest.approx(float(det.tile_logits(photo_1024x768)[idx].mean()), abs=1e-9)
        assert len(grid_tiles(photo_1024x768, det.tile, det.max_tiles)) == 8
    if name == "rine":  # the diagonal of the 2x2 crop grid first
        logits = det.model(native_crops(photo_1024x768).transpose(0, 3, 1, 2).astype(np.float32)).ravel()
        assert first == pytest.approx(float(logits[[0, 3]].astype(np.float64).mean()), abs=1e-6)
        assert det.staged_raw_score(photo_1024x768[:200, :200])[1] is None  # one crop: one stage


def test_scan_exits_early_without_changing_labels(photo_1024x768, shared_data, tmp_path):
    from PIL import Image

    paths = []
    rng = np.random.default_rng(0)
    for i, q in enumerate((95, 90, 80)):
        p = tmp_path / f"photo{i}.jpg"
        Image.fromarray(photo_1024x768).save(p, quality=q)
        paths.append(p)
    modern = sorted((shared_data / "modern").rglob("*.png"))
    paths += [modern[i] for i in rng.choice(len(modern), 12, replace=False)]
    # and the calibration images whose first stage exits: the calibration rows say which — as stored where
    # their (lossless) files' threshold lets them exit, else as JPEG q95 copies where the JPEG threshold does
    from fakescope.build.calibrate import calibration_rows
    from fakescope.io.decode import load

    cal, cascade, fuser = load_calibration(), load_cascade(), Fuser.default()
    recs = calibration_rows(shared_data)
    names = fuser.detectors_for(768)
    for i in range(0, 2 * len(recs), 2):  # record-major rows: as stored, then JPEG q90 (then made thumbnails)
        first = {n: float(cascade.scores[n][i]) for n in names}
        if not np.isfinite(list(first.values())).all():
            continue
        if fuser.early_exit(first, min_side=cal.min_sides()[i], compression="lossless"):
            paths.append(recs[i // 2].path)
        elif fuser.early_exit(first, min_side=cal.min_sides()[i], compression="jpeg"):
            p = tmp_path / f"cal{i}.jpg"
            Image.fromarray(load(recs[i // 2].path).image).save(p, quality=95, subsampling=0)
            paths.append(p)
    two = list(fakescope.scan(paths))
    exhaustive = list(fakescope.scan(paths, exhaustive=True))
    assert [v.label for v in two] == [v.label for v in exhaustive]
    early = [v for v in two if any(e.details.get("stage") == "first" for e in v.evidence)]
    # the exit itself is tested on synthetic scores (test_margin_search_on_synthetic_scores); here, on the
    # shipped files, images exit exactly where the calibration rows say some do
    assert bool(early) == (fuser.cascade_exit_rate > 0), "early exits disagree with the calibration rows"
    assert all("first stage" in v.explanation for v in early)
    assert not any(e.details.get("stage") for v in exhaustive for e in v.evidence)
    late = [(a, b) for a, b in zip(two, exhaustive) if a not in early]
    for a, b in late:  # not exited: exactly the exhaustive result
        assert a.p_fake == pytest.approx(b.p_fake, abs=1e-9)


def test_cli_exhaustive_flag(photo_1024x768, tmp_path):
    import subprocess
    import sys

    from PIL import Image

    p = tmp_path / "photo.jpg"
    Image.fromarray(photo_1024x768).save(p, quality=92)
    out = {}
    for flag in ([], ["--exhaustive"]):
        r = subprocess.run([sys.executable, "-m", "fakescope.cli", "scan", str(p), "--format", "jsonl", "--no-progress",
                            *flag], capture_output=True, text=True, check=True)
        out[bool(flag)] = json.loads(r.stdout.strip().splitlines()[-1])
    assert out[True]["label"] == out[False]["label"]
    assert not any(e.get("details", {}).get("stage") for e in out[True]["evidence"])


def test_cascade_file_is_small_and_row_aligned():
    d = json.loads((WEIGHTS_DIR / "cascade.json").read_text())
    cal = json.loads((WEIGHTS_DIR / "calibration.json").read_text())
    assert (WEIGHTS_DIR / "cascade.json").stat().st_size < 200_000
    for col in d["scores"].values():
        assert len(col) == len(cal["labels"])
        # thumbnails have no second stage
        assert all(v is None for v, s in zip(col, cal["min_side"]) if s <= 64)


def test_no_two_stage_scan_for_a_compression_class_with_its_own_threshold():
    """The first stage is calibrated at the plain threshold: a class with a raised one is scored whole
    (no staged scoring that could not exit anyway)."""
    from fakescope.fusion import Fuser

    fuser = Fuser.default()
    raised = [c for c in ("jpeg", "webp-lossy", "lossless", "other") if fuser.operating_point_for(768, c).condition]
    plain = [c for c in ("jpeg", "webp-lossy", "lossless", "other") if c not in raised]
    assert fuser.stage_plan(768) is not None
    for c in raised:
        assert fuser.stage_plan(768, c) is None
        assert not fuser.early_exit({n: 50.0 for n in fuser.detectors_for(768)}, min_side=768, compression=c)
    for c in plain:
        assert fuser.stage_plan(768, c) == fuser.stage_plan(768)
