"""The benchmark runner: config → dataset → conditions → detector scores (cached) → protocol → reports.

The scoring loop goes image by image: each file is read and hashed once, decoded once
(only when some of its results are missing from the cache), every perturbation chain of
every condition is applied once to that decoded image, and each perturbed image is scored
by every detector.  Perturbation parameters are drawn per image from a generator seeded
by ``(seed, image sha256, condition id)``, so they do not depend on the order of the
images or on which results came from the cache, and a resumed run is the same run.

Results are appended to ``out_dir/cache.jsonl`` (one line per image × chain × detector,
keyed by the image's sha256, the chain's canonical JSON and the detector's name and weights
hash), flushed after every image: a killed run resumes where it stopped, and a detector
retrained in between is scored again rather than read from stale lines.

The detectors run exactly as in a scan (``Detector.raw_scores``), their own probability
is the card's Platt calibration, and ``fused`` is :meth:`fakescope.fusion.Fuser.pixel_probability`,
the probability ``fakescope scan`` reports from pixels alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .._registry import Registry
from ..errors import FakescopeError, MissingDependencyError, UsageError, WeightsError
from ..io.datasets import DatasetItem, ShippedDataset, manifest_hash, open_dataset
from ..perturbations import Chain, Perturbation, get_perturbation, preset, sample_chain

__all__ = [
    "Condition",
    "ResultCache",
    "ScoreSet",
    "Engine",
    "Context",
    "Table",
    "ProtocolResult",
    "PROTOCOLS",
    "list_protocols",
    "load_config",
    "select_items",
    "build_context",
    "run_protocol",
    "run_config",
    "CONFIG_KEYS",
]

#: Keys every config may have (protocols add their own, listed in their docstrings).
CONFIG_KEYS = ("protocol", "title", "description", "seed", "data", "detectors", "metrics")

FUSED = "fused"


# --------------------------------------------------------------------------------------
# conditions


@dataclass(frozen=True)
class Condition:
    """One way of presenting every image: a chain template sampled per image, or a fixed chain.

    Attributes
    ----------
    id : unique within a run (``"clean"``, ``"jpeg@3"``, ...); also seeds the per-image draws.
    label : what tables call it (``"jpeg"``); ``severity`` the level (None for fixed chains).
    steps : a template for :func:`fakescope.perturbations.sample_chain` (``name``, ``severity``,
        ``params`` overrides), drawn per image; ignored when ``fixed`` is set.
    fixed : a chain applied as it is to every image.
    """

    id: str
    label: str
    severity: int | None = None
    steps: tuple[Mapping[str, Any], ...] = ()
    fixed: Chain | None = None

    def chain_for(self, sha256: str, seed: int) -> Chain:
        """The concrete chain for one image (deterministic given the image hash and the seed)."""
        if self.fixed is not None or not self.steps:
            return self.fixed if self.fixed is not None else Chain()
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(sha256[:15], 16),
                                     zlib.crc32(self.id.encode("utf-8"))])
        return sample_chain([dict(s) for s in self.steps], rng)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "label": self.label, "severity": self.severity}
        if self.fixed is not None:
            d["chain"] = self.fixed.to_dict()
            d["chain_text"] = str(self.fixed)
        else:
            d["template"] = [dict(s) for s in self.steps]
        return d


def clean_condition() -> Condition:
    return Condition("clean", "clean", None, (), Chain())


def parse_condition_spec(entry: Any, severities: Sequence[int]) -> list[Condition]:
    """Conditions from one config entry.

    Accepted forms: ``"jpeg"`` (the default severities); ``{name, severities, params, label}``;
    ``{preset: instagram, label}``; ``{chain: [{name, params}, ...], label}`` (fixed);
    ``{steps: [{name, severity, params}, ...], severities, label}`` (a sampled multi-step chain
    whose every step takes the condition's severity unless it names its own).
    """
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, Mapping):
        raise UsageError(f"a perturbation entry must be a name or a mapping, got {entry!r}")
    if "preset" in entry:
        name = str(entry["preset"])
        chain = preset(name)
        label = str(entry.get("label", name))
        return [Condition(f"preset:{label}", label, None, (), chain)]
    if "chain" in entry:
        chain = Chain.from_dict({"steps": entry["chain"]})
        label = str(entry.get("label", str(chain)))
        return [Condition(f"chain:{label}", label, None, (), chain)]
    sevs = [int(s) for s in entry.get("severities", severities)]
    for s in sevs:
        if s not in (1, 2, 3, 4, 5):
            raise UsageError(f"severities must be in 1..5, got {s!r} in {entry!r}")
    if "steps" in entry:
        template = []
        for st in entry["steps"]:
            st = {"name": st} if isinstance(st, str) else dict(st)
            get_perturbation(str(st["name"]))
            template.append(st)
        label = str(entry.get("label", "+".join(str(t["name"]) for t in template)))
        return [Condition(f"{label}@{s}", label, s, tuple({**t, "severity": t.get("severity", s)} for t in template))
                for s in sevs]
    if "name" not in entry:
        raise UsageError(f"a perturbation entry needs 'name', 'preset', 'chain' or 'steps': {entry!r}")
    name = str(entry["name"])
    spec = get_perturbation(name)
    params = dict(entry.get("params") or {})
    spec.check_params(params)
    label = str(entry.get("label", name))
    return [Condition(f"{label}@{s}", label, s, ({"name": name, "severity": s, "params": params},)) for s in sevs]


# --------------------------------------------------------------------------------------
# cache


class ResultCache:
    """Detector results on disk (JSON lines) and in memory, keyed by image, chain and detector.

    A line that cannot be parsed (a run killed mid-write) is ignored.

    Examples
    --------
    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "cache.jsonl")
    >>> c = ResultCache(p); c.put("ab", "{}", "npr@1", 0.5, (8, 8)); c.flush(); c.close()
    >>> ResultCache(p).get("ab", "{}", "npr@1")
    0.5
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = os.fspath(path) if path is not None else None
        self._mem: dict[tuple[str, str, str], tuple[float, int | None]] = {}
        self._pending: list[str] = []
        self._fh = None
        self.loaded = 0
        if self.path and os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        d = json.loads(line)
                        raw = d["raw"]
                        side = min(d["shape"]) if d.get("shape") else None
                        self._mem[(d["image"], d["chain"], d["detector"])] = (
                            math.nan if raw is None else float(raw), None if side is None else int(side))
                        self.loaded += 1
                    except (ValueError, KeyError, TypeError):
                        continue

    def get(self, image: str, chain: str, detector: str) -> float | None:
        """The raw score (``nan``: could not be scored), or None when not cached."""
        hit = self._mem.get((image, chain, detector))
        return None if hit is None else hit[0]

    def side(self, image: str, chain: str, detector: str) -> int | None:
        """The smaller side of the perturbed image that was scored (None when unknown)."""
        hit = self._mem.get((image, chain, detector))
        return None if hit is None else hit[1]

    def __contains__(self, key: tuple[str, str, str]) -> bool:
        return key in self._mem

    def put(self, image: str, chain: str, detector: str, raw: float, shape: tuple[int, int] | None = None) -> None:
        self._mem[(image, chain, detector)] = (float(raw), None if shape is None else int(min(shape[:2])))
        if self.path:
            rec = {"image": image, "chain": chain, "detector": detector,
                   "raw": None if not math.isfinite(raw) else float(raw)}
            if shape is not None:
                rec["shape"] = [int(shape[0]), int(shape[1])]
            self._pending.append(json.dumps(rec, separators=(",", ":")))

    def flush(self) -> None:
        if not self.path or not self._pending:
            return
        if self._fh is None:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")
        self._fh.write("\n".join(self._pending) + "\n")
        self._fh.flush()
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __len__(self) -> int:
        return len(self._mem)


