"""The ``zed`` build step: train the lossless-coding model of :mod:`fakescope.detectors.zed` on real photos only.

Recipe (:data:`RECIPE`, recorded in the card):

* images: the frozen split's ``train`` *real* rows outside CIFAKE (the photo collections and the
  modern set's real images), decoded by the scan's decoder; no fake image is read;
* invariance: every photo as stored and through the four training laundering chains the ``rine``
  step uses too (:mod:`fakescope.perturbations.laundering`: design-tool export, web copy, lossy WebP,
  screenshot; parameters drawn per image from this recipe's seed), so that resizing and compression alone are not "surprising";
* crops: ``crops_per_view`` random ``crop``-px crops of every view (positions from the seed), random
  flips while training;
* model: :class:`ZedNet` — per level of a three-level pyramid (each level the rounded 2×2 mean of
  the one above) a small CNN predicting a discretised logistic per sub-pixel from the nearest
  up-sampled parent, in two checkerboard passes; loss: the mean NLL in bits per sub-pixel; Adam,
  cosine learning rate, a fixed number of steps and seed, one thread;
* score: ZED's two-sided ``|Δ01 - m| / s`` with ``m``, ``s`` the mean and standard deviation of
  ``Δ01`` over the training photos' views (every chain), fixed before any fake is scored;
* Platt parameters of the card: a 1-d logistic fit of the raw scores on the calibration split
  (outside CIFAKE, as stored) — the only step that reads a fake.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import time
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["RECIPE", "ZedNet", "torch_parts", "entropy_table", "onnx_parity", "real_train_records", "crop_bank", "train_zed", "export_zed", "build_zed", "ZED_JSON"]

Log = Callable[[str], None]
ZED_JSON = "zed.json"

RECIPE: dict[str, Any] = {
    "levels": 3,
    "width": 16,
    "depth": 2,
    "crop": 48,
    "crops_per_view": 12,
    "batch": 16,
    "steps": 1500,
    "lr": 2e-3,
    "seed": 20261207,
    "chains": "as stored + the rine step's four training chains (design, web, webp, screenshot)",
    "statistic": "abs_delta01",
    "max_crops": 4,
}

_LOG2 = float(np.log(2.0))


def _torch():
    import torch

    return torch


@functools.lru_cache(maxsize=None)
def torch_parts() -> Any:
    """The torch pieces (defined on first use, so the module imports without torch): ``ZedNet``,
    ``log_prob(x, mean, log_scale)`` and ``entropy(mean, log_scale)`` (nats per sub-pixel)."""
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional

    class LevelNet(nn.Module):
        """One level's predictor: (parent up-sampled, visible pixels, mask) → mean and log-scale per sub-pixel."""

        def __init__(self, width: int, depth: int) -> None:
            super().__init__()
            self.inp = nn.Conv2d(7, width, 3, padding=1)
            self.body = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1) for _ in range(depth)])
            self.out = nn.Conv2d(width, 6, 1)

        def forward(self, up, vis, mask):
            h = F.leaky_relu(self.inp(torch.cat([(up - 127.5) / 64.0, (vis - 127.5 * mask) / 64.0, mask], 1)), 0.1)
            for conv in self.body:
                h = h + F.leaky_relu(conv(h), 0.1)
            o = self.out(h)
            mean = up + 32.0 * o[:, :3]
            log_scale = torch.clamp(o[:, 3:], -4.0, 5.0)
            return mean, log_scale

    def log_prob(x, mean, log_scale):
        """log P(x) of integer values under discretised logistics on the integer line (the mass of the
        unit bin around ``x``; the density where that mass underflows), nats."""
        c = x - mean
        inv = torch.exp(-log_scale)
        plus, minus = inv * (c + 0.5), inv * (c - 0.5)
        delta = torch.sigmoid(plus) - torch.sigmoid(minus)
        mid = inv * c
        log_pdf_mid = mid - log_scale - 2.0 * F.softplus(mid)
        return torch.where(delta > 1e-5, torch.log(torch.clamp(delta, min=1e-12)), log_pdf_mid)

    table = torch.tensor(entropy_table(), dtype=torch.float32).reshape(-1)

    def entropy(mean, log_scale):
        """Entropy (nats) of each sub-pixel's discretised logistic: :func:`entropy_table` (nearest entry
        by log-scale and the mean's fractional part) up to log-scale ``ENTROPY_LS_MAX``, the continuous
        logistic's ``log s + 2`` above it (where the two agree to 1e-4 nats)."""
        frac = mean - torch.floor(mean)
        i = torch.clamp(torch.round((log_scale - ENTROPY_LS_MIN) / ENTROPY_LS_STEP), 0, ENTROPY_ROWS - 1)
        j = torch.round(frac * ENTROPY_FRAC_STEPS)
        idx = (i * (ENTROPY_FRAC_STEPS + 1) + j).long()
        h = table[idx.reshape(-1)].reshape(mean.shape)
        return torch.where(log_scale > ENTROPY_LS_MAX, log_scale + 2.0, h)

    class ZedNet(nn.Module):
        """The multi-resolution coder: ``forward`` maps ``(n, 3, H, W)`` float 0..255 (H, W multiples of
        ``2**levels``) to ``(n, 2*levels)``: mean NLL and mean entropy (bits per sub-pixel) per level;
        :meth:`nll` is the training loss (bits per sub-pixel over all coded levels)."""

        def __init__(self, levels: int = 3, width: int = 16, depth: int = 2) -> None:
            super().__init__()
            self.levels = levels
            self.nets = nn.ModuleList([LevelNet(width, depth) for _ in range(levels)])

        def _predict(self, x):
            """Per level: (x_l, mean, log_scale) with the checkerboard passes merged."""
            xs = [torch.round(x)]
            for _ in range(self.levels):
                xs.append(torch.round(F.avg_pool2d(xs[-1], 2)))
            out = []
            for lev, net in enumerate(self.nets):
                xl, parent = xs[lev], xs[lev + 1]
                up = F.interpolate(parent, scale_factor=2.0, mode="nearest")
                ones = torch.ones_like(parent[:, :1])
                mask = F.pixel_shuffle(torch.cat([ones, ones * 0.0, ones * 0.0, ones], 1), 2)  # (i + j) even
                zero = mask * 0.0
                mean_a, ls_a = net(up, up * 0.0, zero)  # first half: from the parent alone
                mean_b, ls_b = net(up, xl * mask, mask)  # second half: the parent and the first half
                mean = mask * mean_a + (1.0 - mask) * mean_b
                ls = mask * ls_a + (1.0 - mask) * ls_b
                out.append((xl, mean, ls))
            return out

        def nll(self, x):
            tot = 0.0
            for xl, mean, ls in self._predict(x):
                tot = tot - log_prob(xl, mean, ls).mean()
            return tot / (self.levels * _LOG2)

        def forward(self, x):
            cols = []
            for xl, mean, ls in self._predict(x):
                cols.append((-log_prob(xl, mean, ls)).mean(dim=(1, 2, 3)) / _LOG2)
                cols.append(entropy(mean, ls).mean(dim=(1, 2, 3)) / _LOG2)
            return torch.stack(cols, 1)

    return types.SimpleNamespace(ZedNet=ZedNet, log_prob=log_prob, entropy=entropy)


