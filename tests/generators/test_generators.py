"""The generator zoo: up-sampling traces, training, metrics, generation and the build step."""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fakescope.generators import GENERATORS_DIR, list_generators  # noqa: E402
from fakescope.generators.metrics import fid, kid, precision_recall  # noqa: E402
from fakescope.generators.models import LOSSES, UPSAMPLERS, Generator, upsample_block  # noqa: E402
from fakescope.generators.train import GanConfig, train_gan  # noqa: E402


def nyquist_share(x: np.ndarray) -> float:
    """Share of the (mean-removed) spectral energy on the Nyquist row and column (±1/2 cycles/pixel)."""
    x = x - x.mean(axis=(-2, -1), keepdims=True)
    p = np.abs(np.fft.fft2(x)) ** 2
    h, w = p.shape[-2:]
    ny = p[..., h // 2, :].sum() + p[..., :, w // 2].sum() - p[..., h // 2, w // 2].sum()
    return float(ny / p.sum())


@pytest.mark.parametrize("upsample", UPSAMPLERS)
def test_upsampler_spectrum_follows_theory(upsample: str) -> None:
    """The linear part of each up-sampling layer (random weights) on smooth inputs with periodic content:
    nearest and bilinear interpolation have a zero at the Nyquist frequency (their 2-tap [1, 1] and 4-tap
    [1, 3, 3, 1]/4 kernels), which no following convolution can fill; a transposed convolution and a
    pixel shuffle apply different filters to the two pixel phases and leave a Nyquist peak (checkerboard)."""
    torch.manual_seed(0)
    block = upsample_block(8, 8, upsample)[:-2]  # drop batch-norm and ReLU (nonlinear: harmonics)
    x = torch.randn(4, 8, 16, 16)
    x = torch.fft.ifft2(torch.fft.fft2(x) * (torch.rand(16, 16) < 0.3)).real  # band-limited content
    with torch.no_grad():
        y = block(x).numpy()
    # interior crop (zero padding at the border is not periodic) of a whole number of 2-px periods
    share = nyquist_share(y[..., 4:28, 4:28])
    if upsample in ("nearest", "bilinear"):
        assert share < 0.01, share
    else:
        assert share > 0.03, share


def test_shipped_transposed_generator_leaves_a_stronger_checkerboard() -> None:
    """Trained generators keep the trace: samples of dcgan-transposed carry more Nyquist energy than those of
    dcgan-bilinear (mean over 64 samples, grey levels)."""
    from fakescope.generators import create_generator

    def share(name: str) -> float:
        s = create_generator(name).sample(64, seed=3).astype(np.float64).mean(axis=3)
        return nyquist_share(s)

    assert share("dcgan-transposed") > 2 * share("dcgan-bilinear")


@pytest.mark.parametrize("loss", LOSSES)
def test_each_loss_trains_a_few_steps(loss: str) -> None:
    imgs = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3)).astype(np.uint8)
    cfg = GanConfig(loss=loss, upsample="nearest", width=8, steps=2, batch=8, seed=1)
    before = Generator(upsample="nearest", width=8)
    torch.manual_seed(1)
    gen, summary = train_gan(imgs, cfg)
    assert summary["steps_done"] == 2 and np.isfinite(summary["last_g_loss"])
    assert not gen.training  # standing statistics, eval mode
    with torch.no_grad():
        out = gen(torch.randn(3, gen.z_dim))
    assert out.shape == (3, 3, 32, 32) and float(out.abs().max()) <= 1.0
    assert before is not gen


def test_metrics_properties() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    far = b + 3.0
    assert fid(a, b) < fid(a, far)
    assert kid(a, b)[0] < kid(a, far)[0]
    p, r = precision_recall(a, a)
    assert p == 1.0 and r == 1.0
    p2, r2 = precision_recall(a, far)
    assert p2 < 0.2 and r2 < 0.2


def test_zoo_is_shipped_with_cards_and_small_weights() -> None:
    from fakescope.build.generators import RECIPE

    grid = {f"{loss}-{up}" for loss in LOSSES for up in UPSAMPLERS}
    assert {f"{lo}-{up}" for lo, up in RECIPE["models"]} == grid and len(RECIPE["models"]) == 16  # 4 x 4
    names = list_generators()
    assert set(names) == grid
    order = [f"{lo}-{up}" for lo, up in RECIPE["models"]]
    for n in names:  # each shipped card is its recipe entry: seed = base + index (appending kept the old seeds)
        cfg = json.loads((GENERATORS_DIR / f"{n}.json").read_text())["config"]
        assert cfg["seed"] == RECIPE["seed"] + order.index(n) and cfg["steps"] == RECIPE["steps"][n]
    for n in names:
        f = GENERATORS_DIR / f"{n}.npz"
        assert f.stat().st_size < 10 * 2**20
        card = (GENERATORS_DIR / f"{n}.json").read_text()
        assert hashlib.sha256(f.read_bytes()).hexdigest() in card and "fid_lite0" in card


