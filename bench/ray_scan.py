"""Scan throughput of the local engine vs the Ray engine with 1 and 2 actors, on the same images in one run.

Writes docs/benchmarks/ray.md.  Usage: python bench/ray_scan.py [--n 120] [--rounds 3]

Each round runs the four set-ups in turn (so machine noise hits all alike): local with 1 and 2 processes,
Ray with 1 and 2 actors on one local Ray instance started once by this script (as ``--engine ray``
without ``--address`` does per scan: that start is measured apart).  For each run: images/s over the
whole call (pool start included: what a scan of N images sees) and images/s once the pool is up (from
the moment every actor is up to the last verdict: the pool's throughput without its start).  Medians
are quoted.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

from _common import DOCS, WORK, machine, make_jpegs, median


def timed(run, n: int) -> tuple[float, float, float, list[dict]]:
    """(images/s over the call, images/s once the pool is up, seconds to the first verdict, records).

    ``run(up)`` calls ``up()`` when its pool is up (Ray: every actor started; local: at once, the pool
    forks in milliseconds)."""
    t0 = time.perf_counter()
    t_up = [t0]
    first = None
    recs = []
    for v in run(lambda *_: t_up.append(time.perf_counter())):
        if first is None:
            first = time.perf_counter()
        d = v.to_dict()
        d.pop("elapsed_ms")
        recs.append(d)
    t1 = time.perf_counter()
    assert len(recs) == n and all(r["status"] == "ok" for r in recs)
    return n / (t1 - t0), n / (t1 - t_up[-1]), first - t0, recs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    paths = [str(p) for p in make_jpegs(args.n, (1024, 768), WORK / "jpeg_1024x768")]

    import ray

    import fakescope
    from fakescope.engines.local import run_local
    from fakescope.engines.ray import DEFAULT_CHUNK_SIZE, run_ray

    t0 = time.perf_counter()
    ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)  # what --engine ray does
    t_init = time.perf_counter() - t0
    cpus = int(ray.cluster_resources()["CPU"])

    setups = {
        "local, 1 process": lambda up: run_local(iter(paths), jobs=1),
        "local, 2 processes": lambda up: run_local(iter(paths), jobs=2),
        "Ray, 1 actor": lambda up: run_ray(iter(paths), jobs=1, log=up),
        "Ray, 2 actors": lambda up: run_ray(iter(paths), jobs=2, log=up),
    }
    res: dict[str, list[tuple[float, float, float]]] = {k: [] for k in setups}
    reference = None
    for r in range(args.rounds):
        for name, run in setups.items():
            whole, steady, first, recs = timed(run, args.n)
            if reference is None:
                reference = recs
            assert recs == reference, f"{name}: records differ from the local engine's"
            res[name].append((whole, steady, first))
            print(f"round {r + 1}: {name}: {whole:.2f} img/s whole, {steady:.2f} once up, first verdict "
                  f"{first:.2f} s", flush=True)
    ray.shutdown()

    med = {k: (median([x[0] for x in v]), median([x[1] for x in v]), median([x[2] for x in v]))
           for k, v in res.items()}
    l1, l2, r1, r2 = (med[k] for k in setups)
    load = os.getloadavg()
    lines = [
        "# Ray engine vs local engine",
        "",
        f"`python bench/ray_scan.py --n {args.n} --rounds {args.rounds}` on {machine()} — **2 cores** "
        f"(Ray sees {cpus} CPUs), one machine, one local Ray instance (`ray=={ray.__version__}`), "
        f"fakescope {fakescope.__version__}. {args.n} JPEGs of 1024×768 (q=90, crops of real photos), the "
        f"default detectors and provenance; the four set-ups alternate, {args.rounds} rounds; medians quoted. "
        f"Ray ships the files' bytes from the driver to the actors in chunks of {DEFAULT_CHUNK_SIZE} images. "
        f"Every run's records (minus `elapsed_ms`) were checked equal to the local engine's. "
        f"Other jobs shared the machine (load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end): "
        "absolute numbers are noisy, the set-ups within a round saw the same noise.",
        "",
        "| set-up | images/s, whole call (median) | images/s once the pool is up | s to the first verdict | "
        "all rounds (whole call) |",
        "|---|---|---|---|---|",
    ]
    for k, (w, s, f) in med.items():
        lines.append(f"| {k} | {w:.2f} | {s:.2f} | {f:.2f} | {', '.join(f'{x[0]:.2f}' for x in res[k])} |")
    lines += [
        "",
        "Ratios (whole call / once the pool is up):",
        "",
        f"- Ray, 1 actor / local, 1 process: **{r1[0] / l1[0]:.2f}** / {r1[1] / l1[1]:.2f}",
        f"- Ray, 2 actors / local, 2 processes: **{r2[0] / l2[0]:.2f}** / {r2[1] / l2[1]:.2f}",
        f"- Ray, 2 actors / Ray, 1 actor: **{r2[0] / r1[0]:.2f}** / {r2[1] / r1[1]:.2f}",
        f"- local, 2 processes / local, 1 process: **{l2[0] / l1[0]:.2f}** / {l2[1] / l1[1]:.2f}",
        "",
        "Overhead:",
        "",
        f"- starting a local Ray instance (`ray.init`, once per `fakescope scan --engine ray` without `--address`): "
        f"**{t_init:.1f} s**; joining a running cluster (`--address`) skips it but pays the connection (~1-2 s).",
        f"- starting the actor pool (each actor a new process importing fakescope and building its Scanner) and "
        f"scanning the first chunk: the time to the first verdict, {r1[2]:.1f} s (1 actor) and {r2[2]:.1f} s "
        f"(2 actors), against {l1[2]:.2f} s and {l2[2]:.2f} s for the local engine.",
        "- per image once running: the ratios of the second column; the driver reads each file and Ray copies its "
        "bytes to the actor, and the verdicts come back through Ray's object store.",
        "",
        "Reading the numbers: Ray does no more work per image than the local engine (the same Scanner in the same "
        "kind of single-threaded process) beyond the driver's read and one copy of the bytes; its cost is the fixed "
        "start-up above, paid once per scan, and what it buys is more machines (docs/scale.md). On a machine shared "
        "with other jobs, as this one was, a set-up with more processes (Ray's driver, actors and daemons) gets a "
        "larger share of the contended cores, so a Ray set-up can come out ahead of the local one, and the "
        f"2-worker set-ups did not get two free cores (local 2 / local 1 = {l2[0] / l1[0]:.2f}): trust the "
        "start-up overheads and the record equality, and rerun the throughput comparison on a quiet machine "
        "before drawing more from it.",
        "",
    ]
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "ray.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
