"""Process settings for long scans: keep the C allocator from returning memory to the OS per image.

Scanning one 1024×768 image allocates and frees a few buffers of 0.1-3 MB (the decoded
image, tile stacks, spectra, network activations).  glibc's ``malloc`` serves blocks
above its mmap threshold (128 KiB at start, raised dynamically) with fresh ``mmap`` calls
and trims the heap top when more than 128 KiB is free, so every image pays for new,
zero-filled pages: measured here, a fifth of the workers' CPU time went to the kernel
(page faults), and the scan ran 20-25% slower than with the thresholds below
(docs/benchmarks/scan_throughput.md).

:func:`tune_allocator` raises both thresholds, so such buffers are reused from the heap:
a scan process keeps its peak working set (tens of MB) instead of handing it back and
faulting it in again.  It is applied by the scan engine (:func:`fakescope.engines.local.run_local`,
hence ``fakescope scan`` and :func:`fakescope.scan`) in its own process and its workers;
set ``FAKESCOPE_TUNE_MALLOC=0`` to leave the allocator alone.  On C libraries other than
glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["tune_allocator", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

_M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's ceiling on 64-bit: blocks above it still get their own mmap
TRIM_THRESHOLD = 256 * 1024 * 1024  # free heap top kept before it is returned to the OS

_state: dict[str, bool] = {}


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (idempotent).

    Returns
    -------
    bool
        True when the thresholds are set (now or earlier); False when disabled by
        ``FAKESCOPE_TUNE_MALLOC=0``, or the C library is not glibc.
    """
    if "done" in _state:
        return _state["done"]
    ok = False
    if os.environ.get("FAKESCOPE_TUNE_MALLOC", "1").strip().lower() not in ("0", "false", "no", "off") \
            and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt  # glibc only (musl has no mallopt)
        except (OSError, AttributeError):
            mallopt = None
        if mallopt is not None:
            mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            mallopt.restype = ctypes.c_int
            ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _state["done"] = ok
    return ok
