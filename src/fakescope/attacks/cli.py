"""Argument parsers of ``fakescope generate`` and ``fakescope attack`` (the runs are in :mod:`.run`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_parsers", "cmd_generate", "cmd_attack"]


def add_parsers(sub) -> None:  # noqa: ANN001
    g = sub.add_parser("generate", help="sample images from a generator of the zoo (fakescope.generators)")
    g.add_argument("model", metavar="MODEL", help="a shipped generator, e.g. dcgan-transposed (see --list)")
    g.add_argument("--n", type=int, default=16, help="images to write (default 16)")
    g.add_argument("--out", type=Path, required=False, default=None, help="output folder (PNGs + manifest.csv)")
    g.add_argument("--seed", type=int, default=0, help="latent seed: the same seed writes the same bytes")

    a = sub.add_parser("attack", help="attack detectors on a labelled dataset; writes images, report.json, report.md")
    a.add_argument("data", metavar="DATA", help="a labelled dataset (real/fake folders, manifest, known layouts)")
    a.add_argument("--method", required=True, help="fgsm, pgd, pgd-l2, freq-high, freq-low, ganprintr, launder")
    a.add_argument("--eps", default="4/255", help="budget in [0, 1] pixel units; fractions allowed (default 4/255)")
    a.add_argument("--detector", default="fusion",
                   help="the white-box surrogate: npr, npr-thumb, cnnspot, safe, patchcraft, rine or fusion "
                        "(default: the default fusion through its differentiable members)")
    a.add_argument("--targets", default=None, help="comma-separated detectors to score (default: every twin, the ensemble and the fusion)")
    a.add_argument("--defence", default="", help="comma-separated purifiers to measure: jpeg75, blur, dae")
    a.add_argument("--n", type=int, default=64, help="fakes (and reals) to use, in dataset order (default 64)")
    a.add_argument("--split", default=None, help="only this split of the dataset (e.g. test)")
    a.add_argument("--steps", type=int, default=10, help="PGD steps (default 10)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out", type=Path, required=True, help="output folder")


def cmd_generate(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..generators import generate, list_generators

    if args.out is None:
        raise UsageError("--out is required; shipped generators: " + ", ".join(list_generators()))
    if args.n < 1:
        raise UsageError(f"--n must be at least 1, got {args.n}")
    m = generate(args.model, args.n, args.out, seed=args.seed)
    print(f"wrote {args.n} images and {m}")
    return 0


def cmd_attack(args: argparse.Namespace) -> int:
    import torch

    from . import ATTACKS, parse_eps
    from .evaluate import PURIFIERS
    from .run import DEFAULT_TARGETS, run_attack
    from ..errors import UsageError

    torch.set_num_threads(1)
    ATTACKS.get(args.method)  # unknown name: error listing the valid ones
    eps = parse_eps(args.eps)
    defences = [d for d in args.defence.split(",") if d]
    for d in defences:
        if d not in PURIFIERS:
            raise UsageError(f"unknown defence {d!r}; valid: {', '.join(PURIFIERS)}")
    targets = [t for t in args.targets.split(",") if t] if args.targets else list(DEFAULT_TARGETS)
    r = run_attack(args.data, method=args.method, eps=eps, eps_text=str(args.eps), detector=args.detector,
                   out=args.out, n=args.n, targets=targets, defences=defences, seed=args.seed, steps=args.steps,
                   split=args.split, log=lambda m: print(m, flush=True))
    for t, m in r["targets"].items():
        print(f"{t:11s} flagged {m['flagged_before']:.3f} -> {m['flagged_after']:.3f}  evasion {m['evasion_rate']:.3f}  "
              f"TPR@1%FPR {m['tpr_at_1fpr_before']:.3f} -> {m['tpr_at_1fpr_after']:.3f}")
    print(json.dumps(r["perturbation"]))
    print(f"wrote {args.out / 'report.json'} and {args.out / 'report.md'}")
    return 0
