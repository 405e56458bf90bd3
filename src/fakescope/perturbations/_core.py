"""The perturbation registry, the replayable records and chains (after kornia's augmentations).

A perturbation is two pure functions:

* ``apply(image, **params) -> image``: ``H×W×3`` uint8 RGB in, ``H'×W'×3`` uint8 RGB out,
  no randomness left inside (noise functions take a ``seed`` parameter);
* ``sample_params(rng, severity) -> dict``: draws JSON-serialisable parameters for a
  severity level ``1..5`` from the ``numpy.random.Generator`` passed in.

Sampling is separate from applying, so a run is replayed exactly from its parameters, and
a :class:`Chain` (a list of :class:`Perturbation` records) is plain data that a report can
print and a later run can load.
"""

from __future__ import annotations

import inspect
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from .._registry import Registry
from ..errors import UsageError

__all__ = [
    "PERTURBATIONS",
    "PerturbationSpec",
    "Perturbation",
    "Chain",
    "perturbation",
    "get_perturbation",
    "list_perturbations",
    "apply_perturbation",
    "sample_params",
    "sample_chain",
    "check_image",
    "SEVERITIES",
    "draw_int",
    "draw_float",
    "draw_sign",
]

#: The severity levels every perturbation understands.
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)


def check_image(image: Any, *, name: str = "image") -> np.ndarray:
    """Return ``image`` as a C-contiguous ``H×W×3`` uint8 array, or raise :class:`UsageError`.

    Examples
    --------
    >>> check_image(np.zeros((2, 3, 3), np.uint8)).shape
    (2, 3, 3)
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        desc = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise UsageError(f"{name} must be an H×W×3 uint8 RGB array, got {desc}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise UsageError(f"{name} has no pixels: shape {image.shape}")
    return np.ascontiguousarray(image)


@dataclass(frozen=True)
class PerturbationSpec:
    """One registered perturbation: its pure ``apply`` function and its parameter sampler.

    Calling the spec applies the perturbation after checking the input and the output
    (both ``H×W×3`` uint8).  ``levels`` describes, in words, what severities 1..5 mean.
    ``keeps_shape`` is False for perturbations that change the image size (resizes,
    crops, rotation with crop, platform presets that cap the long side).
    """

    name: str
    fn: Callable[..., np.ndarray]
    sampler: Callable[[np.random.Generator, int], dict[str, Any]]
    summary: str
    levels: tuple[str, ...]
    keeps_shape: bool = True
    category: str = "other"
    param_names: tuple[str, ...] = field(default=())

    def __call__(self, image: np.ndarray, **params: Any) -> np.ndarray:
        img = check_image(image)
        self.check_params(params)
        out = self.fn(img, **params)
        return check_image(out, name=f"the output of perturbation {self.name!r}")

    def check_params(self, params: Mapping[str, Any]) -> None:
        unknown = sorted(set(params) - set(self.param_names))
        if unknown:
            valid = ", ".join(self.param_names) or "(none)"
            raise UsageError(f"perturbation {self.name!r} has no parameter(s) {unknown}; valid: {valid}")

    def sample_params(self, rng: np.random.Generator, severity: int) -> dict[str, Any]:
        """Draw parameters for ``severity`` (1..5) from ``rng`` (deterministic given the rng state)."""
        if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
            raise UsageError(f"severity must be an integer 1..5, got {severity!r}")
        if not isinstance(rng, np.random.Generator):
            raise UsageError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        params = self.sampler(rng, int(severity))
        self.check_params(params)
        return _plain(params)


#: name → :class:`PerturbationSpec` (each spec is callable: ``PERTURBATIONS.get("jpeg")(img, quality=50)``).
PERTURBATIONS: Registry[np.ndarray] = Registry("perturbation")


def perturbation(name: str, *, sampler: Callable[[np.random.Generator, int], dict[str, Any]], summary: str,
                 levels: Sequence[str], keeps_shape: bool = True,
                 category: str = "other") -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]:
    """Register ``fn`` (a pure ``apply`` function with keyword-only parameters) under ``name``.

    The decorated function is returned unchanged, so it stays importable and callable.
    """
    if len(levels) != len(SEVERITIES):
        raise ValueError(f"perturbation {name!r} must describe {len(SEVERITIES)} severity levels")

    def decorator(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        sig = inspect.signature(fn)
        names = tuple(p.name for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY)
        spec = PerturbationSpec(name=name, fn=fn, sampler=sampler, summary=summary, levels=tuple(levels),
                                keeps_shape=keeps_shape, category=category, param_names=names)
        PERTURBATIONS.register(name)(spec)  # type: ignore[arg-type]
        return fn

    return decorator


def get_perturbation(name: str) -> PerturbationSpec:
    """The registered :class:`PerturbationSpec` called ``name`` (unknown names list the valid ones)."""
    _load_builtin()
    return PERTURBATIONS.get(name)  # type: ignore[return-value]


def list_perturbations(pattern: str = "*") -> list[str]:
    """Names of the registered perturbations matching the glob ``pattern``, sorted.

    Examples
    --------
    >>> "jpeg" in list_perturbations()
    True
    >>> list_perturbations("downscale-*")[:2]
    ['downscale-area', 'downscale-bicubic']
    """
    _load_builtin()
    return PERTURBATIONS.names(pattern)


def apply_perturbation(name: str, image: np.ndarray, **params: Any) -> np.ndarray:
    """Apply the perturbation ``name`` with ``params`` to ``image``.

    Examples
    --------
    >>> img = np.full((16, 16, 3), 100, np.uint8)
    >>> int(apply_perturbation("brightness", img, factor=1.5)[0, 0, 0])
    150
    """
    return get_perturbation(name)(image, **params)


def sample_params(name: str, rng: np.random.Generator, severity: int) -> dict[str, Any]:
    """Parameters of perturbation ``name`` at ``severity`` (1..5), drawn from ``rng``.

    Examples
    --------
    >>> a = sample_params("jpeg", np.random.default_rng(0), 3)
    >>> a == sample_params("jpeg", np.random.default_rng(0), 3)
    True
    """
    return get_perturbation(name).sample_params(rng, severity)


def draw_int(rng: np.random.Generator, lo: int, hi: int) -> int:
    """An integer uniform in ``lo..hi`` (both included).

    >>> draw_int(np.random.default_rng(0), 5, 5)
    5
    """
    return int(rng.integers(int(lo), int(hi) + 1))


def draw_float(rng: np.random.Generator, lo: float, hi: float, *, digits: int = 3) -> float:
    """A float uniform in ``[lo, hi]``, rounded to ``digits`` decimals (readable, exact in JSON).

    >>> draw_float(np.random.default_rng(0), 1.0, 1.0)
    1.0
    """
    return round(float(rng.uniform(float(lo), float(hi))), digits)


def draw_sign(rng: np.random.Generator) -> int:
    """``-1`` or ``+1`` with equal probability."""
    return -1 if rng.random() < 0.5 else 1


def _plain(x: Any) -> Any:
    """Plain JSON types (numpy scalars → Python, tuples → lists); floats must be finite."""
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_plain(v) for v in x.tolist()]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        if not math.isfinite(f):
            raise UsageError(f"perturbation parameters must be finite numbers, got {f}")
        return f
    if x is None or isinstance(x, str):
        return x
    raise UsageError(f"perturbation parameters must be JSON values, got {type(x).__name__}")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


@dataclass(frozen=True, eq=False)
class Perturbation:
    """One step of a chain: a registered perturbation name and its parameters (plain data).

    Examples
    --------
    >>> p = Perturbation("jpeg", {"quality": 70, "subsampling": "4:2:0"})
    >>> str(p)
    "jpeg(quality=70, subsampling='4:2:0')"
    >>> Perturbation.from_dict(p.to_dict()) == p
    True
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spec = get_perturbation(self.name)
        spec.check_params(self.params)
        object.__setattr__(self, "params", _plain(dict(self.params)))

    def apply(self, image: np.ndarray) -> np.ndarray:
        return get_perturbation(self.name)(image, **self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Perturbation":
        if not isinstance(d, Mapping) or "name" not in d:
            raise UsageError(f"a perturbation record needs a 'name' (and 'params'), got {d!r}")
        params = d.get("params") or {}
        if not isinstance(params, Mapping):
            raise UsageError(f"perturbation {d['name']!r}: 'params' must be a mapping, got {params!r}")
        return cls(str(d["name"]), dict(params))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Perturbation) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params.items())
        return f"{self.name}({inner})"


