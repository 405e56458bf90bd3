"""``fakescope attack`` and ``fakescope generate``: the runs behind the CLI (which only parses options)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import UsageError

__all__ = ["run_attack", "load_labelled", "DEFAULT_TARGETS", "write_markdown"]

DEFAULT_TARGETS: tuple[str, ...] = ("npr", "npr-thumb", "cnnspot", "safe", "patchcraft", "rine", "ensemble", "fusion")


def load_labelled(data: str | Path, *, n: int | None = None, split: str | None = None
                  ) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """Up to ``n`` fakes and ``n`` reals of a dataset (any layout :func:`fakescope.io.datasets.open_dataset`
    reads), in the dataset's order: (fake paths, fake images, real paths, real images).  Images of one
    run must share one size (attacks batch them)."""
    from ..io.datasets import open_dataset
    from ..training.data import load_rgb

    ds = open_dataset(data)
    items = ds.items(split=split) if split else list(ds)
    fakes = [i.path for i in items if i.label == 1][:n]
    reals = [i.path for i in items if i.label == 0][:n]
    if not fakes:
        raise UsageError(f"{data}: no AI-generated (label 1) images to attack")
    if not reals:
        raise UsageError(f"{data}: no real (label 0) images: TPR at 1% FPR needs reals")
    fi = [load_rgb(p) for p in fakes]
    ri = [load_rgb(p) for p in reals]
    shapes = {im.shape for im in fi + ri}
    if len(shapes) != 1:
        raise UsageError(f"{data}: images of one size are needed for one run, found {sorted(shapes)[:4]}")
    return fakes, np.stack(fi), reals, np.stack(ri)


def run_attack(data: str | Path, *, method: str, eps: float, eps_text: str, detector: str, out: str | Path,
               n: int | None = 64, targets: Sequence[str] = DEFAULT_TARGETS, defences: Sequence[str] = (),
               seed: int = 0, steps: int = 10, split: str | None = None, log: Any = None) -> dict[str, Any]:
    """Attack the fakes of ``data``, write them (PNG, lossless) under ``out/images/`` with ``report.json``
    and ``report.md``; returns the report."""
    from PIL import Image

    from . import WHITE_BOX, attack
    from .evaluate import evaluate, evaluate_defence

    t0 = time.perf_counter()
    fake_paths, fakes, real_paths, reals = load_labelled(data, n=n, split=split)
    opts = {"steps": steps} if method in WHITE_BOX and method != "fgsm" else {}
    if log:
        log(f"attack: {method} eps={eps_text} via {detector} on {len(fakes)} fakes ({len(reals)} reals)")
    t1 = time.perf_counter()
    adv = attack(method, fakes, eps=eps, detector=detector, seed=seed, **opts)
    attack_s = time.perf_counter() - t1
    outp = Path(out)
    (outp / "images").mkdir(parents=True, exist_ok=True)
    written = []
    for p, im in zip(fake_paths, adv):
        name = Path(p).stem + ".png"
        k = 1
        while name in written:
            name, k = f"{Path(p).stem}-{k}.png", k + 1
        Image.fromarray(im).save(outp / "images" / name)
        written.append(name)
    # score what was written (PNG is lossless: the same pixels)
    from ..training.data import load_rgb

    adv_disk = np.stack([load_rgb(outp / "images" / w) for w in written])
    ev = evaluate(reals, fakes, adv_disk, targets=list(targets))
    report: dict[str, Any] = {
        "method": method, "eps": eps, "eps_text": eps_text, "surrogate": detector if method in WHITE_BOX else None,
        "white_box": method in WHITE_BOX, "steps": opts.get("steps", 1 if method == "fgsm" else None),
        "data": str(data), "split": split, "n_fakes": len(fakes), "n_reals": len(reals), "seed": seed,
        "image_size": list(fakes.shape[1:3]), "attack_seconds": round(attack_s, 1),
        "images": [f"images/{w}" for w in written], "sources": fake_paths,
        **ev, "defences": {}}
    for d in defences:
        report["defences"][d] = evaluate_defence(d, reals, fakes, adv_disk, targets=list(targets))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    (outp / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (outp / "report.md").write_text(write_markdown(report), encoding="utf-8")
    return report


def write_markdown(r: dict[str, Any]) -> str:
    """``report.md``: the targets table, the perturbation and the defences."""
    lines = [f"# Attack report: {r['method']} (eps {r['eps_text']})", "",
             f"- data: `{r['data']}`, {r['n_fakes']} fakes attacked, {r['n_reals']} reals "
             f"({r['image_size'][0]}x{r['image_size'][1]} px)",
             f"- surrogate (gradients): {r['surrogate'] or 'none (black-box)'}; steps: {r['steps']}; seed {r['seed']}",
             f"- perturbation: PSNR {r['perturbation']['psnr_db']} dB, SSIM {r['perturbation']['ssim']}, "
             f"max change {r['perturbation']['linf_grey_levels']} grey levels, RMS "
             f"{r['perturbation']['l2_rms_grey_levels']}", "",
             "Flagged: share of fakes at or above the target's default operating point (1% FPR on the calibration "
             "split). Evasion: share of the fakes flagged clean that are not flagged after the attack. TPR@1%FPR: "
             "threshold at the 99th percentile of these reals' scores.", "",
             "| target | flagged before | flagged after | evasion | TPR@1%FPR before | after | AUC before | after |",
             "|---|---|---|---|---|---|---|---|"]
    for t, m in r["targets"].items():
        lines.append(f"| {t} | {m['flagged_before']:.3f} | {m['flagged_after']:.3f} | {m['evasion_rate']:.3f} | "
                     f"{m['tpr_at_1fpr_before']:.3f} | {m['tpr_at_1fpr_after']:.3f} | {m['auc_before']:.3f} | "
                     f"{m['auc_after']:.3f} |")
    for d, per in r.get("defences", {}).items():
        lines += ["", f"## Defence: {d}", "",
                  "| target | TPR clean | TPR attacked | TPR purified+attacked | recovered | clean AUC | purified "
                  "clean AUC | cost |", "|---|---|---|---|---|---|---|---|"]
        for t, m in per.items():
            rec = "n/a" if m["recovered_share"] is None else f"{m['recovered_share']:.2f}"
            lines.append(f"| {t} | {m['tpr_at_1fpr_clean']:.3f} | {m['tpr_at_1fpr_attacked']:.3f} | "
                         f"{m['tpr_at_1fpr_purified_attacked']:.3f} | {rec} | {m['clean_auc']:.3f} | "
                         f"{m['clean_auc_purified']:.3f} | {m['clean_auc_cost']:+.3f} |")
    return "\n".join(lines) + "\n"
