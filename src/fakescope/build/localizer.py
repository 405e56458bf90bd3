"""The ``localizer`` build step: train the localization network on partial fakes of train-split photos.

Recipe (:data:`RECIPE`, recorded in the card):

* bases: the frozen split's ``train`` real photos outside CIFAKE (Kodak, Wikipedia and Debian photos, modern
  reals), decoded by the scan's decoder, long side reduced to at most ``max_side`` (as the scan's
  :class:`fakescope.localization.Localizer` does);
* donors: ``fake-paste`` regions come from the ``train`` split's AI-generated images, ``splice`` regions
  from other train photos; ``copy-move``, ``blur`` and ``noise`` re-render the photo itself
  (:mod:`fakescope.localization.synth`); every crop JPEG-laundered (q60-95) with probability 0.8 at its
  native scale (``p_resize`` 0: a recipe that also resized half the crops, 1200 steps, scored pixel AUC
  0.70 instead of 0.77 on pastes from never-seen generators); a quarter of the crops untouched.  ``resample`` edits are *not* trained on: they are the held-out edit kind;
* network: :class:`fakescope.training.localizer.TinyUNet`, BCE + Dice, Adam, fixed steps and seed;
* choices on the ``calibration`` split's photos (partial fakes of the trained kinds, donors from calibration
  fakes; :mod:`fakescope.localization.evaluate`): the fused map's weights (a logistic regression of the
  mask on the network's and rine's logits), each method's fixed threshold (the best pooled pixel F1
  among the thresholds marking at most ``max_marked`` of the untouched photos' pixels) and the shipped method
  (the card's ``method``: whichever of ``unet`` and ``fused`` has the higher F1 there at its own threshold; a tie
  keeps ``unet``, which needs no rine crops at scan time);
* the trained network is kept in ``$FAKESCOPE_CACHE/build/localizer-<fingerprint>/`` (:func:`net_cache_dir`,
  keyed by :data:`TRAIN_KEYS`, the split, the training rows and the training code, not by the choices or the
  evaluation) and reused by a rerun; ``fakescope build localizer --fresh`` deletes it;
* evaluation (docs/benchmarks/localization.md): partial fakes made from the ``test`` split's photos, every
  kind once per photo (fake pastes from ``test`` fakes of trained-on generators, and from generators no
  shipped model saw: ``unseen:*``, the wild ``faces`` FLUX portraits), plus the untouched photos; laundered
  (resize 0.5-1, JPEG q60-95) with their own seed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["RECIPE", "LOCALIZER_JSON", "SHIPPABLE", "TRAIN_KEYS", "build_localizer", "net_cache_dir", "write_report"]

Log = Callable[[str], None]

RECIPE: dict[str, Any] = {
    "train_kinds": ["fake-paste", "splice", "copy-move", "blur", "noise"],
    "heldout_kinds": ["resample"],
    "max_side": 512,
    "steps": 4000,
    "batch": 16,
    "crop": 96,
    "width": 14,
    "lr": 2e-3,
    "seed": 20261207,
    "threads": 2,  # torch intra-op threads while training (the sums' order, hence the exact weights, follow it)
    "p_clean": 0.25,
    "p_resize": 0.0,
    "val_seed": 11,
    "val_photos": 24,
    "max_marked": 0.04,
    "eval_seed": 7,
    "eval_photos": 32,
    "threshold": 0.5,
}
LOCALIZER_JSON = "localizer.json"
#: the methods the build may ship (rine's coarse map alone is measured, never shipped)
SHIPPABLE = ("unet", "fused")


def _load(records: Sequence[Any], max_side: int) -> list[np.ndarray]:
    from ..localization.synth import shrink
    from ..training.data import load_rgb

    return [shrink(load_rgb(r.path), max_side) for r in records]


def _photos(recs: Sequence[Any], split: str, n: int) -> list[Any]:
    """The ``split``'s real photos outside CIFAKE: every ``photos`` row, then ``modern`` reals, ``n`` at most."""
    rows = [r for r in recs if r.split == split and r.label == 0 and r.source in ("photos", "modern")]
    return sorted(rows, key=lambda r: r.source != "photos")[:n]


#: the recipe keys that decide the trained network (the rest only decide the choices and the evaluation)
TRAIN_KEYS = ("train_kinds", "max_side", "steps", "batch", "crop", "width", "lr", "seed", "threads", "p_clean",
              "p_resize")


