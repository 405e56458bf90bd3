"""Input discovery: files and folders → a lazy stream of paths."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import UsageError

__all__ = ["iter_inputs", "count_inputs"]


def _extensions() -> frozenset[str]:
    from .decode import IMAGE_EXTENSIONS

    return IMAGE_EXTENSIONS


def iter_inputs(paths: Iterable[str | os.PathLike], *, recursive: bool = False) -> Iterator[str]:
    """Yield input files in a stable order, lazily.

    Files named explicitly are always yielded (their format is judged from their bytes, not
    their extension).  Folders yield the files whose extension is an image extension, sorted
    by name; with ``recursive`` their sub-folders too.  A path that does not exist raises
    :class:`~fakescope.errors.UsageError` before anything is yielded for it.

    >>> list(iter_inputs([]))
    []
    """
    exts = _extensions()
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            yield from _walk(p, exts, recursive)
        elif os.path.exists(p):
            yield os.path.normpath(p)
        else:
            raise UsageError(f"no such file or folder: {p}")


def _walk(folder: str, exts: frozenset[str], recursive: bool) -> Iterator[str]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        raise UsageError(f"cannot list folder {folder}: {e.strerror}") from None
    subdirs = []
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            if e.is_dir():
                if recursive:
                    subdirs.append(e.path)
            elif Path(e.name).suffix.lower() in exts:
                yield os.path.normpath(e.path)
        except OSError:
            continue
    for d in subdirs:
        yield from _walk(d, exts, recursive)


def count_inputs(paths: Iterable[str | os.PathLike], *, recursive: bool = False) -> int:
    """How many inputs :func:`iter_inputs` will yield (for progress bars); lists nothing into memory."""
    return sum(1 for _ in iter_inputs(paths, recursive=recursive))
