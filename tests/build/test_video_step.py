"""The ``video`` build step: calibration clips from the frozen split, scored by the scan, the fusion fitted."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("av", reason="the video build step needs PyAV (the 'video' extra)")

from fakescope.build import video as v  # noqa: E402
from fakescope.temporal import load_video_fusion  # noqa: E402


def test_video_step_on_three_clips(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path / "cache"))
    d = v.build_video(shared_data, clips=3, face_clips=0, out_dir=tmp_path, inputs_sha256="abc")
    saved = json.loads((tmp_path / "video.json").read_text())
    assert saved == d and saved["inputs_sha256"] == "abc" and saved["made_by"] == "fakescope build video"
    assert saved["frames_scored"] == 3 * 12  # 6 s clips sampled at 2 frames/s
    p = load_video_fusion(tmp_path / "video.json")
    # the threshold is above the one real clip's pooled score: no calibration real clip flagged
    assert 0.05 <= p.real_threshold <= p.threshold <= 0.999 and p.topk_frac in (0.1, 0.25, 0.5, 1.0)
    assert "3 calibration clips" in p.fitted_on
    # the face fusion was chosen on the same clips (scanned with face crops; whole frames kept apart)
    choice = saved["face_fusion_choice"]
    assert choice["chosen"] == p.face_fusion and "none" in choice["candidates"]
    assert set(choice["candidates"]["none"]["frame_auc"]) == {"photo clips"}
    # the clips come from the calibration split only, drawn the same way every time
    specs = v.clip_specs_for(3, "calibration", np.random.default_rng(v.RECIPE["spec_seed"]), shared_data)
    rows = {r["path"]: r["split"] for r in v.split_rows(shared_data)}
    assert {rows[s.real] for s in specs} | {rows[s.fake] for s in specs if s.fake} == {"calibration"}
    again = v.clip_specs_for(3, "calibration", np.random.default_rng(v.RECIPE["spec_seed"]), shared_data)
    assert [s.name for s in specs] == [s.name for s in again] and [s.real for s in specs] == [s.real for s in again]
