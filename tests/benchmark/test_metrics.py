"""Metrics against scikit-learn on random data (with ties), and the accumulating collection."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from fakescope.benchmark.metrics import (
    MetricCollection,
    accuracy,
    average_precision,
    balanced_accuracy,
    bootstrap_ci,
    brier,
    ece,
    eer,
    fake_accuracy,
    mean_accuracy,
    real_accuracy,
    reliability_curve,
    roc_auc,
    roc_curve,
    summarize,
    threshold_at_fpr,
    tpr_at_fpr,
)
from fakescope.errors import UsageError


def random_cases(n_cases: int = 60, seed: int = 0):
    g = np.random.default_rng(seed)
    for i in range(n_cases):
        n = int(g.integers(5, 300))
        y = g.integers(0, 2, n)
        y[0], y[1] = 0, 1  # both classes
        p = g.random(n)
        if i % 3 == 0:
            p = np.round(p, 1)  # many ties
        if i % 3 == 1:
            p = np.clip(p + 0.4 * y, 0, 1)  # informative scores
        yield y, p


def test_against_scikit_learn():
    for y, p in random_cases():
        assert roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
        assert average_precision(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
        assert brier(y, p) == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
        for t in (0.3, 0.5, 0.7):
            assert balanced_accuracy(y, p, threshold=t) == pytest.approx(
                skm.balanced_accuracy_score(y, p >= t), abs=1e-12)
            assert accuracy(y, p, threshold=t) == pytest.approx(skm.accuracy_score(y, p >= t), abs=1e-12)
            assert real_accuracy(y, p, threshold=t) == pytest.approx(skm.recall_score(y, p >= t, pos_label=0))
            assert fake_accuracy(y, p, threshold=t) == pytest.approx(skm.recall_score(y, p >= t, pos_label=1))
        f, t, th = roc_curve(y, p)
        f2, t2, th2 = skm.roc_curve(y, p, drop_intermediate=False)
        np.testing.assert_allclose(f, f2)
        np.testing.assert_allclose(t, t2)
        np.testing.assert_allclose(th[1:], th2[1:])


def test_tpr_at_fpr_and_threshold_agree_with_brute_force():
    for y, p in random_cases(30, seed=1):
        for target in (0.01, 0.05, 0.2):
            best = 0.0
            for thr in np.r_[np.unique(p), np.inf]:
                if np.mean(p[y == 0] >= thr) <= target:
                    best = max(best, float(np.mean(p[y == 1] >= thr)))
            assert tpr_at_fpr(y, p, fpr=target) == pytest.approx(best)
            thr = threshold_at_fpr(y, p, fpr=target)
            assert np.mean(p[y == 0] >= thr) <= target + 1e-12


def test_eer_cases():
    assert eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert eer([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 1.0
    g = np.random.default_rng(2)
    y = np.r_[np.zeros(4000), np.ones(4000)].astype(int)
    p = np.r_[g.normal(0, 1, 4000), g.normal(2, 1, 4000)]
    # two unit Gaussians 2 apart: EER = Phi(-1) = 0.1587
    assert eer(y, p) == pytest.approx(0.1587, abs=0.01)


def test_ece_and_reliability():
    assert ece([0, 1], [0.2, 0.8]) == pytest.approx(0.2)
    assert ece([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.0)
    g = np.random.default_rng(3)
    p = g.random(20000)
    y = (g.random(20000) < p).astype(int)  # perfectly calibrated
    assert ece(y, p) < 0.02
    assert ece(y, np.clip(p * 0.5, 0, 1)) > 0.2
    r = reliability_curve(y, p, bins=15)
    assert len(r["count"]) == 15 and sum(r["count"]) == 20000 and len(r["bin_edges"]) == 16
    # torchmetrics' binary definition computed by hand
    bins = np.minimum((p * 15).astype(int), 14)
    manual = sum(abs(p[bins == b].mean() - y[bins == b].mean()) * (bins == b).mean() for b in range(15))
    assert ece(y, p) == pytest.approx(manual)


def test_one_class_gives_nan_not_an_exception():
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))
    assert math.isnan(real_accuracy([1, 1], [0.2, 0.3]))
    assert math.isnan(tpr_at_fpr([0, 0], [0.2, 0.3]))
    assert fake_accuracy([1, 1], [0.2, 0.7]) == 0.5
    with pytest.raises(UsageError):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(UsageError):
        roc_auc([0, 1], [0.1, float("nan")])


def test_bootstrap_ci_is_reproducible_and_brackets_the_value():
    g = np.random.default_rng(4)
    y = np.r_[np.zeros(150), np.ones(150)].astype(int)
    p = np.r_[g.normal(0, 1, 150), g.normal(1, 1, 150)]
    a = bootstrap_ci(roc_auc, y, p, rng=np.random.default_rng(9), n=300)
    b = bootstrap_ci(roc_auc, y, p, rng=np.random.default_rng(9), n=300)
    assert a == b
    assert a.low < a.value < a.high and 0.04 < a.high - a.low < 0.25
    wide = bootstrap_ci(roc_auc, y[::10], p[::10], rng=np.random.default_rng(9), n=300)
    assert wide.high - wide.low > a.high - a.low


def test_metric_collection_matches_the_functions():
    g = np.random.default_rng(5)
    y = g.integers(0, 2, 500)
    p = np.clip(g.random(500) * 0.7 + 0.3 * y, 0, 1)
    m = MetricCollection(threshold=0.4, fpr_targets=(0.01, 0.05), extra_thresholds={"op": 0.8})
    for i in range(0, 500, 64):
        m.update(y[i:i + 64], p[i:i + 64])
    assert len(m) == 500
    r = m.compute()
    s = summarize(y, p, threshold=0.4, extra_thresholds={"op": 0.8})
    assert r == s
    assert r["auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert r["acc"] == pytest.approx(mean_accuracy(y, p, threshold=0.4))
    assert r["acc_fake@op"] == pytest.approx(fake_accuracy(y, p, threshold=0.8))
    assert set(r) >= {"n", "n_real", "n_fake", "auc", "ap", "eer", "acc_real", "acc_fake", "acc", "balanced_acc",
                      "tpr@1%fpr", "tpr@5%fpr", "ece", "brier"}
    other = MetricCollection(threshold=0.4)
    other.update([0, 1], [0.1, 0.9])
    m.merge(other)
    assert m.compute()["n"] == 502
    m.reset()
    assert len(m) == 0


def test_wilson_interval_matches_scipy_and_stays_in_range():
    from scipy.stats import binomtest

    from fakescope.benchmark.metrics import wilson_interval

    for k, n in [(39, 81), (0, 10), (10, 10), (1, 3), (58, 59), (500, 1000)]:
        ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        lo, hi = wilson_interval(k, n)
        assert lo == pytest.approx(ref.low, abs=2e-4) and hi == pytest.approx(ref.high, abs=2e-4)
        assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(5, 4)
