"""The ``zed`` build step end to end on tiny data, and the ONNX graph against its torch twin."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fakescope.build.zed import (ENTROPY_LS_MAX, ZedNet, build_zed, entropy_table, export_zed,  # noqa: E402
                                 onnx_parity, torch_parts)
from fakescope.detectors import create_detector  # noqa: E402
from fakescope.errors import UsageError  # noqa: E402


def _tiny(shared_data):
    from fakescope.build.rine import train_records
    from fakescope.build.zed import real_train_records

    reals = real_train_records(shared_data)
    cal = train_records(shared_data, "calibration")
    return reals[:2], [r for r in cal if r.label == 0][:2] + [r for r in cal if r.label == 1][:2]


def test_zed_step_end_to_end_on_tiny_data(shared_data, tmp_path):
    reals, cal = _tiny(shared_data)
    d = build_zed(shared_data, records=reals, calibration=cal, out_dir=tmp_path,
                  recipe={"steps": 4, "crops_per_view": 2, "max_crops": 1, "batch": 4})
    card = json.loads((tmp_path / "zed.json").read_text())
    assert card["metrics"]["onnx_parity"] < 1e-3 and card["extra"]["recipe"]["steps"] == 4
    assert card["metrics"]["n_calibration"] == 4 and np.isfinite(card["extra"]["scale"])
    assert d["sha256"] == card["sha256"]
    det = create_detector("zed", card_path=tmp_path / "zed.json")
    from fakescope.io.decode import load

    im = load(reals[0].path).image
    s = det.raw_scores([im, im])
    assert np.isfinite(s).all() and s[0] == s[1]
    # the same recipe and data give the same weights
    d2 = build_zed(shared_data, records=reals, calibration=cal, out_dir=tmp_path / "again",
                   recipe={"steps": 4, "crops_per_view": 2, "max_crops": 1, "batch": 4})
    assert d2["sha256"] == d["sha256"]
    with pytest.raises(UsageError, match="real images only"):
        build_zed(shared_data, records=cal, calibration=cal, out_dir=tmp_path / "fakes", recipe={"steps": 1})


def test_onnx_graph_matches_its_torch_twin(tmp_path):
    torch.manual_seed(0)
    net = ZedNet().eval()
    parity = export_zed(net, tmp_path / "z.onnx")
    assert parity < 1e-3
    assert onnx_parity(net, tmp_path / "z.onnx") == parity


def test_entropy_lookup_matches_the_exact_sum():
    """The graph's entropy (table below ``ENTROPY_LS_MAX``, log s + 2 above) against exact sums."""
    means = [10.0, 10.3, 100.7, 50.5, 3.1, 200.0, 7.9]
    log_s = [-3.0, -0.7, 0.0, 1.3, 2.4, ENTROPY_LS_MAX + 0.8, ENTROPY_LS_MAX - 0.01]
    got = torch_parts().entropy(torch.tensor(means).reshape(1, 1, 1, -1), torch.tensor(log_s).reshape(1, 1, 1, -1))
    k = np.arange(-3000, 3001, dtype=np.float64)
    for m, ls, h in zip(means, log_s, got.ravel().tolist()):
        with np.errstate(over="ignore"):
            p = 1.0 / (1.0 + np.exp(-(k + 0.5 - m) / np.exp(ls))) - 1.0 / (1.0 + np.exp(-(k - 0.5 - m) / np.exp(ls)))
        p = np.clip(p, 1e-300, None)
        assert h == pytest.approx(-(p * np.log(p)).sum(), abs=0.01)
    assert entropy_table().shape[1] == 33
