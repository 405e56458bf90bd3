"""Safe video decoding: a video file → sampled RGB frames with their timestamps and the container's metadata.

The video counterpart of :mod:`fakescope.io.decode` (which stays the one place where *images* become pixels):
every reader of videos (the scan, the benchmark) calls :func:`load_video` or :func:`decode_video`, so every
clip gets the same limits, sampling, rotation and errors.  PyAV (FFmpeg) is the decoder; it is an optional
dependency, imported on the first video (``pip install 'fakescope[video]'``).

What :func:`decode_video` guarantees
------------------------------------
* The container is judged from the bytes (:func:`sniff_video`), never from the file name: MP4/M4V, MOV,
  WebM, Matroska, AVI.
* Limits (:class:`VideoLimits`: bytes, frame size, duration, frames decoded and frames kept) are checked on
  the container's header before any frame is decoded, and again as frames come (a header can lie).
* Every kept frame is ``H×W×3`` ``uint8`` RGB at the stream's native resolution, with the container's
  display rotation applied (a phone clip stored 1920×1080 with a 90° display matrix comes out 1080×1920).
* Timestamps are the frames' own presentation times in seconds from the first frame, so variable frame rate
  clips are sampled by time, not by frame count.
* Audio streams are reported (:attr:`VideoInfo.has_audio`) and never decoded.
* A file that ends before its declared duration raises :class:`~fakescope.errors.TruncatedFileError`;
  anything else FFmpeg rejects raises :class:`~fakescope.errors.DecodeError` (cause chained), with the
  path first in the message.  Nothing FFmpeg raises escapes as its own type.

Sampling (:class:`Sampling`)
----------------------------
``"fps"`` keeps the first frame at or after each tick of ``1/fps`` seconds (a clip at 30 fps sampled at 2 fps
keeps frames 0, 15, 30, ...); ``"keyframes"`` keeps the intra-coded frames only (the decoder skips the
others: the cheapest pass); ``"all"`` keeps every frame.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

import numpy as np

from ..errors import (
    DecodeError,
    EmptyFileError,
    FakescopeError,
    ImageTooLargeError,
    MissingDependencyError,
    TruncatedFileError,
    UnsupportedFormatError,
    UsageError,
)

__all__ = ["VideoLimits", "Sampling", "VideoInfo", "VideoFrame", "Video", "VideoReader", "sniff_video", "is_video",
           "decode_video", "load_video", "open_video", "VIDEO_EXTENSIONS", "VIDEO_FORMATS",
           "require_av"]

#: File extensions that folder walks treat as videos (a hint for discovery; the bytes decide).
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi"})

#: The containers fakescope reads, as reported in :attr:`VideoInfo.format`.
VIDEO_FORMATS: tuple[str, ...] = ("MP4", "MOV", "WEBM", "MKV", "AVI")

# brands of ISO media files that are still images (HEIF, AVIF), not videos
_IMAGE_BRANDS = frozenset({b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"hevc",
                           b"hevx", b"mif2", b"miaf"})
_VIDEO_MAJOR = frozenset({b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"M4V ", b"avc1",
                          b"dash", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"qt  ", b"MSNV", b"f4v "})

_TRUNCATION_WORDS = ("moov atom not found", "truncat", "end of file", "eof", "premature", "partial file",
                     "invalid data found when processing input")


@dataclass(frozen=True)
class VideoLimits:
    """Limits checked before decoding (on the header) and while decoding.

    Parameters
    ----------
    max_bytes : the largest file accepted.
    max_side : the longest frame side accepted.
    max_pixels : the most pixels per frame (width × height).
    max_duration_s : the longest clip accepted, in seconds (header duration, and decoded timestamps).
    max_decoded_frames : the most frames decoded (a guard on work: a 60 fps hour is 216,000).
    max_frames : the most frames kept for analysis; sampling that would keep more is an error
        (sample more sparsely, or raise the limit).

    Examples
    --------
    >>> VideoLimits(max_duration_s=30).max_frames
    2000
    """

    max_bytes: int = 2 * 1024 ** 3
    max_side: int = 8192
    max_pixels: int = 8192 * 4320
    max_duration_s: float = 3600.0
    max_decoded_frames: int = 250_000
    max_frames: int = 2000

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_side", "max_pixels", "max_decoded_frames", "max_frames"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UsageError(f"VideoLimits.{name} must be a positive integer, got {v!r}")
        if not (isinstance(self.max_duration_s, (int, float)) and self.max_duration_s > 0):
            raise UsageError(f"VideoLimits.max_duration_s must be positive, got {self.max_duration_s!r}")


@dataclass(frozen=True)
class Sampling:
    """Which frames of a clip are analysed.

    Parameters
    ----------
    mode : ``"fps"`` (``fps`` frames per second, by timestamp), ``"keyframes"`` (intra frames only) or
        ``"all"``.
    fps : frames per second kept in ``"fps"`` mode.

    Examples
    --------
    >>> Sampling.parse("2"), Sampling.parse("keyframes").mode, Sampling.parse("all").mode
    (Sampling(mode='fps', fps=2.0), 'keyframes', 'all')
    """

    mode: Literal["fps", "keyframes", "all"] = "fps"
    fps: float = 2.0

    def __post_init__(self) -> None:
        if self.mode not in ("fps", "keyframes", "all"):
            raise UsageError(f"Sampling.mode must be 'fps', 'keyframes' or 'all', got {self.mode!r}")
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and self.fps > 0):
            raise UsageError(f"Sampling.fps must be a positive number, got {self.fps!r}")

    @classmethod
    def parse(cls, text: str) -> "Sampling":
        """``"2"`` or ``"2fps"`` (frames per second), ``"keyframes"`` or ``"all"`` (the CLI's ``--video-sample``)."""
        t = str(text).strip().lower()
        if t in ("keyframes", "all"):
            return cls(mode=t)  # type: ignore[arg-type]
        try:
            return cls(mode="fps", fps=float(t.removesuffix("fps")))
        except ValueError:
            raise UsageError(f"video sampling must be a number of frames per second, 'keyframes' or 'all', "
                             f"got {text!r}") from None

    def describe(self) -> str:
        return {"fps": f"{self.fps:g} frames/s", "keyframes": "keyframes only", "all": "every frame"}[self.mode]


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the clip (and what decoding found)."""

    format: str  # "MP4", "MOV", "WEBM", "MKV", "AVI"
    container: str  # FFmpeg's demuxer name
    codec: str  # the video codec, e.g. "h264", "vp9", "hevc", "av1"
    width: int  # displayed size (rotation applied)
    height: int
    fps: float | None  # average frame rate the container declares
    duration_s: float | None
    frames_declared: int  # 0 when the container does not say
    rotation: int  # display rotation applied, degrees counter-clockwise (0, 90, 180, 270)
    has_audio: bool
    audio_codec: str | None = None
    bit_rate: int | None = None
    pix_fmt: str | None = None
    profile: str | None = None
    encoder: str | None = None  # the container's or stream's "encoder" tag (e.g. "Lavf60.3.100")
    tags: dict[str, str] = field(default_factory=dict)  # container and video-stream metadata

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """One sampled frame: RGB pixels (rotation applied), its time in seconds and its index among decoded frames."""

    index: int
    t_s: float
    image: np.ndarray = field(repr=False)
    keyframe: bool = False


@dataclass(frozen=True, eq=False)
class Video:
    """A decoded clip: the sampled frames, the container's metadata, the raw bytes (C2PA needs them)."""

    path: str
    sha256: str
    data: bytes = field(repr=False)
    info: VideoInfo
    frames: tuple[VideoFrame, ...] = field(repr=False)
    sampling: Sampling
    decoded_frames: int  # frames the decoder produced (kept or not)
    variable_frame_rate: bool  # the frame intervals vary by more than 10%
    decode_s: float  # wall time spent decoding and converting

    @property
    def duration_s(self) -> float:
        """The clip's duration: the header's, else the decoded span."""
        if self.info.duration_s:
            return float(self.info.duration_s)
        if not self.frames:
            return 0.0
        step = 1.0 / self.info.fps if self.info.fps else 0.0
        return float(self.frames[-1].t_s + step)


def require_av() -> Any:
    """Import PyAV, or raise :class:`~fakescope.errors.MissingDependencyError` naming the ``video`` extra."""
    try:
        import av
    except ImportError as e:
        raise MissingDependencyError("av", "video", "Reading videos") from e
    return av


def sniff_video(data: bytes) -> str | None:
    """The container of a video file from its first bytes, or ``None`` when it is not a video fakescope reads.

    >>> sniff_video(b"\\0\\0\\0\\x18ftypisom\\0\\0\\x02\\0isomiso2"), sniff_video(b"\\x1aE\\xdf\\xa3\\x9fB\\x86\\x81\\x01B\\x82\\x84webm")
    ('MP4', 'WEBM')
    >>> sniff_video(b"\\0\\0\\0\\x1cftypavif\\0\\0\\0\\0avifmif1"), sniff_video(b"\\xff\\xd8\\xff")
    (None, None)
    """
    head = bytes(data[:64])
    if len(head) >= 12 and head[4:8] == b"ftyp":
        major = head[8:12]
        size = int.from_bytes(head[:4], "big")
        brands = {major} | {head[i:i + 4] for i in range(16, min(max(size, 16), len(head)), 4)}
        if major == b"qt  ":
            return "MOV"
        if major in _IMAGE_BRANDS or (brands & _IMAGE_BRANDS and major not in _VIDEO_MAJOR):
            return None  # HEIF/AVIF still images (an image sequence too: io.decode reads its first frame)
        return "MP4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "WEBM" if b"webm" in head else "MKV"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    return None


def is_video(data: bytes) -> bool:
    """Whether the bytes start like a video container fakescope reads (:func:`sniff_video`)."""
    return sniff_video(data) is not None


def load_video(path: str | os.PathLike[str], *, limits: VideoLimits = VideoLimits(),
               sampling: Sampling = Sampling(), keep_bytes: bool = True) -> Video:
    """Read and decode a video file (see :func:`decode_video`); the size is checked before reading."""
    data = _read(path, limits)
    return decode_video(data, path=os.fsdecode(os.fspath(path)), limits=limits, sampling=sampling, keep_bytes=keep_bytes)


def decode_video(data: bytes, *, path: str = "<bytes>", limits: VideoLimits = VideoLimits(),
                 sampling: Sampling = Sampling(), keep_bytes: bool = True) -> Video:
    """Decode a video held in memory into its sampled frames.

    Parameters
    ----------
    data : the file's bytes.
    path : a name for messages and ``Video.path``.
    limits : :class:`VideoLimits`.
    sampling : which frames to keep (:class:`Sampling`).
    keep_bytes : keep ``data`` in ``Video.data`` (the C2PA reader needs it).

    Raises
    ------
    MissingDependencyError
        PyAV is not installed (``pip install 'fakescope[video]'``).
    EmptyFileError, UnsupportedFormatError, ImageTooLargeError, TruncatedFileError, DecodeError
        As :func:`fakescope.io.decode.decode`, for videos.
    """
    reader = VideoReader(data, path=path, limits=limits, sampling=sampling, keep_bytes=keep_bytes)
    frames = tuple(reader)
    return reader.video(frames)


class VideoReader:
    """A video decoded frame by frame: iterate it for the sampled :class:`VideoFrame` objects (one decoded at
    a time, so a long clip is never held in memory), then read the totals.  :func:`decode_video` is this with
    every frame kept.

    The container is opened, sniffed and checked against the limits when the reader is made; errors of the
    stream surface while iterating.  After a complete iteration, ``decoded_frames``, ``variable_frame_rate``,
    ``decode_s`` and ``info`` (with the rotation and displayed size) hold the totals.

    Examples
    --------
    >>> VideoReader(b"not a video", path="x.mp4")
    Traceback (most recent call last):
    ...
    fakescope.errors.UnsupportedFormatError: x.mp4: not a video fakescope can read; supported containers: MP4, MOV, WEBM, MKV, AVI
    """

    def __init__(self, data: bytes, *, path: str = "<bytes>", limits: VideoLimits = VideoLimits(),
                 sampling: Sampling = Sampling(), keep_bytes: bool = True) -> None:
        t0 = time.perf_counter()
        if not isinstance(data, bytes):
            data = memoryview(data).tobytes()
        if not data:
            raise EmptyFileError(f"{path}: the file is empty (0 bytes)")
        if len(data) > limits.max_bytes:
            raise ImageTooLargeError(f"{path}: the file is {len(data):,} bytes, over the limit of "
                                     f"{limits.max_bytes:,} (VideoLimits.max_bytes)")
        fmt = sniff_video(data)
        if fmt is None:
            raise UnsupportedFormatError(f"{path}: not a video fakescope can read; supported containers: "
                                         f"{', '.join(VIDEO_FORMATS)}")
        self.path, self.limits, self.sampling, self.format = path, limits, sampling, fmt
        self.data = data
        self.keep_bytes = keep_bytes
        self.sha256 = hashlib.sha256(data).hexdigest()
        self._av = require_av()
        try:
            container = self._av.open(io.BytesIO(data), mode="r", metadata_errors="replace")
        except self._av.error.FFmpegError as e:
            raise _open_error(path, fmt, e) from e
        try:
            self.info = _info(container, fmt, path, limits)
        except BaseException:
            container.close()
            raise
        self._container = container
        self.decoded_frames = 0
        self.sampled_frames = 0
        self.variable_frame_rate = False
        self.decode_s = time.perf_counter() - t0
        self._done = False

    def __iter__(self) -> Iterator[VideoFrame]:
        if self._done or self._container is None:
            raise UsageError(f"{self.path}: a VideoReader is read once")
        av, path, fmt, limits, sampling = self._av, self.path, self.format, self.limits, self.sampling
        container = self._container
        decoded, kept, rotation = 0, 0, 0
        last_kept: float | None = None
        times: list[float] = []
        size: tuple[int, int] | None = None
        t_mark = time.perf_counter()
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if sampling.mode == "keyframes":
                stream.codec_context.skip_frame = "NONKEY"
            for frame, t in _frames(container, stream, path):
                decoded += 1
                if decoded > limits.max_decoded_frames:
                    raise ImageTooLargeError(f"{path}: more than {limits.max_decoded_frames:,} frames to decode "
                                             "(VideoLimits.max_decoded_frames)")
                if t > limits.max_duration_s:
                    raise ImageTooLargeError(f"{path}: frames at {t:.1f} s, past the limit of "
                                             f"{limits.max_duration_s:g} s (VideoLimits.max_duration_s)")
                times.append(t)
                if not _keep(sampling, t, kept, last_kept):
                    continue
                if kept >= limits.max_frames:
                    raise ImageTooLargeError(f"{path}: sampling {sampling.describe()} keeps more than "
                                             f"{limits.max_frames:,} frames (VideoLimits.max_frames); sample more "
                                             "sparsely (e.g. --video-sample 1) or raise the limit")
                _check_frame_size(frame.width, frame.height, path, limits)
                image = frame.to_ndarray(format="rgb24")
                rotation = _rotation(frame)
                if rotation:
                    image = np.ascontiguousarray(np.rot90(image, k=rotation // 90))
                kept += 1
                last_kept = t
                size = (int(image.shape[1]), int(image.shape[0]))
                self.decode_s += time.perf_counter() - t_mark
                yield VideoFrame(index=decoded - 1, t_s=t, image=image, keyframe=bool(frame.key_frame))
                t_mark = time.perf_counter()
        except FakescopeError:
            raise
        except av.error.FFmpegError as e:
            if decoded:
                raise TruncatedFileError(f"{path}: the {fmt} file is damaged or truncated: decoding failed after "
                                         f"{decoded} frames ({_reason(e)})") from e
            raise DecodeError(f"{path}: cannot decode this {fmt} file: {_reason(e)}") from e
        except MemoryError as e:
            raise DecodeError(f"{path}: ran out of memory while decoding the video") from e
        finally:
            self.close()
        self.decode_s += time.perf_counter() - t_mark
        if not decoded:
            raise DecodeError(f"{path}: the {fmt} file holds a video stream with no decodable frames")
        _check_complete(path, fmt, self.info, times, sampling, len(self.data))
        self.decoded_frames, self.sampled_frames = decoded, kept
        self.variable_frame_rate = _variable(times) if sampling.mode != "keyframes" else False
        if size is not None:
            self.info = _replace(self.info, width=size[0], height=size[1], rotation=rotation)
        self._done = True

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def video(self, frames: tuple[VideoFrame, ...] = ()) -> Video:
        """The clip as a :class:`Video` (after iterating), holding ``frames``."""
        return Video(path=self.path, sha256=self.sha256, data=self.data if self.keep_bytes else b"", info=self.info,
                     frames=tuple(frames), sampling=self.sampling, decoded_frames=self.decoded_frames,
                     variable_frame_rate=self.variable_frame_rate, decode_s=self.decode_s)


def open_video(path: str | os.PathLike[str], *, limits: VideoLimits = VideoLimits(),
               sampling: Sampling = Sampling(), keep_bytes: bool = True) -> VideoReader:
    """A :class:`VideoReader` of a file (its size checked before reading, as :func:`load_video`)."""
    return VideoReader(_read(path, limits), path=os.fsdecode(os.fspath(path)), limits=limits, sampling=sampling,
                       keep_bytes=keep_bytes)


# --------------------------------------------------------------------------------------


def _read(path: str | os.PathLike[str], limits: VideoLimits) -> bytes:
    """The file's bytes with the checks of every media read (:func:`fakescope.io.decode.read_limited`)."""
    from .decode import read_limited

    return read_limited(path, limits.max_bytes, limit_name="VideoLimits.max_bytes", what="a video")


def _replace(info: VideoInfo, **kw: Any) -> VideoInfo:
    from dataclasses import replace

    return replace(info, **kw)


def _open_error(path: str, fmt: str, e: Exception) -> DecodeError:
    reason = _reason(e)
    if any(w in reason.lower() for w in _TRUNCATION_WORDS):
        return TruncatedFileError(f"{path}: the {fmt} file is truncated or damaged: FFmpeg cannot read its "
                                  f"index ({reason})")
    return DecodeError(f"{path}: looks like a {fmt} file, but FFmpeg cannot open it ({reason})")


def _reason(e: BaseException) -> str:
    s = str(e).strip() or type(e).__name__
    # FFmpeg's messages carry the errno and the (in-memory) file name: keep the words
    return s.replace("<_io.BytesIO object", "<bytes").split(": '<")[0]


def _check_frame_size(width: int, height: int, path: str, limits: VideoLimits) -> None:
    if width < 1 or height < 1:
        raise DecodeError(f"{path}: the video stream says its frames are {width}x{height}: no pixels")
    if max(width, height) > limits.max_side:
        raise ImageTooLargeError(f"{path}: the frames are {width}x{height}, a side over the limit of "
                                 f"{limits.max_side:,} pixels (VideoLimits.max_side); not decoding it")
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(f"{path}: the frames are {width}x{height} = {width * height:,} pixels, over "
                                 f"the limit of {limits.max_pixels:,} (VideoLimits.max_pixels); not decoding it")


def _info(container: Any, fmt: str, path: str, limits: VideoLimits) -> VideoInfo:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise DecodeError(f"{path}: the {fmt} file has no video stream (streams: {', '.join(kinds)})")
    v = container.streams.video[0]
    cc = v.codec_context
    w, h = int(cc.width or 0), int(cc.height or 0)
    if w or h:
        _check_frame_size(w, h, path, limits)
    duration = None
    if v.duration is not None and v.time_base is not None:
        duration = float(v.duration * v.time_base)
    elif container.duration is not None:
        duration = float(container.duration) / 1_000_000.0
    if duration is not None and (not math.isfinite(duration) or duration < 0):
        duration = None
    if duration is not None and duration > limits.max_duration_s:
        raise ImageTooLargeError(f"{path}: the clip lasts {duration:.1f} s, over the limit of "
                                 f"{limits.max_duration_s:g} s (VideoLimits.max_duration_s); not decoding it")
    rate = v.average_rate or v.guessed_rate
    fps = float(rate) if rate else None
    audio = container.streams.audio
    tags = {str(k): str(val) for k, val in dict(container.metadata).items()}
    tags.update({f"video:{k}": str(val) for k, val in dict(v.metadata).items()
                 if k not in ("language", "handler_name", "vendor_id")})
    encoder = tags.get("encoder") or tags.get("video:encoder")
    rotation = 0  # read from the frames' display matrix as they are decoded
    bit_rate = int(container.bit_rate) if getattr(container, "bit_rate", None) else None
    return VideoInfo(format=fmt, container=str(container.format.name), codec=str(cc.name), width=w, height=h,
                     fps=round(fps, 6) if fps else None, duration_s=round(duration, 6) if duration is not None else None,
                     frames_declared=int(v.frames or 0), rotation=rotation, has_audio=bool(audio),
                     audio_codec=str(audio[0].codec_context.name) if audio else None, bit_rate=bit_rate,
                     pix_fmt=str(cc.pix_fmt) if cc.pix_fmt else None,
                     profile=str(cc.profile) if getattr(cc, "profile", None) else None, encoder=encoder, tags=tags)


def _frames(container: Any, stream: Any, path: str) -> Iterator[tuple[Any, float]]:
    """Decoded frames with their time in seconds from the first frame (pts, else best-effort, else index)."""
    t_first: float | None = None
    n = 0
    rate = stream.average_rate or stream.guessed_rate
    for packet in container.demux(stream):
        for frame in packet.decode():
            t = frame.time
            if t is None:
                t = n / float(rate) if rate else float(n)
            if t_first is None:
                t_first = t
            n += 1
            yield frame, round(float(t - t_first), 6)


def _rotation(frame: Any) -> int:
    """The frame's display rotation, counter-clockwise, snapped to a multiple of 90 in 0..270."""
    try:
        r = float(frame.rotation or 0)
    except Exception:  # pragma: no cover - PyAV without display-matrix support
        return 0
    return int(round(r / 90.0)) % 4 * 90


def _keep(sampling: Sampling, t: float, kept: int, last: float | None) -> bool:  # noqa: ARG001
    if sampling.mode != "fps":
        return True
    if last is None:
        return True
    # the first frame at or after the next tick of 1/fps (a tolerance of 1 ms for rounded timestamps)
    next_tick = (math.floor(last * sampling.fps + 1e-3) + 1) / sampling.fps
    return t >= next_tick - 1e-3


def _check_complete(path: str, fmt: str, info: VideoInfo, times: list[float], sampling: Sampling,
                    size: int) -> None:
    """A clip whose frames stop well before the declared duration (or frame count) was cut short."""
    if sampling.mode == "keyframes" or not times:
        return
    last = times[-1]
    step = 1.0 / info.fps if info.fps else 0.0
    if info.duration_s and info.duration_s > 0.5 and last + step < 0.8 * info.duration_s - 0.25:
        raise TruncatedFileError(f"{path}: the {fmt} file is truncated: it declares {info.duration_s:.2f} s but "
                                 f"its frames stop at {last:.2f} s ({len(times)} frames, {size:,} bytes)")
    if info.frames_declared > 10 and len(times) < 0.8 * info.frames_declared:
        raise TruncatedFileError(f"{path}: the {fmt} file is truncated: it declares {info.frames_declared} frames "
                                 f"but only {len(times)} could be decoded ({size:,} bytes)")


def _variable(times: list[float]) -> bool:
    if len(times) < 3:
        return False
    d = np.diff(np.asarray(times))
    d = d[d > 0]
    if d.size < 2:
        return False
    return bool((d.max() - d.min()) > 0.1 * float(np.median(d)))
