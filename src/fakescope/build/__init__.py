"""The model build: split manifest → train → score → calibrate → select → cascade → evaluate → ship.

``fakescope build STEP|all`` runs the steps in order.  Each step is a :class:`Step`: a function with
declared inputs (whose sha256 it fingerprints) and outputs; a step whose outputs record the same
input fingerprint is up to date and skipped (``--force`` reruns it).  Steps so far:

=============  ========================================================================================
``splits``     add rows for new files to the frozen split manifest (``fakescope/io/split.csv``); listed
               files never move (:mod:`fakescope.build.splits`)
``rine``       fit the ``rine`` detector's head on the train split, its knobs chosen by
               leave-one-source-out (``weights/rine.onnx``, :mod:`fakescope.build.rine`)
``zed``        train the real-only lossless-coding model of the ``zed`` detector on the train split's real
               photos (``weights/zed.onnx``, :mod:`fakescope.build.zed`; not in the default sets)
``rine-adv``   the ``rine-adv`` detector: rine's head adversarially trained against PGD 4/255 through
               its own graph (``weights/rine-adv.onnx``, :mod:`fakescope.build.rine_adv`; not default)
``npr``        train the NPR network on the train split + aligned fakes (auto-encoder reconstructions,
               :mod:`fakescope.build.aligned`), export it, quantize it to int8 (``weights/npr.onnx``,
               ``npr.int8.onnx``, :mod:`fakescope.build.npr`)
``spectral``   fit the residual-spectrum MLP on the same pools (``weights/spectral.npz``,
               :mod:`fakescope.build.spectral`)
``safe``, ``cnnspot``, ``patchcraft``  train the tile networks with ``configs/train/<name>.yaml`` on the
               train split + aligned fakes (``weights/<name>.onnx``, :mod:`fakescope.build.zoo`)
``cnnspot-adv`` fine-tune ``cnnspot`` against white-box PGD (``configs/train/cnnspot-adv.yaml``:
               ``weights/cnnspot-adv.onnx``, :mod:`fakescope.build.zoo`; not default)
``npr-thumb``  train the NPR thumbnail specialist on CIFAKE (``weights/npr-thumb.onnx``,
               :mod:`fakescope.build.zoo`)
``probe``      fit the probe head on frozen Lite0 features and the rigid calibration (``weights/probe.npz``,
               ``probe.json``, ``rigid.json``, :mod:`fakescope.build.probe`)
``wild``       score every shipped core detector on every held-out image under each laundering
               condition (``weights/wild.json``): the fusion's "real" rule and the default sets' choice
               (:mod:`fakescope.build.generalisation`)
``calibrate``  score the calibration split with every shipped detector; fit the ensemble's stacker on those
               scores (``weights/ensemble.json``); choose the default sets on the held-out sources
               (``weights/calibration.json``, :mod:`fakescope.build.calibrate`)
``cascade``    fit the two-stage scan's first stage on the calibration split (``weights/cascade.json``,
               :mod:`fakescope.build.cascade`)
``localizer``  train the localization network on partial fakes of train-split photos
               (``weights/localizer.json``, :mod:`fakescope.build.localizer`)
``attribution`` fit generator attribution (class means, open-set threshold) on the train split
               (``weights/attribution.json``, :mod:`fakescope.build.attribution`)
``video``      fit the video fusion (face crops joined to frames, top-k pooling, thresholds, hysteresis
               segments) on calibration clips made from the calibration split, face-swap clips from train and
               calibration photos (``weights/video.json``, :mod:`fakescope.build.video`)
``generators`` train the 32-px GAN zoo (4 losses x 4 up-samplers: :data:`~.generators.MODELS`) on CIFAKE's
               real train split, reusing a model whose recipe entry, seed, data and code are unchanged;
               FID/KID on Lite0 features (``weights/generators/``, :mod:`fakescope.build.generators`)
``attack-models`` train the GANprintR auto-encoder and the denoising purifier on CIFAKE reals
               (``weights/attacks/``, :mod:`fakescope.attacks.autoencoders`)
=============  ========================================================================================

Every shipped weight file is made by one of these steps; each card records its step, recipe and input
fingerprint (``metrics.build``).  ``fakescope build --list`` prints the steps in order.

:attr:`Step.after` names the steps whose outputs a step reads (the graph); ``fakescope build all --parallel 2``
runs steps whose prerequisites are done side by side, each in a process of its own, longest remaining chain
first (by the step times of the last build on this machine, ``$FAKESCOPE_CACHE/build/timings.json``).  A
step's up-to-date check happens when its prerequisites are done, so a prerequisite that changed makes it run.
Each step fixes its own torch thread count, so the files do not depend on how many steps run at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import FakescopeError

__all__ = ["Step", "STEPS", "BuildError", "run_steps", "missing_data", "fingerprint", "scoring_keys"]

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
    #: what the step resumes from or reuses (training checkpoints, feature caches) for its current inputs:
    #: ``fakescope build STEP --fresh`` deletes them first, so the step really computes everything again
    caches: Callable[[], list[Path]] = lambda: []
    #: what ``--fresh`` runs instead of ``run`` where a step reuses finished work kept beside its outputs rather
    #: than in a cache (the generator zoo keeps a model whose recipe entry, seed, data and code are unchanged)
    run_fresh: Callable[[str | None, int, Log], None] | None = None
    #: the steps whose outputs this one reads (weights it scores, caches it reuses): the build graph
    after: tuple[str, ...] = ()
    #: reads the data the frozen split lists: :func:`run_steps` will not run it while listed files are
    #: missing (a build without them trains on less data and cannot reproduce the shipped files)
    reads_data: bool = False

    def fingerprint(self) -> str:
        return fingerprint(self.inputs(), self.extra())

    def up_to_date(self) -> bool:
        try:
            d = json.loads(self.output.read_text(encoding="utf-8"))
            # a card keeps it among its metrics: not in ``extra``, which decides the scoring key, so a
            # rebuild that reproduces the weights does not make every step that scores them stale
            recorded = d.get("inputs_sha256") or d.get("metrics", {}).get("inputs_sha256")
            return recorded == self.fingerprint()
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


def scoring_keys(names: Sequence[str]) -> str:
    """What decides the named detectors' raw scores (:meth:`DetectorCard.scoring_key`: weights and input
    settings, not metrics): a step that scores them reruns when one changes.  A detector whose card is not
    built yet (a step added to the build) counts as ``null``: the step is stale until that card exists."""
    from ..detectors.base import WEIGHTS_DIR, load_card

    return json.dumps({n: load_card(n).scoring_key() if (WEIGHTS_DIR / f"{n}.json").is_file() else None
                       for n in names}, sort_keys=True)


def _rine_adv_step() -> Step:
    from ..io.splits import SPLIT_FILE
    from ..attacks import __file__ as attacks_file
    from ..backbones import efficientnet_lite0_path
    from ..detectors.base import WEIGHTS_DIR
    from ..perturbations import laundering
    from . import rine, rine_adv

    def inputs() -> list[Path]:
        return [SPLIT_FILE, Path(rine_adv.__file__), Path(rine.__file__), Path(attacks_file),
                WEIGHTS_DIR / "rine.json", efficientnet_lite0_path(), Path(laundering.__file__)]

    def extra() -> str:
        return json.dumps(rine_adv.RECIPE, sort_keys=True)

    def run(root: str | None, jobs: int, log: Log) -> None:
        rine_adv.build_rine_adv(root, jobs=jobs, log=log, inputs_sha256=fingerprint(inputs(), extra()))

    return Step("rine-adv", "adversarially train rine's head (PGD 4/255 through its graph): detector rine-adv",
                inputs, WEIGHTS_DIR / "rine-adv.json", run, extra)


def _wild_step() -> Step:
    from ..io.splits import SPLIT_FILE
    from . import generalisation as g

    def inputs() -> list[Path]:
        return [SPLIT_FILE, Path(g.__file__)]

    def extra() -> str:
        return json.dumps({k: v[1].to_dict() for k, v in g.LAUNDERING.items()}, sort_keys=True) + \
            scoring_keys(g.WILD_DETECTORS)

    def run(root: str | None, jobs: int, log: Log) -> None:
        g.write_wild(root, jobs=jobs, log=log, inputs_sha256=fingerprint(inputs(), extra()))

    return Step("wild", "score the shipped detectors on held-out sources, laundered", inputs, g.WILD_FILE, run, extra)


def _rine_step() -> Step:
    from ..backbones import efficientnet_lite0_path
    from ..detectors.base import WEIGHTS_DIR
    from ..detectors import rine as dr
    from ..io.splits import SPLIT_FILE
    from ..perturbations import laundering
    from . import rine

    def inputs() -> list[Path]:
        return [SPLIT_FILE, Path(rine.__file__), efficientnet_lite0_path(), Path(dr.__file__), Path(laundering.__file__)]

    def run(root: str | None, jobs: int, log: Log) -> None:
        rine.build_rine(root, jobs=jobs, log=log, inputs_sha256=fingerprint(inputs()))

    return Step("rine", "fit the rine head (intermediate Lite0 features) on train, test and wild rows; fold heads", inputs,
                WEIGHTS_DIR / "rine.json", run)


def _zed_step() -> Step:
    from ..detectors import zed as dz
    from ..detectors.base import WEIGHTS_DIR
    from ..io.splits import SPLIT_FILE
    from ..perturbations import laundering
    from . import zed

    def inputs() -> list[Path]:
        return [SPLIT_FILE, Path(zed.__file__), Path(dz.__file__), Path(laundering.__file__)]

    def extra() -> str:
        return json.dumps(zed.RECIPE, sort_keys=True)

    def run(root: str | None, jobs: int, log: Log) -> None:
        zed.build_zed(root, jobs=jobs, log=log, inputs_sha256=fingerprint(inputs(), extra()))

    return Step("zed", "train the real-only coding model of the zed detector on train-split real photos", inputs,
                WEIGHTS_DIR / zed.ZED_JSON, run, extra)


def _calibrate_step() -> Step:
    from ..fusion import CALIBRATION_FILE
    from ..io.splits import SPLIT_FILE
    from .. import regimes
    from . import calibrate as c, generalisation as g
    from .generalisation import WILD_FILE

    def inputs() -> list[Path]:
        # the scoring loop (generalisation.py) and the rows' fit weights (regimes.py) decide the file too
        # the committed price list (bench/detector_costs.py) prices the candidate default sets
        return [SPLIT_FILE, Path(c.__file__), Path(g.__file__), Path(regimes.__file__), WILD_FILE, c.COSTS_FILE]

    def extra() -> str:
        # the ensemble is fitted here from the members' scores: its own card is an output, not an input
        return scoring_keys(c.SCORED_DETECTORS)

    def run(root: str | None, jobs: int, log: Log) -> None:
        c.write_calibration(root, jobs=jobs, log=log, inputs_sha256=fingerprint(inputs(), extra()))

    return Step("calibrate", "score the calibration split; fit the ensemble; choose the default sets on held-out sources",
                inputs,
                CALIBRATION_FILE, run, extra)


def _cascade_step() -> Step:
    from ..fusion import CALIBRATION_FILE, CASCADE_FILE, WILD_FILE
    from . import calibrate, cascade as c

    def inputs() -> list[Path]:
        return [CALIBRATION_FILE, WILD_FILE, Path(c.__file__), calibrate.COSTS_FILE]

    def run(root: str | None, jobs: int, log: Log) -> None:
        c.write_cascade(root, jobs=jobs, log=log, inputs_sha256=fingerprint(inputs()))

    return Step("cascade", "fit the two-stage scan's first stage on the calibration split", inputs, CASCADE_FILE, run)


def _docs_benchmarks() -> Path | None:
    """``docs/benchmarks`` of a source checkout (None in an installed package)."""
    d = Path(__file__).resolve().parents[3] / "docs" / "benchmarks"
    return d if d.is_dir() else None


def _attribution_step() -> Step:
    from ..attribution import families, model, residual
    from ..backbones import efficientnet_lite0_path
    from ..detectors.base import WEIGHTS_DIR
    from ..io.splits import SPLIT_FILE
    from . import attribution as a

    def inputs() -> list[Path]:
        return [SPLIT_FILE, Path(a.__file__), Path(model.__file__), Path(families.__file__), Path(residual.__file__),
                efficientnet_lite0_path()]

    def run(root: str | None, jobs: int, log: Log) -> None:
        docs = _docs_benchmarks()
        a.build_attribution(root, jobs=jobs, log=log, inputs_sha256=fingerprint(inputs()),
                            report=docs / "attribution.md" if docs else None)

    return Step("attribution", "fit generator attribution (class means, open-set threshold) on the train split",
                inputs, WEIGHTS_DIR / a.ATTRIBUTION_JSON, run)


def _localizer_step() -> Step:
    from ..detectors.base import WEIGHTS_DIR
    from ..io.splits import SPLIT_FILE
    from ..localization import evaluate, synth
    from ..training import localizer as t
    from . import localizer as b

    def inputs() -> list[Path]:
        return [SPLIT_FILE, Path(b.__file__), Path(t.__file__), Path(synth.__file__), Path(evaluate.__file__)]

    def extra() -> str:
        return scoring_keys(["rine"])  # the coarse map fused with the network's, measured here

    def run(root: str | None, jobs: int, log: Log) -> None:
        docs = _docs_benchmarks()
        b.build_localizer(root, jobs=jobs, log=log, inputs_sha256=fingerprint(inputs(), extra()),
                          report=docs / "localization.md" if docs else None)

    def caches() -> list[Path]:
        # the trained network, kept by what decides the training (a change to the choices reuses it)
        return [b.net_cache_dir()]

    return Step("localizer", "train the localization network on partial fakes of train-split photos", inputs,
                WEIGHTS_DIR / b.LOCALIZER_JSON, run, extra, caches)


def _video_step() -> Step:
    from ..benchmark import video as bv
    from ..fusion import CALIBRATION_FILE, CASCADE_FILE, default_detectors
    from ..io.splits import SPLIT_FILE
    from .. import video as scan_video_module
    from ..temporal import VIDEO_FUSION_FILE
    from . import video as v

    def inputs() -> list[Path]:
        # the frames are scored by the shipped default scan: its calibration and cascade decide the scores,
        # the video scan's face crops (fakescope/video.py) what the face fusion is fitted on
        return [SPLIT_FILE, Path(v.__file__), Path(bv.__file__), Path(scan_video_module.__file__), CALIBRATION_FILE,
                CASCADE_FILE]

    def extra() -> str:
        return scoring_keys(default_detectors())

    def run(root: str | None, jobs: int, log: Log) -> None:
        v.build_video(root, jobs=jobs, log=log, inputs_sha256=fingerprint(inputs(), extra()))

    return Step("video", "fit the video fusion on calibration clips", inputs, VIDEO_FUSION_FILE, run, extra)


def _generators_step() -> Step:
    from ..io.splits import SPLIT_FILE
    from ..generators import models as gm, train as gt
    from . import generators as g

    def inputs() -> list[Path]:
        return [SPLIT_FILE, Path(g.__file__), Path(gm.__file__), Path(gt.__file__)]

    def extra() -> str:
        return json.dumps(g.RECIPE, sort_keys=True)

    def run(root: str | None, jobs: int, log: Log, reuse: bool = True) -> None:
        g.build_generators(root, log=log, inputs_sha256=fingerprint(inputs(), extra()), jobs=jobs, reuse=reuse)

    def run_fresh(root: str | None, jobs: int, log: Log) -> None:
        run(root, jobs, log, reuse=False)

    return Step("generators", "train the 32-px GAN zoo on CIFAKE reals; FID/KID on Lite0 features", inputs,
                g.ZOO_FILE, run, extra, run_fresh=run_fresh)


def _attack_models_step() -> Step:
    from ..io.splits import SPLIT_FILE
    from ..attacks import autoencoders as a

    def inputs() -> list[Path]:
        return [SPLIT_FILE, Path(a.__file__)]

    def extra() -> str:
        return json.dumps(a.AE_RECIPE, sort_keys=True)

    def run(root: str | None, jobs: int, log: Log) -> None:
        a.build_attack_models(root, log=log, inputs_sha256=fingerprint(inputs(), extra()))

    return Step("attack-models", "train the GANprintR auto-encoder and the denoising purifier on CIFAKE reals",
                inputs, a.AE_DIR / "index.json", run, extra)


def steps() -> dict[str, Step]:
    """The build steps in order, each with the steps it comes :attr:`~Step.after`."""
    from dataclasses import replace

    from .experts import expert_steps

    graph = _after()
    return {s.name: replace(s, after=graph[s.name], reads_data=s.name != "splits") for s in (_splits_step(), _rine_step(), _zed_step(), _rine_adv_step(), *expert_steps(),
                                _wild_step(), _calibrate_step(), _cascade_step(), _localizer_step(),
                                _attribution_step(), _video_step(), _generators_step(), _attack_models_step())}


STEPS: tuple[str, ...] = ("splits", "rine", "zed", "rine-adv", "npr", "spectral", "safe", "cnnspot", "patchcraft",
                          "cnnspot-adv", "npr-thumb", "probe", "wild", "calibrate", "cascade", "localizer", "attribution", "video",
                          "generators", "attack-models")


def _step_of(detector: str) -> str:
    """The build step that writes ``detector``'s card (:data:`.experts.STEP_CARDS`; else the detector's name)."""
    from .experts import STEP_CARDS

    return next((step for step, cards in STEP_CARDS.items() if detector in cards), detector)


def _after() -> dict[str, tuple[str, ...]]:
    from .calibrate import SCORED_DETECTORS
    from .generalisation import WILD_DETECTORS

    return {"splits": (), "rine": ("splits",), "zed": ("splits",), "rine-adv": ("rine",),
            # npr's step makes the aligned fakes (build.aligned) the other expert steps and the probe train on
            "npr": ("splits",), "spectral": ("npr",), "safe": ("npr",), "cnnspot": ("npr",), "patchcraft": ("npr",),
            "cnnspot-adv": ("cnnspot",), "npr-thumb": ("splits",), "probe": ("npr",),
            "wild": tuple(dict.fromkeys(_step_of(d) for d in WILD_DETECTORS)),
            "calibrate": ("wild", *dict.fromkeys(_step_of(d) for d in SCORED_DETECTORS)),
            "cascade": ("calibrate",), "localizer": ("rine",), "attribution": ("rine",), "video": ("cascade",),
            "generators": ("splits",), "attack-models": ("splits",)}


class BuildError(FakescopeError):
    """Raised by :func:`run_steps` when a step failed (the steps that did not need it still ran)."""


def _timings_file() -> Path:
    from ..backbones import cache_dir

    return Path(cache_dir()) / "build" / "timings.json"


def _load_timings() -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(_timings_file().read_text(encoding="utf-8")).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _save_timings(seconds: dict[str, float]) -> None:
    path = _timings_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**_load_timings(), **{k: round(v, 1) for k, v in seconds.items()}},
                                  indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only loses the scheduling hint


def _chain_lengths(names: Sequence[str], after: dict[str, tuple[str, ...]], cost: dict[str, float]) -> dict[str, float]:
    """For each step, its cost plus the longest chain of ``names`` that waits on it (the scheduler's priority)."""
    known = [cost[n] for n in names if n in cost]
    default = sorted(known)[len(known) // 2] if known else 1.0
    out: dict[str, float] = {}
    for name in reversed(list(names)):  # build order is a topological order: dependents come later
        later = [out[m] for m in names if m in out and name in after.get(m, ())]
        out[name] = cost.get(name, default) + max(later, default=0.0)
    return out


def _child(name: str, work: Callable[[str | None, int, Log], None], root: str | None, jobs: int, conn: Any) -> None:
    """A forked process running one step's ``work``; sends None or the error's text back."""
    import traceback

    def log(m: str) -> None:
        print(f"[{name}] {m}", flush=True)

    try:
        work(root, jobs, log)
        conn.send(None)
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which decides
        conn.send(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
    finally:
        conn.close()


def missing_data(root: str | None = None) -> list[str]:
    """The files the frozen split lists that this machine lacks (presence only; ``fakescope build --check``
    also compares their bytes)."""
    import os

    from ..io.splits import data_root, read_split

    base = data_root(root)
    return [r.path for r in read_split() if not os.path.isfile(r.location(base))]


def _require_data(root: str | None) -> None:
    from ..errors import UsageError
    from .splits import SYSTEM_PHOTOS

    missing = missing_data(root)
    if missing:
        pkgs = sorted({pkg for d, pkg in SYSTEM_PHOTOS.items() for m in missing if m.startswith(d + "/")})
        raise UsageError(
            f"{len(missing)} file(s) the frozen split lists are missing (first: {missing[0]})"
            + (f"; they come with the Debian package(s) {', '.join(pkgs)}: apt-get install {' '.join(pkgs)}" if pkgs
               else "") + ". A build without them trains and scores on less data and does not reproduce the shipped "
            "files (`fakescope build --check` lists them); pass --allow-missing to build anyway")


def run_steps(names: Sequence[str], *, root: str | None = None, jobs: int = 2, force: bool = False,
              fresh: bool = False, parallel: int = 1, log: Log = print, allow_missing: bool = False) -> list[str]:
    """Run the named steps (``"all"``: every step) in build order; returns the steps that ran.

    ``force`` reruns steps whose inputs did not change; ``fresh`` (implies ``force``) first deletes what
    each step would resume from (:attr:`Step.caches`: a training step's checkpoints, which a plain rerun
    resumes at its last step, i.e. only exports again), so a rebuild is a reproduction check.

    ``parallel`` > 1 runs up to that many steps at once, each in a forked process, a step only once the
    steps it comes :attr:`~Step.after` are done (longest remaining chain first).  After a failure nothing new
    starts; the running steps finish, then :class:`BuildError` names the failed and the skipped steps.  With
    ``parallel`` = 1 the steps run in this process in build order and a step's exception propagates.

    A step that reads the shared data (:attr:`Step.reads_data`) does not start while files the frozen split
    lists are missing (:func:`missing_data`: an optional Debian photo package not installed), unless
    ``allow_missing``: the error names the packages."""
    import multiprocessing as mp
    import shutil
    import time
    from multiprocessing.connection import wait

    from ..errors import UsageError

    table = steps()
    wanted = list(table) if "all" in names else list(names)
    unknown = [n for n in wanted if n not in table]
    if unknown:
        raise UsageError(f"unknown build step(s) {unknown}; steps: {', '.join(STEPS)}, all")
    if parallel < 1:
        raise UsageError(f"--parallel must be at least 1, got {parallel}")
    order = [n for n in table if n in wanted]
    # only prerequisites that are part of this run are waited for (the others are taken as they are)
    after = {n: tuple(p for p in table[n].after if p in order) for n in order}
    priority = _chain_lengths(order, after, _load_timings())
    # each step's up-to-date check hashes its inputs (~0.1 s a step); kept until a step finishes, which may
    # change what the later ones read
    current: dict[str, bool] = {}

    def up_to_date(name: str) -> bool:
        if name not in current:
            current[name] = bool(table[name].inputs()) and table[name].up_to_date()
        return current[name]

    if not allow_missing and any(table[n].reads_data and (force or fresh or not up_to_date(n)) for n in order):
        _require_data(root)  # before anything starts: a build that would read data this machine lacks stops here
    pending, running, done, failed, ran = list(order), {}, set(), {}, []
    seconds: dict[str, float] = {}
    t_all = time.perf_counter()

    def finished(name: str, t0: float, error: str | None = None) -> None:
        current.clear()
        seconds[name] = time.perf_counter() - t0
        if error is None:
            log(f"{name}: done in {seconds[name]:.0f} s")
            done.add(name)
            ran.append(name)
        else:
            log(f"{name}: FAILED after {seconds[name]:.0f} s: {error}")
            failed[name] = error.splitlines()[0] if error else "failed"

    ctx = mp.get_context("fork") if parallel > 1 else None
    while pending or running:
        # one at a time: build order; several: the longest remaining chain first
        ready = sorted((n for n in pending if all(p in done for p in after[n])),
                       key=lambda n: (-priority[n] if ctx else 0.0, order.index(n)))
        while ready and len(running) < parallel and not failed:
            name = ready.pop(0)
            pending.remove(name)
            step = table[name]
            if not (force or fresh) and up_to_date(name):
                log(f"{name}: up to date ({step.output.name})")
                done.add(name)
                continue
            log(f"{name}: {step.doc}")
            if fresh:
                for c in step.caches():
                    if c.exists():
                        shutil.rmtree(c) if c.is_dir() else c.unlink()
                        log(f"{name}: removed {c} (--fresh)")
            t0 = time.perf_counter()
            work = step.run_fresh if (fresh and step.run_fresh is not None) else step.run
            if ctx is None:
                work(root, jobs, log)
                finished(name, t0)
                continue
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(name, work, root, jobs, send), name=f"build-{name}")
            proc.start()
            send.close()
            running[proc.sentinel] = (name, proc, recv, t0)
        if not running:
            if failed or not any(all(p in done for p in after[n]) for n in pending):
                break  # a step failed (nothing new starts after a failure), or nothing left can start
            continue
        for sentinel in wait(list(running)):
            name, proc, recv, t0 = running.pop(sentinel)
            try:
                error = recv.recv() if recv.poll() else f"the process ended with exit code {proc.exitcode}"
            except EOFError:
                error = f"the process ended with exit code {proc.exitcode}"
            proc.join()
            recv.close()
            finished(name, t0, error)
    if seconds:
        _save_timings(seconds)
        log(f"build: {len(ran)} step(s) ran in {time.perf_counter() - t_all:.0f} s wall "
            f"({sum(seconds.values()):.0f} s summed over steps, {parallel} at a time): "
            + ", ".join(f"{n} {seconds[n]:.0f} s" for n in order if n in seconds))
    if failed:
        skipped = [n for n in order if n not in done and n not in failed]
        raise BuildError(f"build step(s) failed: {'; '.join(f'{n}: {e}' for n, e in failed.items())}"
                         + (f"; not run: {', '.join(skipped)}" if skipped else ""))
    return ran
