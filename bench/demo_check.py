"""Print the demo scan next to the sample bundle's ground truth (samples/labels.csv)."""

from __future__ import annotations

import csv
import json
import os
import sys

from rich.console import Console
from rich.table import Table

COLOURS = {"ai-generated": "red", "real": "green", "inconclusive": "yellow", "error": "magenta"}


def main(results: str, labels: str) -> int:
    truth = {}
    with open(labels, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            truth[os.path.basename(row["file"])] = row
    t = Table(title="fakescope demo: verdicts vs. ground truth")
    for col in ("file", "truth", "verdict", "p_fake", "generator (truth)"):
        t.add_column(col)
    right = wrong = unsure = errors = 0
    with open(results, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            name = os.path.basename(r["path"])
            gt = truth.get(name, {})
            label = r.get("label") or "error"
            want = {"real": "real", "fake": "ai-generated"}.get(gt.get("label", ""), "?")
            if r["status"] != "ok":
                errors += 1
                mark = ""
            elif label == "inconclusive":
                unsure += 1
                mark = " ?"
            elif label == want:
                right += 1
                mark = " ✓"
            else:
                wrong += 1
                mark = " ✗"
            p = f"{r['p_fake']:.2f}" if r.get("p_fake") is not None else (r.get("error") or "")[:60]
            t.add_row(name, gt.get("label", "?"), f"[{COLOURS.get(label, 'white')}]{label}[/]{mark}", p,
                      gt.get("generator", ""))
    con = Console()
    con.print(t)
    con.print(f"right {right}, wrong {wrong}, inconclusive {unsure}, unreadable {errors} "
              f"(the broken file is there on purpose). HTML report: reports/demo.html")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
