"""Labelled image collections for benchmarks: folders, public layouts, manifests, the shipped data.

Every adapter yields :class:`DatasetItem` records lazily, walking folders with
``os.scandir`` one directory at a time (each directory is listed once and sorted, so the
order is the same on every machine), and never decodes an image.

Layouts (``open_dataset(path, layout="auto")`` recognises each of them):

==============  ==============================================================================
``folder``      ``root/{0_real,1_fake}/**`` or ``root/{real,fake}/**``
``forensynths`` ``root/{generator}/{class}/{0_real,1_fake}/**`` or ``root/{generator}/{0_real,1_fake}/**``
                (Wang et al., CVPR 2020 "CNN-generated images are surprisingly easy to spot")
``genimage``    ``root/{generator}/[{subfolder}/]{train,val}/{ai,nature}/**`` (Zhu et al., NeurIPS 2023)
``cifake``      ``root/{REAL,FAKE}/**`` or ``root/{train,test,val}/{REAL,FAKE|real,fake}/**`` (Bird & Lotfi 2024)
``manifest``    a CSV or JSONL file with ``path,label[,generator,family,date,split,mask]``;
                ``label`` is 0/1/real/fake/ai/nature; relative paths are relative to the file
``shipped``     fakescope's own data folder (``manifest.csv`` + ``modern/manifest.csv``), with the
                detectors' train/calibration/test splits (see :class:`ShippedDataset`)
==============  ==============================================================================

:func:`manifest_hash` fingerprints a dataset (sha256 over its sorted
``relpath,label,generator`` lines) so a benchmark report names exactly what it ran on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import csv
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..errors import UsageError
from .decode import IMAGE_EXTENSIONS

__all__ = [
    "DatasetItem",
    "Dataset",
    "FolderDataset",
    "ForenSynthsDataset",
    "GenImageDataset",
    "CifakeDataset",
    "ManifestDataset",
    "ShippedDataset",
    "ListDataset",
    "open_dataset",
    "detect_layout",
    "manifest_hash",
    "parse_label",
    "guess_family",
    "LAYOUTS",
    "CIFAKE_GENERATOR",
]

#: The generator behind CIFAKE's fakes (Bird & Lotfi, IEEE Access 2024: Stable Diffusion v1.4).
CIFAKE_GENERATOR = "Stable Diffusion v1.4 (CIFAKE)"

_REAL_WORDS = {"0", "real", "nature", "0_real", "authentic", "false"}
_FAKE_WORDS = {"1", "fake", "ai", "1_fake", "generated", "synthetic", "true"}


@dataclass(frozen=True)
class DatasetItem:
    """One labelled image file.

    Attributes
    ----------
    path : the file (absolute, or as given).
    label : 0 real, 1 AI-generated.
    generator : the generator's name for fakes (None when unknown; reals usually None).
    family : a coarse family (``"gan"``, ``"diffusion"``, ...) or None.
    date : the generator's release date (``"YYYY"`` or ``"YYYY-MM"``) or None.
    split : ``"train"``, ``"val"``, ``"test"``, ``"calibration"``, ... or None.
    source : the sub-collection the item comes from (``"cifake"``, ``"modern"``, a manifest's
        folder, ...), for per-source breakdowns.
    mask : a manipulation-mask file from a manifest, or None.
    relpath : the path relative to the dataset root (what :func:`manifest_hash` hashes).
    """

    path: str
    label: int
    generator: str | None = None
    family: str | None = None
    date: str | None = None
    split: str | None = None
    source: str | None = None
    mask: str | None = None
    relpath: str = ""

    def __post_init__(self) -> None:
        if self.label not in (0, 1) or isinstance(self.label, bool):
            raise UsageError(f"{self.path}: label must be 0 (real) or 1 (fake), got {self.label!r}")
        if not self.relpath:
            object.__setattr__(self, "relpath", self.path)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_label(value: Any, *, where: str = "") -> int:
    """0 or 1 from ``0/1/real/fake/ai/nature`` (case-insensitive).

    Examples
    --------
    >>> [parse_label(v) for v in ("0", "1", "Real", "FAKE", "ai", 1)]
    [0, 1, 0, 1, 1, 1]
    """
    s = str(value).strip().lower()
    if s in _REAL_WORDS:
        return 0
    if s in _FAKE_WORDS:
        return 1
    prefix = f"{where}: " if where else ""
    raise UsageError(f"{prefix}label {value!r} is not one of 0, 1, real, fake, ai, nature")


_FAMILY_RULES: tuple[tuple[str, str], ...] = (
    (r"deepfake|faceswap|face2face|neuraltextures", "face-manipulation"),
    (r"clip\)|big ?sleep|deep ?daze|vqgan", "clip-guided"),
    (r"crn|imle", "perceptual-loss"),
    (r"\bsan\b|super.?res", "super-resolution"),
    (r"seeing ?dark", "low-light"),
    (r"autoencoder|auto-encoder|\bae\b", "autoencoder"),
    (r"gan|stylegan|progan|pggan|biggan|gaugan|stargan|cyclegan|whichfaceisreal", "gan"),
    (r"dall-?e ?(mini|1)\b|cogview[12]?\b(?!\d)|parti|muse", "autoregressive"),
    (r"diffusion|ddpm|dit|sdxl|\bsd|stable|midjourney|dall-?e|imagen|glide|adm|guided|ldm|kandinsky|"
     r"flux|pixart|hunyuan|kolors|deepfloyd|\bif\b|wukong|vqdm|cascade|omnigen|hidream|cogview|firefly|"
     r"playground|ideogram|karlo|unclip", "diffusion"),
)


def guess_family(generator: str | None) -> str | None:
    """A coarse generator family from its name, by keywords (None when unknown or None).

    Examples
    --------
    >>> guess_family("StyleGAN2 (FFHQ)"), guess_family("Stable Diffusion v1"), guess_family("Big Sleep (BigGAN + CLIP)")
    ('gan', 'diffusion', 'clip-guided')
    >>> guess_family("camera") is None
    True
    """
    if not generator:
        return None
    g = generator.lower()
    for pattern, family in _FAMILY_RULES:
        if re.search(pattern, g):
            return family
    return None


# --------------------------------------------------------------------------------------
# walking


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _sorted_entries(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if not e.name.startswith(".")]
    except FileNotFoundError:
        raise UsageError(f"dataset folder not found: {folder}") from None
    except NotADirectoryError:
        raise UsageError(f"not a folder: {folder}") from None
    entries.sort(key=lambda e: e.name)
    return entries


def _walk_images(folder: str) -> Iterator[str]:
    """Image files under ``folder``: each directory listed once, its files (sorted by name) before its
    sub-folders (sorted, depth-first)."""
    stack = [folder]
    while stack:
        current = stack.pop()
        subdirs = []
        for e in _sorted_entries(current):
            if e.is_dir(follow_symlinks=True):
                subdirs.append(e.path)
            elif _is_image(e.name) and e.is_file(follow_symlinks=True):
                yield e.path
        stack.extend(reversed(subdirs))


def _subdirs(folder: str) -> list[str]:
    return [e.name for e in _sorted_entries(folder) if e.is_dir(follow_symlinks=True)]


def _find_ci(folder: str, names: Iterable[str]) -> dict[str, str]:
    """Map lower-cased wanted names to the actual sub-folder names present (case-insensitive)."""
    wanted = {n.lower() for n in names}
    return {d.lower(): d for d in _subdirs(folder) if d.lower() in wanted}


# --------------------------------------------------------------------------------------
# datasets


class Dataset(ABC):
    """Base class: an iterable of :class:`DatasetItem` with a root, a layout and a name."""

    layout: str = "dataset"

    def __init__(self, root: str | os.PathLike[str], *, name: str | None = None) -> None:
        self.root = os.fspath(root)
        self.name = name or os.path.basename(os.path.normpath(self.root)) or self.root

    @abstractmethod
    def __iter__(self) -> Iterator[DatasetItem]:
        """Yield the dataset's items lazily."""

    def items(self, *, split: str | Sequence[str] | None = None,
              where: Callable[[DatasetItem], bool] | None = None) -> Iterator[DatasetItem]:
        """Iterate, keeping items whose ``split`` is in ``split`` (None: all) and for which ``where`` holds."""
        splits = None if split is None else ({split} if isinstance(split, str) else set(split))
        for it in self:
            if splits is not None and it.split not in splits:
                continue
            if where is not None and not where(it):
                continue
            yield it

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "layout": self.layout, "root": self.root}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={self.root!r})"

    def _item(self, path: str, label: int, **kw: Any) -> DatasetItem:
        rel = os.path.relpath(path, self.root) if os.path.isabs(path) == os.path.isabs(self.root) else path
        if rel.startswith(".."):
            rel = path
        return DatasetItem(path=path, label=label, relpath=rel.replace(os.sep, "/"), **kw)


