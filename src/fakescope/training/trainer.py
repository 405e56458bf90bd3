"""``fakescope train``: one reproducible, resumable recipe format for every tile-network family.

A run reads a recipe (YAML, :class:`TrainRecipe`), a dataset (the shared data folder with the
shipped splits, a CSV/JSONL manifest, or a ``real/``/``fake/`` folder) and writes into its
output folder:

* ``checkpoint.pt`` after every evaluation (model, optimiser, schedule, RNG states, best
  weights, history): a killed run started again with the same command continues where it
  stopped and ends with the same weights as an uninterrupted run;
* at the end ``<family>.onnx`` (the best evaluation's weights, ONNX Runtime outputs checked
  against torch), ``<family>.json`` (the detector card: data, split, recipe, validation
  metrics, Platt calibration on the validation split), ``recipe.yaml``, ``history.json``.

A finished run folder is a detector: ``create_detector("safe", card_path="runs/safe1/safe.json")``.

Sampling is format-aligned (:mod:`fakescope.training.augment`): real and fake views go
through the same random crops (never resizes), pre-encodings and JPEG qualities, so "PNG
means fake" cannot be learnt; optional blur alignment; the family's own augmentations
after that.  Hard-negative mining: at every evaluation the training reals that score most
"fake" are sampled more often.  Early stopping on the validation split (the ``calibration``
split of the shipped data; ``val``/``validation``/``calibration`` rows of a manifest; else a
fixed 20% of the files by path hash).  The test split is never read.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import UsageError
from .augment import apply_encoding, sample_encoding
from .data import Record, hash_fraction, load_rgb
from .families import Family, get_family
from .loops import Pool, TrainData, _crop_batch, _source_weights

__all__ = ["TrainRecipe", "load_recipe", "training_records", "load_pools", "train", "TrainResult", "ValSet"]

Log = Callable[[str], None]
SMALL = 32  # images smaller than the tile train as whole 32-px views (CIFAKE-like)
_LOSSLESS_EXT = (".png", ".bmp", ".tif", ".tiff", ".ppm", ".pgm")


@dataclass(frozen=True)
class TrainRecipe:
    """Every knob of a training run (saved with the run and into the card)."""

    detector: str
    seed: int = 0
    steps: int = 2000
    batch_small: int = 64
    batch_crops: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    model: dict[str, Any] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)
    tile: int | None = None  # default: the family's
    max_tiles: int | None = None
    # format alignment (both classes alike)
    p_jpeg: float = 0.5
    q_min: int = 65
    q_max: int = 100
    p_pre_jpeg: float = 0.5
    p_aligned: float = 0.75
    p_flip: float = 0.5
    p_blur_real: float = 0.3
    p_blur_fake: float = 0.1
    small_crop_sizes: tuple[int, ...] = ()
    # augmentations from the perturbation library, both classes alike, after the family's own:
    # [{name: gaussian-noise, p: 0.1, severity: [1, 2]}, ...] (size-preserving perturbations only)
    perturbations: tuple[dict[str, Any], ...] = ()
    # evaluation, early stopping, hard negatives
    eval_every: int = 200
    patience: int = 4
    val_max_small: int = 600
    val_max_full: int = 400
    hard_negative_boost: float = 2.0
    hard_negative_share: float = 0.2
    max_per_class: int | None = None  # subsample training files (quick runs)
    max_side: int = 1536
    # fine-tuning and adversarial training (an option of the model build, e.g. configs/train/cnnspot-adv.yaml)
    name: str | None = None  # the detector the run publishes (its card and ONNX file); default the family's
    init_from: str | None = None  # start from these weights: a shipped detector's name or an .onnx path
    # {eps: "6/255", steps: 3, weight: 0.5}: every batch also attacked by L-inf PGD (random start, steps of
    # 2.5 eps / steps, fakescope.attacks._gradient_attack) through the network being trained, fakes toward
    # real and reals toward fake (labels kept); the loss is (1 - weight) clean + weight adversarial
    adversarial: dict[str, Any] = field(default_factory=dict)
    select: str = "best"  # "best": the best validation score (early stopping); "last": the last step's weights

    def to_dict(self) -> dict[str, Any]:
        """Every setting; the fine-tuning ones (``name``, ``init_from``, ``adversarial``, ``select``) only where
        a recipe uses them, so a recipe without them reads as it did before they existed (the cards record it)."""
        d = asdict(self)
        d["small_crop_sizes"] = list(self.small_crop_sizes)
        d["perturbations"] = [dict(p) for p in self.perturbations]
        for k, default in _FINE_TUNING_DEFAULTS.items():
            if d[k] == default:
                del d[k]
        return d

    def family(self) -> Family:
        return get_family(self.detector)

    @property
    def detector_name(self) -> str:
        """The name the run's card and ONNX file take."""
        return self.name or self.family().name

    @property
    def tile_size(self) -> int:
        return int(self.tile or self.family().tile)

    @property
    def tiles(self) -> int:
        return int(self.max_tiles or self.family().max_tiles)


