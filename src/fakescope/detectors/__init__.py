"""Detector registry and factory (``create_detector("npr")``)."""

from __future__ import annotations

from .._registry import Registry
from .base import Detector, DetectorCard, OnnxModel, WEIGHTS_DIR, grid_tiles

__all__ = ["DETECTORS", "create_detector", "list_detectors", "Detector", "DetectorCard", "OnnxModel",
           "grid_tiles", "WEIGHTS_DIR"]

DETECTORS: Registry[Detector] = Registry("detector")


def create_detector(name: str, **kwargs) -> Detector:
    """Build a registered detector with its shipped weights (verified against its card's sha256)."""
    _load_builtin()
    return DETECTORS.get(name)(**kwargs)


def list_detectors(pattern: str = "*") -> list[str]:
    """Names of the registered detectors matching a glob ``pattern``, sorted."""
    _load_builtin()
    return DETECTORS.names(pattern)


_loaded = False


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    # registration is each module's side effect; a family whose optional dependency is missing
    # still registers (its factory raises MissingDependencyError with the install hint)
    for mod in BUILTIN_MODULES:
        importlib.import_module(f"{__name__}.{mod}")


BUILTIN_MODULES: tuple[str, ...] = ("npr", "spectral", "zoo", "probe", "rine", "zed", "rigid", "ensemble")
