"""The frozen data split: one committed manifest, the same on every machine.

``split.csv`` beside this module lists every image the model build may use — CIFAKE, the modern
set, the real photos (shared data and curated Debian-packaged photos), and the third-party
sources no shipped artefact was trained or tuned on (``comfyui``, ``camera``, ``faces``) — with
its sha256, label, split and *origin* (the unit that leave-one-source-out leaves out).  Which
split a file is in never depends on which other files a machine happens to have: a file that
is absent (a Debian package not installed) is skipped, and every other file keeps its split.

Columns
-------
path      relative to the shared data folder, or absolute for a system file (``package`` names it)
sha256    of the file's bytes (:func:`check_split` verifies)
label     1 AI-generated, 0 real
split     ``train``, ``calibration``, ``test`` (the shipped detectors' splits) or ``wild`` (third-party
          sources used only for evaluation: never trained or tuned on)
source    ``cifake``, ``modern``, ``photos``, ``comfyui``, ``camera`` or ``faces``
group     reporting group (``modern:<generator>``, ``unseen:<generator>``, ``photos``, ...)
key       the grouping key the split was derived from (a grid's tiles, a stereo pair share one)
lossless  1 when the file carries no lossy-compression traces of its own
origin    the collection it came from (a repository, a generator family, a photo collection)
package   the Debian package a system file comes from ("" for shared data)

The manifest is written by :func:`fakescope.build.splits.write_split` (``fakescope build splits``)
and only ever grows: rows are added for new data, existing rows never change split.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["data_root", "SPLIT_FILE", "SPLIT_COLUMNS", "SplitRow", "read_split", "split_sha256", "resolve", "check_split",
           "file_sha256"]

SPLIT_FILE = Path(__file__).with_name("split.csv")
SPLIT_COLUMNS = ("path", "sha256", "label", "split", "source", "group", "key", "lossless", "origin", "package")


@dataclass(frozen=True)
class SplitRow:
    """One row of the frozen split (see the module docstring for the columns)."""

    path: str
    sha256: str
    label: int
    split: str
    source: str
    group: str
    key: str
    lossless: bool
    origin: str
    package: str = ""

    def location(self, root: str | os.PathLike[str]) -> str:
        """The file's absolute path under the shared data folder ``root`` (system files: as listed)."""
        return self.path if os.path.isabs(self.path) else os.path.join(os.fspath(root), self.path)

    def as_csv(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256, "label": str(self.label), "split": self.split,
                "source": self.source, "group": self.group, "key": self.key,
                "lossless": "1" if self.lossless else "0", "origin": self.origin, "package": self.package}


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The shared data folder: ``root``, else ``$FAKESCOPE_DATA``, else ``<repo>/../shared/data``."""
    if root is not None:
        return Path(root)
    env = os.environ.get("FAKESCOPE_DATA")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3]
    return (repo / ".." / "shared" / "data").resolve()


def read_split(path: str | os.PathLike[str] = SPLIT_FILE) -> list[SplitRow]:
    """Every row of a split manifest, in file order."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != SPLIT_COLUMNS:
            raise ValueError(f"{path}: columns {reader.fieldnames} are not {list(SPLIT_COLUMNS)}")
        return [SplitRow(path=r["path"], sha256=r["sha256"], label=int(r["label"]), split=r["split"],
                         source=r["source"], group=r["group"], key=r["key"], lossless=r["lossless"] == "1",
                         origin=r["origin"], package=r["package"]) for r in reader]


def write_rows(rows: Iterable[SplitRow], path: str | os.PathLike[str]) -> None:
    """Write split rows as a manifest (``\\n`` line ends, so the file hashes the same everywhere)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=SPLIT_COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(r.as_csv())


def split_sha256(path: str | os.PathLike[str] = SPLIT_FILE) -> str:
    """The manifest's sha256: the cards of artefacts built on it record it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def resolve(rows: Sequence[SplitRow], root: str | os.PathLike[str]) -> list[tuple[SplitRow, str]]:
    """``(row, absolute path)`` for every row whose file exists on this machine, in manifest order.
    Missing files (an optional package not installed) are left out; no other row moves."""
    out = []
    for r in rows:
        p = r.location(root)
        if os.path.isfile(p):
            out.append((r, p))
    return out


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_split(rows: Sequence[SplitRow], root: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Verify the files a machine has against the manifest.

    Returns ``{"missing": [...], "changed": [...]}``: listed files that are absent, and files whose
    bytes differ from the listed sha256 (another package version, a modified data folder).  A
    changed file must not be used under the frozen split: :mod:`fakescope.training.data` skips
    missing files, and ``fakescope build --check`` reports changed ones (exit 1).
    """
    missing, changed = [], []
    for r in rows:
        p = r.location(root)
        if not os.path.isfile(p):
            missing.append(r.path)
        elif file_sha256(p) != r.sha256:
            changed.append(r.path)
    return {"missing": missing, "changed": changed}
