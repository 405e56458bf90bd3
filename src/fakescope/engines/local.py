"""Local engine: the scan in this process, or one single-threaded process per core.

One single-threaded worker per core was measured faster than one multi-threaded process
on this class of machine, so each worker runs ONNX Runtime with one intra-op thread.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from typing import Iterable, Iterator, Sequence

from ..types import Verdict

__all__ = ["run_local", "resolve_jobs"]

_worker_scanner = None


def resolve_jobs(jobs: int) -> int:
    if jobs < 0:
        from ..errors import UsageError

        raise UsageError(f"--jobs must be >= 0, got {jobs}")
    if jobs == 0:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return jobs


def _init_worker(detectors: Sequence[str] | None, fpr: float) -> None:
    global _worker_scanner
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from ..scan import Scanner

    _worker_scanner = Scanner(detectors, fpr=fpr)


def _work(path: str) -> Verdict:
    assert _worker_scanner is not None
    return _worker_scanner.scan_path(path)


def run_local(inputs: Iterable[str], *, detectors: Sequence[str] | None = None, fpr: float = 0.01,
              jobs: int = 1) -> Iterator[Verdict]:
    """Scan ``inputs`` with ``jobs`` processes, yielding verdicts in input order."""
    from ..scan import Scanner

    n = resolve_jobs(jobs)
    if n == 1:
        scanner = Scanner(detectors, fpr=fpr)  # fail fast on bad options, in this process
        for p in inputs:
            yield scanner.scan_path(p)
        return
    # validate options once here so a bad detector name is a usage error, not n worker crashes
    Scanner(detectors, fpr=fpr)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(n, initializer=_init_worker, initargs=(tuple(detectors) if detectors else None, fpr)) as pool:
        yield from pool.imap(_work, inputs, chunksize=4)

