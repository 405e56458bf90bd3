"""The scan engine's process settings: the allocator tuning and the warm-up before forking.

Both are checked by their effect in a fresh interpreter (a subprocess), not by reading flags:
page faults for the allocator, imported modules for the warm-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_FAULTS = r"""
import json, resource, numpy as np
from fakescope.engines.runtime import tune_allocator
ok = tune_allocator()
def churn():
    # like one image after another: several MB-sized buffers alive at once, then all freed
    for _ in range(20):
        bufs = [np.ones((512, 1024), np.float32) for _ in range(6)]  # 6 x 2 MB
        del bufs
churn()  # first round: the heap grows once
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(json.dumps({"tuned": ok, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0}))
"""


def _run(code: str, **env: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc allocator settings")
def test_tuned_allocator_reuses_big_buffers_instead_of_faulting_them_in():
    tuned = _run(_FAULTS)
    plain = _run(_FAULTS, FAKESCOPE_TUNE_MALLOC="0")
    assert tuned["tuned"] is True and plain["tuned"] is False
    # untuned: glibc hands the freed 12 MB back to the OS (mmap'd blocks or a trimmed heap top) and
    # faults it in again every round (~3,000 pages); tuned: the heap keeps it
    assert plain["faults"] > 20_000
    assert tuned["faults"] < plain["faults"] / 20


def test_tune_allocator_is_idempotent():
    from fakescope.engines.runtime import tune_allocator

    first = tune_allocator()
    assert tune_allocator() is first


def test_preload_imports_what_the_first_image_needs(cifake_val):
    code = f"""
import json, sys
from fakescope.pipeline import Scanner
s = Scanner()
s.preload()
before = set(sys.modules)
v = s.scan_path({str(cifake_val['real'][0])!r})
new = sorted(set(sys.modules) - before)
print(json.dumps({{"status": v.status, "new": new,
                   "ort": "onnxruntime" in before, "prov": "fakescope.provenance.camera" in before}}))
"""
    got = _run(code)
    assert got["status"] == "ok" and got["ort"] and got["prov"]
    assert not [m for m in got["new"] if m.startswith(("onnxruntime", "fakescope", "c2pa"))], got["new"]
