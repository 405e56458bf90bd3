"""Partial fakes with exact masks, made from real photos: the training and benchmark data of the
localization network (:mod:`fakescope.training.localizer`, :mod:`fakescope.build.localizer`).

A partial fake is a real photo ``base`` with one region changed, and its mask (1 = changed).  Kinds
(:data:`KINDS`): ``fake-paste`` (the region's content from an AI-generated image), ``splice`` (from another
real photo), ``copy-move`` (from elsewhere in the same photo), ``blur`` and ``noise`` (the region
re-rendered: smoothed, or re-noised as a generator's denoiser would leave it), ``resample`` (the region
down- and re-up-sampled, as a latent auto-encoder's decoder or an inpainting fill re-renders it).  Then
the whole image is laundered (optional resize, JPEG), the mask resized with it.  Parameters are drawn
from ``rng`` (pure functions, replayable).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> base = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
>>> img, mask = make_partial(base, base[::-1].copy(), "splice", rng, launder=False)
>>> img.shape, mask.shape, mask.dtype, bool(0 < mask.mean() < 1)
((96, 128, 3), (96, 128), dtype('uint8'), True)
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

__all__ = ["KINDS", "region_mask", "make_partial", "launder", "shrink", "shrink_mask"]

KINDS: tuple[str, ...] = ("fake-paste", "splice", "copy-move", "blur", "noise", "resample")


def region_mask(h: int, w: int, rng: np.random.Generator, *, area: tuple[float, float] = (0.04, 0.3)) -> np.ndarray:
    """A random region (an ellipse, a rectangle or a blob of three ellipses) covering ``area`` of the
    image, as a ``(h, w)`` uint8 0/1 mask."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    target = rng.uniform(*area) * h * w
    shape = rng.choice(["ellipse", "rect", "blob"])
    m = np.zeros((h, w), bool)
    parts = 3 if shape == "blob" else 1
    for _ in range(parts):
        aspect = rng.uniform(0.5, 2.0)
        ry = np.sqrt(target / parts / np.pi / aspect) if shape != "rect" else np.sqrt(target / aspect) / 2
        rx = ry * aspect
        ry, rx = min(ry, h / 2 - 1), min(rx, w / 2 - 1)
        cy, cx = rng.uniform(ry, h - ry), rng.uniform(rx, w - rx)
        if shape == "rect":
            m |= (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
        else:
            m |= ((yy - cy) / max(ry, 1)) ** 2 + ((xx - cx) / max(rx, 1)) ** 2 <= 1
    return m.astype(np.uint8)


def _resize(image: np.ndarray, h: int, w: int, resample: int | None = None) -> np.ndarray:
    from PIL import Image

    im = Image.fromarray(image)
    return np.asarray(im.resize((w, h), Image.Resampling.BICUBIC if resample is None else resample))


def _shrunk_size(h: int, w: int, max_side: int) -> tuple[int, int]:
    s = max_side / max(h, w)
    return (h, w) if s >= 1 else (max(8, int(round(h * s))), max(8, int(round(w * s))))


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` with its long side reduced to at most ``max_side`` (bicubic; never enlarged): what the
    localization network sees."""
    h, w = image.shape[:2]
    sh, sw = _shrunk_size(h, w, max_side)
    return image if (sh, sw) == (h, w) else _resize(image, sh, sw)


def shrink_mask(mask: np.ndarray, max_side: int) -> np.ndarray:
    """A 0/1 mask reduced as :func:`shrink` reduces its image (nearest)."""
    from PIL import Image

    h, w = mask.shape[:2]
    sh, sw = _shrunk_size(h, w, max_side)
    return mask if (sh, sw) == (h, w) else _resize(mask * 255, sh, sw, Image.Resampling.NEAREST) // 255


def _fit(donor: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A ``(h, w)`` view of ``donor``: a random crop at native scale when it is large enough, else resized."""
    dh, dw = donor.shape[:2]
    if dh >= h and dw >= w:
        y, x = int(rng.integers(0, dh - h + 1)), int(rng.integers(0, dw - w + 1))
        return donor[y : y + h, x : x + w]
    return _resize(donor, h, w)


def launder(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, *,
            scale: tuple[float, float] = (0.5, 1.0), quality: tuple[int, int] = (60, 95),
            p_resize: float = 0.5, p_jpeg: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Optionally resize (bicubic; the mask nearest) and JPEG-compress the image."""
    from PIL import Image

    if rng.random() < p_resize:
        s = rng.uniform(*scale)
        h, w = max(16, int(round(image.shape[0] * s))), max(16, int(round(image.shape[1] * s)))
        image = _resize(image, h, w)
        mask = _resize(mask * 255, h, w, Image.Resampling.NEAREST) // 255
    if rng.random() < p_jpeg:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", quality=int(rng.integers(quality[0], quality[1] + 1)))
        image = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return image, mask.astype(np.uint8)


def make_partial(base: np.ndarray, donor: np.ndarray | None, kind: str, rng: np.random.Generator, *,
                 area: tuple[float, float] = (0.04, 0.3), launder: bool = True,
                 **launder_options: Any) -> tuple[np.ndarray, np.ndarray]:
    """``base`` (H×W×3 uint8) with one region changed by ``kind`` (:data:`KINDS`; ``donor`` is the source image
    of ``fake-paste`` and ``splice``), and its mask (H×W uint8, 1 = changed), laundered unless ``launder`` is
    false."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    h, w = base.shape[:2]
    mask = region_mask(h, w, rng, area=area)
    out = base.copy()
    m = mask.astype(bool)
    if kind in ("fake-paste", "splice"):
        if donor is None:
            raise ValueError(f"{kind} needs a donor image")
        out[m] = _fit(donor, h, w, rng)[m]
    elif kind == "copy-move":
        dy, dx = int(rng.integers(-h // 3, h // 3 + 1)), int(rng.integers(-w // 3, w // 3 + 1))
        shifted = np.roll(base, (dy, dx), axis=(0, 1))
        out[m] = shifted[m]
    elif kind == "blur":
        from PIL import Image, ImageFilter

        blurred = np.asarray(Image.fromarray(base).filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 3.0))))
        out[m] = blurred[m]
    elif kind == "noise":
        from PIL import Image, ImageFilter

        smooth = np.asarray(Image.fromarray(base).filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 1.5)))).astype(np.float32)
        noisy = smooth + rng.normal(0, rng.uniform(3, 10), base.shape).astype(np.float32)
        out[m] = np.clip(noisy, 0, 255).astype(np.uint8)[m]
    elif kind == "resample":
        f = rng.uniform(0.25, 0.5)
        small = _resize(base, max(8, int(h * f)), max(8, int(w * f)))
        out[m] = _resize(small, h, w)[m]
    if launder:
        return _launder(out, mask, rng, **launder_options)
    return out, mask


_launder = launder
