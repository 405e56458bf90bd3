"""The model build: split manifest → train → score → calibrate → select → cascade → evaluate → ship.

``fakescope build STEP|all`` runs the steps in order.  Each step is a :class:`Step`: a function with
declared inputs (whose sha256 it fingerprints) and outputs; a step whose outputs record the same
input fingerprint is up to date and skipped (``--force`` reruns it).  Steps so far:

==========  ===========================================================================================
``splits``  add rows for new files to the frozen split manifest (``fakescope/io/split.csv``); listed
            files never move (:mod:`fakescope.build.splits`)
``wild``    score every shipped core detector on every held-out image under each laundering condition
            (``weights/wild.json``): the fusion's "real" rule (:mod:`fakescope.build.generalisation`)
==========  ===========================================================================================

The training, calibration, cascade and evaluation steps are still run by the scripts under
``bench/`` that their cards name (see docs/benchmarks); they move here one by one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["Step", "STEPS", "run_steps", "fingerprint"]

Log = Callable[[str], None]


def fingerprint(paths: Sequence[str | os.PathLike[str]], extra: str = "") -> str:
    """sha256 over the named files' bytes (in order) and ``extra``: a step's input fingerprint."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).name.encode() + b"\0")
        h.update(hashlib.sha256(Path(p).read_bytes()).digest())
    h.update(extra.encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Step:
    """One build step: ``inputs()`` the files it reads, ``recorded(out)`` the fingerprint its output
    holds (None: absent or not recorded), ``run(root, jobs, log)`` makes the output."""

    name: str
    doc: str
    inputs: Callable[[], list[Path]]
    output: Path
    run: Callable[[str | None, int, Log], None]
    extra: Callable[[], str] = lambda: ""

    def fingerprint(self) -> str:
        return fingerprint(self.inputs(), self.extra())

    def up_to_date(self) -> bool:
        try:
            return json.loads(self.output.read_text(encoding="utf-8")).get("inputs_sha256") == self.fingerprint()
        except (OSError, ValueError, AttributeError):
            return False


def _splits_step() -> Step:
    from ..io.splits import SPLIT_FILE
    from .splits import write_split

    def run(root: str | None, jobs: int, log: Log) -> None:
        from ..io.splits import data_root

        write_split(data_root(root), log=log)

    # the manifest is its own authority: the step only adds rows, so it always runs (cheap)
    return Step("splits", "add new files to the frozen split manifest", lambda: [], SPLIT_FILE, run)


def _wild_step() -> Step:
    from ..detectors.base import WEIGHTS_DIR
    from ..io.splits import SPLIT_FILE
    from . import generalisation as g

    def inputs() -> list[Path]:
        files = [SPLIT_FILE]
        for name in g.WILD_DETECTORS:
            card = WEIGHTS_DIR / f"{name}.json"
            files.append(card)  # the card names the weights file and its sha256
        return files

    def extra() -> str:
        return json.dumps({k: v[1].to_dict() for k, v in g.LAUNDERING.items()}, sort_keys=True)

    def run(root: str | None, jobs: int, log: Log) -> None:
        g.write_wild(root, jobs=jobs, log=log, inputs_sha256=fingerprint(inputs(), extra()))

    return Step("wild", "score the shipped detectors on held-out sources, laundered", inputs, g.WILD_FILE, run, extra)


def steps() -> dict[str, Step]:
    """The build steps in order."""
    return {s.name: s for s in (_splits_step(), _wild_step())}


STEPS: tuple[str, ...] = ("splits", "wild")


def run_steps(names: Sequence[str], *, root: str | None = None, jobs: int = 2, force: bool = False,
              log: Log = print) -> list[str]:
    """Run the named steps (``"all"``: every step) in build order; returns the steps that ran."""
    from ..errors import UsageError

    table = steps()
    wanted = list(table) if "all" in names else list(names)
    unknown = [n for n in wanted if n not in table]
    if unknown:
        raise UsageError(f"unknown build step(s) {unknown}; steps: {', '.join(STEPS)}, all")
    ran = []
    for name in table:
        if name not in wanted:
            continue
        step = table[name]
        if not force and step.inputs() and step.up_to_date():
            log(f"{name}: up to date ({step.output.name})")
            continue
        log(f"{name}: {step.doc}")
        step.run(root, jobs, log)
        ran.append(name)
    return ran
