"""Fitting on the calibration split: CV folds, repeated CV, leave-one-generator-out, stackers.

Runs on the shipped ``weights/calibration.json`` (real raw scores of every detector on the
calibration split), not on synthetic numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from fakescope.detectors.base import WEIGHTS_DIR  # noqa: E402
from fakescope.training.calibrate import (cross_validate_sets, cv_folds, fit_stacker,  # noqa: E402
                                          leave_one_generator_out)
from fakescope.training.evaluate import roc_auc  # noqa: E402


@pytest.fixture(scope="module")
def cal() -> dict:
    return json.loads((WEIGHTS_DIR / "calibration.json").read_text())


def test_folds_keep_a_source_and_its_copies_together_and_are_stable(cal):
    folds = cv_folds(cal, 5, seed=0)
    keys = np.asarray(cal["keys"])
    assert len(folds) == len(keys) and set(folds.tolist()) == set(range(5))
    for k in np.unique(keys)[:200]:  # an image and its JPEG copy: one fold
        assert len(set(folds[keys == k].tolist())) == 1
    # adding rows never moves the others (a hash of the key, not a permutation of the rows)
    more = dict(cal, keys=list(cal["keys"]) + ["new-key-1", "new-key-2"])
    assert np.array_equal(cv_folds(more, 5, seed=0)[: len(keys)], folds)
    assert not np.array_equal(cv_folds(cal, 5, seed=1), folds)


def test_repeated_cv_averages_the_single_splits(cal):
    sets = [("npr", "spectral")]
    one = [cross_validate_sets(cal, sets, seed=s, repeats=1)[0] for s in range(3)]
    avg = cross_validate_sets(cal, sets, seed=0, repeats=3)[0]
    for k in ("auc", "auc_thumbnail", "auc_full", "mean_group_auc"):
        assert avg[k] == pytest.approx(np.mean([o[k] for o in one]), abs=1e-12)
        assert 0.5 < avg[k] <= 1.0


def test_leave_one_generator_out_reports_every_full_resolution_fake_group(cal):
    res = leave_one_generator_out(cal, ["npr", "spectral", "rigid"], method="logistic", l2=1.0)
    g, y = np.asarray(cal["groups"]), np.asarray(cal["labels"])
    full = np.asarray(cal["min_side"]) > 64
    assert set(res["per_group"]) == set(g[full & (y == 1)].tolist())
    assert len(res["per_group"]) >= 8 and all(0.0 <= v <= 1.0 for v in res["per_group"].values())
    assert res["mean"] == pytest.approx(np.mean(list(res["per_group"].values())))


def test_stackers_by_method(cal):
    y = np.asarray(cal["labels"])
    g = list(cal["groups"])
    x = np.stack([np.asarray(cal["scores"][m]) for m in ("npr", "spectral", "safe")], axis=1)
    nonneg = fit_stacker(x, y, g, method="nonneg", l2=1.0)
    assert min(nonneg["coef"]) >= 0.0
    mean = fit_stacker(x, y, g, method="mean")
    assert np.allclose(mean["coef"], mean["coef"][0])
    logistic = fit_stacker(x, y, g, method="logistic", l2=0.01)
    z = ((x - np.asarray(logistic["mu"])) / np.asarray(logistic["sd"])) @ np.asarray(logistic["coef"])
    # fitted on these scores, the stacker is about as good as its best member on them (it minimises a
    # group-balanced loss, not the pooled AUC)
    assert roc_auc(y, z) >= max(roc_auc(y, x[:, j]) for j in range(3)) - 0.01


def test_full_score_se_combines_the_pooled_and_the_per_group_uncertainty(cal):
    from fakescope.training.calibrate import full_score_se, hanley_mcneil_se

    row = cross_validate_sets(cal, [("npr", "spectral")], repeats=1)[0]
    y = np.asarray(cal["labels"])
    full = np.asarray(cal["min_side"]) > 64
    n_pos, n_neg = int(np.sum(y[full] == 1)), int(np.sum(y[full] == 0))
    se = full_score_se(row, n_pos, n_neg)
    se_auc = hanley_mcneil_se(row["auc_full"], n_pos, n_neg)
    se_grp = row["group_auc_sd_full"] / np.sqrt(row["n_groups_full"])
    assert se == pytest.approx(0.5 * np.hypot(se_auc, se_grp))
    # a score averaging two uncertain quantities is less certain than either half of it alone
    assert se > 0.5 * max(se_auc, se_grp)
    assert row["n_groups_full"] >= 8  # the calibration split's full-resolution fake groups