# --------------------------------------------------------------------------------------
# scores


@dataclass
class ScoreSet:
    """Raw detector scores of every (image, condition) and the probabilities derived from them."""

    items: list[DatasetItem]
    sha256: list[str]
    y: np.ndarray
    conditions: list[Condition]
    raw: dict[str, dict[str, np.ndarray]]  # condition id → detector → raw logits (nan: not scorable)
    detectors: tuple[str, ...]
    prob_fns: dict[str, Callable[[np.ndarray], np.ndarray]]
    errors: list[dict[str, Any]] = field(default_factory=list)
    chains: dict[str, list[str]] = field(default_factory=dict)  # condition id → chain JSON per image
    fused_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    sides: dict[str, np.ndarray] = field(default_factory=dict)  # condition id → smaller side scored (nan: unknown)

    @property
    def models(self) -> tuple[str, ...]:
        """Detector names, plus ``"fused"`` when the fusion is available."""
        return self.detectors + ((FUSED,) if self.fused_fn is not None else ())

    def raw_matrix(self, cond: str) -> np.ndarray:
        """``(n_images, n_detectors)`` raw logits of one condition."""
        return np.stack([self.raw[cond][d] for d in self.detectors], axis=1)

    def prob(self, cond: str, model: str) -> np.ndarray:
        """Probabilities of one condition for a detector (its own Platt calibration) or ``"fused"``.

        Images a detector could not score (too small) get 0.5: "says nothing either way".
        """
        if model == FUSED:
            if self.fused_fn is None:
                raise UsageError("no fused probability: the fusion is not available for these detectors")
            x = self.raw_matrix(cond)
            ok = np.isfinite(x).all(axis=1)
            out = np.full(x.shape[0], 0.5)
            if ok.any():
                out[ok] = self.fused_fn(x[ok], self.side_of(cond)[ok])
            return out
        r = self.raw[cond][model]
        out = np.full(r.shape, 0.5)
        ok = np.isfinite(r)
        out[ok] = self.prob_fns[model](r[ok])
        return out

    def side_of(self, cond: str) -> np.ndarray:
        """The smaller side of each image as scored under ``cond`` (after the chain; nan when unknown).

        The shipped fusion calibrates thumbnails (≤ 64 px) and full-resolution images separately,
        so the fused probability and its thresholds depend on it."""
        v = self.sides.get(cond)
        return v if v is not None else np.full(self.y.size, np.nan)

    def unscored(self, cond: str, model: str) -> int:
        if model == FUSED:
            return int((~np.isfinite(self.raw_matrix(cond)).all(axis=1)).sum())
        return int((~np.isfinite(self.raw[cond][model])).sum())

    def subset(self, mask: np.ndarray) -> "ScoreSet":
        """The same scores restricted to the images where ``mask`` is True."""
        idx = np.nonzero(mask)[0]
        return ScoreSet(items=[self.items[i] for i in idx], sha256=[self.sha256[i] for i in idx], y=self.y[idx],
                        conditions=self.conditions,
                        raw={c: {d: v[idx] for d, v in dv.items()} for c, dv in self.raw.items()},
                        detectors=self.detectors, prob_fns=self.prob_fns, errors=self.errors,
                        chains={c: [v[i] for i in idx] for c, v in self.chains.items()}, fused_fn=self.fused_fn,
                        sides={c: v[idx] for c, v in self.sides.items()})


