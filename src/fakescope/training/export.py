"""Export trained models to the shipped formats (ONNX for networks) and check them."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import MissingDependencyError, WeightsError

__all__ = ["export_onnx", "onnx_max_abs_diff"]


def export_onnx(model: nn.Module, path: str | Path | None = None, *, example_size: int = 96,
                opset: int = 17, channels: int = 3) -> bytes:
    """Export an image model ``(N, 3, H, W) float32 → (N,) logits`` with dynamic N, H, W.

    Batch-norm is folded into the convolutions (eval mode, constant folding).  Returns
    the model bytes and writes them to ``path`` when given.
    """
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError as e:  # pragma: no cover - [train] extra
        raise MissingDependencyError("onnx", "train", "ONNX export") from e
    model = model.eval()
    example = torch.zeros(1, channels, example_size, example_size)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(
            model, (example,), buf, input_names=["image"], output_names=["logit"],
            dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "logit": {0: "n"}},
            opset_version=opset, do_constant_folding=True, dynamo=False,
        )
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def onnx_max_abs_diff(model: nn.Module, onnx_bytes: bytes, inputs: list[np.ndarray]) -> float:
    """Largest absolute difference between torch and ONNX Runtime outputs over ``inputs``."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(onnx_bytes, so, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise WeightsError(f"ONNX Runtime cannot load the export: {e}") from e
    name = sess.get_inputs()[0].name
    worst = 0.0
    model = model.eval()
    for x in inputs:
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        got = sess.run(None, {name: x})[0]
        worst = max(worst, float(np.max(np.abs(ref - got))))
    return worst
