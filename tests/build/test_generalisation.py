"""The in-the-wild build step and its reports: laundering, wild scores, per-source tables, the build graph."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fakescope.build import generalisation as g
from fakescope.build import run_steps, steps
from fakescope.errors import UsageError


def test_laundering_conditions_do_what_they_say():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (900, 1400, 3), dtype=np.uint8)
    assert g.launder(img, "stored") is not None and (g.launder(img, "stored") == img).all()
    assert max(g.launder(img, "web-512-q70").shape[:2]) == 512
    assert max(g.launder(img, "design-1024-q85").shape[:2]) == 1024
    assert g.launder(img, "webp-80").shape == img.shape
    assert g.launder(img, "screenshot").shape[:2] == (450, 700)
    assert g.launder(img, "thumbnail-64").shape[:2] == (41, 64)  # the fusion's thumbnail regime
    small = img[:300, :400]
    assert g.launder(small, "web-512-q70").shape == small.shape  # never up-scaled


def _tiny_records(shared_data):
    held = g.heldout_records(shared_data)
    fakes = [r for r in held if r.label == 1 and g.is_unseen(r)][:2]
    reals = [r for r in held if r.label == 0][:2]
    return reals + fakes


def test_wild_scores_are_the_scans_scores(shared_data, tmp_path):
    """The build step scores through the scan's decoder and detectors: the same numbers as a scan."""
    import dataclasses

    from fakescope.io.decode import load
    from fakescope.pipeline import Scanner

    recs = _tiny_records(shared_data)
    out = tmp_path / "wild.json"
    d = g.write_wild(shared_data, path=out, jobs=1, records=recs, inputs_sha256="x")
    assert len(d["labels"]) == len(recs) * len(g.LAUNDERING)
    assert d["unseen"] == [g.is_unseen(r) for r in recs for _ in g.LAUNDERING]
    scanner = Scanner(["npr", "spectral", "rine"], provenance=False, exhaustive=True)
    folds = g.FoldScorer()
    i = 0
    for r in recs:
        sample = load(r.path)
        fold = folds.fold(r)
        for c in g.LAUNDERING:
            smp = dataclasses.replace(sample, image=g.launder(sample.image, c))
            _, raw, _ = scanner.analyze(smp)
            for name in ("npr", "spectral"):
                assert d["scores"][name][i] == pytest.approx(raw[name], abs=2e-6)
            if fold is None:  # a row rine's shipped head never saw: the scan's score
                assert d["scores"]["rine"][i] == pytest.approx(raw["rine"], abs=2e-6)
            else:  # cross-fitted: the head of the row's fold, which never saw it, not the shipped head
                assert d["scores"]["rine"][i] == pytest.approx(folds(smp.image, fold), abs=2e-6)
                assert abs(d["scores"]["rine"][i] - raw["rine"]) > 1e-4
            assert d["conditions"][i] == c and d["min_side"][i] == min(smp.image.shape[:2])
            i += 1
    from fakescope.fusion import Fuser, WildScores

    wild = WildScores.from_json(out)
    assert wild.labels.size == i
    Fuser(["npr", "spectral"], wild=wild)  # a fusion can be fitted with it


def test_shipped_wild_scores_cover_the_held_out_split(shared_data):
    raw = json.loads(g.WILD_FILE.read_text())
    rows = {(k, grp) for k, grp in zip(raw["keys"], raw["groups"])}
    held = g.heldout_records(shared_data)  # without the optional system photos on some machines
    assert held and all((r.key, r.group) in rows for r in held)
    assert set(raw["conditions"]) == set(g.LAUNDERING)
    assert set(raw["scores"]) == set(g.WILD_DETECTORS)
    folds = g.FoldScorer()  # every held-out row rine's head was fitted on has a fold head without it
    assert all(folds.fold(r) is None or folds.fold(r) in folds.heads for r in held)
    # its recorded inputs are today's: split manifest, the detectors' cards, the laundering chains
    assert steps()["wild"].up_to_date()


def test_the_shipped_default_fusion_takes_its_real_cut_from_never_seen_sources():
    from fakescope.fusion import Fuser

    op = Fuser.default().operating_point
    assert op.real_basis == "unseen sources" and 0 < op.real_threshold < op.threshold


def test_source_table_scores_each_source_against_the_other_class():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(40), np.ones(40)].astype(int)
    p = np.r_[rng.uniform(0, 0.5, 40), rng.uniform(0.5, 1, 20), rng.uniform(0, 0.5, 20)]
    src = ["r"] * 40 + ["good"] * 20 + ["bad"] * 20
    rows = g.source_table(p, y, src, ["c"] * 80, rng=np.random.default_rng(0), n_boot=50)
    by = {r.source: r for r in rows}
    assert by["good"].auc == 1.0 and by["good"].kind == "fake"
    assert by["bad"].auc < 0.7 and by["r"].kind == "real"
    assert all(r.lo <= r.auc <= r.hi for r in rows)
    s = g.summarize_sources(rows, p, y, ["c"] * 80)["c"]
    assert s["worst_source"] == "bad" and s["mean"] == pytest.approx(np.mean([r.auc for r in rows]))


def test_label_table_and_loso_predict():
    labels = np.array(["real", "ai-generated", "inconclusive", "real"])
    rows = g.label_table(labels, np.array([0, 0, 1, 1]), ["a", "a", "b", "b"], ["c"] * 4, min_n=1)
    by = {(r["source"], r["class"]): r for r in rows}
    assert by[("a", "real")]["wrong"] == 0.5 and by[("b", "fake")]["wrong"] == 0.5
    assert by[("b", "fake")]["inconclusive"] == 0.5
    x = np.r_[np.zeros(10), np.ones(10)][:, None]
    y = np.r_[np.zeros(10), np.ones(10)]
    groups = np.repeat(["a", "b", "c", "d"], 5)
    seen = []

    def fit(xt, yt):
        seen.append(len(yt))
        return float(xt[yt == 1].mean())

    out = g.loso_predict(x, y, groups, fit, lambda m, xs: xs[:, 0] * m)
    assert seen == [15, 15, 15, 15] and np.allclose(out, x[:, 0])


def test_build_steps_and_cli(tmp_path, shared_data):
    from fakescope.cli import main

    with pytest.raises(UsageError, match="unknown build step"):
        run_steps(["nope"])
    assert main(["build", "--check", "all", "--data", str(shared_data)]) == 0
    assert main(["build", "nope"]) == 2
    # every shipped artefact of the build records the fingerprint of the inputs it was made from (checked,
    # never run here: a stale step would retrain and overwrite shipped weights)
    table = steps()
    stale = [n for n in ("rine", "wild", "calibrate", "cascade") if not table[n].up_to_date()]
    assert stale == [], f"shipped artefacts older than their inputs: run `fakescope build {' '.join(stale)}`"
    logs = []
    assert run_steps(["wild"], log=logs.append) == [] and "up to date" in logs[0]
