"""The build graph (``Step.after``) and running independent steps side by side (``fakescope build --parallel``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import fakescope.build as b
from fakescope.build import STEPS, BuildError, Step, steps


def test_graph_names_every_step_and_follows_build_order():
    from fakescope.build.calibrate import SCORED_DETECTORS
    from fakescope.build.generalisation import WILD_DETECTORS

    after = {n: s.after for n, s in steps().items()}
    assert list(after) == list(STEPS)
    for name, prereqs in after.items():
        assert all(STEPS.index(p) < STEPS.index(name) for p in prereqs), name  # build order is a topological order
    step_of = {"rigid": "probe"}
    assert {step_of.get(d, d) for d in WILD_DETECTORS} <= set(after["wild"])  # wild scores these steps' weights
    assert {step_of.get(d, d) for d in SCORED_DETECTORS} | {"wild"} <= set(after["calibrate"])
    assert "cascade" in after["video"] and "calibrate" in after["cascade"]
    # the expert steps train on the aligned fakes the npr step makes
    assert all("npr" in after[n] for n in ("spectral", "safe", "cnnspot", "patchcraft", "probe"))


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not path.exists():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


def _toy(tmp_path: Path, name: str, body, after: tuple[str, ...] = ()) -> Step:
    def run(root, jobs, log):
        body()
        (tmp_path / f"{name}.done").write_text(name)
        log(f"{name} ran")

    return Step(name, f"toy step {name}", lambda: [], tmp_path / f"{name}.json", run, after=after)


def test_parallel_runs_independent_steps_at_once_and_waits_for_prerequisites(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path / "cache"))

    def a():  # finishes only once b has started: both must run at the same time
        (tmp_path / "a.started").touch()
        _wait_for(tmp_path / "b.started")

    def b_():
        (tmp_path / "b.started").touch()
        _wait_for(tmp_path / "a.started")

    def c():  # after a and b: both done before it starts
        assert (tmp_path / "a.done").exists() and (tmp_path / "b.done").exists()

    table = {"a": _toy(tmp_path, "a", a), "b": _toy(tmp_path, "b", b_), "c": _toy(tmp_path, "c", c, ("a", "b"))}
    monkeypatch.setattr(b, "steps", lambda: table)
    logs: list[str] = []
    ran = b.run_steps(["all"], parallel=2, log=logs.append)
    assert sorted(ran[:2]) == ["a", "b"] and ran[2] == "c"
    assert all((tmp_path / f"{n}.done").exists() for n in "abc")
    assert any(m.startswith("build: 3 step(s) ran") for m in logs)
    timings = b._load_timings()  # kept for the next build's priorities
    assert set(timings) >= {"a", "b", "c"}


def test_parallel_failure_stops_what_needs_the_step_and_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path / "cache"))

    def f():
        _wait_for(tmp_path / "h.started")
        raise ValueError("no data")

    def h():  # runs beside f and finishes although f fails
        (tmp_path / "h.started").touch()

    table = {"f": _toy(tmp_path, "f", f), "h": _toy(tmp_path, "h", h),
             "g": _toy(tmp_path, "g", lambda: None, ("f",))}
    monkeypatch.setattr(b, "steps", lambda: table)
    logs: list[str] = []
    with pytest.raises(BuildError, match=r"f: ValueError: no data.*not run: g"):
        b.run_steps(["all"], parallel=2, log=logs.append)
    assert (tmp_path / "h.done").exists() and not (tmp_path / "g.done").exists()
    assert any("f: FAILED" in m and "Traceback" in m for m in logs)


def test_chain_lengths_put_the_longest_remaining_chain_first():
    after = {"s": (), "long": ("s",), "tail": ("long",), "short": ("s",)}
    got = b._chain_lengths(list(after), after, {"s": 1, "long": 10, "tail": 5, "short": 3})
    assert got == {"tail": 5, "short": 3, "long": 15, "s": 16}
    assert b._chain_lengths(["x", "y"], {"y": ("x",)}, {}) == {"y": 1.0, "x": 2.0}  # unknown costs: count steps


def test_parallel_must_be_positive():
    from fakescope.errors import UsageError

    with pytest.raises(UsageError):
        b.run_steps(["splits"], parallel=0)


def test_fresh_runs_the_steps_fresh_variant(tmp_path, monkeypatch):
    """``--fresh`` runs ``Step.run_fresh`` where a step has one (the generator zoo otherwise reuses the models
    beside its outputs), in this process and in a forked one."""
    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path / "cache"))
    calls = tmp_path / "calls.txt"

    def record(what):
        def run(root, jobs, log):
            with open(calls, "a") as f:
                f.write(what + "\n")
        return run

    toy = Step("toy", "toy", lambda: [], tmp_path / "toy.json", record("run"), run_fresh=record("fresh"))
    monkeypatch.setattr(b, "steps", lambda: {"toy": toy})
    b.run_steps(["toy"], force=True, log=lambda m: None)
    b.run_steps(["toy"], fresh=True, log=lambda m: None)
    b.run_steps(["toy"], fresh=True, parallel=2, log=lambda m: None)
    assert calls.read_text().split() == ["run", "fresh", "fresh"]
    assert steps()["generators"].run_fresh is not None


def test_steps_that_read_the_data_do_not_run_while_listed_files_are_missing(tmp_path, monkeypatch):
    """A build on a machine lacking files the frozen split lists (an optional Debian photo package, a partial data
    folder) trains on less data and cannot reproduce the shipped files: a build that would run such a step stops
    before anything starts, with the reason, unless --allow-missing; a build of steps that read no data runs."""
    from fakescope.errors import UsageError

    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path / "cache"))
    empty = tmp_path / "data"
    empty.mkdir()
    missing = b.missing_data(str(empty))
    assert len(missing) > 1000 and any(m.startswith("cifake/") for m in missing)
    ran = []
    reader = Step("reader", "reads data", lambda: [], tmp_path / "r.json", lambda r, j, l: ran.append("reader"),
                  reads_data=True)
    pure = Step("pure", "reads none", lambda: [], tmp_path / "p.json", lambda r, j, l: ran.append("pure"))
    monkeypatch.setattr(b, "steps", lambda: {"pure": pure, "reader": reader})
    with pytest.raises(UsageError, match="missing.*allow-missing"):
        b.run_steps(["all"], root=str(empty), force=True, log=lambda m: None)
    assert ran == []
    b.run_steps(["pure"], root=str(empty), force=True, log=lambda m: None)
    b.run_steps(["reader"], root=str(empty), force=True, allow_missing=True, log=lambda m: None)
    assert ran == ["pure", "reader"]
    assert all(s.reads_data for n, s in steps().items() if n != "splits") and not steps()["splits"].reads_data
