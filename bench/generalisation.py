"""In the wild: every shipped family and the default scan on sources they never trained on.

    python bench/generalisation.py            # reads src/fakescope/weights/wild.json
    fakescope build wild                      # (re)scores it first: ~3 min on 2 cores

Rows: every held-out image of the frozen split (the ``test`` split of the modern set and the
photos, and the ``wild`` sources comfyui, camera, faces; CIFAKE aside) under each laundering
condition of :data:`fakescope.build.generalisation.LAUNDERING`.  Writes
``docs/benchmarks/generalisation.md`` and ``generalisation.json``:

1. AUC per source and condition for every family and the default fusion (pooled, mean over
   sources, worst source, bootstrap intervals);
2. labels of the default scan (pixels only) per source and condition: the share of fakes labelled
   ``real`` and of reals flagged, with the "real" cut from the calibration split alone (before) and
   from never-seen sources (now);
3. the "real" rule checked by leaving each never-seen source out: the cut fitted without it, and the
   share of its fakes labelled ``real`` (what a user sees for a source the rule never saw).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
DOCS = REPO / "docs" / "benchmarks"


def _fuser(wild):
    from fakescope.fusion import Fuser, default_detectors, default_regime_detectors

    return Fuser(default_detectors(), regime_detectors=default_regime_detectors(), wild=wild)


def _decide(fuser, wild) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-only p_fake and label of every wild row through the fusion (exhaustive scores)."""
    ps, labels = [], []
    for i in range(wild.labels.size):
        raw = {d: float(v[i]) for d, v in wild.scores.items()}
        dec = fuser.decide([], raw, min_side=int(wild.min_side[i]),
                           compression=wild.compression[i] if wild.compression else None)
        ps.append(np.nan if dec.pixel_p_fake is None else dec.pixel_p_fake)
        labels.append(dec.label)
    return np.array(ps), np.array(labels)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boot", type=int, default=200, help="bootstrap resamples per AUC")
    args = ap.parse_args()
    from fakescope.build.generalisation import LAUNDERING, WILD_FILE, label_table, source_table, summarize_sources
    from fakescope.fusion import MIN_UNSEEN_UNIT, load_calibration, load_wild

    t0 = time.time()
    raw = json.loads(WILD_FILE.read_text())
    wild = load_wild(str(WILD_FILE))
    y = wild.labels
    cond = np.asarray(wild.conditions)
    origins = np.asarray(raw["origins"])
    units = np.asarray(wild.units)
    # sources for the AUC tables: never-seen generators on their own, otherwise the origin
    src = units
    rng = np.random.default_rng(0)

    fuser = _fuser(wild)
    before = _fuser(None)
    p_now, lab_now = _decide(fuser, wild)
    _, lab_before = _decide(before, wild)
    unseen_fakes = wild.unseen & (y == 1)
    caught = {c: {"before": float(np.mean(lab_before[unseen_fakes & (cond == c)] == "ai-generated")),
                  "now": float(np.mean(lab_now[unseen_fakes & (cond == c)] == "ai-generated")),
                  "reals_flagged_before": float(np.mean(lab_before[(y == 0) & (cond == c)] == "ai-generated")),
                  "reals_flagged_now": float(np.mean(lab_now[(y == 0) & (cond == c)] == "ai-generated")),
                  "reals_real_now": float(np.mean(lab_now[(y == 0) & (cond == c)] == "real"))}
              for c in LAUNDERING}

    families = {"default (fused p)": p_now, **{d: wild.scores[d] for d in wild.scores}}
    auc = {}
    for name, p in families.items():
        rows = source_table(p, y, src, cond, rng=rng, n_boot=args.boot)
        auc[name] = {"summary": summarize_sources(rows, p, y, cond), "rows": [r.__dict__ for r in rows]}

    labels_now = label_table(lab_now, y, src, cond)
    labels_before = label_table(lab_before, y, src, cond)

    # the rule, leaving each never-seen source out of the rows that set it
    loso = []
    fake_unseen = wild.unseen & (y == 1)
    for u in sorted(set(units[fake_unseen].tolist())):
        m = units == u
        if m.sum() < MIN_UNSEEN_UNIT * len(LAUNDERING):  # a source of fewer than 5 images says nothing alone
            continue
        f = _fuser(wild.subset(~m))
        sub = wild.subset(m)
        _, lab = _decide(f, sub)
        for c in LAUNDERING:
            mc = np.asarray(sub.conditions) == c
            loso.append({"source": u, "condition": c, "n": int(mc.sum()), "real": float(np.mean(lab[mc] == "real")),
                         "inconclusive": float(np.mean(lab[mc] == "inconclusive")),
                         "ai": float(np.mean(lab[mc] == "ai-generated")),
                         "cut": f.operating_point.real_threshold})
    # the per-compression thresholds, leaving each real source out of the rows that set them
    loso_fpr = []
    for u in sorted(set(units[y == 0].tolist())):
        m = units == u
        if np.sum(m & (y == 0)) < MIN_UNSEEN_UNIT * len(LAUNDERING):
            continue
        f = _fuser(wild.subset(~m))
        sub = wild.subset(m & (y == 0))
        _, lab = _decide(f, sub)
        for c in LAUNDERING:
            mc = np.asarray(sub.conditions) == c
            loso_fpr.append({"source": u, "condition": c, "n": int(mc.sum()),
                             "flagged": float(np.mean(lab[mc] == "ai-generated"))})
    op, op0 = fuser.operating_point, before.operating_point
    sizes = (("full, 65-159 px", 100), ("full, 160-319 px", 200), ("full, 320-479 px", 400), ("full, 480+ px", 512),
             ("thumbnail", 32))
    thresholds = {f"{c} ({r})": fuser.operating_point_for(side, c).threshold
                  for r, side in sizes for c in ("jpeg", "webp-lossy", "lossless", "other")}
    check = _unseen_conditions(fuser)
    cal = load_calibration()
    thumb_op, thumb_op0 = fuser.operating_point_for(32), before.operating_point_for(32)
    out = {"rows": int(y.size), "conditions": {k: v[0] for k, v in LAUNDERING.items()},
           "split_sha256": raw.get("split_sha256"), "calibration_sha256": cal.sha256,
           "default": {"full": list(fuser.detectors_for(512)), "thumbnail": list(fuser.detectors_for(32))},
           "real_cut": {"now": op.real_threshold, "basis": op.real_basis, "before": op0.real_threshold,
                        "thumbnail_now": thumb_op.real_threshold, "thumbnail_basis": thumb_op.real_basis,
                        "thumbnail_before": thumb_op0.real_threshold},
           "auc": auc, "labels_now": labels_now, "labels_before": labels_before, "loso_rule": loso,
           "loso_fpr": loso_fpr, "thresholds": thresholds, "caught": caught, "check_conditions": check,
           "selection": _selection_summary(json.loads(Path(cal_path()).read_text())["default_selection"]),
           "seconds": round(time.time() - t0, 1)}
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "generalisation.json").write_text(json.dumps(out, indent=1, default=float) + "\n")
    (DOCS / "generalisation.md").write_text(_markdown(out, wild, origins) + "\n")
    print(f"wrote {DOCS / 'generalisation.md'} in {out['seconds']} s")
    return 0


