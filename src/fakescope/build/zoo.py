"""Build steps ``safe``, ``cnnspot``, ``patchcraft`` and ``npr-thumb``: the tile networks of the generic trainer.

Each runs :func:`fakescope.training.trainer.train` with its recipe ``configs/train/<name>.yaml`` (the
recipe in the shipped card's ``extra.recipe``; seeded, a fixed number of optimizer steps, no
wall-clock limit), evaluates on the calibration split every ``eval_every`` steps and exports the
best-scoring checkpoint (a deterministic choice; the trainer stops after ``patience`` evaluations
without improvement, also deterministic), exports ONNX (checked against torch) and installs the
graph and card into ``weights/``.  Runs go to ``$FAKESCOPE_CACHE/build/<name>-<fingerprint>`` and
resume after a kill.

* ``safe``, ``cnnspot``, ``patchcraft``: the frozen split's train rows plus the aligned fakes
  (:mod:`.aligned`); validation = the calibration split.
* ``cnnspot-adv``: ``cnnspot`` fine-tuned on the same rows from its shipped weights, every batch also
  attacked by L∞ PGD through the network being trained (the recipe's ``adversarial``); the last step's
  weights ship (``select: last``).
* ``npr-thumb``: CIFAKE only (cifake/train indices 0..1999 per class = train, 2000..2499 =
  validation), the NPR network averaged over :data:`THUMB_SEEDS` seeds in one ONNX graph
  (:class:`fakescope.training.models.MeanOfNets`; the shipped file has one).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import aligned

__all__ = ["FAMILIES", "THUMB", "THUMB_SEEDS", "RECIPE_DIR", "recipe_path", "inputs", "build_tilenet",
           "build_npr_thumb"]

Log = Callable[[str], None]

FAMILIES: tuple[str, ...] = ("safe", "cnnspot", "patchcraft")
#: networks fine-tuned from a family's shipped weights (their recipe's ``init_from``), built after it
FINE_TUNED: tuple[str, ...] = ("cnnspot-adv",)
THUMB = "npr-thumb"
THUMB_SEEDS = 1
#: the recipes (a source checkout's configs/train; the build needs the shared data and a checkout)
RECIPE_DIR = Path(__file__).resolve().parents[3] / "configs" / "train"


def recipe_path(name: str) -> Path:
    return RECIPE_DIR / f"{name}.yaml"


def inputs(name: str) -> list[Path]:
    """What the ``name`` step reads: the split, its recipe, this module and the trainer's code."""
    from ..io.splits import SPLIT_FILE
    from ..training import augment, export, families, loops, models, trainer

    code = [Path(__file__), Path(trainer.__file__), Path(families.__file__), Path(loops.__file__),
            Path(augment.__file__), Path(export.__file__), Path(models.__file__)]
    if name == THUMB:
        return [SPLIT_FILE, recipe_path(name), *code]
    more: list[Path] = []
    if name in FINE_TUNED:  # the weights it starts from, and the attack its batches go through
        from .. import attacks
        from ..detectors.base import load_card

        recipe = _load(name, None)
        more = [load_card(str(recipe.init_from)).weights_path(), Path(attacks.__file__)]
    return [*aligned.inputs(), recipe_path(name), *code, *more]


def _load(name: str, overrides: dict[str, Any] | None) -> Any:
    from ..errors import UsageError
    from ..training.trainer import load_recipe

    p = recipe_path(name)
    if not p.is_file():
        raise UsageError(f"{p} not found: the {name} build step needs a source checkout's configs/train")
    return load_recipe(p, **(overrides or {}))


def _run_dir(name: str, work: str | os.PathLike[str] | None, inputs_sha256: str) -> Path:
    if work is not None:
        return Path(work)
    return aligned.cache_root() / f"{name}-{(inputs_sha256 or 'adhoc')[:16]}"


def build_tilenet(name: str, root: str | os.PathLike[str] | None = None, *, log: Log | None = None,
                  inputs_sha256: str = "", out_dir: str | os.PathLike[str] | None = None,
                  overrides: dict[str, Any] | None = None, records: Sequence[Any] | None = None,
                  aligned_records: Sequence[Any] | None = None, work: str | os.PathLike[str] | None = None,
                  threads: int = 2) -> Any:
    """Train ``name`` (safe, cnnspot, patchcraft or cnnspot-adv) and install it into ``out_dir`` (default the package's
    ``weights/``); returns the card.  ``records`` (written as a manifest), ``aligned_records``,
    ``overrides`` (recipe settings), ``work`` and ``threads`` (torch threads; the shipped runs used two)
    exist for tests on tiny data."""
    import json

    import torch

    from ..detectors.base import WEIGHTS_DIR, DetectorCard
    from ..io.splits import data_root
    from ..training.trainer import train
    from .experts import record_build, write_manifest

    log = log or (lambda m: None)
    recipe = _load(name, overrides)
    run = _run_dir(name, work, inputs_sha256)
    ae = list(aligned_records) if aligned_records is not None else aligned.aligned_fakes(root, log=log)
    adir = run / "aligned"
    if records is not None:  # tests: a manifest of the given rows and aligned fakes
        data = str(write_manifest(run / "manifest.csv", [r for r in list(records) + ae
                                                         if r.split in ("train", "calibration")]))
        adir_arg = None
    else:  # the shared data's train rows (all_records) then the aligned fakes: the order the shipped runs saw
        adir.mkdir(parents=True, exist_ok=True)
        (adir / "records.json").write_text(json.dumps([r.__dict__ for r in ae]), encoding="utf-8")
        data, adir_arg = ("shared" if root is None else str(root)), adir  # "shared": the call the shipped runs made
    torch.set_num_threads(threads)
    res = train(recipe, data, run / "run", aligned_fakes=adir_arg, log=log)
    log(f"{name}: best step {res.best_step}, validation {json.dumps(res.best_metrics)}, {res.seconds:.0f}s")
    out = Path(out_dir) if out_dir is not None else WEIGHTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(res.onnx_path, out / res.onnx_path.name)
    card = DetectorCard.load(res.card_path)
    extra = dict(card.extra)
    seconds = extra.pop("train_seconds", None)  # wall-clock: in metrics.build, not in the scoring key
    card = replace(card, weights=res.onnx_path.name, extra=extra,
                   training_data=card.training_data.replace(str(adir), "the aligned fakes (fakescope.build.aligned)")
                   .replace(str(data_root(root)), "the shared data"))
    card = record_build(card, step=name, recipe={"trainer": recipe.to_dict(), "aligned_fakes": aligned.RECIPE},
                        inputs_sha256=inputs_sha256, best_step=res.best_step, train_seconds=seconds,
                        steps_run=int(res.history[-1]["step"]) if res.history else None,
                        stopped_early=bool(res.history and res.history[-1].get("stopped")))
    card.save(out / f"{name}.json")
    return card


