"""The REST service: ``create_app(settings)`` builds the FastAPI application.

It holds no scan logic of its own: uploads go through :class:`~fakescope.service.scanning.ScanService`
(the CLI's :class:`~fakescope.pipeline.Scanner` plus the results database).  Keys, rate limits and
upload size are checked by :class:`Gate` before a byte of the body is read.
"""

from __future__ import annotations

import logging
import os
import re
import time
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from .._version import __version__
from ..errors import DecodeError, EmptyFileError, ImageTooLargeError, TruncatedFileError, UsageError
from ..io.video import sniff_video
from .metrics import Metrics, rss_bytes
from .problems import Problem, problem_response
from .scanning import AnalysisError, ScanService
from .security import TokenBuckets
from .settings import Settings
from .store import Store
from .worker import BatchWorker, in_allowed_root

__all__ = ["create_app", "app_from_env"]

_log = logging.getLogger("fakescope.service")
STATIC = resources.files("fakescope.service") / "static"
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_JOB_RE = re.compile(r"^[0-9a-f]{32}$")
_MULTIPART_SLACK = 64 * 1024  # multipart headers and the small form fields around a file

PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
            "media-src blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

DESCRIPTION = """Is this image AI-generated? The fakescope scan flow as a service: the same verdicts as
`fakescope scan` for the same bytes (docs/verdict.schema.json), stored in a results database.
Videos (mp4, mov, webm, mkv, avi) too: the clip's `p_fake`, its `segments` of generated-looking frames
and the sampled `frames`, under the server's video size and duration limits.

* Every `/v1` call needs an API key (`fakescope keys create NAME`) as `Authorization: Bearer KEY` or
  `X-API-Key: KEY`, unless the server runs with `--no-auth`.
* Uploads only: this service never fetches a URL (no server-side request forgery). Batches may name a
  server-side folder only inside the folders the operator allowed (`--allow-folder`).
* Errors are RFC 9457 problem details (`application/problem+json`).
"""


def _client(scope) -> str:  # noqa: ANN001
    c = scope.get("client")
    return c[0] if c else "unknown"


class Gate:
    """ASGI middleware in front of every route: API key, rate limit and body size are checked here,
    before the body is read; security headers and request metrics for every response."""

    def __init__(self, app, *, settings: Settings, store: Store, buckets: TokenBuckets, metrics: Metrics) -> None:  # noqa: ANN001
        self.app = app
        self.settings = settings
        self.store = store
        self.buckets = buckets
        self.metrics = metrics

    def _limit(self, path: str) -> int:
        if path == "/v1/batches":
            return self.settings.max_batch_bytes + _MULTIPART_SLACK
        return self.settings.max_upload_bytes + _MULTIPART_SLACK

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        path: str = scope.get("path", "")
        status_box = [500]
        page = path == "/" or path.startswith("/static/") or path == "/docs"

        async def send_wrapped(msg):  # noqa: ANN001
            if msg["type"] == "http.response.start":
                status_box[0] = msg["status"]
                headers = list(msg.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                            (b"x-frame-options", b"DENY"), (b"cache-control", b"no-store")]
                if page:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                msg = dict(msg, headers=headers)
            await send(msg)

        try:
            resp = await self._check(scope, path)
            if resp is not None:
                await resp(scope, receive, send_wrapped)
                return
            await self._call_limited(scope, receive, send_wrapped, path)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or ("/static" if path.startswith("/static/") else "unmatched")
            self.metrics.inc("fakescope_http_requests_total", method=scope.get("method", ""), route=name,
                             status=str(status_box[0]))
            self.metrics.observe("fakescope_http_request_seconds", time.perf_counter() - t0, route=name)

    async def _check(self, scope, path: str) -> Response | None:  # noqa: ANN001
        if not path.startswith("/v1/"):
            return None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        client = _client(scope)
        actor = f"anonymous@{client}"
        key_id = f"ip:{client}"
        if self.settings.auth:
            key = headers.get("x-api-key", "").strip()
            auth = headers.get("authorization", "")
            if not key and auth[:7].lower() == "bearer ":
                key = auth[7:].strip()
            info = await run_in_threadpool(self.store.verify_key, key) if key else None
            if info is None:
                detail = ("an API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY' "
                          "(create one with: fakescope keys create NAME)") if not key else \
                    "the API key is not valid (unknown or revoked)"
                await run_in_threadpool(self.store.audit, "anonymous", "auth.fail", target=path, status=401,
                                        client=client, detail="no key" if not key else "invalid key")
                return problem_response(401, detail, headers={"WWW-Authenticate": 'Bearer realm="fakescope"'},
                                        instance=path)
            actor = f"{info.name} ({info.prefix})"
            key_id = f"key:{info.id}"
        scope.setdefault("state", {})["actor"] = actor
        if scope.get("method") == "POST":
            ok, wait = self.buckets.take(key_id)
            if not ok:
                retry = max(1, int(wait + 0.999))
                self.metrics.inc("fakescope_rate_limited_total")
                return problem_response(429, f"rate limit: {self.settings.rate_per_minute:g} requests a minute "
                                             f"(bursts of {self.settings.rate_burst}); retry in {retry} s",
                                        headers={"Retry-After": str(retry)}, instance=path)
            cl = headers.get("content-length")
            limit = self._limit(path)
            if cl is not None and cl.isdigit() and int(cl) > limit:
                return problem_response(413, f"the request body is {int(cl)} bytes, over the limit of {limit}",
                                        instance=path, limit=limit)
        return None

    async def _call_limited(self, scope, receive, send, path: str) -> None:  # noqa: ANN001
        if scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        limit = self._limit(path)
        seen = 0

        async def receive_limited():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise Problem(413, f"the request body is over the limit of {limit} bytes", limit=limit)
            return msg

        await self.app(scope, receive_limited, send)


