"""The detector interface, weight cards and shared preprocessing.

A detector turns RGB pixels into an *uncalibrated* score (a logit: higher means more
likely AI-generated).  Calibration to a probability and the decision live in
:mod:`fakescope.fusion`, fitted on the held-out calibration split that ships in
``weights/calibration.json``; each card also carries the detector's own Platt
parameters so a single detector's evidence reads as a probability.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import MissingDependencyError, UsageError, WeightsError
from ..types import Evidence, Sample

__all__ = ["DetectorCard", "Detector", "OnnxModel", "grid_tiles", "grid_layout", "spread_order", "two_stage_indices",
           "check_rgb", "WEIGHTS_DIR", "sha256_file", "load_card"]

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class DetectorCard:
    """Where a set of weights came from and how to feed it (after timm's pretrained cfgs)."""

    name: str
    family: str
    summary: str
    paper: str
    weights: str | None  # file name inside weights/ (None: training-free)
    sha256: str | None
    input_policy: str  # e.g. "native-resolution 96x96 tiles, up to 8, 8-aligned grid; mean of tile logits"
    preprocessing: str
    training_data: str
    split: str
    license: str = "Apache-2.0"
    parameters: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, float] = field(default_factory=lambda: {"method": "platt", "a": 1.0, "b": 0.0})
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> "DetectorCard":
        """Read a card; a relative ``weights`` name resolves next to the card when the file is
        there (a training run's output folder), else inside the package's ``weights/``."""
        with open(path, encoding="utf-8") as f:
            card = cls(**json.load(f))
        if card.weights and not Path(card.weights).is_absolute():
            beside = Path(path).resolve().parent / card.weights
            if beside.parent != WEIGHTS_DIR and beside.exists():
                card = replace(card, weights=str(beside))
        return card

    def save(self, path: str | Path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(asdict(self), f, indent=2, sort_keys=False)
            f.write("\n")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scoring_key(self) -> str:
        """A short hash of what decides the raw scores: the weights' sha256 and the card's input
        policy, preprocessing and settings (``extra``) — not its metrics or Platt parameters.  Cached
        scores (benchmark runs, calibration) are keyed by it, so a changed tile count is rescored."""
        what = {"sha256": self.sha256, "weights": Path(self.weights).name if self.weights else None,
                "input_policy": self.input_policy, "preprocessing": self.preprocessing, "extra": self.extra}
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def weights_path(self) -> Path | None:
        if not self.weights:
            return None
        p = Path(self.weights)
        return p if p.is_absolute() else WEIGHTS_DIR / p

    def verify(self) -> Path | None:
        """Check the weights file exists and matches the card's sha256."""
        p = self.weights_path()
        if p is None:
            return None
        if not p.exists():
            raise WeightsError(f"weights file for detector {self.name!r} not found: {p}")
        digest = sha256_file(p)
        if self.sha256 and digest != self.sha256:
            raise WeightsError(
                f"weights file {p} does not match its card (sha256 {digest[:12]}… != {self.sha256[:12]}…)"
            )
        return p


def load_card(name: str, card_path: str | Path | None = None) -> DetectorCard:
    """A detector's card: ``card_path`` if given, else the shipped ``weights/<name>.json``."""
    path = card_path if card_path is not None else WEIGHTS_DIR / f"{name}.json"
    try:
        return DetectorCard.load(path)
    except FileNotFoundError:
        raise WeightsError(f"no card for detector {name!r} at {path} (train it: fakescope train --detector "
                           f"{name} ...)") from None
    except (OSError, ValueError, TypeError) as e:
        raise WeightsError(f"cannot read the {name} card {path}: {e}") from e


class Detector(ABC):
    """Base class: subclasses implement :meth:`raw_scores`."""

    name: str = "detector"
    min_side: int = 32  # smaller images give no evidence

    def __init__(self, card: DetectorCard) -> None:
        self.card = card

    @abstractmethod
    def raw_scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Uncalibrated logits (float64, one per image) for H×W×3 uint8 RGB arrays."""

    def raw_score(self, image: np.ndarray) -> float:
        return float(self.raw_scores([image])[0])

    def staged_raw_score(self, image: np.ndarray) -> tuple[float, Callable[[], float] | None]:
        """A first raw score from about half of the image's evidence, and a function that completes
        it to :meth:`raw_score` (reusing the first half's work), or None when there is no second
        stage.  Tile detectors score half of their tiles first (:func:`two_stage_indices`); the
        scan's early exit (:meth:`fakescope.fusion.Fuser.early_exit`) skips the rest when the first half
        already decides.  The default: the whole score at once."""
        return self.raw_score(image), None

    def ms_per_image(self, image: np.ndarray, reps: int = 7) -> float:
        """Median milliseconds of ``raw_scores([image])`` over ``reps`` calls, after one warm-up call
        (which opens the ONNX session)."""
        self.raw_scores([image])
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            self.raw_scores([image])
            ts.append(time.perf_counter() - t)
        return 1000.0 * float(np.median(ts))

    def probability(self, raw: float) -> float:
        """The detector's own Platt-calibrated probability for a raw score."""
        a = float(self.card.calibration.get("a", 1.0))
        b = float(self.card.calibration.get("b", 0.0))
        z = a * raw + b
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def analyze(self, sample: Sample) -> Evidence:
        img = sample.image
        if min(img.shape[:2]) < self.min_side:
            return Evidence(
                source=self.name, kind="detector", score=0.5, weight="none",
                summary=f"image is {img.shape[1]}×{img.shape[0]}, below the {self.min_side}px this detector needs",
            )
        return self.evidence(self.raw_score(img))

    def evidence(self, raw: float, **details: Any) -> Evidence:
        """The pixel evidence of a raw score (its Platt probability and a summary); ``details`` are
        recorded beside the raw score (e.g. ``stage="first"`` for a first-stage score)."""
        p = self.probability(raw)
        return Evidence(
            source=self.name, kind="detector", score=p, weight="pixel",
            summary=self.describe(p), details={"raw": raw, **details},
        )

    def describe(self, p: float) -> str:
        lean = "AI-generated" if p >= 0.5 else "a real photo"
        strength = "strongly" if abs(p - 0.5) > 0.4 else ("moderately" if abs(p - 0.5) > 0.2 else "weakly")
        return f"{self.card.summary}: {strength} suggests {lean} (p={p:.2f})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class OnnxModel:
    """A lazily created ONNX Runtime session, one intra-op thread (one process per core scales better).

    Sessions are not picklable, so the session is created on first use in whichever process
    runs it; pickling an ``OnnxModel`` carries only the path.
    """

    def __init__(self, path: str | Path, *, threads: int = 1) -> None:
        self.path = str(path)
        self.threads = threads
        self._session = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "threads": self.threads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], threads=state["threads"])

    @property
    def session(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    try:
                        import onnxruntime as ort
                    except ImportError as e:  # pragma: no cover - core dependency
                        raise MissingDependencyError("onnxruntime", "core", "ONNX inference") from e
                    so = ort.SessionOptions()
                    so.intra_op_num_threads = self.threads
                    so.inter_op_num_threads = 1
                    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                    so.log_severity_level = 3
                    try:
                        self._session = ort.InferenceSession(self.path, so, providers=["CPUExecutionProvider"])
                    except Exception as e:
                        raise WeightsError(f"cannot load ONNX model {self.path}: {e}") from e
        return self._session

    def __call__(self, x: np.ndarray) -> np.ndarray:
        sess = self.session
        name = sess.get_inputs()[0].name
        return sess.run(None, {name: x})[0]


def check_rgb(image: np.ndarray) -> None:
    """Raise :class:`UsageError` unless ``image`` is an ``H×W×3`` uint8 RGB array (what detectors take)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UsageError(f"expected an H×W×3 uint8 RGB array, got {image.dtype} {image.shape}")


def grid_layout(h: int, w: int, size: int, max_tiles: int) -> tuple[int, int] | None:
    """Rows and columns of :func:`grid_tiles`'s grid for an ``h``×``w`` image, or None when the
    image is smaller than one tile (it then gives one cropped tile).

    >>> grid_layout(768, 1024, 96, 8), grid_layout(300, 200, 128, 8), grid_layout(64, 64, 96, 8)
    ((2, 4), (2, 1), None)
    """
    if h < size or w < size:
        return None
    best = (0, 0.0, 1, 1)
    for ny in range(1, min(h // size, max_tiles) + 1):
        nx = min(w // size, max_tiles // ny)
        if nx < 1:
            continue
        # most tiles first, then the grid whose cells are closest to square
        squareness = -abs(math.log((h / ny) / (w / nx)))
        best = max(best, (ny * nx, squareness, ny, nx))
    return best[2], best[3]


def spread_order(ny: int, nx: int) -> list[int]:
    """Row-major tile indices of an ``ny``×``nx`` grid, the cells of one chessboard colour first.

    The first ``ceil(ny * nx / 2)`` indices cover the image evenly (a two-stage scan scores them
    first and the rest only when needed).

    >>> spread_order(2, 4)
    [0, 2, 5, 7, 1, 3, 4, 6]
    """
    cells = [(y * nx + x, (y + x) % 2) for y in range(ny) for x in range(nx)]
    return [i for i, c in cells if c == 0] + [i for i, c in cells if c == 1]


def two_stage_indices(h: int, w: int, size: int, max_tiles: int, *,
                      mirror: bool = False) -> tuple[list[int], list[int]]:
    """Which of an image's tiles a two-stage scan scores first, and which second.

    Indices into :func:`grid_tiles`'s list, followed by the tiles' horizontal mirrors when
    ``mirror`` (detectors add mirrors when the grid gives at most ``max_tiles // 2`` tiles):
    with mirrors, the tiles first and their mirrors second; else one chessboard colour of the
    grid first (:func:`spread_order`), so both stages cover the whole image.

    >>> two_stage_indices(768, 1024, 96, 8)
    ([0, 2, 5, 7], [1, 3, 4, 6])
    >>> two_stage_indices(256, 256, 96, 8, mirror=True)
    ([0, 1, 2, 3], [4, 5, 6, 7])
    """
    layout = grid_layout(h, w, size, max_tiles)
    n = 1 if layout is None else layout[0] * layout[1]
    if mirror and n <= max_tiles // 2:
        return list(range(n)), list(range(n, 2 * n))
    if layout is None or n < 2:
        return list(range(n)), []
    order = spread_order(*layout)
    k = (n + 1) // 2
    return order[:k], order[k:]


def grid_tiles(image: np.ndarray, size: int, max_tiles: int, *, align: int = 8) -> list[np.ndarray]:
    """Up to ``max_tiles`` native-resolution ``size``×``size`` crops on an even grid.

    Offsets are multiples of ``align`` so the JPEG 8×8 block grid and the 2×2 up-sampling
    phase are the same in every tile.  An image smaller than ``size`` on a side yields one
    tile cropped to a multiple of ``align`` (never resized: resizing destroys the traces).
    Tiles come in row-major order of the grid (:func:`grid_layout`).

    >>> img = np.zeros((300, 400, 3), np.uint8)
    >>> [t.shape for t in grid_tiles(img, 128, 4)]
    [(128, 128, 3), (128, 128, 3), (128, 128, 3), (128, 128, 3)]
    """
    h, w = image.shape[:2]
    th, tw = min(size, h - h % align or h), min(size, w - w % align or w)
    layout = grid_layout(h, w, size, max_tiles)
    if th < size or tw < size or layout is None:
        return [image[:th, :tw]]
    ny, nx = layout
    ys = np.linspace(0, h - size, ny) if ny > 1 else np.array([(h - size) / 2])
    xs = np.linspace(0, w - size, nx) if nx > 1 else np.array([(w - size) / 2])
    tiles = []
    for y in ys:
        for x in xs:
            y0 = int(y) // align * align
            x0 = int(x) // align * align
            tiles.append(image[y0 : y0 + size, x0 : x0 + size])
    return tiles
