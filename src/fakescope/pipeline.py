"""The scan flow: source → decode → analyzers → fuse → verdict.

Everything that scans (the CLI, the Python API, benchmarks, the service) goes through
:class:`Scanner`; none of them re-implements a step.
"""

from __future__ import annotations

import os
import time
import traceback
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from .detectors import Detector, create_detector
from .errors import DecodeError, FakescopeError
from .fusion import Fuser
from .io.decode import DecodeLimits, compression_class, decode, read_file
from .types import Evidence, Sample, Verdict, display_text

if TYPE_CHECKING:
    from .io.sources import InputProblem
    from .io.video import VideoLimits
    from .provenance import ProvenanceOptions
    from .video import VideoOptions

__all__ = ["Scanner", "scan", "scan_inputs", "scan_file", "already_done"]


class Scanner:
    """Runs every analyzer on a sample and fuses their evidence into a :class:`Verdict`.

    Parameters
    ----------
    detectors : names of registered detectors (default: every calibrated detector).
    fpr : target false-positive rate for the ``ai-generated`` label.
    limits : decoding limits.
    provenance, provenance_options : read provenance (C2PA, metadata, watermarks) and how.
    exhaustive : score every tile of every image.  By default a full-resolution image is scanned in
        two stages when the fusion has a calibrated cascade (:meth:`fakescope.fusion.Fuser.early_exit`):
        half of the npr tiles first, the other half only when the first stage does not settle the label.
    video : how videos are scanned (sampling, limits, face crops; :class:`fakescope.video.VideoOptions`).
        A video (sniffed from its bytes) is scanned frame by frame through this same flow
        (:func:`fakescope.video.scan_video`).
    attribution : name the generator from pixels (:mod:`fakescope.attribution`) when the image is labelled
        ``ai-generated`` and provenance names none.
    registry : a registry of enrolled generators (default: the user's, when it exists).
    localize : a folder: write every image's localization map there (``<stem>.map.png``) and fill the
        verdict's ``heatmap`` (:mod:`fakescope.localization`).
    """

    def __init__(self, detectors: Sequence[str] | None = None, *, fpr: float = 0.01,
                 limits: DecodeLimits | None = None, provenance: bool = True,
                 provenance_options: "ProvenanceOptions | None" = None, exhaustive: bool = False,
                 video: "VideoOptions | None" = None, attribution: bool = True,
                 registry: "str | os.PathLike[str] | None" = None,
                 localize: "str | os.PathLike[str] | None" = None) -> None:
        if detectors:
            names = tuple(detectors)
            self.detectors: tuple[Detector, ...] = tuple(create_detector(n) for n in names)
            self.fuser = Fuser(names, fpr=fpr)
        else:  # the calibrated default (thumbnails may fuse more detectors than full-resolution images)
            self.fuser = Fuser.default(fpr=fpr)
            self.detectors = tuple(create_detector(n) for n in self.fuser.detectors)
        self.limits = limits or DecodeLimits()
        self.fpr = fpr
        self.provenance = provenance
        self.provenance_options = provenance_options
        self.cascade = not exhaustive
        self.video = video
        self.attributor = None
        if attribution:
            from .attribution import Attributor

            self.attributor = Attributor(registry=registry)  # a bad registry fails here, once, as a usage error
        self.localize_dir = os.fspath(localize) if localize is not None else None
        self._localizer = None

    def preload(self) -> None:
        """Import and build what the first image would (ONNX Runtime, the C2PA SDK, the JPEG
        quality tables) without opening any session: the scan engine calls it before forking
        workers, which then start warm instead of each doing it (~0.1 s per worker per scan)."""
        try:
            import onnxruntime  # noqa: F401
        except ImportError:  # pragma: no cover - core dependency
            pass
        from .io import video  # noqa: F401  (every file's bytes are sniffed for a video container first)

        if self.provenance:
            from .provenance import preload

            preload()

    @property
    def detector_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.detectors)

    def analyze(self, sample: Sample) -> tuple[list[Evidence], dict[str, float], bool]:
        """Evidence of every analyzer, the detectors' raw scores, and whether those are first-stage
        scores that settled the label (the early exit, :meth:`fakescope.fusion.Fuser.early_exit`)."""
        min_side = min(sample.width, sample.height)
        wanted = self.fuser.detectors_for(min_side)
        dets = [d for d in self.detectors if d.name in wanted]  # not fused for this image size: not run
        staged = self._staged(sample, dets, min_side) if self.cascade else None
        if staged is not None:
            evidence, raw, early = staged
        else:
            evidence, raw, early = [], {}, False
            for det in dets:
                ev = det.analyze(sample)
                evidence.append(ev)
                if ev.weight == "pixel" and "raw" in ev.details:
                    raw[det.name] = float(ev.details["raw"])
        if self.provenance:
            from .provenance import ProvenanceOptions, analyze_provenance

            evidence.extend(analyze_provenance(sample, self.provenance_options or ProvenanceOptions()))
        return evidence, raw, early

    def _staged(self, sample: Sample, dets: Sequence[Detector],
                min_side: int) -> tuple[list[Evidence], dict[str, float], bool] | None:
        """The two-stage scan of a full-resolution image: first-stage scores of every detector (half
        of the tiles where the plan says so), the rest only when they do not settle the label.  None
        when the image is not scanned in two stages."""
        compression = _compression(sample)
        plan = self.fuser.stage_plan(min_side, compression)
        if plan is None or set(plan) != {d.name for d in dets} or any(min_side < d.min_side for d in dets):
            return None
        first: dict[str, float] = {}
        rest: dict[str, Callable[[], float] | None] = {}
        can_exit = True
        for det in dets:
            r, finish = det.staged_raw_score(sample.image)
            if plan[det.name] == "full" and finish is not None:
                r, finish = finish(), None
            elif plan[det.name] == "half" and finish is None:  # no second half on this image: no early exit
                can_exit = False
            first[det.name], rest[det.name] = r, finish
        if can_exit and self.fuser.early_exit(first, min_side=min_side, compression=compression):
            evidence = [d.evidence(first[d.name], **({"stage": "first"} if plan[d.name] == "half" else {}))
                        for d in dets]
            return evidence, first, True
        raw = {d.name: (rest[d.name]() if rest[d.name] is not None else first[d.name]) for d in dets}
        return [d.evidence(raw[d.name]) for d in dets], raw, False

    def scan_sample(self, sample: Sample, *, t0: float | None = None) -> Verdict:
        t0 = time.perf_counter() if t0 is None else t0
        evidence, raw, early = self.analyze(sample)
        d = self.fuser.decide(evidence, raw, min_side=min(sample.width, sample.height), first_stage=early,
                              compression=_compression(sample))
        heatmap, extra = None, []
        if self.attributor is not None and d.label == "ai-generated" and d.generator is None:
            extra.append(self.attributor.evidence(sample.image))  # only then: it costs a second pass of 4 crops
        if self.localize_dir is not None:
            from .localization import Localizer, map_path

            if self._localizer is None:
                self._localizer = Localizer()
            ev, _ = self._localizer.evidence(sample.image, out_path=map_path(self.localize_dir, sample.path))
            extra.append(ev)
            heatmap = ev.details["map"]
        if extra:
            from .fusion import attach_where_and_who

            d = attach_where_and_who(d, extra)
            evidence = list(evidence) + extra
        return Verdict(
            path=sample.path, status="ok", sha256=sample.sha256, p_fake=d.p_fake, label=d.label,
            threshold=d.threshold, operating_fpr=d.operating_fpr, generator=d.generator,
            evidence=tuple(evidence), explanation=d.explanation, heatmap=heatmap,
            elapsed_ms=(time.perf_counter() - t0) * 1000.0,
            width=sample.width, height=sample.height, format=sample.metadata.format,
        )

    def scan_bytes(self, data: bytes, *, name: str = "<upload>") -> Verdict:
        t0 = time.perf_counter()
        if _sniff_video(data[:64]):
            return self._scan_video(data, name, t0)
        try:
            sample = decode(data, path=name, limits=self.limits)
        except DecodeError as e:
            return _error(name, e, t0)
        return self._guarded(sample, t0)

    def scan_decoded(self, sample: Sample, *, t0: float | None = None) -> Verdict:
        """Scan a sample already decoded (by :func:`fakescope.io.decode.decode` with this scanner's limits,
        as :meth:`scan_bytes` does): the service decodes once for its perceptual hash and the scan.  An
        analyzer's failure gives an error verdict, never an exception."""
        return self._guarded(sample, time.perf_counter() if t0 is None else t0)

    def scan_path(self, path: str | os.PathLike, *, data: bytes | None = None) -> Verdict:
        """Scan one file; an unreadable file gives an error verdict, never an exception.

        ``data``: the file's bytes, already read by :func:`fakescope.io.decode.read_file` (the Ray
        engine's driver reads the files and its workers scan them); the verdict is the one
        ``scan_path(path)`` gives."""
        t0 = time.perf_counter()
        path = os.fspath(path)
        try:
            if data is None:  # one read; the bytes say whether it is a video (a video's own size limit applies)
                data = read_file(path, limits=self.limits, video_max_bytes=self.video_limits().max_bytes)
            if _sniff_video(data[:64]):
                return self._scan_video(data, os.fsdecode(path), t0)
            sample = decode(data, path=os.fsdecode(path), limits=self.limits)
        except (DecodeError, OSError) as e:
            return _error(path, e, t0)
        return self._guarded(sample, t0)

    def video_limits(self) -> "VideoLimits":
        """The limits videos are read and decoded with (``video.limits``, else the defaults)."""
        if self.video is not None:
            return self.video.limits
        from .io.video import VideoLimits

        return VideoLimits()

    def scan_input(self, item: "str | InputProblem") -> Verdict:
        """Scan one input of :func:`fakescope.io.sources.iter_inputs`: a file, or a problem met while
        walking (a missing path, an unreadable folder, a link loop), which becomes its error row."""
        from .io.sources import InputProblem

        if isinstance(item, InputProblem):
            return Verdict(path=item.path, status="error", error=item.message, error_type="InputError",
                           elapsed_ms=0.0)
        return self.scan_path(item)

    def _scan_video(self, source: "str | bytes", name: str, t0: float) -> Verdict:
        """A video, frame by frame through this flow (:func:`fakescope.video.scan_video`); errors become rows."""
        from .video import scan_video

        try:
            return scan_video(self, source, options=self.video, name=name, t0=t0)
        except FakescopeError as e:
            return _error(name, e, t0)
        except OSError as e:
            return _error(name, e, t0)
        except Exception as e:  # an analyzer bug must not kill the scan: report it on the row
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            return _error(name, RuntimeError(f"internal error while analysing: {detail}"), t0)

    def _guarded(self, sample: Sample, t0: float) -> Verdict:
        try:
            return self.scan_sample(sample, t0=t0)
        except FakescopeError as e:
            return _error(sample.path, e, t0, sha256=sample.sha256)
        except Exception as e:  # an analyzer bug must not kill a 10,000-image scan: report it on the row
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            return _error(sample.path, RuntimeError(f"internal error while analysing: {detail}"), t0,
                          sha256=sample.sha256)