_FINE_TUNING_DEFAULTS: dict[str, Any] = {"name": None, "init_from": None, "adversarial": {}, "select": "best"}
#: what an ``adversarial`` entry leaves out (``load_recipe`` fills it in; ``eps`` has no default)
_ADVERSARIAL_DEFAULTS: dict[str, Any] = {"steps": 3, "weight": 0.5}


def load_recipe(path: str | os.PathLike[str] | None = None, **overrides: Any) -> TrainRecipe:
    """A recipe from a YAML (or JSON) file, with keyword overrides (``None`` values ignored)."""
    data: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text(encoding="utf-8")
        try:
            import yaml

            data = yaml.safe_load(text) or {}
        except ImportError:  # pragma: no cover - pyyaml is in the train extra
            data = json.loads(text)
        if not isinstance(data, dict):
            raise UsageError(f"{path}: a recipe is a mapping of settings")
    data.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(TrainRecipe)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"unknown recipe setting(s) {unknown}; known: {sorted(known)}")
    if "detector" not in data:
        raise UsageError("the recipe names no detector (detector: safe|cnnspot|patchcraft|npr)")
    if "small_crop_sizes" in data:
        data["small_crop_sizes"] = tuple(int(v) for v in data["small_crop_sizes"] or ())
    if "perturbations" in data:
        data["perturbations"] = tuple(_check_perturbation(p) for p in data["perturbations"] or ())
    if data.get("adversarial"):
        data["adversarial"] = {**_ADVERSARIAL_DEFAULTS, **data["adversarial"]}
    recipe = TrainRecipe(**data)
    fam = recipe.family()  # validates the name
    if recipe.steps < 1 or recipe.eval_every < 1:
        raise UsageError("steps and eval_every must be positive")
    if recipe.select not in ("best", "last"):
        raise UsageError(f"select must be 'best' or 'last', not {recipe.select!r}")
    if recipe.adversarial:
        unknown = sorted(set(recipe.adversarial) - {"eps", *_ADVERSARIAL_DEFAULTS})
        if unknown or "eps" not in recipe.adversarial:
            raise UsageError(f"adversarial takes eps (e.g. 6/255), steps and weight; got {sorted(recipe.adversarial)}")
        if fam.transform != "none":
            raise UsageError(f"adversarial training needs a network on RGB pixels; {fam.name}'s input is "
                             f"transformed ({fam.transform}) outside the graph")
        if not 0.0 < float(recipe.adversarial["weight"]) <= 1.0 or int(recipe.adversarial["steps"]) < 1:
            raise UsageError("adversarial weight must be in (0, 1] and steps at least 1")
    return recipe


def _check_perturbation(spec: Any) -> dict[str, Any]:
    """Validate one ``perturbations`` entry: a registered, size-preserving perturbation."""
    from ..perturbations import apply_perturbation, list_perturbations, sample_params

    if not isinstance(spec, dict) or "name" not in spec:
        raise UsageError(f"a recipe perturbation is a mapping with a 'name', got {spec!r}")
    unknown = set(spec) - {"name", "p", "severity"}
    if unknown:
        raise UsageError(f"perturbation {spec['name']!r}: unknown keys {sorted(unknown)} (name, p, severity)")
    name = str(spec["name"])
    if name not in list_perturbations():
        raise UsageError(f"unknown perturbation {name!r}; registered: {list_perturbations()}")
    sev = spec.get("severity", [1, 3])
    lo, hi = (int(sev), int(sev)) if isinstance(sev, (int, float)) else (int(sev[0]), int(sev[-1]))
    if not 1 <= lo <= hi <= 5:
        raise UsageError(f"perturbation {name!r}: severity must be within 1..5, got {sev!r}")
    p = float(spec.get("p", 0.1))
    if not 0.0 <= p <= 1.0:
        raise UsageError(f"perturbation {name!r}: p must be within 0..1, got {p}")
    probe = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for s in range(lo, hi + 1):
        out = apply_perturbation(name, probe, **sample_params(name, np.random.default_rng(s), s))
        if out.shape != probe.shape:
            raise UsageError(f"perturbation {name!r} changes the image size ({out.shape[1]}x{out.shape[0]} from "
                             "64x64): training views must keep their size (resizing erases the traces)")
    return {"name": name, "p": p, "severity": [lo, hi]}


