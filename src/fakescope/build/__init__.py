"""The model build: split manifest → train → score → calibrate → select → evaluate → ship.

Each step is a function with declared inputs and outputs (see :mod:`fakescope.build.splits`).
"""

from __future__ import annotations

__all__: list[str] = []
