"""The service's settings: one frozen dataclass, built by ``fakescope serve`` from its options.

Nothing here reads the environment at import time; :func:`default_db_url` resolves the default
database file when asked (``$FAKESCOPE_DB``, else the user's data directory).
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..io.decode import DecodeLimits
from ..io.video import VideoLimits

__all__ = ["Settings", "default_db_url", "data_dir", "is_loopback"]

#: The service's decode limits: the scan's, with a smaller upload size (a service faces strangers).
SERVICE_MAX_BYTES = 64 * 1024 * 1024
#: The service's video limits: uploads up to 256 MiB and 10 minutes, at most 1200 frames analysed.
SERVICE_MAX_VIDEO_BYTES = 256 * 1024 * 1024
SERVICE_MAX_VIDEO_SECONDS = 600.0


def _service_video_limits() -> VideoLimits:
    return VideoLimits(max_bytes=SERVICE_MAX_VIDEO_BYTES, max_duration_s=SERVICE_MAX_VIDEO_SECONDS, max_frames=1200)


def data_dir() -> Path:
    """``$FAKESCOPE_DATA_HOME``, else ``$XDG_DATA_HOME/fakescope``, else ``~/.local/share/fakescope``
    (the XDG base directory rule; the project keeps its cache the same way under ``~/.cache``)."""
    env = os.environ.get("FAKESCOPE_DATA_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg and os.path.isabs(os.path.expanduser(xdg)) else Path.home() / ".local" / "share"
    return base / "fakescope"


def default_db_url() -> str:
    """``$FAKESCOPE_DB`` (a SQLAlchemy URL), else a SQLite file ``fakescope.db`` in :func:`data_dir`."""
    env = os.environ.get("FAKESCOPE_DB")
    if env:
        return env
    return f"sqlite:///{data_dir() / 'fakescope.db'}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    """How one service runs.

    Parameters
    ----------
    db_url : SQLAlchemy URL of the results database (``sqlite:///path`` or ``postgresql+psycopg://...``).
    auth : require an API key on every ``/v1`` call (``--no-auth`` turns it off for local use).
    limits : decode limits for uploads (bytes, pixels, sides); an upload over ``limits.max_bytes`` is
        refused with 413 before it is read to the end.
    video_limits : limits of a video upload (mp4, mov, webm, mkv, avi: the container is judged from the
        bytes): its size (the request is refused with 413 before it is read to the end), duration, frame
        size and frames (checked on the container's header, then while decoding); ``None``: videos are refused.
    max_batch_files, max_batch_bytes : limits of one ``POST /v1/batches`` upload.
    batch_roots : server-side folders a batch may name (``--allow-folder``); none: folder batches are off.
    rate_per_minute, rate_burst : each key's (or, without auth, each client address's) token bucket for
        the scan and batch endpoints; 0 turns rate limiting off.
    phash_distance : the largest Hamming distance (of 64 bits) at which an upload is "seen before".
    scan_threads : scans run at once in one server process (each detector runs single-threaded).
    batch_worker : run the batch worker in this process.
    lease_s : a batch item claimed by a worker that has not finished it after this many seconds
        (a killed worker) is given to another worker.
    detectors, fpr, provenance : the defaults of a scan (a request may override them).
    """

    db_url: str = field(default_factory=default_db_url)
    auth: bool = True
    limits: DecodeLimits = field(default_factory=lambda: DecodeLimits(max_bytes=SERVICE_MAX_BYTES))
    video_limits: VideoLimits | None = field(default_factory=_service_video_limits)
    max_batch_files: int = 1000
    max_batch_bytes: int = 512 * 1024 * 1024
    batch_roots: tuple[str, ...] = ()
    rate_per_minute: float = 120.0
    rate_burst: int = 30
    phash_distance: int = 6
    scan_threads: int = 1
    batch_worker: bool = True
    lease_s: float = 120.0
    poll_s: float = 0.5
    detectors: tuple[str, ...] | None = None
    fpr: float = 0.01
    provenance: bool = True
    page_size_max: int = 500

    def __post_init__(self) -> None:
        if not 0.0 < self.fpr < 0.5:
            raise UsageError(f"fpr must be between 0 and 0.5, got {self.fpr}")
        if not 0 <= self.phash_distance <= 16:
            raise UsageError(f"phash_distance must be 0..16, got {self.phash_distance}")
        if self.scan_threads < 1:
            raise UsageError(f"scan_threads must be >= 1, got {self.scan_threads}")
        roots = []
        for r in self.batch_roots:
            p = Path(r).expanduser()
            if not p.is_dir():
                raise UsageError(f"--allow-folder: not a folder: {r}")
            roots.append(os.path.realpath(p))
        object.__setattr__(self, "batch_roots", tuple(roots))

    def replace(self, **changes: Any) -> "Settings":
        return replace(self, **changes)

    @property
    def max_upload_bytes(self) -> int:
        """The largest upload of ``POST /v1/scan``: an image's or, when videos are accepted, a video's limit."""
        return max(self.limits.max_bytes, self.video_limits.max_bytes if self.video_limits else 0)

    # uvicorn's worker processes build the app from this (``fakescope serve --workers N``)
    def to_json(self) -> str:
        d = asdict(self)
        d["limits"] = asdict(self.limits)
        d["video_limits"] = asdict(self.video_limits) if self.video_limits else None
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> "Settings":
        d = json.loads(text)
        d["limits"] = DecodeLimits(**d["limits"])
        if "video_limits" in d:
            d["video_limits"] = VideoLimits(**d["video_limits"]) if d["video_limits"] else None
        d["batch_roots"] = tuple(d.get("batch_roots") or ())
        if d.get("detectors") is not None:
            d["detectors"] = tuple(d["detectors"])
        return cls(**d)
