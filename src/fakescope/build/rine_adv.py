"""The ``rine-adv`` build step: ``rine``'s head, adversarially trained against white-box PGD.

The detector ``rine-adv`` (:mod:`fakescope.detectors.rine`, registered, not in the default fusion) is
``rine``'s ONNX graph — the frozen EfficientNet-Lite0 up to stage 5, the pooled statistics — with a
head fitted on adversarial examples as well as clean ones (Madry et al. 2018, restricted to the
head).  Recipe (:data:`RECIPE`, recorded in the card):

* clean rows: ``rine``'s train-split rows — the frozen split's ``train`` rows outside CIFAKE (``rine`` itself
  is cross-fitted on the test and wild rows too; ``rine-adv`` keeps to the train split, so the test rows
  attacks.md measures it on stay unseen), as
  stored and through its four laundering chains, features over the card's crops
  (:func:`fakescope.build.rine._cached_features`, the columns of the maps ``rine``'s head reads), with
  ``rine``'s L2 strength and source weights (:func:`fakescope.build.rine.source_weights`);
* adversarial rows: each train image's centre 224×224 crop attacked by L∞ PGD (eps 4/255, random
  start, ``steps`` steps of 2.5 eps / steps, :func:`fakescope.attacks._gradient_attack`, quantised to
  uint8) through the graph with the *current* head — fakes pushed to look real, reals to look fake
  (both keep their labels) — for ``rounds`` rounds; after each round the head is refitted on the
  clean rows and every adversarial row so far, the adversarial rows weighted to count ``adv_weight``
  times as much as the clean rows in total;
* round 0's head is ``rine``'s head refitted from the same clean rows (the same arrays ``rine`` fits);
* Platt parameters: the calibration split outside CIFAKE, as stored (as for ``rine``).

The weights never see a ``test`` or ``wild`` row; bench/adversary_eval.py measures the result on the
test rows (clean AUC, white-box PGD, transfer from ``rine``'s attack): docs/benchmarks/attacks.md.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["RECIPE", "build_rine_adv", "train_crops", "adversarial_rounds"]

Log = Callable[[str], None] | None

RECIPE: dict[str, Any] = {
    "base": "rine (its train rows, chains, crops, stages, L2 and source weights; see fakescope.build.rine)",
    "eps": "4/255",
    "steps": 5,
    "step_size": "2.5 eps / steps",
    "random_start": True,
    "rounds": 3,
    "crop": "centre 224x224 native crop of each train image (fakescope.backbones.native_crops, max_crops=1)",
    "direction": "fakes: lower the logit; reals: raise it (labels kept)",
    "adv_weight": 1.0,
    "batch": 16,
    "seed": 20261207,
}


def _head_net(head: dict[str, Any], stages: Sequence[int]) -> Any:
    """Lite0 up to the last stage, pooled statistics, and ``head`` folded to ``w``, ``b``: a torch module
    from ``(n, 3, 224, 224)`` 0..255 crops to logits (what ``rine.onnx`` computes)."""
    import torch

    from ..backbones import load_backbone

    w = np.asarray(head["coef"], np.float64) / np.asarray(head["scale"], np.float64)
    b = float(head["intercept"]) - float(np.asarray(head["mean"], np.float64) @ w)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lite = load_backbone("efficientnet_lite0").eval()
            for p in self.lite.parameters():
                p.requires_grad_(False)
            self.register_buffer("w", torch.tensor(w, dtype=torch.float32))
            self.b = float(b)

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            return self.lite.forward_pooled_stages(x, tuple(stages)) @ self.w + self.b

    return Net()


def train_crops(records: Sequence[Any]) -> np.ndarray:
    """The centre 224×224 crop of each record's image (decoded by the scan's decoder): ``(n, 224, 224, 3)``."""
    from ..backbones import native_crops
    from ..io.decode import load

    return np.stack([native_crops(load(r.path).image, max_crops=1)[0] for r in records])


def adversarial_rounds(crops: np.ndarray, labels: np.ndarray, x_clean: np.ndarray, y_clean: np.ndarray,
                       l2: float, *, stages: Sequence[int], recipe: dict[str, Any] = RECIPE,
                       clean_weight: np.ndarray | None = None,
                       log: Log = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The head after ``recipe['rounds']`` rounds of attack-and-refit (see the module docs); returns it
    and per round: the share of adversarial crops the head *before* the refit gets wrong (logit on the
    wrong side of 0) and after it, per class.  ``clean_weight``: the clean rows' weights (rine's
    :func:`~fakescope.build.rine.source_weights`; default equal)."""
    import torch

    from ..attacks import _gradient_attack, parse_eps
    from ..backbones import backbone_onnx
    from ..detectors.base import OnnxModel
    from ..detectors.probe import apply_head
    from ..detectors.rine import crop_features
    from .rine import fit_head

    torch.set_num_threads(1)
    eps = parse_eps(recipe["eps"])
    onnx = OnnxModel(backbone_onnx("efficientnet_lite0", stages=tuple(stages)))
    wc = np.ones(len(x_clean)) if clean_weight is None else np.asarray(clean_weight, np.float64)
    head = fit_head(x_clean, y_clean, l2, wc)
    sign = np.where(labels == 1, 1.0, -1.0)
    x_adv: list[np.ndarray] = []
    rounds: list[dict[str, Any]] = []
    for r in range(int(recipe["rounds"])):
        t0 = time.time()
        net = _head_net(head, stages)
        adv = _gradient_attack(crops, eps=eps, detector="rine", rng=np.random.default_rng(int(recipe["seed"]) + r),
                               norm="linf", steps=int(recipe["steps"]), batch=int(recipe["batch"]),
                               random_start=bool(recipe["random_start"]), twin=net, sign=sign)
        xa = crop_features(onnx, list(adv), max_crops=1)
        before = apply_head(xa, head)
        x_adv.append(xa)
        xa_all = np.concatenate(x_adv)
        ya_all = np.tile(labels.astype(np.float64), len(x_adv))
        wa = float(recipe["adv_weight"]) * len(x_clean) / len(xa_all)
        x = np.concatenate([x_clean, xa_all])
        y = np.concatenate([y_clean, ya_all])
        weight = np.concatenate([wc, np.full(len(xa_all), wa)])
        weight *= len(weight) / weight.sum()  # mean 1: the L2 penalty keeps its scale
        head = fit_head(x, y, l2, weight)
        after = apply_head(xa, head)

        def wrong(z: np.ndarray, lab: int) -> float:
            m = labels == lab
            return float(np.mean((z[m] >= 0) != bool(lab))) if m.any() else float("nan")

        rounds.append({"round": r, "fakes_missed_before_refit": wrong(before, 1), "reals_flagged_before_refit": wrong(before, 0),
                       "fakes_missed_after_refit": wrong(after, 1), "reals_flagged_after_refit": wrong(after, 0),
                       "max_linf_grey_levels": int(np.abs(adv.astype(np.int16) - crops.astype(np.int16)).max()),
                       "seconds": round(time.time() - t0, 1)})
        if log:
            log(f"rine-adv: round {r}: adversarial fakes missed {rounds[-1]['fakes_missed_before_refit']:.2f} -> "
                f"{rounds[-1]['fakes_missed_after_refit']:.2f}, reals flagged "
                f"{rounds[-1]['reals_flagged_before_refit']:.2f} -> {rounds[-1]['reals_flagged_after_refit']:.2f} "
                f"(head before -> after the refit), {rounds[-1]['seconds']} s")
    return head, rounds


