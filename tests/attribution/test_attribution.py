"""Attribution: the family table, enrolment round trip on real files, open-set rejection of a generator
left out, the CLI, the verdict's generator (schema-valid), and the build step on tiny data."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from fakescope.attribution import FAMILIES, GENERATORS, Attributor, canonical, generator_of
from fakescope.attribution.model import attribute_z, class_means, fit_space
from fakescope.cli import main
from fakescope.io.decode import load

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


def test_every_generator_of_the_data_has_a_canonical_name_and_family(data_dir: Path):
    assert all(f in FAMILIES for _, f in GENERATORS.values())
    names = set()
    with open(data_dir / "manifest.csv", newline="", encoding="utf-8") as f:
        names |= {r["generator"] for r in csv.DictReader(f) if r["label"] == "fake" and r["generator"]}
    with open(data_dir / "comfyui" / "manifest.csv", newline="", encoding="utf-8") as f:
        names |= {r["generator"] for r in csv.DictReader(f) if r["generator"]}
    missing = sorted(n for n in names if n not in GENERATORS)
    assert not missing, f"add these generators to fakescope/attribution/families.py: {missing}"
    assert canonical("stable-diffusion-1.x") == ("stable-diffusion-1.x", "diffusion-unet")  # canonical is a fixed point
    assert generator_of(SimpleNamespace(label=1, group="faces:fake", source="faces")) == "FLUX.1-dev + LoRA"
    assert generator_of(SimpleNamespace(label=0, group="photos", source="photos")) is None


def _hands(data_dir: Path) -> list[Path]:
    files = sorted((data_dir / "modern" / "lucidrains__stylegan2-pytorch").glob("samples_hands_*.png"))
    if len(files) < 10:
        pytest.skip("StyleGAN2 hands samples not found")
    return files


def test_enrol_then_scan_round_trip(data_dir: Path, tmp_path: Path, monkeypatch):
    """Enrol 5 images of a generator no shipped class covers (StyleGAN2 hands, a never-seen test source);
    its other images are then attributed to it, real photos are not."""
    monkeypatch.setenv("FAKESCOPE_REGISTRY", str(tmp_path / "default.json"))  # never the user's own registry
    reg = tmp_path / "reg.json"
    hands = _hands(data_dir)
    assert main(["enroll", "my-hands-gan", *map(str, hands[:5]), "--family", "gan", "--registry", str(reg)]) == 0
    d = json.loads(reg.read_text())
    assert d["generators"]["my-hands-gan"]["family"] == "gan" and d["generators"]["my-hands-gan"]["count"] == 5
    att = Attributor(registry=reg)
    others = [load(p).image for p in hands[5:11]]
    got = att.attribute(others)
    assert sum(r.name == "my-hands-gan" for r in got) >= 5, [r.to_dict() for r in got]
    reals = [load(SAMPLES / n).image for n in ("real_kodim05.jpg", "real_kodim14.jpg", "real_kodim23.jpg",
                                               "real_skimage_coffee.png", "real_skimage_rocket.jpg")]
    assert not any(r.name == "my-hands-gan" for r in att.attribute(reals))
    # without the registry the same images are not attributed to it
    assert not any(r.name == "my-hands-gan" for r in Attributor(registry=False).attribute(others))


def test_open_set_rejects_a_generator_left_out(data_dir: Path):
    """With its class removed, a generator's images come back ``unknown``; with it, they are named."""
    files = sorted((data_dir / "modern" / "lucidrains__stylegan2-pytorch").glob("samples_celebrities_*.png"))[:6]
    if len(files) < 6:
        pytest.skip("StyleGAN2 celebrity samples not found")
    att = Attributor(registry=False)
    x = att.features([load(p).image for p in files])
    assert sum(r.name == "stylegan2-pytorch-celeb" for r in att.attribute_features(x)) >= 5
    att.means = att.means.without("stylegan2-pytorch-celeb")
    left_out = att.attribute_features(x)
    assert sum(not r.accepted for r in left_out) >= 5, [r.to_dict() for r in left_out]
    assert all(r.name == "unknown" for r in left_out if not r.accepted)