#: web copies at sizes and qualities no condition of the wild step holds: the per-condition thresholds are
#: checked on them.  The first three were looked at once while the size classes were set (web-384-q80 flagged
#: 8.9% of the reals when the largest class began at 320 px: it now begins at 480); the others were not
CHECK_CHAINS = {"web-384-q80": (384, 80), "web-192-q85": (192, 85), "web-640-q65": (640, 65),
                "web-448-q70": (448, 70), "web-320-q90": (320, 90), "web-768-q60": (768, 60), "web-200-q60": (200, 60)}
LOOKED_AT = ("web-384-q80", "web-192-q85", "web-640-q65")


def _unseen_conditions(fuser) -> dict:
    """Labels of the default scan (pixels only) on the held-out images through :data:`CHECK_CHAINS`: scored
    by the build's scoring loop (rine by the head of each row's fold), decided by ``fuser``."""
    from fakescope.build.generalisation import heldout_records, score_wild
    from fakescope.perturbations import Chain, Perturbation

    recs = heldout_records()
    chains = {k: Chain([Perturbation("whatsapp", {"long_side": s, "quality": q, "aspect": None})])
              for k, (s, q) in CHECK_CHAINS.items()}
    dets = sorted(set(fuser.detectors_for(32)) | set(fuser.detectors_for(512)))
    d = score_wild(recs, detectors=dets, chains=chains, what="check conditions")
    y = np.asarray(d["labels"])
    unseen = np.asarray(d["unseen"], bool)
    cond = np.asarray(d["conditions"])
    labels = np.array([fuser.decide([], {k: float(v[i]) for k, v in d["scores"].items()},
                                    min_side=int(d["min_side"][i]), compression="jpeg").label
                       for i in range(y.size)])
    out = {}
    for c in CHECK_CHAINS:
        m = cond == c
        out[c] = {"reals": int(np.sum(m & (y == 0))), "fakes": int(np.sum(m & (y == 1))),
                  "reals_flagged": float(np.mean(labels[m & (y == 0)] == "ai-generated")),
                  "reals_real": float(np.mean(labels[m & (y == 0)] == "real")),
                  "fakes_caught": float(np.mean(labels[m & (y == 1)] == "ai-generated")),
                  "fakes_real": float(np.mean(labels[m & (y == 1)] == "real")),
                  "unseen_caught": float(np.mean(labels[m & (y == 1) & unseen] == "ai-generated")),
                  "min_side": [int(np.min(np.asarray(d["min_side"])[m])), int(np.max(np.asarray(d["min_side"])[m]))]}
    return out


