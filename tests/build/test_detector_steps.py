"""The detector-training build steps (npr, spectral, safe/cnnspot/patchcraft, npr-thumb, probe) end to end on
tiny data, their recipes against the shipped cards, and the ensemble fitted by the calibrate step."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from fakescope.build import STEPS, steps
from fakescope.detectors.base import WEIGHTS_DIR, DetectorCard

NEW_STEPS = ("npr", "spectral", "safe", "cnnspot", "patchcraft", "npr-thumb", "probe")


def _small(recs, n):
    """The ``n`` records with the smallest files (fast to decode), in their original order."""
    import os

    keep = set(sorted(recs, key=lambda r: os.path.getsize(r.path))[:n])
    return [r for r in recs if r in keep]


@pytest.fixture(scope="module")
def tiny(shared_data, tmp_path_factory):
    """A few records of every split and source the steps read, and one auto-encoder's reconstructions."""
    from fakescope.build import aligned
    from fakescope.training.data import all_records

    recs = all_records(shared_data)
    pick = []
    for split, n_cif, n_full in (("train", 6, 2), ("calibration", 4, 1), ("test", 2, 1)):
        for label in (0, 1):
            pick += [r for r in recs if r.source == "cifake" and r.split == split and r.label == label][:n_cif]
            pick += _small([r for r in recs if r.source == "modern" and r.split == split and r.label == label
                            and not r.group.startswith("heldout")], n_full)
    ae = aligned.aligned_fakes(shared_data, records=pick, recipe={"steps": 2, "variants": ["nearest"], "max_side": 128},
                               work=tmp_path_factory.mktemp("aligned"), threads=1)
    return pick, ae


def test_steps_in_build_order_before_scoring():
    table = steps()
    assert list(table) == list(STEPS)
    order = list(STEPS)
    for name in NEW_STEPS:
        assert order.index("rine") < order.index(name) < order.index("wild") < order.index("calibrate")
        assert table[name].inputs(), name  # declared inputs: fingerprinted, skipped when unchanged
        assert table[name].output == WEIGHTS_DIR / f"{name}.json"
    # the ensemble is the calibrate step's output, not one of the detectors it scores
    assert '"ensemble"' not in table["calibrate"].extra()
    assert '"probe"' in table["calibrate"].extra()