@dataclass(frozen=True, eq=False)
class Chain:
    """A sequence of :class:`Perturbation` records, applied in order; an empty chain is the identity.

    Examples
    --------
    >>> rng = np.random.default_rng(7)
    >>> chain = Chain([Perturbation("gaussian-blur", {"sigma": 1.0}), Perturbation("jpeg", {"quality": 80})])
    >>> print(chain)
    gaussian-blur(sigma=1) → jpeg(quality=80)
    >>> img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    >>> again = Chain.from_json(chain.to_json())
    >>> bool((again.apply(img) == chain.apply(img)).all())
    True
    """

    steps: tuple[Perturbation, ...] = ()

    def __init__(self, steps: Iterable[Perturbation | Mapping[str, Any]] = ()) -> None:
        recs = tuple(s if isinstance(s, Perturbation) else Perturbation.from_dict(s) for s in steps)
        object.__setattr__(self, "steps", recs)

    def apply(self, image: np.ndarray) -> np.ndarray:
        out = check_image(image)
        for step in self.steps:
            out = step.apply(out)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> "Chain":
        if isinstance(d, Mapping):
            if "steps" not in d:
                raise UsageError(f"a chain record needs 'steps', got keys {sorted(d)}")
            steps = d["steps"]
        else:
            steps = d
        if not isinstance(steps, Sequence) or isinstance(steps, (str, bytes)):
            raise UsageError(f"a chain's 'steps' must be a list, got {type(steps).__name__}")
        return cls(steps)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): equal chains give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Chain":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise UsageError(f"not a chain in JSON: {e}") from None

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[Perturbation]:
        return iter(self.steps)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Chain) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __add__(self, other: "Chain") -> "Chain":
        return Chain(self.steps + tuple(other.steps))

    def __str__(self) -> str:
        return " → ".join(str(s) for s in self.steps) if self.steps else "identity"

    def __repr__(self) -> str:
        return f"Chain({[s.to_dict() for s in self.steps]!r})"