def ZedNet(levels: int = 3, width: int = 16, depth: int = 2):
    """A new ``ZedNet`` (torch): the model the ONNX graph is exported from (its torch twin)."""
    return torch_parts().ZedNet(levels, width, depth)


ENTROPY_LS_MIN, ENTROPY_LS_MAX, ENTROPY_LS_STEP = -4.0, 2.5, 0.005
ENTROPY_ROWS = int(round((ENTROPY_LS_MAX - ENTROPY_LS_MIN) / ENTROPY_LS_STEP)) + 1
ENTROPY_FRAC_STEPS = 32


def entropy_table() -> np.ndarray:
    """Entropy (nats) of the discretised logistic on the integer line, ``(rows, 33)``: row ``i`` for
    log-scale ``ENTROPY_LS_MIN + i * ENTROPY_LS_STEP``, column ``j`` for a mean ``j / 32`` past an integer
    (float64, exact sums over +-400 values)."""
    ls = ENTROPY_LS_MIN + ENTROPY_LS_STEP * np.arange(ENTROPY_ROWS)
    frac = np.arange(ENTROPY_FRAC_STEPS + 1) / ENTROPY_FRAC_STEPS
    k = np.arange(-400, 401, dtype=np.float64)
    out = np.empty((len(ls), len(frac)))
    for j, f in enumerate(frac):
        z_hi = (k[None, :] + 0.5 - f) / np.exp(ls)[:, None]
        z_lo = (k[None, :] - 0.5 - f) / np.exp(ls)[:, None]
        with np.errstate(over="ignore"):
            p = 1.0 / (1.0 + np.exp(-z_hi)) - 1.0 / (1.0 + np.exp(-z_lo))
        p = np.clip(p, 1e-300, None)
        out[:, j] = -(p * np.log(p)).sum(1)
    return out


