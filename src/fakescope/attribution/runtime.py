"""The attribution analyzer at scan time and the user's registry of enrolled generators.

:class:`Attributor` reads ``weights/attribution.json`` (its card) with ``attribution.onnx`` (EfficientNet-Lite0
up to the last of the card's ``stages`` and the pooled statistics of those maps: 2-5, computed by
:func:`fakescope.detectors.rine.crop_features`; the rine detector's head reads stages 3-5 of the same export),
when the card names one the log noise-residual spectrum of the same crops (``extra.spectrum``,
:mod:`fakescope.attribution.residual`, numpy only), and ``attribution.npz`` (the whitening and the class means,
:mod:`fakescope.attribution.model`).  A
:class:`Registry` (a small JSON file; by default ``<user data dir>/fakescope/generators.json``) adds the
means of enrolled generators; no retraining.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import UsageError, WeightsError
from ..types import Attribution, Evidence
from .families import FAMILIES, canonical, family_words
from .model import AttributionResult, ClassMeans, attribute_z, load_arrays

__all__ = ["ATTRIBUTION_CARD", "Attributor", "Registry", "default_registry_path", "image_features",
           "enrolment_views"]

ATTRIBUTION_CARD = "attribution"
MAX_CROPS = 4
ENROL_SEED = 20261207
MIN_SIDE = 96  # the class means were fitted on images of at least 128 px: thumbnails are not attributed


def default_registry_path() -> Path:
    """``$FAKESCOPE_REGISTRY``, else ``$XDG_DATA_HOME/fakescope/generators.json`` (``~/.local/share/...``)."""
    env = os.environ.get("FAKESCOPE_REGISTRY")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "fakescope" / "generators.json"


def image_features(model: Any, images: Sequence[np.ndarray], *, max_crops: int = MAX_CROPS,
                   spectrum: dict[str, int] | None = None) -> np.ndarray:
    """The attribution features of each image: :func:`fakescope.detectors.rine.crop_features` (the mean
    over up to ``max_crops`` native 224-px crops of the pooled stage statistics) and, with ``spectrum``
    (``{"pool": p, "grid": g}``), the log residual spectrum of the same crops
    (:func:`fakescope.attribution.residual.spectrum_features` pooled by ``p``, averaged down to ``g``x``g``)."""
    from ..detectors.rine import crop_features

    x = crop_features(model, images, max_crops=max_crops)
    if not spectrum or not len(images):
        return x
    from ..backbones import native_crops
    from .residual import coarsen, spectrum_features

    sp = np.stack([spectrum_features(native_crops(im, max_crops=max_crops), int(spectrum["pool"])) for im in images])
    return np.concatenate([x, coarsen(sp, int(spectrum["grid"]))], axis=1)


def enrolment_views(image: np.ndarray, key: str) -> list[np.ndarray]:
    """An enrolment image as stored and through the laundering chains the shipped classes were fitted
    with (:func:`fakescope.perturbations.laundering.training_chains`, parameters drawn from ``key``), so an enrolled mean
    sits in the same place as a shipped one."""
    from ..perturbations.laundering import training_chains

    return [c.apply(image) for _, c in training_chains(key, ENROL_SEED)]


@dataclass
class Registry:
    """User-enrolled generators: ``{name: {"family", "mean" (z space), "count", "created", "images"}}``
    stored as JSON at ``path``, tied to the attribution model's sha256 (a registry made with other
    weights is refused with a clear message)."""

    path: Path
    model_sha256: str
    entries: dict[str, dict[str, Any]]

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None, model_sha256: str) -> "Registry":
        p = Path(path) if path is not None else default_registry_path()
        if not p.exists():
            return cls(p, model_sha256, {})
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(f"cannot read the generator registry {p}: {e}") from None
        if d.get("model_sha256") != model_sha256:
            raise UsageError(f"the generator registry {p} was made with other attribution weights "
                             f"({str(d.get('model_sha256'))[:12]}…, now {model_sha256[:12]}…): enrol again into a "
                             "new registry")
        return cls(p, model_sha256, dict(d.get("generators", {})))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"format": "fakescope-generators/1", "model_sha256": self.model_sha256,
                                   "generators": self.entries}, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def forget(self, name: str) -> bool:
        return self.entries.pop(name, None) is not None

    def extend(self, means: ClassMeans) -> ClassMeans:
        """``means`` with the enrolled generators added (an enrolled name replaces a shipped one)."""
        for name, e in sorted(self.entries.items()):
            means = means.plus(name, str(e.get("family") or "unknown"), np.asarray(e["mean"], np.float64),
                               int(e.get("count", 1)))
        return means


class Attributor:
    """Attribute images to generators (see :mod:`fakescope.attribution.model`).

    Parameters
    ----------
    card_path : the card (default ``weights/attribution.json``).
    registry : a registry file of enrolled generators (None: the default path, when it exists;
        ``False``: none).
    threads : ONNX Runtime intra-op threads.

    Examples
    --------
    >>> import numpy as np
    >>> a = Attributor(registry=False)
    >>> r = a.attribute([np.zeros((64, 64, 3), np.uint8)])[0]
    >>> r.name in a.class_names() or r.name == "unknown"
    True
    """

    def __init__(self, card_path: str | os.PathLike[str] | None = None, *,
                 registry: "str | os.PathLike[str] | None | bool" = None, threads: int = 1) -> None:
        from ..detectors.base import OnnxModel, load_card, sha256_file

        self.card = load_card(ATTRIBUTION_CARD, card_path)
        onnx_path = self.card.verify()
        if onnx_path is None:
            raise WeightsError("the attribution card names no weights file")
        arrays = onnx_path.with_name(str(self.card.extra["arrays"]))
        if sha256_file(arrays) != self.card.extra["arrays_sha256"]:
            raise WeightsError(f"{arrays} does not match its card's sha256")
        self.space, self.base_means, scalars = load_arrays(arrays)
        self.threshold = float(scalars["threshold"])
        self.temperature = float(scalars["temperature"])
        self.family_threshold = float(scalars.get("family_threshold", 0.5))
        self.max_crops = int(self.card.extra.get("max_crops", MAX_CROPS))
        self.spectrum = self.card.extra.get("spectrum") or None
        self.model = OnnxModel(onnx_path, threads=threads)
        self.model_sha256 = str(self.card.extra["arrays_sha256"])
        self.registry: Registry | None = None
        if registry is not False:
            path = None if registry in (None, True) else registry
            if path is not None or registry is True or default_registry_path().exists():
                self.registry = Registry.open(path, self.model_sha256)
        self.means = self.registry.extend(self.base_means) if self.registry else self.base_means

    def class_names(self) -> tuple[str, ...]:
        return tuple(n for n in self.means.names if n != "real")

    def features(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return image_features(self.model, images, max_crops=self.max_crops, spectrum=self.spectrum)

    def attribute_features(self, x: np.ndarray) -> list[AttributionResult]:
        return attribute_z(self.space(x), self.means, threshold=self.threshold, temperature=self.temperature,
                           family_threshold=self.family_threshold)

    def attribute(self, images: Sequence[np.ndarray]) -> list[AttributionResult]:
        """One :class:`~fakescope.attribution.model.AttributionResult` per image."""
        return self.attribute_features(self.features(images))

    def evidence(self, image: np.ndarray) -> Evidence:
        """The attribution of one image as an evidence item (``kind="attribution"``, weight ``none``: it
        says which generator, not whether; fusion names it in the verdict's ``generator``)."""
        if min(image.shape[:2]) < MIN_SIDE:
            return Evidence(source="attribution", kind="attribution", score=0.5, weight="none",
                            summary=f"the image is too small ({min(image.shape[:2])} px) to attribute: the "
                                    f"attribution model knows images of {MIN_SIDE} px and more",
                            details={"generator": "unknown", "family": "unknown", "confidence": 0.0,
                                     "reason": "too small"})
        r = self.attribute([image])[0]
        if r.accepted:
            summary = (f"pixels resemble {r.name} ({family_words(r.family)}) most among "
                       f"{len(self.class_names())} known generators (confidence {r.confidence:.2f})")
        elif r.family != "unknown":
            summary = (f"pixels match no known generator closely (nearest {r.nearest}); the family looks like "
                       f"{family_words(r.family)} (confidence {r.confidence:.2f})")
        else:
            summary = f"pixels match no known generator or family closely (nearest {r.nearest})"
        return Evidence(source="attribution", kind="attribution", score=0.5, summary=summary, weight="none",
                        details={"generator": r.name, "family": r.family, "confidence": r.confidence,
                                 "attribution": {**r.to_dict(), "classes": len(self.class_names())}})

    # -- enrolment -------------------------------------------------------------------------------
    def enroll(self, name: str, images: Sequence[np.ndarray], *, family: str | None = None,
               keys: Sequence[str] | None = None, launder: bool = True, save: bool = True) -> dict[str, Any]:
        """Add (or replace) generator ``name`` from a few of its images: the mean of their features
        (each as stored and laundered, :func:`enrolment_views`) in the model's space."""
        if not images:
            raise UsageError("enrol at least one image")
        fam = family or canonical(name)[1]
        if fam not in FAMILIES:
            raise UsageError(f"unknown family {fam!r}; families: {', '.join(FAMILIES)}")
        if self.registry is None:
            self.registry = Registry.open(None, self.model_sha256)
        keys = list(keys) if keys is not None else [f"{name}:{i}" for i in range(len(images))]
        views = [v for im, k in zip(images, keys) for v in (enrolment_views(im, k) if launder else [im])]
        z = self.space(self.features(views))
        entry = {"family": fam, "mean": [float(v) for v in z.mean(axis=0)], "count": len(images),
                 "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.registry.entries[name] = entry
        if save:
            self.registry.save()
        self.means = self.registry.extend(self.base_means)
        return entry

    def forget(self, name: str) -> bool:
        if self.registry is None or not self.registry.forget(name):
            return False
        self.registry.save()
        self.means = self.registry.extend(self.base_means)
        return True

    def to_attribution(self, r: AttributionResult) -> Attribution:
        return Attribution(name=r.name, family=r.family, confidence=r.confidence)
