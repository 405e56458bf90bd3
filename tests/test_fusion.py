from __future__ import annotations

import numpy as np
import pytest

from fakescope.errors import UsageError
from fakescope.fusion import CalibrationSet, Fuser, fit_logistic
from fakescope.types import Evidence


def test_fit_logistic_matches_sklearn():
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 3))
    y = (x @ np.array([1.5, -2.0, 0.3]) + rng.normal(size=500) > 0).astype(float)
    w, b = fit_logistic(x, y, l2=1e-3)
    ref = sklearn.LogisticRegression(C=1 / (1e-3 * 500), tol=1e-10, max_iter=10000).fit(x, y)
    np.testing.assert_allclose(w, ref.coef_[0], rtol=1e-3, atol=1e-3)
    assert b == pytest.approx(ref.intercept_[0], abs=1e-3)


@pytest.mark.parametrize("fpr", [0.01, 0.05, 0.1])
def test_threshold_controls_false_positive_rate_on_fresh_data(fpr, synthetic_calibration):
    fuser = Fuser(["a", "b"], fpr=fpr, calibration=synthetic_calibration(5000, seed=0))
    fresh = synthetic_calibration(5000, seed=1)
    p = np.array([fuser.pixel_probability({"a": a, "b": b}) for a, b in zip(fresh.scores["a"], fresh.scores["b"])])
    reached = float(np.mean(p[fresh.labels == 0] >= fuser.operating_point.threshold))
    assert abs(reached - fpr) < 0.5 * fpr + 0.003
    assert fuser.operating_point.real_threshold <= fuser.operating_point.threshold


def test_probabilities_are_calibrated(synthetic_calibration):
    fuser = Fuser(["a", "b"], calibration=synthetic_calibration(5000, seed=0))
    fresh = synthetic_calibration(5000, seed=2)
    p = np.array([fuser.pixel_probability({"a": a, "b": b}) for a, b in zip(fresh.scores["a"], fresh.scores["b"])])
    bins = np.digitize(p, np.linspace(0, 1, 11)[1:-1])
    for k in range(10):
        m = bins == k
        if m.sum() > 200:
            assert abs(p[m].mean() - fresh.labels[m].mean()) < 0.05


def _ev(source, score, weight="pixel", kind="detector"):
    return Evidence(source=source, kind=kind, score=score, summary=f"{source} says {score}", weight=weight)


def test_labels_and_inconclusive_band(synthetic_calibration):
    # the "real" cut from the calibration split alone (wild=None: no never-seen sources to go by)
    fuser = Fuser(["a", "b"], fpr=0.01, calibration=synthetic_calibration(), wild=None)
    ev = [_ev("a", 0.9), _ev("b", 0.6)]
    fake = fuser.decide(ev, {"a": 6.0, "b": 3.0})
    real = fuser.decide(ev, {"a": -6.0, "b": -3.0})
    mid = fuser.decide(ev, {"a": 0.0, "b": 0.0})
    assert fake.label == "ai-generated" and fake.p_fake > 0.99
    assert real.label == "real" and real.p_fake < 0.01
    assert mid.label == "inconclusive"
    assert "threshold" in fake.explanation and "1%" in fake.explanation
    assert "between" in mid.explanation


def test_missing_pixel_scores_are_inconclusive(synthetic_calibration):
    fuser = Fuser(["a", "b"], calibration=synthetic_calibration())
    d = fuser.decide([], {})
    assert d.label == "inconclusive" and d.p_fake == pytest.approx(0.5)
    assert "could not score" in d.explanation


def test_partial_scores_fuse_the_detectors_that_could_score(synthetic_calibration):
    # a detector that gives no evidence on this image (e.g. rigid below 64 px) leaves the others,
    # fused by a stacker fitted on the same calibration split for just them
    cal = synthetic_calibration(5000, seed=0)
    fuser = Fuser(["a", "b"], calibration=cal)
    only_a = Fuser(["a"], calibration=cal)
    for a in (-6.0, 0.0, 5.0):
        d = fuser.decide([], {"a": a})
        want = only_a.decide([], {"a": a})
        assert d.p_fake == pytest.approx(want.p_fake) and d.label == want.label and d.threshold == want.threshold
    assert fuser.decide([], {"a": 6.0}).label == "ai-generated"


