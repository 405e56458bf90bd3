"""Fixtures of the service tests: real SQLite files, a real PostgreSQL server started from initdb, real
uvicorn servers on 127.0.0.1 (``fakescope serve`` in a subprocess), API keys made by the CLI."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import warnings

import pytest

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

pytest.importorskip("fastapi", reason="the service tests need the [serve] extra: pip install 'fakescope[serve]'")
pytest.importorskip("sqlalchemy", reason="the service tests need the [serve] extra: pip install 'fakescope[serve]'")

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "fakescope.cli", *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"fakescope {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def create_key(db_url: str, name: str = "tests") -> str:
    out = cli("keys", "create", name, "--db", db_url).stdout.strip().splitlines()
    return out[-1]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fakescope.db'}"


# ------------------------------------------------------------------------------------------- PostgreSQL
def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return str(Path(found[-1]).parent)
    w = shutil.which("initdb")
    return str(Path(w).parent) if w else None


class PgServer:
    def __init__(self) -> None:
        self.bin = _pg_bin()
        if self.bin is None:
            pytest.skip("PostgreSQL server not installed (initdb/pg_ctl not found): install Debian's 'postgresql' "
                        "package (.ci/run does) to run the PostgreSQL tests")
        pytest.importorskip("psycopg", reason="the PostgreSQL tests need psycopg (the [serve] extra)")
        self.root = tempfile.mkdtemp(prefix="fakescope-pg-")
        self.port = free_port()
        self.user = None
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root: run it as an unprivileged user
            import pwd

            for u in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(u)
                except KeyError:
                    continue
                self.user = u
                break
            runuser = shutil.which("runuser")
            if self.user is None or runuser is None:
                pytest.skip("running as root and no unprivileged user (postgres/nobody) or runuser to start PostgreSQL")
            self.prefix = [runuser, "-u", self.user, "--"]
            os.chmod(self.root, 0o777)
            shutil.chown(self.root, user=self.user)
        self.data = os.path.join(self.root, "data")
        self._run([f"{self.bin}/initdb", "-D", self.data, "-A", "trust", "-U", "fakescope", "-E", "UTF8",
                   "--no-sync", "--no-instructions"])
        self._run([f"{self.bin}/pg_ctl", "-D", self.data, "-w", "-t", "60", "-l", os.path.join(self.root, "log"),
                   "-o", f"-k {self.root} -h 127.0.0.1 -p {self.port} -F -c fsync=off", "start"])

    def _run(self, cmd: list[str]) -> None:
        p = subprocess.run([*self.prefix, *cmd], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            log = ""
            try:
                log = Path(self.root, "log").read_text()[-2000:]
            except OSError:
                pass
            raise RuntimeError(f"{' '.join(cmd)} failed: {p.stdout}\n{p.stderr}\n{log}")

    def new_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=fakescope dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://fakescope@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run([*self.prefix, f"{self.bin}/pg_ctl", "-D", self.data, "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    srv = PgServer()
    yield srv
    srv.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fakescope.db'}"
    return request.getfixturevalue("pg_server").new_database()


# ------------------------------------------------------------------------------------------- live servers
class LiveServer:
    """``fakescope serve`` in a subprocess (its own process group), on a free port of 127.0.0.1."""

    def __init__(self, db_url: str, *args: str, port: int | None = None, log: Path) -> None:
        self.db_url, self.args, self.port, self.log_path = db_url, args, port or free_port(), log
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "LiveServer":
        import httpx

        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "fakescope.cli", "serve", "--host", "127.0.0.1",
                                      "--port", str(self.port), "--db", self.db_url, "--log-level", "warning",
                                      *self.args], stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not answer /healthz in {timeout} s:\n{self.output()}")

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)
        finally:
            self.log.close()


@pytest.fixture
def live_server(tmp_path: Path):
    servers: list[LiveServer] = []

    def make(db_url: str, *args: str, port: int | None = None) -> LiveServer:
        s = LiveServer(db_url, *args, port=port, log=tmp_path / f"server{len(servers)}.log")
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop(signal.SIGKILL)


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _pan(name: str, i: int, w: int = 256, h: int = 192):  # noqa: ANN202
    """A ``w``x``h`` window of a sample image moved ``2·i`` pixels right (frame ``i`` of a slow pan)."""
    import numpy as np
    from PIL import Image

    with Image.open(SAMPLES / name) as im:
        a = np.asarray(im.convert("RGB"))
    x = min(2 * i, a.shape[1] - w)
    return np.ascontiguousarray(a[:h, x:x + w])


def write_pan_clip(path: Path, parts: list[tuple[str, int]], *, fps: int = 10) -> bytes:
    """An H.264 MP4 (CRF 18) panning over sample images: ``parts`` is ``(sample name, frames)`` in order (one
    camera moving on: a cut from one image to the next); its bytes."""
    import av

    frames, i = [], 0
    for name, n in parts:
        frames += [_pan(name, i + k) for k in range(n)]
        i += n
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "veryfast"})
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path.read_bytes()


def pytest_configure(config) -> None:
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")