def cal_path():
    from fakescope.fusion import CALIBRATION_FILE

    return CALIBRATION_FILE


def _selection_summary(sel: dict) -> dict:
    """The default sets' choice (the calibrate build step): top candidates, and per condition the mean and
    worst per-source AUC a source gets from the set chosen without it (nested leave-one-source-out)."""
    out = {"rule": sel["rule"], "chosen": sel["chosen"], "ms_per_image": sel["ms_per_image_1024x768"],
           "ms_per_image_thumbnail": sel.get("ms_per_image_thumbnail_64"), "top": {},
           "nested": {}, "fixed": {}}
    for regime, rows in sel["table"].items():
        ranked = sorted(rows, key=lambda r: -r["mean_source_auc"])
        out["top"][regime] = ranked[:8]
        out["fixed"][regime] = [r for r in rows if r["members"] in (["npr", "spectral"], ["npr", "npr-thumb", "spectral"],
                                                                     ["rine"])]
        per = sel["nested_loso"][regime]
        conds = sorted({c for v in per.values() for c in v["auc"]})
        nested = {}
        for c in conds:
            vals = {s: v["auc"][c] for s, v in per.items() if c in v["auc"]}
            if vals:
                w = min(vals, key=vals.get)
                nested[c] = {"mean": float(np.mean(list(vals.values()))), "worst": vals[w], "worst_source": w,
                             "n_sources": len(vals)}
        out["nested"][regime] = nested
        out.setdefault("sets_chosen", {})[regime] = sorted({"+".join(v["members"]) for v in per.values()})
    return out


