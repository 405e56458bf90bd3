"""Peak RSS of a long scan stays flat: scan N images with the CLI and sample the process tree's RSS.

Writes docs/benchmarks/scan_memory.md.  Usage: python bench/scan_memory.py [--n 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from _common import DOCS, WORK, machine, make_jpegs


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and its children, from /proc (MB)."""
    pids = [pid]
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        pids += [int(x) for x in out.split()]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    base = make_jpegs(200, (512, 384), WORK / "jpeg_512x384")
    folder = WORK / f"many_{args.n}"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(args.n):  # hard links: distinct paths, no extra disk
        dst = folder / f"{i:06d}.jpg"
        if not dst.exists():
            os.link(base[i % len(base)], dst)
    out = WORK / "memory_scan.jsonl"
    out.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "fakescope.cli", "scan", str(folder), "--out", str(out),
                             "--no-progress", "--jobs", str(args.jobs)], stderr=subprocess.PIPE, text=True)
    samples: list[tuple[int, float]] = []
    while proc.poll() is None:
        done = out.read_text().count("\n") if out.exists() else 0
        samples.append((done, tree_rss_mb(proc.pid)))
        time.sleep(1.0)
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    marks = []
    for frac in (0.1, 0.25, 0.5, 0.75, 0.95):
        want = frac * args.n
        s = min(samples, key=lambda x: abs(x[0] - want))
        marks.append((frac, s[0], s[1]))
    peak = max(r for _, r in samples)
    lines = [
        "# Scan memory",
        "",
        f"`python bench/scan_memory.py --n {args.n} --jobs {args.jobs}` on {machine()}: the CLI scans {args.n} "
        "JPEGs (512×384) to JSON lines; the RSS of the whole process tree (parent + workers) is sampled every second.",
        "",
        "| progress | images done | RSS of process tree (MB) |",
        "|---|---|---|",
        *[f"| {f:.0%} | {d} | {r:.0f} |" for f, d, r in marks],
        "",
        f"Peak RSS: **{peak:.0f} MB**; RSS at 10% vs 95%: {marks[0][2]:.0f} MB vs {marks[-1][2]:.0f} MB. "
        f"Scan summary (the CLI's last words): {' '.join(err.split())}",
        "",
    ]
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "scan_memory.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
