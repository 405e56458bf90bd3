"""fakescope: is this image AI-generated or manipulated, how sure are we, and why.

The public API is imported lazily (PEP 562), so ``import fakescope`` is cheap and the
command line starts fast; every name in ``__all__`` resolves on first use.

>>> import fakescope
>>> "scan" in fakescope.__all__
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS: dict[str, str] = {
    "scan": "pipeline",
    "scan_file": "pipeline",
    "Scanner": "pipeline",
    "load": "io.decode",
    "decode": "io.decode",
    "DecodeLimits": "io.decode",
    "create_detector": "detectors",
    "Attributor": "attribution",
    "Localizer": "localization",
    "localize": "localization",
    "list_detectors": "detectors",
    "Fuser": "fusion",
    "Sample": "types",
    "ImageMetadata": "types",
    "Evidence": "types",
    "Attribution": "types",
    "Verdict": "types",
    "ScanSummary": "types",
    "FakescopeError": "errors",
    "DecodeError": "errors",
    "UnsupportedFormatError": "errors",
    "ImageTooLargeError": "errors",
    "UnknownNameError": "errors",
    "UsageError": "errors",
    "WeightsError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fakescope' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .detectors import create_detector, list_detectors
    from .errors import (DecodeError, FakescopeError, ImageTooLargeError, UnknownNameError,
                         UnsupportedFormatError, UsageError, WeightsError)
    from .fusion import Fuser
    from .io.decode import DecodeLimits, decode, load
    from .pipeline import Scanner, scan, scan_file
    from .types import Attribution, Evidence, ImageMetadata, Sample, ScanSummary, Verdict