def _seed_for(seed: int, key: str) -> int:
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:12], 16)


def crop_bank(images: Sequence[tuple[str, np.ndarray]], *, crop: int, per_view: int, seed: int,
              launder: bool = True) -> np.ndarray:
    """``per_view`` random ``crop``-px crops of every image (``(key, rgb)``) as stored and, with
    ``launder``, through the training laundering chains (parameters from ``seed`` and the key):
    ``(N, crop, crop, 3)`` uint8.  Views smaller than ``crop`` are skipped."""
    from ..perturbations.laundering import training_chains

    out: list[np.ndarray] = []
    for key, image in images:
        chains = training_chains(key, seed) if launder else training_chains(key, seed)[:1]
        rng = np.random.default_rng(_seed_for(seed, "crops:" + key))
        for _, chain in chains:
            v = chain.apply(image)
            h, w = v.shape[:2]
            if h < crop or w < crop:
                continue
            ys = rng.integers(0, h - crop + 1, per_view)
            xs = rng.integers(0, w - crop + 1, per_view)
            out.extend(v[y : y + crop, x : x + crop] for y, x in zip(ys, xs))
    if not out:
        from ..errors import UsageError

        raise UsageError(f"no training view of at least {crop} px")
    return np.stack(out)


def train_zed(bank: np.ndarray, recipe: dict[str, Any], *, log: Log | None = None) -> tuple[Any, list[float]]:
    """Train :class:`ZedNet` on the crop bank for ``recipe['steps']`` steps (Adam, cosine learning rate,
    random flips, the recipe's seed); returns the network and the per-step losses (bits/sub-pixel)."""
    torch = _torch()
    torch.manual_seed(recipe["seed"])
    net = ZedNet(recipe["levels"], recipe["width"], recipe["depth"])
    opt = torch.optim.Adam(net.parameters(), lr=recipe["lr"])
    steps = int(recipe["steps"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))
    rng = np.random.default_rng(recipe["seed"])
    losses: list[float] = []
    net.train()
    for step in range(steps):
        idx = rng.integers(0, len(bank), recipe["batch"])
        b = bank[idx]
        if rng.random() < 0.5:
            b = b[:, :, ::-1]
        if rng.random() < 0.5:
            b = b[:, ::-1]
        x = torch.from_numpy(np.ascontiguousarray(b.transpose(0, 3, 1, 2)).astype(np.float32))
        loss = net.nll(x)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if log and (step + 1) % 100 == 0:
            log(f"zed: step {step + 1}/{steps}, {np.mean(losses[-100:]):.3f} bits/sub-pixel")
    net.eval()
    return net, losses