def build_npr_thumb(root: str | os.PathLike[str] | None = None, *, log: Log | None = None, inputs_sha256: str = "",
                    out_dir: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None,
                    seeds: int = THUMB_SEEDS, records: Sequence[Any] | None = None,
                    work: str | os.PathLike[str] | None = None, threads: int = 2) -> Any:
    """Train npr-thumb (``seeds`` networks, averaged) and install it; returns the card."""
    import torch

    from ..detectors.base import WEIGHTS_DIR, DetectorCard, sha256_file
    from ..training.data import all_records
    from ..training.export import export_onnx, load_onnx_weights, onnx_max_abs_diff
    from ..training.models import MeanOfNets, count_parameters
    from ..training.trainer import train
    from .experts import record_build, write_manifest

    log = log or (lambda m: None)
    t0 = time.perf_counter()
    base = _load(THUMB, overrides)
    run = _run_dir(THUMB, work, inputs_sha256)
    recs = list(records) if records is not None else all_records(root)
    manifest = write_manifest(run / "cifake.csv", [r for r in recs if r.source == "cifake"
                                                   and r.split in ("train", "calibration")])
    torch.set_num_threads(threads)
    runs = []
    for i in range(seeds):
        recipe = replace(base, seed=base.seed + i)
        res = train(recipe, str(manifest), run / f"seed-{recipe.seed}", log=log)
        log(f"{THUMB} seed {recipe.seed}: best step {res.best_step}, validation {res.best_metrics}, {res.seconds:.0f}s")
        runs.append((recipe, res))
    nets = [load_onnx_weights(r.family().build(**r.model), res.onnx_path).eval() for r, res in runs]
    model = MeanOfNets(nets).eval()
    out = Path(out_dir) if out_dir is not None else WEIGHTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{THUMB}.onnx"
    blob = export_onnx(model, target, example_size=32)
    probe = [np.random.default_rng(0).uniform(0, 255, (n, 3, s, s)).astype(np.float32) for n, s in ((2, 32), (8, 96))]
    diff = onnx_max_abs_diff(model, blob, probe)
    log(f"{THUMB}: {len(nets)} network(s) averaged, ONNX vs torch max |diff| {diff:.2e}, {len(blob) / 1e6:.2f} MB")
    card = DetectorCard.load(runs[0][1].card_path)
    used = [r.seed for r, _ in runs]
    extra = dict(card.extra)
    extra.pop("train_seconds", None)  # wall-clock: in metrics.build, not in the scoring key
    extra.update({"regime": "thumbnail", "seeds": used, "onnx_max_abs_diff_vs_torch": diff,
                  "seed_runs": [{"seed": r.seed, "best_step": res.best_step, "validation": res.best_metrics}
                                for r, res in runs]})
    card = replace(
        card, name=THUMB, weights=target.name, sha256=sha256_file(target), parameters=count_parameters(model),
        summary="NPR thumbnail specialist (trained on CIFAKE only)",
        training_data=f"CIFAKE only (32x32 JPEG: CIFAR-10 photos vs Stable Diffusion 1.4): cifake/train indices "
                      f"0..1999 per class = train, 2000..2499 = validation / early stopping; "
                      f"{len(used)} networks trained from seeds {used} with the same recipe, averaged",
        input_policy=card.input_policy + "; meant for thumbnails (<= 64 px): trained on 24-32 px CIFAKE views only; "
                     "on full-resolution images it is no detector, so fuse it for thumbnails only",
        preprocessing=card.preprocessing + f"; the graph averages the logits of {len(used)} networks",
        extra=extra, metrics={"validation": {f"seed {r.seed}": res.best_metrics for r, res in runs}})
    card = record_build(card, step=THUMB, recipe={"trainer": base.to_dict(), "seeds": used},
                        inputs_sha256=inputs_sha256, best_steps=[res.best_step for _, res in runs],
                        train_seconds=round(time.perf_counter() - t0, 1))
    card.save(out / f"{THUMB}.json")
    return card
