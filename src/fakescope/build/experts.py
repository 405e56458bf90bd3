"""What the detector-training steps (npr, spectral, safe, cnnspot, patchcraft, npr-thumb, probe) share.

A step writes the weights and a card; the card's ``metrics.build`` records the step, its recipe,
its input fingerprint (also ``metrics.inputs_sha256``, read by :meth:`fakescope.build.Step.up_to_date`)
and what is known about reproducing the shipped file.  Build facts go into ``metrics``, not
``extra``: ``extra`` is part of the detector's scoring key, so a rebuild that reproduces the weights
does not make every scoring step stale.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["record_build", "calibration_platt", "write_manifest", "expert_steps"]

Log = Callable[[str], None]


def record_build(card: Any, *, step: str, recipe: Any, inputs_sha256: str, **more: Any) -> Any:
    """``card`` with ``metrics.inputs_sha256`` and ``metrics.build`` (step, recipe, fingerprint, ``more``)."""
    build = {"step": step, "command": f"fakescope build {step}", "inputs_sha256": inputs_sha256,
             "recipe": json.loads(json.dumps(recipe, default=str)),
             "reproduced": f"made by `fakescope build {step}` itself", **more}
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


def expert_steps() -> list[Any]:
    """The detector-training steps in build order (before ``wild`` and ``calibrate``, which score them)."""
    from ..detectors.base import WEIGHTS_DIR
    from . import Step, fingerprint
    from . import aligned, npr, probe, spectral, zoo

    def make(name: str, doc: str, inputs: Callable[[], list[Path]], extra: Callable[[], str],
             build: Callable[..., Any]) -> Step:
        def run(root: str | None, jobs: int, log: Log) -> None:
            build(root, log=log, inputs_sha256=fingerprint(inputs(), extra()))

        return Step(name, doc, inputs, WEIGHTS_DIR / f"{name}.json", run, extra)

    out = [make("npr", "train the NPR network on the train split + aligned fakes; export; quantize to int8",
                npr.inputs, lambda: json.dumps(npr.recipe_dict(), sort_keys=True), npr.build_npr),
           make("spectral", "fit the residual-spectrum MLP on the train split + aligned fakes",
                spectral.inputs, lambda: json.dumps(spectral.recipe_dict(), sort_keys=True), spectral.build_spectral)]
    for fam in zoo.FAMILIES:
        out.append(make(fam, f"train the {fam} tile network (configs/train/{fam}.yaml) on the train split + aligned fakes",
                        lambda fam=fam: zoo.inputs(fam), lambda: aligned.recipe_json(),
                        lambda root, fam=fam, **kw: zoo.build_tilenet(fam, root, **kw)))
    out.append(make(zoo.THUMB, "train the NPR thumbnail specialist on CIFAKE (configs/train/npr-thumb.yaml)",
                    lambda: zoo.inputs(zoo.THUMB), lambda: json.dumps({"seeds": zoo.THUMB_SEEDS}),
                    zoo.build_npr_thumb))
    out.append(make("probe", "fit the probe head on frozen Lite0 features and the rigid calibration",
                    probe.inputs, lambda: json.dumps(probe.recipe_dict(), sort_keys=True), probe.build_probe))
    return out