def _sniff_video(head: bytes) -> bool:
    from .io.video import sniff_video

    return sniff_video(head) is not None


def _compression(sample: Sample) -> str:
    """The sample's compression class (the fusion may hold a threshold of its own for it)."""
    return compression_class(sample.metadata.format, sample.data)


def _error(path: str, e: BaseException, t0: float, *, sha256: str | None = None) -> Verdict:
    if isinstance(e, OSError) and not isinstance(e, FakescopeError):
        msg = f"{path}: cannot read file: {e.strerror or e}"
    else:
        msg = str(e) or type(e).__name__
    return Verdict(path=path, status="error", sha256=sha256, error=msg, error_type=type(e).__name__,
                   elapsed_ms=(time.perf_counter() - t0) * 1000.0)


def scan(paths: str | os.PathLike | Iterable[str | os.PathLike], *, recursive: bool = False,
         detectors: Sequence[str] | None = None, fpr: float = 0.01, jobs: int | None = None,
         provenance: bool = True, provenance_options: "ProvenanceOptions | None" = None,
         skip: Iterable[str] = (), exhaustive: bool = False, engine: str = "local",
         address: str | None = None, video: "VideoOptions | None" = None, attribution: bool = True,
         registry: "str | os.PathLike[str] | None" = None,
         localize: "str | os.PathLike[str] | None" = None) -> Iterator[Verdict]:
    """Scan files and folders, yielding one :class:`Verdict` per input, in input order.

    Parameters
    ----------
    paths : a file, a folder, or several.
    recursive : descend into sub-folders.
    detectors : detector names (default: every calibrated detector).
    fpr : target false-positive rate of the ``ai-generated`` label on real photos.
    jobs : worker processes (local engine, default 1: in this process; 0: one per CPU core), or
        scanning actors (Ray engine, default 0: one per CPU of the cluster).
    provenance : read C2PA, IPTC, generator metadata, camera traces and watermarks.
    provenance_options : e.g. C2PA trust anchors.
    skip : paths already done (``--resume``), compared after normalisation.
    exhaustive : score every tile of every image (no early exit; see :class:`Scanner`).
    engine : ``"local"`` (this machine's processes) or ``"ray"`` (a Ray cluster; the ``ray`` extra):
        the same verdicts either way.
    address : the Ray cluster (see :func:`fakescope.engines.ray.run_ray`; default: a local instance).
    video : how videos are scanned (:class:`fakescope.video.VideoOptions`; default 2 frames/s, face crops).
    attribution, registry, localize : see :class:`Scanner`.

    Examples
    --------
    >>> import fakescope
    >>> [v.status for v in fakescope.scan([])]
    []
    """
    from .io.sources import iter_inputs

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    skip_set = {os.path.normpath(s) for s in skip}
    inputs = (p for p in iter_inputs(paths, recursive=recursive) if not already_done(p, skip_set))
    yield from scan_inputs(inputs, detectors=detectors, fpr=fpr, jobs=jobs, provenance=provenance,
                           provenance_options=provenance_options, exhaustive=exhaustive, engine=engine,
                           address=address, video=video, attribution=attribution, registry=registry,
                           localize=localize)


