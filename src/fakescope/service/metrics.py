"""Prometheus metrics in the text exposition format (0.0.4), written by hand: a few counters,
histograms and gauges, kept per server process."""

from __future__ import annotations

import os
import threading
import time
from typing import Callable

__all__ = ["Metrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _labels(d: dict[str, str]) -> str:
    if not d:
        return ""
    esc = lambda v: str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')  # noqa: E731
    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in sorted(d.items())) + "}"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self._counters: dict[str, dict[tuple, float]] = {}
        self._hists: dict[str, dict[tuple, list[float]]] = {}
        self._help: dict[str, tuple[str, str]] = {}
        self._gauges: dict[str, Callable[[], float]] = {}

    def counter(self, name: str, help: str) -> None:
        self._help[name] = ("counter", help)
        self._counters.setdefault(name, {})

    def histogram(self, name: str, help: str) -> None:
        self._help[name] = ("histogram", help)
        self._hists.setdefault(name, {})

    def gauge(self, name: str, help: str, fn: Callable[[], float]) -> None:
        self._help[name] = ("gauge", help)
        self._gauges[name] = fn

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            c = self._counters[name]
            c[key] = c.get(key, 0.0) + value

    def observe(self, name: str, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            h = self._hists[name].setdefault(key, [0.0] * (len(_BUCKETS) + 2))
            for i, b in enumerate(_BUCKETS):
                if value <= b:
                    h[i] += 1
            h[-2] += 1  # count
            h[-1] += value  # sum

    def render(self) -> str:
        out: list[str] = []
        with self._lock:
            for name, (kind, help) in self._help.items():
                out.append(f"# HELP {name} {help}")
                out.append(f"# TYPE {name} {kind}")
                if kind == "counter":
                    for key, v in self._counters[name].items():
                        out.append(f"{name}{_labels(dict(key))} {v:g}")
                elif kind == "histogram":
                    for key, h in self._hists[name].items():
                        d = dict(key)
                        for i, b in enumerate(_BUCKETS):
                            out.append(f"{name}_bucket{_labels({**d, 'le': f'{b:g}'})} {h[i]:g}")
                        out.append(f"{name}_bucket{_labels({**d, 'le': '+Inf'})} {h[-2]:g}")
                        out.append(f"{name}_count{_labels(d)} {h[-2]:g}")
                        out.append(f"{name}_sum{_labels(d)} {h[-1]:.6f}")
                else:
                    try:
                        out.append(f"{name} {float(self._gauges[name]()):g}")
                    except Exception:  # a gauge that cannot be read now is left out, not an error
                        out.pop(), out.pop()
        return "\n".join(out) + "\n"


def rss_bytes() -> float:
    """This process's resident memory (Linux /proc; else the peak from getrusage)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return float(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        import resource

        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
