"""The ``calibrate`` build step: calibration rows from the frozen split, defaults chosen on held-out sources."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fakescope.build import calibrate as c
from fakescope.build.generalisation import source_aucs


def _tiny(shared_data):
    rows = c.calibration_rows(shared_data)
    pick = []
    for src in ("cifake", "modern", "photos"):
        for label in (0, 1):
            pick += [r for r in rows if r.source == src and r.label == label][:3]
    return pick


@pytest.fixture(scope="module")
def tiny_calibration(shared_data, tmp_path_factory):
    from fakescope.fusion import WILD_FILE

    recs = _tiny(shared_data)
    wild = json.loads(WILD_FILE.read_text())
    out = tmp_path_factory.mktemp("cal") / "calibration.json"
    d = c.write_calibration(shared_data, path=out, jobs=1, records=recs, wild=wild, inputs_sha256="xyz",
                            detectors=("npr", "spectral", "rine"))
    return recs, out, d


def test_calibrate_step_on_tiny_data(tiny_calibration):
    from fakescope.detectors import create_detector
    from fakescope.fusion import CalibrationSet, Fuser
    from fakescope.io.decode import load

    recs, out, d = tiny_calibration
    assert {r.label for r in recs if r.source != "cifake"} == {0, 1}
    n = 2 * len(recs)
    assert d["inputs_sha256"] == "xyz"
    assert d["variants"][:n] == [v for _ in recs for v in ("original", "jpeg90")]
    # then a thumbnail made of every image larger than one (CIFAKE's are thumbnails already)
    big = [r for i, r in enumerate(recs) if d["min_side"][2 * i] > 64]
    assert big and len(big) < len(recs)
    assert d["variants"][n:] == ["thumbnail-64"] * len(big) and d["keys"][n:] == [r.key for r in big]
    assert all(s <= 64 for s in d["min_side"][n:])
    # the rows are the scan's scores: the scan's decoder, the detector's own input policy
    npr = create_detector("npr")
    for i, r in enumerate(recs[:4]):
        img = load(r.path).image
        assert d["scores"]["npr"][2 * i] == pytest.approx(float(npr.raw_scores([img])[0]), abs=2e-6)
        j90 = c.CAL_CHAINS["jpeg90"].apply(img)
        assert d["scores"]["npr"][2 * i + 1] == pytest.approx(float(npr.raw_scores([j90])[0]), abs=2e-6)
    thumb = c.THUMBNAIL_CHAINS["thumbnail-64"].apply(load(big[0].path).image)
    assert max(thumb.shape[:2]) == 64
    assert d["scores"]["npr"][n] == pytest.approx(float(npr.raw_scores([thumb])[0]), abs=2e-6)
    # full resolution fuses two families at least; the choice and its leave-one-source-out check are recorded
    sel = d["default_selection"]
    assert len(d["default"]["full"]) >= 2 and d["default"]["thumbnail"]
    assert set(sel["nested_loso"]) == {"thumbnail", "full"}
    some = next(iter(sel["nested_loso"]["full"].values()))
    assert set(some) == {"members", "auc"} and len(some["members"]) >= 2
    cal = CalibrationSet.from_json(out)
    assert cal.regime_default["full"] == tuple(d["default"]["full"])
    fuser = Fuser(cal.default, calibration=cal, regime_detectors=cal.regime_default)
    assert 0.0 <= fuser.pixel_probability({n: 0.0 for n in cal.default}, min_side=512) <= 1.0


def test_the_one_standard_error_rule_takes_the_cheapest_near_the_best():
    aucs_best = {"stored": {"a": 0.90, "b": 0.80, "c": 0.70}}
    aucs_near = {"stored": {"a": 0.88, "b": 0.80, "c": 0.69}}
    aucs_far = {"stored": {"a": 0.60, "b": 0.55, "c": 0.50}}
    table = [{"members": ["x", "y", "z"], "aucs": aucs_best}, {"members": ["x", "y"], "aucs": aucs_near},
             {"members": ["x"], "aucs": aucs_far}]
    cost = {"x": 1.0, "y": 1.0, "z": 10.0}
    assert c._choose(table, cost)["members"] == ["x", "y"]
    assert c._choose(table, cost, one_se=False)["members"] == ["x", "y", "z"]
    # leaving a source out drops its AUC from every candidate's mean
    mean, se, worst = c._criterion(aucs_best, drop="c")
    assert mean == pytest.approx(0.85) and worst == pytest.approx(0.80) and se > 0


def test_source_aucs_need_enough_images_and_score_against_the_other_class():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(20), np.ones(10), np.ones(3)]
    src = np.array(["real"] * 20 + ["gen"] * 10 + ["tiny"] * 3)
    p = np.r_[rng.normal(0, 1, 20), rng.normal(3, 1, 10), rng.normal(0, 1, 3)]
    a = source_aucs(p, y, src, np.array(["stored"] * 33))["stored"]
    assert set(a) == {"real", "gen"}  # "tiny" has fewer than 5 images
    assert a["gen"] > 0.9


def test_shipped_default_was_chosen_by_the_rule_it_records():
    from fakescope.fusion import CALIBRATION_FILE, default_regime_detectors

    d = json.loads(CALIBRATION_FILE.read_text())
    sel = d["default_selection"]
    assert default_regime_detectors() == {r: tuple(sel["chosen"][r]["members"]) for r in ("thumbnail", "full")}
    full = sel["table"]["full"]
    best = max(r["mean_source_auc"] for r in full)
    chosen = sel["chosen"]["full"]
    assert chosen["mean_source_auc"] >= best - max(r["se"] for r in full if r["mean_source_auc"] == best) - 1e-12
    assert "leave-one-source-out" in sel["rule"] or "one standard error" in sel["rule"]


def test_cascade_step_scores_as_the_scan_and_refuses_without_a_plan(tiny_calibration, tmp_path):
    """Two-stage scores finish at the calibration file's; too few calibration rows to fit an exit: an error."""
    from fakescope.build import cascade as k
    from fakescope.errors import WeightsError
    from fakescope.fusion import CalibrationSet

    recs, out, d = tiny_calibration
    cal = CalibrationSet.from_json(out)
    names = cal.regime_default["full"]
    s = k.staged_rows(recs, names, jobs=1)
    for n in names:
        for i, v in enumerate(s[n]["full"]):
            if v is not None:
                assert v == pytest.approx(d["scores"][n][i], abs=2e-6)
        # thumbnails (CIFAKE) have no stages at all
        assert all(s[n]["full"][i] is None for i, m in enumerate(d["min_side"][:len(s[n]["full"])]) if m <= 64)
    with pytest.raises(WeightsError, match="no two-stage plan|rows are not"):
        k.write_cascade(path=tmp_path / "cascade.json", jobs=1, records=recs, calibration=out)
    with pytest.raises(WeightsError, match="rows are not"):
        k.write_cascade(path=tmp_path / "cascade.json", jobs=1, records=recs[:-1], calibration=out)


