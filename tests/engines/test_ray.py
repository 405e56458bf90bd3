"""The Ray engine on a real 2-node Ray cluster (head + worker started with `ray start` on this machine):
the same verdicts as the local engine, --resume after a kill, Ray Client addresses, a local instance.

One cluster for the module (1 CPU per node, 100 MB object stores); every Ray process it starts is
stopped at the end.  The cluster runs with token authentication, as `ray start` does by default.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

import fakescope  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
SRC = Path(fakescope.__file__).resolve().parents[1]  # the fakescope the Ray workers must import too


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _ray_processes(marker: str) -> list[int]:
    """Pids of this machine's processes whose command line holds ``marker``."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if marker.encode() in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


class RayCluster:
    def __init__(self) -> None:
        import ray.util

        self.ip = ray.util.get_node_ip_address()  # Ray maps 127.0.0.1 to this address when it connects
        self.port, self.client_port = _free_port(), _free_port()
        self.tmp = tempfile.mkdtemp(prefix="fsray", dir="/tmp")  # short: Ray's socket paths live under it
        self.env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16),
                        # grpcio's fork handlers crash the Ray Client server's fork (grpcio 1.8x)
                        GRPC_ENABLE_FORK_SUPPORT="0", RAY_USAGE_STATS_ENABLED="0",
                        PYTHONPATH=os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]))
        self.env.pop("RAY_ADDRESS", None)
        ray_cli = Path(sys.executable).with_name("ray")
        common = ["--num-cpus=1", f"--node-ip-address={self.ip}", "--object-store-memory=100000000", "--block",
                  "--disable-usage-stats"]
        self.procs = [subprocess.Popen([str(ray_cli), "start", "--head", f"--port={self.port}",
                                        f"--ray-client-server-port={self.client_port}", "--include-dashboard=false",
                                        f"--temp-dir={self.tmp}", *common], env=self.env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)]
        self.procs.append(subprocess.Popen([str(ray_cli), "start", f"--address={self.address}", *common],
                                           env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True))
        probe = ("import ray, sys, time\n"
                 "ray.init(address=sys.argv[1], logging_level='ERROR')\n"
                 "t = time.time()\n"
                 "while sum(n['Alive'] for n in ray.nodes()) < 2:\n"
                 "    assert time.time() - t < 60, ray.nodes()\n"
                 "    time.sleep(0.2)\n")
        r = subprocess.run([sys.executable, "-c", probe, self.address], env=self.env, capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            self.stop()
            raise RuntimeError(f"the Ray test cluster did not start: {r.stderr[-2000:]}")

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    def stop(self) -> None:
        for p in reversed(self.procs):  # `ray start --block` stops what it started on SIGTERM
            p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)  # its own session: only what it started
        deadline = time.time() + 15
        while _ray_processes(self.tmp) and time.time() < deadline:
            time.sleep(0.2)
        for pid in _ray_processes(self.tmp):  # a straggler of this cluster (its command line names our folder)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    c = RayCluster()
    yield c
    c.stop()
    assert not _ray_processes(c.tmp), "Ray processes of the test cluster are still running"


