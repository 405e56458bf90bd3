"""Localization: partial-fake synthesis, maps of the right size and range for every input kind, the map
higher inside a pasted region of a real photo, the CLI, region words, and the build step on tiny data."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from fakescope.cli import main
from fakescope.io.decode import load
from fakescope.localization import KINDS, Localizer, describe_regions, make_partial

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


@pytest.mark.parametrize("kind", KINDS)
def test_partial_fakes_change_only_the_masked_region(kind: str):
    rng = np.random.default_rng(3)
    base = load(SAMPLES / "real_kodim05.jpg").image[:200, :240].copy()
    donor = load(SAMPLES / "fake_ldm_photograph-of-a-fire.png").image
    img, mask = make_partial(base, donor, kind, rng, launder=False)
    assert img.shape == base.shape and mask.shape == base.shape[:2] and set(np.unique(mask)) <= {0, 1}
    assert 0.02 < mask.mean() < 0.5
    changed = np.any(img != base, axis=2)
    assert not changed[mask == 0].any()  # exact masks: nothing outside the region moved
    assert changed[mask == 1].mean() > 0.3
    img2, mask2 = make_partial(base, donor, kind, np.random.default_rng(3), launder=False)
    assert np.array_equal(img, img2) and np.array_equal(mask, mask2)  # replayable from the rng


@pytest.fixture(scope="module")
def loc() -> Localizer:
    return Localizer(rine=True)  # every method available (the card may ship the network alone)


@pytest.mark.parametrize("shape", [(32, 32, 3), (2000, 1500, 3), (300, 420, 4), (257, 199), (1, 40, 3)])
def test_map_size_and_range_for_every_input_kind(loc: Localizer, shape: tuple[int, ...]):
    """Thumbnail, huge, RGBA, grayscale, a one-pixel line: an 8-bit map of the input's size."""
    image = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    m = loc.map(image, method="unet")
    assert m.shape == shape[:2] and m.dtype == np.uint8
    p = loc.probability_map(image, method="unet")
    assert 0.0 <= p.min() and p.max() <= 1.0


