"""Spectral: the Fourier spectrum of the high-pass residual, into a small numpy classifier.

Up-sampling in generators leaves periodic peaks in the spectrum of an image's noise
residual (at 1/2, 1/4, 1/8 cycles per pixel for ×2, ×4, ×8 up-sampling) and a
high-frequency fall-off unlike a camera's (Durall et al. CVPR 2020; Frank et al. ICML
2020).  Per native-resolution tile this module computes

* the azimuthally averaged log power spectrum of ``luma - box3x3(luma)`` (Hann window),
  in 12 radial bins up to Nyquist plus one corner bin, centred on its mean;
* the mean log power (the residual's energy);
* up-sampling periodicity: for periods 2, 4 and 8, the log power at the periodic peaks
  relative to the median of a ring around each peak, separately for on-axis and
  diagonal peaks;
* colour: the correlations of the R, G and B horizontal first differences (camera
  demosaicing ties them together) and the log ratio of their chroma to grey energy;
* ``log2`` of the tile side (the classifier sees 32-pixel images and 128-pixel tiles);

averages the features over the tiles, standardises them and applies a small MLP stored as
plain arrays in ``weights/spectral.npz`` (no scikit-learn at inference).

This evidence is weak alone: spectral discrepancies can be removed by changing a
generator's last up-sampling layer (Chandrasegaran et al., CVPR 2021, "A Closer Look at
Fourier Spectrum Discrepancies"; Dzanic et al., NeurIPS 2020).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import UsageError, WeightsError
from . import DETECTORS
from .base import Detector, DetectorCard, check_rgb, grid_tiles, load_card, two_stage_indices

__all__ = ["SpectralDetector", "spectral_features", "tile_features", "FEATURE_NAMES", "NumpyMLP",
           "TILE", "MAX_TILES"]

TILE = 128
MAX_TILES = 8
_RADIAL_BINS = 12
_PERIODS = (2, 4, 8)

FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"radial_{i}" for i in range(_RADIAL_BINS))
    + ("radial_corner", "log_energy")
    + tuple(f"peak{p}_{kind}" for p in _PERIODS for kind in ("axis", "diag"))
    + ("corr_rg", "corr_gb", "corr_rb", "log_chroma_ratio")
    + ("log2_tile",)
)


def _half(row: int, col: int, h: int, w: int) -> tuple[int, int]:
    """Index of full-plane frequency ``(row, col)`` in ``rfft2``'s half plane (Hermitian symmetry)."""
    row, col = row % h, col % w
    if col > w // 2:
        row, col = (-row) % h, w - col
    return row, col


try:  # scipy's pocketfft runs the batched rfft2 faster than numpy's; scipy is optional
    from scipy import fft as _sfft

    def _rfft2(x: np.ndarray) -> np.ndarray:
        return _sfft.rfft2(x, workers=1, overwrite_x=True)
except ImportError:  # pragma: no cover - scipy comes with the train extra only
    def _rfft2(x: np.ndarray) -> np.ndarray:
        return np.fft.rfft2(x)  # numpy >= 2 keeps float32 in single precision too


