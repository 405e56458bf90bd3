"""npr in int8 beside its float32 reference: both shipped files, side by side (measures only).

    python bench/npr_int8.py     # writes docs/benchmarks/npr_int8.md

The ``npr`` build step (:mod:`fakescope.build.npr`) trains npr, exports ``npr.onnx`` and quantizes it
to ``npr.int8.onnx``; the detector runs int8 on images of 65 px a side and more.  Here, on the
calibration split of the frozen manifest (never the test split): AUC per group and the score
differences of the two files; ms per 1024x768 image, alternating the two models, medians.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))


def main() -> int:
    import onnxruntime as ort

    from _common import DOCS, WORK, machine, make_jpegs, median
    from fakescope.build.calibrate import calibration_rows
    from fakescope.detectors.base import WEIGHTS_DIR, DetectorCard
    from fakescope.detectors.npr import tiles_to_batch
    from fakescope.io.decode import load
    from fakescope.training.evaluate import group_metrics

    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)

    card = DetectorCard.load(WEIGHTS_DIR / "npr.json")
    fp32 = WEIGHTS_DIR / card.extra["reference_weights"]["file"]
    int8 = WEIGHTS_DIR / card.weights

    def session(src: str) -> ort.InferenceSession:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])

    cal = calibration_rows()
    log(f"calibration split: {len(cal)} images")
    batches = [tiles_to_batch(load(r.path).image) for r in cal]
    new_s, q_s = session(str(fp32)), session(str(int8))
    fp32_scores = [float(new_s.run(None, {"image": b})[0].mean()) for b in batches]
    int8_scores = [float(q_s.run(None, {"image": b})[0].mean()) for b in batches]

    labels = [r.label for r in cal]
    groups = [r.group for r in cal]
    gs = sorted(set(groups))
    reals = [g for g in ("modern:real", "photos") if g in gs]
    seen = [g for g in gs if g.startswith("modern:") and g != "modern:real"]
    rows = {"all calibration images": gs, "cifake": ["cifake"], "modern generators": seen + reals}
    m32 = group_metrics(labels, fp32_scores, groups, rows)
    m8 = group_metrics(labels, int8_scores, groups, rows)
    d = np.abs(np.array(int8_scores) - np.array(fp32_scores))

    paths = [str(p) for p in make_jpegs(60, (1024, 768), WORK / "jpeg_1024x768")]
    imgs = [tiles_to_batch(load(p).image) for p in paths]
    t32, t8 = [], []
    for _ in range(5):  # alternate: machine noise hits both alike
        for sess, out in ((new_s, t32), (q_s, t8)):
            t = time.perf_counter()
            for b in imgs:
                sess.run(None, {"image": b})
            out.append((time.perf_counter() - t) / len(imgs) * 1e3)
    ms32, ms8 = median(t32), median(t8)
    log(f"ms/image fp32 {ms32:.2f}, int8 {ms8:.2f}")

    lines = [
        "# npr in int8",
        "",
        f"`python bench/npr_int8.py` on {machine()}. The shipped `{int8.name}` (static int8 of `{fp32.name}`, "
        f"made by `fakescope build npr`: QDQ, per-channel 7-bit weights, activation ranges from "
        f"{card.extra['int8']['calibration_images']} training-split images, first convolution in float32) beside "
        f"the float32 file, on the **calibration split** ({len(cal)} images; never the test split).",
        "",
        "| group | n real | n fake | AUC float32 | AUC int8 |",
        "|---|---|---|---|---|",
    ]
    for k in rows:
        lines.append(f"| {k} | {m32[k]['n_real']} | {m32[k]['n_fake']} | {m32[k]['auc']:.4f} | {m8[k]['auc']:.4f} |")
    lines += [
        "",
        f"Score (mean tile logit) |int8 - float32|: median {np.median(d):.4f}, 99th percentile "
        f"{np.quantile(d, 0.99):.4f}, max {d.max():.4f}; float32 score standard deviation "
        f"{np.std(fp32_scores):.3f}.",
        "",
        "| model | ms per 1024×768 image, 8 tiles, 1 thread (median of 5 alternating rounds) |",
        "|---|---|",
        f"| float32 | {ms32:.2f} |",
        f"| int8 | {ms8:.2f} |",
        "",
        f"**int8 / float32 speed: {ms32 / ms8:.2f}×.**",
        "",
    ]
    (DOCS / "npr_int8.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
