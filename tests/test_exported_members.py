"""The public API is exactly ``__all__`` (after httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import subprocess
import sys

import fakescope


def test_all_names_resolve():
    for name in fakescope.__all__:
        assert getattr(fakescope, name) is not None, name


def test_exported_members_are_documented_objects():
    for name in fakescope.__all__:
        if name == "__version__":
            continue
        obj = getattr(fakescope, name)
        assert getattr(obj, "__doc__", None), f"{name} has no docstring"


def test_unknown_attribute_raises():
    try:
        fakescope.does_not_exist  # noqa: B018
    except AttributeError as e:
        assert "does_not_exist" in str(e)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_import_is_light():
    """``import fakescope`` must not pull in onnxruntime, torch or the detectors (fast CLI start)."""
    code = "import sys, fakescope; print(sorted(m for m in ('onnxruntime','torch','PIL','fakescope.pipeline') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_scan_stays_the_function_after_the_pipeline_is_imported():
    """Importing the pipeline module must not shadow the public ``fakescope.scan`` function."""
    code = ("import fakescope; fakescope.Scanner; import fakescope.pipeline; "
            "print(callable(fakescope.scan) and fakescope.scan.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "fakescope.pipeline"
