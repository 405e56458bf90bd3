"""What the detector-training steps (npr, spectral, safe, cnnspot, patchcraft, cnnspot-adv, npr-thumb, probe) share.

A step writes the weights and a card; the card's ``metrics.build`` records the step, its recipe,
its input fingerprint (also ``metrics.inputs_sha256``, read by :meth:`fakescope.build.Step.up_to_date`)
and whether it reproduced the files it replaced: the step hashes the weight files its cards name before it
runs and again after (:func:`shipped_state`, :func:`check_reproduced`): ``reproduced`` is true only when
every weight file is bitwise identical and the Platt parameters agree within :data:`CALIBRATION_TOL`, so
``fakescope build STEP --force`` on a checkout is the reproducibility check.  Build facts go into ``metrics``, not
``extra``: ``extra`` is part of the detector's scoring key, so a rebuild that reproduces the weights
does not make every scoring step stale.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["environment", "record_build", "calibration_platt", "write_manifest", "expert_steps", "shipped_state", "check_reproduced"]

Log = Callable[[str], None]


def environment() -> dict[str, str]:
    """What the floats of a training run depend on besides its inputs: the CPU's instruction set as torch uses
    it and the numeric libraries' versions (a rebuild on another CPU trains different bytes)."""
    import platform
    from importlib import metadata

    env = {"machine": platform.machine(), "python": platform.python_version()}
    try:
        import torch

        env["torch_cpu_capability"] = str(torch.backends.cpu.get_cpu_capability())
    except ImportError:  # pragma: no cover - the train extra
        pass
    for pkg in ("torch", "numpy", "pillow", "scipy", "onnx", "onnxruntime"):
        try:
            env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return env


def record_build(card: Any, *, step: str, recipe: Any, inputs_sha256: str, **more: Any) -> Any:
    """``card`` with ``metrics.inputs_sha256`` and ``metrics.build`` (step, recipe, fingerprint, the machine's
    :func:`environment`, ``more``)."""
    build = {"step": step, "command": f"fakescope build {step}", "inputs_sha256": inputs_sha256,
             "environment": environment(), "recipe": json.loads(json.dumps(recipe, default=str)),
             "reproduced": None, "reproduced_check": "not checked (filled in by the step: see check_reproduced)",
             **more}
    return replace(card, metrics={**card.metrics, "inputs_sha256": inputs_sha256, "build": build})


def calibration_platt(det: Any, records: Sequence[Any], *, log: Log | None = None) -> dict[str, Any]:
    """Platt parameters of detector ``det`` fitted on ``records`` (the calibration split) as stored and
    as JPEG q90 (the ``calibrate`` step's chains), decoded by the scan's decoder, every group weighted
    equally within its class."""
    from ..io.decode import load
    from ..training.evaluate import fit_platt
    from .calibrate import CAL_CHAINS

    scores, labels, groups = [], [], []
    for i, r in enumerate(records):
        image = load(r.path).image
        for chain in CAL_CHAINS.values():
            scores.append(float(det.raw_scores([chain.apply(image)])[0]))
            labels.append(int(r.label))
            groups.append(r.group)
        if log and i % 200 == 0:
            log(f"{det.card.name}: calibration scores {i + 1}/{len(records)}")
    return fit_platt(scores, labels, groups=groups)


