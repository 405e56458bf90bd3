"""Fusion in time and ForgeryNet's temporal metrics on synthetic score sequences with known segments."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fakescope.benchmark.video import average_recall_at_k, frame_labels, temporal_ap, temporal_iou
from fakescope.errors import UsageError, WeightsError
from fakescope.temporal import VideoFusionParams, hysteresis_segments, load_video_fusion, topk_pool


def test_topk_pool() -> None:
    p = [0.1] * 18 + [0.9, 0.95]
    assert topk_pool(p, topk_frac=0.1) == pytest.approx(0.925)
    assert topk_pool(p, topk_frac=1.0) == pytest.approx(np.mean(p))
    assert topk_pool([], topk_frac=0.5) == 0.5
    assert topk_pool([np.nan, 0.8], topk_frac=0.5) == 0.8
    # more fake frames never lower the pooled score
    assert topk_pool([0.1] * 10 + [0.9] * 5, topk_frac=0.25) >= topk_pool([0.1] * 14 + [0.9], topk_frac=0.25)


@pytest.mark.parametrize("seed", range(5))
def test_known_segment_is_recovered(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(40) * 0.5  # 20 s at 2 frames/s
    start, end = int(rng.integers(2, 20)), 0
    end = start + int(rng.integers(4, 12))
    p = rng.uniform(0.0, 0.3, t.size)
    p[start:end] = rng.uniform(0.75, 1.0, end - start)
    segs = hysteresis_segments(t, p, high=0.7, low=0.5, min_len_s=1.0, duration_s=20.0)
    assert len(segs) == 1
    assert (segs[0].start_s, segs[0].end_s) == (t[start], t[end])
    assert segs[0].score == pytest.approx(p[start:end].mean())


def test_hysteresis_rules() -> None:
    t = np.arange(12) * 0.5
    # a run of frames between low and high never starts a segment
    assert hysteresis_segments(t, [0.6] * 12, high=0.7, low=0.5) == []
    # one frame above high pulls its neighbours above low into the segment
    p = [0.1, 0.55, 0.6, 0.9, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    (s,) = hysteresis_segments(t, p, high=0.7, low=0.5, min_len_s=0.5)
    assert (s.start_s, s.end_s) == (0.5, 2.5)
    # too short: dropped
    assert hysteresis_segments(t, [0.1] * 5 + [0.9] + [0.1] * 6, min_len_s=1.0) == []
    # a gap shorter than max_gap_s is bridged, a longer one is not
    p = [0.9, 0.9, 0.1, 0.9, 0.9, 0.1, 0.1, 0.1, 0.9, 0.9, 0.1, 0.1]
    merged = hysteresis_segments(t, p, min_len_s=0.5, max_gap_s=0.6)
    assert [(s.start_s, s.end_s) for s in merged] == [(0.0, 2.5), (4.0, 5.0)]
    # a segment that runs to the end ends at the clip's duration
    (s,) = hysteresis_segments(t, [0.1] * 8 + [0.9] * 4, duration_s=6.2)
    assert s.end_s == 6.2
    with pytest.raises(UsageError):
        hysteresis_segments([0, 1], [0.5])
    with pytest.raises(UsageError):
        hysteresis_segments([0, 1], [0.5, 0.5], high=0.3, low=0.6)


def test_metrics() -> None:
    assert temporal_iou((0, 2), (1, 3)) == pytest.approx(1 / 3)
    truth = {"a": [(2.0, 4.0)], "b": [(0.0, 1.0)], "c": []}
    preds = {"a": [{"start_s": 2.0, "end_s": 4.0, "score": 0.9}],
             "b": [{"start_s": 0.0, "end_s": 0.6, "score": 0.8}],  # IoU 0.6
             "c": [{"start_s": 1.0, "end_s": 2.0, "score": 0.95}]}  # a false alarm ranked first
    # precision 0, 1/2, 2/3 at recall 0, 1/2, 1; made monotone (ActivityNet): 2/3 over the whole recall range
    assert temporal_ap(preds, truth, iou=0.5) == pytest.approx(2 / 3)
    assert temporal_ap(preds, truth, iou=0.75) == pytest.approx(0.5 * 0.5)
    # AR@1: "a" matches at every IoU, "b" at 0.5 and 0.55 and 0.6 (3 of 10 thresholds)
    assert average_recall_at_k(preds, truth, k=1) == pytest.approx((10 + 3) / 20)
    assert np.isnan(temporal_ap(preds, {"a": []}))
    assert frame_labels([0, 0.5, 1.0, 1.5], [(0.5, 1.5)]).tolist() == [0, 1, 1, 0]


def test_fusion_file(tmp_path) -> None:
    params = load_video_fusion()  # the shipped one, fitted by `fakescope build video`
    assert 0 < params.topk_frac <= 1 and params.real_threshold <= params.threshold
    f = tmp_path / "v.json"
    f.write_text(json.dumps({"params": {"topk_frac": 0.5, "threshold": 0.7, "real_threshold": 0.2}}))
    assert load_video_fusion(f) == VideoFusionParams(topk_frac=0.5, threshold=0.7, real_threshold=0.2)
    f.write_text(json.dumps({"params": {"topk_frac": 2}}))
    with pytest.raises(WeightsError):
        load_video_fusion(f)


def test_face_fusion_parameters_checked_and_read_back(tmp_path) -> None:
    from fakescope.temporal import fuse_face

    with pytest.raises(UsageError, match="face_fusion"):
        VideoFusionParams(face_fusion="mean")
    with pytest.raises(UsageError, match="needs face_coef"):
        VideoFusionParams(face_fusion="logistic")
    with pytest.raises(UsageError, match="3 finite"):
        VideoFusionParams(face_fusion="logistic", face_coef=(1.0, float("nan"), 0.0))
    p = VideoFusionParams(face_fusion="logistic", face_coef=[0.5, 2.0, -1.0])
    f = tmp_path / "video.json"
    f.write_text(json.dumps({"params": p.to_dict()}))
    back = load_video_fusion(f)
    assert back == p and back.face_coef == (0.5, 2.0, -1.0)
    # a fake-looking face raises the frame, a real-looking one lowers it; no face: the whole frame's
    assert fuse_face(0.5, 0.95, p) > 0.5 > fuse_face(0.5, 0.05, p) and fuse_face(0.3, None, p) == 0.3