def _safe_name(name: str | None) -> str:
    """An upload's file name as a label: its last path component, printable, at most 255 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable()).strip()
    return base[:255] or "upload"


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """The service as an ASGI application (FastAPI).  Opens (and migrates) the results database;
    starts the batch worker with the application's lifespan."""
    settings = settings or Settings()
    store = store or Store(settings.db_url)
    service = ScanService(settings, store)
    metrics = Metrics()
    buckets = TokenBuckets(settings.rate_per_minute, settings.rate_burst)
    metrics.counter("fakescope_http_requests_total", "HTTP requests by method, route and status")
    metrics.histogram("fakescope_http_request_seconds", "HTTP request duration by route")
    metrics.counter("fakescope_scans_total", "uploads answered, by label and whether the database had the verdict")
    metrics.histogram("fakescope_scan_seconds", "time to score one new image (decode, analyzers, fusion)")
    metrics.counter("fakescope_upload_errors_total", "uploads refused, by HTTP status")
    metrics.counter("fakescope_rate_limited_total", "requests refused by the rate limit")
    metrics.counter("fakescope_batch_items_total", "batch items finished, by status")
    metrics.gauge("process_resident_memory_bytes", "resident memory of this server process", rss_bytes)
    metrics.gauge("fakescope_uptime_seconds", "seconds since this server process started",
                  lambda: time.time() - metrics.started)
    metrics.gauge("fakescope_batch_items_open", "batch items pending or running (all processes)", store.pending_items)

    worker = BatchWorker(settings, store, service,
                         on_item=lambda status, cached: metrics.inc("fakescope_batch_items_total", status=status))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(service.warm)
        if settings.batch_worker:
            worker.start()
        try:
            yield
        finally:
            worker.stop()

    app = FastAPI(title="fakescope", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.settings, app.state.store, app.state.service, app.state.worker = settings, store, service, worker
    app.state.metrics = metrics
    app.add_middleware(Gate, settings=settings, store=store, buckets=buckets, metrics=metrics)

    # ------------------------------------------------------------------ errors: problem details only
    @app.exception_handler(StarletteHTTPException)
    async def _http_problem(request: Request, exc: StarletteHTTPException):
        if isinstance(exc, Problem):
            return problem_response(exc.status_code, str(exc.detail), slug=exc.slug, title=exc.title,
                                    headers=exc.headers, instance=request.url.path, **exc.extra)
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.url.path}"
        return problem_response(exc.status_code, detail, headers=getattr(exc, "headers", None),
                                instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation_problem(request: Request, exc: RequestValidationError):
        errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        missing_file = any(e["loc"][-1:] in (["file"], ["files"]) for e in errors)
        detail = ("send the image as a multipart/form-data field named 'file'" if missing_file and
                  request.url.path == "/v1/scan" else "the request is not valid: " +
                  "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors))
        return problem_response(422 if not missing_file else 400, detail, instance=request.url.path, errors=errors)

    @app.exception_handler(Exception)
    async def _internal_problem(request: Request, exc: Exception):
        _log.exception("internal error on %s %s", request.method, request.url.path)
        return problem_response(500, "internal error; the server logged it (no details are sent to clients)",
                                instance=request.url.path)

    def _actor(request: Request) -> str:
        return request.scope.get("state", {}).get("actor", "anonymous")

    def _opts(fpr, detectors, provenance):  # noqa: ANN001
        try:
            return service.options(fpr=fpr, detectors=detectors, provenance=provenance)
        except UsageError as e:
            raise Problem(400, str(e)) from None

    def _read(upload: UploadFile) -> bytes:
        """The upload's bytes, refused (413) as soon as they pass the limit of what they are: a video's
        (judged from the first bytes) or an image's."""
        head = upload.file.read(64)
        video = sniff_video(head) is not None and settings.video_limits is not None
        limit = settings.video_limits.max_bytes if video else settings.limits.max_bytes  # type: ignore[union-attr]
        data = head + upload.file.read(max(0, limit + 1 - len(head)))
        if len(data) > limit:
            what = "video " if video else ""
            raise Problem(413, f"{_safe_name(upload.filename)}: over the {what}upload limit of {limit} bytes",
                          slug="too-large", limit=limit)
        return data

    def _no_urls(url: str | None) -> None:
        if url:
            raise Problem(400, "this service never fetches URLs (no server-side requests on a client's behalf): "
                               "download the image yourself and upload its bytes as 'file'")

    # ------------------------------------------------------------------ the page and its assets
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html; charset=utf-8")

    @app.get("/docs", include_in_schema=False)
    def docs_page() -> FileResponse:
        return FileResponse(str(STATIC / "docs.html"), media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    # ------------------------------------------------------------------ operations
    @app.get("/healthz", tags=["operations"], summary="liveness and database check (no key needed)")
    def healthz():
        try:
            store.ping()
        except Exception as e:  # the database is down: say so, without its message (it may hold a host name)
            _log.warning("health check: database unreachable: %s", type(e).__name__)
            return problem_response(503, "the results database cannot be reached", slug="unavailable")
        return {"status": "ok", "version": __version__, "database": store.backend, "auth": settings.auth,
                "batch_worker": settings.batch_worker}

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics of this server process (text format)",
             response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    # ------------------------------------------------------------------ /v1
    @app.post("/v1/scan", tags=["scan"], summary="scan one uploaded image or video",
              responses={400: {"description": "bad options, or no 'file'"}, 401: {"description": "no valid key"},
                         413: {"description": "over the byte, pixel, duration or frame limits"},
                         422: {"description": "not an image or video fakescope reads (or a damaged one)"},
                         429: {"description": "rate limit"}})
    def scan(request: Request,
             file: UploadFile = File(..., description="the image or video (the format is judged from its bytes)"),
             fpr: float | None = Form(None, description="target false-positive rate (default 0.01)"),
             detectors: str | None = Form(None, description="comma-separated detector names (default set if empty)"),
             provenance: bool | None = Form(None, description="read C2PA, IPTC, generator metadata, watermarks"),
             url: str | None = Form(None, include_in_schema=False)) -> JSONResponse:
        """The verdict of `fakescope scan` for these bytes (docs/verdict.schema.json), plus `cached` (the
        database already had it), `seen_before` (a resized or re-encoded copy of an earlier image, with
        its link) and `result_url`.  A video's verdict has `media: "video"`, `segments` (the stretches
        whose frames look generated), the sampled `frames` and `video` (container, decoding)."""
        _no_urls(url)
        opts = _opts(fpr, detectors, provenance)
        data = _read(file)
        name = _safe_name(file.filename)
        actor, client = _actor(request), _client(request.scope)
        t0 = time.perf_counter()
        try:
            out = service.scan(data, name=name, opts=opts)
        except DecodeError as e:
            status = 413 if isinstance(e, ImageTooLargeError) else 422
            metrics.inc("fakescope_upload_errors_total", status=str(status))
            store.audit(actor, "scan", target=None, status=status, client=client, detail=type(e).__name__)
            if status == 413:
                slug = "too-large"
            elif isinstance(e, EmptyFileError):
                slug = "empty-file"
            elif sniff_video(data[:64]) is not None:
                slug = "damaged-video" if isinstance(e, TruncatedFileError) else "unreadable-video"
            else:
                slug = "not-an-image"
            raise Problem(status, str(e), slug=slug, error_type=type(e).__name__) from None
        except AnalysisError as e:
            metrics.inc("fakescope_upload_errors_total", status="422")
            store.audit(actor, "scan", target=e.record.get("sha256"), status=422, client=client,
                        detail=e.record.get("error_type"))
            raise Problem(422, str(e), slug="analysis-failed", error_type=e.record.get("error_type")) from None
        if not out.cached:
            metrics.observe("fakescope_scan_seconds", time.perf_counter() - t0)
        metrics.inc("fakescope_scans_total", label=str(out.record.get("label")), cached=str(out.cached).lower())
        store.audit(actor, "scan", target=out.sha256, status=200, client=client,
                    detail=f"{out.record.get('label')}{' cached' if out.cached else ''}"
                           f"{' seen-before ' + out.seen_before['sha256'] if out.seen_before else ''}")
        body = dict(out.record)
        body.update(cached=out.cached, seen_before=out.seen_before, result_url=f"/v1/results/{out.sha256}",
                    scan_options=opts.to_dict())
        return JSONResponse(body)

    @app.post("/v1/batches", tags=["batches"], status_code=202, summary="queue many images (uploads or a folder)")
    def create_batch(request: Request,
                     files: list[UploadFile] | None = File(None, description="the images (repeat the field)"),
                     folder: str | None = Form(None, description="a server-side folder inside an allowed root"),
                     recursive: bool = Form(False, description="with folder: descend into sub-folders"),
                     fpr: float | None = Form(None), detectors: str | None = Form(None),
                     provenance: bool | None = Form(None),
                     url: str | None = Form(None, include_in_schema=False)) -> JSONResponse:
        """A job id; the batch worker scans the images in the background (a restart resumes it).
        `GET /v1/batches/{id}` gives progress and paged results."""
        _no_urls(url)
        opts = _opts(fpr, detectors, provenance)
        files = [f for f in (files or []) if f is not None]
        if files and folder:
            raise Problem(400, "give either files or a folder, not both")
        items: list[tuple[str, str | None, bytes | None]] = []
        if folder:
            items = _folder_items(folder, recursive)
        elif files:
            if len(files) > settings.max_batch_files:
                raise Problem(413, f"{len(files)} files, over the limit of {settings.max_batch_files} a batch")
            items = [(_safe_name(f.filename), None, _read(f)) for f in files]
        else:
            raise Problem(400, "send the images as multipart fields named 'files', or a 'folder'")
        job_id = store.create_job(items, source="folder" if folder else "upload", options=opts.to_dict(),
                                  scan_key=opts.key, owner=_actor(request), folder=folder)
        store.audit(_actor(request), "batch.create", target=job_id, status=202, client=_client(request.scope),
                    detail=f"{len(items)} items")
        worker.wake()
        return JSONResponse({"id": job_id, "total": len(items), "status": "queued",
                             "status_url": f"/v1/batches/{job_id}"}, status_code=202,
                            headers={"Location": f"/v1/batches/{job_id}"})

    def _folder_items(folder: str, recursive: bool) -> list[tuple[str, str | None, bytes | None]]:
        from ..io.sources import iter_inputs

        roots = settings.batch_roots
        if not roots:
            raise Problem(403, "folder batches are off on this server (the operator allows folders with "
                               "fakescope serve --allow-folder DIR)")
        if "\x00" in folder:
            raise Problem(400, "a folder name cannot hold a NUL byte")
        cand = folder if os.path.isabs(folder) else (os.path.join(roots[0], folder) if len(roots) == 1 else None)
        if cand is None or not in_allowed_root(cand, roots):
            raise Problem(403, "that folder is outside the folders this server may read")
        real = os.path.realpath(cand)
        if not os.path.isdir(real):
            raise Problem(404, "no such folder inside the allowed folders")
        items = []
        for it in iter_inputs([real], recursive=recursive):
            if not isinstance(it, str) or not in_allowed_root(it, roots):
                continue  # problems met walking, and links that lead outside, are not batch items
            items.append((os.path.relpath(it, real), it, None))
            if len(items) > settings.max_batch_files:
                raise Problem(413, f"the folder holds more than {settings.max_batch_files} images, the limit a batch")
        if not items:
            raise Problem(422, "no images in that folder" + ("" if recursive else " (recursive=true descends)"))
        return items

    @app.get("/v1/batches/{job_id}", tags=["batches"], summary="a batch's progress and a page of its results")
    def get_batch(job_id: str, offset: int = Query(0, ge=0),
                  limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
        if not _JOB_RE.match(job_id):
            raise Problem(404, "no such batch")
        job = store.job(job_id, offset=offset, limit=min(limit, settings.page_size_max))
        if job is None:
            raise Problem(404, "no such batch")
        return job

    @app.get("/v1/results/{sha256}", tags=["results"], summary="the stored verdict of an image by its sha256")
    def get_result(sha256: str, fpr: float | None = Query(None), detectors: str | None = Query(None),
                   provenance: bool | None = Query(None)) -> dict[str, Any]:
        """The verdict stored for these bytes: with `fpr`/`detectors`/`provenance`, the one of that
        configuration, else the newest."""
        sha = sha256.lower()
        if not _SHA_RE.match(sha):
            raise Problem(400, "a result is named by the 64 hexadecimal digits of the file's sha256")
        key = _opts(fpr, detectors, provenance).key if any(v is not None for v in (fpr, detectors, provenance)) else None
        res = store.result(sha, key)
        if res is None:
            raise Problem(404, "no stored verdict for that sha256" + (" with those options" if key else ""))
        body = dict(res["record"])
        body.update(stored=res["created"], scan_key=res["scan_key"], scan_keys=res["scan_keys"], image=res["image"],
                    result_url=f"/v1/results/{sha}")
        return body

    @app.get("/v1/results", tags=["results"], summary="history of scans, newest first, with search and filters")
    def list_results(q: str | None = Query(None, max_length=200, description="part of a file name, or a sha256 prefix"),
                     label: str | None = Query(None, pattern="^(ai-generated|real|inconclusive)$"),
                     limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> dict[str, Any]:
        items, total = store.history(q=q, label=label, limit=min(limit, settings.page_size_max), offset=offset)
        nxt = offset + len(items)
        return {"total": total, "offset": offset, "limit": limit, "items": items,
                "next_offset": nxt if nxt < total else None}

    _det_cache: dict[str, Any] = {}

    @app.get("/v1/detectors", tags=["scan"], summary="the registered detectors, their cards and the default set")
    def get_detectors() -> dict[str, Any]:
        if not _det_cache:
            from ..detectors import create_detector, list_detectors
            from ..errors import FakescopeError
            from ..fusion import default_regime_detectors

            cards, unavailable = [], {}
            for n in list_detectors():
                try:
                    cards.append(create_detector(n).card.to_dict())
                except FakescopeError as e:
                    unavailable[n] = str(e)
            _det_cache.update(default={k: list(v) for k, v in (default_regime_detectors() or {}).items()},
                              detectors=cards, unavailable=unavailable)
        return _det_cache

    return app


def app_from_env() -> FastAPI:
    """The app of one ``fakescope serve --workers N`` process: settings from ``$FAKESCOPE_SERVICE_SETTINGS``."""
    raw = os.environ.get("FAKESCOPE_SERVICE_SETTINGS")
    return create_app(Settings.from_json(raw) if raw else Settings())
