"""The two-stage scan (early exit) on sources it never saw: exits, changed labels, time.

    python bench/cascade.py        # ~3 min → docs/benchmarks/cascade.md

The first stage is fitted by the ``cascade`` build step (``fakescope build cascade``,
:mod:`fakescope.build.cascade`) on the calibration split; its plan, margin and the candidates it
was chosen from are in ``weights/cascade.json``.  Here every held-out image (the test split and the
wild sources, as stored and as a 1024-px design-tool JPEG) is scanned by the default scan twice,
pixels only: with the early exit and ``--exhaustive``.  Reported: the share of images that exit
early, labels that differ from the exhaustive scan, and the median detector time per image of each.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from _common import DOCS, machine  # noqa: E402


def main() -> int:
    import dataclasses

    from fakescope.build.generalisation import LAUNDERING, heldout_records
    from fakescope.fusion import CASCADE_FILE
    from fakescope.io.decode import load
    from fakescope.pipeline import Scanner

    t0 = time.time()
    doc = json.loads(CASCADE_FILE.read_text())
    two = Scanner(provenance=False)
    ex = Scanner(provenance=False, exhaustive=True)
    recs = heldout_records()
    conds = ("stored", "design-1024-q85")
    rows = {c: {"n": 0, "exit_real": [], "exit_fake": [], "changed": 0, "ms_two": [], "ms_ex": []} for c in conds}
    for r in recs:
        sample = load(r.path)
        for c in conds:
            smp = dataclasses.replace(sample, image=LAUNDERING[c][1].apply(sample.image))
            if c != "stored":  # the laundered copy is a JPEG: its compression class says so
                smp = dataclasses.replace(smp, metadata=dataclasses.replace(smp.metadata, format="JPEG"), data=b"")
            t = time.perf_counter()
            v2 = two.scan_sample(smp)
            t1 = time.perf_counter()
            ve = ex.scan_sample(smp)
            t2 = time.perf_counter()
            early = any((e.details or {}).get("stage") == "first" for e in v2.evidence)
            row = rows[c]
            row["n"] += 1
            row["exit_fake" if r.label else "exit_real"].append(early)
            row["changed"] += int(v2.label != ve.label)
            row["ms_two"].append(1000 * (t1 - t))
            row["ms_ex"].append(1000 * (t2 - t1))
    out = {"plan": doc["members"], "choice": doc["choice"], "machine": machine(), "images": len(recs), "rows": {
        c: {"n": v["n"], "exit_real": float(np.mean(v["exit_real"])), "exit_fake": float(np.mean(v["exit_fake"])),
            "labels_changed": v["changed"], "median_ms_two_stage": float(np.median(v["ms_two"])),
            "median_ms_exhaustive": float(np.median(v["ms_ex"]))} for c, v in rows.items()},
        "seconds": round(time.time() - t0, 1)}
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "cascade.json").write_text(json.dumps(out, indent=1, default=float) + "\n")
    (DOCS / "cascade.md").write_text(_markdown(out))
    print(f"wrote {DOCS / 'cascade.md'} in {out['seconds']} s")
    return 0


def _markdown(out: dict) -> str:
    def plan_txt(p: dict) -> str:
        return ", ".join(f"{n} {h}" for n, h in p.items())

    ch = out["choice"]
    L = ["# Two-stage scan (early exit)", "",
         f"`python bench/cascade.py` on {out['machine']}. A full-resolution image is scored first on part of the "
         "evidence; when the first-stage fusion is beyond its thresholds by a margin at which no calibration image's "
         "label differed from the exhaustive scan (smallest such margin on a 0.25-logit grid, plus 0.5), the scan "
         "stops; otherwise the rest is scored and the image gets exactly the exhaustive scan's result. Thumbnails "
         "(<= 64 px) and compression classes with a raised threshold are always scored whole. `fakescope scan "
         "--exhaustive` turns the early exit off.", "",
         "## The plan (the `cascade` build step, on the calibration split)", "",
         "Per member: `half` = half of its tiles in the first stage, `full` = its whole score. Expected ms = first "
         "stage + (1 - exit rate) × second stage (stage times from the build's committed price list, "
         "docs/benchmarks/detector_costs.json, half of the tiles at half a detector's price; one "
         f"thread; exhaustive {ch['exhaustive_ms']:.2f} ms).", "",
         "| plan | margin (logits) | exit, calibration | first stage ms | second stage ms | expected ms |",
         "|---|---|---|---|---|---|"]
    for r in ch["candidates"]:
        if r["margin"] is None:
            L.append(f"| {plan_txt(r['plan'])} | no margin keeps every calibration label | | | | |")
            continue
        mark = " **(chosen)**" if r["plan"] == out["plan"] else ""
        L.append(f"| {plan_txt(r['plan'])}{mark} | {r['margin']:.2f} | {r['exit_rate']:.1%} | {r['first_ms']:.2f} | "
                 f"{r['rest_ms']:.2f} | {r['expected_ms']:.2f} |")
    L += ["", f"## Held-out images ({out['images']}: test split and wild sources; never used above)", "",
          "| condition | n | exit early, reals | exit early, fakes | labels changed | median ms two-stage | "
          "median ms exhaustive |", "|---|---|---|---|---|---|---|"]
    for c, r in out["rows"].items():
        L.append(f"| {c} | {r['n']} | {r['exit_real']:.1%} | {r['exit_fake']:.1%} | {r['labels_changed']} | "
                 f"{r['median_ms_two_stage']:.1f} | {r['median_ms_exhaustive']:.1f} |")
    L += ["", f"Time: {out['seconds']} s.", ""]
    return "\n".join(L)


if __name__ == "__main__":
    raise SystemExit(main())