def test_default_sets_are_priced_by_the_committed_price_list(tiny_calibration, tmp_path):
    """The step reads its prices (bench/detector_costs.py's committed medians) instead of timing: a rebuild of
    the same inputs prices, and so picks, as the last build did."""
    from fakescope.errors import UsageError

    _, _, d = tiny_calibration
    listed = c.load_costs(["npr", "spectral", "rine"])
    sel = d["default_selection"]
    assert sel["ms_per_image_1024x768"] == listed["full"] and sel["ms_per_image_thumbnail_64"] == listed["thumbnail"]
    committed = json.loads(c.COSTS_FILE.read_text())
    assert set(committed["ms_per_image"]["full"]) >= set(c.SCORED_DETECTORS)
    partial = tmp_path / "costs.json"
    partial.write_text(json.dumps({"ms_per_image": {"full": {"npr": 1.0}, "thumbnail": {"npr": 1.0}}}))
    with pytest.raises(UsageError, match="no price for"):
        c.load_costs(["npr", "rine"], partial)
    with pytest.raises(UsageError, match="detector_costs.py"):
        c.load_costs(["npr"], tmp_path / "absent.json")


def test_cascade_prices_its_stages_from_the_committed_price_list():
    """The cascade's plan is priced, not timed: a member with two stages is half and half of its committed price,
    a single-stage member all first stage; the shipped plan's stage times are those."""
    from fakescope.build import cascade as k
    from fakescope.fusion import CASCADE_FILE

    listed = c.load_costs(["safe", "rine"])["full"]
    assert k.stage_ms(["safe", "rine"], ["rine"]) == {"safe": (listed["safe"], 0.0),
                                                      "rine": (listed["rine"] / 2, listed["rine"] / 2)}
    shipped = json.loads(CASCADE_FILE.read_text())
    members = list(shipped["members"])
    prices = c.load_costs(members)["full"]
    assert {n: tuple(v) for n, v in shipped["choice"]["stage_ms"].items()} == \
        k.stage_ms(members, [n for n, v in shipped["choice"]["stage_ms"].items() if v[1] > 0])
    assert shipped["choice"]["exhaustive_ms"] == pytest.approx(sum(prices.values()), abs=1e-3)