def write_manifest(path: Path, records: Sequence[Any]) -> Path:
    """A manifest (path, label, split, generator, source) the generic trainer reads; the calibration
    rows become its validation rows."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split", "generator", "source"])
        for r in records:
            w.writerow([r.path, r.label, "val" if r.split == "calibration" else r.split, r.group, r.source])
    return path


#: the cards each step writes (their weight files and calibration are what a rebuild must reproduce)
STEP_CARDS: dict[str, tuple[str, ...]] = {"probe": ("probe", "rigid")}
#: calibration parameters may differ by this much (floats summed in another order); weights must be bitwise equal
CALIBRATION_TOL = 1e-4


def shipped_state(step: str, weights_dir: Path | None = None) -> dict[str, Any]:
    """What the ``step``'s cards in ``weights_dir`` (default the package's) hold before a rebuild: the sha256 of
    every weight file they name (``weights``, ``extra.reference_weights``) and their calibration parameters."""
    from ..detectors.base import WEIGHTS_DIR, sha256_file

    wd = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    state: dict[str, Any] = {}
    for name in STEP_CARDS.get(step, (step,)):
        try:
            d = json.loads((wd / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        files = [d.get("weights"), ((d.get("extra") or {}).get("reference_weights") or {}).get("file")]
        shas = {Path(f).name: sha256_file(wd / Path(f).name) for f in files if f and (wd / Path(f).name).is_file()}
        state[name] = {"files": shas, "calibration": d.get("calibration")}
    return state


def _calibration_close(a: Any, b: Any, tol: float) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_calibration_close(a[k], b[k], tol) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= tol
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_calibration_close(x, y, tol) for x, y in zip(a, b))
    return a == b


def check_reproduced(step: str, before: dict[str, Any], weights_dir: Path | None = None, *,
                     log: Log | None = None) -> bool:
    """Compare the cards the step just wrote with ``before`` (:func:`shipped_state` taken before it ran) and
    record the outcome in each card's ``metrics.build`` (``reproduced``: true when every weight file is
    bitwise identical and the calibration parameters agree within :data:`CALIBRATION_TOL`)."""
    from ..detectors.base import WEIGHTS_DIR

    wd = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    after = shipped_state(step, wd)
    same = bool(before) and all(
        n in before and before[n]["files"] == after[n]["files"]
        and _calibration_close(before[n]["calibration"], after[n]["calibration"], CALIBRATION_TOL) for n in after)
    if not before:
        note = "no previous build to compare with"
    elif same:
        files = sorted(f for n in after for f in after[n]["files"])
        note = (f"rebuilt and compared with the files it replaced: {', '.join(files)} bitwise identical (sha256), "
                f"calibration parameters within {CALIBRATION_TOL:g}")
    else:
        diff = sorted(f"{f} {before.get(n, {}).get('files', {}).get(f, 'absent')[:12]} -> {sha[:12]}"
                      for n in after for f, sha in after[n]["files"].items()
                      if before.get(n, {}).get("files", {}).get(f) != sha)
        note = ("differs from the files it replaced" + (f": {'; '.join(diff)}" if diff else ": calibration parameters")
                + " (a first build, or inputs changed; rebuild once more to check reproducibility)")
    for name in after:  # edited as JSON (DetectorCard.load resolves the weights' path), written as a card is
        path = wd / f"{name}.json"
        d = json.loads(path.read_text(encoding="utf-8"))
        d["metrics"]["build"] = {**d["metrics"]["build"], "reproduced": same, "reproduced_check": note}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(d, f, indent=2, sort_keys=False)
            f.write("\n")
    if log:
        log(f"{step}: reproduced {same}: {note}")
    return same


#: what ``fakescope build --list`` says of the fine-tuned tile networks (build.zoo.FINE_TUNED)
_FINE_TUNED_DOCS = {"cnnspot-adv": "fine-tune cnnspot against white-box PGD (configs/train/cnnspot-adv.yaml): "
                                   "detector cnnspot-adv"}


def expert_steps() -> list[Any]:
    """The detector-training steps in build order (before ``wild`` and ``calibrate``, which score them)."""
    from ..detectors.base import WEIGHTS_DIR
    from . import Step, fingerprint
    from . import aligned, npr, probe, spectral, zoo

    def make(name: str, doc: str, inputs: Callable[[], list[Path]], extra: Callable[[], str],
             build: Callable[..., Any]) -> Step:
        def run(root: str | None, jobs: int, log: Log) -> None:
            before = shipped_state(name)
            build(root, log=log, inputs_sha256=fingerprint(inputs(), extra()))
            check_reproduced(name, before, log=log)

        def caches() -> list[Path]:
            # the tile networks resume from their run directory (zoo._run_dir), the probe reuses its features;
            # the aligned fakes are the npr step's own output, shared by every step, and stay
            if name in (*zoo.FAMILIES, *zoo.FINE_TUNED, zoo.THUMB):
                return [zoo._run_dir(name, None, fingerprint(inputs(), extra()))]
            return [aligned.cache_root() / "probe"] if name == "probe" else []

        return Step(name, doc, inputs, WEIGHTS_DIR / f"{name}.json", run, extra, caches)

    out = [make("npr", "train the NPR network on the train split + aligned fakes; export; quantize to int8",
                npr.inputs, lambda: json.dumps(npr.recipe_dict(), sort_keys=True), npr.build_npr),
           make("spectral", "fit the residual-spectrum MLP on the train split + aligned fakes",
                spectral.inputs, lambda: json.dumps(spectral.recipe_dict(), sort_keys=True), spectral.build_spectral)]
    for fam in (*zoo.FAMILIES, *zoo.FINE_TUNED):  # the fine-tuned ones come after the network they start from
        doc = _FINE_TUNED_DOCS.get(fam, f"train the {fam} tile network (configs/train/{fam}.yaml) on the train "
                                        "split + aligned fakes")
        out.append(make(fam, doc, lambda fam=fam: zoo.inputs(fam), lambda: aligned.recipe_json(),
                        lambda root, fam=fam, **kw: zoo.build_tilenet(fam, root, **kw)))
    out.append(make(zoo.THUMB, "train the NPR thumbnail specialist on CIFAKE (configs/train/npr-thumb.yaml)",
                    lambda: zoo.inputs(zoo.THUMB), lambda: json.dumps({"seeds": zoo.THUMB_SEEDS}),
                    zoo.build_npr_thumb))
    out.append(make("probe", "fit the probe head on frozen Lite0 features and the rigid calibration",
                    probe.inputs, lambda: json.dumps(probe.recipe_dict(), sort_keys=True), probe.build_probe))
    return out
