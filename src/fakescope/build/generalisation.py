"""In the wild: sources no detector trained on, as stored and laundered, and leave-one-source-out.

Two uses share this module:

* the ``wild`` step of the model build (:func:`score_wild`, :func:`write_wild`) scores every
  shipped core detector on every held-out image of the frozen split (``test`` and ``wild``,
  CIFAKE aside) under every laundering condition of :data:`LAUNDERING`, into
  ``weights/wild.json``.  The fusion reads it (:class:`fakescope.fusion.WildScores`) to decide when
  pixels alone may say ``real``: only below the score under which at most 10% of the fakes of
  *every* source the detectors never saw fall, as stored or laundered;
  ``rine``'s head is cross-fitted (:mod:`fakescope.build.rine`): it was fitted on test and wild rows
  too, so those rows are scored here with the head of their fold (``rine-folds.npz``: the same fit
  without the row's source), never with the shipped head that saw them (:class:`FoldScorer`);
* the generalisation benchmark (``bench/generalisation.py``) reports AUC per source and
  condition, pooled, mean and worst, with bootstrap intervals (:func:`source_table`), the label
  rates per source (:func:`label_table`), and leave-one-source-out scores of trainable heads
  (:func:`loso_predict`).

A *source* (an ``origin`` of the split manifest) is a repository, a generator family or a photo
collection.  A fake source is scored against every real image of the same condition, a real
source against every fake: so a source's AUC says how well its images are told from the other
class as a whole.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..fusion import MIN_UNSEEN_UNIT
from ..perturbations import Chain, Perturbation, preset

__all__ = ["LAUNDERING", "launder", "heldout_records", "is_unseen", "rule_unit", "score_wild", "write_wild",
           "source_table", "source_aucs", "summarize_sources", "map_chunks", "label_table", "loso_predict",
           "chain_rows", "FoldScorer",
           "WILD_FILE", "WILD_DETECTORS", "MIN_UNIT"]

Log = Callable[[str], None]

#: condition name → (description, chain): laundering that real and fake images share in the wild.
LAUNDERING: dict[str, tuple[str, Chain]] = {
    "stored": ("as stored", Chain([])),
    "design-1024-q85": ("a design-tool export: long side ≤ 1024 (Lanczos), JPEG q85 4:2:0",
                        Chain([Perturbation("whatsapp", {"long_side": 1024, "quality": 85, "aspect": None})])),
    "web-512-q70": ("a web thumbnail: long side ≤ 512 (Lanczos), JPEG q70 4:2:0",
                    Chain([Perturbation("whatsapp", {"long_side": 512, "quality": 70, "aspect": None})])),
    "web-256-q75": ("a small web copy: long side ≤ 256 (Lanczos), JPEG q75 4:2:0",
                    Chain([Perturbation("whatsapp", {"long_side": 256, "quality": 75, "aspect": None})])),
    "web-128-q75": ("a preview: long side ≤ 128 (Lanczos), JPEG q75 4:2:0",
                    Chain([Perturbation("whatsapp", {"long_side": 128, "quality": 75, "aspect": None})])),
    "webp-80": ("lossy WebP quality 80, same size", Chain([Perturbation("webp", {"quality": 80})])),
    "screenshot": ("a screenshot at display scale 0.5 (area resample, sharpening 0.3, PNG)", preset("screenshot")),
    "thumbnail-64": ("a thumbnail: long side ≤ 64 (Lanczos), JPEG q90 4:2:0 (the fusion's thumbnail regime)",
                     Chain([Perturbation("whatsapp", {"long_side": 64, "quality": 90, "aspect": None})])),
}

#: the compression class (:func:`fakescope.io.decode.compression_class`) each laundering leaves; "stored"
#: keeps the file's own
LAUNDERED_COMPRESSION: dict[str, str] = {"jpeg90": "jpeg", "design-1024-q85": "jpeg", "web-512-q70": "jpeg",
                                         "web-256-q75": "jpeg", "web-128-q75": "jpeg", "webp-80": "webp-lossy",
                                         "screenshot": "lossless", "thumbnail-64": "jpeg"}

#: the detectors ``weights/wild.json`` holds (those a core install runs; probe/rigid need the backbone extra)
WILD_DETECTORS: tuple[str, ...] = ("npr", "npr-thumb", "spectral", "cnnspot", "safe", "patchcraft", "rine")
WILD_FILE = Path(__file__).resolve().parents[1] / "weights" / "wild.json"
MIN_UNIT = MIN_UNSEEN_UNIT  # images a source needs for its own rate or AUC


def launder(image: np.ndarray, condition: str) -> np.ndarray:
    """``image`` through the laundering chain called ``condition`` (see :data:`LAUNDERING`)."""
    return LAUNDERING[condition][1].apply(image)


def is_unseen(record: Any) -> bool:
    """A fake from a source no shipped detector trained or was calibrated on: the never-seen
    generators of the modern set (``unseen:*``) and the ``wild`` sources."""
    return record.split == "wild" or record.group.startswith("unseen:")


def rule_unit(record: Any) -> str:
    """The unit the honest-label rule holds for: a never-seen generator (``unseen:*``), else the origin."""
    return record.group if record.group.startswith("unseen:") else record.origin


def heldout_records(root: str | os.PathLike[str] | None = None) -> list[Any]:
    """Records no shipped detector trained or was calibrated on: the ``test`` split of the modern set
    and the photos, and the ``wild`` sources (CIFAKE's thumbnails are calibrated on their own)."""
    from ..training.data import all_records

    return [r for r in all_records(root, wild=True) if r.split in ("test", "wild") and r.source != "cifake"]


def map_chunks(fn: Callable[..., Any], items: Sequence[Any], extra: tuple[Any, ...] = (), *, size: int = 8,
               jobs: int = 2, log: Log | None = None, what: str = "", every: int = 10) -> list[Any]:
    """``fn((chunk, *extra))`` over ``items`` cut into chunks of ``size``, in order: one worker process
    per job (detectors run single-threaded ONNX sessions, so one process per core scales best), with
    a progress line every ``every`` chunks.  The build's steps all score through it."""
    chunks = [list(items[i : i + size]) for i in range(0, len(items), size)]
    args = [(c, *extra) for c in chunks]
    parts: list[Any] = []

    def done(k: int, part: Any) -> None:
        parts.append(part)
        if log and k % every == 0:
            log(f"{what}: {min(len(items), (k + 1) * size)}/{len(items)} images")

    if jobs > 1:
        with ProcessPoolExecutor(jobs) as ex:
            for k, part in enumerate(ex.map(fn, args)):
                done(k, part)
    else:
        for k, a in enumerate(args):
            done(k, fn(a))
    return parts


class FoldScorer:
    """``rine``'s scores for rows its shipped head was fitted on: the stage features of the detector's
    own crops (:func:`fakescope.detectors.rine.crop_features`, the numbers its graph pools) through the
    head of the row's fold, which never saw it (:func:`fakescope.build.rine.fold_heads`).  ``fold(record)``
    is None for rows the shipped head never saw (scored by the detector itself)."""

    def __init__(self) -> None:
        from ..detectors.base import load_card, sha256_file
        from ..errors import WeightsError

        card = load_card("rine")
        recipe = card.extra.get("recipe", {})
        self.fit_splits = tuple(recipe.get("fit_splits", ["train"]))
        self.joint = tuple(recipe.get("joint_folds", []))
        self.stages = tuple(int(s) for s in card.extra["stages"])
        self.max_crops = int(card.extra["max_crops"])
        self.heads: dict[str, tuple[np.ndarray, float]] = {}
        info = card.extra.get("folds")
        if info:
            from .rine import load_fold_heads

            weights = card.weights_path()
            assert weights is not None  # verified by load_card's detector
            path = weights.parent / info["file"]
            if not path.is_file() or sha256_file(path) != info["sha256"]:
                raise WeightsError(f"{path} is missing or not the file the rine card names: run `fakescope build rine`")
            self.heads = load_fold_heads(path)
        self._model: Any = None

    def fold(self, record: Any) -> str | None:
        if record.split not in self.fit_splits or record.source == "cifake":  # the head never sees CIFAKE
            return None
        if record.split == "train":
            raise ValueError(f"{record.key}: a train row of rine's head has no held-out score")
        from .rine import fold_of

        return fold_of(record, self.joint)

    def __call__(self, image: np.ndarray, fold: str) -> float:
        from ..errors import WeightsError

        if fold not in self.heads:
            raise WeightsError(f"rine's head was fitted on rows of {fold!r} and rine-folds.npz holds no head "
                               "without them: run `fakescope build rine`")
        if self._model is None:
            from ..backbones import backbone_onnx
            from ..detectors.base import OnnxModel

            self._model = OnnxModel(backbone_onnx("efficientnet_lite0", stages=self.stages))
        from ..detectors.rine import crop_features

        w, b = self.heads[fold]
        return float(crop_features(self._model, [image], max_crops=self.max_crops)[0] @ w + b)


def _score_chunk(args: tuple[list[tuple[str, int, str | None]], tuple[str, ...], dict[str, Chain], dict[str, str]]
                 ) -> list[dict[str, Any]]:
    from ..detectors import create_detector
    from ..io.decode import compression_class, load

    items, names, chains, classes = args
    dets = {n: create_detector(n) for n in names}
    folds = FoldScorer() if "rine" in names and any(f is not None for _, _, f in items) else None
    out = []
    for path, idx, fold in items:
        sample = load(path)
        stored = compression_class(sample.metadata.format, sample.data)
        for c, chain in chains.items():
            im = chain.apply(sample.image)
            row: dict[str, Any] = {"index": idx, "condition": c, "min_side": int(min(im.shape[:2])),
                                   "compression": classes.get(c, stored)}
            row["scores"] = {n: float(folds(im, fold) if n == "rine" and fold is not None and folds is not None
                                      else d.raw_scores([im])[0]) for n, d in dets.items()}
            out.append(row)
    return out


def score_wild(records: Sequence[Any], *, detectors: Sequence[str] = WILD_DETECTORS,
               conditions: Sequence[str] = tuple(LAUNDERING), jobs: int = 2, log: Log | None = None,
               chains: Mapping[str, Chain] | None = None, what: str = "wild scores") -> dict[str, Any]:
    """Raw scores of ``detectors`` on every record under every condition (decoded by the scan's
    decoder, each detector's own input policy, exhaustive), row per (record, condition): the build's
    one scoring loop.  ``chains`` (name → chain) replaces the :data:`LAUNDERING` conditions.  ``rine`` scores a
    row its head was fitted on with the head of the row's fold (:class:`FoldScorer`)."""
    if chains is None:
        chains = {c: LAUNDERING[c][1] for c in conditions}
    conditions = tuple(chains)
    classes = {c: LAUNDERED_COMPRESSION[c] for c in conditions if c in LAUNDERED_COMPRESSION}
    fold = FoldScorer().fold if "rine" in detectors else (lambda r: None)
    items = [(r.path, i, fold(r)) for i, r in enumerate(records)]
    rows = [row for part in map_chunks(_score_chunk, items, (tuple(detectors), dict(chains), classes), jobs=jobs,
                                       log=log, what=what) for row in part]
    rows.sort(key=lambda r: (r["index"], list(conditions).index(r["condition"])))
    recs = [records[r["index"]] for r in rows]
    return {
        "labels": [r.label for r in recs],
        "groups": [r.group for r in recs],
        "origins": [r.origin for r in recs],
        "units": [rule_unit(r) for r in recs],
        "unseen": [is_unseen(r) for r in recs],
        "keys": [r.key for r in recs],
        "images": [r["index"] for r in rows],
        "conditions": [r["condition"] for r in rows],
        "compression": [r["compression"] for r in rows],
        "min_side": [r["min_side"] for r in rows],
        "scores": {n: [round(r["scores"][n], 6) for r in rows] for n in detectors},
    }


def write_wild(root: str | os.PathLike[str] | None = None, *, path: str | os.PathLike[str] = WILD_FILE,
               jobs: int = 2, log: Log | None = None, inputs_sha256: str = "",
               records: Sequence[Any] | None = None) -> dict[str, Any]:
    """The ``wild`` build step: score the held-out records and write ``weights/wild.json``."""
    from ..io.splits import split_sha256

    recs = heldout_records(root) if records is None else records
    d = score_wild(recs, jobs=jobs, log=log)
    d = {"about": "raw scores of the shipped core detectors on every held-out image of the frozen split (test and "
                  "wild, CIFAKE aside) under each laundering condition; the fusion sets the pixel 'real' rule on "
                  "the fakes of never-seen sources (fakescope.build.generalisation); rine's rows come from the head of "
                  "their fold, fitted without their source (cross-fitting, fakescope.build.rine)",
         "split_sha256": split_sha256(), "inputs_sha256": inputs_sha256,
         "conditions": {k: v[0] for k, v in LAUNDERING.items()}, **d}
    Path(path).write_text(json.dumps(d, separators=(",", ":")) + "\n", encoding="utf-8")
    if log:
        log(f"wrote {path}: {len(d['labels'])} rows")
    return d


# --- reports ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceRow:
    condition: str
    source: str
    kind: str  # "fake" or "real": which class the source holds
    n: int
    auc: float
    lo: float
    hi: float


def source_table(p: np.ndarray, y: np.ndarray, sources: Sequence[str], conditions: Sequence[str], *,
                 min_n: int = MIN_UNIT, rng: np.random.Generator | None = None,
                 n_boot: int = 200) -> list[SourceRow]:
    """AUC of every source under every condition: a fake source's images against all real images of
    the condition, a real source's against all fakes; bootstrap 95% intervals (images resampled
    within each class; ``n_boot=0``: none, the bounds are NaN).  Sources with images of both classes
    are scored within themselves."""
    from ..benchmark.metrics import bootstrap_ci, roc_auc

    rng = rng or np.random.default_rng(0)
    p, y = np.asarray(p, np.float64), np.asarray(y, np.int64)
    sources, conditions = np.asarray(sources), np.asarray(conditions)
    rows = []
    for c in dict.fromkeys(conditions.tolist()):
        mc = conditions == c
        for s in sorted(set(sources[mc].tolist())):
            ms = mc & (sources == s)
            if ms.sum() < min_n:
                continue
            labels = set(y[ms].tolist())
            sel = ms | (mc & (y == 0)) if labels == {1} else (ms | (mc & (y == 1)) if labels == {0} else ms)
            if len(set(y[sel].tolist())) < 2:
                continue
            auc = roc_auc(y[sel], p[sel])
            lo = hi = float("nan")
            if n_boot > 0:
                ci = bootstrap_ci(roc_auc, y[sel], p[sel], rng=rng, n=n_boot)
                lo, hi = ci.low, ci.high
            kind = "fake" if labels == {1} else ("real" if labels == {0} else "both")
            rows.append(SourceRow(c, s, kind, int(ms.sum()), auc, lo, hi))
    return rows


def source_aucs(p: np.ndarray, y: np.ndarray, sources: Sequence[str], conditions: Sequence[str], *,
                min_n: int = MIN_UNIT) -> dict[str, dict[str, float]]:
    """condition → source → AUC, as :func:`source_table` without intervals (what selections compare)."""
    out: dict[str, dict[str, float]] = {c: {} for c in dict.fromkeys(np.asarray(conditions).tolist())}
    for r in source_table(p, y, sources, conditions, min_n=min_n, n_boot=0):
        out[r.condition][r.source] = float(r.auc)
    return out


def summarize_sources(rows: Sequence[SourceRow], p: np.ndarray, y: np.ndarray,
                      conditions: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per condition: pooled AUC, the mean AUC over sources and the worst source."""
    from ..benchmark.metrics import roc_auc

    p, y, conditions = np.asarray(p, np.float64), np.asarray(y), np.asarray(conditions)
    out = {}
    for c in dict.fromkeys(conditions.tolist()):
        rs = [r for r in rows if r.condition == c]
        m = conditions == c
        worst = min(rs, key=lambda r: r.auc) if rs else None
        out[c] = {"pooled": roc_auc(y[m], p[m]), "mean": float(np.mean([r.auc for r in rs])) if rs else float("nan"),
                  "worst": worst.auc if worst else float("nan"), "worst_source": worst.source if worst else "",
                  "n_sources": len(rs)}
    return out


def label_table(labels: Sequence[str], y: np.ndarray, sources: Sequence[str], conditions: Sequence[str], *,
                min_n: int = MIN_UNIT) -> list[dict[str, Any]]:
    """Per condition and source: the share of fakes labelled ``real`` (fake sources) or of reals
    labelled ``ai-generated`` (real sources), and the share left ``inconclusive``."""
    labels, y = np.asarray(labels), np.asarray(y)
    sources, conditions = np.asarray(sources), np.asarray(conditions)
    out = []
    for c in dict.fromkeys(conditions.tolist()):
        for s in sorted(set(sources[conditions == c].tolist())):
            for cls in (0, 1):
                m = (conditions == c) & (sources == s) & (y == cls)
                if m.sum() < min_n:
                    continue
                wrong = "real" if cls else "ai-generated"
                out.append({"condition": c, "source": s, "class": "fake" if cls else "real", "n": int(m.sum()),
                            "wrong": float(np.mean(labels[m] == wrong)),
                            "inconclusive": float(np.mean(labels[m] == "inconclusive"))})
    return out


def loso_predict(x: np.ndarray, y: np.ndarray, groups: Sequence[str],
                 fit: Callable[..., Any],
                 predict: Callable[[Any, np.ndarray], np.ndarray], *, pass_groups: bool = False) -> np.ndarray:
    """Leave-one-source-out scores: each group's rows scored by a model fitted on every other group
    (``fit(x, y)``; with ``pass_groups``, ``fit(x, y, groups)``: the training rows' groups too)."""
    groups = np.asarray(groups)
    out = np.full(len(y), np.nan)
    for g in dict.fromkeys(groups.tolist()):
        te = groups == g
        if len(set(np.asarray(y)[~te].tolist())) < 2:
            continue
        model = fit(x[~te], np.asarray(y)[~te], groups[~te]) if pass_groups else fit(x[~te], np.asarray(y)[~te])
        out[te] = predict(model, x[te])
    return out


def chain_rows(records: Sequence[Any], chains: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, origins and chain names of the rows of a record-major feature array with one row per record and
    chain (``chains`` in order): what leave-one-source-out over laundered copies groups and scores by."""
    nc = len(chains)
    y = np.repeat([r.label for r in records], nc).astype(np.float64)
    origins = np.repeat([r.origin for r in records], nc)
    return y, origins, np.tile(np.asarray(chains), len(records))
