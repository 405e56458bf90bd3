"""Training data: the frozen train/calibration/test/wild split over the shared data.

Every record comes from the committed split manifest (:mod:`fakescope.io.splits`): the same
file is in the same split on every machine, whichever optional files a machine has (absent
system photos are skipped; nothing else moves).  The rules that derived the manifest are in
:mod:`fakescope.build.splits` (see :data:`SPLITS_DOC`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import Iterable, Literal

import numpy as np

from ..build import splits as _build_splits
from ..errors import UsageError
from ..io.splits import SPLIT_FILE, SplitRow, data_root, read_split, resolve

__all__ = [
    "Record",
    "SPLITS_DOC",
    "HELD_OUT_GENERATORS",
    "data_root",
    "hash_fraction",
    "rank_split",
    "cifake_records",
    "modern_records",
    "photo_records",
    "all_records",
    "wild_records",
    "load_rgb",
    "select",
    "with_split",
    "slug",
]

Split = Literal["train", "calibration", "test"]

HELD_OUT_GENERATORS: tuple[str, ...] = _build_splits.HELD_OUT_GENERATORS

SPLITS_DOC = (
    "CIFAKE: cifake/train indices 0..1999 per class = train, 2000..2499 per class = calibration, "
    "cifake/val (500 real + 500 fake) = test. "
    "modern: grouped by source_path, ranked by sha256(source_path) within each generator (reals within "
    "each real source) and cut 60/20/20 train/calibration/test; never-seen generators "
    f"({'; '.join(HELD_OUT_GENERATORS)}) are excluded from train and calibration and tested as 'unseen:*'. "
    "photos (Kodak24, Wikipedia photos, curated Debian mate-backgrounds/nature and opencv-doc photos): "
    "grouped by scene, ranked by sha256 of the file bytes and cut 60/20/20. "
    "ae: reconstructions of photos and modern reals by four stride-8 auto-encoders (nearest, transposed-conv, "
    "bilinear and pixel-shuffle decoders) trained on train-split real photos only, each reconstruction in its "
    "source image's split. "
    "Frozen in the committed manifest fakescope/io/split.csv (sha256 per file; absent optional files are "
    "skipped, nothing else moves); comfyui, camera and faces are split 'wild' (never trained or tuned on)."
)

@dataclass(frozen=True)
class Record:
    """One labelled image file and where it belongs.

    Attributes
    ----------
    path : str
        Absolute path of the image file.
    label : int
        1 = AI-generated (or auto-encoder reconstruction), 0 = real.
    group : str
        Reporting group: ``"cifake"``, ``"modern:<generator>"``, ``"modern:real"``,
        ``"unseen:<generator>"``, ``"photos"`` or ``"ae"``.
    split : str
        ``"train"``, ``"calibration"`` or ``"test"``.
    source : str
        ``"cifake"``, ``"modern"``, ``"photos"`` or ``"ae"``.
    key : str
        The grouping key the split was derived from.
    lossless : bool
        Whether the file itself is lossless (PNG/WebP-lossless/...), i.e. carries no JPEG
        traces of its own.
    origin : str
        The collection it came from (repository, generator family, photo collection): the unit
        leave-one-source-out leaves out ("" for derived records made before origins existed).
    """

    path: str
    label: int
    group: str
    split: str
    source: str
    key: str
    lossless: bool
    origin: str = ""


hash_fraction = _build_splits.hash_fraction
rank_split = _build_splits.rank_split


def _records(root: str | os.PathLike[str] | None, sources: tuple[str, ...], *, include_system: bool = True,
             manifest: str | os.PathLike[str] = SPLIT_FILE) -> list[Record]:
    """Records of the frozen manifest from ``sources`` whose files exist under the data folder, in
    manifest order (system files only with ``include_system``)."""
    base = data_root(root)
    rows = [r for r in read_split(manifest) if r.source in sources and (include_system or not r.package)]
    return [_record(r, path) for r, path in resolve(rows, base)]


def _record(row: SplitRow, path: str) -> Record:
    return Record(path, row.label, row.group, row.split, row.source, row.key, row.lossless, row.origin)


def cifake_records(root: str | os.PathLike[str] | None = None) -> list[Record]:
    """CIFAKE records with the fixed index splits (see :mod:`fakescope.build.splits`)."""
    if not (data_root(root) / "cifake").is_dir():
        raise UsageError(f"CIFAKE not found under {data_root(root) / 'cifake'}")
    return _records(root, ("cifake",))


def modern_records(root: str | os.PathLike[str] | None = None) -> list[Record]:
    """Modern-set records split by ``source_path`` hash per generator; held-out generators → test."""
    if not (data_root(root) / "modern" / "manifest.csv").is_file():
        raise UsageError(f"modern manifest not found: {data_root(root) / 'modern' / 'manifest.csv'}")
    return _records(root, ("modern",))


def photo_records(root: str | os.PathLike[str] | None = None, *, include_system: bool = True) -> list[Record]:
    """Full-resolution real photos (lossless Kodak/Wikipedia PNGs and curated Debian photos).

    Parameters
    ----------
    root : path, optional
        Shared data folder (see :func:`data_root`).
    include_system : bool
        Add the Debian-packaged photos that this machine has (their split is frozen: whether
        they are present moves no other photo).
    """
    return _records(root, ("photos",), include_system=include_system)


def wild_records(root: str | os.PathLike[str] | None = None) -> list[Record]:
    """The third-party sources no shipped artefact was trained or tuned on (``comfyui``, ``camera``,
    ``faces``; split ``wild``): evaluation and leave-one-source-out only."""
    return _records(root, ("comfyui", "camera", "faces"))


def all_records(root: str | os.PathLike[str] | None = None, *, include_system: bool = True,
                wild: bool = False) -> list[Record]:
    """CIFAKE + modern + photo records (auto-encoder fakes are made by :mod:`.autoencoder`), and the
    ``wild`` sources after them when ``wild`` is true."""
    recs = cifake_records(root) + modern_records(root) + photo_records(root, include_system=include_system)
    return recs + wild_records(root) if wild else recs


def select(records: Iterable[Record], *, split: str | None = None, source: str | None = None,
           label: int | None = None) -> list[Record]:
    """Filter records by split, source and label (``None`` = any)."""
    return [r for r in records
            if (split is None or r.split == split) and (source is None or r.source == source)
            and (label is None or r.label == label)]


def load_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode a file to an ``H×W×3`` uint8 RGB array: the scan's decoder (:func:`fakescope.io.decode.load`:
    EXIF orientation applied, transparency composited as the scan does), so training, calibration and
    scanning see the same pixels."""
    from ..io.decode import DecodeLimits, load

    return load(path, limits=DecodeLimits(keep_bytes=False)).image


def with_split(record: Record, split: str) -> Record:
    """A copy of ``record`` in another split."""
    return replace(record, split=split)


_GEN_SAFE = re.compile(r"[^A-Za-z0-9]+")


def slug(text: str) -> str:
    """A file-name-safe slug.

    >>> slug("FLUX.1 [dev]")
    'flux-1-dev'
    """
    return _GEN_SAFE.sub("-", text).strip("-").lower()
