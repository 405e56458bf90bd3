"""The attack side's two small image-to-image networks, trained on real photos only.

``ae-real``
    GANprintR (Neves et al. 2020, "GANprintR: Improved Fakes and Evaluation of the State of the Art in
    Face Manipulation Detection"): an auto-encoder trained to reconstruct *real* images; passing a fake
    through it replaces the generator's high-frequency fingerprint with the auto-encoder's own
    reconstruction of real-photo statistics.  Stride-2 encoder to a 16×16×8 bottleneck (2,048 numbers
    for 3,072 pixel values), bilinear up-sampling decoder.
``dae``
    A denoising network used as a *purifier* (defence): DnCNN-style residual (Zhang et al. 2017), five
    3×3 convolutions without down-sampling that predict and subtract the noise; trained on real images
    with Gaussian noise (σ uniform in [0, 12]/255) added.  Adversarial perturbations are small
    high-frequency signals; the purifier removes what looks like noise to it.

Both are trained by ``fakescope build attack-models`` on CIFAKE's real train split (32 px; they are
fully convolutional and run on any size with sides divisible by 2) and shipped as float16
``weights/attacks/<name>.npz`` with cards.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import WeightsError

__all__ = ["AE_DIR", "build_ae", "train_image_model", "apply_autoencoder", "AE_RECIPE"]

AE_DIR = Path(__file__).resolve().parent.parent / "weights" / "attacks"
#: fixed step counts per model (the counts a first, time-capped run reached here), no time limit: the same
#: weights on every machine
AE_RECIPE: dict[str, Any] = {"seed": 20261208, "steps": {"ae-real": 594, "dae": 1025}, "batch": 32, "lr": 2e-3,
                             "time_limit_s": None, "noise_max": 12.0}


def build_ae(name: str) -> "Any":
    import torch
    from torch import nn

    if name == "ae-real":
        class AE(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.enc = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.SiLU(), nn.Conv2d(32, 64, 4, 2, 1),
                                         nn.SiLU(), nn.Conv2d(64, 8, 3, padding=1))
                self.dec = nn.Sequential(nn.Conv2d(8, 64, 3, padding=1), nn.SiLU(),
                                         nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                         nn.Conv2d(64, 32, 3, padding=1), nn.SiLU(), nn.Conv2d(32, 3, 3, padding=1))

            def forward(self, x: torch.Tensor) -> torch.Tensor:  # [0, 1] in and out
                return self.dec(self.enc(x - 0.5)) + 0.5

        return AE()
    if name == "dae":
        class DAE(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                layers: list[nn.Module] = [nn.Conv2d(3, 32, 3, padding=1), nn.ReLU()]
                for _ in range(3):
                    layers += [nn.Conv2d(32, 32, 3, padding=1), nn.ReLU()]
                layers += [nn.Conv2d(32, 3, 3, padding=1)]
                self.body = nn.Sequential(*layers)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x - self.body(x - 0.5)

        return DAE()
    raise WeightsError(f"unknown attack auto-encoder {name!r}; known: ae-real, dae")


def train_image_model(name: str, images: np.ndarray, *, recipe: dict[str, Any] | None = None,
                      log: Callable[[str], None] | None = None) -> tuple[Any, dict[str, Any]]:
    """Train ``ae-real`` (reconstruction) or ``dae`` (denoising) on ``(N, H, W, 3)`` uint8 real images."""
    import torch

    rec = {**AE_RECIPE, **(recipe or {})}
    torch.manual_seed(rec["seed"])
    rng = np.random.default_rng(rec["seed"])
    model = build_ae(name)
    opt = torch.optim.Adam(model.parameters(), lr=rec["lr"])
    x_all = torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    t0, step, last = time.perf_counter(), 0, float("nan")
    n_steps = int(rec["steps"][name] if isinstance(rec["steps"], dict) else rec["steps"])
    while step < n_steps and (rec["time_limit_s"] is None or time.perf_counter() - t0 < rec["time_limit_s"]):
        x = x_all[torch.from_numpy(rng.integers(0, len(x_all), rec["batch"]))]
        if rng.random() < 0.5:
            x = x.flip(-1)
        if name == "dae":
            sig = torch.from_numpy(rng.uniform(0, rec["noise_max"] / 255.0, (len(x), 1, 1, 1)).astype(np.float32))
            inp = x + sig * torch.from_numpy(rng.standard_normal(x.shape).astype(np.float32))
        else:
            inp = x
        loss = ((model(inp) - x) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        last = float(loss.detach())
        if log and step % 500 == 0:
            log(f"  {name}: step {step} mse {last:.5f}")
    return model.eval(), {"steps_done": step, "seconds": round(time.perf_counter() - t0, 1), "last_mse": last}


_CACHE: dict[str, Any] = {}


def load_ae(name: str, ae_dir: Path = AE_DIR) -> Any:
    import torch

    from ..detectors.base import sha256_file

    key = f"{ae_dir}/{name}"
    if key in _CACHE:
        return _CACHE[key]
    card_path, path = ae_dir / f"{name}.json", ae_dir / f"{name}.npz"
    if not card_path.exists() or not path.exists():
        raise WeightsError(f"no weights for {name!r} in {ae_dir} (fakescope build attack-models)")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    if sha256_file(path) != card["sha256"]:
        raise WeightsError(f"{path} does not match its card's sha256")
    model = build_ae(name)
    with np.load(path) as z:
        model.load_state_dict({k: torch.from_numpy(z[k].astype(np.float32)) for k in z.files}, strict=True)
    _CACHE[key] = model.eval()
    return _CACHE[key]


def apply_autoencoder(name: str, images: np.ndarray, *, ae_dir: Path = AE_DIR, batch: int = 64) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 through a shipped network (sides cropped to even, then padded back)."""
    import torch

    model = load_ae(name, ae_dir)
    n, h, w, _ = images.shape
    he, we = h - h % 2, w - w % 2
    out = images.copy()
    with torch.no_grad():
        for i in range(0, n, batch):
            x = torch.from_numpy(images[i : i + batch, :he, :we].transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
            y = model(x).clamp(0, 1).numpy().transpose(0, 2, 3, 1)
            out[i : i + batch, :he, :we] = np.rint(y * 255.0).astype(np.uint8)
    return out


def build_attack_models(root: Any = None, *, log: Callable[[str], None] | None = None, inputs_sha256: str = "",
                        out_dir: Path | None = None, recipe: dict[str, Any] | None = None,
                        max_train: int | None = None) -> dict[str, Any]:
    """Train and store ``ae-real`` and ``dae`` on CIFAKE's real train split; returns ``index.json``."""
    import torch

    from ..build.generators import _images
    from ..detectors.base import sha256_file
    from ..training.autoencoder import psnr
    from ..training.data import cifake_records, select

    torch.set_num_threads(1)
    out = Path(out_dir) if out_dir is not None else AE_DIR
    out.mkdir(parents=True, exist_ok=True)
    cif = cifake_records(root)
    train = _images(select(cif, split="train", label=0), max_train)
    test = _images(select(cif, split="test", label=0), 100)
    index: dict[str, Any] = {"inputs_sha256": inputs_sha256, "recipe": {**AE_RECIPE, **(recipe or {})}, "models": {}}
    for name in ("ae-real", "dae"):
        model, summary = train_image_model(name, train, recipe=recipe, log=log)
        path = out / f"{name}.npz"
        with open(path, "wb") as f:
            np.savez(f, **{k: v.numpy().astype(np.float16) for k, v in model.state_dict().items()})
        card = {"name": name, "weights": path.name, "sha256": sha256_file(path),
                "training_data": f"CIFAKE real images of the frozen train split, n={len(train)}",
                "train": summary, "parameters": int(sum(p.numel() for p in model.parameters()))}
        (out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        _CACHE.pop(f"{out}/{name}", None)
        rec = apply_autoencoder(name, test, ae_dir=out)
        card["test_psnr_db"] = round(float(np.mean([psnr(a, b) for a, b in zip(test, rec)])), 2)
        (out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        index["models"][name] = card
        if log:
            log(f"attack-models: {name} {summary['steps_done']} steps, test PSNR {card['test_psnr_db']} dB")
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return index
