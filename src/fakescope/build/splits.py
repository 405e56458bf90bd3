"""The ``splits`` step of the model build: derive the frozen split manifest from the data.

The manifest (:mod:`fakescope.io.splits`) is committed; this step only *adds* rows for files that
are new to it (a new source in the shared data folder, a curated system photo) and never moves a
listed file to another split.  The rules that derived today's rows:

* **CIFAKE** – ``cifake/train`` indices ``0..1999`` per class → ``train``, ``2000..2499`` →
  ``calibration``; ``cifake/val`` → ``test``.
* **modern** – grouped by ``source_path`` (tiles of one grid stay together), ranked by
  ``sha256(source_path)`` inside each generator (reals: inside each real source) and cut
  60 / 20 / 20; :data:`fakescope.training.data.HELD_OUT_GENERATORS` only in ``test``.
* **photos** – Kodak24, Wikipedia photos and curated Debian-packaged photos (``mate-backgrounds``,
  ``opencv-doc``), grouped by scene, ranked by the sha256 of the group's first file, cut 60/20/20
  (derived once on a machine with the packages; frozen since, so their absence moves nothing).
* **comfyui**, **camera**, **faces** – third-party sources no shipped artefact was trained or
  tuned on: split ``wild`` (evaluation only, leave-one-source-out).
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path
from typing import Callable, Sequence

from ..errors import UsageError
from ..io.splits import SPLIT_FILE, SplitRow, file_sha256, read_split, write_rows

__all__ = ["derive_rows", "merge_rows", "write_split", "rank_split", "hash_fraction", "SYSTEM_PHOTOS"]

HELD_OUT_GENERATORS: tuple[str, ...] = (
    "Midjourney v6",
    "FLUX.1 [dev]",
    "FLUX.1 [schnell]",
    "Kandinsky 3",
    "StyleGAN2 (stylegan2-pytorch, hands 256)",
)

# Debian-packaged photographs (camera photos only: no renders, logos, charts or calibration boards).
_MATE_DIR = "/usr/share/backgrounds/mate/nature"
_OPENCV_DIR = "/usr/share/doc/opencv-doc/examples/data"
_OPENCV_PHOTOS = (
    "aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "apple.jpg", "baboon.jpg", "board.jpg",
    "building.jpg", "butterfly.jpg", "ela_original.jpg", "fruits.jpg", "graf1.png", "graf3.png", "home.jpg",
    "left.jpg", "right.jpg", "leuvenA.jpg", "leuvenB.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png",
    "rubberwhale2.png", "smarties.png", "squirrel_cls.jpg", "stuff.jpg", "sudoku.png",
)
#: folder → Debian package of the curated system photos
SYSTEM_PHOTOS = {_MATE_DIR: "mate-backgrounds", _OPENCV_DIR: "opencv-doc"}
# files that show the same scene share a group so they never straddle two splits
_PHOTO_GROUPS = {"aero1": "aero", "aero3": "aero", "aloeL": "aloe", "aloeR": "aloe", "left": "leftright",
                 "right": "leftright", "leuvenA": "leuven", "leuvenB": "leuven", "graf1": "graf",
                 "graf3": "graf", "rubberwhale1": "rubberwhale", "rubberwhale2": "rubberwhale"}

Log = Callable[[str], None]


def hash_fraction(key: str) -> float:
    """A stable number in ``[0, 1)`` from ``sha256(key)``.

    >>> round(hash_fraction("abc"), 6)
    0.728395
    """
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:13], 16) / float(1 << 52)


def rank_split(keys: Sequence[str], *, train: float = 0.6, calibration: float = 0.2) -> dict[str, str]:
    """Assign each distinct key to a split by its hash rank (stratified cut).

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


def _csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise UsageError(f"manifest not found: {path}")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _cifake(root: Path) -> list[SplitRow]:
    out = []
    for part in ("train", "val"):
        for cls, label in (("real", 0), ("fake", 1)):
            for f in sorted((root / "cifake" / part / cls).glob("*.jpg")):
                idx = int(f.stem)
                if part == "val":
                    split = "test"
                elif idx < 2000:
                    split = "train"
                elif idx < 2500:
                    split = "calibration"
                else:
                    continue
                out.append(SplitRow(f"cifake/{part}/{cls}/{f.name}", file_sha256(f), label, split, "cifake",
                                    "cifake", f"{part}/{cls}/{f.stem}", False, f"cifake:{cls}"))
    return out