def sample_chain(steps: Sequence[str | tuple[str, int] | Mapping[str, Any]], rng: np.random.Generator, *,
                 severity: int = 3) -> Chain:
    """Draw a concrete :class:`Chain` from a template.

    Parameters
    ----------
    steps : each a perturbation name (at ``severity``), a ``(name, severity)`` pair, or a mapping
        ``{"name": ..., "severity": ..., "params": {...}}`` whose ``params`` override the drawn ones.
    rng : the generator the parameters are drawn from, step after step.
    severity : the default severity.

    Examples
    --------
    >>> c = sample_chain([("downscale-bicubic", 2), {"name": "jpeg", "params": {"quality": 90}}],
    ...                  np.random.default_rng(0))
    >>> [s.name for s in c], c.steps[1].params["quality"]
    (['downscale-bicubic', 'jpeg'], 90)
    """
    out: list[Perturbation] = []
    for step in steps:
        overrides: Mapping[str, Any] = {}
        if isinstance(step, str):
            name, sev = step, severity
        elif isinstance(step, tuple):
            name, sev = step
        elif isinstance(step, Mapping):
            name, sev = step["name"], step.get("severity", severity)
            overrides = step.get("params") or {}
        else:
            raise UsageError(f"a chain step is a name, (name, severity) or a mapping, got {step!r}")
        params = get_perturbation(str(name)).sample_params(rng, int(sev))
        params.update(_plain(dict(overrides)))
        out.append(Perturbation(str(name), params))
    return Chain(out)


_loaded = False


def _load_builtin() -> None:
    """Import the modules that register the built-in perturbations (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from . import color, compression, filters, geometry, noise, platforms  # noqa: F401

