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
         f"{zoo['recipe']['batch']}, a fixed number of generator steps per model (the table's; the counts a first run "
         "capped at 150 s of wall time reached on this shared, heavily loaded 2-core machine, now fixed in the recipe "
         "so that every machine builds the same weights) on one CPU thread: few steps, so these are early-training "
         "GANs with visible up-sampling artefacts, useful as trace carriers, not as realistic images.",
         "", f"Quality: {zoo['features']}, {zoo['eval_reals']}, {zoo['recipe']['n_eval']} samples per generator "
         "(seed 12345). **These FID/KID values are not comparable with Inception-FID numbers in papers.** "
         "Precision/recall: Kynkäänniemi et al. 2019, k=3.", "",
         "Nyquist share: fraction of the spectral energy (grey level, mean over 64 samples) on the Nyquist row and "
         f"column, the checkerboard a transposed convolution or pixel shuffle leaves; real test images: {real_ny:.4f}.",
         "", "| generator | loss | up-sampler | steps | train s | params | file KB | FID (Lite0) | KID x1000 | precision | "
         "recall | Nyquist share |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in zoo["models"].items():
        loss, up = name.split("-", 1) if not name.startswith("wgan-gp") else ("wgan-gp", name[len("wgan-gp-"):])
        s = create_generator(name).sample(64, seed=3).astype(np.float64).mean(axis=3)
        q = m["metrics"]
        L.append(f"| {name} | {loss} | {up} | {m['train']['steps_done']} | {m['train']['seconds']} | {m['parameters']} | "
                 f"{m['bytes'] // 1024} | {q['fid_lite0']} | {q['kid_x1000']} ± {q['kid_x1000_std']} | {q['precision']} | "
                 f"{q['recall']} | {nyquist_share(s):.4f} |")
    f = zoo.get("real_vs_real_floor")
    if f:
        L += ["", f"Floor: two disjoint halves of the test reals ({f['n_real']} vs {f['n_fake']}): FID {f['fid_lite0']}, "
              f"KID x1000 {f['kid_x1000']}, precision {f['precision']}, recall {f['recall']}."]
    L += ["", "Use: `fakescope generate dcgan-transposed --n 100 --out gen/ --seed 0` writes PNGs and `manifest.csv` "
          "(generator, loss, up-sampler, seed, index, weights sha256); the same seed writes the same bytes."]
    Path("docs/benchmarks/generators.md").write_text("\n".join(L) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