def _perturb(img: np.ndarray, specs: Sequence[dict[str, Any]], rng: np.random.Generator) -> np.ndarray:
    from ..perturbations import apply_perturbation, sample_params

    for spec in specs:
        if rng.random() < spec["p"]:
            lo, hi = spec["severity"]
            sev = int(rng.integers(lo, hi + 1))
            img = apply_perturbation(spec["name"], img, **sample_params(spec["name"], rng, sev))
    return img


# --------------------------------------------------------------------------------------
# data


def _is_shared(path: str) -> bool:
    p = Path(path)
    return path == "shared" or ((p / "manifest.csv").is_file() and (p / "cifake").is_dir())


def training_records(data: str, *, aligned_fakes: str | os.PathLike[str] | None = None) -> list[Record]:
    """Records with ``split`` in {train, calibration, test} from a data argument.

    ``"shared"`` (or the shared data folder itself): the shipped detectors' splits
    (:func:`fakescope.training.data.all_records`), plus auto-encoder reconstructions listed
    in ``aligned_fakes/records.json`` when given.  Anything else opens through
    :func:`fakescope.io.datasets.open_dataset`; its ``val``/``validation``/``calibration``
    rows validate, ``test`` rows are never read, unsplit files go 80/20 by path hash.
    """
    from .data import all_records

    if _is_shared(data):
        recs = all_records(None if data == "shared" else data)
        if aligned_fakes is not None:
            f = Path(aligned_fakes) / "records.json"
            if not f.is_file():
                raise UsageError(f"{f} not found (the aligned fakes are built by fakescope.build.aligned, "
                                 "or leave out --aligned-fakes)")
            recs += [Record(**r) for r in json.loads(f.read_text()) if r["source"] == "ae"]
        return recs
    from ..io.datasets import open_dataset

    out = []
    mapping = {"train": "train", "val": "calibration", "validation": "calibration", "calibration": "calibration",
               "test": "test"}
    for it in open_dataset(data):
        split = mapping.get((it.split or "").lower())
        if split is None:
            split = "train" if hash_fraction(it.relpath) < 0.8 else "calibration"
        src = it.source or "data"
        group = f"{src}:{it.generator}" if it.label and it.generator else f"{src}:{'fake' if it.label else 'real'}"
        out.append(Record(it.path, it.label, group, split, src, it.relpath, it.path.lower().endswith(_LOSSLESS_EXT)))
    if not out:
        raise UsageError(f"no labelled images found in {data}")
    return out


def _subsample(records: Sequence[Record], n: int | None, rng: np.random.Generator) -> list[Record]:
    if n is None:
        return list(records)
    out = []
    for label in (0, 1):
        recs = [r for r in records if r.label == label]
        idx = np.sort(rng.permutation(len(recs))[:n])
        out += [recs[i] for i in idx]
    return out


