"""The batch worker: a thread in each server process that takes batch items from the database.

Jobs live in the database, not in memory: a worker claims an item (a compare-and-set that stamps
its id and the time), scans it through :class:`~fakescope.service.scanning.ScanService` (the same
path as ``POST /v1/scan``, so known bytes are answered from the database) and writes the result
only if it still holds the item.  A worker that dies leaves its item "running"; once the lease has
run out another worker (or the restarted server) claims it again.  Each item ends with exactly one
result, however often workers die; an item whose workers died ``max_attempts`` times (an image
that crashes the process) is given up with an error instead of killing workers for ever.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from ..errors import DecodeError
from .scanning import AnalysisError, ScanService, read_file_limited
from .settings import Settings
from .store import Store

__all__ = ["BatchWorker", "in_allowed_root"]

_log = logging.getLogger("fakescope.service")


def in_allowed_root(path: str, roots: tuple[str, ...]) -> bool:
    """Whether ``path``, links resolved, lies inside one of the operator's allowed folders."""
    real = os.path.realpath(path)
    for r in roots:
        try:
            if os.path.commonpath([real, r]) == r:
                return True
        except ValueError:  # different drives
            continue
    return False


class BatchWorker:
    def __init__(self, settings: Settings, store: Store, service: ScanService, *, max_attempts: int = 3,
                 on_item=None) -> None:
        self.settings = settings
        self.store = store
        self.service = service
        self.max_attempts = max_attempts
        self.id = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_item = on_item
        self.processed = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fakescope-batch-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                did = self.run_once()
            except Exception:  # the database went away for a moment: log, wait, go on
                _log.exception("batch worker: error while claiming or recording an item")
                did = False
            if not did:
                self._wake.wait(self.settings.poll_s)
                self._wake.clear()

    def run_once(self) -> bool:
        """Claim and process one item; False when there was nothing to do."""
        items = self.store.claim(self.id, lease_s=self.settings.lease_s)
        if not items:
            return False
        for item in items:
            self._process(item)
        return True

    def _process(self, item) -> None:  # noqa: ANN001
        options, _key = self.store.job_options(item.job_id)
        name, path, data = item.name, item.path, item.data
        if item.attempts > self.max_attempts:
            rec = {"path": name, "sha256": None, "status": "error", "error_type": "WorkerCrash",
                   "error": f"{name}: given up after {item.attempts - 1} attempts: the worker died each time "
                            "while scanning it", "elapsed_ms": None}
            self.store.complete(item.id, self.id, status="error", record=rec)
            return
        cached = False
        try:
            if path is not None:
                if not in_allowed_root(path, self.settings.batch_roots):
                    raise DecodeError(f"{name}: outside the folders this server may read")
                data = read_file_limited(path, self.settings.max_upload_bytes)
            opts = self.service.options(**options)
            out = self.service.scan(data or b"", name=name, opts=opts)
            rec, cached, status = dict(out.record), out.cached, "done"
            if out.seen_before is not None:
                rec["seen_before"] = out.seen_before
        except AnalysisError as e:
            rec, status = e.record, "error"
        except (DecodeError, OSError) as e:
            msg = str(e) if isinstance(e, DecodeError) else f"{name}: cannot read the file: {e.strerror or e}"
            rec = {"path": name, "sha256": None, "status": "error", "error": msg,
                   "error_type": type(e).__name__, "elapsed_ms": None}
            status = "error"
        if self.store.complete(item.id, self.id, status=status, record=rec, cached=cached):
            self.processed += 1
        if self.on_item is not None:
            self.on_item(status, cached)
