"""End-to-end recipe of the shipped ``npr`` and ``spectral`` weights (used by bench/train_defaults.py).

Stages, each seeded from one :class:`numpy.random.SeedSequence`:

1. splits (:mod:`.data`);
2. four auto-encoders (nearest, transposed-conv, bilinear and pixel-shuffle decoders) trained
   on train-split real photos; reconstructions of photos and modern reals in every split
   (:mod:`.autoencoder`);
3. the NPR network (:func:`.loops.train_npr`), exported to ONNX and checked against torch;
4. the spectral classifier (:func:`.loops.fit_spectral`), saved as plain arrays;
5. raw scores of both shipped detectors on the calibration split (original files and a
   JPEG-q90 re-encoded copy of each) → ``weights/calibration.json`` and Platt parameters
   in each card.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..detectors.base import WEIGHTS_DIR, Detector, DetectorCard, sha256_file
from ..regimes import HELDOUT_PREFIX
from .augment import jpeg
from .autoencoder import make_ae_fakes, train_autoencoder
from .data import SPLITS_DOC, HELD_OUT_GENERATORS, Record, all_records, load_rgb
from .evaluate import fit_platt, fit_stacking
from .export import export_onnx, onnx_max_abs_diff
from .loops import NPRConfig, SpectralConfig, fit_spectral, load_train_data, spectral_training_set, train_npr
from .models import HELDOUT_UPSAMPLERS, count_parameters

__all__ = ["Recipe", "QUICK", "FULL", "build_ae_records", "build_heldout_records", "heldout_records",
           "train_and_ship", "score_records", "eval_images", "CALIBRATION_SPLIT_DOC"]

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
    ae_time_limit_s: float = 180.0
    ae_max_side: int = 768
    ae_variants: tuple[str, ...] = ("nearest", "transposed", "bilinear", "pixelshuffle")
    npr: NPRConfig = NPRConfig()
    spectral: SpectralConfig = SpectralConfig()

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "ae_steps": self.ae_steps, "ae_time_limit_s": self.ae_time_limit_s,
                "ae_max_side": self.ae_max_side, "ae_variants": list(self.ae_variants), "npr": self.npr.to_dict(), "spectral": self.spectral.to_dict()}


_NPR = NPRConfig(width=32, image_weight=1.0, norm="none", lr=1e-3, steps=4000,
                 cifake_crop_sizes=(24, 28, 32, 32), p_blur_real=0.3, p_blur_fake=0.1)
_SPECTRAL = SpectralConfig(p_blur_real=0.3, p_blur_fake=0.1)
FULL = Recipe(npr=_NPR, spectral=_SPECTRAL)
QUICK = Recipe(ae_steps=300, ae_time_limit_s=60.0, ae_variants=("nearest", "transposed"), npr=replace(_NPR, steps=600),
               spectral=replace(_SPECTRAL, views_per_image=2, max_iter=200))


def build_ae_records(records: Sequence[Record], recipe: Recipe, work: Path, *, rng: np.random.Generator,
                     log: Log) -> tuple[list[Record], dict[str, Any]]:
    """Train both auto-encoders on train-split real photos and reconstruct photos + modern reals."""
    train_src = [r for r in records if r.split == "train" and r.label == 0 and r.source in ("photos", "modern")]
    imgs = [load_rgb(r.path) for r in train_src]
    models = {}
    for variant in recipe.ae_variants:
        t0 = time.perf_counter()
        models[f"ae-{variant}"] = train_autoencoder(imgs, upsample=variant, rng=rng, steps=recipe.ae_steps,
                                                    time_limit_s=recipe.ae_time_limit_s, log=log)
        log(f"ae-{variant}: trained in {time.perf_counter() - t0:.0f}s")
    sources = [r for r in records if r.label == 0 and r.source in ("photos", "modern")]
    ae_recs, psnr = make_ae_fakes(sources, models, work / "ae", max_side=recipe.ae_max_side, log=log)
    log(f"ae reconstructions: {len(ae_recs)}, mean PSNR {psnr}")
    return ae_recs, {"psnr_db": psnr, "train_images": len(train_src)}


def build_heldout_records(records: Sequence[Record], work: Path, *, rng: np.random.Generator, log: Log,
                          variants: Sequence[str] = HELDOUT_UPSAMPLERS, steps: int = 1000,
                          time_limit_s: float = 180.0, max_side: int = 768) -> tuple[list[Record], dict[str, Any]]:
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
        models[f"ae-{variant}"] = train_autoencoder(imgs, upsample=variant, rng=rng, steps=steps,
                                                    time_limit_s=time_limit_s, log=log)
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


def score_records(detectors: dict[str, Detector], records: Sequence[Record], *, jpeg90: bool = False,
                  chunk: int = 64) -> dict[str, np.ndarray]:
    """Raw scores of every detector on every record (decoded once per chunk)."""
    out: dict[str, list[float]] = {k: [] for k in detectors}
    for i in range(0, len(records), chunk):
        imgs = eval_images(records[i : i + chunk], jpeg90=jpeg90)
        for k, det in detectors.items():
            out[k].extend(det.raw_scores(imgs).tolist())
    return {k: np.asarray(v) for k, v in out.items()}


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


def train_and_ship(recipe: Recipe, *, work: Path, data_root: str | None = None, log: Log = print) -> dict[str, Any]:
    """Run every stage and write ``npr.onnx``/``npr.json``, ``spectral.npz``/``spectral.json`` and
    ``calibration.json`` into the package's ``weights/``.  Returns a report dict (timings, sizes)."""
    from ..detectors.npr import NPRDetector
    from ..detectors.spectral import SpectralDetector

    torch.set_num_threads(min(2, torch.get_num_threads()))
    t_start = time.perf_counter()
    seeds = np.random.SeedSequence(recipe.seed).spawn(4)
    rng_ae, rng_npr, rng_spec, _ = (np.random.default_rng(s) for s in seeds)
    weights_dir = WEIGHTS_DIR
    work.mkdir(parents=True, exist_ok=True)
    weights_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"recipe": recipe.to_dict(), "timings_s": {}}

    records = all_records(data_root)
    t = time.perf_counter()
    ae_recs, ae_info = build_ae_records(records, recipe, work, rng=rng_ae, log=log)
    report["ae"] = ae_info
    report["timings_s"]["autoencoders"] = time.perf_counter() - t
    records = records + ae_recs
    (work / "records.json").write_text(json.dumps([r.__dict__ for r in records]))

    train = [r for r in records if r.split == "train"]
    data = load_train_data(train, log=log)

    # --- npr
    t = time.perf_counter()
    model = train_npr(data, recipe.npr, rng=rng_npr, log=log)
    report["timings_s"]["npr_train"] = time.perf_counter() - t
    onnx_path = weights_dir / "npr.onnx"
    blob = export_onnx(model, onnx_path, example_size=recipe.npr.tile)
    probe = [np.random.default_rng(0).uniform(0, 255, (n, 3, s, s)).astype(np.float32)
             for n, s in ((8, recipe.npr.tile), (1, 32), (2, 64))]
    max_diff = onnx_max_abs_diff(model, blob, probe)
    log(f"npr: ONNX vs torch max |diff| {max_diff:.2e}, {len(blob) / 1e6:.2f} MB")
    npr_card = _npr_card(recipe, sha256_file(onnx_path), count_parameters(model), max_diff, data.summary())
    npr_card.save(weights_dir / "npr.json")

    # --- spectral
    t = time.perf_counter()
    X, y, w = spectral_training_set(data, recipe.spectral, rng=rng_spec, log=log)
    mlp = fit_spectral(X, y, w, recipe.spectral, rng=rng_spec)
    report["timings_s"]["spectral_train"] = time.perf_counter() - t
    spec_path = weights_dir / "spectral.npz"
    with open(spec_path, "wb") as f:
        np.savez(f, **mlp.to_arrays())
    n_params = int(sum(a.size for k, a in mlp.to_arrays().items() if k[0] in "wb"))
    spec_card = _spectral_card(recipe, sha256_file(spec_path), n_params, len(y))
    spec_card.save(weights_dir / "spectral.json")

    # --- calibration split: raw scores of the shipped (ONNX / numpy) detectors
    t = time.perf_counter()
    dets: dict[str, Detector] = {"npr": NPRDetector(npr_card), "spectral": SpectralDetector(spec_card)}
    cal = [r for r in records if r.split == "calibration"]
    labels, groups, variants = [], [], []
    scores: dict[str, list[float]] = {k: [] for k in dets}
    for variant, j90 in (("original", False), ("jpeg90", True)):
        s = score_records(dets, cal, jpeg90=j90)
        for k in dets:
            scores[k] += s[k].tolist()
        labels += [r.label for r in cal]
        groups += [_cal_group(r) for r in cal]
        variants += [variant] * len(cal)
    report["timings_s"]["calibration_scores"] = time.perf_counter() - t
    platt = {k: fit_platt(scores[k], labels, groups=groups) for k in dets}
    stack = fit_stacking(np.c_[scores["npr"], scores["spectral"]], labels, groups=groups)
    stack["detectors"] = ["npr", "spectral"]
    calib = {"split": CALIBRATION_SPLIT_DOC, "labels": labels, "groups": groups, "variants": variants,
             "scores": {k: [round(float(v), 6) for v in scores[k]] for k in dets},
             "stacking": stack}
    (weights_dir / "calibration.json").write_text(json.dumps(calib) + "\n")
    for name, card in (("npr", npr_card), ("spectral", spec_card)):
        replace(card, calibration=platt[name]).save(weights_dir / f"{name}.json")
    report["platt"] = platt
    report["stacking"] = stack
    report["timings_s"]["total"] = time.perf_counter() - t_start
    log(f"done in {report['timings_s']['total']:.0f}s")
    return report


def _cal_group(r: Record) -> str:
    if r.source == "modern":
        return "modern:real" if r.label == 0 else r.group
    if r.source == "heldout":
        return r.group  # "heldout:ae-<decoder>": one group per decoder
    return r.source  # "cifake", "photos", "ae"