def test_build_list_shows_the_new_steps(capsys):
    from fakescope.cli import main

    assert main(["build", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == list(STEPS)
    assert next(ln for ln in lines if ln.startswith("video ")).endswith("(after cascade)")  # the graph
    assert main(["build"]) == 2  # no step named


def test_recipes_are_the_shipped_cards():
    """The steps train with the recipe recorded in each shipped card (fixed step counts, no wall-clock limit)."""
    from fakescope.build import npr, zoo
    from fakescope.training.trainer import load_recipe

    want = DetectorCard.load(WEIGHTS_DIR / "npr.json").extra["recipe"]
    got = json.loads(json.dumps(npr.RECIPE.to_dict()))
    assert got == want and "time_limit_s" not in json.dumps(got)
    assert DetectorCard.load(WEIGHTS_DIR / "spectral.json").extra["recipe"]["spectral"] == got["spectral"]
    for name in (*zoo.FAMILIES, zoo.THUMB):
        card = DetectorCard.load(WEIGHTS_DIR / f"{name}.json")
        assert load_recipe(zoo.recipe_path(name)).to_dict() == card.extra["recipe"], name


def test_shipped_cards_record_their_build():
    table = steps()
    for name in NEW_STEPS:
        card = DetectorCard.load(WEIGHTS_DIR / f"{name}.json")
        build = card.metrics["build"]
        assert build["step"] == name and build["recipe"] and "reproduced" in build
        assert card.metrics["inputs_sha256"] == build["inputs_sha256"]
        assert table[name].up_to_date(), f"{name}: inputs changed since the shipped weights; run fakescope build {name}"
    ens = DetectorCard.load(WEIGHTS_DIR / "ensemble.json")
    assert ens.metrics["build"]["step"] == "calibrate"


def _tiny_recipe():
    from fakescope.build.npr import RECIPE

    return replace(RECIPE, npr=replace(RECIPE.npr, steps=3, batch_cifake=8, batch_crops=4),
                   spectral=replace(RECIPE.spectral, views_per_image=1, view_size=128, max_iter=5))


def test_npr_step_tiny(tiny, tmp_path):
    from fakescope.build.npr import INT8, build_npr
    from fakescope.detectors.npr import NPRDetector

    recs, ae = tiny
    card = build_npr(log=None, inputs_sha256="abc", out_dir=tmp_path, recipe=_tiny_recipe(),
                     int8={**INT8, "images": 6}, records=recs, aligned_records=ae, threads=1)
    assert {p.name for p in tmp_path.iterdir()} >= {"npr.onnx", "npr.int8.onnx", "npr.json"}
    saved = DetectorCard(**json.loads((tmp_path / "npr.json").read_text()))
    assert saved.weights == "npr.int8.onnx" and saved.extra["reference_weights"]["file"] == "npr.onnx"
    assert saved.metrics["inputs_sha256"] == "abc" and saved.metrics["build"]["recipe"]["recipe"]["npr"]["steps"] == 3
    assert set(saved.calibration) >= {"a", "b"} and card.sha256 == saved.sha256
    det = NPRDetector(replace(saved, weights=str(tmp_path / saved.weights), extra={
        **saved.extra, "reference_weights": {**saved.extra["reference_weights"], "file": str(tmp_path / "npr.onnx")}}))
    rng = np.random.default_rng(0)
    s = det.raw_scores([rng.integers(0, 256, (40, 40, 3), np.uint8), rng.integers(0, 256, (200, 150, 3), np.uint8)])
    assert np.all(np.isfinite(s))


def test_spectral_step_tiny(tiny, tmp_path):
    from fakescope.build.spectral import build_spectral

    recs, ae = tiny
    card = build_spectral(inputs_sha256="abc", out_dir=tmp_path, recipe=_tiny_recipe(), records=recs, aligned_records=ae)
    assert (tmp_path / "spectral.npz").is_file() and card.metrics["build"]["step"] == "spectral"
    assert DetectorCard.load(tmp_path / "spectral.json").metrics["inputs_sha256"] == "abc"


TINY_TRAIN = {"steps": 2, "eval_every": 2, "batch_small": 8, "batch_crops": 2, "val_max_small": 8, "val_max_full": 2}


def test_tilenet_step_tiny(tiny, tmp_path):
    from fakescope.build.zoo import build_tilenet
    from fakescope.detectors.zoo import TileNetDetector

    recs, ae = tiny
    card = build_tilenet("cnnspot", inputs_sha256="abc", out_dir=tmp_path / "w", overrides=TINY_TRAIN,
                         records=recs, aligned_records=ae, work=tmp_path / "run", threads=1)
    assert card.metrics["build"]["steps_run"] == 2 and card.metrics["inputs_sha256"] == "abc"
    assert "train_seconds" not in card.extra and card.metrics["build"]["train_seconds"] > 0  # clock: not scoring key
    env = card.metrics["build"]["environment"]  # what the floats depend on besides the inputs
    assert env["torch"].startswith("2.13") and env["torch_cpu_capability"] and env["numpy"]
    det = TileNetDetector(replace(DetectorCard.load(tmp_path / "w" / "cnnspot.json"),
                                  weights=str(tmp_path / "w" / "cnnspot.onnx")))
    assert np.isfinite(det.raw_scores([np.full((64, 64, 3), 128, np.uint8)])).all()


def test_npr_thumb_step_tiny(tiny, tmp_path):
    from fakescope.build.zoo import build_npr_thumb

    recs, _ = tiny
    card = build_npr_thumb(inputs_sha256="abc", out_dir=tmp_path / "w", overrides={**TINY_TRAIN, "batch_crops": 0},
                           records=recs, work=tmp_path / "run", threads=1)
    assert card.name == "npr-thumb" and card.extra["regime"] == "thumbnail" and card.extra["seeds"] == [20261128]
    assert "train_seconds" not in card.extra and card.metrics["build"]["best_steps"] == [2]
    assert (tmp_path / "w" / "npr-thumb.onnx").is_file()


def test_probe_step_tiny(tiny, tmp_path):
    from fakescope.build.probe import build_probe

    recs, ae = tiny
    rep = build_probe(inputs_sha256="abc", out_dir=tmp_path / "w", records=recs, aligned_records=ae,
                      work=tmp_path / "feat", l2_grid=(1000.0,), timing_reps=1)
    assert rep["l2"] == 1000.0
    for name in ("probe", "rigid"):
        card = DetectorCard.load(tmp_path / "w" / f"{name}.json")
        assert card.metrics["build"]["step"] == "probe" and card.metrics["inputs_sha256"] == "abc"
    assert (tmp_path / "w" / "probe.npz").is_file()


def test_calibrate_step_fits_the_ensemble(tmp_path):
    """The stacker fitted on the calibration rows, applied by the ensemble detector, gives the column the
    step writes for it."""
    from fakescope.build.calibrate import ENSEMBLE_MEMBERS, fit_ensemble
    from fakescope.detectors import create_detector
    from fakescope.detectors.ensemble import EnsembleDetector
    from fakescope.fusion import CALIBRATION_FILE
    from fakescope.training.calibrate import stacker_scores

    cal = json.loads(CALIBRATION_FILE.read_text())
    cards = {n: create_detector(n).card for n in ENSEMBLE_MEMBERS}
    card = fit_ensemble(cal, cards, inputs_sha256="abc")
    assert card.extra["members"] == list(ENSEMBLE_MEMBERS) and set(card.extra["stacking"]) == {"thumbnail", "full"}
    assert card.metrics["inputs_sha256"] == "abc" and card.extra["member_sha256"]["npr"] == cards["npr"].sha256
    z = stacker_scores(cal, card.extra["members"], card.extra["stacking"])
    y = np.asarray(cal["labels"])
    from fakescope.benchmark.metrics import roc_auc

    assert roc_auc(y, z) > 0.9  # in-sample, on the rows it was fitted on: a sanity check, not a quality claim
    # the detector built from the card scores a calibration image (row 0: the first record, as stored) as the
    # column the step writes
    from fakescope.build.calibrate import calibration_rows
    from fakescope.io.decode import load

    rec = calibration_rows()[0]
    assert cal["variants"][0] == "original" and cal["keys"][0] == rec.key
    det = EnsembleDetector(card)
    assert abs(det.raw_scores([load(rec.path).image])[0] - z[0]) < 1e-4


def test_check_reproduced_compares_with_the_files_replaced(tmp_path):
    """A step records `reproduced: true` only when the weights it wrote are bitwise the files it replaced and
    the calibration agrees; anything else is recorded as a difference, with the hashes."""
    import shutil

    from fakescope.build.experts import check_reproduced, shipped_state

    for f in ("spectral.json", "spectral.npz"):
        shutil.copy2(WEIGHTS_DIR / f, tmp_path / f)
    before = shipped_state("spectral", tmp_path)
    assert set(before["spectral"]["files"]) == {"spectral.npz"}
    assert check_reproduced("spectral", before, tmp_path)  # nothing changed: reproduced
    build = DetectorCard.load(tmp_path / "spectral.json").metrics["build"]
    assert build["reproduced"] is True and "bitwise identical" in build["reproduced_check"]
    d = json.loads((tmp_path / "spectral.json").read_text())  # calibration moved by less than the tolerance
    assert d["weights"] == "spectral.npz"  # the card still names its file, not a resolved path
    d["calibration"]["a"] += 1e-6
    (tmp_path / "spectral.json").write_text(json.dumps(d))
    assert check_reproduced("spectral", before, tmp_path)
    (tmp_path / "spectral.npz").write_bytes(b"other weights")
    assert not check_reproduced("spectral", before, tmp_path)
    build = DetectorCard.load(tmp_path / "spectral.json").metrics["build"]
    assert build["reproduced"] is False and "spectral.npz" in build["reproduced_check"]
    assert not check_reproduced("spectral", {}, tmp_path)  # a first build: nothing to compare with


def test_steps_are_bitwise_reproducible_on_tiny_data(tiny, tmp_path):
    """Built twice from the same inputs (fixed step counts, seeds and torch threads, no clock), the aligned
    fakes and the npr, spectral, tile-network and probe weights are the same bytes, with the same Platt
    parameters (every cache recomputed: separate work folders)."""
    import hashlib

    from fakescope.build import aligned
    from fakescope.build.npr import INT8, build_npr
    from fakescope.build.probe import build_probe
    from fakescope.build.spectral import build_spectral
    from fakescope.build.zoo import build_tilenet

    recs, ae = tiny
    ae2 = aligned.aligned_fakes(None, records=recs, recipe={"steps": 2, "variants": ["nearest"], "max_side": 128},
                                work=tmp_path / "aligned", threads=1)
    assert [r.key for r in ae2] == [r.key for r in ae]
    assert all(open(a.path, "rb").read() == open(b.path, "rb").read() for a, b in zip(ae, ae2))

    def sha(p):
        return hashlib.sha256(p.read_bytes()).hexdigest()

    files = {}
    for run in ("a", "b"):
        out = tmp_path / run
        build_npr(out_dir=out, recipe=_tiny_recipe(), int8={**INT8, "images": 6}, records=recs, aligned_records=ae2,
                  threads=2)  # the build's thread count
        build_spectral(out_dir=out, recipe=_tiny_recipe(), records=recs, aligned_records=ae2)
        build_tilenet("cnnspot", out_dir=out, overrides=TINY_TRAIN, records=recs, aligned_records=ae2,
                      work=tmp_path / f"run-{run}", threads=2)
        build_probe(out_dir=out, records=recs, aligned_records=ae2, work=tmp_path / f"feat-{run}", l2_grid=(1000.0,),
                    timing_reps=1)
        files[run] = {p.name: sha(p) for p in sorted(out.iterdir()) if p.suffix in (".onnx", ".npz")}
        files[run]["calibration"] = {n: DetectorCard.load(out / f"{n}.json").calibration
                                     for n in ("npr", "spectral", "cnnspot", "probe", "rigid")}
    assert set(files["a"]) == {"npr.onnx", "npr.int8.onnx", "spectral.npz", "cnnspot.onnx", "probe.npz",
                               "calibration"}
    assert files["a"] == files["b"]


def test_fresh_deletes_what_a_forced_rerun_resumes_from(tmp_path, monkeypatch):
    """A forced rerun of a tile network resumes its finished run and only exports again; ``--fresh`` deletes
    the run directory (and the probe's feature cache) first, so the rebuild is a reproduction check."""
    import fakescope.build as b
    from fakescope.build import Step, zoo

    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path / "cache"))
    table = steps()
    (run_dir,) = table["cnnspot"].caches()
    assert run_dir == zoo._run_dir("cnnspot", None, table["cnnspot"].fingerprint())  # the dir build_tilenet uses
    assert run_dir.parent == tmp_path / "cache" / "build"
    assert table["probe"].caches() == [tmp_path / "cache" / "build" / "probe"]
    assert table["npr"].caches() == [] and table["calibrate"].caches() == []

    cache = tmp_path / "run"
    seen = []
    toy = Step("toy", "a toy step", lambda: [], tmp_path / "toy.json",
               lambda root, jobs, log: seen.append((cache / "checkpoint.pt").is_file()), caches=lambda: [cache])
    monkeypatch.setattr(b, "steps", lambda: {"toy": toy})
    cache.mkdir()
    (cache / "checkpoint.pt").write_bytes(b"x")
    logs = []
    assert b.run_steps(["toy"], force=True, log=logs.append) == ["toy"]
    assert seen == [True] and cache.is_dir()  # --force: the step sees its checkpoint
    assert b.run_steps(["toy"], fresh=True, log=logs.append) == ["toy"]
    assert seen == [True, False] and not cache.exists()
    assert any("removed" in m and "--fresh" in m for m in logs)
