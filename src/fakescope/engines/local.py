"""Local engine: the scan in this process, or one single-threaded process per core.

One single-threaded worker per core was measured faster than one multi-threaded process
on this class of machine, so each worker runs ONNX Runtime with one intra-op thread.  The
engine raises the C allocator's thresholds in its process and workers first
(:func:`fakescope.engines.runtime.tune_allocator`: per-image buffers are reused instead of
being faulted in afresh).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from typing import Any, Iterable, Iterator

from ..types import Verdict
from .runtime import tune_allocator

__all__ = ["run_local", "resolve_jobs"]

_worker_scanner = None


def resolve_jobs(jobs: int) -> int:
    """Worker count for ``--jobs``: 0 means one per usable CPU core."""
    if jobs < 0:
        from ..errors import UsageError

        raise UsageError(f"--jobs must be >= 0, got {jobs}")
    if jobs == 0:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return jobs


def _init_worker(options: dict[str, Any]) -> None:
    global _worker_scanner
    tune_allocator()  # inherited when forked; spawned workers set it themselves
    if _worker_scanner is not None:  # forked: the parent's scanner came along (no ONNX session opened yet)
        return
    from ..pipeline import Scanner

    _worker_scanner = Scanner(**options)


def _work(item: Any) -> Verdict:
    assert _worker_scanner is not None
    return _worker_scanner.scan_input(item)


def run_local(inputs: Iterable[Any], *, jobs: int = 1, **scanner_options: Any) -> Iterator[Verdict]:
    """Scan ``inputs`` (paths, or :class:`~fakescope.io.sources.InputProblem` rows) with ``jobs``
    processes, yielding verdicts in input order.

    ``scanner_options`` are :class:`~fakescope.pipeline.Scanner` keyword arguments. Forked workers
    start from this process's scanner, spawned ones build their own; each opens its own ONNX
    sessions (they cannot cross processes).
    """
    from ..pipeline import Scanner

    n = resolve_jobs(jobs)
    tune_allocator()
    scanner = Scanner(**scanner_options)  # bad options fail here, once, as usage errors
    if n == 1:
        for p in inputs:
            yield scanner.scan_input(p)
        return
    global _worker_scanner
    fork = "fork" in mp.get_all_start_methods()
    ctx = mp.get_context("fork" if fork else "spawn")
    # forked workers inherit the scanner built above (cards read, weights verified, modules imported);
    # its ONNX sessions open lazily, so each worker opens its own
    _worker_scanner = scanner if fork else None
    if fork:
        scanner.preload()
    try:
        with ctx.Pool(n, initializer=_init_worker, initargs=(scanner_options,)) as pool:
            yield from pool.imap(_work, inputs, chunksize=4)
    finally:
        _worker_scanner = None
