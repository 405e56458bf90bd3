"""Build step ``npr``: train the NPR network, export it, quantize it to int8 (``weights/npr*.onnx``).

1. The train split of the frozen manifest plus the aligned fakes (:mod:`.aligned`), decoded into
   CIFAKE arrays and crop pools (:func:`fakescope.training.loops.load_train_data`).
2. :func:`fakescope.training.loops.train_npr` with :data:`RECIPE` (``npr``: a fixed step count, no
   wall-clock limit) from the second stream of ``SeedSequence(RECIPE.seed).spawn(4)``, two torch
   threads; exported to ONNX (``npr.onnx``, checked against torch).
3. Static int8 quantization (:data:`INT8`; :func:`fakescope.training.export.quantize_int8`): activation
   ranges from 320 *train-split* images (160 CIFAKE, 160 full resolution, drawn with
   ``default_rng(0)``) fed as the detector feeds them, per-channel 7-bit weights, the first
   convolution kept in float32 → ``npr.int8.onnx``, which the detector runs on images of 65 px a
   side and more (thumbnails run ``npr.onnx``; measured side by side in docs/benchmarks/npr_int8.md).
4. Platt parameters on the calibration split (as stored and JPEG q90), the card (``npr.json``).

The card's test-split metrics come from ``bench/quality.py`` (it measures; it trains nothing).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..training.loops import NPRConfig, SpectralConfig
from ..training.pipeline import Recipe
from . import aligned

__all__ = ["RECIPE", "INT8", "FIRST_CONV", "build_npr", "inputs"]

Log = Callable[[str], None]

#: the npr recipe (its card's ``extra.recipe``): fixed step counts, no wall-clock limit anywhere
RECIPE = Recipe(seed=int(aligned.RECIPE["seed"]), ae_steps=int(aligned.RECIPE["steps"]),
                ae_max_side=int(aligned.RECIPE["max_side"]), ae_variants=tuple(aligned.RECIPE["variants"]),
                npr=NPRConfig(width=32, image_weight=1.0, norm="none", lr=1e-3, steps=2500,
                              cifake_crop_sizes=(24, 28, 32, 32), p_blur_real=0.3, p_blur_fake=0.1),
                spectral=SpectralConfig(p_blur_real=0.3, p_blur_fake=0.1))
FIRST_CONV = "/features/features.0/features.0.0/Conv"
#: the int8 quantization (bench/ship_npr_int8.py's, now part of the step)
INT8: dict[str, Any] = {"images": 320, "seed": 0, "min_side": 16, "keep_fp32": [FIRST_CONV], "reduce_range": True,
                        "reference_below_side": 65}


def inputs() -> list[Path]:
    from ..training import augment, export, loops, models

    return aligned.inputs() + [Path(__file__), Path(loops.__file__), Path(models.__file__), Path(augment.__file__),
                               Path(export.__file__)]


def recipe_dict(recipe: Recipe = RECIPE, int8: dict[str, Any] = INT8) -> dict[str, Any]:
    return {"recipe": recipe.to_dict(), "aligned_fakes": aligned.RECIPE, "int8": int8}


def _int8_batches(records: Sequence[Any], int8: dict[str, Any]) -> list[np.ndarray]:
    from ..detectors.npr import tiles_to_batch
    from ..training.data import load_rgb

    rng = np.random.default_rng(int(int8["seed"]))
    train = [r for r in records if r.split == "train" and r.source != "ae"]
    cif = [r for r in train if r.source == "cifake"]
    full = [r for r in train if r.source != "cifake"]
    half = int(int8["images"]) // 2
    pick = [cif[i] for i in rng.choice(len(cif), min(half, len(cif)), replace=False)]
    pick += [full[i] for i in rng.choice(len(full), min(half, len(full)), replace=False)]
    return [tiles_to_batch(im) for im in (load_rgb(r.path) for r in pick) if min(im.shape[:2]) >= int(int8["min_side"])]


def build_npr(root: str | os.PathLike[str] | None = None, *, log: Log | None = None, inputs_sha256: str = "",
              out_dir: str | os.PathLike[str] | None = None, recipe: Recipe = RECIPE, int8: dict[str, Any] = INT8,
              records: Sequence[Any] | None = None, aligned_records: Sequence[Any] | None = None,
              threads: int = 2) -> Any:
    """Train, export, quantize and calibrate npr into ``out_dir`` (default the package's ``weights/``);
    returns the card.  ``records``/``aligned_records`` (default: the frozen split and :func:`.aligned.aligned_fakes`),
    a small ``recipe`` and ``threads`` (torch threads; the shipped weights used two) exist for tests on tiny data."""
    import torch

    from ..detectors.base import WEIGHTS_DIR, sha256_file
    from ..detectors.npr import NPRDetector
    from ..training.data import all_records
    from ..training.export import export_onnx, onnx_max_abs_diff, quantize_int8
    from ..training.loops import load_train_data, train_npr
    from ..training.models import count_parameters
    from ..training.pipeline import _npr_card
    from .experts import calibration_platt, record_build

    log = log or (lambda m: None)
    t0 = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else WEIGHTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    recs = list(records) if records is not None else all_records(root)
    ae = list(aligned_records) if aligned_records is not None else aligned.aligned_fakes(root, log=log)
    torch.set_num_threads(threads)
    data = load_train_data([r for r in recs + ae if r.split == "train"], log=log)
    model = train_npr(data, recipe.npr, rng=aligned.streams(recipe.seed)[1], log=log)
    seconds = time.perf_counter() - t0
    fp32 = out / "npr.onnx"
    blob = export_onnx(model, fp32, example_size=recipe.npr.tile)
    probe = [np.random.default_rng(0).uniform(0, 255, (n, 3, s, s)).astype(np.float32)
             for n, s in ((8, recipe.npr.tile), (1, 32), (2, 64))]
    max_diff = onnx_max_abs_diff(model, blob, probe)
    log(f"npr: ONNX vs torch max |diff| {max_diff:.2e}, {len(blob) / 1e6:.2f} MB")
    q8 = out / "npr.int8.onnx"
    batches = _int8_batches(recs, int8)
    quantize_int8(fp32, q8, batches, keep_fp32=list(int8["keep_fp32"]), reduce_range=bool(int8["reduce_range"]))
    log(f"npr: int8 quantized with {len(batches)} train-split images")
    card = _npr_card(recipe, sha256_file(q8), count_parameters(model), max_diff, data.summary())
    below = int(int8["reference_below_side"])
    card = replace(
        card, weights=q8.name, sha256=sha256_file(q8),
        input_policy=card.input_policy + f"; images with a side under {below} px (thumbnails) run the float32 "
                                         "reference weights, larger ones the int8 weights",
        extra={**card.extra, "precision": "int8", "reference_below_side": below,
               "reference_weights": {"file": fp32.name, "sha256": sha256_file(fp32), "precision": "fp32",
                                     "note": "the trained float32 export (checked against torch); the int8 file is "
                                             "its static quantization (fakescope build npr)"},
               "int8": {"method": "onnxruntime quantize_static QDQ, MinMax activation ranges, per-channel "
                                  "reduce_range (7-bit) weights, Conv only, first convolution float32",
                        "calibration_images": len(batches)}})
    # score with the files just written (absolute paths), save with their names
    det = NPRDetector(replace(card, weights=str(q8), extra={**card.extra, "reference_weights": {
        **card.extra["reference_weights"], "file": str(fp32)}}))
    from .calibrate import calibration_rows

    cal = [r for r in recs if r.split == "calibration"] if records is not None else calibration_rows(root)
    card = replace(card, calibration=calibration_platt(det, cal, log=log))
    card = record_build(card, step="npr", recipe=recipe_dict(recipe, int8), inputs_sha256=inputs_sha256,
                        train_seconds=round(seconds, 1))
    card.save(out / "npr.json")
    log(f"npr: wrote {fp32.name}, {q8.name}, npr.json ({time.perf_counter() - t0:.0f}s)")
    return card