def _platt(a: float, b: float) -> Callable[[np.ndarray], np.ndarray]:
    def f(r: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(a * np.asarray(r, np.float64) + b, -60.0, 60.0)))
    return f


class Engine:
    """Scores images under conditions with a fixed set of detectors, reusing every result it can.

    Parameters
    ----------
    detectors : detector objects (``fakescope.create_detector``).
    fuser : a :class:`fakescope.fusion.Fuser` over the same detectors, or None.
    cache : a :class:`ResultCache` (None: in memory only).
    seed : seeds the per-image parameter draws.
    progress : show a rich progress bar on stderr.
    min_side : images whose shorter side (as decoded) is below this are skipped (0: none).
    """

    def __init__(self, detectors: Sequence[Any], *, fuser: Any = None, cache: ResultCache | None = None,
                 seed: int = 0, progress: bool = False, min_side: int = 0) -> None:
        from ..io.decode import DecodeLimits

        self.detectors = list(detectors)
        self.fuser = fuser
        self.cache = cache if cache is not None else ResultCache(None)
        self.seed = int(seed)
        self.progress = progress
        self.min_side = int(min_side)
        self.limits = DecodeLimits(keep_bytes=False)
        self.keys = {d.name: f"{d.name}@{d.card.scoring_key()}" for d in self.detectors}
        self.stats = {"images": 0, "decoded": 0, "cache_hits": 0, "computed": 0, "perturbed": 0,
                      "skipped_small": 0, "errors": 0, "decode_s": 0.0, "perturb_s": 0.0, "detect_s": 0.0}

    def _fused_fn(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
        if self.fuser is None:
            return None
        return fused_probability_fn(self.fuser)

    def score(self, items: Sequence[DatasetItem], conditions: Sequence[Condition], *,
              description: str = "scoring") -> ScoreSet:
        """Score every item under every condition (see the module docstring for the order of work)."""
        from ..io.decode import decode

        names = tuple(d.name for d in self.detectors)
        cond_ids = [c.id for c in conditions]
        if len(set(cond_ids)) != len(cond_ids):
            raise UsageError(f"condition ids must be unique, got {cond_ids}")
        kept: list[DatasetItem] = []
        shas: list[str] = []
        raws: dict[str, dict[str, list[float]]] = {c: {d: [] for d in names} for c in cond_ids}
        chains: dict[str, list[str]] = {c: [] for c in cond_ids}
        sides: dict[str, list[float]] = {c: [] for c in cond_ids}
        errors: list[dict[str, Any]] = []
        bar = _progress(self.progress)
        task = bar.add_task(description, total=len(items)) if bar else None
        try:
            for item in items:
                self.stats["images"] += 1
                try:
                    with open(item.path, "rb") as f:
                        data = f.read(self.limits.max_bytes + 1)
                except OSError as e:
                    errors.append({"path": item.path, "stage": "read", "error": f"{type(e).__name__}: {e}"})
                    self.stats["errors"] += 1
                    if bar:
                        bar.advance(task)
                    continue
                sha = hashlib.sha256(data).hexdigest()
                if self.min_side and _header_min_side(data) < self.min_side:
                    self.stats["skipped_small"] += 1
                    if bar:
                        bar.advance(task)
                    continue
                plan = []  # (condition id, chain json, chain, missing detectors)
                for c in conditions:
                    chain = c.chain_for(sha, self.seed)
                    cj = chain.to_json()
                    missing = [d for d in self.detectors if self.cache.get(sha, cj, self.keys[d.name]) is None]
                    plan.append((c.id, cj, chain, missing))
                image = None
                if any(m for *_, m in plan):
                    t0 = time.perf_counter()
                    try:
                        image = decode(data, path=item.path, limits=self.limits).image
                    except FakescopeError as e:
                        errors.append({"path": item.path, "stage": "decode", "error": str(e)})
                        self.stats["errors"] += 1
                        if bar:
                            bar.advance(task)
                        continue
                    finally:
                        self.stats["decode_s"] += time.perf_counter() - t0
                    self.stats["decoded"] += 1
                perturbed: dict[str, np.ndarray | None] = {}
                for cid, cj, chain, missing in plan:
                    self.stats["cache_hits"] += len(self.detectors) - len(missing)
                    if missing:
                        if cj not in perturbed:
                            t0 = time.perf_counter()
                            try:
                                perturbed[cj] = chain.apply(image)
                                self.stats["perturbed"] += 1
                            except FakescopeError as e:
                                perturbed[cj] = None
                                errors.append({"path": item.path, "stage": "perturb", "condition": cid,
                                               "chain": str(chain), "error": str(e)})
                            self.stats["perturb_s"] += time.perf_counter() - t0
                        img = perturbed[cj]
                        for d in missing:
                            raw = math.nan
                            if img is not None and min(img.shape[:2]) >= d.min_side:
                                t0 = time.perf_counter()
                                try:
                                    raw = float(d.raw_scores([img])[0])
                                except FakescopeError as e:
                                    errors.append({"path": item.path, "stage": "detect", "detector": d.name,
                                                   "condition": cid, "error": str(e)})
                                self.stats["detect_s"] += time.perf_counter() - t0
                            self.stats["computed"] += 1
                            self.cache.put(sha, cj, self.keys[d.name], raw,
                                           None if img is None else img.shape[:2])
                    for d in self.detectors:
                        raws[cid][d.name].append(self.cache.get(sha, cj, self.keys[d.name]))  # type: ignore[arg-type]
                    chains[cid].append(cj)
                    sd = self.cache.side(sha, cj, self.keys[self.detectors[0].name]) if self.detectors else None
                    sides[cid].append(math.nan if sd is None else float(sd))
                self.cache.flush()
                kept.append(item)
                shas.append(sha)
                if bar:
                    bar.advance(task)
        finally:
            if bar:
                bar.stop()
            self.cache.flush()
        prob_fns = {d.name: _platt(float(d.card.calibration.get("a", 1.0)), float(d.card.calibration.get("b", 0.0)))
                    for d in self.detectors}
        raw_arrays = {c: {d: np.asarray(v, np.float64) for d, v in dv.items()} for c, dv in raws.items()}
        return ScoreSet(items=kept, sha256=shas, y=np.asarray([it.label for it in kept], np.int64),
                        conditions=list(conditions), raw=raw_arrays, detectors=names, prob_fns=prob_fns,
                        errors=errors, chains=chains, fused_fn=self._fused_fn(),
                        sides={c: np.asarray(v, np.float64) for c, v in sides.items()})


def fused_probability_fn(fuser: Any) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``f(raw_rows, min_sides) -> p``: the fuser's pixel probability for each row, in its size regime."""
    def f(x: np.ndarray, sides: np.ndarray) -> np.ndarray:
        return np.array([fuser.pixel_probability(dict(zip(fuser.detectors, row)),
                                                 min_side=int(sd) if math.isfinite(sd) else None)
                         for row, sd in zip(x, sides)])
    return f


def op_thresholds(fuser: Any, sides: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image: the fuser's AI threshold and real threshold for the image's size regime."""
    t_fake = np.empty(sides.size)
    t_real = np.empty(sides.size)
    for i, sd in enumerate(sides):
        op = fuser.operating_point_for(int(sd) if math.isfinite(sd) else None)
        t_fake[i], t_real[i] = op.threshold, op.real_threshold
    return t_fake, t_real


def _header_min_side(data: bytes) -> int:
    """The shorter side from the image header (no pixels decoded).

    An unreadable header gives ``sys.maxsize``: the file is not skipped here, and decoding
    reports what is wrong with it."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return int(min(im.size))
    except (OSError, UnidentifiedImageError, ValueError):
        return sys.maxsize


class _LineProgress:
    """Progress for a log, not a terminal: one line on stderr every ``every`` seconds (and at the end)."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.tasks: dict[int, list] = {}

    def add_task(self, description: str, total: int) -> int:
        k = len(self.tasks)
        self.tasks[k] = [description, total, 0, time.perf_counter(), time.perf_counter()]
        return k

    def advance(self, task: int) -> None:
        t = self.tasks[task]
        t[2] += 1
        now = time.perf_counter()
        if now - t[4] >= self.every or t[2] == t[1]:
            t[4] = now
            rate = t[2] / max(now - t[3], 1e-9)
            print(f"fakescope bench: {t[0]} {t[2]}/{t[1]} images ({rate:.1f}/s)", file=sys.stderr, flush=True)

    def stop(self) -> None:
        pass


def _progress(enabled: "bool | str"):
    """A rich bar (True), a line every few seconds ("lines", for logs), or nothing (False)."""
    if enabled == "lines":
        return _LineProgress()
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=False)
    bar.start()
    return bar


# --------------------------------------------------------------------------------------
# results


@dataclass
class Table:
    """A result table: a title, column names, rows of cells (numbers, strings or None)."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "columns": self.columns, "rows": self.rows, "note": self.note}


@dataclass
class ProtocolResult:
    """What a protocol returns: machine results, tables, figure specifications and notes."""

    results: dict[str, Any]
    tables: list[Table]
    figures: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


#: protocol name → ``fn(ctx) -> ProtocolResult``.
PROTOCOLS: Registry[ProtocolResult] = Registry("protocol")


@dataclass
class Context:
    """Everything a protocol needs: its config, the items, the scoring engine and the metric options."""

    config: dict[str, Any]
    items: list[DatasetItem]
    engine: Engine
    detectors: tuple[str, ...]
    fuser: Any
    seed: int
    threshold: float = 0.5
    fpr_targets: tuple[float, ...] = (0.01, 0.05)
    bins: int = 15
    bootstrap: int = 1000
    conditions: list[Condition] = field(default_factory=list)
    scores: ScoreSet | None = None

    def score(self, conditions: Sequence[Condition], *, description: str = "scoring") -> ScoreSet:
        self.conditions = list(conditions)
        self.scores = self.engine.score(self.items, conditions, description=description)
        return self.scores

    def rng(self, *keys: str) -> np.random.Generator:
        """A generator derived from the run's seed and ``keys`` (independent streams per use)."""
        return np.random.default_rng([self.seed & 0xFFFFFFFF] + [zlib.crc32(k.encode("utf-8")) for k in keys])


# --------------------------------------------------------------------------------------
# config


def load_config(config: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """Read a benchmark config (YAML or JSON file, or a mapping) and check its common keys.

    Raises
    ------
    MissingDependencyError
        A YAML file and PyYAML is not installed (``pip install 'fakescope[bench]'``).
    UsageError
        Unknown protocol, bad types.
    """
    if isinstance(config, Mapping):
        cfg = dict(config)
        base = os.getcwd()
    else:
        path = os.fspath(config)
        if not os.path.isfile(path):
            raise UsageError(f"benchmark config not found: {path}")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if path.lower().endswith(".json"):
            try:
                cfg = json.loads(text)
            except json.JSONDecodeError as e:
                raise UsageError(f"{path}: not valid JSON: {e}") from None
        else:
            try:
                import yaml
            except ImportError as e:
                raise MissingDependencyError("pyyaml", "bench", "reading YAML benchmark configs") from e
            try:
                cfg = yaml.safe_load(text)
            except yaml.YAMLError as e:
                raise UsageError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(cfg, dict):
            raise UsageError(f"{path}: a benchmark config must be a mapping at the top level")
        cfg.setdefault("_path", os.path.abspath(path))
        base = os.path.dirname(os.path.abspath(path))
    cfg.setdefault("_base", base)
    if "protocol" not in cfg:
        raise UsageError("a benchmark config needs 'protocol' (one of: " + ", ".join(_protocol_names()) + ")")
    _protocol_names()
    cfg["protocol"] = str(cfg["protocol"]).replace("_", "-")
    if cfg["protocol"] not in PROTOCOLS:
        raise UsageError(f"unknown protocol {cfg['protocol']!r}; valid: {', '.join(_protocol_names())}")
    seed = cfg.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"seed must be an integer, got {seed!r}")
    dets = cfg.get("detectors")
    if dets is not None and (not isinstance(dets, list) or not all(isinstance(d, str) for d in dets)):
        raise UsageError(f"detectors must be a list of names, got {dets!r}")
    if not isinstance(cfg.get("metrics", {}), Mapping):
        raise UsageError("metrics must be a mapping")
    return cfg


def list_protocols() -> list[str]:
    """Names of the registered protocols.

    >>> "robustness" in list_protocols()
    True
    """
    return _protocol_names()


def _protocol_names() -> list[str]:
    from . import protocols  # noqa: F401  (registers the built-in protocols)
    from .video import _register

    _register()  # the video protocol (its clips are built and scanned with PyAV, imported when it runs)

    return PROTOCOLS.names()


def _hash_rank(text: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode("utf-8")).hexdigest()


def select_items(items: Iterable[DatasetItem], *, splits: Sequence[str] | None = None,
                 sources: Sequence[str] | None = None, max_per_class: Mapping[str, int] | int | None = None,
                 seed: int = 0) -> list[DatasetItem]:
    """Filter by split and source, then keep at most ``max_per_class[source]`` images per (source, label).

    Items whose ``split`` is None are kept by any split filter (a plain folder has no splits).
    Which images are kept is decided by a hash of ``(seed, relpath)``: deterministic and
    independent of the listing order.  ``max_per_class`` may be an int (every source) or a
    mapping from source to count (``"*"`` for the rest).

    Examples
    --------
    >>> items = [DatasetItem(f"{i}.png", i % 2, source="a") for i in range(10)]
    >>> len(select_items(items, max_per_class=2))
    4
    """
    splits_set = None if splits is None else set(splits)
    sources_set = None if sources is None else set(sources)
    kept = [it for it in items
            if (splits_set is None or it.split is None or it.split in splits_set)
            and (sources_set is None or it.source in sources_set)]
    if max_per_class is None:
        return kept
    limits = {"*": int(max_per_class)} if isinstance(max_per_class, int) else {k: int(v) for k, v in max_per_class.items()}
    strata: dict[tuple[str | None, int], list[DatasetItem]] = {}
    for it in kept:
        strata.setdefault((it.source, it.label), []).append(it)
    chosen: set[int] = set()
    for (src, _), group in strata.items():
        cap = limits.get(str(src), limits.get("*"))
        pick = group if cap is None else sorted(group, key=lambda it: _hash_rank(it.relpath, seed))[:cap]
        chosen.update(id(it) for it in pick)
    return [it for it in kept if id(it) in chosen]


def _detector_cards(detectors: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for d in detectors:
        c = d.card
        out.append({"name": d.name, "family": c.family, "summary": c.summary, "weights": c.weights,
                    "sha256": c.sha256, "parameters": c.parameters, "training_split": c.split,
                    "calibration": dict(c.calibration)})
    return out


def limit_items(items: Sequence[DatasetItem], n: int) -> list[DatasetItem]:
    """At most ``n`` items, the classes taken in turn (reals and fakes alike), in the given order.

    >>> from fakescope.io.datasets import DatasetItem
    >>> its = [DatasetItem(path=f"{i}.png", label=int(i % 3 == 0)) for i in range(9)]
    >>> [int(i.label) for i in limit_items(its, 4)]
    [0, 1, 0, 1]
    """
    if n <= 0:
        raise UsageError(f"limit must be a positive number of images, got {n}")
    by = {0: [i for i in items if i.label == 0], 1: [i for i in items if i.label == 1]}
    out: list[DatasetItem] = []
    k = 0
    while len(out) < n and (k < len(by[0]) or k < len(by[1])):
        for lab in (0, 1):
            if k < len(by[lab]) and len(out) < n:
                out.append(by[lab][k])
        k += 1
    return out


def build_context(config: Mapping[str, Any], *, detectors: Sequence[str] | None = None,
                  data: str | os.PathLike[str] | Mapping[str, Any] | None = None,
                  out_dir: str | os.PathLike[str] | None = None, progress: bool = False) -> tuple[Context, dict[str, Any]]:
    """Resolve a checked config into a :class:`Context` and the report's provenance header."""
    from ..detectors import create_detector
    from ..fusion import CALIBRATION_FILE, Fuser, default_detectors

    cfg = dict(config)
    seed = int(cfg.get("seed", 0))
    data_cfg: dict[str, Any] = dict(cfg.get("data") or {}) if not isinstance(cfg.get("data"), str) else {
        "path": cfg["data"]}
    if data is not None:
        if isinstance(data, Mapping):
            data_cfg.update(data)
        else:
            data_cfg["path"] = os.fspath(data)
    path = data_cfg.get("path", "shipped")
    layout = str(data_cfg.get("layout", "auto"))
    path_given = data is not None and (not isinstance(data, Mapping) or "path" in data)  # relative to the cwd
    if path == "shipped":
        ds = ShippedDataset()
    else:
        p = os.fspath(path)
        if not os.path.isabs(p) and not path_given:
            p = os.path.join(cfg.get("_base", os.getcwd()), p)
        ds = open_dataset(p, layout=layout)
    all_items = list(ds)
    items = select_items(all_items, splits=data_cfg.get("splits"), sources=data_cfg.get("sources"),
                         max_per_class=data_cfg.get("max_per_class"), seed=seed)
    if data_cfg.get("limit"):
        items = limit_items(items, int(data_cfg["limit"]))
    if not items:
        have = sorted({str(it.split) for it in all_items})
        raise UsageError(f"no images left in {ds.root} after filtering (splits {data_cfg.get('splits')}, "
                         f"sources {data_cfg.get('sources')}); the dataset's splits are {have}")
    names = tuple(detectors) if detectors else tuple(cfg.get("detectors") or default_detectors())
    dets = [create_detector(n) for n in names]
    fuser, fusion_note = None, None
    try:
        # the calibrated default fusion when no detector set is named, else the named set in both regimes
        fuser = Fuser(names, fpr=0.01) if (detectors or cfg.get("detectors")) else Fuser.default(fpr=0.01)
    except (UsageError, WeightsError) as e:
        fusion_note = f"no fused probability: {e}"
    out = Path(out_dir) if out_dir is not None else None
    cache = ResultCache(out / "cache.jsonl" if out is not None else None)
    engine = Engine(dets, fuser=fuser, cache=cache, seed=seed, progress=progress,
                    min_side=int(data_cfg.get("min_side", 0) or 0))
    m = dict(cfg.get("metrics") or {})
    ctx = Context(config=cfg, items=items, engine=engine, detectors=names, fuser=fuser, seed=seed,
                  threshold=float(m.get("threshold", 0.5)),
                  fpr_targets=tuple(float(f) for f in m.get("fpr_targets", (0.01, 0.05))),
                  bins=int(m.get("bins", 15)), bootstrap=int(m.get("bootstrap", 1000)))
    from collections import Counter

    gens = Counter(it.generator or ("(real)" if it.label == 0 else "(unknown)") for it in items)
    header: dict[str, Any] = {
        "dataset": {**ds.describe(), "filters": {k: data_cfg.get(k) for k in ("splits", "sources", "max_per_class",
                                                                              "limit", "min_side") if k in data_cfg},
                    "n_items": len(items), "n_real": sum(1 for i in items if i.label == 0),
                    "n_fake": sum(1 for i in items if i.label == 1), "manifest_hash": manifest_hash(items),
                    "full_manifest_hash": manifest_hash(all_items), "n_full": len(all_items),
                    "sources": dict(Counter(str(it.source) for it in items)),
                    "generators": dict(sorted(gens.items()))},
        "detectors": _detector_cards(dets),
        "fusion": None if fuser is None else {
            "detectors": list(fuser.detectors), "calibration_split": fuser.calibration_split,
            "detectors_by_regime": {"thumbnail (<= 64 px)": list(fuser.detectors_for(32)),
                                    "full resolution": list(fuser.detectors_for(None))},
            "threshold@1%fpr": {"thumbnail (32 px)": fuser.operating_point_for(32).threshold,
                                "full resolution": fuser.operating_point_for(None).threshold},
            "calibration_file_sha256": _file_sha(str(CALIBRATION_FILE))},
        "fusion_note": fusion_note,
    }
    return ctx, header


def _file_sha(path: str) -> str | None:
    from ..io.splits import file_sha256

    try:
        return file_sha256(path)
    except OSError:
        return None


def _environment() -> dict[str, Any]:
    import PIL

    env = {"python": sys.version.split()[0], "platform": platform.platform(), "numpy": np.__version__,
           "pillow": PIL.__version__}
    for mod in ("cv2", "onnxruntime"):
        try:
            env[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover - optional in the environment
            env[mod] = None
    return env


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items() if not str(k).startswith("_")}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, float):
        return None if not math.isfinite(x) else round(x, 6)
    if isinstance(x, Chain):
        return x.to_dict()
    if isinstance(x, Perturbation):
        return x.to_dict()
    return x


def _condition_records(ctx: Context) -> list[dict[str, Any]]:
    out = []
    s = ctx.scores
    for c in ctx.conditions:
        d = c.to_dict()
        if s is not None and s.chains.get(c.id):
            chains = s.chains[c.id]
            d["example_chain"] = str(Chain.from_json(chains[0]))
            d["distinct_chains"] = len(set(chains))
            d["param_ranges"] = _param_ranges(chains)
        out.append(d)
    return out


def _param_ranges(chains: Sequence[str]) -> dict[str, list[float]]:
    ranges: dict[str, list[float]] = {}
    for cj in set(chains):
        for i, step in enumerate(json.loads(cj)["steps"]):
            for k, v in step["params"].items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "seed":
                    key = f"{i}:{step['name']}.{k}"
                    lo, hi = ranges.get(key, [v, v])
                    ranges[key] = [min(lo, v), max(hi, v)]
    return dict(sorted(ranges.items()))


def run_protocol(ctx: Context, header: Mapping[str, Any]) -> dict[str, Any]:
    """Run the config's protocol on a built context; returns the report dict (not yet written)."""
    from .. import __version__

    _protocol_names()
    name = ctx.config["protocol"]
    t0 = time.perf_counter()
    res: ProtocolResult = PROTOCOLS.get(name)(ctx)
    elapsed = time.perf_counter() - t0
    errors = ctx.scores.errors if ctx.scores is not None else []
    report = {
        "fakescope_version": __version__,
        "protocol": name,
        "title": ctx.config.get("title") or name,
        "description": ctx.config.get("description"),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": ctx.seed,
        "config": {k: v for k, v in ctx.config.items() if not k.startswith("_")},
        "config_file": ctx.config.get("_path"),
        **header,
        "metrics_options": {"threshold": ctx.threshold, "fpr_targets": list(ctx.fpr_targets), "ece_bins": ctx.bins,
                            "bootstrap": ctx.bootstrap},
        "conditions": _condition_records(ctx),
        "results": res.results,
        "tables": [t.to_dict() for t in res.tables],
        "figures": res.figures,
        "notes": res.notes,
        "n_errors": len(errors),
        "errors": errors[:100],
        "runtime": {"seconds": round(elapsed, 2), **{k: (round(v, 3) if isinstance(v, float) else v)
                                                      for k, v in ctx.engine.stats.items()},
                    "cache_file_lines_at_start": ctx.engine.cache.loaded},
        "environment": _environment(),
    }
    return _jsonable(report)


def run_config(config_path: str | os.PathLike[str] | Mapping[str, Any], *, detectors: Sequence[str] | None = None,
               data: str | os.PathLike[str] | Mapping[str, Any] | None = None,
               out_dir: str | os.PathLike[str], progress: bool = True, html: bool = True) -> dict[str, Any]:
    """Run one benchmark config and write ``report.json``, ``report.md`` and ``report.html`` into ``out_dir``.

    Parameters
    ----------
    config_path : a YAML/JSON config file (``configs/bench/*.yaml``) or a mapping.
    detectors : detector names overriding the config's (default: the config's, else every calibrated one).
    data : a dataset path (folder or manifest) overriding the config's ``data.path``, or a mapping of
        ``data`` keys to override.
    out_dir : where the reports and the resumable ``cache.jsonl`` go (created).
    progress : show progress bars on stderr.
    html : also write ``report.html`` (needs matplotlib, the ``bench`` extra).

    Returns
    -------
    dict
        The report (what ``report.json`` holds).

    Raises
    ------
    MissingDependencyError
        ``html=True`` and matplotlib is missing: ``report.json`` and ``report.md`` are written first.
    """
    from .report import write_html, write_json, write_markdown

    cfg = load_config(config_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx, header = build_context(cfg, detectors=detectors, data=data, out_dir=out, progress=progress)
    try:
        report = run_protocol(ctx, header)
    finally:
        ctx.engine.cache.close()
    write_json(report, out / "report.json")
    write_markdown(report, out / "report.md")
    if html:
        write_html(report, out / "report.html")
    return report
