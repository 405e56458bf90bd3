"""Ship npr as int8: re-export the shipped float32 weights, quantize them, measure both side by side.

    python bench/ship_npr_int8.py            # measure only, write docs/benchmarks/npr_int8.md
    python bench/ship_npr_int8.py --ship     # also write weights/npr.onnx + npr.int8.onnx and the card

1. The shipped ``npr.onnx`` is loaded back into ``NPRNet`` (no batch-norm: the initializers
   keep their torch names) and exported again; the new graph computes the NPR residual with
   Slice + Resize(nearest) instead of a 6-D reshape.  Its logits must equal the old file's
   (max |diff| <= 1e-6) on every calibration image, or nothing is written.
2. Static int8 quantization (:func:`fakescope.training.export.quantize_int8`): activation
   ranges from 320 *training-split* images fed as the detector feeds them, per-channel
   7-bit weights (no saturation on CPUs without VNNI), first convolution kept in float32.
3. Side by side on the calibration split (never the test split): AUC per group, score
   differences; ms per 1024x768 image, alternating the two models, medians.

With ``--ship`` the card's ``weights`` becomes the int8 file (what the detector runs on
images of 65 px a side and more) and ``extra.reference_weights`` names the float32 file
(thumbnails, where int8 saves ~0.1 ms; ``create_detector("npr", precision="fp32")``,
gradients, re-export).  Then rerun bench/calibrate_zoo.py: the
calibration scores are keyed by the weights' sha256.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

FIRST_CONV = "/features/features.0/features.0.0/Conv"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ship", action="store_true")
    ap.add_argument("--n-quant", type=int, default=320, help="training images for the activation ranges")
    args = ap.parse_args()

    import onnxruntime as ort

    from _common import DOCS, WORK, machine, make_jpegs, median
    from fakescope.detectors.base import WEIGHTS_DIR, DetectorCard, sha256_file
    from fakescope.detectors.npr import tiles_to_batch
    from fakescope.io.decode import load
    from fakescope.training.calibrate import calibration_records
    from fakescope.training.data import all_records, load_rgb
    from fakescope.training.evaluate import group_metrics
    from fakescope.training.export import export_onnx, load_onnx_weights, quantize_int8
    from fakescope.training.models import NPRNet

    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)

    card_path = WEIGHTS_DIR / "npr.json"
    card = DetectorCard.load(card_path)
    ref = card.extra.get("reference_weights")
    fp32_old = WEIGHTS_DIR / (ref["file"] if ref else card.weights)
    rec = card.extra["recipe"]["npr"] if "npr" in card.extra.get("recipe", {}) else card.extra["recipe"]
    net = NPRNet(width=int(rec["width"]), image_weight=float(rec["image_weight"]), norm=rec["norm"])
    load_onnx_weights(net, fp32_old)

    def session(src: str | bytes) -> ort.InferenceSession:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])

    tmp = Path(tempfile.mkdtemp(prefix="npr_int8_"))
    fp32_new = tmp / "npr.onnx"
    export_onnx(net, fp32_new, example_size=int(card.extra.get("tile", 96)))

    cal = calibration_records(REPO / "bench" / "_work" / "train")
    log(f"calibration split: {len(cal)} images")
    batches = [tiles_to_batch(load_rgb(r.path)) for r in cal]
    old_s, new_s = session(str(fp32_old)), session(str(fp32_new))
    worst = 0.0
    fp32_scores = []
    for b in batches:
        a, c = old_s.run(None, {"image": b})[0], new_s.run(None, {"image": b})[0]
        worst = max(worst, float(np.abs(a - c).max()))
        fp32_scores.append(float(c.mean()))
    log(f"re-export vs shipped float32: max |logit diff| {worst:.3g}")
    if worst > 1e-6:
        print("the re-export does not reproduce the shipped weights; nothing written", file=sys.stderr)
        return 1

    rng = np.random.default_rng(0)
    train = [r for r in all_records() if r.split == "train"]
    cif = [r for r in train if r.source == "cifake"]
    full = [r for r in train if r.source != "cifake"]
    half = args.n_quant // 2
    pick = [cif[i] for i in rng.choice(len(cif), half, replace=False)]
    pick += [full[i] for i in rng.choice(len(full), min(half, len(full)), replace=False)]
    qbatches = [tiles_to_batch(im) for im in (load_rgb(r.path) for r in pick) if min(im.shape[:2]) >= 16]
    int8 = tmp / "npr.int8.onnx"
    quantize_int8(fp32_new, int8, qbatches, keep_fp32=[FIRST_CONV], reduce_range=True)
    log(f"quantized with {len(qbatches)} training images")
    q_s = session(str(int8))
    int8_scores = [float(q_s.run(None, {"image": b})[0].mean()) for b in batches]

    labels = [r.label for r in cal]
    groups = [r.group for r in cal]
    gs = sorted(set(groups))
    reals = [g for g in ("modern:real", "photos") if g in gs]
    seen = [g for g in gs if g.startswith("modern:") and g != "modern:real"]
    rows = {"all calibration images": gs, "cifake": ["cifake"], "modern generators": seen + reals,
            "auto-encoder fakes vs photos": ["ae"] + reals}
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
        f"`python bench/ship_npr_int8.py` on {machine()}. Static int8 (QDQ, per-channel 7-bit weights, "
        f"activation ranges from {len(qbatches)} training-split images, first convolution in float32) of the "
        "shipped float32 npr; evaluated on the **calibration split** (never the test split).",
        "",
        f"Re-exported float32 graph (Slice + Resize instead of a 6-D reshape) vs the previous file: max |logit "
        f"difference| {worst:.1e} over {len(cal)} images.",
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

    if args.ship:
        (WEIGHTS_DIR / "npr.onnx").write_bytes(fp32_new.read_bytes())
        (WEIGHTS_DIR / "npr.int8.onnx").write_bytes(int8.read_bytes())
        data = json.loads(card_path.read_text())
        data["weights"] = "npr.int8.onnx"
        data["sha256"] = sha256_file(WEIGHTS_DIR / "npr.int8.onnx")
        data["extra"]["precision"] = "int8"
        data["extra"]["reference_below_side"] = 65  # thumbnails (fusion.regime_of) keep float32
        note = "; images with a side under 65 px (thumbnails) run the float32 reference weights, larger ones the int8 weights"
        if note not in data["input_policy"]:
            data["input_policy"] += note
        data["extra"]["reference_weights"] = {
            "file": "npr.onnx", "sha256": sha256_file(WEIGHTS_DIR / "npr.onnx"), "precision": "fp32",
            "note": "the trained float32 export (checked against torch at training time); the int8 file is its "
                    "static quantization (bench/ship_npr_int8.py, docs/benchmarks/npr_int8.md)"}
        data["extra"]["int8"] = {
            "method": "onnxruntime quantize_static QDQ, MinMax activation ranges, per-channel reduce_range "
                      "(7-bit) weights, Conv only, first convolution float32",
            "calibration_images": len(qbatches), "ms_1024x768_fp32": round(ms32, 2),
            "ms_1024x768_int8": round(ms8, 2),
            "auc_calibration_fp32": round(m32["all calibration images"]["auc"], 4),
            "auc_calibration_int8": round(m8["all calibration images"]["auc"], 4)}
        card_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        log("wrote weights/npr.onnx, weights/npr.int8.onnx and the card; now rerun bench/calibrate_zoo.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
