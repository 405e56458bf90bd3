"""``fakescope serve`` and ``fakescope keys``: the command-line face of the service (thin: options in,
:mod:`fakescope.service` does the work)."""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["add_parsers", "cmd_serve", "cmd_keys"]


def add_parsers(sub) -> None:  # noqa: ANN001
    sv = sub.add_parser("serve", help="run the REST service and web page (needs the [serve] extra)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sv.add_argument("--db", default=None, metavar="URL",
                    help="results database: a SQLAlchemy URL, e.g. sqlite:////var/lib/fakescope.db or "
                         "postgresql://user:pass@host/db (default: $FAKESCOPE_DB, else "
                         "~/.local/share/fakescope/fakescope.db)")
    sv.add_argument("--workers", type=int, default=1, help="server processes (default 1; each scans and runs a "
                                                          "batch worker)")
    sv.add_argument("--no-auth", dest="auth", action="store_false",
                    help="no API keys (local use only: warns when the host is not a loopback address)")
    sv.add_argument("--allow-folder", action="append", default=[], metavar="DIR",
                    help="a server-side folder that batches may name (repeatable; default: none)")
    sv.add_argument("--rate", type=float, default=120.0, metavar="N",
                    help="scan/batch requests a minute per key (per process; 0: no limit; default 120)")
    sv.add_argument("--burst", type=int, default=30, help="requests a key may make at once (default 30)")
    sv.add_argument("--max-upload-mb", type=float, default=64.0, help="largest upload in MB (default 64)")
    sv.add_argument("--max-pixels", type=int, default=None, help="largest image in pixels (default: the decoder's)")
    sv.add_argument("--max-video-mb", type=float, default=256.0, help="largest video upload in MB (default 256)")
    sv.add_argument("--max-video-seconds", type=float, default=600.0,
                    help="longest video accepted, in seconds (default 600)")
    sv.add_argument("--no-video", dest="video", action="store_false",
                    help="refuse video uploads (mp4, mov, webm, mkv, avi) with 422")
    sv.add_argument("--fpr", type=float, default=0.01, help="default false-positive rate of a scan (default 0.01)")
    sv.add_argument("-d", "--detector", action="append", default=None, metavar="NAME",
                    help="default detectors of a scan (repeatable; default: the calibrated default set)")
    sv.add_argument("--no-provenance", dest="provenance", action="store_false", help="skip provenance by default")
    sv.add_argument("--scan-threads", type=int, default=1, help="images scored at once per process (default 1)")
    sv.add_argument("--no-batch-worker", dest="batch_worker", action="store_false",
                    help="do not process batches in this server (another server on the same database does)")
    sv.add_argument("--lease", type=float, default=120.0, metavar="SECONDS",
                    help="a batch item held this long by a worker that died is retried (default 120)")
    sv.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))

    k = sub.add_parser("keys", help="API keys of the service: create, list, revoke")
    ksub = k.add_subparsers(dest="keys_command", metavar="ACTION")
    kc = ksub.add_parser("create", help="create a key; the key is printed on the last line (only this once)")
    kc.add_argument("name", help="who or what the key is for")
    kl = ksub.add_parser("list", help="list keys (never the keys themselves: their prefixes)")
    kl.add_argument("--json", action="store_true")
    kr = ksub.add_parser("revoke", help="revoke the live keys of a name, or one key by its prefix or id")
    kr.add_argument("which", help="a key name, prefix (8 hex digits) or id")
    for p in (kc, kl, kr):
        p.add_argument("--db", default=None, metavar="URL", help="the service's database (as fakescope serve --db)")


def _settings(args: argparse.Namespace):  # noqa: ANN201
    from ..errors import UsageError
    from ..io.decode import DecodeLimits
    from ..io.video import VideoLimits
    from .settings import Settings, default_db_url

    lim = {"max_bytes": max(1, int(args.max_upload_mb * 1024 * 1024))}
    if args.max_pixels:
        lim["max_pixels"] = args.max_pixels
    video = None
    if args.video:
        if not args.max_video_seconds > 0:
            raise UsageError(f"--max-video-seconds must be positive, got {args.max_video_seconds}")
        video = VideoLimits(max_bytes=max(1, int(args.max_video_mb * 1024 * 1024)),
                            max_duration_s=float(args.max_video_seconds), max_frames=1200)
    return Settings(db_url=args.db or default_db_url(), auth=args.auth, limits=DecodeLimits(**lim), video_limits=video,
                    batch_roots=tuple(args.allow_folder), rate_per_minute=args.rate, rate_burst=args.burst,
                    fpr=args.fpr, detectors=tuple(args.detector) if args.detector else None,
                    provenance=args.provenance, scan_threads=args.scan_threads, batch_worker=args.batch_worker,
                    lease_s=args.lease)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from .db import redact_url
    from .settings import is_loopback
    from .store import Store

    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be 1-65535, got {args.port}")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    import uvicorn

    settings = _settings(args)
    store = Store(settings.db_url)  # migrate once, before any worker process starts
    where = redact_url(settings.db_url)
    if not settings.auth:
        if not is_loopback(args.host):
            print(f"fakescope: WARNING: --no-auth on {args.host}, which is not a loopback address: anyone who can "
                  "reach this port can scan images and read every stored result", file=sys.stderr)
        else:
            print("fakescope: --no-auth: no API key needed (this machine only)", file=sys.stderr)
    elif not store.has_keys():
        print(f"fakescope: no API key yet: create one with  fakescope keys create NAME"
              f"{' --db ' + where if args.db else ''}", file=sys.stderr)
    store.close()
    print(f"fakescope: serving on http://{args.host}:{args.port}/ (database {where}; API docs at /docs)",
          file=sys.stderr)
    if args.workers == 1:
        from .app import create_app

        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level,
                    timeout_graceful_shutdown=10)
    else:
        os.environ["FAKESCOPE_SERVICE_SETTINGS"] = settings.to_json()
        uvicorn.run("fakescope.service.app:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level=args.log_level, timeout_graceful_shutdown=10)
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from .settings import default_db_url
    from .store import Store

    if not getattr(args, "keys_command", None):
        raise UsageError("fakescope keys: give an action: create NAME, list, revoke NAME|PREFIX")
    store = Store(args.db or default_db_url())
    try:
        if args.keys_command == "create":
            key, info = store.create_key(args.name)
            print(f"created API key {info.prefix} for {info.name!r}; it is shown only now: keep it secret.",
                  file=sys.stderr)
            print(key)
            return 0
        if args.keys_command == "list":
            keys = store.list_keys()
            if args.json:
                print(json.dumps([k.to_dict() for k in keys], indent=2))
                return 0
            if not keys:
                print("no API keys (fakescope keys create NAME)")
            for k in keys:
                d = k.to_dict()
                state = f"revoked {d['revoked']}" if k.revoked else "active"
                print(f"{k.id:>4}  {k.prefix}  {state:<30}  created {d['created']}  "
                      f"last used {d['last_used'] or 'never'}  {k.name}")
            return 0
        if args.keys_command == "revoke":
            done = store.revoke_key(args.which)
            if not done:
                raise UsageError(f"no active key named {args.which!r} or with that prefix or id")
            for k in done:
                print(f"revoked {k.prefix} ({k.name})")
            return 0
    finally:
        store.close()
    raise UsageError(f"unknown keys action {args.keys_command}")