@lru_cache(maxsize=16)
def _geometry(h: int, w: int) -> dict[str, Any]:
    """Per-size constants: Hann window, radial bin of every frequency, peak and ring indices.

    Peak and ring positions are flat indices into the ``(h, w // 2 + 1)`` half plane, the
    peaks of all (period, kind) groups concatenated (``groups`` holds each group's slice).
    """
    win = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]  # the half plane of a real input's spectrum
    wf = fx.shape[1]
    r = np.sqrt(fy**2 + fx**2)
    edges = np.linspace(0.0, 0.5, _RADIAL_BINS + 1)
    bins = np.digitize(r, edges[1:-1])  # 0.._RADIAL_BINS-1 inside the Nyquist circle
    bins = np.where(r > 0.5, _RADIAL_BINS, bins)
    bins[0, 0] = _RADIAL_BINS + 1  # DC: excluded
    counts = np.bincount(bins.ravel(), minlength=_RADIAL_BINS + 2).astype(np.float64)
    ring = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4) if max(abs(dy), abs(dx)) >= 2]
    near_idx: list[list[int]] = []
    ring_idx: list[list[int]] = []
    groups: list[slice] = []
    for p in _PERIODS:
        for kind in ("axis", "diag"):
            first = len(near_idx)
            for ky in range(p):
                for kx in range(p):
                    if ky == 0 and kx == 0:
                        continue
                    if (kind == "axis") != (ky == 0 or kx == 0):
                        continue
                    cy, cx = round(ky * h / p), round(kx * w / p)
                    near = [_half(cy + dy, cx + dx, h, w) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
                    around = [_half(cy + dy, cx + dx, h, w) for dy, dx in ring]
                    near_idx.append([a * wf + b for a, b in near])
                    ring_idx.append([a * wf + b for a, b in around])
            groups.append(slice(first, len(near_idx)))
    return {"win": win, "bins": bins.ravel(), "counts": counts, "near": np.array(near_idx, np.intp),
            "ring": np.array(ring_idx, np.intp), "groups": tuple(groups)}


@lru_cache(maxsize=64)
def _bin_ids(h: int, w: int, n: int) -> np.ndarray:
    """Radial bin of every frequency of ``n`` stacked tiles, offset per tile (one ``bincount``)."""
    nb = _RADIAL_BINS + 2
    return (np.arange(n)[:, None] * nb + _geometry(h, w)["bins"][None, :]).ravel()


def tile_features(tiles: np.ndarray) -> np.ndarray:
    """Spectral features of a stack of same-size tiles.

    Parameters
    ----------
    tiles : ndarray
        ``(n, h, w, 3)`` uint8 RGB tiles (``h, w >= 16``).

    Returns
    -------
    ndarray
        ``(n, len(FEATURE_NAMES))`` float64.
    """
    if tiles.ndim != 4 or tiles.shape[-1] != 3:
        raise UsageError(f"expected (n, h, w, 3) tiles, got {tiles.shape}")
    planes = np.ascontiguousarray(tiles.transpose(0, 3, 1, 2))
    return _planar_features(planes if planes.dtype == np.uint8 else planes.astype(np.float32))


_PAIRS_EXACT_ROW = 258  # 258 · 255² < 2²⁴: a float32 sum of that many products of two differences is exact


def _planar_features(rgb8: np.ndarray) -> np.ndarray:
    """:func:`tile_features` of contiguous ``(n, 3, h, w)`` planes (uint8; float32 also works, but the
    colour sums below are exact only for integers in 0..255)."""
    n, _, h, w = rgb8.shape
    if min(h, w) < 16:
        raise UsageError(f"spectral features need tiles of at least 16×16 pixels, got {w}×{h}")
    g = _geometry(h, w)
    # float32 luma 0.299 R + 0.587 G + 0.114 B written straight into a buffer with a reflected
    # 1-pixel border (numpy's "reflect"), then the high-pass residual y - box3x3(y) / 9 from
    # separable sums (left + centre + right, then up + centre + down)
    pad = np.empty((n, h + 2, w + 2), np.float32)
    y = pad[:, 1:-1, 1:-1]
    tmp = np.empty((n, h, w), np.float32)
    np.multiply(rgb8[:, 0], np.float32(0.299), out=y)
    y += np.multiply(rgb8[:, 1], np.float32(0.587), out=tmp)
    y += np.multiply(rgb8[:, 2], np.float32(0.114), out=tmp)
    pad[:, 0, 1:-1] = pad[:, 2, 1:-1]
    pad[:, -1, 1:-1] = pad[:, -3, 1:-1]
    pad[:, :, 0] = pad[:, :, 2]
    pad[:, :, -1] = pad[:, :, -3]
    rows = pad[:, :, :-2] + pad[:, :, 1:-1]
    rows += pad[:, :, 2:]
    box = np.add(rows[:, :-2], rows[:, 1:-1], out=tmp)
    box += rows[:, 2:]
    box *= np.float32(1.0 / 9.0)
    np.subtract(y, box, out=box)
    # the spectrum in single precision (half the time of float64); the classifier's logits move by
    # at most ~5e-6 against the float64 spectrum it was trained on (docs/benchmarks/scan_throughput.md)
    box *= g["win"]
    spec = _rfft2(box)
    power = spec.real * spec.real
    power += spec.imag * spec.imag
    power += 1e-3
    flat = np.log10(power, out=power).reshape(n, -1)
    nb = _RADIAL_BINS + 2
    sums = np.bincount(_bin_ids(h, w, n), weights=flat.ravel(), minlength=n * nb).reshape(n, nb)
    radial = (sums / np.maximum(g["counts"], 1.0))[:, : _RADIAL_BINS + 1]
    level = radial[:, :_RADIAL_BINS].mean(axis=1, keepdims=True)
    feats = [radial - level, level]
    peak = flat[:, g["near"]].max(axis=2)  # (n, npeaks): the window spreads a peak over ±1 bin
    ring = np.sort(flat[:, g["ring"]], axis=2)  # 24 values: the median is the mean of the middle two
    half = ring.shape[2] // 2
    contrast = peak - (ring[:, :, half - 1] + ring[:, :, half]) / 2
    feats += [contrast[:, s].mean(axis=1, keepdims=True) for s in g["groups"]]
    # colour: correlation of the channels' horizontal first differences (camera demosaicing ties them
    # together) and the energy of the chroma part of that residual relative to its grey part.  The
    # differences are integers in -255..255: per-row float32 sums of their products are exact for rows
    # of up to 258 pixels, and the float64 sums over rows are exact too.
    npix = h * (w - 1)
    ends = np.subtract(rgb8[:, :, :, -1], rgb8[:, :, :, 0], dtype=np.float64)
    m = ends.sum(axis=2) / npix  # the sums of the differences telescope to last - first pixel of each row
    if w - 1 <= _PAIRS_EXACT_ROW:
        d = np.subtract(rgb8[:, :, :, 1:], rgb8[:, :, :, :-1], dtype=np.float32)
        gram = np.einsum("ncrl,ndrl->ncdr", d, d).sum(axis=3, dtype=np.float64)
    else:
        d = np.subtract(rgb8[:, :, :, 1:], rgb8[:, :, :, :-1], dtype=np.float64).reshape(n, 3, -1)
        gram = np.einsum("ncp,ndp->ncd", d, d)
    cov = gram - npix * m[:, :, None] * m[:, None, :]
    energy = np.maximum(np.diagonal(cov, axis1=1, axis2=2), 1e-6)
    for a, b in ((0, 1), (1, 2), (0, 2)):
        feats.append((cov[:, a, b] / np.sqrt(energy[:, a] * energy[:, b]))[:, None])
    grey_e = np.maximum(cov.sum(axis=(1, 2)) / 3.0, 1e-6)  # residual energy along (1,1,1)/sqrt(3)
    chroma_e = np.maximum(energy.sum(axis=1) - grey_e, 1e-6)  # energy orthogonal to grey
    feats.append(np.log10(chroma_e / grey_e)[:, None])
    feats.append(np.full((n, 1), np.log2(min(h, w))))
    return np.concatenate(feats, axis=1).astype(np.float64)


def spectral_features(image: np.ndarray, *, tile: int = TILE, max_tiles: int = MAX_TILES) -> np.ndarray:
    """Tile-averaged spectral features of one image (see the module docstring).

    Parameters
    ----------
    image : ndarray
        ``H×W×3`` uint8 RGB, at least 16 pixels on a side.
    tile, max_tiles : int
        Native-resolution tiling (:func:`fakescope.detectors.base.grid_tiles`, 8-aligned).

    Returns
    -------
    ndarray
        ``(len(FEATURE_NAMES),)`` float64.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f = spectral_features(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    >>> f.shape == (len(FEATURE_NAMES),)
    True
    """
    check_rgb(image)
    return _planar_features(_planes(grid_tiles(image, tile, max_tiles, align=8))).mean(axis=0)


def _planes(tiles: Sequence[np.ndarray]) -> np.ndarray:
    """Same-size ``h×w×3`` tiles as one contiguous ``(n, 3, h, w)`` uint8 stack (one copy)."""
    planes = np.empty((len(tiles), 3) + tiles[0].shape[:2], np.uint8)
    for i, t in enumerate(tiles):
        planes[i] = t.transpose(2, 0, 1)
    return planes


class NumpyMLP:
    """Standardise, then dense layers with ReLU between them; the last layer gives one logit.

    A logistic regression is the special case with a single layer.

    Parameters
    ----------
    mean, scale : ndarray
        Standardisation ``(x - mean) / scale``.
    weights, biases : sequence of ndarray
        ``weights[i]`` is ``(in, out)``; the last layer has ``out == 1``.
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray, weights: Sequence[np.ndarray],
                 biases: Sequence[np.ndarray]) -> None:
        if len(weights) != len(biases) or not weights:
            raise WeightsError("an MLP needs as many bias vectors as weight matrices, and at least one")
        self.mean = np.asarray(mean, np.float64)
        self.scale = np.asarray(scale, np.float64)
        self.weights = [np.asarray(w, np.float64) for w in weights]
        self.biases = [np.asarray(b, np.float64) for b in biases]
        if self.weights[-1].shape[1] != 1:
            raise WeightsError("the last MLP layer must have one output")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = (np.atleast_2d(x) - self.mean) / self.scale
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        return h[:, 0]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays for ``np.savez`` (``mean``, ``scale``, ``w0``, ``b0``, ``w1``, ...)."""
        out = {"mean": self.mean, "scale": self.scale}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"w{i}"], out[f"b{i}"] = w, b
        return out

    @classmethod
    def from_arrays(cls, arrays: Any) -> "NumpyMLP":
        """Inverse of :meth:`to_arrays` (a dict or an ``NpzFile``)."""
        n = sum(1 for k in arrays if k.startswith("w"))
        try:
            return cls(arrays["mean"], arrays["scale"], [arrays[f"w{i}"] for i in range(n)],
                       [arrays[f"b{i}"] for i in range(n)])
        except KeyError as e:
            raise WeightsError(f"spectral weights lack array {e}") from None