class FolderDataset(Dataset):
    """``root/{0_real,1_fake}/**`` or ``root/{real,fake}/**`` (files anywhere below the class folder).

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> d = tempfile.mkdtemp()
    >>> for c in ("real", "fake"):
    ...     os.makedirs(os.path.join(d, c)); Image.new("RGB", (8, 8)).save(os.path.join(d, c, "a.png"))
    >>> [(i.relpath, i.label) for i in FolderDataset(d)]
    [('fake/a.png', 1), ('real/a.png', 0)]
    """

    layout = "folder"
    CLASS_DIRS = (("0_real", 0), ("1_fake", 1), ("real", 0), ("fake", 1))

    def __init__(self, root: str | os.PathLike[str], *, name: str | None = None, generator: str | None = None,
                 split: str | None = None) -> None:
        super().__init__(root, name=name)
        self.generator = generator
        self.split = split

    def __iter__(self) -> Iterator[DatasetItem]:
        found = _find_ci(self.root, [c for c, _ in self.CLASS_DIRS])
        classes = [(found[c], lab) for c, lab in self.CLASS_DIRS if c in found]
        if not classes:
            raise UsageError(f"{self.root}: expected sub-folders 0_real/1_fake or real/fake")
        for folder, label in sorted(classes):
            for p in _walk_images(os.path.join(self.root, folder)):
                gen = self.generator if label == 1 else None
                yield self._item(p, label, generator=gen, family=guess_family(gen), split=self.split,
                                 source=self.name)


