"""Does ``fakescope build all --fresh`` on a fresh clone reproduce the shipped artefacts?  How long does it take?

    git clone . /tmp/repro/fs && cd /tmp/repro/fs
    FAKESCOPE_CACHE=/tmp/repro/cache fakescope build all --fresh --parallel 2 2>&1 | tee /tmp/repro/build.log
    python bench/reproduction.py --rebuilt /tmp/repro/fs --log /tmp/repro/build.log   # → docs/benchmarks/reproduction.md

The rebuilt checkout is compared with the commit it was cloned at (``git show HEAD:<file>`` there), file by
file under ``src/fakescope/weights``: bitwise identical (sha256), else the largest absolute difference of any
number — ONNX initializers, ``.npz`` arrays, and every number in the JSON files (cards, the calibration and
held-out score files, whose per-image scores are the "scores within 1e-4" check), the build's own records
(step times, ``reproduced`` notes, fingerprints, measured milliseconds per image) left out: :func:`_ignored`.  The step times come from the
build's log (``fakescope build`` prints each step's wall time and the whole run's).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from _common import DOCS, machine  # noqa: E402

WEIGHTS = "src/fakescope/weights"
#: what a build records about itself (times, reproduction notes, whether a cached network was reused), not what
#: it computes; and fingerprints (``*sha256``: a hash of files that are compared here themselves, which change
#: when a file's floats differ in the 13th digit)
IGNORED_KEYS = {"seconds", "train_seconds", "eval_seconds", "reproduced", "reproduced_check", "wall_seconds",
                "built", "date", "created", "load", "network_reused"}


def _ignored(key: str) -> bool:
    """Keys left out: build records, fingerprints and measured times (milliseconds per image)."""
    return key in IGNORED_KEYS or key.endswith("sha256") or key.startswith("ms_per_image") or key.endswith("_ms")
#: what counts as reproduced when the bytes differ (the issue's bar: scores within 1e-4 where threads differ)
TOL = 1e-4


def _reference(rebuilt: Path, rel: str) -> bytes | None:
    r = subprocess.run(["git", "-C", str(rebuilt), "show", f"HEAD:{rel}"], capture_output=True)
    return r.stdout if r.returncode == 0 else None


def _walk(a: Any, b: Any, path: str, out: dict[str, Any]) -> None:
    """Largest numeric difference and the differing non-numeric leaves of two JSON values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if _ignored(k):
                continue
            if k not in a or k not in b:
                out["other"].append(f"{path}/{k} only in {'rebuilt' if k in b else 'shipped'}")
                continue
            _walk(a[k], b[k], f"{path}/{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out["other"].append(f"{path}: {len(a)} vs {len(b)} items")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _walk(x, y, f"{path}[{i}]", out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        d = abs(float(a) - float(b))
        out["numbers"] += 1
        if d > out["max"]:
            out["max"], out["where"] = d, path
        if d > TOL:
            out["over"] += 1
    elif a != b:
        out["other"].append(f"{path}: {str(a)[:40]!r} vs {str(b)[:40]!r}")


def _arrays(data: bytes, suffix: str) -> dict[str, np.ndarray]:
    if suffix == ".npz":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    import onnx
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in onnx.load_from_string(data).graph.initializer}


def compare(rebuilt: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted((rebuilt / WEIGHTS).rglob("*")):
        if not path.is_file() or path.suffix not in {".json", ".onnx", ".npz"}:
            continue
        rel = path.relative_to(rebuilt).as_posix()
        new, old = path.read_bytes(), _reference(rebuilt, rel)
        row: dict[str, Any] = {"file": rel[len(WEIGHTS) + 1:], "bytes": len(new)}
        if old is None:
            row["result"] = "new file (not in the commit)"
        elif hashlib.sha256(old).digest() == hashlib.sha256(new).digest():
            row["result"] = "bitwise identical"
        else:
            out: dict[str, Any] = {"max": 0.0, "where": "", "numbers": 0, "over": 0, "other": []}
            if path.suffix == ".json":
                _walk(json.loads(old), json.loads(new), "", out)
            else:
                a, b = _arrays(old, path.suffix), _arrays(new, path.suffix)
                if set(a) != set(b):
                    out["other"].append(f"arrays {sorted(set(a) ^ set(b))[:4]} in one only")
                for k in sorted(set(a) & set(b)):
                    if a[k].shape != b[k].shape or a[k].dtype.kind != b[k].dtype.kind:
                        out["other"].append(f"{k}: shape {a[k].shape} vs {b[k].shape}")
                    elif a[k].dtype.kind in "fiu":
                        _walk(a[k].astype(np.float64).ravel().tolist(), b[k].astype(np.float64).ravel().tolist(), k, out)
                    elif not np.array_equal(a[k], b[k]):
                        out["other"].append(f"{k}: differs")
            row.update(max_abs=out["max"], where=out["where"], numbers=out["numbers"], over=out["over"],
                       other=out["other"][:5], n_other=len(out["other"]))
            if out["other"]:
                row["result"] = "differs"
            elif out["max"] <= TOL:
                row["result"] = f"numbers within {TOL:g}" if out["max"] else "same numbers (bytes differ)"
            else:
                row["result"] = f"{out['over']} of {out['numbers']} numbers differ by more than {TOL:g}"
        rows.append(row)
    return rows


def step_times(log: Path) -> tuple[dict[str, float], str]:
    text = log.read_text(encoding="utf-8", errors="replace")
    times = {m.group(1): float(m.group(2)) for m in re.finditer(r"^([\w-]+): done in (\d+) s$", text, re.M)}
    summary = next((line for line in text.splitlines() if line.startswith("build: ")), "")
    return times, summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rebuilt", type=Path, required=True, help="a clone where `fakescope build all --fresh` ran")
    ap.add_argument("--log", type=Path, default=None, help="that build's output (step times)")
    ap.add_argument("--note", default="", help="a sentence on how the build was run (machine load, options)")
    ap.add_argument("--out", type=Path, default=DOCS / "reproduction.md")
    args = ap.parse_args()

    rows = compare(args.rebuilt)
    head = subprocess.run(["git", "-C", str(args.rebuilt), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    lines = ["# Reproducing the model build", "",
             f"`fakescope build all --fresh` on a fresh clone of commit {head} with an empty `$FAKESCOPE_CACHE`, "
             f"then `python bench/reproduction.py`, on {machine()}. " + args.note, ""]
    if args.log and args.log.exists():
        times, summary = step_times(args.log)
        if summary:
            lines += [f"The build's own summary: `{summary}`", ""]
        if times:
            lines += ["| step | wall time |", "|---|---|"]
            lines += [f"| {k} | {v / 60:.1f} min ({v:.0f} s) |" for k, v in times.items()]
            lines += [""]
    counts: dict[str, int] = {}
    for r in rows:
        key = r["result"] if not r["result"][0].isdigit() else f"numbers differ by more than {TOL:g}"
        counts[key] = counts.get(key, 0) + 1
    lines += ["Files under `src/fakescope/weights` compared with the commit: "
              + ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])) + ".", "",
              "| file | result | largest difference | where |", "|---|---|---|---|"]
    for r in rows:
        diff = f"{r['max_abs']:.3g}" if "max_abs" in r else ""
        where = r.get("where", "") + ("; " + "; ".join(r["other"]) if r.get("other") else "")
        lines.append(f"| {r['file']} | {r['result']} | {diff} | {where[:160]} |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out.with_suffix(".json")).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