def load_pools(records: Sequence[Record], *, tile: int, max_side: int = 1536, log: Log | None = None) -> TrainData:
    """Decode training records: images at least ``tile`` on a side feed the full-resolution crop
    pools; smaller ones (at least 32 px) train as whole 32-px views (the centre 32×32 when bigger);
    smaller still are skipped.  Unreadable files are reported and skipped."""
    small, small_y = [], []
    pools = {0: Pool(), 1: Pool()}
    skipped: list[str] = []
    big: dict[int, list[tuple[Record, np.ndarray]]] = {0: [], 1: []}
    for r in records:
        try:
            img = load_rgb(r.path)
        except Exception as e:  # noqa: BLE001 - one bad file must not stop a run
            skipped.append(f"{r.path}: {e}")
            continue
        h, w = img.shape[:2]
        if min(h, w) >= tile:
            if max(h, w) > max_side:
                y0 = max(0, (h - max_side) // 2) // 8 * 8
                x0 = max(0, (w - max_side) // 2) // 8 * 8
                img = np.ascontiguousarray(img[y0 : y0 + max_side, x0 : x0 + max_side])
            big[r.label].append((r, img))
        elif min(h, w) >= SMALL:
            y0, x0 = (h - SMALL) // 2 // 2 * 2, (w - SMALL) // 2 // 2 * 2
            small.append(np.ascontiguousarray(img[y0 : y0 + SMALL, x0 : x0 + SMALL]))
            small_y.append(r.label)
        else:
            skipped.append(f"{r.path}: {w}x{h} is below {SMALL} px")
    for label in (0, 1):
        items = big[label]
        sources = sorted({r.source for r, _ in items})
        for s in sources:
            srecs = [(r, im) for r, im in items if r.source == s]
            wts = np.asarray(_source_weights([r for r, _ in srecs]))
            wts = wts / wts.sum() / len(sources)
            for (r, im), wi in zip(srecs, wts):
                pools[label].add(im, r.lossless, float(wi), f"{r.source}:{r.group}")
    data = TrainData(np.stack(small) if small else np.zeros((0, SMALL, SMALL, 3), np.uint8),
                     np.asarray(small_y, np.int64), pools[0], pools[1])
    if log:
        log(f"training data: {len(small)} small images, {len(pools[0])} real + {len(pools[1])} fake full-resolution"
            + (f"; skipped {len(skipped)} (first: {skipped[0]})" if skipped else ""))
    return data


@dataclass
class ValSet:
    """The validation images as network inputs (uint8 tile batches), labels and domains."""

    batches: list[np.ndarray]
    labels: np.ndarray
    domains: np.ndarray  # "small" / "full"
    groups: list[str]

    @classmethod
    def build(cls, records: Sequence[Record], recipe: TrainRecipe, *, rng: np.random.Generator,
              log: Log | None = None) -> "ValSet":
        from ..detectors.zoo import tile_batch

        fam = recipe.family()
        batches, labels, domains, groups = [], [], [], []
        chosen: dict[str, list[Record]] = {"small": [], "full": []}
        for r in records:
            chosen["small" if r.source == "cifake" else "full"].append(r)
        for dom, cap in (("small", recipe.val_max_small), ("full", recipe.val_max_full)):
            recs = chosen[dom]
            if len(recs) > cap:  # class-balanced fixed subsample
                recs = _subsample(recs, cap // 2, rng)
            for r in recs:
                try:
                    img = load_rgb(r.path)
                except Exception:  # noqa: BLE001
                    continue
                if min(img.shape[:2]) < 16:
                    continue
                b = tile_batch(img, tile=recipe.tile_size, max_tiles=recipe.tiles, mirror=True,
                               transform=fam.transform)
                batches.append(b.astype(np.uint8))
                labels.append(r.label)
                domains.append("small" if min(img.shape[:2]) < recipe.tile_size else "full")
                groups.append(r.group)
        if log:
            log(f"validation: {len(batches)} images ({domains.count('small')} small, {domains.count('full')} full)")
        return cls(batches, np.asarray(labels, np.int64), np.asarray(domains), groups)

    @torch.no_grad()
    def scores(self, model: nn.Module) -> np.ndarray:
        model.eval()
        out = []
        for b in self.batches:
            out.append(float(model(torch.from_numpy(b.astype(np.float32))).mean()))
        return np.asarray(out)

    def metrics(self, scores: np.ndarray) -> dict[str, Any]:
        from .evaluate import roc_auc

        out: dict[str, Any] = {}
        aucs = []
        for dom in ("small", "full"):
            m = self.domains == dom
            if m.any() and len(set(self.labels[m].tolist())) == 2:
                out[f"auc_{dom}"] = roc_auc(self.labels[m], scores[m])
                aucs.append(out[f"auc_{dom}"])
        if len(set(self.labels.tolist())) == 2:
            out["auc"] = roc_auc(self.labels, scores)
        out["score"] = float(np.mean(aucs)) if aucs else float("nan")
        return out


# --------------------------------------------------------------------------------------
# the loop


@dataclass
class TrainResult:
    out_dir: Path
    card_path: Path
    onnx_path: Path
    best_step: int
    best_metrics: dict[str, Any]
    history: list[dict[str, Any]]
    resumed_from: int
    seconds: float


def _to_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)).float()


def _make_batch(data: TrainData, recipe: TrainRecipe, fam: Family, rng: np.random.Generator, *,
                small: bool) -> tuple[np.ndarray, np.ndarray]:
    """A batch of format-aligned, family-augmented views as network input ``(n, C, h, w)``."""
    from ..detectors.zoo import smash_and_reconstruct

    if small:
        n = recipe.batch_small
        idx = np.concatenate([rng.choice(np.flatnonzero(data.cifake_labels == c), n // 2) for c in (0, 1)])
        h = data.cifake_images.shape[1]
        size = int(rng.choice(list(recipe.small_crop_sizes))) if recipe.small_crop_sizes else h
        views = []
        for i in idx:
            img = data.cifake_images[i]
            if rng.random() < recipe.p_flip:
                img = img[:, ::-1]
            if size < h:
                y, x = (int(rng.integers(0, (h - size) // 2 + 1)) * 2 for _ in range(2))
                img = img[y : y + size, x : x + size]
            enc = sample_encoding(rng, p_jpeg=recipe.p_jpeg, q_min=recipe.q_min, q_max=recipe.q_max)
            views.append(apply_encoding(np.ascontiguousarray(img), enc))
        labels = data.cifake_labels[idx]
    else:
        views_arr, labels = _crop_batch(
            data, rng, recipe.batch_crops, recipe.tile_size, p_flip=recipe.p_flip, p_blur_real=recipe.p_blur_real,
            p_blur_fake=recipe.p_blur_fake, p_jpeg=recipe.p_jpeg, q_min=recipe.q_min, q_max=recipe.q_max,
            p_pre_jpeg=recipe.p_pre_jpeg, p_aligned=recipe.p_aligned)
        views = list(views_arr)
    views = [fam.augment(np.ascontiguousarray(v), rng, recipe.augment) for v in views]
    if recipe.perturbations:
        views = [_perturb(v, recipe.perturbations, rng) for v in views]
    if fam.transform == "patchcraft":
        views = [smash_and_reconstruct(v) for v in views]
    x = np.stack(views).transpose(0, 3, 1, 2).astype(np.float32)
    return x, np.asarray(labels, np.int64)


def _hard_negatives(model: nn.Module, data: TrainData, recipe: TrainRecipe, base_w: np.ndarray, *,
                    step: int) -> np.ndarray:
    """Boost the sampling weight of the training reals the model finds most "fake"."""
    from ..detectors.zoo import tile_batch

    if recipe.hard_negative_boost <= 1.0 or len(data.real) == 0:
        return base_w
    rng = np.random.default_rng([recipe.seed, step, 7])
    n = min(len(data.real), 64)
    idx = rng.choice(len(data.real), n, replace=False)
    fam = recipe.family()
    scores = []
    with torch.no_grad():
        model.eval()
        for i in idx:
            b = tile_batch(data.real.images[i], tile=recipe.tile_size, max_tiles=2, mirror=False,
                           transform=fam.transform)
            scores.append(float(model(_to_tensor(b)).mean()))
    model.train()
    k = max(1, int(round(recipe.hard_negative_share * n)))
    hard = idx[np.argsort(scores)[::-1][:k]]
    w = base_w.copy()
    w[hard] *= recipe.hard_negative_boost
    return w * (base_w.sum() / w.sum())


def _init_weights(model: nn.Module, recipe: TrainRecipe, *, log: Log | None = None) -> dict[str, str] | None:
    """Load ``recipe.init_from`` (a shipped detector's name, or an ONNX file of the same family and model
    settings) into ``model``; returns what was loaded (file and sha256) for the card, or None."""
    if not recipe.init_from:
        return None
    from ..detectors.base import load_card, sha256_file
    from .export import load_onnx_weights

    src = str(recipe.init_from)
    if src.endswith(".onnx"):
        path = Path(src)
    else:
        card = load_card(src)
        if card.family != recipe.family().name:
            raise UsageError(f"init_from {src!r} is a {card.family} network, the recipe trains {recipe.family().name}")
        path = card.weights_path()
    if not path.is_file():
        raise UsageError(f"init_from: {path} not found")
    load_onnx_weights(model, path)
    if log:
        log(f"{recipe.detector_name}: starting from {path.name}")
    return {"from": src, "file": path.name, "sha256": sha256_file(path)}


def _adversarial(model: nn.Module, x: np.ndarray, y: np.ndarray, spec: dict[str, Any],
                 rng: np.random.Generator) -> np.ndarray:
    """``x`` (n, 3, h, w) float32 0..255 attacked by L-inf PGD through ``model`` in eval mode (fakes pushed to
    look real, reals to look fake), quantised to grey levels: the same attack ``fakescope attack`` runs."""
    from ..attacks import _gradient_attack, parse_eps

    was = model.training
    model.eval()
    try:
        images = np.ascontiguousarray(np.rint(x).clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1))
        adv = _gradient_attack(images, eps=parse_eps(spec["eps"]), detector="", rng=rng, norm="linf",
                               steps=int(spec["steps"]), batch=len(images), twin=model,
                               sign=np.where(y == 1, 1.0, -1.0))
    finally:
        model.train(was)
    return adv.transpose(0, 3, 1, 2).astype(np.float32)


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(recipe: TrainRecipe, data: str, out_dir: str | os.PathLike[str], *,
          aligned_fakes: str | os.PathLike[str] | None = None, restart: bool = False, log: Log = print,
          on_step: Callable[[int, int, dict[str, Any]], None] | None = None) -> TrainResult:
    """Train (or resume) a tile-network family and export it as a detector (see the module docstring)."""
    from .export import export_onnx, onnx_max_abs_diff
    from .models import count_parameters

    fam = recipe.family()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    t_start = time.perf_counter()
    root = np.random.SeedSequence(recipe.seed)
    s_data, s_train, s_init, s_val = root.spawn(4)

    records = training_records(data, aligned_fakes=aligned_fakes)
    train_recs = _subsample([r for r in records if r.split == "train"], recipe.max_per_class,
                            np.random.default_rng(s_data))
    val_recs = [r for r in records if r.split == "calibration"]
    if not train_recs or not val_recs:
        raise UsageError(f"{data}: need both training and validation images (got {len(train_recs)} and "
                         f"{len(val_recs)})")
    pools = load_pools(train_recs, tile=recipe.tile_size, max_side=recipe.max_side, log=log)
    use_small = len(pools.cifake_labels) > 0 and recipe.batch_small > 0 and len(set(pools.cifake_labels)) == 2
    use_crops = len(pools.real) > 0 and len(pools.fake) > 0 and recipe.batch_crops > 0
    if not (use_small or use_crops):
        raise UsageError("the training split has no usable images of both classes")
    val = ValSet.build(val_recs, recipe, rng=np.random.default_rng(s_val), log=log)
    if len(set(val.labels.tolist())) < 2:
        raise UsageError("the validation split needs real and fake images")

    torch.manual_seed(int(np.random.default_rng(s_init).integers(2**31)))
    model = fam.build(**recipe.model)
    init = _init_weights(model, recipe, log=log)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.steps, pct_start=0.1)
    rng = np.random.default_rng(s_train)
    base_w = np.asarray(pools.real.weights) if len(pools.real) else None
    step0, history, best = 0, [], {"score": -1.0, "step": 0, "state": None, "metrics": {}}
    bad_evals = 0
    if ckpt_path.exists() and not restart:
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck["recipe"] != recipe.to_dict() or ck.get("data") != str(data):
            raise UsageError(f"{ckpt_path} belongs to a different recipe or dataset; use another --out or "
                             "--restart")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        step0, history, best, bad_evals = ck["step"], ck["history"], ck["best"], ck["bad_evals"]
        if ck.get("real_weights") is not None:
            pools.real.weights = list(ck["real_weights"])
        log(f"resuming {out} at step {step0}/{recipe.steps}")
    loss_fn = nn.BCEWithLogitsLoss()
    stopped_early = bool(history and history[-1].get("stopped"))
    model.train()
    t0 = time.perf_counter()
    step = step0
    while step < recipe.steps and not stopped_early:
        loss = torch.zeros(())
        parts: dict[str, float] = {}
        for name, on in (("small", use_small), ("crops", use_crops)):
            if not on:
                continue
            x, y = _make_batch(pools, recipe, fam, rng, small=(name == "small"))
            yt = torch.from_numpy(y).float()
            li = loss_fn(model(_to_tensor(x)), yt)
            parts[name] = float(li.item())
            if recipe.adversarial:  # the adversarial copy of the same batch (labels kept)
                w_adv = float(recipe.adversarial["weight"])
                la = loss_fn(model(_to_tensor(_adversarial(model, x, y, recipe.adversarial, rng))), yt)
                parts[f"{name}_adversarial"] = float(la.item())
                li = (1.0 - w_adv) * li + w_adv * la
            loss = loss + li
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        if on_step:
            on_step(step, recipe.steps, parts)
        if step % recipe.eval_every == 0 or step == recipe.steps:
            m = val.metrics(val.scores(model))
            entry = {"step": step, "loss": parts, "seconds": round(time.perf_counter() - t0, 1), **m}
            if recipe.select == "last" or m["score"] > best["score"]:
                best = {"score": m["score"], "step": step, "metrics": m,
                        "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
                bad_evals = 0
            else:
                bad_evals += 1
            if bad_evals >= recipe.patience and recipe.select == "best":
                entry["stopped"] = True
                stopped_early = True
            history.append(entry)
            log(f"{recipe.detector_name} step {step}/{recipe.steps}: " + ", ".join(f"{k} {v:.4f}" for k, v in m.items())
                + f" (best {best['score']:.4f} at {best['step']})" + ("; early stop" if stopped_early else ""))
            if use_crops and base_w is not None:
                pools.real.weights = list(_hard_negatives(model, pools, recipe, base_w, step=step))
            model.train()
            _atomic_save({"recipe": recipe.to_dict(), "data": str(data), "step": step, "model": model.state_dict(),
                          "opt": opt.state_dict(), "sched": sched.state_dict(), "rng": rng.bit_generator.state,
                          "torch_rng": torch.get_rng_state(), "history": history, "best": best,
                          "bad_evals": bad_evals, "real_weights": pools.real.weights}, ckpt_path)

    # ---- export the best weights
    model.load_state_dict(best["state"])
    model.eval()
    onnx_path = out / f"{recipe.detector_name}.onnx"
    channels = 6 if fam.transform == "patchcraft" else 3
    blob = export_onnx(model, onnx_path, example_size=recipe.tile_size if fam.transform == "none" else 64,
                       channels=channels)
    probe = [np.random.default_rng(0).uniform(0, 255, (n, channels, s, s)).astype(np.float32)
             for n, s in ((4, min(recipe.tile_size, 128)), (1, 32), (2, 64))]
    probe += [b.astype(np.float32) for b in val.batches[:: max(1, len(val.batches) // 8)][:8]]
    max_diff = onnx_max_abs_diff(model, blob, probe)
    log(f"{recipe.detector_name}: ONNX vs torch max |diff| {max_diff:.2e}, {len(blob) / 1e6:.2f} MB")
    if max_diff > 1e-3:
        raise RuntimeError(f"ONNX export disagrees with torch (max |diff| {max_diff:.3g})")
    card_path = _write_card(fam, recipe, model, out, onnx_path, data=str(data), aligned=aligned_fakes, val=val,
                            best=best, pools=pools, max_diff=max_diff, params=count_parameters(model),
                            seconds=time.perf_counter() - t_start, init=init)
    (out / "history.json").write_text(json.dumps(history, indent=1) + "\n")
    _write_recipe(recipe, out / "recipe.yaml")
    return TrainResult(out, card_path, onnx_path, int(best["step"]), best["metrics"], history, step0,
                       time.perf_counter() - t_start)


def _write_recipe(recipe: TrainRecipe, path: Path) -> None:
    try:
        import yaml

        path.write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    except ImportError:  # pragma: no cover
        path.with_suffix(".json").write_text(json.dumps(recipe.to_dict(), indent=2))


def _write_card(fam: Family, recipe: TrainRecipe, model: nn.Module, out: Path, onnx_path: Path, *, data: str,
                aligned: Any, val: ValSet, best: dict[str, Any], pools: TrainData, max_diff: float, params: int,
                seconds: float, init: dict[str, str] | None = None) -> Path:
    from ..detectors.base import DetectorCard, sha256_file
    from ..detectors.zoo import TileNetDetector
    from .evaluate import fit_platt, group_metrics

    adv = recipe.adversarial
    tuning = ((f" Fine-tuned from {init['file']} (sha256 {init['sha256'][:16]}…)." if init else "")
              + (f" Adversarially trained: every batch also attacked by L-inf PGD eps {adv['eps']} "
                 f"({int(adv['steps'])} steps, random start) through the network being trained, fakes toward "
                 f"real and reals toward fake; loss = {1 - float(adv['weight']):g} clean + "
                 f"{float(adv['weight']):g} adversarial (Madry et al. 2018)." if adv else ""))
    card = DetectorCard(
        name=recipe.detector_name, family=fam.name,
        summary=fam.summary + (" (adversarially trained)" if adv else ""),
        paper=fam.paper + ("; adversarial training after Madry et al., Towards Deep Learning Models Resistant to "
                           "Adversarial Attacks, ICLR 2018" if adv else ""),
        weights=onnx_path.name, sha256=sha256_file(onnx_path),
        input_policy=(f"native-resolution {recipe.tile_size}x{recipe.tile_size} tiles, up to {recipe.tiles}, "
                      "8-aligned grid (base.grid_tiles); an image smaller than the tile gives one tile cropped to a "
                      "multiple of 8 (never resized); horizontal mirrors added when the grid gives at most half the "
                      "tiles; score = mean of tile logits"
                      + ("; each tile is smashed into patches and rebuilt as rich/poor texture images "
                         "(detectors.zoo.smash_and_reconstruct)" if fam.transform == "patchcraft" else "")),
        preprocessing=f"ONNX input 'image' (n, {6 if fam.transform == 'patchcraft' else 3}, h, w) float32 0..255; "
                      f"inside the graph: {fam.looks_at}. Network: {type(model).__name__} "
                      f"(fakescope.training.families), {params} parameters.",
        training_data=(f"{data}" + (f" + auto-encoder reconstructions ({aligned})" if aligned else "")
                       + f": train split; {len(pools.cifake_labels)} small (32-px) images, {len(pools.real)} real and "
                       f"{len(pools.fake)} fake full-resolution images. Format-aligned views: native crops "
                       f"(8-aligned p={recipe.p_aligned}), flips p={recipe.p_flip}, lossless sources pre-encoded "
                       f"JPEG p={recipe.p_pre_jpeg}, JPEG q~U({recipe.q_min},{recipe.q_max}) p={recipe.p_jpeg}; "
                       f"blur alignment real p={recipe.p_blur_real}, fake p={recipe.p_blur_fake}; family "
                       f"augmentations: {fam.augment_doc}; hard-negative reals boosted x{recipe.hard_negative_boost}."
                       + tuning),
        split=("train split for training; validation (early stopping, Platt calibration) = the calibration split "
               "(shared data) or the dataset's val rows / 20% by path hash; test split never read"),
        parameters=params,
        metrics={"validation": best["metrics"], "best_step": int(best["step"])},
        extra={"tile": recipe.tile_size, "max_tiles": recipe.tiles, "mirror": True, "transform": fam.transform,
               "recipe": recipe.to_dict(), **({"init_from": init} if init else {}), "onnx_max_abs_diff_vs_torch": max_diff, "opset": 17,
               "train_seconds": round(seconds, 1), "train_pools": pools.summary()},
    )
    card_path = out / f"{recipe.detector_name}.json"
    card.save(card_path)
    det = TileNetDetector(DetectorCard.load(card_path))
    onnx_scores = np.asarray([float(det.model(b.astype(np.float32)).mean()) for b in val.batches])
    platt = fit_platt(onnx_scores, val.labels, groups=val.groups)
    reals = {g for g, y in zip(val.groups, val.labels) if y == 0}
    per_group = group_metrics(val.labels, onnx_scores, val.groups,
                              {g: [g, *reals] for g, y in zip(val.groups, val.labels) if y == 1})
    card = replace(card, calibration=platt,
                   metrics={**card.metrics, "validation_per_group": per_group})
    card.save(card_path)
    return card_path