def build_rine_adv(root: str | os.PathLike[str] | None = None, *, jobs: int = 2, log: Log = None,
                   inputs_sha256: str = "", out_dir: str | os.PathLike[str] | None = None,
                   records: Sequence[Any] | None = None, calibration: Sequence[Any] | None = None,
                   recipe: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fit the adversarially trained head and write ``rine-adv.onnx`` and its card ``rine-adv.json``
    (into ``out_dir``, default the package's ``weights/``).  ``records`` (train rows, as stored only,
    no chains) / ``calibration`` / ``recipe`` replace the split's rows and the recipe (tests)."""
    from ..backbones import efficientnet_lite0_path
    from ..benchmark.metrics import roc_auc
    from ..detectors.base import WEIGHTS_DIR, DetectorCard, load_card, sha256_file
    from ..detectors.probe import apply_head
    from ..errors import WeightsError
    from ..fitting import fit_logistic
    from ..io.splits import file_sha256, split_sha256
    from . import rine

    t0 = time.time()
    rec = {**RECIPE, **(recipe or {})}
    out = Path(out_dir) if out_dir is not None else WEIGHTS_DIR
    base = load_card("rine")
    stages = tuple(int(s) for s in base.extra["stages"])
    max_crops, l2 = int(base.extra["max_crops"]), float(base.extra["l2"])
    cols = rine.stage_columns(stages)  # rine's head reads these maps of the cached stage features
    if records is None:
        pool = rine.selection_records(root)
        feats = rine._cached_features(pool, jobs=jobs, log=log)
        xk = feats[list(rine.RECIPE["crops_grid"]).index(max_crops)][:, cols]
        nc = len(rine.CHAINS)
        is_train = np.repeat([r.split == "train" for r in pool], nc)
        x_clean = xk[is_train]
        y_clean = np.repeat([r.label for r in pool], nc).astype(np.float64)[is_train]
        w_clean = rine.source_weights(np.repeat([r.origin for r in pool], nc)[is_train])
        train = [r for r in pool if r.split == "train"]
    else:
        train = list(records)
        x_clean = rine.chain_features(train, max_crops=max_crops, launder=False, jobs=1)[:, cols]
        y_clean = np.array([r.label for r in train], np.float64)
        w_clean = rine.source_weights([r.origin for r in train])
    cal = list(calibration) if calibration is not None else rine.train_records(root, "calibration")
    labels = np.array([r.label for r in train], np.int64)
    if log:
        log(f"rine-adv: {len(train)} train images ({int(labels.sum())} fake), {len(x_clean)} clean rows; "
            f"{rec['rounds']} round(s) of PGD {rec['eps']} x {rec['steps']} steps")
    crops = train_crops(train)
    head, rounds = adversarial_rounds(crops, labels, x_clean, y_clean, l2, stages=stages, recipe=rec,
                                      clean_weight=w_clean, log=log)
    xc = rine.chain_features(cal, max_crops=max_crops, launder=False, jobs=jobs)[:, cols]
    yc = np.array([r.label for r in cal], np.float64)
    raw_c = apply_head(xc, head)
    (a,), b = fit_logistic(raw_c[:, None], yc)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "rine-adv.onnx"
    parity = rine.export_rine(head, onnx_path, stages)
    if parity > 1e-3:
        raise WeightsError(f"rine-adv.onnx differs from the head on the stage features by {parity:.2e} logits")
    card = DetectorCard(
        name="rine-adv", family="rine",
        summary="rine with an adversarially trained head (PGD 4/255 through its own graph); not in the default set",
        paper=base.paper + "; adversarial training after Madry et al., Towards Deep Learning Models Resistant to "
              "Adversarial Attacks, ICLR 2018 (here: the linear head only, the backbone stays frozen)",
        weights="rine-adv.onnx", sha256=sha256_file(onnx_path),
        input_policy=base.input_policy, preprocessing=base.preprocessing,
        training_data=f"TRAIN split outside CIFAKE: {sum(1 - r.label for r in train)} real and "
                      f"{sum(r.label for r in train)} fake images from {len(set(r.origin for r in train))} sources, "
                      "each as stored and through 4 laundering chains (rine's recipe, extra.recipe); plus "
                      f"{rec['rounds']} x {len(train)} adversarial centre crops of the train images (PGD through the "
                      "head being fitted, see extra.recipe)",
        split="the frozen split manifest fakescope/io/split.csv (sha256 " + split_sha256()[:16] + "…): train rows "
              "fit the head, calibration rows the Platt parameters; test and wild rows are never read here (unlike "
              "rine's cross-fitted head)",
        parameters=base.parameters,
        metrics={"rounds": rounds, "calibration_auc_stored": float(roc_auc(yc, raw_c)), "n_calibration": int(len(cal)),
                 "n_train": int(len(train)), "n_clean_rows": int(len(x_clean)), "onnx_parity": parity,
                 "seconds": round(time.time() - t0, 1), "inputs_sha256": inputs_sha256,
                 "held_out": "docs/benchmarks/attacks.md (bench/adversary_eval.py, test rows outside CIFAKE)"},
        calibration={"method": "platt", "a": float(a), "b": float(b)},
        extra={"source_backbone": "efficientnet_lite0", "backbone_sha256": file_sha256(efficientnet_lite0_path()),
               "stages": list(stages), "max_crops": max_crops, "l2": l2, "base_card_sha256": base.sha256,
               "recipe": rec, "split_sha256": split_sha256()},
    )
    card.save(out / "rine-adv.json")
    if log:
        log(f"wrote {out / 'rine-adv.json'} (calibration AUC {card.metrics['calibration_auc_stored']:.3f}, "
            f"{card.metrics['seconds']} s)")
    return card.to_dict()
