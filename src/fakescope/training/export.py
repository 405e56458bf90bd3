"""Export trained models to the shipped formats (ONNX for networks) and check them."""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import MissingDependencyError, WeightsError

__all__ = ["export_onnx", "onnx_max_abs_diff", "load_onnx_weights", "quantize_int8"]


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


def load_onnx_weights(model: nn.Module, onnx_path: str | Path) -> nn.Module:
    """Load an ONNX export's initializers back into the torch module it came from.

    Works for exports whose parameters keep their torch names (models without batch-norm,
    e.g. ``NPRNet(norm="none")``; folded batch-norm leaves nothing to map back).  Strict:
    every parameter of ``model`` must be found with the same shape.  This is how a shipped
    ONNX detector becomes differentiable again (white-box attacks, re-export).
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as e:  # pragma: no cover - [train] extra
        raise MissingDependencyError("onnx", "train", "reading ONNX weights") from e
    graph = onnx.load(str(onnx_path)).graph
    found = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    state = {}
    for name, ref in model.state_dict().items():
        if name not in found:
            raise WeightsError(f"{onnx_path} has no tensor {name!r} (was it exported from this architecture?)")
        arr = found[name]
        if tuple(arr.shape) != tuple(ref.shape):
            raise WeightsError(f"{onnx_path}: {name} has shape {arr.shape}, the model expects {tuple(ref.shape)}")
        state[name] = torch.from_numpy(np.array(arr, copy=True))
    model.load_state_dict(state, strict=True)
    return model.eval()


def quantize_int8(src: str | Path, dst: str | Path, batches: Iterable[np.ndarray], *,
                  keep_fp32: Sequence[str] = (), reduce_range: bool = True) -> Path:
    """Static int8 quantization of an ONNX image model (QDQ, per-channel weights, Conv only).

    Parameters
    ----------
    src, dst : path
        The float32 model and where to write the int8 one.
    batches : iterable of ndarray
        Calibration inputs (``(n, 3, h, w)`` float32, any sizes), as the detector feeds them,
        from the *training* split; activation ranges are their min/max.
    keep_fp32 : sequence of str
        Node names left in float32 (e.g. the first convolution, whose input is the residual
        whose exact small values carry the evidence).
    reduce_range : bool
        7-bit weights: x86 CPUs without VNNI accumulate u8×s8 products in 16 bits and can
        saturate with full 8-bit weights; 7 bits cannot, so results do not depend on the CPU.

    Returns
    -------
    Path
        ``dst``.
    """
    try:
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:  # pragma: no cover - needs the onnx package ([train] extra)
        raise MissingDependencyError("onnx", "train", "int8 quantization") from e

    class _Reader(CalibrationDataReader):
        def __init__(self, it: Iterable[np.ndarray]) -> None:
            self.it = iter(it)

        def get_next(self) -> dict[str, np.ndarray] | None:
            b = next(self.it, None)
            return None if b is None else {"image": np.ascontiguousarray(b, dtype=np.float32)}

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            quantize_static(str(pre), str(dst), _Reader(batches), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            reduce_range=reduce_range, op_types_to_quantize=["Conv"],
                            nodes_to_exclude=list(keep_fp32), calibrate_method=CalibrationMethod.MinMax)
    return Path(dst)
