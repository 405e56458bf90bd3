"""Pieces of the ``npr`` and ``spectral`` build steps (:mod:`fakescope.build.npr`, :mod:`fakescope.build.spectral`):
their :class:`Recipe` and cards, the held-out-decoder reconstructions (bench/heldout_decoders.py),
and the scoring helpers of the older calibration code (:mod:`.calibrate`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..detectors.base import DetectorCard
from ..regimes import HELDOUT_PREFIX
from .augment import jpeg
from .autoencoder import make_ae_fakes, train_autoencoder
from .data import SPLITS_DOC, HELD_OUT_GENERATORS, Record, load_rgb
from .loops import NPRConfig, SpectralConfig
from .models import HELDOUT_UPSAMPLERS

__all__ = ["Recipe", "build_heldout_records", "heldout_records", "eval_images",
           "CALIBRATION_SPLIT_DOC"]

Log = Callable[[str], None]

CALIBRATION_SPLIT_DOC = (
    "calibration split: CIFAKE cifake/train indices 2000..2499 per class; modern set calibration part "
    "(sha256(source_path) rank 60-80% within each generator, never-seen generators excluded); photos "
    "calibration part (file-hash rank 60-80%); auto-encoder reconstructions of those photos and modern "
    "reals. Every image appears twice: as stored ('original') and re-encoded as JPEG quality 90 4:2:0 "
    "('jpeg90'); see 'variants'."
)


@dataclass(frozen=True)
class Recipe:
    """Every knob of a run (written into the cards)."""

    seed: int = 20240601
    ae_steps: int = 1000
    ae_max_side: int = 768
    ae_variants: tuple[str, ...] = ("nearest", "transposed", "bilinear", "pixelshuffle")
    npr: NPRConfig = NPRConfig()
    spectral: SpectralConfig = SpectralConfig()

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "ae_steps": self.ae_steps,
                "ae_max_side": self.ae_max_side, "ae_variants": list(self.ae_variants), "npr": self.npr.to_dict(), "spectral": self.spectral.to_dict()}


def build_heldout_records(records: Sequence[Record], work: Path, *, rng: np.random.Generator, log: Log,
                          variants: Sequence[str] = HELDOUT_UPSAMPLERS, steps: int = 1000,
                          max_side: int = 768) -> tuple[list[Record], dict[str, Any]]:
    """Fakes from decoders no detector was trained on: stand-ins for new generators.

    One auto-encoder per held-out decoder (:data:`.models.HELDOUT_UPSAMPLERS`), trained like
    the training ones (train-split real photos and modern reals, same schedule), then
    reconstructions of the *calibration and test* sources only (nothing in the train split,
    so no recipe can train on them), group ``"heldout:ae-<decoder>"``, source ``"heldout"``.
    Written to ``work/records.json``.
    """
    train_src = [r for r in records if r.split == "train" and r.label == 0 and r.source in ("photos", "modern")]
    imgs = [load_rgb(r.path) for r in train_src]
    models = {}
    for variant in variants:
        t0 = time.perf_counter()
        models[f"ae-{variant}"] = train_autoencoder(imgs, upsample=variant, rng=rng, steps=steps, log=log)
        log(f"ae-{variant}: trained in {time.perf_counter() - t0:.0f}s")
    sources = [r for r in records if r.label == 0 and r.source in ("photos", "modern") and r.split != "train"]
    recs, psnr = make_ae_fakes(sources, models, Path(work) / "ae", max_side=max_side, log=log, source="heldout",
                               group=HELDOUT_PREFIX + "{model}")
    Path(work).mkdir(parents=True, exist_ok=True)
    (Path(work) / "records.json").write_text(json.dumps([r.__dict__ for r in recs], indent=1), encoding="utf-8")
    log(f"held-out decoder reconstructions: {len(recs)}, mean PSNR {psnr}")
    return recs, {"psnr_db": psnr, "train_images": len(train_src), "variants": list(variants)}


def heldout_records(work: str | Path) -> list[Record]:
    """The records :func:`build_heldout_records` wrote (empty when it has not run)."""
    f = Path(work) / "records.json"
    if not f.is_file():
        return []
    return [Record(**r) for r in json.loads(f.read_text(encoding="utf-8")) if r["source"] == "heldout"]


def eval_images(records: Sequence[Record], *, jpeg90: bool) -> list[np.ndarray]:
    """Decode records (optionally re-encoded as JPEG q90, 4:2:0) for evaluation."""
    out = []
    for r in records:
        img = load_rgb(r.path)
        out.append(jpeg(img, 90) if jpeg90 else img)
    return out


def _npr_card(recipe: Recipe, sha: str, params: int, max_diff: float, data_summary: dict[str, Any]) -> DetectorCard:
    c = recipe.npr
    inp = ("pure NPR residual: x/255 - nearest_up((x/255)[::2, ::2]), times 4, 3 channels"
           if c.image_weight <= 0 else
           f"6 channels: NPR residual (x/255 - nearest_up((x/255)[::2, ::2])) times 4, plus the centred image "
           f"(x/255 - 0.5) times {c.image_weight} (low-weight content channels, added because the residual "
           f"alone under-fits CIFAKE's 32x32 images)")
    arch = (f"NPRNet: six 3x3/4x4 conv layers (widths {c.width}-{8 * c.width}, four stride-2), "
            f"{'batch-norm folded into the convs' if c.norm == 'batch' else 'no normalisation'}, ReLU, "
            "global average pooling, linear head (fakescope.training.models.NPRNet)")
    return DetectorCard(
        name="npr", family="npr",
        summary="NPR up-sampling traces (small CNN)",
        paper="Tan et al., Rethinking the Up-Sampling Operations in CNN-based Generative Network for "
              "Generalizable Deepfake Detection, CVPR 2024",
        weights="npr.onnx", sha256=sha,
        input_policy=f"native-resolution {c.tile}x{c.tile} tiles, up to 8, 8-aligned grid (base.grid_tiles); "
                     f"images smaller than {c.tile}px give one tile cropped to a multiple of 8 (never resized); "
                     "when the grid gives at most 4 tiles their horizontal mirrors are added; "
                     "score = mean of tile logits",
        preprocessing=f"ONNX input 'image' (n, 3, h, w) float32 RGB 0..255, h and w even; inside the graph: {inp}. "
                      f"Network: {arch}.",
        training_data=(f"CIFAKE train 2000+2000 (32x32 JPEG, whole images); modern-set train part (fakes of "
                       f"{len({g for g in data_summary['fake'] if g.startswith('modern:')})} generators, real "
                       f"photos), Kodak/Wikipedia/Debian photos train part, and auto-encoder reconstructions of "
                       f"train-split photos and modern reals (aligned fakes). Never-seen generators "
                       f"{list(HELD_OUT_GENERATORS)} excluded. Format alignment: both classes get the same random "
                       f"views: native {c.tile}px crops (8-aligned with p={c.p_aligned}), horizontal flip "
                       f"p={c.p_flip}, lossless sources pre-encoded JPEG with p={c.p_pre_jpeg}, then JPEG "
                       f"q~U({c.q_min},{c.q_max}) with p={c.p_jpeg} (4:2:0 or 4:4:4), else lossless; no resizing. "
                       f"Blur alignment: Gaussian blur sigma~U(0.4,1.2) on real crops with p={c.p_blur_real} and "
                       f"on fake crops with p={c.p_blur_fake} (the auto-encoder fakes are softer than photos, so "
                       f"sharpness must not decide). CIFAKE: whole images or even-offset crops of "
                       f"{sorted(set(c.cifake_crop_sizes)) or [32]} px, flips, the same JPEG re-encoding."),
        split=SPLITS_DOC,
        parameters=params,
        extra={"tile": c.tile, "max_tiles": 8, "mirror": True, "recipe": recipe.to_dict(), "onnx_max_abs_diff_vs_torch": max_diff,
               "train_pools": data_summary, "opset": 17},
    )


def _spectral_card(recipe: Recipe, sha: str, n_params: int, n_rows: int) -> DetectorCard:
    from ..detectors.spectral import FEATURE_NAMES, MAX_TILES, TILE

    c = recipe.spectral
    return DetectorCard(
        name="spectral", family="spectral",
        summary="Residual-spectrum up-sampling peaks (numpy MLP)",
        paper="Durall et al., Watch your Up-Convolution, CVPR 2020; Frank et al., Leveraging Frequency Analysis "
              "for Deep Fake Image Recognition, ICML 2020",
        weights="spectral.npz", sha256=sha,
        input_policy=f"native-resolution {TILE}x{TILE} tiles, up to {MAX_TILES}, 8-aligned grid; smaller images "
                     "give one tile cropped to a multiple of 8 (never resized); features averaged over tiles",
        preprocessing=("luma = 0.299R+0.587G+0.114B; residual = luma - box3x3(luma) (reflect borders); Hann "
                       "window; log10 power spectrum; 12 radial bins to Nyquist + corner bin (centred), mean "
                       "level, periodic-peak contrast (peak max vs ring median) at periods 2/4/8 on-axis and "
                       "diagonal; colour: correlations of the R/G/B horizontal first differences and log ratio of "
                       "their chroma to grey energy; log2 tile side; standardised; MLP hidden "
                       f"{list(c.hidden)} ReLU. Features: {list(FEATURE_NAMES)}"),
        training_data=(f"{n_rows} format-aligned views: CIFAKE train images once each (random JPEG re-encoding), "
                       f"full-resolution train pools (as npr) {c.views_per_image} native crops of up to "
                       f"{c.view_size}px per image with the same encoding distribution for both classes and the "
                       f"same blur alignment as npr (real p={c.p_blur_real}, fake p={c.p_blur_fake}); the "
                       "CIFAKE and full-resolution domains weigh the same."),
        split=SPLITS_DOC,
        parameters=n_params,
        extra={"tile": TILE, "max_tiles": MAX_TILES, "recipe": recipe.to_dict(),
               "caveat": "Weak alone: spectral discrepancies can be removed by changing a generator's last "
                         "up-sampling layer (Chandrasegaran et al., CVPR 2021, 'A Closer Look at Fourier Spectrum "
                         "Discrepancies for CNN-generated Images Detection'; Dzanic et al., NeurIPS 2020, 'Fourier "
                         "spectrum discrepancies in deep network generated images'). Fuse it, do not use it alone."},
    )


def _cal_group(r: Record) -> str:
    if r.source == "modern":
        return "modern:real" if r.label == 0 else r.group
    if r.source == "heldout":
        return r.group  # "heldout:ae-<decoder>": one group per decoder
    return r.source  # "cifake", "photos", "ae"
