"""The service's scan: the CLI's flow (:class:`fakescope.pipeline.Scanner`) plus the results database.

For one upload: its sha256 under the scan's configuration is looked up first (the same bytes are
never scored twice); new bytes are decoded once (the decode limits apply; the format comes from
the content), their perceptual hash compared with the stored ones (a resized or re-encoded copy of
a known image is "seen before"), then scanned by the same :class:`~fakescope.pipeline.Scanner` the
CLI uses, and the verdict stored.  A video (mp4, mov, webm, mkv, avi, judged from its first bytes) goes
through the CLI's video scan (:func:`fakescope.video.scan_video`) under the service's video limits; its
verdict (``p_fake``, ``segments``, the sampled ``frames``) is stored the same way.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

from .._version import __version__
from ..errors import DecodeError, FakescopeError, ImageTooLargeError, UnsupportedFormatError, UsageError
from ..io.decode import decode
from ..io.video import sniff_video
from ..pipeline import Scanner
from . import phash as ph
from .settings import Settings
from .store import Store

__all__ = ["ScanOptions", "ScanOutcome", "ScanService", "AnalysisError"]


class AnalysisError(Exception):
    """The image was decoded but an analyzer could not score it (the verdict says why)."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__(record.get("error") or "analysis failed")
        self.record = record


@dataclass(frozen=True)
class ScanOptions:
    fpr: float
    detectors: tuple[str, ...] | None
    provenance: bool

    @property
    def key(self) -> str:
        """The stored verdict's configuration: the same bytes under the same key are scored once; a new
        fakescope version scores them again."""
        det = ",".join(self.detectors) if self.detectors else "default"
        return f"v{__version__};fpr={self.fpr:g};detectors={det};provenance={int(self.provenance)}"

    def to_dict(self) -> dict[str, Any]:
        return {"fpr": self.fpr, "detectors": list(self.detectors) if self.detectors else None,
                "provenance": self.provenance}


@dataclass(frozen=True)
class ScanOutcome:
    record: dict[str, Any]
    cached: bool
    seen_before: dict[str, Any] | None
    sha256: str