def test_generate_cli_writes_n_images_and_a_manifest_deterministically(tmp_path) -> None:
    from fakescope.cli import main

    assert main(["generate", "dcgan-pixelshuffle", "--n", "5", "--out", str(tmp_path / "a"), "--seed", "7"]) == 0
    assert main(["generate", "dcgan-pixelshuffle", "--n", "5", "--out", str(tmp_path / "b"), "--seed", "7"]) == 0
    assert main(["generate", "dcgan-pixelshuffle", "--n", "5", "--out", str(tmp_path / "c"), "--seed", "8"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "a" / "manifest.csv")))
    assert len(rows) == 5 and {r["generator"] for r in rows} == {"dcgan-pixelshuffle"}
    assert {r["upsampler"] for r in rows} == {"pixelshuffle"} and {r["seed"] for r in rows} == {"7"}
    pngs = sorted((tmp_path / "a").glob("*.png"))
    assert len(pngs) == 5
    same = [(tmp_path / "b" / p.name).read_bytes() == p.read_bytes() for p in pngs]
    assert all(same)
    other = sorted((tmp_path / "c").glob("*.png"))
    assert other[0].read_bytes() != pngs[0].read_bytes()


def test_generate_unknown_model_lists_valid_names(tmp_path, capsys) -> None:
    from fakescope.cli import main

    assert main(["generate", "nope", "--out", str(tmp_path)]) == 2
    assert "dcgan-transposed" in capsys.readouterr().err


def test_build_step_on_tiny_data(tmp_path, data_dir) -> None:
    from fakescope.build import steps
    from fakescope.build.generators import build_generators

    assert "generators" in steps()
    zoo = build_generators(str(data_dir), out_dir=tmp_path, recipe={"steps": 2, "batch": 8, "width": 8,
                                                                     "models": [["lsgan", "bilinear"]], "n_eval": 20},
                           max_train=16, max_eval_real=20, inputs_sha256="abc",
                           features=lambda ims: ims.reshape(len(ims), -1, 3).mean(axis=1).astype(np.float64))
    assert zoo["inputs_sha256"] == "abc" and set(zoo["models"]) == {"lsgan-bilinear"}
    m = zoo["models"]["lsgan-bilinear"]
    assert m["train"]["steps_done"] == 2 and m["metrics"]["n_fake"] == 20
    assert (tmp_path / "lsgan-bilinear.npz").exists() and (tmp_path / "lsgan-bilinear.json").exists()


def test_build_step_reuses_only_unchanged_models(tmp_path, data_dir) -> None:
    """A rebuild keeps a model whose recipe entry, seed, data and code are unchanged (its file untouched) and
    retrains one whose entry changed; retraining from scratch (in worker processes) writes the same bytes."""
    from fakescope.build.generators import build_generators

    feats = lambda ims: ims.reshape(len(ims), -1, 3).mean(axis=1).astype(np.float64)  # noqa: E731
    kw = dict(max_train=16, max_eval_real=20, features=feats)
    rec = {"batch": 8, "width": 8, "n_eval": 20, "models": [["dcgan", "nearest"], ["hinge", "pixelshuffle"]],
           "steps": {"dcgan-nearest": 2, "hinge-pixelshuffle": 2}}
    build_generators(str(data_dir), out_dir=tmp_path / "a", recipe=rec, **kw)
    first = {p.name: p.read_bytes() for p in (tmp_path / "a").glob("*.npz")}
    logs: list[str] = []
    rec2 = {**rec, "steps": {"dcgan-nearest": 2, "hinge-pixelshuffle": 3}}
    zoo = build_generators(str(data_dir), out_dir=tmp_path / "a", recipe=rec2, log=logs.append, **kw)
    assert any("dcgan-nearest reused" in m for m in logs) and any("training hinge-pixelshuffle" in m for m in logs)
    assert not any("training dcgan-nearest" in m for m in logs)
    assert zoo["models"]["hinge-pixelshuffle"]["train"]["steps_done"] == 3
    assert (tmp_path / "a" / "dcgan-nearest.npz").read_bytes() == first["dcgan-nearest.npz"]
    # from scratch, two worker processes: the same bytes as the in-process run
    build_generators(str(data_dir), out_dir=tmp_path / "b", recipe=rec, reuse=False, jobs=2, **kw)
    assert {p.name: p.read_bytes() for p in (tmp_path / "b").glob("*.npz")} == first


@pytest.mark.parametrize("name", list_generators())
def test_every_shipped_generator_samples(name: str, tmp_path) -> None:
    """`fakescope generate MODEL` works for each model of the zoo: weights match the card, 3 PNGs + manifest."""
    from fakescope.cli import main

    assert main(["generate", name, "--n", "3", "--out", str(tmp_path), "--seed", "1"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "manifest.csv")))
    assert [r["generator"] for r in rows] == [name] * 3 and len(list(tmp_path.glob("*.png"))) == 3
    loss, up = rows[0]["loss"], rows[0]["upsampler"]
    assert f"{loss}-{up}" == name and up in UPSAMPLERS and loss in LOSSES