class ForenSynthsDataset(Dataset):
    """``root/{generator}/{class}/{0_real,1_fake}`` or ``root/{generator}/{0_real,1_fake}``.

    The generator is the first folder level; its family comes from :func:`guess_family`.
    """

    layout = "forensynths"

    def __init__(self, root: str | os.PathLike[str], *, name: str | None = None, split: str | None = None) -> None:
        super().__init__(root, name=name)
        self.split = split

    def __iter__(self) -> Iterator[DatasetItem]:
        for gen in _subdirs(self.root):
            gdir = os.path.join(self.root, gen)
            direct = _find_ci(gdir, ("0_real", "1_fake"))
            folders = [gdir] if direct else [os.path.join(gdir, c) for c in _subdirs(gdir)]
            for folder in folders:
                cls = _find_ci(folder, ("0_real", "1_fake"))
                for key, label in (("0_real", 0), ("1_fake", 1)):
                    if key not in cls:
                        continue
                    for p in _walk_images(os.path.join(folder, cls[key])):
                        yield self._item(p, label, generator=gen if label else None,
                                         family=guess_family(gen) if label else None, split=self.split,
                                         source=gen)


class GenImageDataset(Dataset):
    """``root/{generator}/[{subfolder}/]{train,val}/{ai,nature}/**`` (GenImage's release layout)."""

    layout = "genimage"

    def __iter__(self) -> Iterator[DatasetItem]:
        for gen in _subdirs(self.root):
            gdir = os.path.join(self.root, gen)
            candidates = [gdir] if _find_ci(gdir, ("train", "val")) else [
                os.path.join(gdir, s) for s in _subdirs(gdir)]
            for base in candidates:
                splits = _find_ci(base, ("train", "val"))
                for split in ("train", "val"):
                    if split not in splits:
                        continue
                    sdir = os.path.join(base, splits[split])
                    cls = _find_ci(sdir, ("nature", "ai"))
                    for key, label in (("nature", 0), ("ai", 1)):
                        if key in cls:
                            for p in _walk_images(os.path.join(sdir, cls[key])):
                                yield self._item(p, label, generator=gen if label else None,
                                                 family=guess_family(gen) if label else None, split=split,
                                                 source=gen)