def test_strong_provenance_decides_and_weak_never_flips(synthetic_calibration):
    fuser = Fuser(["a", "b"], calibration=synthetic_calibration())
    strong = _ev("c2pa", 1.0, weight="strong", kind="provenance")
    d = fuser.decide([strong], {"a": -6.0, "b": -3.0})
    assert d.label == "ai-generated" and d.p_fake == 1.0 and "disagree" in d.explanation
    # a weak "real" cue cannot turn a confident fake into real
    weak = _ev("exif", 0.0, weight="weak", kind="provenance")
    d2 = fuser.decide([weak], {"a": 1.2, "b": 0.6})
    base = fuser.decide([], {"a": 1.2, "b": 0.6})
    assert d2.p_fake < base.p_fake
    assert not (base.label == "ai-generated" and d2.label == "real")


def test_bad_options_are_usage_errors(synthetic_calibration):
    cal = synthetic_calibration()
    with pytest.raises(UsageError):
        Fuser(["a"], fpr=0.0, calibration=cal)
    with pytest.raises(UsageError, match="no calibration scores"):
        Fuser(["nope"], calibration=cal)


def test_thumbnails_and_full_resolution_are_calibrated_apart():
    """CIFAR-size images get their own stacker and threshold (their scores live on another scale)."""
    rng = np.random.default_rng(3)
    n = 400
    y = np.r_[np.zeros(n), np.ones(n), np.zeros(n), np.ones(n)].astype(np.int64)
    # thumbnails: fakes separated by +4 on 'a'; full-res: by +1 on 'a', around another centre
    a = np.r_[rng.normal(0, 1, n), rng.normal(4, 1, n), rng.normal(10, 1, n), rng.normal(11, 1, n)]
    groups = ("cifake",) * (2 * n) + ("photos",) * (2 * n)
    cal = CalibrationSet(split="s", labels=y, groups=groups, scores={"a": a})
    fuser = Fuser(["a"], calibration=cal)
    assert fuser.pixel_probability({"a": 4.0}, min_side=32) > 0.9  # a clear fake thumbnail
    assert fuser.pixel_probability({"a": 4.0}, min_side=512) < 0.1  # far below full-res reals
    assert fuser.operating_point_for(32).threshold != fuser.operating_point_for(512).threshold
    assert fuser.operating_point_for(512) == fuser.operating_point
    assert fuser.operating_point.n_real == n


def test_native_and_made_thumbnails_weigh_equally_in_the_thumbnail_stacker():
    """2,000 native thumbnails on which detector 'b' ranks backwards must not turn 'b' against the few
    thumbnails made of larger images, on which it is the better detector (the CIFAKE trap)."""
    from fakescope.regimes import MADE_THUMBNAIL

    rng = np.random.default_rng(5)
    n, k, f = 1000, 40, 300
    y = np.r_[np.zeros(n), np.ones(n), np.zeros(k), np.ones(k), np.zeros(f), np.ones(f)].astype(np.int64)
    # native: 'a' separates, 'b' backwards; made: 'a' barely, 'b' clearly; full resolution: both
    a = np.r_[rng.normal(0, 1, n), rng.normal(3, 1, n), rng.normal(0, 1, k), rng.normal(0.3, 1, k),
              rng.normal(0, 1, f), rng.normal(2, 1, f)]
    b = np.r_[rng.normal(0, 1, n), rng.normal(-1.0, 1, n), rng.normal(0, 1, k), rng.normal(3, 1, k),
              rng.normal(0, 1, f), rng.normal(2, 1, f)]
    variants = ("original",) * (2 * n) + (MADE_THUMBNAIL,) * (2 * k) + ("original",) * (2 * f)
    sides = (32,) * (2 * n) + (48,) * (2 * k) + (512,) * (2 * f)
    kw = dict(split="s", labels=y, groups=("g",) * y.size, scores={"a": a, "b": b}, min_side=sides)
    weighted = Fuser(["a", "b"], calibration=CalibrationSet(**kw, variants=variants))
    plain = Fuser(["a", "b"], calibration=CalibrationSet(**kw))
    assert CalibrationSet(**kw, variants=variants).fit_weights()[2 * n:2 * (n + k)].sum() == \
        pytest.approx(CalibrationSet(**kw, variants=variants).fit_weights()[:2 * n].sum())
    made = slice(2 * n, 2 * (n + k))

    def auc(fuser):
        p = np.array([fuser.pixel_probability({"a": u, "b": v}, min_side=48) for u, v in zip(a[made], b[made])])
        return float(np.mean(p[y[made] == 1][:, None] > p[y[made] == 0][None, :]))

    assert plain._models["thumbnail"].weights[1] < 0 < weighted._models["thumbnail"].weights[1]
    assert auc(weighted) > auc(plain) + 0.1
    # full resolution is fitted as before: every row weighs 1 there
    assert weighted.pixel_probability({"a": 1.0, "b": 1.0}, min_side=512) == \
        pytest.approx(plain.pixel_probability({"a": 1.0, "b": 1.0}, min_side=512))