def export_zed(net: Any, path: str | os.PathLike[str]) -> float:
    """Write the ONNX graph (``image`` ``(n, 3, H, W)`` float32 0..255 → ``stats`` ``(n, 6)``, H and W
    dynamic) and return its largest difference from the torch twin on fixed random and smooth crops."""
    torch = _torch()
    from ..backbones import OPSET

    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 64, 64),), buf, input_names=["image"], output_names=["stats"],
                          dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "stats": {0: "n"}},
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
    Path(path).write_bytes(buf.getvalue())
    return onnx_parity(net, path)


def onnx_parity(net: Any, path: str | os.PathLike[str]) -> float:
    """Largest absolute difference between the ONNX graph at ``path`` and the torch twin ``net``."""
    torch = _torch()
    from ..detectors.base import OnnxModel

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (2, 3, 64, 96)).astype(np.float32)
    yy, xx = np.mgrid[0:128, 0:128]
    smooth = np.stack([(yy + xx) % 256, (2 * yy) % 256, np.full_like(yy, 200)])[None].astype(np.float32)
    model = OnnxModel(path)
    worst = 0.0
    for x in (noise, smooth):
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy().astype(np.float64)
        got = model(x).astype(np.float64)
        worst = max(worst, float(np.max(np.abs(got - ref))))
    return worst


def _load_views(records: Sequence[Any]) -> list[tuple[str, np.ndarray]]:
    from ..io.decode import load

    return [(r.key, load(r.path).image) for r in records]


def real_train_records(root: str | os.PathLike[str] | None = None) -> list[Any]:
    """The train split's real rows outside CIFAKE: the only images the model learns from."""
    from ..training.data import all_records

    return [r for r in all_records(root) if r.split == "train" and r.source != "cifake" and r.label == 0]