def train_fingerprint(rc: dict[str, Any], train_real: Sequence[Any], train_fake: Sequence[Any]) -> str:
    """What decides the trained network: the recipe's :data:`TRAIN_KEYS`, the frozen split, the training rows
    (in order) and the code that loads, edits and trains on them (training/localizer.py, localization/synth.py,
    training/data.py).  Not this file: a change to the choices or the evaluation reuses the network."""
    import json

    from ..io.splits import SPLIT_FILE
    from ..localization import synth
    from ..training import data, localizer as t
    from . import fingerprint

    extra = json.dumps({"recipe": {k: rc[k] for k in TRAIN_KEYS}, "bases": [str(r.path) for r in train_real],
                        "donors": [str(r.path) for r in train_fake]}, sort_keys=True)
    return fingerprint([SPLIT_FILE, Path(t.__file__), Path(synth.__file__), Path(data.__file__)], extra)


def _train_rows(recs: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    train = [r for r in recs if r.split == "train" and r.source != "cifake"]
    return [r for r in train if r.label == 0], [r for r in train if r.label == 1]


def net_cache_dir(rc: dict[str, Any] | None = None, train_real: Sequence[Any] | None = None,
                  train_fake: Sequence[Any] | None = None, root: str | os.PathLike[str] | None = None) -> Path:
    """``$FAKESCOPE_CACHE/build/localizer-<training fingerprint>``: where the trained network is kept (the rows
    default to the split's, the recipe to :data:`RECIPE`)."""
    from ..training.data import all_records
    from .aligned import cache_root

    rc = {**RECIPE, **(rc or {})}
    if train_real is None or train_fake is None:
        train_real, train_fake = _train_rows(all_records(root, wild=True))
    return cache_root() / f"localizer-{train_fingerprint(rc, train_real, train_fake)[:16]}"


def _trained_net(rc: dict[str, Any], train_real: Sequence[Any], train_fake: Sequence[Any], run_dir: Path | None,
                 log: Log | None) -> tuple[Any, list[float], float, bool]:
    """The network trained on the training rows: loaded from ``run_dir`` when a run of the same training
    inputs left it there, else trained (fixed steps and seed) and saved there.  Returns it, its losses, the
    training seconds (of the run that trained it) and whether it was reused."""
    import json

    import torch

    from ..training.localizer import TinyUNet, train_localizer

    fp = train_fingerprint(rc, train_real, train_fake)
    if run_dir is not None and (run_dir / "net.pt").is_file() and (run_dir / "run.json").is_file():
        meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        if meta.get("fingerprint") == fp:
            net = TinyUNet(rc["width"])
            net.load_state_dict(torch.load(run_dir / "net.pt", map_location="cpu", weights_only=True))
            net.eval()
            if log:
                log(f"localizer: reusing the network trained in {run_dir} ({meta['train_seconds']} s then)")
            return net, [float(v) for v in meta["losses"]], float(meta["train_seconds"]), True
    t0 = time.time()
    reals, fakes = _load(train_real, rc["max_side"]), _load(train_fake, rc["max_side"])
    threads = torch.get_num_threads()
    torch.set_num_threads(int(rc["threads"]))
    try:
        net, losses = train_localizer(reals, fakes, rc["train_kinds"], steps=rc["steps"], batch=rc["batch"],
                                      size=rc["crop"], width=rc["width"], lr=rc["lr"], seed=rc["seed"],
                                      p_clean=rc["p_clean"], p_resize=rc["p_resize"], log=log)
    finally:
        torch.set_num_threads(threads)
    t_train = round(time.time() - t0, 1)
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), run_dir / "net.pt.tmp")
        (run_dir / "net.pt.tmp").replace(run_dir / "net.pt")
        (run_dir / "run.json").write_text(json.dumps({"fingerprint": fp, "train_seconds": t_train,
                                                      "losses": [float(v) for v in losses]}) + "\n",
                                          encoding="utf-8")
        if log:
            log(f"localizer: network saved in {run_dir}")
    return net, losses, t_train, False