def test_open_set_on_synthetic_features():
    """The rule itself: three well-separated classes, a fourth never fitted is rejected, the others named."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (4, 16))
    x = np.concatenate([c + rng.normal(0, 1, (40, 16)) for c in centres])
    y = np.repeat(["a", "b", "c", "real"], 40)
    space = fit_space(x, y, shrinkage=0.2)
    means = class_means(space(x), y, {"a": "gan", "b": "gan", "c": "diffusion-unet"})
    known = attribute_z(space(centres[0] + rng.normal(0, 1, (20, 16))), means, threshold=0.9, temperature=1.0)
    assert sum(r.name == "a" and r.accepted for r in known) >= 18
    # a generator between two known ones: no single class is much nearer than the other, so it is rejected
    unknown = attribute_z(space((centres[0] + centres[1]) / 2 + rng.normal(0, 1, (20, 16))), means,
                          threshold=0.9, temperature=1.0)
    assert sum(not r.accepted for r in unknown) >= 15
    assert all(r.name == "unknown" for r in unknown if not r.accepted)
    reals = attribute_z(space(centres[3] + rng.normal(0, 1, (20, 16))), means, threshold=0.0, temperature=1.0)
    assert not any(r.accepted for r in reals)  # nearer the real mean: never attributed


def test_cli_enrolled_and_forget(data_dir: Path, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_REGISTRY", str(tmp_path / "default.json"))
    hands = _hands(data_dir)
    assert main(["enroll", "x-gen", str(hands[0]), str(hands[1])]) == 0  # the default registry: the env var
    assert (tmp_path / "default.json").is_file()
    capsys.readouterr()
    assert main(["enrolled", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["generators"]
    assert {"name": "x-gen", "family": "unknown", "images": 2, "source": "enrolled"} in rows
    assert any(r["name"] == "kolors" and r["source"] == "shipped" for r in rows)
    assert main(["enroll", "x-gen", "--forget"]) == 0
    assert main(["enroll", "x-gen", "--forget"]) == 2  # no longer there: a usage error
    assert main(["enroll", "y", str(hands[0]), "--family", "not-a-family"]) == 2
    assert main(["enroll", "y"]) == 2  # no images
    assert "x-gen" not in json.loads((tmp_path / "default.json").read_text())["generators"]
    # a registry made with other weights is refused, not silently misread
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model_sha256": "0" * 64, "generators": {}}))
    assert main(["enrolled", "--registry", str(bad)]) == 2


def test_scan_fills_generator_and_heatmap_schema_valid(tmp_path: Path, monkeypatch):
    jsonschema = pytest.importorskip("jsonschema")
    monkeypatch.setenv("FAKESCOPE_REGISTRY", str(tmp_path / "none.json"))
    schema = json.loads((REPO / "docs" / "verdict.schema.json").read_text(encoding="utf-8"))
    out = tmp_path / "r.jsonl"
    maps = tmp_path / "maps"
    code = main(["scan", str(SAMPLES / "fake_ldm_photograph-of-a-fire.png"), str(SAMPLES / "real_kodim05.jpg"),
                 "--out", str(out), "--localize", str(maps), "--no-progress", "--html", str(tmp_path / "r.html")])
    assert code == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    for r in recs:
        jsonschema.validate(r, schema)
        assert r["heatmap"] and Path(r["heatmap"]).is_file()
        from PIL import Image

        with Image.open(r["heatmap"]) as m:
            assert m.mode == "L" and m.size == (r["width"], r["height"])
        assert any(e["kind"] == "localization" for e in r["evidence"])
        assert "Where: the localization map marks" in r["explanation"]
    fake = recs[0]
    assert fake["label"] == "ai-generated"
    assert fake["generator"]["name"] == "latent-diffusion-txt2img" and fake["generator"]["family"] == "diffusion-unet"
    assert "Which generator: the pixels resemble latent-diffusion-txt2img" in fake["explanation"]
    assert recs[1]["generator"] is None  # not labelled ai-generated: no attribution claimed
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "localization map over the image" in html


def test_thumbnails_are_not_attributed():
    ev = Attributor(registry=False).evidence(np.zeros((32, 32, 3), np.uint8))
    assert ev.details["generator"] == "unknown" and ev.details["reason"] == "too small"


def test_build_step_on_tiny_data(tmp_path: Path):
    """The build step end to end on synthetic features of a few records: weights, card, report, and an
    Attributor that loads them."""
    pytest.importorskip("torch")
    from fakescope.build.attribution import build_attribution

    rng = np.random.default_rng(1)
    groups = ["modern:SDXL", "modern:Kolors", "modern:BigGAN (ImageNet)", "modern:HunyuanDiT"]
    recs, feats = [], []
    centres = {g: rng.normal(0, 3, 512) for g in groups + ["real"]}
    for g in groups + ["real"]:
        for i, split in enumerate(["train"] * 6 + ["calibration"] * 2 + ["test"] * 2):
            recs.append(SimpleNamespace(label=int(g != "real"), group=g if g != "real" else "photos", split=split,
                                        source="modern", path=f"{g}/{i}.png", key=f"{g}/{i}", origin=g))
            feats.append(centres[g] + rng.normal(0, 1, (5, 512)))
    recs.append(SimpleNamespace(label=1, group="unseen:Kandinsky 3", split="test", source="modern", path="k.png",
                                key="k", origin="k"))
    feats.append(rng.normal(0, 3, 512) + rng.normal(0, 1, (5, 512)))
    card = build_attribution(out_dir=tmp_path, records=recs, features=np.stack(feats), report=tmp_path / "a.md",
                             grid={"power": [1.0], "shrinkage": [0.3, 0.8], "dim": [16]})
    m = card["metrics"]
    # the knobs, temperature and threshold were chosen on train rows: the grid's table is in the card
    assert [r["knobs"]["shrinkage"] for r in m["selection"]["table"]] == [0.3, 0.8]
    assert card["extra"]["knobs"] == m["selection"]["chosen"]["knobs"]
    assert m["threshold"] == m["selection"]["chosen"]["threshold"]
    assert m["selection"]["chosen"]["top1"] >= 0.9
    assert m["closed_set"]["stored"]["top1"] >= 0.9
    assert set(m["open_set"]["folds"]) == {"sdxl", "kolors", "biggan", "hunyuan-dit"}
    assert "kandinsky-3" in m["never_seen"]["generators"]
    assert "## Few-shot enrolment" in (tmp_path / "a.md").read_text()
    att = Attributor(tmp_path / "attribution.json", registry=False)
    assert set(att.class_names()) == {"sdxl", "kolors", "biggan", "hunyuan-dit"}
    r = att.attribute_features(centres["modern:Kolors"][None])[0]
    assert r.name == "kolors" and r.accepted


def test_fusion_puts_pixel_attribution_and_regions_into_words():
    from fakescope.fusion import Decision, attach_where_and_who
    from fakescope.types import Attribution, Evidence

    att = Evidence("attribution", "attribution", 0.5, "…", weight="none",
                   details={"generator": "sdxl", "family": "diffusion-unet", "confidence": 0.8,
                            "attribution": {"nearest": "sdxl", "classes": 17}})
    loc = Evidence("localizer", "localization", 0.5, "…", weight="none",
                   details={"regions": [{"where": "the upper left", "fraction": 0.12, "mean": 0.8, "box": [0, 0, .3, .3]}]})
    d = Decision(0.99, "ai-generated", 0.9, 0.01, "Labelled AI-generated.")
    out = attach_where_and_who(d, [att, loc])
    assert out.generator == Attribution("sdxl", "diffusion-unet", 0.8)
    assert "the pixels resemble sdxl (diffusion (U-Net))" in out.explanation
    assert "the upper left (12% of the image)" in out.explanation
    # provenance already named one: kept; not ai-generated: no pixel attribution claimed
    named = Decision(0.99, "ai-generated", 0.9, 0.01, "x", generator=Attribution("Midjourney", "unknown", 1.0))
    assert attach_where_and_who(named, [att]).generator.name == "Midjourney"
    assert attach_where_and_who(Decision(0.5, "inconclusive", 0.9, 0.01, "x"), [att]).generator is None
    unk = Evidence("attribution", "attribution", 0.5, "…", weight="none",
                   details={"generator": "unknown", "family": "gan", "confidence": 0.6,
                            "attribution": {"nearest": "biggan"}})
    out = attach_where_and_who(d, [unk])
    assert out.generator.name == "unknown" and out.generator.family == "gan"
    assert "no known generator matches closely (nearest biggan)" in out.explanation


def test_residual_spectrum_sees_a_periodic_fingerprint():
    """The noise-residual spectrum (numpy only): the 3x3 median matches a direct one, and an 8-px periodic
    pattern of the kind up-sampling leaves shows at its frequency and nowhere else."""
    from fakescope.attribution.residual import coarsen, median3, spectrum_features

    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, (9, 11)).astype(np.float32)
    p = np.pad(y, 1, mode="symmetric")
    direct = np.array([[np.median(p[i : i + 3, j : j + 3]) for j in range(11)] for i in range(9)])
    assert np.array_equal(median3(y), direct)
    noise = rng.normal(128, 8, (4, 224, 224, 3))
    grid = np.zeros((224, 224, 3))
    grid[::8, ::8] = 40.0
    plain = spectrum_features(np.clip(noise, 0, 255).astype(np.uint8), 7).reshape(32, 32)
    marked = spectrum_features(np.clip(noise + grid, 0, 255).astype(np.uint8), 7).reshape(32, 32)
    diff = marked - plain
    # frequency 224/8 = 28 cycles, centred spectrum: index 112 +- 28 -> block (112 +- 28) // 7 = 12 and 20
    assert diff[12, 12] > 1.0 and diff[20, 20] > 1.0 and diff[16, 12] > 1.0
    assert np.median(diff) < 0.3 * diff[12, 12]
    assert coarsen(marked.ravel()[None], 8).shape == (1, 64)
    assert np.isclose(coarsen(marked.ravel(), 1)[0], marked.mean())
    with pytest.raises(ValueError):
        coarsen(marked.ravel(), 5)