def test_held_out_decoder_rows_are_not_fitted_on(synthetic_calibration):
    base = synthetic_calibration(1000, seed=0)
    rng = np.random.default_rng(3)
    k = 300  # fakes that only "a" sees, as spectral sees the held-out decoders' reconstructions
    extra = CalibrationSet(
        split="synthetic", labels=np.r_[base.labels, np.ones(k, np.int64)],
        groups=base.groups + ("heldout:ae-x",) * k,
        scores={"a": np.r_[base.scores["a"], rng.normal(8.0, 1.0, k)], "b": np.r_[base.scores["b"], rng.normal(-0.5, 1.0, k)]})
    assert extra.fit_mask().sum() == base.labels.size
    f0, f1 = Fuser(["a", "b"], calibration=base), Fuser(["a", "b"], calibration=extra)
    for a, b in ((0.3, -1.0), (2.5, 0.4), (-3.0, 1.0)):
        assert f1.pixel_probability({"a": a, "b": b}) == f0.pixel_probability({"a": a, "b": b})
    assert f1.operating_point == f0.operating_point
    # a fusion that did fit them would move
    plain = CalibrationSet(split="synthetic", labels=extra.labels, groups=("g",) * extra.labels.size,
                           scores=extra.scores)
    assert Fuser(["a", "b"], calibration=plain).pixel_probability({"a": 2.5, "b": 0.4}) != \
        f0.pixel_probability({"a": 2.5, "b": 0.4})


# --- honest labels: the "real" cut from never-seen sources, and the coverage guard ------------------

