"""Tiny synthetic clips written with PyAV (a few frames, small sizes): the video tests' corpus."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

av = pytest.importorskip("av")


def pattern(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    """Frame ``i`` of a moving gradient (distinct frames, smooth enough to encode well)."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 4 + i * 8) % 256
    g = (y * 5 + i * 3) % 256
    b = ((x + y) * 2) % 256
    return np.stack([r, g, b], axis=2).astype(np.uint8)


def write_clip(path: Path, frames: Sequence[np.ndarray], *, codec: str = "libx264", fps: int = 10,
               options: dict | None = None, pix_fmt: str = "yuv420p", rotation: int | None = None,
               pts: Sequence[int] | None = None, time_base: Fraction | None = None, audio: bool = False) -> Path:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps, options=options or {})
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        if time_base is not None:
            s.codec_context.time_base = time_base
            s.time_base = time_base
        if rotation is not None:
            s.set_display_rotation(rotation)
        a = None
        if audio:
            a = c.add_stream("aac", rate=8000)
            a.layout = "mono"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            if pts is not None:
                vf.pts = pts[i]
                vf.time_base = time_base
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        if a is not None:
            af = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.float32), format="fltp", layout="mono")
            af.sample_rate = 8000
            af.pts = 0
            for p in a.encode(af):
                c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """2 s of a 64x48 H.264 clip at 10 fps."""
    return write_clip(tmp_path / "clip.mp4", [pattern(i) for i in range(20)])