class SpectralDetector(Detector):
    """Residual-spectrum features averaged over native-resolution tiles, then a numpy MLP."""

    name = "spectral"
    min_side = 16

    def __init__(self, card: DetectorCard) -> None:
        super().__init__(card)
        path = card.verify()
        if path is None:
            raise WeightsError("the spectral card names no weights file")
        try:
            with np.load(path, allow_pickle=False) as z:
                self.mlp = NumpyMLP.from_arrays({k: z[k] for k in z.files})
        except (OSError, ValueError) as e:
            raise WeightsError(f"cannot read spectral weights {path}: {e}") from e
        if self.mlp.mean.shape != (len(FEATURE_NAMES),):
            raise WeightsError(f"spectral weights expect {self.mlp.mean.shape} features, "
                               f"this code computes {len(FEATURE_NAMES)}")
        self.tile = int(card.extra.get("tile", TILE))
        self.max_tiles = int(card.extra.get("max_tiles", MAX_TILES))

    def features(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """``(n, n_features)`` spectral features."""
        return np.stack([spectral_features(im, tile=self.tile, max_tiles=self.max_tiles) for im in images])

    def staged_raw_score(self, image: np.ndarray) -> tuple[float, Callable[[], float] | None]:
        """The MLP on the features of one chessboard colour of the tile grid, and a function adding
        the other tiles' features: the MLP on the mean over all tiles, as :meth:`raw_scores` gives it."""
        check_rgb(image)
        tiles = grid_tiles(image, self.tile, self.max_tiles, align=8)
        first, rest = two_stage_indices(image.shape[0], image.shape[1], self.tile, self.max_tiles)
        if not rest or len(first) + len(rest) != len(tiles):
            return self.raw_score(image), None
        fa = _planar_features(_planes([tiles[i] for i in first]))

        def finish() -> float:
            fb = _planar_features(_planes([tiles[i] for i in rest]))
            return float(self.mlp(np.concatenate([fa, fb]).mean(axis=0))[0])

        return float(self.mlp(fa.mean(axis=0))[0]), finish

    def raw_scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """MLP logit per image (higher = more likely AI-generated)."""
        if len(images) == 0:
            return np.zeros(0, np.float64)
        return self.mlp(self.features(images)).astype(np.float64)


@DETECTORS.register("spectral")
def _create(**kw: Any) -> Detector:
    return SpectralDetector(load_card("spectral", kw.pop("card_path", None)), **kw)
