"""Load test of ``fakescope serve``: N concurrent clients for T seconds against a real server on 127.0.0.1.

Two phases, both with 1024×768 JPEGs (crops of real photos, q=90):

* **scored** — every request uploads bytes the server has never seen, so each one is decoded, scored by the
  default detectors, looked up by perceptual hash and stored: the service's real cost per image. Its
  requests/s stand beside the CLI's images/s on the same images, with as many CLI processes (``--jobs``) as
  server processes (``--workers``), measured in the same run.
* **cached** — every request uploads the same bytes again: answered from the database.

Reports p50/p95/p99 latency, requests/s, 5xx count, and the resident memory of the server's processes at the
start and the end; writes docs/benchmarks/service.md.

    python bench/service_load.py                       # the issue's 50 clients x 60 s
    python bench/service_load.py --clients 8 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DOCS, WORK, machine, make_jpegs  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_tree(pid: int) -> float:
    import psutil

    p = psutil.Process(pid)
    return sum(x.memory_info().rss for x in [p, *p.children(recursive=True)]) / 2**20


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))
    return xs[k]


async def load(url: str, images: list[bytes], clients: int, seconds: float, *, unique: bool) -> dict:
    import httpx

    lat: list[float] = []
    codes: dict[int, int] = {}
    cached = 0
    nxt = [0]
    deadline = time.perf_counter() + seconds

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal cached
        while time.perf_counter() < deadline:
            if unique:
                i = nxt[0]
                nxt[0] += 1
                if i >= len(images):
                    return  # the pool of never-seen images is used up
                data = images[i]
            else:
                data = images[0]
            t0 = time.perf_counter()
            try:
                r = await c.post("/v1/scan", files={"file": ("load.jpg", data, "image/jpeg")})
                code = r.status_code
                if code == 200 and r.json().get("cached"):
                    cached += 1
            except httpx.HTTPError:
                code = 0
            lat.append(time.perf_counter() - t0)
            codes[code] = codes.get(code, 0) + 1

    t0 = time.perf_counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as c:
        await asyncio.gather(*(client(c) for _ in range(clients)))
    wall = time.perf_counter() - t0
    return {"n": len(lat), "wall": wall, "rps": len(lat) / wall, "p50": pct(lat, 50), "p95": pct(lat, 95),
            "p99": pct(lat, 99), "codes": codes, "cached": cached,
            "5xx": sum(v for k, v in codes.items() if k >= 500), "failed": codes.get(0, 0)}


def cli_rate(paths: list[Path], jobs: int) -> float:
    """The CLI's own images/s on these files (its summary line; start-up excluded)."""
    with tempfile.TemporaryDirectory() as d:
        lst = Path(d) / "list.txt"
        lst.write_text("\n".join(map(str, paths)) + "\n")
        p = subprocess.run([sys.executable, "-m", "fakescope.cli", "scan", "--files-from", str(lst), "--jobs", str(jobs),
                            "--out", str(Path(d) / "out.jsonl"), "--no-progress"], capture_output=True, text=True)
    m = re.search(r"([\d.]+) img/s", p.stderr)
    if not m:
        raise SystemExit(f"cannot read the CLI's rate:\n{p.stderr}")
    return float(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--cached-seconds", type=float, default=None, help="length of the cached phase (default: --seconds / 3)")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="server processes = CLI --jobs")
    ap.add_argument("--pool", type=int, default=None, help="never-seen images prepared (default: enough for ~40 img/s)")
    ap.add_argument("--cli-images", type=int, default=120, help="images the CLI scans for its rate")
    ap.add_argument("--out", type=Path, default=DOCS / "service.md")
    args = ap.parse_args()
    import httpx

    pool = args.pool or int(args.seconds * 40) + 50
    paths = make_jpegs(pool + args.cli_images, (1024, 768), WORK / "service_jpeg_1024x768")
    cli_paths, load_paths = paths[:args.cli_images], paths[args.cli_images:]
    images = [p.read_bytes() for p in load_paths]
    print(f"CLI: {len(cli_paths)} images, --jobs {args.workers} ...", flush=True)
    cli_ips = cli_rate(cli_paths, args.workers)
    print(f"  {cli_ips:.1f} img/s", flush=True)

    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(Path(d) / "server.log", "wb")
        srv = subprocess.Popen([sys.executable, "-m", "fakescope.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                                "--db", f"sqlite:///{d}/load.db", "--no-auth", "--rate", "0",
                                "--workers", str(args.workers), "--log-level", "warning"],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            t0 = time.time()
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if srv.poll() is not None or time.time() - t0 > 120:
                    raise SystemExit("the server did not start:\n" + (Path(d) / "server.log").read_text())
                time.sleep(0.2)
            # one request per worker process first, so every process has built its scanner
            asyncio.run(load(url, images[-args.workers:], args.workers, 5, unique=True))
            images = images[:-args.workers]
            rss0 = rss_tree(srv.pid)
            print(f"server: {args.workers} processes, RSS {rss0:.0f} MiB; scored phase {args.clients} clients x "
                  f"{args.seconds:g} s ...", flush=True)
            scored = asyncio.run(load(url, images, args.clients, args.seconds, unique=True))
            rss1 = rss_tree(srv.pid)
            cs = args.cached_seconds if args.cached_seconds is not None else max(5.0, args.seconds / 3)
            print(f"  {scored['rps']:.1f} req/s; cached phase {cs:g} s ...", flush=True)
            cached = asyncio.run(load(url, [images[0]], args.clients, cs, unique=False))
            rss2 = rss_tree(srv.pid)
            alive = srv.poll() is None
        finally:
            os.killpg(srv.pid, signal.SIGTERM)
            try:
                srv.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(srv.pid, signal.SIGKILL)
            log.close()

    ratio = scored["rps"] / cli_ips if cli_ips else float("nan")
    ms = lambda s: f"{s * 1000:.0f}"  # noqa: E731
    rows = [("scored (never-seen bytes)", scored), ("cached (same bytes again)", cached)]
    lines = [
        "# fakescope serve under load",
        "",
        f"`python bench/service_load.py --clients {args.clients} --seconds {args.seconds:g} --workers {args.workers}` "
        f"on {machine()} (a shared machine: other jobs were running). The server (`fakescope serve --workers "
        f"{args.workers} --no-auth --rate 0`, SQLite database) and the clients (asyncio + httpx, {args.clients} "
        "concurrent connections) ran on the same cores, on 127.0.0.1. Images: 1024×768 JPEGs (q=90, crops of real "
        "photos), default detectors and provenance.",
        "",
        "| phase | requests | requests/s | p50 ms | p95 ms | p99 ms | 5xx | failed connections |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        lines.append(f"| {name} | {r['n']} | {r['rps']:.1f} | {ms(r['p50'])} | {ms(r['p95'])} | {ms(r['p99'])} | "
                     f"{r['5xx']} | {r['failed']} |")
    lines += [
        "",
        f"- The CLI on {len(cli_paths)} other images of the same kind, `fakescope scan --jobs {args.workers}`, in the "
        f"same run: **{cli_ips:.1f} images/s**. The service's scored requests/s are **{ratio:.0%}** of it "
        "(goal: at least 80%).",
        f"- Server resident memory (all its processes): {rss0:.0f} MiB after warm-up, {rss1:.0f} MiB after the scored "
        f"phase, {rss2:.0f} MiB at the end. The server was {'up' if alive else 'DOWN'} at the end.",
        f"- Status codes, scored phase: {dict(sorted(scored['codes'].items()))}; cached phase: "
        f"{dict(sorted(cached['codes'].items()))} ({cached['cached']} answered from the database).",
        "- Latency is the client's: from sending the upload to reading the whole verdict, queueing included: with "
        f"{args.clients} clients and {args.workers} scan slots most of a scored request's time is spent waiting for a "
        "slot, so p50 ≈ clients / (requests/s).",
        "",
        "The issue's setting is 50 clients for 60 s (`python bench/service_load.py`, the script's default); the run "
        "above used the settings it names.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if scored["5xx"] == 0 and cached["5xx"] == 0 and alive else 1


if __name__ == "__main__":
    sys.exit(main())