def run(env: dict, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fakescope.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def records(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        rec.pop("elapsed_ms")  # the one timing field
        out.append(rec)
    return out


@pytest.fixture()
def mixed_folder(tmp_path: Path) -> Path:
    """Every sample (real, AI, a truncated JPEG) and an empty file."""
    d = tmp_path / "mixed"
    d.mkdir()
    for p in sorted(SAMPLES.iterdir()):
        if p.suffix.lower() in {".jpg", ".png"}:
            shutil.copy(p, d / p.name)
    (d / "empty.jpg").write_bytes(b"")
    return d


def test_ray_on_two_nodes_gives_the_local_engines_records(cluster: RayCluster, mixed_folder: Path, tmp_path: Path):
    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    missing = str(mixed_folder / "no-such-file.jpg")
    r1 = run(cluster.env, "scan", str(mixed_folder), missing, "--out", str(local), "--jobs", "2", "--no-progress")
    r2 = run(cluster.env, "scan", str(mixed_folder), missing, "--out", str(remote), "--engine", "ray", "--address",
             cluster.address, "--no-progress")
    assert r1.returncode == r2.returncode == 1, r2.stderr  # the broken files are error rows, the rest is scanned
    assert "2 scanning actors on 2 node(s)" in r2.stderr
    a, b = records(local), records(remote)
    assert len(a) == len(list(mixed_folder.iterdir())) + 1
    assert a == b  # same records, same order
    errors = {Path(x["path"]).name: x["error_type"] for x in b if x["status"] == "error"}
    assert errors == {"broken.jpg": "TruncatedFileError", "empty.jpg": "EmptyFileError",
                      "no-such-file.jpg": "InputError"}


def test_ray_client_address_gives_the_same_records(cluster: RayCluster, tmp_path: Path):
    files = [str(SAMPLES / n) for n in ("real_kodim05.jpg", "fake_ldm_photograph-of-a-fire.png", "broken.jpg")]
    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    run(cluster.env, "scan", *files, "--out", str(local), "--no-progress")
    r = run(cluster.env, "scan", *files, "--out", str(remote), "--engine", "ray", "--address",
            f"ray://{cluster.ip}:{cluster.client_port}", "--no-progress")
    assert r.returncode == 1, r.stderr
    assert records(local) == records(remote)


def _wait_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        assert proc.poll() is None, "the scan ended before it could be interrupted"
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {n} lines")


def test_a_killed_then_interrupted_ray_scan_resumes_into_the_same_file(cluster: RayCluster, tmp_path: Path):
    d = tmp_path / "many"
    d.mkdir()
    thumbs = sorted(SAMPLES.glob("*cifake*.jpg"))  # 32x32: quick to scan, so the run is mostly scheduling
    n = 500
    for i in range(n):
        shutil.copy(thumbs[i % len(thumbs)], d / f"{i:04d}.jpg")
    out = tmp_path / "out.jsonl"
    env = dict(cluster.env, RAY_ADDRESS=cluster.address, PYTHONUNBUFFERED="1")  # --address auto reads it
    cmd = [sys.executable, "-m", "fakescope.cli", "scan", str(d), "--out", str(out), "--no-progress",
           "--engine", "ray", "--address", "auto"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    _wait_lines(out, 10, proc)
    proc.send_signal(signal.SIGKILL)  # the driver dies; its actors go with its job
    proc.wait()
    first = out.read_bytes().count(b"\n")
    assert 10 <= first < n
    with out.open("a") as f:  # a torn last line, as a kill during a write leaves it
        f.write('{"path": "' + str(d / "9999.jpg"))
    # SIGINT's default action restored in the child: a test run started in the background (`make test &`) has it
    # ignored, the child inherits that, and Python then never raises KeyboardInterrupt
    proc = subprocess.Popen(cmd + ["--resume"], env=env, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_lines(out, first + 10, proc)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: the scan stops cleanly, its pool is torn down
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "rerun with --resume" in err, err
    second = out.read_bytes().count(b"\n")
    assert second < n, "the interrupted scan should not have finished"
    r = run(env, *cmd[3:], "--resume")
    assert r.returncode == 0, r.stderr
    assert f"skipped {second}" in r.stderr
    recs = records(out)
    assert sorted(Path(x["path"]).name for x in recs) == [f"{i:04d}.jpg" for i in range(n)]  # each exactly once
    by_image: dict[str, set[str]] = {}  # copies of one image: one record but for the path, across the three runs
    for x in recs:
        by_image.setdefault(x["sha256"], set()).add(json.dumps({k: v for k, v in x.items() if k != "path"},
                                                                sort_keys=True))
    assert len(by_image) == len(thumbs) and all(len(v) == 1 for v in by_image.values())


def test_without_address_a_local_instance_is_started_and_stopped(cluster: RayCluster, tmp_path: Path):
    before = set(_ray_processes("raylet"))
    out = tmp_path / "out.jsonl"
    env = dict(cluster.env, RAY_ADDRESS=cluster.address)  # not joined: no --address means a new local instance
    r = run(env, "scan", str(SAMPLES / "real_kodim05.jpg"), "--out", str(out), "--engine", "ray", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "on 1 node(s)" in r.stderr
    assert len(records(out)) == 1
    deadline = time.time() + 20
    while set(_ray_processes("raylet")) - before and time.time() < deadline:
        time.sleep(0.2)
    assert not set(_ray_processes("raylet")) - before, "the local Ray instance outlived the scan"


def test_missing_ray_is_exit_two_naming_the_extra(tmp_path: Path):
    code = ("import sys, builtins\n"
            "real = builtins.__import__\n"
            "def fake(name, *a, **k):\n"
            "    if name == 'ray' or name.startswith('ray.'):\n"
            "        raise ImportError('no ray here')\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = fake\n"
            "from fakescope.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    out = tmp_path / "out.jsonl"
    r = subprocess.run([sys.executable, "-c", code, "scan", str(SAMPLES / "real_kodim05.jpg"), "--engine", "ray",
                        "--out", str(out), "--no-progress"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "pip install 'fakescope[ray]'" in r.stderr, r.stderr
    assert not out.exists()
    r = run(dict(os.environ), "scan", str(SAMPLES / "real_kodim05.jpg"), "--address", "auto")
    assert r.returncode == 2 and "--address is for --engine ray" in r.stderr


def test_read_file_then_decode_is_load():
    from fakescope.io.decode import decode, load, read_file

    p = str(SAMPLES / "real_kodim05.jpg")
    a, b = load(p), decode(read_file(p), path=p)
    assert a.sha256 == b.sha256 and a.path == b.path and (a.image == b.image).all()
