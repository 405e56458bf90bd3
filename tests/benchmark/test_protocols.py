"""Every protocol end to end on tiny real datasets: reports, keys, tables, the cache and resuming."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from fakescope.benchmark import load_config, run_config
from fakescope.benchmark.protocols import fit_stacker, predict_stacker, wilson_interval
from fakescope.benchmark.runner import parse_condition_spec, select_items
from fakescope.errors import MissingDependencyError, UsageError
from fakescope.io.datasets import DatasetItem

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "bench"
NPR = ["npr"]  # one fast detector for most tests; the robustness test uses the default set


def check_reports(out: Path, report: dict, protocol: str) -> str:
    for name in ("report.json", "report.md", "report.html"):
        assert (out / name).is_file() and (out / name).stat().st_size > 200, name
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    for key in ("fakescope_version", "protocol", "created", "seed", "config", "dataset", "detectors", "conditions",
                "results", "tables", "figures", "runtime", "environment"):
        assert key in report, key
    assert report["protocol"] == protocol
    assert len(report["dataset"]["manifest_hash"]) == 64
    for d in report["detectors"]:
        assert d["name"] and len(d["sha256"]) == 64
    md = (out / "report.md").read_text()
    for t in report["tables"]:
        assert f"## {t['title']}" in md
        assert all(len(row) == len(t["columns"]) for row in t["rows"])
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(report["figures"]) >= 1
    assert "<script" not in html and "http://" not in html and "https://" not in html
    return md


def test_robustness_end_to_end_and_resume(tiny_folder, tmp_path):
    cfg = {"protocol": "robustness", "seed": 3, "data": {"path": str(tiny_folder)}, "metrics": {"bootstrap": 30},
           "severities": [1, 4], "perturbations": ["jpeg", {"name": "gaussian-blur", "label": "blur"}],
           "domains": {"cifake8": "tiny"}}
    out = tmp_path / "rob"
    r = run_config(cfg, out_dir=out, progress=False)
    md = check_reports(out, r, "robustness")
    assert [c["id"] for c in r["conditions"]] == ["clean", "jpeg@1", "jpeg@4", "blur@1", "blur@4"]
    assert r["dataset"]["n_real"] == 8 and r["dataset"]["n_fake"] == 8
    models = r["results"]["models"]
    from fakescope.fusion import default_detectors

    assert set(default_detectors()) <= set(models) and "fused" in models
    per = r["results"]["per_model"]["fused"]
    assert 0.5 < per["clean"]["auc"] <= 1.0
    assert per["blur@4"]["mean_abs_dp"] > per["blur@1"]["mean_abs_dp"]
    assert per["clean"]["auc_ci"]["low"] <= per["clean"]["auc"] <= per["clean"]["auc_ci"]["high"]
    assert per["jpeg@4"]["drop_auc"] == pytest.approx(per["clean"]["auc"] - per["jpeg@4"]["auc"], abs=1e-3)
    assert "AUC under perturbation — fused" in md and "| blur |" in md
    dom = r["results"]["per_domain"]["tiny"]
    assert (dom["n_real"], dom["n_fake"]) == (8, 8)
    assert dom["models"]["fused"]["clean"]["auc"] == per["clean"]["auc"]  # one domain: the same images
    assert "fused, tiny images only" in md
    jpeg4 = next(c for c in r["conditions"] if c["id"] == "jpeg@4")
    lo, hi = jpeg4["param_ranges"]["0:jpeg.quality"]
    assert 50 <= lo <= hi <= 64  # severity 4 draws quality 50-64
    n_dets = len(r["detectors"])
    # each image decoded once, each perturbed image made once and shared by every detector
    assert r["runtime"]["decoded"] == 16 and r["runtime"]["perturbed"] == 16 * 5
    assert r["runtime"]["computed"] == 16 * 5 * n_dets
    lines = (out / "cache.jsonl").read_text().splitlines()
    assert len(lines) == 16 * 5 * n_dets
    # a killed run leaves a half-written line: resuming ignores it and does no detector work again
    with open(out / "cache.jsonl", "a") as f:
        f.write('{"image": "abc", "chain": ')
    again = run_config(cfg, out_dir=out, progress=False)
    assert again["runtime"]["computed"] == 0 and again["runtime"]["decoded"] == 0
    assert again["runtime"]["cache_hits"] == 16 * 5 * n_dets
    assert again["results"] == r["results"] and again["tables"] == r["tables"]


def test_format_bias_end_to_end(tiny_folder, tmp_path):
    cfg = {"protocol": "format_bias", "seed": 1, "data": {"path": str(tiny_folder)}, "metrics": {"bootstrap": 20}}
    r = run_config(cfg, detectors=NPR, out_dir=tmp_path, progress=False)
    check_reports(tmp_path, r, "format-bias")
    per = r["results"]["per_model"]["npr"]
    assert list(per) == ["preset:png", "preset:jpeg-95", "preset:jpeg-75", "preset:webp-80"]
    assert per["preset:png"]["mean_abs_dp"] == 0.0 and per["preset:png"]["flip@0.5"] == 0.0
    assert per["preset:jpeg-75"]["mean_abs_dp"] > 0.0
    assert "flip@op" in r["results"]["per_model"]["fused"]["preset:webp-80"]
    assert {t["key"] for t in r["tables"]} >= {"format_npr", "format_fused", "by_source_format"}


def test_calibration_end_to_end(tiny_folder, tmp_path):
    cfg = {"protocol": "calibration", "seed": 1, "data": {"path": str(tiny_folder)}, "metrics": {"bootstrap": 20},
           "fprs": [0.01, 0.05, 0.1]}
    r = run_config(cfg, detectors=NPR, out_dir=tmp_path, progress=False)
    check_reports(tmp_path, r, "calibration")
    assert sum(r["results"]["reliability"]["fused"]["count"]) == 16
    reached = r["results"]["reached_fpr"]["fused"]
    assert list(reached) == ["0.01", "0.05", "0.1"]
    for regime in ("thumbnail", "full"):
        thresholds = [reached[k]["threshold"][regime] for k in reached]
        assert thresholds == sorted(thresholds, reverse=True)  # asking for more false positives lowers the bar
    for v in reached.values():
        assert 0.0 <= v["reached_fpr"] <= 1.0 and v["reached_fpr_ci"][0] <= v["reached_fpr"] <= v["reached_fpr_ci"][1]
        assert v["n_real"] == 8


def test_preprocessing_end_to_end(tiny_folder, tmp_path):
    cfg = {"protocol": "preprocessing", "seed": 1, "data": {"path": str(tiny_folder)}, "metrics": {"bootstrap": 0}}
    r = run_config(cfg, detectors=NPR, out_dir=tmp_path, progress=False)
    check_reports(tmp_path, r, "preprocessing")
    per = r["results"]["per_model"]["npr"]
    assert per["native"]["mean_abs_dp"] == 0.0
    assert per["preset:center-crop-224"]["mean_abs_dp"] == 0.0  # 32px images: the crop keeps them whole
    assert per["preset:resize-224"]["mean_abs_dp"] > 0.0


def test_min_side_filter_skips_small_images(tiny_manifest, tmp_path):
    cfg = {"protocol": "preprocessing", "seed": 1, "data": {"path": str(tiny_manifest), "min_side": 64},
           "metrics": {"bootstrap": 0}, "conditions": ["center-crop-224"]}
    r = run_config(cfg, detectors=NPR, out_dir=tmp_path, progress=False, html=False)
    assert r["runtime"]["skipped_small"] == 12  # the CIFAKE 32x32 images
    assert r["results"]["per_model"]["npr"]["native"]["n"] == 14
    assert not (tmp_path / "report.html").exists()


def test_cross_generator_end_to_end(tiny_manifest, tmp_path):
    cfg = {"protocol": "cross-generator", "seed": 2, "data": {"path": str(tiny_manifest)},
           "metrics": {"bootstrap": 0}, "min_fakes": 3, "domains": {"cifake": "cifake", "modern": "full-res"}}
    r = run_config(cfg, detectors=NPR, out_dir=tmp_path, progress=False)
    md = check_reports(tmp_path, r, "cross-generator")
    assert r["results"]["groups"] == ["CIFAKE-SD", "LDM", "StyleGAN2 hands"]
    ldm = r["results"]["per_group"]["LDM"]
    assert ldm["n_fake"] == 4 and ldm["n_real"] == 6 and ldm["domains"] == ["full-res"]
    assert r["results"]["per_group"]["CIFAKE-SD"]["n_real"] == 6
    assert 0.0 <= ldm["stacker_held_out"]["auc"] <= 1.0
    # one detector: each fold's stacker is a monotone map of it, so the held-out AUC stays close to the
    # detector's own (pooling the two folds' maps moves it a little) unless the fit flips its sign
    auc_det = ldm["detector_auc"]["npr"]
    auc_st = ldm["stacker_held_out"]["auc"]
    assert min(abs(auc_st - auc_det), abs(auc_st - (1 - auc_det))) <= 0.1
    m = r["results"]["train_on_one"]["tpr@target"]
    assert len(m) == 3 and all(len(row) == 3 for row in m)
    assert "Leave one generator out" in md


def test_chronological_end_to_end(tiny_manifest, tmp_path):
    cfg = {"protocol": "chronological", "seed": 2, "data": {"path": str(tiny_manifest)}, "metrics": {"bootstrap": 0},
           "min_past_fakes": 3, "dates": {"StyleGAN2 hands": "2020-01", "LDM": "2022-04", "CIFAKE-SD": "2022-08"},
           "domains": {"cifake": "cifake", "modern": "full-res"}}
    r = run_config(cfg, detectors=NPR, out_dir=tmp_path, progress=False)
    check_reports(tmp_path, r, "chronological")
    assert r["results"]["periods"] == ["2020", "2022"]
    p20, p22 = r["results"]["per_period"]["2020"], r["results"]["per_period"]["2022"]
    assert p20["past_fit"] is None and p20["n_test_fake"] == 4
    assert p22["n_past_fake"] == 4 and p22["n_test_fake"] == 10 and p22["past_fit"]["n_real"] == 12
    month = run_config({**cfg, "granularity": "month"}, detectors=NPR, out_dir=tmp_path / "m", progress=False,
                       html=False)
    assert month["results"]["periods"] == ["2020-01", "2022-04", "2022-08"]


def test_missing_matplotlib_still_writes_json_and_markdown(tiny_folder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes `from matplotlib.figure import ...` fail
    cfg = {"protocol": "calibration", "seed": 1, "data": {"path": str(tiny_folder)}, "metrics": {"bootstrap": 0}}
    with pytest.raises(MissingDependencyError, match=r"matplotlib.*fakescope\[bench\]"):
        run_config(cfg, detectors=NPR, out_dir=tmp_path, progress=False)
    assert json.loads((tmp_path / "report.json").read_text())["protocol"] == "calibration"
    assert "## Calibration of p_fake" in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "report.html").exists()


def test_shipped_configs_parse_and_name_valid_perturbations():
    names = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
    assert names == ["calibration", "chronological", "cross_generator", "format_bias", "preprocessing", "robustness",
                     "video"]
    for n in names:
        cfg = load_config(CONFIGS / f"{n}.yaml")
        assert cfg["protocol"] == n.replace("_", "-")
        for e in cfg.get("perturbations", []):
            assert parse_condition_spec(e, cfg.get("severities", [1, 3, 5]))
        for key in ("containers", "conditions"):
            for e in cfg.get(key, []):
                assert parse_condition_spec({"preset": e}, [3])
    rob = load_config(CONFIGS / "robustness.yaml")
    assert len(rob["perturbations"]) >= 12 and rob["data"]["splits"] == ["test"]


def test_config_errors(tmp_path):
    with pytest.raises(UsageError, match="unknown protocol 'speed'; valid: .*robustness"):
        load_config({"protocol": "speed"})
    with pytest.raises(UsageError, match="needs 'protocol'"):
        load_config({"seed": 1})
    bad = tmp_path / "c.yaml"
    bad.write_text("protocol: [robustness\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(UsageError, match="severities must be in 1..5"):
        parse_condition_spec({"name": "jpeg", "severities": [7]}, [1])


def test_no_items_left_is_a_clear_error(tiny_folder, tmp_path):
    cfg = {"protocol": "calibration", "data": {"path": str(tiny_folder), "sources": ["nothing"]}}
    with pytest.raises(UsageError, match="no images left"):
        run_config(cfg, detectors=NPR, out_dir=tmp_path, progress=False)


def test_select_items_is_deterministic_and_stratified():
    items = [DatasetItem(f"d/{i}.png", i % 2, source="a" if i < 60 else "b", relpath=f"{i}.png") for i in range(100)]
    a = select_items(items, max_per_class={"a": 5}, seed=1)
    b = select_items(list(reversed(items)), max_per_class={"a": 5}, seed=1)
    assert sorted(i.relpath for i in a) == sorted(i.relpath for i in b)
    assert sum(1 for i in a if i.source == "a") == 10 and sum(1 for i in a if i.source == "b") == 40
    c = select_items(items, max_per_class={"a": 5}, seed=2)
    assert {i.relpath for i in a} != {i.relpath for i in c}


def test_stacker_and_wilson_on_synthetic_scores():
    g = np.random.default_rng(0)
    x = np.r_[g.normal([0, 0], 1, (400, 2)), g.normal([2, 0], 1, (100, 2))]
    y = np.r_[np.zeros(400), np.ones(100)]
    m = fit_stacker(x, y)
    assert m["w"][0] > 1.0 and abs(m["w"][1]) < 0.3  # the useful feature carries the weight
    p = predict_stacker(m, x)
    assert abs(p[y == 0].mean() + p[y == 1].mean() - 1.0) < 0.1  # balanced classes: symmetric around 0.5
    assert predict_stacker(m, np.array([[np.nan, 0.0]]))[0] == 0.5
    lo, hi = wilson_interval(5, 100)
    assert lo < 0.05 < hi and wilson_interval(0, 0)[0] != wilson_interval(0, 0)[0]


def test_engine_scores_match_a_plain_scan(tiny_folder, tiny_manifest):
    """The harness's fused probability is the number `fakescope scan` reports from pixels (same regimes)."""
    from fakescope import Scanner
    from fakescope.benchmark.runner import Engine, clean_condition
    from fakescope.io.datasets import open_dataset

    scanner = Scanner(provenance=False)
    items = list(open_dataset(tiny_folder))[:3] + [i for i in open_dataset(tiny_manifest) if i.source == "modern"][:3]
    eng = Engine(list(scanner.detectors), fuser=scanner.fuser)
    s = eng.score(items, [clean_condition()])
    p = s.prob("clean", "fused")
    for it, pf in zip(items, p):
        v = scanner.scan_path(it.path)
        assert v.status == "ok" and v.p_fake == pytest.approx(pf, abs=1e-9), it.path
    assert set(s.side_of("clean")[:3]) == {32.0}


def test_missing_pyyaml_is_a_clear_error_but_json_configs_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(MissingDependencyError, match=r"pyyaml.*fakescope\[bench\]"):
        load_config(CONFIGS / "calibration.yaml")
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"protocol": "calibration", "seed": 4}))
    cfg = load_config(j)
    assert cfg["protocol"] == "calibration" and cfg["seed"] == 4 and cfg["_base"] == str(tmp_path)
