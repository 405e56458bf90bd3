"""Ray engine: the scan flow on a Ray cluster, through a pool of actors that each build one
:class:`~fakescope.pipeline.Scanner`.

The driver (the process running ``fakescope scan --engine ray``) walks the inputs lazily, reads
each file's bytes (:func:`fakescope.io.decode.read_file`, the read step of the local engine's
``load``) and hands them to the actors in chunks; the actors decode, analyse and fuse exactly as
the local engine's workers do (:meth:`Scanner.scan_path` with the bytes), and the verdicts stream
back to the driver, which yields them in input order.  The workers therefore need fakescope
(same version: the weights ship inside the package) but no access to the files, and the output,
``--resume`` included, is the CLI's own: this module only schedules.

Why Ray core actors rather than Ray Data: the scan's input is a lazy stream (a folder walk, a
list on standard input) whose first verdict is written before the last folder is listed, the
output must come back in input order to the one writer that makes ``--resume`` work, and the
actors keep their ONNX sessions for the whole scan.  A hand-rolled pool of actors with a bounded
window of chunks in flight does this with Ray's core API alone (no pyarrow or pandas on the
nodes), with the same back-pressure as the local engine's ``imap``.

Faults: an actor whose process or node dies is restarted by Ray and its chunk retried
(``max_restarts`` / ``max_task_retries``); results are written only once a chunk has come back,
so a chunk is never written twice.  A killed driver loses only the chunks in flight:
``fakescope scan --resume`` continues from the output file as with the local engine.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from typing import Any, Callable, Iterable, Iterator

from .._version import __version__
from ..errors import FakescopeError, MissingDependencyError, UsageError
from ..types import Verdict
from .runtime import tune_allocator

__all__ = ["run_ray", "require_ray", "DEFAULT_CHUNK_SIZE"]

DEFAULT_CHUNK_SIZE = 8  # images per Ray task: amortises the task overhead (~1 ms) over 8 scans (5-50 ms each)
WINDOW = 2  # chunks in flight per actor: one being scanned, one queued, so an actor never waits for the driver
READY_TIMEOUT_S = float(os.environ.get("FAKESCOPE_RAY_READY_TIMEOUT", "300"))  # no actor at all after this: fail
MAX_RESTARTS = 3
STRAGGLER_S = 10.0  # how long the pool waits for its last actors before it starts without them

_log = logging.getLogger(__name__)


def require_ray():
    """The ``ray`` module, or :class:`MissingDependencyError` naming the ``ray`` extra."""
    try:
        import ray
    except ImportError as e:
        raise MissingDependencyError("ray", "ray", "--engine ray") from e
    return ray


class _ScanActor:
    """One scanning process on a Ray node: a :class:`Scanner` built once, scanning chunks."""

    def __init__(self, options: dict[str, Any]) -> None:
        tune_allocator()
        from ..pipeline import Scanner

        po = options.get("provenance_options")
        for f in (*(po.c2pa_trust if po else ()), *([po.c2pa_trust_list] if po and _is_file_spec(po.c2pa_trust_list)
                                                    else [])):
            if not os.path.isfile(f):
                import socket

                raise UsageError(f"the C2PA trust file {f} given to the scan is not on the Ray node "
                                 f"{socket.gethostname()}: put it at the same path on every node")

        self.scanner = Scanner(**options)
        self.scanner.preload()

    def info(self) -> dict[str, Any]:
        import ray

        return {"version": __version__, "node": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}

    def scan(self, items: list[Any]) -> list[Verdict]:
        from ..io.sources import InputProblem

        out = []
        for item in items:
            if isinstance(item, InputProblem):
                out.append(self.scanner.scan_input(item))
            else:
                path, data = item
                out.append(self.scanner.scan_path(path, data=data))
        return out


def _is_file_spec(trust_list: Any) -> bool:
    from ..provenance.c2pa import DEFAULT_TRUST_LIST

    return trust_list is not None and str(trust_list) != DEFAULT_TRUST_LIST


def _pin_files(options: dict[str, Any]) -> dict[str, Any]:
    """Scanner options as the driver means them, for actors on other machines: trust files as absolute
    paths, and the default trust list as the file ``$FAKESCOPE_C2PA_TRUST_LIST`` names here."""
    import dataclasses

    po = options.get("provenance_options")
    if po is None:
        return options
    trust_list = po.c2pa_trust_list
    if not _is_file_spec(trust_list) and trust_list is not None and os.environ.get("FAKESCOPE_C2PA_TRUST_LIST"):
        trust_list = os.environ["FAKESCOPE_C2PA_TRUST_LIST"]
    po = dataclasses.replace(po, c2pa_trust=tuple(os.path.abspath(f) for f in po.c2pa_trust),
                             c2pa_trust_list=os.path.abspath(trust_list) if _is_file_spec(trust_list) else trust_list)
    return {**options, "provenance_options": po}


def _read(item: Any, limits: Any) -> tuple[Any, Verdict | None]:
    """The driver's part of one input: ``(work item, None)``, or ``(None, error verdict)`` when the
    file cannot be read (the local engine's verdict for it: same message, same type).  ``limits``: the
    image limits and the video byte limit (:meth:`fakescope.pipeline.Scanner.scan_path` reads the same way)."""
    from ..errors import DecodeError
    from ..io.decode import read_file
    from ..io.sources import InputProblem
    from ..pipeline import _error

    if isinstance(item, InputProblem):
        return item, None
    t0 = time.perf_counter()
    path = os.fspath(item)
    try:
        return (path, read_file(path, limits=limits[0], video_max_bytes=limits[1])), None
    except (DecodeError, OSError) as e:
        return None, _error(path, e, t0)


def _connect(ray: Any, address: str | None) -> bool:
    """Connect this process to Ray; True when this call did (and should disconnect at the end)."""
    if ray.is_initialized():
        return False
    kw: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address in (None, "", "local"):
        # a new local instance sized to this machine ("local": never an instance some `ray start` left)
        ray.init(address="local", include_dashboard=False, **kw)
    else:
        try:
            ray.init(address=address, **kw)
        except ConnectionError as e:
            hint = ""
            if os.environ.get("RAY_AUTH_MODE") is None:
                hint = ("; if the cluster uses token authentication (the default of `ray start` when a token exists), "
                        "set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or ~/.ray/auth_token) here too")
            raise FakescopeError(f"cannot join the Ray cluster at {address}: {e}{hint}") from e
    return True


def run_ray(inputs: Iterable[Any], *, jobs: int = 0, address: str | None = None,
            chunk_size: int = DEFAULT_CHUNK_SIZE, log: Callable[[str], None] | None = None,
            **scanner_options: Any) -> Iterator[Verdict]:
    """Scan ``inputs`` (paths, or :class:`~fakescope.io.sources.InputProblem` rows) on Ray, yielding
    verdicts in input order, each the one the local engine gives.

    Parameters
    ----------
    inputs : as :func:`fakescope.engines.local.run_local`; consumed lazily.
    jobs : scanning actors, one CPU each (0: one per CPU of the cluster, counted at the start).
    address : the cluster: ``None`` starts a local Ray instance sized to this machine (and stops
        it at the end); ``"auto"`` joins the cluster ``ray start`` runs on this machine; a GCS
        address ``HOST:PORT`` or a Ray Client address ``ray://HOST:PORT`` joins that cluster.
        When this process is already connected to Ray (``ray.init`` was called), that
        connection is used and ``address`` is ignored.
    chunk_size : images per Ray task.
    log : called with one line describing the pool once it is up.
    scanner_options : :class:`~fakescope.pipeline.Scanner` keyword arguments.
    """
    from ..pipeline import Scanner

    if jobs < 0:
        raise UsageError(f"--jobs must be >= 0, got {jobs}")
    if chunk_size < 1:
        raise UsageError(f"the chunk size must be >= 1, got {chunk_size}")
    scanner = Scanner(**scanner_options)  # bad options fail here, once, as usage errors (not in every actor)
    limits = (scanner.limits, scanner.video_limits().max_bytes)
    ray = require_ray()
    owned = _connect(ray, address)
    actors: list[Any] = []
    try:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        n = jobs or max(1, cpus)
        actor_cls = ray.remote(num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)(_ScanActor)
        actors = [actor_cls.remote(_pin_files(scanner_options)) for _ in range(n)]
        yield from _schedule(ray, actors, inputs, limits, chunk_size, cpus, log)
    finally:
        for a in actors:  # the pool ends with the scan, interrupted or not (the cluster stays)
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        if owned:
            ray.shutdown()


def _schedule(ray: Any, actors: list[Any], inputs: Iterable[Any], limits: Any, chunk_size: int, cpus: int,
              log: Callable[[str], None] | None) -> Iterator[Verdict]:
    """Feed chunks to the actors as they become ready and free, WINDOW chunks each; yield in order."""
    starting = {a.info.remote(): a for a in actors}  # an actor joins the pool when its Scanner is built
    live: dict[Any, int] = {}  # ready actor -> chunks in flight on it
    nodes: set[str] = set()
    inflight: dict[Any, tuple[Any, int, list[Any]]] = {}  # task ref -> (actor, chunk number, its slots)
    done: dict[int, list[Verdict]] = {}
    source = iter(inputs)
    next_chunk = next_out = 0
    exhausted = False
    t_start = time.monotonic()

    def take_chunk() -> tuple[list[Any], list[Any]] | None:
        """Up to chunk_size inputs, read: the slots (a ready error verdict, or None: from the actor)
        and the work items for the actor."""
        slots: list[Any] = []
        work: list[Any] = []
        for item in itertools.islice(source, chunk_size):
            w, verdict = _read(item, limits)
            slots.append(verdict)
            if w is not None:
                work.append(w)
        return (slots, work) if slots else None

    def merge(slots: list[Any], verdicts: list[Verdict]) -> list[Verdict]:
        it = iter(verdicts)
        return [s if s is not None else next(it) for s in slots]

    t_first: float | None = None  # when the first actor was ready
    announced = False
    while True:
        # the pool starts work once every actor is up (they start in parallel, so the wait is the slowest
        # one's start-up), or STRAGGLER_S after the first: an actor that cannot be placed yet (a busy or
        # autoscaling cluster) joins when it can
        if live and not announced and (not starting or time.monotonic() - t_first > STRAGGLER_S):
            announced = True
            if log is not None:
                log(f"Ray: {len(live)} scanning actors on {len(nodes)} node(s)"
                    + (f" ({len(starting)} more starting)" if starting else "") + f", chunks of {chunk_size} images")
        # hand out chunks to free actors (an actor with fewest chunks first)
        while announced and not exhausted and live:
            actor = min(live, key=live.__getitem__)
            if live[actor] >= WINDOW:
                break
            chunk = take_chunk()
            if chunk is None:
                exhausted = True
                break
            slots, work = chunk
            if work:
                inflight[actor.scan.remote(work)] = (actor, next_chunk, slots)
                live[actor] += 1
            else:  # nothing for an actor (every file unreadable): done already
                done[next_chunk] = merge(slots, [])
            next_chunk += 1
        while next_out in done:
            yield from done.pop(next_out)
            next_out += 1
        if exhausted and not inflight and next_out == next_chunk:
            return
        waiting = list(inflight) + list(starting)
        ready, _ = ray.wait(waiting, num_returns=1, timeout=1.0)
        if not ready:
            if not live and time.monotonic() - t_start > READY_TIMEOUT_S:
                raise FakescopeError(f"no Ray actor could start in {READY_TIMEOUT_S:.0f} s (the cluster has {cpus} "
                                     "CPUs; each scanning actor needs one)")
            continue
        for ref in ready:
            if ref in starting:
                actor = starting.pop(ref)
                info = _get(ray, ref, "starting a scanning actor")
                if info["version"] != __version__:
                    raise FakescopeError(f"the Ray workers run fakescope {info['version']}, this driver {__version__}: "
                                         "install the same fakescope version on every node (the weights ship with it)")
                live[actor] = 0
                nodes.add(info["node"])
                t_first = t_first or time.monotonic()
            else:
                actor, k, slots = inflight.pop(ref)
                live[actor] -= 1
                done[k] = merge(slots, _get(ray, ref, "scanning a chunk"))


def _get(ray: Any, ref: Any, what: str) -> Any:
    try:
        return ray.get(ref)
    except FakescopeError:
        raise
    except ray.exceptions.RayTaskError as e:  # an exception inside the actor: raise it as it was
        cause = e.as_instanceof_cause()
        if isinstance(cause, FakescopeError):
            raise cause from None
        raise FakescopeError(f"Ray: error while {what}: {e}") from e
    except ray.exceptions.RayError as e:  # an actor or node lost for good (after Ray's retries)
        tail = "; the verdicts written so far are kept: rerun with --resume to continue" if "chunk" in what else ""
        raise FakescopeError(f"Ray: {type(e).__name__} while {what}: {e}{tail}") from e
