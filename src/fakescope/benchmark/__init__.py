"""Benchmarks: does detection still work after platforms compress the images, on generators never seen?

* :mod:`.metrics` — AUC, AP, EER, TPR at a fixed FPR, accuracies, ECE, Brier, reliability,
  bootstrap intervals, and the accumulating :class:`~.metrics.MetricCollection`;
* :mod:`.protocols` — robustness, cross-generator, chronological, preprocessing, format-bias
  and calibration protocols;
* :mod:`.runner` — config → dataset → scores (cached, resumable) → protocol → report;
* :mod:`.report` — ``report.json``, ``report.md`` and a self-contained ``report.html``.

The entry point is :func:`run_config`::

    fakescope.benchmark.run_config("configs/bench/robustness.yaml", out_dir="reports/robustness")

Names are imported lazily, so ``import fakescope.benchmark`` stays cheap.

>>> import fakescope.benchmark as fb
>>> "run_config" in fb.__all__
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "run_config": "runner",
    "run_protocol": "runner",
    "build_context": "runner",
    "load_config": "runner",
    "select_items": "runner",
    "Condition": "runner",
    "Engine": "runner",
    "ResultCache": "runner",
    "ScoreSet": "runner",
    "Table": "runner",
    "ProtocolResult": "runner",
    "PROTOCOLS": "runner",
    "list_protocols": "runner",
    "MetricCollection": "metrics",
    "summarize": "metrics",
    "bootstrap_ci": "metrics",
    "roc_auc": "metrics",
    "average_precision": "metrics",
    "write_json": "report",
    "write_markdown": "report",
    "write_html": "report",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fakescope.benchmark' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover
    from .metrics import MetricCollection, average_precision, bootstrap_ci, roc_auc, summarize
    from .report import write_html, write_json, write_markdown
    from .runner import (PROTOCOLS, Condition, Engine, ProtocolResult, ResultCache, ScoreSet, Table,
                         build_context, list_protocols, load_config, run_config, run_protocol, select_items)