def _modern(root: Path) -> list[SplitRow]:
    rows = _csv(root / "modern" / "manifest.csv")
    key = {id(r): f"{r['source_repo']}/{r['source_path']}" for r in rows}
    by_stratum: dict[str, list[str]] = {}
    for r in rows:
        stratum = r["generator"] if r["label"] == "fake" else "real:" + r["generator"]
        by_stratum.setdefault(stratum, []).append(key[id(r)])
    assignment: dict[str, str] = {}
    for keys in by_stratum.values():
        assignment.update(rank_split(keys))
    out = []
    for r in rows:
        label = 1 if r["label"] == "fake" else 0
        fmt = r["format"].upper()
        lossless = "JPEG" not in fmt and "WEBP" not in fmt  # "PNG (lossless crop of JPEG grid)" has JPEG traces
        if label and r["generator"] in HELD_OUT_GENERATORS:
            group, split = "unseen:" + r["generator"], "test"
        else:
            group = "modern:" + r["generator"] if label else "modern:real"
            split = assignment[key[id(r)]]
        out.append(SplitRow("modern/" + r["path"], r["sha256"] or file_sha256(root / "modern" / r["path"]), label,
                            split, "modern", group, key[id(r)], lossless,
                            "modern:" + r["source_repo"].split("@")[0]))
    return out


def _photos(root: Path) -> list[SplitRow]:
    base = root / "real_photos"
    files: list[tuple[Path, str, str]] = []  # path, origin, package
    for sub, origin in (("kodak", "photos:kodak"), ("wikipedia-photos", "photos:wikipedia")):
        files += [(f, origin, "") for f in sorted((base / sub).glob("*.png"))]
    files += [(f, "photos:mate-backgrounds", "mate-backgrounds") for f in sorted(Path(_MATE_DIR).glob("*.jpg"))]
    files += [(Path(_OPENCV_DIR) / n, "photos:opencv-doc", "opencv-doc") for n in _OPENCV_PHOTOS
              if (Path(_OPENCV_DIR) / n).is_file()]
    groups: dict[str, list[tuple[Path, str, str]]] = {}
    for item in files:
        groups.setdefault(_PHOTO_GROUPS.get(item[0].stem, str(item[0])), []).append(item)
    group_key = {g: file_sha256(fs[0][0]) for g, fs in groups.items()}
    assignment = rank_split(list(group_key.values()))
    out = []
    for g, fs in groups.items():
        for f, origin, package in fs:
            path = str(f) if package else os.path.relpath(f, root).replace(os.sep, "/")
            out.append(SplitRow(path, file_sha256(f), 0, assignment[group_key[g]], "photos", "photos",
                                group_key[g][:16], f.suffix.lower() == ".png", origin, package))
    return out


def _wild(root: Path) -> list[SplitRow]:
    """Third-party sources never trained or tuned on: ``split = wild``."""
    out = []
    for r in _csv(root / "comfyui" / "manifest.csv"):
        out.append(SplitRow("comfyui/" + r["path"], r["sha256"], 1, "wild", "comfyui", "comfyui:" + r["generator"],
                            "comfyui/" + r["path"], "lossless" in r["format"].lower(), "comfyui"))
    for r in _csv(root / "camera" / "manifest.csv"):
        out.append(SplitRow("camera/" + r["path"], r["sha256"], 0, "wild", "camera", "camera", "camera/" + r["path"],
                            False, "camera"))
    for r in _csv(root / "faces" / "manifest.csv"):
        label = 1 if r["label"] == "fake" else 0
        out.append(SplitRow("faces/" + r["path"], r["sha256"], label, "wild", "faces",
                            "faces:" + ("fake" if label else "real"), "faces/" + r["path"],
                            r["path"].lower().endswith(".png"), "faces:" + ("flux-lora" if label else "web-photos")))
    return out


def derive_rows(root: str | os.PathLike[str]) -> list[SplitRow]:
    """Split rows for every file found under ``root`` and in the curated system folders, by the rules
    in the module docstring.  Used to add new data; the committed manifest stays the authority."""
    root = Path(root)
    return _cifake(root) + _modern(root) + _photos(root) + _wild(root)


def merge_rows(frozen: Sequence[SplitRow], derived: Sequence[SplitRow]) -> tuple[list[SplitRow], list[SplitRow]]:
    """The frozen rows, then every derived row whose path is not listed yet.  Returns
    ``(merged, added)``; a listed file never changes split."""
    known = {r.path for r in frozen}
    added = [r for r in derived if r.path not in known]
    return list(frozen) + added, added


def write_split(root: str | os.PathLike[str], *, path: str | os.PathLike[str] = SPLIT_FILE,
                log: Log | None = None) -> list[SplitRow]:
    """The ``splits`` build step: add rows for new files to the manifest at ``path`` (created if
    absent).  Returns the rows added."""
    frozen = read_split(path) if Path(path).is_file() else []
    merged, added = merge_rows(frozen, derive_rows(root))
    if added or not Path(path).is_file():
        write_rows(merged, path)
    if log:
        log(f"split manifest {path}: {len(merged)} rows ({len(added)} added)")
    return added