def build_zed(root: str | os.PathLike[str] | None = None, *, jobs: int = 2, log: Log | None = None,
              inputs_sha256: str = "", out_dir: str | os.PathLike[str] | None = None,
              records: Sequence[Any] | None = None, calibration: Sequence[Any] | None = None,
              recipe: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, export and write ``zed.onnx`` and its card ``zed.json`` (into ``out_dir``, default the
    package's ``weights/``).  ``records`` (train reals), ``calibration`` and ``recipe`` (overrides of
    :data:`RECIPE`) let tests run it small."""
    torch = _torch()
    from ..benchmark.metrics import roc_auc
    from ..detectors.base import WEIGHTS_DIR, DetectorCard, OnnxModel, sha256_file
    from ..detectors.zed import statistic, zed_stats
    from ..errors import UsageError, WeightsError
    from ..fitting import fit_logistic
    from ..io.decode import load
    from ..io.splits import split_sha256
    from ..perturbations.laundering import training_chains
    from ..training.data import all_records

    t0 = time.time()
    rc = {**RECIPE, **(recipe or {})}
    torch.set_num_threads(1)
    out = Path(out_dir) if out_dir is not None else WEIGHTS_DIR
    recs = list(records) if records is not None else real_train_records(root)
    if any(r.label != 0 for r in recs):
        raise UsageError("zed trains on real images only")
    cal = list(calibration) if calibration is not None else \
        [r for r in all_records(root) if r.split == "calibration" and r.source != "cifake"]
    images = _load_views(recs)
    bank = crop_bank(images, crop=rc["crop"], per_view=rc["crops_per_view"], seed=rc["seed"])
    if log:
        log(f"zed: {len(recs)} real train images -> {len(bank)} crops of {rc['crop']} px")
    t1 = time.time()
    net, losses = train_zed(bank, rc, log=log)
    t_train = time.time() - t1
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "zed.onnx"
    parity = export_zed(net, onnx_path)
    if parity > 1e-3:
        raise WeightsError(f"zed.onnx differs from its torch twin by {parity:.2e} bits")
    model = OnnxModel(onnx_path)
    # the real photos' spread of the statistic: every training view, as the detector sees it
    train_stats = []
    for key, image in images:
        for _, chain in training_chains(key, rc["seed"]):
            v = chain.apply(image)
            if min(v.shape[:2]) >= 16:
                train_stats.append(zed_stats(model, v, max_crops=rc["max_crops"]))
    ts = np.stack(train_stats)
    d01 = (ts[:, 0] - ts[:, 1]) - (ts[:, 2] - ts[:, 3])
    d0 = ts[:, 0] - ts[:, 1]
    center, scale = float(np.mean(d01)), float(np.std(d01) + 1e-6)
    if rc["statistic"] == "abs_d0":
        center, scale = float(np.mean(d0)), float(np.std(d0) + 1e-6)
    cs = np.stack([zed_stats(model, load(r.path).image, max_crops=rc["max_crops"]) for r in cal])
    yc = np.array([r.label for r in cal], np.float64)
    raw_c = statistic(cs, rc["statistic"], center, scale)
    (a,), b = fit_logistic(raw_c[:, None], yc) if len(set(yc.tolist())) == 2 else ((1.0,), 0.0)
    n_params = int(sum(p.numel() for p in net.parameters()))
    card = DetectorCard(
        name="zed", family="zed",
        summary="Real-only coding-cost surprise: a small multi-resolution lossless-coding CNN trained on real photos; "
                "score |Δ01 - m| / s with D_l = NLL_l - entropy_l (ZED-style)",
        paper="Cozzolino, Poggi, Nießner & Verdoliva, Zero-Shot Detection of AI-Generated Images, ECCV 2024 (ZED "
              "codes with SReC; fakescope trains a much smaller three-level coder of its own)",
        weights="zed.onnx", sha256=sha256_file(onnx_path),
        input_policy=f"native resolution: up to {rc['max_crops']} crops of 128x128 (corners of a 2x2 grid where the "
                     "image is at least 256 px along that axis, else centred); a side under 128 px gives one crop "
                     "as large as the image, cut to a multiple of 8; never resized; statistics averaged over crops",
        preprocessing="RGB uint8 -> float32 0..255 (n, 3, H, W) -> the ONNX graph: rounded 2x2-mean pyramid, per "
                      "level discretised-logistic predictions (two checkerboard passes) -> NLL and entropy in bits "
                      "per sub-pixel for levels 0, 1, 2 -> D_l = NLL_l - H_l, Δ01 = D_0 - D_1 -> |Δ01 - m| / s",
        training_data=f"TRAIN split, real images only, outside CIFAKE: {len(recs)} images from "
                      f"{len(set(r.origin for r in recs))} sources, each as stored and through 4 laundering chains; "
                      f"{len(bank)} crops of {rc['crop']} px; {rc['steps']} steps x {rc['batch']} crops",
        split="the frozen split manifest fakescope/io/split.csv (sha256 " + split_sha256()[:16] + "…): train reals "
              "train the coder and fix m and s; calibration rows the Platt parameters; no other row is read",
        parameters=n_params,
        metrics={"final_nll_bits": float(np.mean(losses[-100:])), "first_nll_bits": float(np.mean(losses[:20])),
                 "train_real_views": int(len(ts)), "train_real_stats_mean": ts.mean(axis=0).round(5).tolist(),
                 "calibration_auc_stored": float(roc_auc(yc, raw_c)) if len(set(yc.tolist())) == 2 else None,
                 "n_calibration": int(len(cal)), "onnx_parity": parity, "train_seconds": round(t_train, 1),
                 "seconds": round(time.time() - t0, 1), "inputs_sha256": inputs_sha256},
        calibration={"method": "platt", "a": float(a), "b": float(b)},
        extra={"statistic": rc["statistic"], "center": center, "scale": scale, "max_crops": rc["max_crops"],
               "recipe": rc},
    )
    card.save(out / ZED_JSON)
    d = card.to_dict()
    d["inputs_sha256"] = inputs_sha256
    if log:
        log(f"wrote {out / ZED_JSON} (final NLL {d['metrics']['final_nll_bits']:.3f} bits/sub-pixel, calibration AUC "
            f"{d['metrics']['calibration_auc_stored']}, {d['metrics']['seconds']} s)")
    return d