def _markdown(out, wild, origins) -> str:
    conds = list(out["conditions"])
    n_img = wild.labels.size // len(conds)
    L = ["# In the wild: sources the scoring detectors never trained on", "",
         "Written by `bench/generalisation.py` from `src/fakescope/weights/wild.json` (the `wild` step of the model "
         "build, `fakescope build wild`). No score here comes from weights that saw the row's source: `rine`'s shipped head "
         "is cross-fitted (fitted on the train, test and wild rows), and every `rine` score of this page comes from the "
         "head fitted without the row's fold (its origin; the faces set whole; and every fake of the same generator; "
         "`rine-folds.npz`), the other detectors never trained on these rows. Three choices used them, each "
         "checked by leaving each source out: the default scan's \"real\" cut (section 2; checked in section 3), "
         "the default detector sets (section 5, with a nested leave-one-source-out check), and two knobs of `rine` "
         "(crops and L2, chosen by leave-one-source-out over all 42 sources; its card).", "",
         f"**Rows:** {n_img} held-out images × {len(conds)} conditions = {out['rows']}: the `test` split of the modern "
         "set and the photos (generators seen in training and the five never-seen ones), and the `wild` sources "
         "(comfyui: ~20 recent open models; camera: 28 camera JPEGs; faces: web photos vs FLUX-LoRA portraits). "
         "Split manifest sha256 " + str(out["split_sha256"])[:16] + "…; calibration " + out["calibration_sha256"][:16] + "….",
         "", "**Conditions** (both classes alike):", ""]
    L += [f"- `{k}`: {v}" for k, v in out["conditions"].items()]
    L += ["", "A fake source is scored against every real image of the same condition, a real source against every "
          "fake; sources with fewer than 5 images are left out of the per-source rows (they stay in the pooled AUC).",
          "", "## 1. AUC: pooled / mean over sources / worst source", ""]
    L.append("| detector | " + " | ".join(conds) + " |")
    L.append("|---|" + "---|" * len(conds))
    for name, d in out["auc"].items():
        cells = []
        for c in conds:
            s = d["summary"][c]
            cells.append(f"{s['pooled']:.2f} / {s['mean']:.2f} / {s['worst']:.2f}")
        L.append(f"| {name} | " + " | ".join(cells) + " |")
    L += ["", "Worst source per condition (default fusion): " + "; ".join(
        f"{c}: {out['auc']['default (fused p)']['summary'][c]['worst_source']}" for c in conds) + ".", "",
        "Per source, default fusion, as stored and `web-512-q70` (AUC with 95% bootstrap interval):", "",
        "| source | class | n | stored | web-512-q70 |", "|---|---|---|---|---|"]
    rows = out["auc"]["default (fused p)"]["rows"]
    by = {}
    for r in rows:
        by.setdefault((r["source"], r["kind"]), {})[r["condition"]] = r
    for (s, kind), d in sorted(by.items()):
        def cell(c):
            r = d.get(c)
            return f"{r['auc']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}]" if r else "–"
        n = next(iter(d.values()))["n"]
        L.append(f"| {s} | {kind} | {n} | {cell('stored')} | {cell('web-512-q70')} |")
    rc = out["real_cut"]
    L += ["", "## 2. Labels of the default scan (pixels only, `--no-provenance`)", "",
          f"The \"real\" cut on full-resolution images is now p_fake < {rc['now']:.4f} ({rc['basis']}: the lowest "
          "of the never-seen sources' 10% cuts, minus a margin of their spread chosen by leaving each source out — "
          "see `fakescope.fusion.real_rule`); before it was "
          f"{rc['before']:.4f} (at most 5% of the calibration split's fakes); on thumbnails (<= 64 px, the "
          "`thumbnail-64` rows) " + (
              "pixels never say real now: there the fused score ranks the never-seen fakes below the held-out "
              "reals (AUC < 0.5)" if rc["thumbnail_now"] <= 0 else f"p_fake < {rc['thumbnail_now']:.4f}")
          + f" (before {rc['thumbnail_before']:.4f}). The `ai-generated` threshold is 1% FPR "
          "on the calibration reals, raised per compression class and size class where held-out reals need it (section 4).", "",
          "All never-seen fakes labelled `ai-generated`, and all held-out reals flagged / labelled `real`, "
          "before → now:", "", "| | " + " | ".join(conds) + " |", "|---|" + "---|" * len(conds),
          "| fakes of never-seen sources caught | " + " | ".join(
              f"{out['caught'][c]['before']:.0%} → {out['caught'][c]['now']:.0%}" for c in conds) + " |",
          "| held-out reals flagged | " + " | ".join(
              f"{out['caught'][c]['reals_flagged_before']:.1%} → {out['caught'][c]['reals_flagged_now']:.1%}"
              for c in conds) + " |",
          "| held-out reals labelled `real` (now) | " + " | ".join(
              f"{out['caught'][c]['reals_real_now']:.1%}" for c in conds) + " |", "",
          "Fakes labelled `real` (fake sources) and reals labelled `ai-generated` (real sources), before → now; "
          "inconclusive now in brackets:", "", "| source | class | " + " | ".join(conds) + " |",
          "|---|---|" + "---|" * len(conds)]
    before = {(r["source"], r["class"], r["condition"]): r for r in out["labels_before"]}
    now = {(r["source"], r["class"], r["condition"]): r for r in out["labels_now"]}
    for s, cls in sorted({(k[0], k[1]) for k in now}):
        cells = []
        for c in conds:
            a, b = before.get((s, cls, c)), now.get((s, cls, c))
            cells.append("–" if b is None else f"{a['wrong']:.0%} → {b['wrong']:.0%} ({b['inconclusive']:.0%})")
        L.append(f"| {s} | {cls} | " + " | ".join(cells) + " |")
    L += ["", "## 3. The \"real\" rule for a source it never saw (leave-one-source-out)", "",
          "Each never-seen source in turn is removed from the rows that set the cut; its fakes are then labelled "
          "by that fusion. Share labelled `real` (goal: at most 10%) / `inconclusive` / `ai-generated`:", "",
          "| left-out source | n per condition | cut without it | " + " | ".join(conds) + " |",
          "|---|---|---|" + "---|" * len(conds)]
    by_src = {}
    for r in out["loso_rule"]:
        by_src.setdefault(r["source"], {})[r["condition"]] = r
    worst = 0.0
    for s, d in sorted(by_src.items()):
        first = next(iter(d.values()))
        cells = [f"{d[c]['real']:.0%} / {d[c]['inconclusive']:.0%} / {d[c]['ai']:.0%}" for c in conds if c in d]
        worst = max([worst] + [d[c]["real"] for c in d])
        L.append(f"| {s} | {first['n']} | {first['cut']:.4f} | " + " | ".join(cells) + " |")
    L += ["", f"Worst share of a left-out source's fakes labelled `real`, any condition: **{worst:.0%}**.", ""]
    th = out["thresholds"]
    L += ["## 4. False positives per condition (the FPR asked for: 1%)", "",
          "The `ai-generated` threshold is raised for a compression class (`fakescope.io.decode.compression_class` "
          "of the scanned file) where the held-out real photos of that class (100 or more) reach 1% only higher up; "
          "never lowered. Within the full-resolution regime each compression class is also judged per size class "
          "of the smaller side (65-159, 160-319, 320-479, 480+ px; `fakescope.regimes.condition_key`): a size class "
          "with 100 or more held-out reals gets its own threshold (raised, or the plain one where its reals need "
          "nothing more), because a 128- or 256-px web copy of a photo looks fake to the detectors far more often "
          "than the photo (before the size classes, 39% of the held-out reals were flagged as 128-px JPEGs and 5.5% as "
          "256-px JPEGs). Thresholds now: " + ", ".join(f"{k} {v:.3f}" for k, v in th.items()) + ".",
          "Real photos labelled `ai-generated`, with the thresholds fitted on every real source (in-sample) and "
          "with the source left out of them (leave-one-source-out: what a new kind of real photo sees):", "",
          "| real source | " + " | ".join(conds) + " |", "|---|" + "---|" * len(conds)]
    now_fpr = {(r["source"], r["condition"]): r for r in out["labels_now"] if r["class"] == "real"}
    lo = {(r["source"], r["condition"]): r for r in out["loso_fpr"]}
    for s_ in sorted({k[0] for k in lo}):
        cells = []
        for c in conds:
            a, b = now_fpr.get((s_, c)), lo.get((s_, c))
            cells.append("–" if b is None else f"{a['wrong']:.0%} / {b['flagged']:.0%}")
        L.append(f"| {s_} | " + " | ".join(cells) + " |")
    worst_fpr = max([r["flagged"] for r in out["loso_fpr"]] or [0.0])
    L += ["", f"Worst left-out source and condition: **{worst_fpr:.0%}** of its real photos flagged.", ""]
    chk = out.get("check_conditions") or {}
    if chk:
        L += ["Web copies at sizes and qualities that no condition above holds (long side ≤ N px, JPEG quality q, "
              "4:2:0; the same held-out images, rine by each row's fold head): no threshold was fitted on them. "
              "The rows marked * were looked at once while the size classes were set (with the largest class "
              "beginning at 320 px, web-384-q80 had 8.9% of its reals flagged; it now begins at 480 px); the "
              "others were first measured by this run.", "",
              "| check condition | smaller side (px) | reals flagged | reals labelled `real` | fakes caught | "
              "never-seen fakes caught | fakes labelled `real` |", "|---|---|---|---|---|---|---|"]
        for c, r in chk.items():
            L.append(f"| {c}{' *' if c in LOOKED_AT else ''} | {r['min_side'][0]}-{r['min_side'][1]} | {r['reals_flagged']:.1%} of {r['reals']} | "
                     f"{r['reals_real']:.1%} | {r['fakes_caught']:.0%} of {r['fakes']} | {r['unseen_caught']:.0%} | "
                     f"{r['fakes_real']:.1%} |")
        L.append("")
    sel = out["selection"]
    L += ["## 5. How the default sets were chosen (the `calibrate` build step)", "", sel["rule"], "",
          "Chosen: full resolution **" + " + ".join(sel["chosen"]["full"]["members"]) + "**, thumbnails **" +
          " + ".join(sel["chosen"]["thumbnail"]["members"]) + "**. Milliseconds per 1024×768 image, one thread: " +
          ", ".join(f"{k} {v}" for k, v in sel["ms_per_image"].items()) + "." +
          (" Per 64-px thumbnail of it (the thumbnail regime's cost): " +
           ", ".join(f"{k} {v}" for k, v in sel["ms_per_image_thumbnail"].items()) + "."
           if sel.get("ms_per_image_thumbnail") else ""), ""]
    for regime in ("full", "thumbnail"):
        L += [f"**{regime}** — the best candidates by mean per-source AUC (mean over conditions), beside fixed "
              "references:", "", "| members | mean source AUC | SE | mean worst source | ms |", "|---|---|---|---|---|"]
        shown = []
        for r in sel["top"][regime] + sel["fixed"][regime]:
            if r["members"] in shown:
                continue
            shown.append(r["members"])
            L.append(f"| {' + '.join(r['members'])} | {r['mean_source_auc']:.3f} | {r['se']:.3f} | "
                     f"{r['mean_worst_auc']:.3f} | {r['ms_per_image']} |")
        nested = sel["nested"][regime]
        L += ["", f"Nested leave-one-source-out ({regime}): each source scored by the set the rule picks without it "
              f"(sets picked: {'; '.join(sel['sets_chosen'][regime])}). Mean / worst per-source AUC:", "",
              "| " + " | ".join(nested) + " |", "|" + "---|" * len(nested),
              "| " + " | ".join(f"{v['mean']:.2f} / {v['worst']:.2f}" for v in nested.values()) + " |", ""]
    return "\n".join(L)


if __name__ == "__main__":
    raise SystemExit(main())
