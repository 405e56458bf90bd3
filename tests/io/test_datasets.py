"""Dataset layouts built in tmp_path, detection, manifests, hashing, and the shipped data's splits."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from fakescope.errors import UsageError
from fakescope.io.datasets import (
    CifakeDataset,
    DatasetItem,
    ShippedDataset,
    detect_layout,
    guess_family,
    manifest_hash,
    open_dataset,
    parse_label,
)

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("FAKESCOPE_DATA", REPO.parent / "shared" / "data"))


def img(path: Path, color=(10, 20, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)
    return path


def test_plain_folder_layouts(tmp_path):
    a = tmp_path / "a"
    img(a / "0_real" / "x.png"); img(a / "0_real" / "sub" / "y.jpg"); img(a / "1_fake" / "z.png")
    (a / "0_real" / "notes.txt").write_text("not an image")
    ds = open_dataset(a)
    assert ds.layout == "folder"
    items = list(ds)
    # each folder's files (sorted) before its sub-folders (sorted): the same order on every machine
    assert [(i.relpath, i.label) for i in items] == [("0_real/x.png", 0), ("0_real/sub/y.jpg", 0), ("1_fake/z.png", 1)]
    b = tmp_path / "b"
    img(b / "real" / "r.png"); img(b / "fake" / "f.png")
    assert detect_layout(b) == "folder"
    assert sorted(i.label for i in open_dataset(b)) == [0, 1]


def test_forensynths_layouts(tmp_path):
    root = tmp_path / "CNNDetection"
    img(root / "progan" / "airplane" / "0_real" / "a.png"); img(root / "progan" / "airplane" / "1_fake" / "b.png")
    img(root / "progan" / "cat" / "1_fake" / "c.png")
    img(root / "stylegan" / "0_real" / "d.png"); img(root / "stylegan" / "1_fake" / "e.png")
    ds = open_dataset(root)
    assert ds.layout == "forensynths"
    items = list(ds)
    assert len(items) == 5
    fakes = {i.relpath: (i.generator, i.family) for i in items if i.label == 1}
    assert fakes == {"progan/airplane/1_fake/b.png": ("progan", "gan"), "progan/cat/1_fake/c.png": ("progan", "gan"),
                     "stylegan/1_fake/e.png": ("stylegan", "gan")}
    assert all(i.generator is None for i in items if i.label == 0)


def test_genimage_layouts(tmp_path):
    root = tmp_path / "GenImage"
    img(root / "ADM" / "imagenet_ai_0508_adm" / "train" / "ai" / "a.png")
    img(root / "ADM" / "imagenet_ai_0508_adm" / "val" / "nature" / "b.JPEG")
    img(root / "Midjourney" / "train" / "ai" / "c.png")
    img(root / "Midjourney" / "val" / "ai" / "d.png")
    ds = open_dataset(root)
    assert ds.layout == "genimage"
    items = {i.relpath: i for i in ds}
    assert items["ADM/imagenet_ai_0508_adm/train/ai/a.png"].split == "train"
    assert items["ADM/imagenet_ai_0508_adm/val/nature/b.JPEG"].label == 0
    assert items["Midjourney/val/ai/d.png"].generator == "Midjourney"
    assert items["Midjourney/val/ai/d.png"].family == "diffusion"
    assert [i.relpath for i in ds.items(split="val")] == ["ADM/imagenet_ai_0508_adm/val/nature/b.JPEG",
                                                           "Midjourney/val/ai/d.png"]


def test_cifake_layouts(tmp_path):
    up = tmp_path / "cifake_kaggle"
    img(up / "train" / "REAL" / "1.jpg"); img(up / "train" / "FAKE" / "2.jpg"); img(up / "test" / "REAL" / "3.jpg")
    ds = open_dataset(up)
    assert ds.layout == "cifake"
    assert sorted((i.split, i.label) for i in ds) == [("test", 0), ("train", 0), ("train", 1)]
    low = tmp_path / "cifake_low"
    img(low / "val" / "real" / "1.jpg"); img(low / "val" / "fake" / "2.jpg"); img(low / "train" / "fake" / "3.jpg")
    assert detect_layout(low) == "cifake"
    items = list(open_dataset(low))
    assert {(i.split, i.label, i.generator) for i in items} == {
        ("val", 0, None), ("val", 1, "Stable Diffusion v1.4 (CIFAKE)"), ("train", 1, "Stable Diffusion v1.4 (CIFAKE)")}
    flat = tmp_path / "cifake_flat"
    img(flat / "REAL" / "1.jpg"); img(flat / "FAKE" / "2.jpg")
    assert detect_layout(flat) == "cifake"
    assert len(list(CifakeDataset(flat))) == 2


def test_csv_and_jsonl_manifests(tmp_path):
    img(tmp_path / "imgs" / "a.png"); img(tmp_path / "imgs" / "b.png")
    m = tmp_path / "list.csv"
    with open(m, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "generator", "date", "split", "mask", "extra"])
        w.writerow(["imgs/a.png", "real", "", "", "test", "", "x"])
        w.writerow(["imgs/b.png", "ai", "SDXL", "2023-07", "test", "imgs/b_mask.png", "y"])
    ds = open_dataset(m)
    assert ds.layout == "manifest"
    a, b = list(ds)
    assert (a.label, a.generator, a.family) == (0, None, None)
    assert (b.label, b.generator, b.family, b.date, b.split) == (1, "SDXL", "diffusion", "2023-07", "test")
    assert b.path == str(tmp_path / "imgs" / "b.png") and b.mask == str(tmp_path / "imgs" / "b_mask.png")
    j = tmp_path / "manifest.jsonl"
    j.write_text("\n".join(json.dumps(r) for r in [{"path": "imgs/a.png", "label": 0},
                                                   {"path": "imgs/b.png", "label": "fake", "generator": "SDXL"}]) + "\n")
    assert detect_layout(j) == "manifest"
    assert detect_layout(tmp_path) == "manifest"  # a folder holding manifest.jsonl
    assert [i.label for i in open_dataset(tmp_path)] == [0, 1]
    assert manifest_hash(open_dataset(j)) == manifest_hash(open_dataset(m))  # same relpath/label/generator lines
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\nimgs/a.png,maybe\n")
    with pytest.raises(UsageError, match="bad.csv:2: label 'maybe'"):
        list(open_dataset(bad))
    nolabel = tmp_path / "nolabel.csv"
    nolabel.write_text("file,class\n")
    with pytest.raises(UsageError, match="lacks column"):
        list(open_dataset(nolabel))


def test_unknown_layout_and_missing_paths(tmp_path):
    img(tmp_path / "odd" / "stuff" / "a.png")
    with pytest.raises(UsageError, match="cannot tell the dataset layout"):
        open_dataset(tmp_path / "odd")
    with pytest.raises(UsageError, match="not found"):
        open_dataset(tmp_path / "missing")
    with pytest.raises(UsageError, match="unknown dataset layout"):
        open_dataset(tmp_path / "odd", layout="imagenet")


def test_manifest_hash_ignores_order_and_location(tmp_path):
    for root in (tmp_path / "x", tmp_path / "y"):
        img(root / "real" / "a.png"); img(root / "fake" / "b.png")
    hx, hy = manifest_hash(open_dataset(tmp_path / "x")), manifest_hash(open_dataset(tmp_path / "y"))
    assert hx == hy and len(hx) == 64
    items = list(open_dataset(tmp_path / "x"))
    assert manifest_hash(reversed(items)) == hx
    img(tmp_path / "x" / "fake" / "c.png")
    assert manifest_hash(open_dataset(tmp_path / "x")) != hx


def test_labels_and_families():
    assert [parse_label(v) for v in ("0", "1", "real", "FAKE", "ai", "nature", 0, 1)] == [0, 1, 0, 1, 1, 0, 0, 1]
    with pytest.raises(UsageError):
        parse_label("2")
    assert guess_family("ProGAN / PGGAN (CelebA-HQ)") == "gan"
    assert guess_family("FLUX.1 [dev]") == "diffusion"
    assert guess_family("Deep Daze (SIREN + CLIP)") == "clip-guided"
    with pytest.raises(UsageError):
        DatasetItem("a.png", 2)


def test_shipped_data_test_split_is_the_training_codes():
    if not (DATA / "manifest.csv").is_file():
        pytest.skip(f"shared data not found at {DATA} (set FAKESCOPE_DATA)")
    from fakescope.training import data as tdata

    ds = open_dataset(DATA)
    assert ds.layout == "shipped" and isinstance(ds, ShippedDataset)
    test = list(ds.items(split="test"))
    by_src = {s: sum(1 for i in test if i.source == s) for s in ("cifake", "modern", "photos")}
    assert by_src["cifake"] == 1000
    expected_modern = sum(1 for r in tdata.modern_records(DATA) if r.split == "test")
    assert by_src["modern"] == expected_modern
    assert all(i.relpath.startswith("cifake/val/") for i in test if i.source == "cifake")
    train_paths = {os.path.relpath(r.path, DATA) for r in tdata.all_records(DATA) if r.split == "train"}
    assert not train_paths & {i.relpath for i in test}
    unseen = {"Midjourney v6", "FLUX.1 [dev]", "Kandinsky 3"}
    assert unseen <= {i.generator for i in test}
