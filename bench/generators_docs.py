"""docs/benchmarks/generators.md from weights/generators/zoo.json (the output of `fakescope build generators`).

    PYTHONPATH=src python bench/generators_docs.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def nyquist_share(x: np.ndarray) -> float:
    x = x - x.mean(axis=(-2, -1), keepdims=True)
    p = np.abs(np.fft.fft2(x)) ** 2
    h, w = p.shape[-2:]
    ny = p[..., h // 2, :].sum() + p[..., :, w // 2].sum() - p[..., h // 2, w // 2].sum()
    return float(ny / p.sum())


def spectrum_features(images: np.ndarray) -> np.ndarray:
    """log power spectrum (rfft2, 32 x 17) of each image's grey levels, mean removed."""
    g = images.astype(np.float64).mean(axis=3)
    g = g - g.mean(axis=(1, 2), keepdims=True)
    return np.log1p(np.abs(np.fft.rfft2(g)) ** 2).reshape(len(g), -1)


LAUNDERING = {"clean": [], "JPEG 90": [("jpeg", {"quality": 90})],
              "bilinear x1.5 + JPEG 90 (central 32 px)": [("upscale-bilinear", {"scale": 1.5}),
                                                          ("jpeg", {"quality": 90})]}


def launder(images: np.ndarray, chain: list) -> np.ndarray:
    from fakescope.perturbations import apply_perturbation

    out = []
    for im in images:
        for name, params in chain:
            im = apply_perturbation(name, im, **params)
        h, w = im.shape[:2]
        out.append(im[(h - 32) // 2:(h - 32) // 2 + 32, (w - 32) // 2:(w - 32) // 2 + 32])
    return np.stack(out)


def upsampler_attribution(n: int = 200) -> tuple[list[str], dict[str, dict[str, float]]]:
    """Which up-sampler made this sample? Leave-one-loss-out: one-vs-rest logistic regressions
    (fakescope.fitting) on the log spectra of the other three losses' generators (n samples each, seed 1),
    argmax; tested on the held-out loss's four generators (n samples each, seed 2), clean and laundered."""
    from fakescope.fitting import fit_logistic
    from fakescope.generators import create_generator, list_generators
    from fakescope.generators.models import LOSSES, UPSAMPLERS

    have = set(list_generators())
    losses = [lo for lo in LOSSES if all(f"{lo}-{u}" in have for u in UPSAMPLERS)]
    samples = {(lo, u, s): create_generator(f"{lo}-{u}").sample(n, seed=s)
               for lo in losses for u in UPSAMPLERS for s in (1, 2)}
    res: dict[str, dict[str, float]] = {}
    for held in losses:
        xtr = np.concatenate([spectrum_features(samples[(lo, u, 1)]) for lo in losses if lo != held
                              for u in UPSAMPLERS])
        ytr = np.concatenate([np.full(n, k) for lo in losses if lo != held for k in range(len(UPSAMPLERS))])
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        models = [fit_logistic((xtr - mu) / sd, (ytr == k).astype(float), l2=1e-3) for k in range(len(UPSAMPLERS))]
        res[held] = {}
        for cond, chain in LAUNDERING.items():
            hits = 0
            for k, u in enumerate(UPSAMPLERS):
                x = (spectrum_features(launder(samples[(held, u, 2)], chain)) - mu) / sd
                pred = np.argmax(np.stack([x @ w + b for w, b in models], axis=1), axis=1)
                hits += int((pred == k).sum())
            res[held][cond] = hits / (n * len(UPSAMPLERS))
    return losses, res


def main() -> int:
    from fakescope.generators import GENERATORS_DIR, create_generator
    from fakescope.training.data import cifake_records, load_rgb, select

    zoo = json.loads((GENERATORS_DIR / "zoo.json").read_text())
    reals = np.stack([load_rgb(r.path) for r in select(cifake_records(), split="test", label=0)[:256]])
    real_ny = nyquist_share(reals.astype(np.float64).mean(axis=3))
    L = ["# The generator zoo (32 px, trained on CPU)", "",
         "Made by `fakescope build generators` (`fakescope/build/generators.py`): each generator trained from its "
         f"own seed on the {zoo['recipe'].get('width')}-width architecture (`fakescope/generators/models.py`) on "
         "CIFAKE's 2,000 real train images, batch "
         f"{zoo['recipe']['batch']}, a fixed number of generator steps per model (the table's) on one CPU thread: the "
         "full grid of 4 losses x 4 up-samplers. The first seven (DCGAN with each up-sampler, the other losses with "
         "the transposed convolution) got the counts a first run capped at 150 s of wall time reached on this shared, "
         "heavily loaded 2-core machine, now fixed in the recipe so that every machine builds the same weights; the "
         "other nine, appended after them in the recipe (so the first seven keep their seeds, `seed + index`), got their "
         "loss's transposed-conv count x (their up-sampler's DCGAN count / 364), the same relative cost per "
         "up-sampler. Few steps, so these are early-training GANs with visible up-sampling artefacts, useful as "
         "trace carriers, not as realistic images. A rebuild reuses a model whose recipe entry, seed, training "
         "images and code are unchanged (its card's `train_key`); the train seconds are those of the run that "
         "trained it, wall time on this shared 2-core machine under heavy load (two models at a time for the "
         "last twelve): not a speed measure.",
         "", f"Quality: {zoo['features']}, {zoo['eval_reals']}, {zoo['recipe']['n_eval']} samples per generator "
         "(seed 12345). **These FID/KID values are not comparable with Inception-FID numbers in papers.** "
         "Precision/recall: Kynkäänniemi et al. 2019, k=3.", "",
         "Nyquist share: fraction of the spectral energy (grey level, mean over 64 samples) on the Nyquist row and "
         f"column, the checkerboard a transposed convolution or pixel shuffle leaves; real test images: {real_ny:.4f}.",
         "", "| generator | loss | up-sampler | steps | train s | params | file KB | FID (Lite0) | KID x1000 | precision | "
         "recall | Nyquist share |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    grid: dict[tuple[str, str], tuple[float, float]] = {}
    for name, m in zoo["models"].items():
        loss, up = name.split("-", 1) if not name.startswith("wgan-gp") else ("wgan-gp", name[len("wgan-gp-"):])
        s = create_generator(name).sample(64, seed=3).astype(np.float64).mean(axis=3)
        q = m["metrics"]
        grid[(loss, up)] = (q["fid_lite0"], nyquist_share(s))
        L.append(f"| {name} | {loss} | {up} | {m['train']['steps_done']} | {m['train']['seconds']} | {m['parameters']} | "
                 f"{m['bytes'] // 1024} | {q['fid_lite0']} | {q['kid_x1000']} ± {q['kid_x1000_std']} | {q['precision']} | "
                 f"{q['recall']} | {nyquist_share(s):.4f} |")
    f = zoo.get("real_vs_real_floor")
    if f:
        L += ["", f"Floor: two disjoint halves of the test reals ({f['n_real']} vs {f['n_fake']}): FID {f['fid_lite0']}, "
              f"KID x1000 {f['kid_x1000']}, precision {f['precision']}, recall {f['recall']}."]
    from fakescope.generators.models import LOSSES, UPSAMPLERS

    if all((lo, u) in grid for lo in LOSSES for u in UPSAMPLERS):
        L += ["", "The grid: FID (Lite0) / Nyquist share, loss x up-sampler.", "",
              "| loss | " + " | ".join(UPSAMPLERS) + " |", "|---|" + "---|" * len(UPSAMPLERS)]
        L += [f"| {lo} | " + " | ".join(f"{grid[(lo, u)][0]:.1f} / {grid[(lo, u)][1]:.4f}" for u in UPSAMPLERS) + " |"
              for lo in LOSSES]
    losses, att = upsampler_attribution()
    if len(losses) >= 2:
        conds = list(LAUNDERING)
        L += ["", "## Which up-sampler made this sample? (leave-one-loss-out)", "",
              "A 4-way classifier of the up-sampler (one-vs-rest logistic regressions from `fakescope.fitting` on the "
              "log power spectrum of the grey levels, 32 x 17 rfft2 bins, standardised) trained on 200 samples "
              "(seed 1) of each generator of three losses and tested on 200 samples (seed 2) of each of the held-out "
              "loss's four generators: the up-sampling trace must carry over to a loss the classifier never saw. "
              "Trained on clean samples only; laundered test copies through the perturbation registry (the upscaled "
              "copy cropped back to its central 32 px). Accuracy, chance 0.25.", "",
              "| held-out loss | " + " | ".join(conds) + " |", "|---|" + "---|" * len(conds)]
        for held in losses:
            L.append(f"| {held} | " + " | ".join(f"{att[held][c]:.3f}" for c in conds) + " |")
        L.append("| mean (worst) | " + " | ".join(
            f"{np.mean([att[h][c] for h in losses]):.3f} ({min(att[h][c] for h in losses):.3f})" for c in conds) + " |")
    L += ["", "Use: `fakescope generate dcgan-transposed --n 100 --out gen/ --seed 0` writes PNGs and `manifest.csv` "
          "(generator, loss, up-sampler, seed, index, weights sha256); the same seed writes the same bytes."]
    Path("docs/benchmarks/generators.md").write_text("\n".join(L) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