def test_map_is_higher_inside_a_pasted_region_of_a_real_photo(loc: Localizer):
    """A real photo (Kodak 05) with a region pasted from an AI-generated image (LDM): the fused map is higher
    inside the region than outside, and the regions it describes lie in the pasted one."""
    base = load(SAMPLES / "real_kodim05.jpg").image
    donor = load(SAMPLES / "fake_ldm_photograph-of-a-fire.png").image
    h, w = base.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    mask[h // 8 : h // 2, w // 8 : w // 2] = 1  # the upper left
    img = base.copy()
    img[mask == 1] = np.asarray(Image.fromarray(donor).resize((w, h)))[mask == 1]
    for method in ("unet", "fused"):
        p = loc.probability_map(img, method=method)
        assert p[mask == 1].mean() > p[mask == 0].mean() + 0.1, method
    ev, m8 = loc.evidence(img)
    assert m8.shape == (h, w)
    assert ev.kind == "localization" and ev.details["regions"]
    # each described region (box: x0, y0, x1, y1 as fractions) centred inside the pasted eighth-to-half square;
    # the words for a box are describe_regions' (tested below)
    for r in ev.details["regions"]:
        x0, y0, x1, y1 = r["box"]
        assert 0.125 <= (x0 + x1) / 2 <= 0.5 and 0.125 <= (y0 + y1) / 2 <= 0.5, ev.details["regions"]
        assert r["where"] in ("the upper left", "the upper centre", "the middle left", "the centre"), r


def test_describe_regions_in_words():
    m = np.zeros((90, 120), np.float32)
    m[60:, 80:] = 0.9
    m[:20, :20] = 0.8
    r = describe_regions(m)
    assert [x["where"] for x in r] == ["the lower right", "the upper left"]
    assert describe_regions(np.zeros((10, 10), np.float32)) == []
    assert describe_regions(np.ones((50, 50), np.float32))[0]["where"] == "most of the image"


def test_cli_localize_writes_maps_of_the_input_size(tmp_path: Path, capsys):
    files = [SAMPLES / "real_kodim05.jpg", SAMPLES / "fake_ddpm_flowers.png"]
    assert main(["localize", *map(str, files), "--out", str(tmp_path / "maps"), "--method", "unet"]) == 0
    for f in files:
        out = tmp_path / "maps" / f"{f.stem}.map.png"
        with Image.open(out) as m, Image.open(f) as im:
            assert m.mode == "L" and m.size == im.size
    assert main(["localize", str(SAMPLES / "broken.jpg"), "--out", str(tmp_path / "maps")]) == 1


def test_python_api_returns_the_array():
    import fakescope

    a = fakescope.localize(SAMPLES / "real_kodim05.jpg", method="unet")
    with Image.open(SAMPLES / "real_kodim05.jpg") as im:
        assert a.shape == (im.height, im.width) and a.dtype == np.uint8


def test_build_step_on_tiny_data(data_dir: Path, tmp_path: Path):
    """The localizer step end to end on a handful of records and a few training steps: weights, card,
    metrics and report; a Localizer loads what it wrote."""
    pytest.importorskip("torch")
    from fakescope.build.localizer import build_localizer

    records = _tiny_records(data_dir)
    card = build_localizer(out_dir=tmp_path, records=records, report=tmp_path / "l.md", evaluate_rine=False,
                           recipe={"steps": 3, "batch": 2, "crop": 32, "width": 4, "max_side": 128})
    assert card["metrics"]["onnx_parity"] < 1e-3
    res = card["metrics"]["test"]["unet"]
    assert "untouched" in res and "copy-move" in res and "resample" in res
    assert "fake-paste (trained-on generators)" in res
    # the fixed threshold was chosen on the calibration photos, within the marked-pixel budget there
    val = card["metrics"]["validation"]
    assert val["n"] == 5 + 1 and card["extra"]["thresholds"]["unet"] == val["choice"]["unet"]["threshold"]
    assert val["choice"]["unet"]["marked"] <= 0.04 or val["choice"]["unet"]["threshold"] == 0.95
    assert "## unet" in (tmp_path / "l.md").read_text()
    m = Localizer(tmp_path / "localizer.json", rine=False).map(np.zeros((50, 60, 3), np.uint8))
    assert m.shape == (50, 60)
    # without rine the network alone is the only candidate: shipped, and a Localizer that follows the card
    # never builds rine
    assert card["extra"]["method"] == "unet" and card["extra"]["threshold"] == card["extra"]["thresholds"]["unet"]
    loc = Localizer(tmp_path / "localizer.json")
    assert loc.method == "unet" and loc.threshold == card["extra"]["thresholds"]["unet"]
    loc.evidence(np.zeros((50, 60, 3), np.uint8))
    assert loc._rine is None


def _tiny_records(data_dir: Path) -> list[SimpleNamespace]:
    reals = sorted((data_dir / "real_photos" / "kodak").glob("*.png"))[:4]
    fakes = sorted((data_dir / "modern" / "lucidrains__stylegan2-pytorch").glob("samples_hands_*.png"))[:4]
    if len(reals) < 4 or len(fakes) < 4:
        pytest.skip("sample files not found")
    rec = lambda p, label, split, group: SimpleNamespace(path=str(p), label=label, split=split, group=group,  # noqa: E731
                                                         source="photos" if not label else "modern")
    return [rec(reals[0], 0, "train", "photos"), rec(reals[1], 0, "train", "photos"),
            rec(fakes[0], 1, "train", "modern:x"), rec(fakes[1], 1, "train", "modern:x"),
            rec(reals[2], 0, "test", "photos"), rec(fakes[2], 1, "test", "modern:x"),
            rec(reals[3], 0, "calibration", "photos"), rec(fakes[3], 1, "calibration", "modern:x")]


def test_build_ships_the_method_with_the_better_calibration_f1_and_reuses_its_network(data_dir: Path, tmp_path: Path):
    """With rine measured too: the shipped method is the one of unet and fused with the higher calibration F1 at its
    own threshold (the card's method, threshold and method_f1 agree with the validation choices); a second build
    of the same training inputs reuses the trained network (no training) and writes the same ONNX bytes."""
    pytest.importorskip("torch")
    from fakescope.build.localizer import build_localizer, train_fingerprint

    records = _tiny_records(data_dir)
    recipe = {"steps": 3, "batch": 2, "crop": 32, "width": 4, "max_side": 128}
    logs: list[str] = []
    cards = [build_localizer(out_dir=tmp_path / str(i), records=records, evaluate_rine=True, recipe=recipe,
                             work=tmp_path / "run", log=logs.append) for i in range(2)]
    for card in cards:
        choice, extra = card["metrics"]["validation"]["choice"], card["extra"]
        f1 = {m: choice[m]["f1"] for m in ("unet", "fused")}
        assert extra["method_f1"] == f1
        best = "unet" if f1["unet"] >= f1["fused"] else "fused"
        assert extra["method"] == best and extra["threshold"] == choice[best]["threshold"] == extra["thresholds"][best]
        assert card["metrics"]["validation"]["method"]["chosen"] == best
    assert [c["metrics"]["network_reused"] for c in cards] == [False, True]
    assert sum("reusing the network" in m for m in logs) == 1
    assert (tmp_path / "0" / "localizer.onnx").read_bytes() == (tmp_path / "1" / "localizer.onnx").read_bytes()
    # the training fingerprint follows the training settings, not the choices
    train = [r for r in records if r.split == "train"]
    reals, fakes = [r for r in train if not r.label], [r for r in train if r.label]
    from fakescope.build.localizer import RECIPE

    rc = {**RECIPE, **recipe}
    assert train_fingerprint({**rc, "max_marked": 0.1, "eval_seed": 1}, reals, fakes) == train_fingerprint(rc, reals, fakes)
    assert train_fingerprint({**rc, "steps": 4}, reals, fakes) != train_fingerprint(rc, reals, fakes)


@pytest.mark.parametrize("method", ["unet", "fused"])
def test_localizer_uses_the_cards_method_and_its_threshold(tmp_path: Path, method: str):
    """The shipped card with its method set to each candidate: the Localizer (what the scan, ``fakescope localize``
    and ``fakescope.localize`` use) makes that method's map at that method's threshold, and builds rine only for
    the fused map."""
    import json
    import shutil

    from fakescope.detectors.base import WEIGHTS_DIR
    from fakescope.localization.evaluate import fuse

    card = json.loads((WEIGHTS_DIR / "localizer.json").read_text())
    card["extra"]["method"] = method
    (tmp_path / "localizer.json").write_text(json.dumps(card))
    shutil.copy(WEIGHTS_DIR / card["weights"], tmp_path / card["weights"])
    loc = Localizer(tmp_path / "localizer.json")
    assert loc.method == method and loc.threshold == card["extra"]["thresholds"][method] == loc.threshold_for()
    img = load(SAMPLES / "real_kodim05.jpg").image[:160, :200]
    p = loc.probability_map(img)
    ev, _ = loc.evidence(img)
    assert ev.details["threshold"] == card["extra"]["thresholds"][method] and ev.details["method"] == method
    if method == "unet":
        assert loc._rine is None  # no sliding grid of rine crops when the network alone ships
        assert np.array_equal(p, loc.unet_map(img))
    else:
        assert loc._rine is not None
        assert np.allclose(p, fuse(loc.unet_map(img), loc.rine_map(img), loc.fusion))
    # asking for the other method explicitly still works, and the network-only switch overrides the card
    assert Localizer(tmp_path / "localizer.json", rine=False).method == "unet"


def test_cli_localize_scores_a_folder_with_masks(tmp_path: Path):
    """A user's dataset with masks: a real photo with a pasted region and its mask; metrics.json written."""
    import json

    base = load(SAMPLES / "real_kodim05.jpg").image
    donor = load(SAMPLES / "fake_ldm_photograph-of-a-fire.png").image
    img, mask = make_partial(base, donor, "fake-paste", np.random.default_rng(5), launder=False)
    (tmp_path / "imgs").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(img).save(tmp_path / "imgs" / "a.png")
    Image.fromarray(mask * 255).save(tmp_path / "masks" / "a_mask.png")
    Image.fromarray(base).save(tmp_path / "imgs" / "b.png")  # no mask: listed, not scored
    code = main(["localize", str(tmp_path / "imgs" / "a.png"), str(tmp_path / "imgs" / "b.png"),
                 "--out", str(tmp_path / "out"), "--masks", str(tmp_path / "masks"), "--method", "unet"])
    assert code == 0
    res = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert res["images"] == 1 and res["without_mask"] == [str(tmp_path / "imgs" / "b.png")]
    assert 0.0 <= res["f1"] <= 1.0 and 0.0 <= res["marked_outside"] <= 1.0 and res["pixel_auc"] > 0.5
    assert main(["localize", str(tmp_path / "imgs" / "b.png"), "--out", str(tmp_path / "o2"),
                 "--masks", str(tmp_path / "masks")]) == 2  # nothing to score: a usage error


def test_fresh_deletes_the_kept_network(data_dir: Path, tmp_path: Path, monkeypatch):
    """The localizer step registers the directory its trained network is kept in (what ``--fresh`` deletes):
    the build cache's ``localizer-<training fingerprint>``, the one the build itself uses."""
    from fakescope.build import steps
    from fakescope.build.localizer import net_cache_dir

    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path / "cache"))
    (d,) = steps()["localizer"].caches()
    assert d == net_cache_dir() and d.parent == tmp_path / "cache" / "build" and d.name.startswith("localizer-")
    assert net_cache_dir({"steps": 5}) != d  # a training setting changes it
    assert net_cache_dir({"max_marked": 0.5, "val_photos": 3}) == d  # a choice setting does not