def _wild(n: int = 60, seed: int = 3):
    """Wild rows: reals as in the calibration, three never-seen fake sources (one scoring much like
    the reals), and one seen-source fake group that must not count; two conditions."""
    from fakescope.fusion import WildScores

    rng = np.random.default_rng(seed)
    groups = [("photos", 0, -2.0, -0.5, False), ("gen-x", 1, 2.0, 0.5, True), ("gen-y", 1, 0.0, 0.0, True),
              ("gen-z", 1, 0.5, 0.0, True), ("seen", 1, -3.0, -1.0, False)]
    lab = np.concatenate([np.full(n, g[1]) for g in groups]).astype(np.int64)
    a = np.concatenate([rng.normal(g[2], 1.0, n) for g in groups])
    b = np.concatenate([rng.normal(g[3], 1.0, n) for g in groups])
    units = tuple(u for g in groups for u in [g[0]] * n)
    unseen = np.concatenate([np.full(n, g[4]) for g in groups])
    conds = tuple(["stored", "web"] * (len(groups) * n // 2))
    return WildScores(labels=lab, units=units, unseen=unseen, conditions=conds, min_side=np.full(lab.size, 512),
                      scores={"a": a, "b": b})


def test_real_cut_keeps_every_never_seen_source_mostly_out_of_real(synthetic_calibration):
    from fakescope.fusion import real_rule

    cal = synthetic_calibration(2000)
    wild = _wild()
    plain = Fuser(["a", "b"], calibration=cal, wild=None)
    honest = Fuser(["a", "b"], calibration=cal, wild=wild)
    assert plain.operating_point.real_basis == "calibration"
    op = honest.operating_point
    assert op.real_basis == "unseen sources" and op.unseen_miss == 0.10 and op.real_margin >= 0
    assert op.real_threshold < plain.operating_point.real_threshold
    # at most 10% of each never-seen source's fakes below the cut, in each condition
    p = np.array([honest.pixel_probability({"a": a, "b": b}) for a, b in zip(wild.scores["a"], wild.scores["b"])])
    units, conds = np.asarray(wild.units), np.asarray(wild.conditions)
    for u in ("gen-x", "gen-y", "gen-z"):
        for c in ("stored", "web"):
            m = (units == u) & (conds == c)
            assert np.mean(p[m] < op.real_threshold) <= 0.10
    # the seen-source group (scoring lowest of all) did not count; the rule is the one real_rule states
    m = wild.unseen & (wild.labels == 1)
    cut, margin = real_rule(p[m], units[m], q=0.10, min_n=10, cells=conds[m])
    assert op.real_threshold == pytest.approx(cut) and op.real_margin == margin
    # leaving each unit out, the cut fitted on the others keeps that unit's fakes mostly out of "real"
    for u in ("gen-x", "gen-y", "gen-z"):
        keep = m & (units != u)
        c_u, _ = real_rule(p[keep], units[keep], q=0.10, min_n=10, cells=conds[keep])
        left = (units == u)
        assert all(np.mean(p[left & (conds == c)] < c_u) <= 0.10 for c in ("stored", "web")) or margin == 4.0
    # a score the calibration-only rule calls real is inconclusive now, and the explanation says why
    between = [{"a": a, "b": a / 4} for a in np.linspace(-6, 2, 161)
               if op.real_threshold <= honest.pixel_probability({"a": a, "b": a / 4}) < plain.operating_point.real_threshold]
    assert between
    z_mid = between[len(between) // 2]
    assert plain.decide([_ev("a", 0.1)], z_mid).label == "real"
    d = honest.decide([_ev("a", 0.1)], z_mid)
    assert d.label == "inconclusive" and "not proof" in d.explanation
    deep = honest.decide([_ev("a", 0.0)], {"a": -12.0, "b": -4.0})
    assert deep.label == "real" and "never saw" in deep.explanation


def test_real_cut_needs_the_wild_rows_of_every_fused_detector(synthetic_calibration):
    import dataclasses

    cal = synthetic_calibration(1000)
    cal = CalibrationSet(split="s", labels=cal.labels, groups=cal.groups,
                         scores={**cal.scores, "c": cal.scores["a"] * 0.5})
    f = Fuser(["a", "c"], calibration=cal, wild=_wild())  # no wild scores for "c"
    op = f.operating_point
    # no held-out rule for this set: pixels never say real, however low the score, and the text says why
    assert op.real_basis == "not established" and op.real_threshold == 0.0 and "c on the fakes" in op.real_note
    d = f.decide([_ev("a", 0.0)], {"a": -5.0, "c": -2.5})
    assert d.p_fake < 1e-3 and d.label == "inconclusive"
    assert "never say real" in d.explanation and "weights/wild.json" in d.explanation
    # the calibration-only rule (wild=None) would have called it real
    assert Fuser(["a", "c"], calibration=cal, wild=None).decide([_ev("a", 0.0)], {"a": -5.0, "c": -2.5}).label == "real"
    # wild rows with every detector but too few never-seen fakes (under 5 of any source): no rule either
    wild = _wild()
    few = np.flatnonzero(wild.unseen & (wild.labels == 1))
    keep = np.ones(wild.labels.size, bool)
    for u in ("gen-x", "gen-y", "gen-z"):
        keep[few[np.asarray(wild.units)[few] == u][4:]] = False
    thin = dataclasses.replace(wild, labels=wild.labels[keep], units=tuple(np.asarray(wild.units)[keep]),
                               unseen=wild.unseen[keep], conditions=tuple(np.asarray(wild.conditions)[keep]),
                               min_side=wild.min_side[keep], scores={k: v[keep] for k, v in wild.scores.items()})
    op = Fuser(["a", "b"], calibration=cal, wild=thin).operating_point
    assert op.real_basis == "not established" and op.real_threshold == 0.0 and "5 or more" in op.real_note


def test_scores_where_the_detectors_disagree_beyond_coverage_are_inconclusive(synthetic_calibration):
    cal = synthetic_calibration(2000)
    f = Fuser(["a", "b"], calibration=cal, wild=None)
    ev = [_ev("a", 0.9), _ev("b", 0.2)]
    # every detector surer than on any calibration image: along the decision direction, not outside
    sure = {"a": 12.0, "b": 6.0}
    assert f.outside_coverage(sure) is None and f.decide(ev, sure).label == "ai-generated"
    # the detectors disagree far more than ever: inconclusive, with that reason
    w = {"a": 14.0, "b": -40.0}
    why = f.outside_coverage(w)
    assert why is not None and "disagree" in why
    d = f.decide(ev, w)
    assert d.label == "inconclusive" and "disagree" in d.explanation and "extrapolation" in d.explanation
    # provenance still decides
    strong = _ev("c2pa", 1.0, weight="strong", kind="provenance")
    assert f.decide(ev + [strong], w).label == "ai-generated"
    # one detector: no direction across the decision, nothing is outside
    assert Fuser(["a"], calibration=cal, wild=None).outside_coverage({"a": 1e6}) is None


def test_wild_scores_file_errors_are_clear(tmp_path):
    import json

    from fakescope.errors import WeightsError
    from fakescope.fusion import WildScores

    p = tmp_path / "wild.json"
    p.write_text(json.dumps({"labels": [0, 1], "units": ["a"], "unseen": [False, True], "conditions": ["s", "s"],
                             "min_side": [64, 64], "scores": {"a": [0.1, 0.2]}}))
    with pytest.raises(WeightsError, match="unequal"):
        WildScores.from_json(p)
    p.write_text("{not json")
    with pytest.raises(WeightsError, match="cannot read"):
        WildScores.from_json(p)
    with pytest.raises(WeightsError, match="not found"):
        WildScores.from_json(tmp_path / "none.json")


def test_a_compression_class_whose_reals_score_high_gets_a_raised_threshold_only(synthetic_calibration):
    import dataclasses

    cal = synthetic_calibration(2000)
    base = _wild(n=200)
    rng = np.random.default_rng(5)
    n = base.labels.size
    comp = np.array(["jpeg"] * n, dtype=object)
    reals = np.flatnonzero(base.labels == 0)
    webp = reals[: reals.size // 2]
    comp[webp] = "webp-lossy"
    scores = {k: v.copy() for k, v in base.scores.items()}
    scores["a"][webp] += 3.0  # lossy WebP makes these real photos look fake to detector "a"
    scores["b"][webp] += rng.normal(0.5, 0.1, webp.size)
    wild = dataclasses.replace(base, scores=scores, compression=tuple(comp.tolist()))
    f = Fuser(["a", "b"], calibration=cal, wild=wild)
    plain = f.operating_point
    raised = f.operating_point_for(512, "webp-lossy")
    assert raised.condition == "webp-lossy" and raised.threshold > plain.threshold
    assert raised.n_condition_reals == webp.size and raised.real_threshold == plain.real_threshold
    assert f.operating_point_for(512, "jpeg") == plain and f.operating_point_for(512, None) == plain
    # at most 1% of those reals flagged at their threshold
    p = np.array([f.pixel_probability({"a": scores["a"][i], "b": scores["b"][i]}) for i in webp])
    assert np.mean(p >= raised.threshold) <= 0.01
    # a score between the two thresholds: ai-generated as JPEG, not as lossy WebP, and the reason names WebP
    mid = next({"a": a, "b": a / 4} for a in np.linspace(0, 12, 241)
               if plain.threshold <= f.pixel_probability({"a": a, "b": a / 4}) < raised.threshold)
    assert f.decide([_ev("a", 0.9)], mid, compression="jpeg").label == "ai-generated"
    d = f.decide([_ev("a", 0.9)], mid, compression="webp-lossy")
    assert d.label == "inconclusive" and d.threshold == raised.threshold and "lossy WebP" in d.explanation
    hi = f.decide([_ev("a", 1.0)], {"a": 30.0, "b": 8.0}, compression="webp-lossy")
    assert hi.label == "ai-generated" and "lossy WebP" in hi.explanation


def test_a_size_class_is_judged_on_its_own_reals(synthetic_calibration):
    """Small web copies of photos (a 256-px JPEG) look fake far more often than the photos: each size class
    with enough held-out reals takes the threshold that flags at most 1% of them (never below the plain one),
    so the large photos are not judged by the small copies' threshold, nor the small copies by theirs."""
    import dataclasses

    cal = synthetic_calibration(2000)
    base = _wild(n=600)
    n = base.labels.size
    reals = np.flatnonzero(base.labels == 0)
    small = reals[: reals.size // 2]  # 300 reals at 200 px score high; the other 300 at 512 px do not
    large_reals = reals[reals.size // 2:]
    min_side = np.full(n, 512)
    min_side[small] = 200
    scores = {k: v.copy() for k, v in base.scores.items()}
    scores["a"][small] += 2.0
    wild = dataclasses.replace(base, scores=scores, compression=tuple(["jpeg"] * n), min_side=min_side)
    f = Fuser(["a", "b"], calibration=cal, wild=wild)
    plain = f.operating_point
    medium, large = f.operating_point_for(200, "jpeg"), f.operating_point_for(512, "jpeg")
    assert medium.condition == "jpeg@160-319" and medium.n_condition_reals == small.size
    assert large.condition == "jpeg@480+" and large.n_condition_reals == large_reals.size
    assert plain.threshold <= large.threshold < medium.threshold
    for idx, op in ((small, medium), (large_reals, large)):  # at most 1% of each class's reals flagged
        p = np.array([f.pixel_probability({"a": scores["a"][i], "b": scores["b"][i]}) for i in idx])
        assert np.mean(p >= op.threshold) <= 0.01
    # the compression class pooled over sizes (raised by the small copies) holds where no size class was judged
    pooled = f.operating_point_for(100, "jpeg")
    assert pooled.condition == "jpeg" and large.threshold < pooled.threshold
    mid = next({"a": a, "b": a / 4} for a in np.linspace(0, 12, 241)
               if large.threshold <= f.pixel_probability({"a": a, "b": a / 4}) < medium.threshold)
    assert f.decide([_ev("a", 0.9)], mid, min_side=512, compression="jpeg").label == "ai-generated"
    d = f.decide([_ev("a", 0.9)], mid, min_side=200, compression="jpeg")
    assert d.label == "inconclusive" and d.threshold == medium.threshold
    hi = f.decide([_ev("a", 1.0)], {"a": 30.0, "b": 8.0}, min_side=200, compression="jpeg")
    assert hi.label == "ai-generated" and "160-319 px on the smaller side" in hi.explanation


def test_where_never_seen_fakes_rank_below_real_photos_pixels_never_say_real(synthetic_calibration):
    import dataclasses

    cal = synthetic_calibration(2000)
    base = _wild()
    inverted = {k: np.where(base.unseen & (base.labels == 1), v - 6.0, v) for k, v in base.scores.items()}
    f = Fuser(["a", "b"], calibration=cal, wild=dataclasses.replace(base, scores=inverted))
    op = f.operating_point
    assert op.real_threshold == 0.0 and op.real_margin == float("inf") and op.real_basis == "unseen sources"
    d = f.decide([_ev("a", 0.0)], {"a": -12.0, "b": -4.0})
    assert d.label == "inconclusive" and "never say real" in d.explanation
    assert f.decide([_ev("a", 1.0)], {"a": 12.0, "b": 4.0}).label == "ai-generated"


def test_a_set_without_a_held_out_real_rule_never_says_real_for_a_low_scoring_fake(data_dir):
    """A real fake (a big-sleep image: BigGAN steered by CLIP) scanned with rine-adv alone, a non-default detector
    with no scores on never-seen sources (weights/wild.json): it scores low, the calibration-only rule would have
    called it real; the scan says inconclusive and why."""
    from fakescope.pipeline import Scanner

    path = data_dir / "modern" / "lucidrains__big-sleep" / "samples_a_lantern_dangling_from_the_tree_in_a_foggy_graveyard.png"
    v = Scanner(["rine-adv"], attribution=False).scan_path(str(path))
    assert v.status == "ok" and v.p_fake < 0.3 < v.threshold
    assert v.label == "inconclusive"
    assert "never say real" in v.explanation and "rine-adv" in v.explanation and "never saw" in v.explanation
    det = next(e for e in v.evidence if e.source == "rine-adv")
    raw = {"rine-adv": det.details["raw"]}
    # how low a score the calibration-only rule (no never-seen sources) would call real depends on the weights;
    # at a clearly low raw score it says real, the scan's rule for this set still does not
    low = {"rine-adv": min(raw["rine-adv"], -20.0)}
    calibration_only = Fuser(["rine-adv"], wild=None)
    assert calibration_only.decide([det], low, min_side=min(v.width, v.height)).label == "real"
    assert Fuser(["rine-adv"]).decide([det], low, min_side=min(v.width, v.height)).label == "inconclusive"
    # the default sets' rule was established on never-seen sources (left out one at a time): unchanged
    default = Fuser.default()
    assert {default.operating_point_for(s).real_basis for s in (32, 1024)} == {"unseen sources"}