class ScanService:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._scanners: OrderedDict[ScanOptions, Scanner] = OrderedDict()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(settings.scan_threads)
        self.scans = 0  # scored here (not answered from the database)

    # ------------------------------------------------------------------ options
    def options(self, *, fpr: float | None = None, detectors: Sequence[str] | str | None = None,
                provenance: bool | None = None) -> ScanOptions:
        """A request's options, checked (a bad value is a :class:`UsageError`)."""
        s = self.settings
        if fpr is None:
            fpr = s.fpr
        if not 0.0 < float(fpr) < 0.5:
            raise UsageError(f"fpr must be between 0 and 0.5, got {fpr}")
        if isinstance(detectors, str):
            detectors = [d for d in detectors.replace(" ", ",").split(",") if d]
        dets = tuple(detectors) if detectors else s.detectors
        if dets:
            from ..detectors import list_detectors

            known = set(list_detectors())
            bad = [d for d in dets if d not in known]
            if bad:
                raise UsageError(f"unknown detector(s) {', '.join(bad)}; registered: {', '.join(sorted(known))}")
        return ScanOptions(float(fpr), dets or None, s.provenance if provenance is None else bool(provenance))

    def scanner(self, opts: ScanOptions) -> Scanner:
        with self._lock:
            sc = self._scanners.get(opts)
            if sc is None:
                sc = Scanner(opts.detectors, fpr=opts.fpr, provenance=opts.provenance, limits=self.settings.limits,
                             video=self._video_options())
                self._scanners[opts] = sc
                while len(self._scanners) > 8:
                    self._scanners.popitem(last=False)
            else:
                self._scanners.move_to_end(opts)
            return sc

    def _video_options(self) -> Any:
        from ..video import VideoOptions

        vl = self.settings.video_limits
        return VideoOptions(limits=vl) if vl is not None else None

    def warm(self) -> None:
        """Build the default scanner and score a tiny image, so the first request does not pay for it."""
        import io

        import numpy as np
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.full((64, 64, 3), 127, np.uint8)).save(buf, "PNG")
        sc = self.scanner(self.options())
        sc.preload()
        sc.scan_bytes(buf.getvalue(), name="warm-up.png")

    # ------------------------------------------------------------------ the scan
    def scan(self, data: bytes, *, name: str, opts: ScanOptions) -> ScanOutcome:
        """Scan uploaded bytes, or answer from the database.

        Raises
        ------
        DecodeError
            The bytes are not an image fakescope reads (ImageTooLargeError: over the limits).
        AnalysisError
            Decoded, but an analyzer failed; its error verdict is attached.
        """
        t0 = time.perf_counter()
        container = sniff_video(data[:64])
        vl = self.settings.video_limits
        if container is not None and vl is None:
            raise UnsupportedFormatError(f"{name}: a {container} video; this server does not scan videos")
        limit = vl.max_bytes if container is not None and vl is not None else self.settings.limits.max_bytes
        if len(data) > limit:
            raise ImageTooLargeError(f"{name}: {len(data)} bytes, over the limit of {limit}"
                                     + (" for a video" if container else ""))
        sha = hashlib.sha256(data).hexdigest()
        hit = self.store.get_verdict(sha, opts.key)
        if hit is not None:
            self.store.seen(sha)
            rec = dict(hit["record"], path=name)
            return ScanOutcome(rec, True, None, sha)
        h: int | None
        if container is not None:
            verdict = self._scan_video(data, name=name, opts=opts, t0=t0)  # DecodeError goes up
            h = None  # no perceptual hash of a clip: "seen before" is for images
        else:
            sample = decode(data, path=name, limits=self.settings.limits)  # DecodeError goes up
            h = ph.phash(sample.image)
            with self._slots:  # at most scan_threads images analysed at once in this process
                verdict = self.scanner(opts).scan_decoded(sample, t0=t0)
        rec = verdict.to_dict()
        if verdict.status != "ok":
            raise AnalysisError(rec)
        self.scans += 1
        similar = self.store.similar(h, max_distance=self.settings.phash_distance, exclude=sha) if h is not None \
            else None
        if not self.store.save_verdict(rec, opts.key, phash=h, size=len(data), name=name):
            hit = self.store.get_verdict(sha, opts.key)  # a concurrent upload of the same bytes won
            if hit is not None:
                return ScanOutcome(dict(hit["record"], path=name), True, None, sha)
        seen = None
        if similar is not None:
            seen = {"sha256": similar.sha256, "distance": similar.distance, "url": f"/v1/results/{similar.sha256}",
                    "first_seen": similar.first_seen.isoformat().replace("+00:00", "Z") if similar.first_seen else None,
                    "name": similar.name}
        return ScanOutcome(rec, False, seen, sha)


    def _scan_video(self, data: bytes, *, name: str, opts: ScanOptions, t0: float) -> Any:
        """A video upload through the CLI's video scan: decoding errors (damaged, truncated, over the limits)
        go up as :class:`DecodeError`; an analyzer's failure becomes an error verdict."""
        from ..pipeline import _error
        from ..video import scan_video

        sc = self.scanner(opts)
        with self._slots:  # a clip's frames are analysed one after another in one slot
            try:
                return scan_video(sc, data, options=sc.video, name=name, t0=t0)
            except DecodeError:
                raise
            except FakescopeError as e:  # e.g. PyAV missing: the video extra is not installed
                return _error(name, e, t0, sha256=hashlib.sha256(data).hexdigest())
            except Exception as e:  # an analyzer bug: an error verdict, never a 500
                return _error(name, RuntimeError(f"internal error while analysing the video: "
                                                 f"{type(e).__name__}: {e}"), t0,
                              sha256=hashlib.sha256(data).hexdigest())


def read_file_limited(path: str, max_bytes: int) -> bytes:
    """A server-side file's bytes, refusing more than ``max_bytes`` (checked before and while reading)."""
    from ..io.decode import load  # noqa: F401  (same limits as the scan's own reader)

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        import stat as _stat

        if not _stat.S_ISREG(st.st_mode):
            raise DecodeError(f"{path}: not a regular file")
        if st.st_size > max_bytes:
            raise ImageTooLargeError(f"{path}: {st.st_size} bytes, over the limit of {max_bytes}")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"{path}: over the limit of {max_bytes} bytes")
    return data