def build_localizer(root: str | os.PathLike[str] | None = None, *, jobs: int = 2, log: Log | None = None,
                    inputs_sha256: str = "", out_dir: str | os.PathLike[str] | None = None,
                    records: Sequence[Any] | None = None, recipe: dict[str, Any] | None = None,
                    report: str | os.PathLike[str] | None = None, evaluate_rine: bool = True,
                    work: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Train (or reuse the trained network of the same training inputs), evaluate, choose the shipped method and
    write ``localizer.onnx`` and its card ``localizer.json`` (into ``out_dir``, default the package's
    ``weights/``).  ``records`` (default: every row of the split, wild included) and ``recipe`` (overrides of
    :data:`RECIPE`) let tests run it small; ``work`` is where the trained network is kept and reused (default
    :func:`net_cache_dir` for the real build, none when ``records`` are given)."""
    import torch

    from ..detectors.base import WEIGHTS_DIR
    from ..localization import Localizer
    from ..localization.evaluate import (DEFAULT_FUSION, choose_threshold, evaluate_maps, evaluation_set, fit_fusion,
                                         fuse, method_maps)
    from ..training.data import all_records
    from ..training.localizer import export_localizer
    from .cards import write_card

    t0 = time.time()
    rc = {**RECIPE, **(recipe or {})}
    torch.manual_seed(rc["seed"])
    out = Path(out_dir) if out_dir is not None else WEIGHTS_DIR
    recs = [r for r in (records if records is not None else all_records(root, wild=True)) if r.source != "cifake"]
    train_real, train_fake = _train_rows(recs)
    val_real = _photos(recs, "calibration", rc["val_photos"])
    val_fake = [r for r in recs if r.split == "calibration" and r.label == 1 and r.group.startswith("modern:")]
    test_real = _photos(recs, "test", rc["eval_photos"])
    test_fake = [r for r in recs if r.split == "test" and r.label == 1 and r.group.startswith("modern:")]
    unseen_fake = [r for r in recs if r.label == 1 and (r.group.startswith("unseen:") or r.group == "faces:fake")]
    if log:
        log(f"localizer: {len(train_real)} train photos, {len(train_fake)} train fakes as donors; "
            f"{len(val_real)} calibration photos to choose the fusion and threshold")
    run_dir = Path(work) if work is not None else (
        net_cache_dir(rc, train_real, train_fake) if records is None else None)
    net, losses, t_train, reused = _trained_net(rc, train_real, train_fake, run_dir, log)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "localizer.onnx"
    parity = export_localizer(net, str(onnx_path))
    loc = Localizer(onnx_path=onnx_path, max_side=rc["max_side"])
    methods = ["unet", "rine", "fused"] if evaluate_rine else ["unet"]
    # choices on the calibration split's photos: the trained kinds only, donors of trained-on generators
    fusion: dict[str, float] = dict(DEFAULT_FUSION)
    thresholds = {m: float(rc["threshold"]) for m in methods}
    validation: dict[str, Any] = {"n": 0}
    if val_real:
        val = evaluation_set(_load(val_real, 1024), {"trained-on generators": _load(val_fake, 1024)},
                             seed=rc["val_seed"], max_side=rc["max_side"], kinds=rc["train_kinds"])
        vmaps = method_maps(loc, val, [m for m in methods if m != "fused"])
        edited = [i for i, (k, _, _) in enumerate(val) if k != "untouched"]
        clean = [i for i, (k, _, _) in enumerate(val) if k == "untouched"]
        if "fused" in methods:
            fusion = fit_fusion(vmaps["unet"], vmaps["rine"], [m for _, _, m in val])
            vmaps["fused"] = [fuse(u, r, fusion) for u, r in zip(vmaps["unet"], vmaps["rine"])]
        validation = {"n": len(val), "fusion": fusion, "choice": {}}
        for m in methods:
            ch = choose_threshold([vmaps[m][i] for i in edited], [val[i][2] for i in edited],
                                  [vmaps[m][i] for i in clean], max_marked=rc["max_marked"])
            thresholds[m] = ch["threshold"]
            validation["choice"][m] = ch
            if log:
                log(f"localizer: {m}: threshold {ch['threshold']} (validation F1 {ch['f1']:.3f}, untouched marked "
                    f"{100 * ch['marked']:.1f}%)")
    loc.fusion = fusion
    # the shipped method: the candidates' (the network alone, the fused map) calibration F1 at their own chosen
    # thresholds; a tie keeps the network alone (no sliding grid of rine crops at scan time)
    candidates = [m for m in SHIPPABLE if m in methods]
    val_f1 = {m: float(validation["choice"][m]["f1"]) for m in candidates if m in validation.get("choice", {})}
    method = max(val_f1, key=lambda m: (val_f1[m], m == "unet")) if val_f1 else "unet"
    validation["method"] = {"chosen": method, "f1": val_f1,
                            "rule": "the higher pooled pixel F1 on the calibration photos, each method at its own "
                                    "chosen threshold; a tie keeps unet"}
    if log:
        log(f"localizer: ships {method} (calibration F1 " + ", ".join(f"{k} {v:.3f}" for k, v in val_f1.items()) + ")")
    # evaluation on test-split photos, with donors of trained-on and never-seen generators
    rng = np.random.default_rng(rc["eval_seed"])
    unseen_pick = [unseen_fake[i] for i in rng.permutation(len(unseen_fake))[:30]] if unseen_fake else []
    items = evaluation_set(_load(test_real, 1024), {"trained-on generators": _load(test_fake, 1024),
                                                     "unseen generators": _load(unseen_pick, 1024)},
                           seed=rc["eval_seed"], max_side=rc["max_side"])
    metrics = evaluate_maps(items, method_maps(loc, items, methods, fusion), thresholds, log=log)
    n_params = int(sum(p.numel() for p in net.parameters()))
    return write_card(
        out / LOCALIZER_JSON, weights=onnx_path, t0=t0, inputs_sha256=inputs_sha256, report=report,
        write_report=write_report, log=log,
        split_use="train rows train the network; calibration rows (their photos and fakes) choose the fusion, the "
                  "fixed thresholds and the shipped method; test rows (and unseen/wild fakes as donors) only measure",
        metrics={"test": metrics, "n_eval": len(items), "validation": validation,
                 "final_loss": float(np.mean(losses[-100:])), "onnx_parity": parity, "train_seconds": round(t_train, 1),
                 "network_reused": reused},
        name="localizer", family="localization",
        summary="Pixel map of edited regions: a small U-Net (image + high-pass residual) trained on synthetic "
                "partial fakes" + (", fused with rine's per-crop scores on a sliding grid by a logistic regression"
                                   if method == "fused" else
                                   " (the network alone: fused with rine's coarse map it scored lower on the "
                                   "calibration photos)"),
        paper="Ronneberger et al., U-Net, MICCAI 2015; the partial-fake training of ForgeryNet / SIDA / So-Fake "
              "(masks from synthesised edits); rine (Koutlis & Papadopoulos, ECCV 2024) for the coarse map",
        input_policy=f"the image with its long side reduced to at most {rc['max_side']} px (never enlarged), padded to "
                     "a multiple of 8; the map resized back to the input's size",
        preprocessing="RGB uint8 -> float32 0..255 (n, 3, H, W) -> x/127.5-1 and its 3x3 high-pass residual inside "
                      "the graph -> logit per pixel -> sigmoid; fused: sigmoid(a logit(unet) + b logit(rine) + c)",
        training_data=f"TRAIN split: {len(train_real)} real photos as bases, {len(train_fake)} AI-generated images "
                      f"as paste donors; kinds {rc['train_kinds']}; {rc['steps']} steps x {rc['batch']} crops of "
                      f"{rc['crop']} px",
        parameters=n_params,
        calibration={"method": "none", "a": 1.0, "b": 0.0},
        extra={"recipe": rc, "max_side": rc["max_side"], "method": method, "threshold": thresholds[method],
               "thresholds": thresholds, "fusion": fusion, "method_f1": val_f1},
    )


def _f(v: float) -> str:
    return "–" if v != v else f"{v:.2f}"


def write_report(card: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """docs/benchmarks/localization.md from the card's metrics."""
    m, rc = card["metrics"], card["extra"]["recipe"]
    L = ["# Localization: which pixels were changed", "",
         "Written by `fakescope build localizer` (src/fakescope/build/localizer.py). The network "
         f"({card['parameters']:,} parameters, {Path(card['weights']).name}) is trained on partial fakes made from the "
         "frozen split's **train** photos only; every number below is on partial fakes made from the **test** "
         f"split's photos ({m['n_eval']} images), each laundered (resize 0.5-1 with p 0.5, JPEG q60-95 with p 0.8). "
         f"Edit kinds trained on: {', '.join(rc['train_kinds'])}; **held out**: {', '.join(rc['heldout_kinds'])} (a "
         "region re-rendered at lower resolution, as an auto-encoder decoder or inpainting fill does) and pastes from "
         "generators no shipped model saw (`unseen:*` test rows and the wild FLUX.1 portraits).", "",
         "Each method's fixed threshold and the fused map's weights were chosen on partial fakes made from the "
         f"**calibration** split's photos ({m['validation']['n']} images, trained kinds only, donors from calibration "
         f"fakes): the best pooled pixel F1 among the thresholds that mark at most {100 * rc['max_marked']:.0f}% of the "
         "untouched calibration photos' pixels. The test rows below were not looked at for any choice.", "",
         "Pixel F1/IoU at the fixed threshold and at the best threshold (pooled over pixels, chosen on "
         "these test images: optimistic, shown only as a ceiling); pixel AUC; image-level AUC of the map's 99th "
         "percentile, edited vs untouched; the share of pixels marked on untouched photos.", "",
         "Methods: `unet` the network; `rine` the rine detector's calibrated probability per 224-px crop on a "
         "sliding grid (stride 112), averaged per pixel (coarse; `rine`'s shipped head is cross-fitted: it was "
         "fitted on the test photos and fakes these partial fakes are made of, as whole images, so its rows are "
         "in-sample for that head; the network never saw them); `fused` sigmoid(a logit(unet) + b logit(rine) + c) "
         "with a = {unet:.3g}, b = {rine:.3g}, c = {bias:.3g} fitted on the calibration photos.".format(
             **{"unet": 1.0, "rine": 0.0, "bias": 0.0, **card['extra']['fusion']}), ""]
    shipped = card["extra"].get("method", "fused")
    f1 = card["extra"].get("method_f1", {})
    why = (" and ".join(f"`{k}` {v:.3f}" for k, v in f1.items()) if f1 else "no calibration photos")
    L += [f"**Shipped: `{shipped}`** (what the scan, `fakescope localize` and `fakescope.localize` use, at its fixed "
          f"threshold {card['extra']['threshold']}): the build ships whichever of `unet` and `fused` has the higher "
          f"pooled pixel F1 on the calibration photos at its own chosen threshold ({why}; a tie keeps `unet`)."
          + (" The network alone needs no rine crops at scan time: rine's sliding grid is computed only when "
             "`--method fused` or `rine` is asked for." if shipped == "unet" else ""), ""]
    thr = card["extra"].get("thresholds", {})
    for method, res in m["test"].items():
        t = thr.get(method, card["extra"]["threshold"])
        L += [f"## {method} (fixed threshold {t}){' — shipped' if method == shipped else ''}", "", "| edit | images | pixel AUC | F1 @ fixed | IoU @ fixed | best F1 | best IoU | image AUC |",
              "|---|---|---|---|---|---|---|---|"]
        for k, v in res.items():
            if k == "untouched":
                continue
            L.append(f"| {k} | {v['n']} | {_f(v['pixel_auc'])} | {_f(v['f1'])} | {_f(v['iou'])} | {_f(v['best_f1'])} | "
                     f"{_f(v['best_iou'])} | {_f(v['image_auc'])} |")
        u = res.get("untouched")
        if u:
            L += ["", f"Untouched photos ({u['n']}): {100 * u['marked']:.1f}% of pixels marked at the fixed threshold."]
        ch = m.get("validation", {}).get("choice", {}).get(method)
        if ch:
            L += [f"On the calibration photos at that threshold: pooled pixel F1 {ch['f1']:.2f}, "
                  f"{100 * ch['marked']:.1f}% of untouched pixels marked."]
        L.append("")
    L += ["Goal of issue 14 (pixel F1 >= 0.6 at the fixed threshold on inpainting by a never-seen generator, <= 5% of "
          "pixels marked on untouched photos): see the `fake-paste (unseen generators)` and untouched rows above.", "",
          f"Reproduce: `fakescope build localizer --fresh` ({m['seconds']} s on a shared 2-core CPU; training "
          f"{m['train_seconds']} s with {rc.get('threads', 1)} torch threads, the maps with one ONNX Runtime thread"
          + (", the network reused from the build cache: trained by an earlier run of the same training inputs" if
             m.get("network_reused") else "")
          + "). The trained network is kept in `$FAKESCOPE_CACHE/build/localizer-<fingerprint of the training "
            "inputs>/`: a plain rerun after a change to the choices or the evaluation reuses it; `--fresh` deletes it "
            "and trains again.", ""]
    Path(path).write_text("\n".join(L), encoding="utf-8")