class CifakeDataset(Dataset):
    """``root/{REAL,FAKE}`` or ``root/{train,test,val}/{REAL,FAKE}`` (case-insensitive)."""

    layout = "cifake"

    def __iter__(self) -> Iterator[DatasetItem]:
        top = _find_ci(self.root, ("real", "fake"))
        if top:
            groups = [(None, self.root)]
        else:
            splits = _find_ci(self.root, ("train", "test", "val", "validation"))
            groups = [(s, os.path.join(self.root, splits[s])) for s in sorted(splits)]
        for split, base in groups:
            cls = _find_ci(base, ("real", "fake"))
            for key, label in (("real", 0), ("fake", 1)):
                if key in cls:
                    for p in _walk_images(os.path.join(base, cls[key])):
                        yield self._item(p, label, generator=CIFAKE_GENERATOR if label else None,
                                         family="diffusion" if label else None, date="2022-08" if label else None,
                                         split=split, source="cifake")


class ManifestDataset(Dataset):
    """A CSV (header row) or JSONL file with ``path,label[,generator,family,date,split,mask]``.

    Relative paths are resolved against the manifest's folder; extra columns are ignored.
    An empty ``family`` is guessed from the generator (:func:`guess_family`).
    """

    layout = "manifest"
    FIELDS = ("path", "label", "generator", "family", "date", "split", "mask")

    def __init__(self, path: str | os.PathLike[str], *, name: str | None = None) -> None:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise UsageError(f"manifest not found: {path}")
        super().__init__(os.path.dirname(os.path.abspath(path)),
                         name=name or os.path.splitext(os.path.basename(path))[0])
        self.manifest = path

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "manifest": self.manifest}

    def _rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        if self.manifest.lower().endswith((".jsonl", ".ndjson", ".json")):
            with open(self.manifest, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise UsageError(f"{self.manifest}:{n}: not a JSON object: {e}") from None
                    if not isinstance(row, dict):
                        raise UsageError(f"{self.manifest}:{n}: each line must be a JSON object")
                    yield n, row
        else:
            with open(self.manifest, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                missing = {"path", "label"} - set(reader.fieldnames or [])
                if missing:
                    raise UsageError(f"{self.manifest}: the header lacks column(s) {sorted(missing)} "
                                     f"(found {reader.fieldnames})")
                for n, row in enumerate(reader, 2):
                    yield n, row

    def __iter__(self) -> Iterator[DatasetItem]:
        for n, row in self._rows():
            where = f"{self.manifest}:{n}"
            if not row.get("path"):
                raise UsageError(f"{where}: empty 'path'")
            if row.get("label") in (None, ""):
                raise UsageError(f"{where}: empty 'label'")
            label = parse_label(row["label"], where=where)
            rel = str(row["path"])
            path = rel if os.path.isabs(rel) else os.path.join(self.root, rel)
            gen = (str(row.get("generator") or "").strip() or None)
            fam = (str(row.get("family") or "").strip() or None) or (guess_family(gen) if label else None)
            mask = str(row.get("mask") or "").strip() or None
            if mask and not os.path.isabs(mask):
                mask = os.path.join(self.root, mask)
            yield DatasetItem(path=path, label=label, generator=gen, family=fam,
                              date=str(row.get("date") or "").strip() or None,
                              split=str(row.get("split") or "").strip() or None,
                              source=str(row.get("source") or "").strip() or self.name, mask=mask,
                              relpath=rel.replace(os.sep, "/"))


class ShippedDataset(Dataset):
    """fakescope's own data folder, with the shipped detectors' splits.

    The listing is the folder's ``manifest.csv`` (``path,label,generator,set,...``; rows with
    no label, such as the C2PA fixtures, are skipped) and ``modern/manifest.csv``.  The split
    of every file comes from the frozen split manifest (:mod:`fakescope.io.splits`), the one that trained and
    calibrated the shipped detectors, so ``split="test"`` is exactly their held-out test
    split: CIFAKE ``val`` (500 real + 500 fake), the modern set's test part (including every
    image of the generators never seen in training, ``unseen:*``) and the test part of the
    real photos.  ``source`` is ``cifake``, ``modern`` or ``photos``.

    Parameters
    ----------
    root : the data folder (default: ``$FAKESCOPE_DATA``, else ``<repo>/../shared/data``).
    """

    layout = "shipped"

    def __init__(self, root: str | os.PathLike[str] | None = None, *, name: str | None = None) -> None:
        from .splits import data_root

        super().__init__(data_root(root), name=name or "fakescope-shared-data")
        if not os.path.isfile(os.path.join(self.root, "manifest.csv")):
            raise UsageError(f"{self.root}: no manifest.csv (is FAKESCOPE_DATA the shared data folder?)")
        self._splits: dict[str, tuple[str, str, bool]] | None = None

    def _assignments(self) -> dict[str, tuple[str, str, bool]]:
        """relpath → (split, reporting group, unseen generator?), from the frozen split manifest."""
        if self._splits is None:
            from .splits import read_split

            self._splits = {r.path: (r.split, r.group, r.group.startswith("unseen:"))
                            for r in read_split() if not r.package}
        return self._splits

    def __iter__(self) -> Iterator[DatasetItem]:
        splits = self._assignments()
        with open(os.path.join(self.root, "manifest.csv"), newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.DictReader(f), 2):
                if not row.get("label"):
                    continue
                rel = row["path"]
                label = parse_label(row["label"], where=f"manifest.csv:{n}")
                s = row.get("set", "")
                source = "cifake" if s.startswith("cifake") else ("modern" if s == "modern" else "photos")
                split, _group, _unseen = splits.get(rel, (None, "", False))
                if source == "cifake":
                    gen, fam, date = (CIFAKE_GENERATOR, "diffusion", "2022-08") if label else (None, None, None)
                else:
                    gen = (row.get("generator") or "").strip() or None
                    gen = gen if label else None
                    fam, date = (guess_family(gen) if label else None), None
                if split is None and source == "cifake":
                    split = "excluded"  # cifake/train beyond index 2499 is in no split
                yield DatasetItem(path=os.path.join(self.root, rel), label=label, generator=gen, family=fam,
                                  date=date, split=split, source=source, relpath=rel)


class ListDataset(Dataset):
    """A dataset over items already in memory (a filtered or subsampled view of another one)."""

    def __init__(self, items: Iterable[DatasetItem], *, root: str = "", name: str = "items",
                 layout: str = "list", parent: dict[str, Any] | None = None) -> None:
        super().__init__(root or ".", name=name)
        self._items = list(items)
        self.layout = layout
        self.parent = parent

    def __iter__(self) -> Iterator[DatasetItem]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def describe(self) -> dict[str, Any]:
        d = {**super().describe(), "n": len(self._items)}
        if self.parent:
            d["parent"] = self.parent
        return d


LAYOUTS: dict[str, Callable[..., Dataset]] = {
    "folder": FolderDataset,
    "forensynths": ForenSynthsDataset,
    "genimage": GenImageDataset,
    "cifake": CifakeDataset,
    "manifest": ManifestDataset,
    "shipped": ShippedDataset,
}


def detect_layout(path: str | os.PathLike[str]) -> str:
    """Recognise a dataset's layout by peeking at two folder levels (never a full listing).

    Raises
    ------
    UsageError
        The path is missing or matches no known layout (the message lists them).
    """
    p = os.fspath(path)
    if os.path.isfile(p):
        if p.lower().endswith((".csv", ".jsonl", ".ndjson", ".json")):
            return "manifest"
        raise UsageError(f"{p}: a dataset file must be a CSV or JSONL manifest")
    if not os.path.isdir(p):
        raise UsageError(f"dataset not found: {p}")
    if (os.path.isfile(os.path.join(p, "manifest.csv")) and os.path.isfile(os.path.join(p, "modern", "manifest.csv"))
            and os.path.isdir(os.path.join(p, "cifake"))):
        return "shipped"
    subs = _subdirs(p)
    lower = {s.lower() for s in subs}
    if {"real", "fake"} <= lower and ("REAL" in subs or "FAKE" in subs):
        return "cifake"
    if {"0_real", "1_fake"} & lower or {"real", "fake"} <= lower:
        return "folder"
    for s in subs:
        if s.lower() in {"train", "test", "val", "validation"}:
            if {"real", "fake"} & {x.lower() for x in _subdirs(os.path.join(p, s))}:
                return "cifake"
    for name in ("manifest.csv", "manifest.jsonl"):
        if os.path.isfile(os.path.join(p, name)):
            return "manifest"
    for s in subs[:3]:
        g = os.path.join(p, s)
        gsubs = {x.lower() for x in _subdirs(g)}
        if {"0_real", "1_fake"} & gsubs:
            return "forensynths"
        if gsubs & {"train", "val"}:
            inner = os.path.join(g, next(x for x in _subdirs(g) if x.lower() in {"train", "val"}))
            if {"ai", "nature"} & {x.lower() for x in _subdirs(inner)}:
                return "genimage"
        for c in sorted(_subdirs(g))[:3]:
            csubs = {x.lower() for x in _subdirs(os.path.join(g, c))}
            if {"0_real", "1_fake"} & csubs:
                return "forensynths"
            if csubs & {"train", "val"}:
                inner_dir = os.path.join(g, c)
                sp = next(x for x in _subdirs(inner_dir) if x.lower() in {"train", "val"})
                if {"ai", "nature"} & {x.lower() for x in _subdirs(os.path.join(inner_dir, sp))}:
                    return "genimage"
    raise UsageError(
        f"{p}: cannot tell the dataset layout; expected one of: a folder with 0_real/1_fake or real/fake; "
        "ForenSynths {generator}/[{class}/]{0_real,1_fake}; GenImage {generator}/[{sub}/]{train,val}/{ai,nature}; "
        "CIFAKE [{train,test}/]{REAL,FAKE}; a CSV/JSONL manifest (path,label,...); or fakescope's shared data "
        "folder. Name it with layout=..."
    )


def open_dataset(path: str | os.PathLike[str], *, layout: str = "auto") -> Dataset:
    """Open a dataset, recognising its layout (``layout="auto"``) or using the one named.

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> d = tempfile.mkdtemp()
    >>> for c in ("0_real", "1_fake"):
    ...     os.makedirs(os.path.join(d, c)); Image.new("RGB", (8, 8)).save(os.path.join(d, c, "x.png"))
    >>> ds = open_dataset(d)
    >>> ds.layout, [i.label for i in ds]
    ('folder', [0, 1])
    """
    p = os.fspath(path)
    name = detect_layout(p) if layout == "auto" else layout
    try:
        factory = LAYOUTS[name]
    except KeyError:
        raise UsageError(f"unknown dataset layout {name!r}; valid: auto, {', '.join(sorted(LAYOUTS))}") from None
    if name == "manifest" and os.path.isdir(p):
        for fn in ("manifest.csv", "manifest.jsonl"):
            if os.path.isfile(os.path.join(p, fn)):
                return ManifestDataset(os.path.join(p, fn))
        raise UsageError(f"{p}: no manifest.csv or manifest.jsonl in this folder")
    return factory(p)


def manifest_hash(dataset: Iterable[DatasetItem]) -> str:
    """sha256 over the sorted ``relpath,label,generator`` lines of a dataset (or any items).

    Two runs on the same files with the same labels give the same hash, whatever the order
    they were listed in or where the folder lives.

    Examples
    --------
    >>> a = [DatasetItem("x/1.png", 1, "g", relpath="1.png"), DatasetItem("x/0.png", 0, relpath="0.png")]
    >>> manifest_hash(a) == manifest_hash(list(reversed(a)))
    True
    """
    lines = sorted(f"{it.relpath}\t{it.label}\t{it.generator or ''}" for it in dataset)
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()

