"""Training data: deterministic splits over CIFAKE, the modern set and full-resolution photos.

Every split is a pure function of file names/paths (hashes), so the same data gives the
same splits on every machine.  The splits (see :data:`SPLITS_DOC`):

* **CIFAKE** – ``cifake/train`` indices ``0..1999`` per class → ``train``,
  ``2000..2499`` per class → ``calibration``; ``cifake/val`` (500 + 500) → ``test``.
* **modern** – grouped by ``source_path`` (tiles of one grid stay together), ranked by
  ``sha256(source_path)`` inside each generator (reals: inside each real source) and cut
  60 / 20 / 20.  :data:`HELD_OUT_GENERATORS` are removed from training and calibration
  entirely and appear only in the ``test`` split as group ``unseen:<generator>``.
* **photos** – Kodak24, Wikipedia photos and a curated list of Debian-packaged photos,
  grouped by scene (stereo/sequence pairs stay together), ranked by the sha256 of the
  group's first file and cut 60 / 20 / 20.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Literal, Sequence

import numpy as np

from ..errors import UsageError

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
    "load_rgb",
    "select",
    "with_split",
    "slug",
]

Split = Literal["train", "calibration", "test"]

HELD_OUT_GENERATORS: tuple[str, ...] = (
    "Midjourney v6",
    "FLUX.1 [dev]",
    "FLUX.1 [schnell]",
    "Kandinsky 3",
    "StyleGAN2 (stylegan2-pytorch, hands 256)",
)

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
    "source image's split."
)

# Debian-packaged photographs (camera photos only: no renders, logos, charts or calibration boards).
_MATE_GLOB = "/usr/share/backgrounds/mate/nature"
_OPENCV_DIR = "/usr/share/doc/opencv-doc/examples/data"
_OPENCV_PHOTOS = (
    "aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "apple.jpg", "baboon.jpg", "board.jpg",
    "building.jpg", "butterfly.jpg", "ela_original.jpg", "fruits.jpg", "graf1.png", "graf3.png", "home.jpg",
    "left.jpg", "right.jpg", "leuvenA.jpg", "leuvenB.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png",
    "rubberwhale2.png", "smarties.png", "squirrel_cls.jpg", "stuff.jpg", "sudoku.png",
)
# files that show the same scene share a group so they never straddle two splits
_PHOTO_GROUPS = {"aero1": "aero", "aero3": "aero", "aloeL": "aloe", "aloeR": "aloe", "left": "leftright",
                 "right": "leftright", "leuvenA": "leuven", "leuvenB": "leuven", "graf1": "graf",
                 "graf3": "graf", "rubberwhale1": "rubberwhale", "rubberwhale2": "rubberwhale"}


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
    """

    path: str
    label: int
    group: str
    split: str
    source: str
    key: str
    lossless: bool


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The shared data folder: ``root``, else ``$FAKESCOPE_DATA``, else ``<repo>/../shared/data``."""
    if root is not None:
        return Path(root)
    env = os.environ.get("FAKESCOPE_DATA")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3]
    return (repo / ".." / "shared" / "data").resolve()


def hash_fraction(key: str) -> float:
    """A stable number in ``[0, 1)`` from ``sha256(key)``.

    >>> round(hash_fraction("abc"), 6)
    0.728395
    """
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:13], 16) / float(1 << 52)


def rank_split(keys: Sequence[str], *, train: float = 0.6, calibration: float = 0.2) -> dict[str, str]:
    """Assign each distinct key to a split by its hash rank (stratified cut).

    Keys are sorted by :func:`hash_fraction`; the key at rank ``i`` of ``n`` goes to
    ``train`` if ``(i + 0.5) / n < train``, else ``calibration`` if below
    ``train + calibration``, else ``test``.  One key goes to ``train``.

    >>> rank_split(["a", "b", "c", "d", "e"])
    {'d': 'train', 'c': 'train', 'b': 'train', 'e': 'calibration', 'a': 'test'}
    """
    uniq = sorted(set(keys), key=lambda k: (hash_fraction(k), k))
    n = len(uniq)
    out: dict[str, str] = {}
    for i, k in enumerate(uniq):
        q = (i + 0.5) / n
        out[k] = "train" if q < train else ("calibration" if q < train + calibration else "test")
    return out


def cifake_records(root: str | os.PathLike[str] | None = None) -> list[Record]:
    """CIFAKE records with the fixed index splits (see module docstring)."""
    base = data_root(root) / "cifake"
    if not base.is_dir():
        raise UsageError(f"CIFAKE not found under {base}")
    out: list[Record] = []
    for part in ("train", "val"):
        for cls, label in (("real", 0), ("fake", 1)):
            files = sorted((base / part / cls).glob("*.jpg"))
            for f in files:
                idx = int(f.stem)
                if part == "val":
                    split = "test"
                elif idx < 2000:
                    split = "train"
                elif idx < 2500:
                    split = "calibration"
                else:
                    continue
                out.append(Record(str(f), label, "cifake", split, "cifake", f"{part}/{cls}/{f.stem}", False))
    return out


def modern_records(root: str | os.PathLike[str] | None = None) -> list[Record]:
    """Modern-set records split by ``source_path`` hash per generator; held-out generators → test."""
    base = data_root(root) / "modern"
    manifest = base / "manifest.csv"
    if not manifest.is_file():
        raise UsageError(f"modern manifest not found: {manifest}")
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_stratum: dict[str, list[str]] = {}
    for r in rows:
        stratum = r["generator"] if r["label"] == "fake" else "real:" + r["generator"]
        by_stratum.setdefault(stratum, []).append(_modern_key(r))
    assignment: dict[str, str] = {}
    for keys in by_stratum.values():
        assignment.update(rank_split(keys))
    out: list[Record] = []
    for r in rows:
        label = 1 if r["label"] == "fake" else 0
        key = _modern_key(r)
        fmt = r["format"].upper()
        lossless = "JPEG" not in fmt and "WEBP" not in fmt  # "PNG (lossless crop of JPEG grid)" has JPEG traces
        if label and r["generator"] in HELD_OUT_GENERATORS:
            group, split = "unseen:" + r["generator"], "test"
        else:
            group = "modern:" + r["generator"] if label else "modern:real"
            split = assignment[key]
        out.append(Record(str(base / r["path"]), label, group, split, "modern", key, lossless))
    return out


def _modern_key(row: dict[str, str]) -> str:
    return f"{row['source_repo']}/{row['source_path']}"


def photo_records(root: str | os.PathLike[str] | None = None, *, include_system: bool = True) -> list[Record]:
    """Full-resolution real photos (lossless Kodak/Wikipedia PNGs and curated Debian photos).

    Parameters
    ----------
    root : path, optional
        Shared data folder (see :func:`data_root`).
    include_system : bool
        Add the Debian-packaged photos when their folders exist (they may be missing on CI).
    """
    base = data_root(root) / "real_photos"
    files: list[Path] = []
    for sub in ("kodak", "wikipedia-photos"):
        files += sorted((base / sub).glob("*.png"))
    if include_system:
        files += sorted(Path(_MATE_GLOB).glob("*.jpg"))
        files += [Path(_OPENCV_DIR) / n for n in _OPENCV_PHOTOS if (Path(_OPENCV_DIR) / n).is_file()]
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(_PHOTO_GROUPS.get(f.stem, str(f)), []).append(f)
    group_key = {g: hashlib.sha256(fs[0].read_bytes()).hexdigest() for g, fs in groups.items()}
    assignment = rank_split(list(group_key.values()))
    out = []
    for g, fs in groups.items():
        for f in fs:
            lossless = f.suffix.lower() == ".png"
            out.append(Record(str(f), 0, "photos", assignment[group_key[g]], "photos", group_key[g][:16], lossless))
    return out


def all_records(root: str | os.PathLike[str] | None = None, *, include_system: bool = True) -> list[Record]:
    """CIFAKE + modern + photo records (auto-encoder fakes are made by :mod:`.autoencoder`)."""
    return cifake_records(root) + modern_records(root) + photo_records(root, include_system=include_system)


def select(records: Iterable[Record], *, split: str | None = None, source: str | None = None,
           label: int | None = None) -> list[Record]:
    """Filter records by split, source and label (``None`` = any)."""
    return [r for r in records
            if (split is None or r.split == split) and (source is None or r.source == source)
            and (label is None or r.label == label)]


def load_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode a file to an ``H×W×3`` uint8 RGB array, EXIF orientation applied.

    The same pixels as :func:`fakescope.io.decode.load` (alpha is dropped by PIL's
    ``convert("RGB")``, palette and grey images are expanded).
    """
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


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