ENGINES = ("local", "ray")


def scan_inputs(inputs: "Iterable[str | InputProblem]", *, detectors: Sequence[str] | None = None,
                fpr: float = 0.01, jobs: int | None = None, provenance: bool = True,
                provenance_options: "ProvenanceOptions | None" = None, exhaustive: bool = False,
                engine: str = "local", address: str | None = None,
                log: Callable[[str], None] | None = None, video: "VideoOptions | None" = None,
                attribution: bool = True, registry: "str | os.PathLike[str] | None" = None,
                localize: "str | os.PathLike[str] | None" = None) -> Iterator[Verdict]:
    """Scan a stream of inputs as :func:`fakescope.io.sources.iter_inputs` yields them (files, and problems
    met on the way, which become error rows), consuming it lazily: the first verdict comes before the
    last folder is listed.  Options as :func:`scan`; ``log`` receives the Ray engine's line about its pool."""
    options = dict(detectors=tuple(detectors) if detectors else None, fpr=fpr, provenance=provenance,
                   provenance_options=provenance_options, exhaustive=exhaustive, video=video,
                   attribution=attribution, registry=os.fspath(registry) if registry is not None else None,
                   localize=os.fspath(localize) if localize is not None else None)
    if engine == "ray":
        from .engines.ray import run_ray

        yield from run_ray(inputs, jobs=0 if jobs is None else jobs, address=address, log=log, **options)
        return
    if engine != "local":
        from .errors import UsageError

        raise UsageError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if address is not None:
        from .errors import UsageError

        raise UsageError("--address is for --engine ray")
    from .engines.local import run_local

    yield from run_local(inputs, jobs=1 if jobs is None else jobs, **options)


def already_done(item: object, skip: "set[str]") -> bool:
    """Whether an input of :func:`fakescope.io.sources.iter_inputs` is among the ``skip`` paths of
    ``--resume`` (a name that is not UTF-8 matches its lossless form, or in CSV its escaped one)."""
    return bool(skip) and isinstance(item, str) and (item in skip or display_text(item) in skip)


def scan_file(path: str | os.PathLike, *, detectors: Sequence[str] | None = None, fpr: float = 0.01,
              provenance: bool = True, exhaustive: bool = False, attribution: bool = True,
              registry: "str | os.PathLike[str] | None" = None,
              localize: "str | os.PathLike[str] | None" = None) -> Verdict:
    """Scan a single file in this process."""
    return Scanner(detectors, fpr=fpr, provenance=provenance, exhaustive=exhaustive, attribution=attribution,
                   registry=registry, localize=localize).scan_path(path)
