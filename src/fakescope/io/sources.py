"""Input discovery: files and folders → a lazy stream of paths (and of the problems met on the way)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Union

__all__ = ["iter_inputs", "count_inputs", "InputProblem", "Input"]


@dataclass(frozen=True)
class InputProblem:
    """Something given or found that cannot be scanned: a missing path, a folder that cannot be
    listed, a symbolic-link loop.  The scan reports it as an error row and goes on."""

    path: str
    message: str


Input = Union[str, InputProblem]


def _extensions() -> frozenset[str]:
    from .decode import IMAGE_EXTENSIONS
    from .video import VIDEO_EXTENSIONS

    return IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


def iter_inputs(paths: Iterable[str | os.PathLike], *, recursive: bool = False) -> Iterator[Input]:
    """Yield input files in a stable order, lazily, each file once.

    Files named explicitly are always yielded (their format is judged from their bytes, not
    their extension).  Folders yield the files whose extension is an image or video extension, sorted
    by name; with ``recursive`` their sub-folders too, walked one folder at a time as the scan
    goes.  A folder is never entered twice (symbolic links are followed, but a link back to a
    folder already walked is reported once as a loop), and a file reached by two paths is
    yielded once.  A path that does not exist, or a folder that cannot be listed, is yielded as
    an :class:`InputProblem`; everything else is still walked.

    >>> list(iter_inputs([]))
    []
    """
    exts = _extensions()
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            yield from _walk(p, exts, recursive, seen_dirs, seen_files)
        elif os.path.exists(p):
            key = _identity(p)
            if key is None or key not in seen_files:
                if key is not None:
                    seen_files.add(key)
                yield os.path.normpath(p)
        elif os.path.lexists(p):
            yield InputProblem(os.path.normpath(p), f"{p}: a symbolic link to nothing (dangling link)")
        else:
            yield InputProblem(os.path.normpath(p), f"no such file or folder: {p}")


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _walk(folder: str, exts: frozenset[str], recursive: bool, seen_dirs: set[tuple[int, int]],
          seen_files: set[tuple[int, int]]) -> Iterator[Input]:
    key = _identity(folder)
    if key is not None:
        if key in seen_dirs:
            yield InputProblem(os.path.normpath(folder), f"{folder}: a symbolic-link loop (this folder was "
                                                         "already walked); not entered again")
            return
        seen_dirs.add(key)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        yield InputProblem(os.path.normpath(folder), f"cannot list folder {folder}: {e.strerror or e}")
        return
    subdirs = []
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            if e.is_dir():
                if recursive:
                    subdirs.append(e.path)
            elif Path(e.name).suffix.lower() in exts:
                st = e.stat()  # follows links: a file reached twice is scanned once
                if stat.S_ISREG(st.st_mode):
                    fkey = (st.st_dev, st.st_ino)
                    if fkey in seen_files:
                        continue
                    seen_files.add(fkey)
                yield os.path.normpath(e.path)
        except OSError:
            if e.is_symlink():
                yield InputProblem(os.path.normpath(e.path), f"{e.path}: a symbolic link to nothing (dangling link)")
            continue
    for d in subdirs:
        yield from _walk(d, exts, recursive, seen_dirs, seen_files)


def count_inputs(paths: Iterable[str | os.PathLike], *, recursive: bool = False) -> int:
    """How many inputs :func:`iter_inputs` will yield (for progress bars); lists nothing into memory."""
    return sum(1 for _ in iter_inputs(paths, recursive=recursive))
