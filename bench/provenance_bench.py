"""Provenance benchmark: watermark robustness and false positives, and the cost of provenance per image.

1. **Robustness**: each real photo of ``shared/data/real_photos`` (24 Kodak + 12 Wikipedia,
   768×512 to 1724×536) is stamped with each known payload exactly as the reference code
   does (SD 1.x / 2.x: ``WatermarkEncoder`` bytes into uint8 BGR; SDXL: 48 bits into a float
   BGR array), then saved and re-read through ``fakescope.io.decode`` after: nothing (PNG),
   JPEG 90 (Pillow's default 4:2:0 chroma subsampling), JPEG 90 at 4:4:4, JPEG 75, JPEG 50,
   resize to 0.75× and 0.5×, centre crop to 75 % and 50 %.  Detection = bit agreement at or
   above :func:`fakescope.provenance.watermark.required_agreement`.
2. **False positives**: every real image on this machine (shared ``real_photos``, the
   ``real`` rows of ``modern/manifest.csv``, /usr/share/backgrounds/mate, the OpenCV sample
   images); the AI images of ``modern`` (public repos' sample outputs) are checked too.
3. **Cost**: 30 JPEGs of 1024×768 (q90) cut from real photos: decode, ``analyze_provenance``
   with and without the watermark check, and the pixel detectors (``npr``, ``spectral``),
   interleaved over rounds; plus the reference ``imwatermark`` decoder for comparison.

    python bench/provenance_bench.py [--rounds 5] [--out docs/benchmarks/provenance.md]
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, DOCS, WORK, machine, make_jpegs  # noqa: E402

from fakescope.io.decode import decode, load  # noqa: E402
from fakescope.provenance import ProvenanceOptions, analyze_provenance  # noqa: E402
from fakescope.provenance import watermark as wm  # noqa: E402

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


# --------------------------------------------------------------------------- embedding as the reference code does

def embed(rgb: np.ndarray, payload: wm.WatermarkPayload) -> np.ndarray:
    import cv2
    from imwatermark import WatermarkEncoder

    enc = WatermarkEncoder()
    if payload.name == "sdxl":
        enc.set_watermark("bits", list(payload.bits))
        out = enc.encode(np.ascontiguousarray(rgb[:, :, ::-1]).astype(np.float32), "dwtDct")
        return np.ascontiguousarray(np.clip(np.round(out), 0, 255).astype(np.uint8)[:, :, ::-1])
    message = {"stable-diffusion-v1": b"StableDiffusionV1", "stable-diffusion-v2": b"SDV2"}[payload.name]
    enc.set_watermark("bytes", message)
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(enc.encode(bgr, "dwtDct")[:, :, ::-1])


def _save(rgb: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **kw)
    return buf.getvalue()


def _resize(rgb: np.ndarray, f: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((round(w * f), round(h * f)), Image.Resampling.LANCZOS))


def _crop(rgb: np.ndarray, f: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    ch, cw = round(h * f), round(w * f)
    y, x = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(rgb[y:y + ch, x:x + cw])


ATTACKS = {
    "none (PNG)": lambda x: _save(x, "PNG"),
    "JPEG 90 (4:2:0)": lambda x: _save(x, "JPEG", quality=90),
    "JPEG 90 (4:4:4)": lambda x: _save(x, "JPEG", quality=90, subsampling=0),
    "JPEG 75 (4:2:0)": lambda x: _save(x, "JPEG", quality=75),
    "JPEG 50 (4:2:0)": lambda x: _save(x, "JPEG", quality=50),
    "resize 0.75×": lambda x: _save(_resize(x, 0.75), "PNG"),
    "resize 0.5×": lambda x: _save(_resize(x, 0.5), "PNG"),
    "centre crop 75 %": lambda x: _save(_crop(x, 0.75), "PNG"),
    "centre crop 50 %": lambda x: _save(_crop(x, 0.5), "PNG"),
}


def robustness() -> tuple[dict, int]:
    photos = sorted(p for p in (DATA / "real_photos").rglob("*") if p.suffix.lower() in IMAGE_EXT)
    if not photos:
        raise SystemExit(f"no photos under {DATA / 'real_photos'}")
    hits: dict[tuple[str, str], list[bool]] = defaultdict(list)
    agree: dict[tuple[str, str], list[float]] = defaultdict(list)
    for i, p in enumerate(photos):
        rgb = np.asarray(Image.open(p).convert("RGB"))
        for payload in wm.KNOWN_PAYLOADS:
            marked = embed(rgb, payload)
            for name, attack in ATTACKS.items():
                s = decode(attack(marked), path=p.name)
                r = wm.check_watermarks(s.image)
                a = r.agreements.get(payload.name, float("nan"))
                hits[(payload.name, name)].append(payload.name in r.detected)
                agree[(payload.name, name)].append(a)
        print(f"  robustness {i + 1}/{len(photos)} {p.name}", file=sys.stderr)
    table = {k: (float(np.mean(v)), float(np.nanmedian(agree[k]))) for k, v in hits.items()}
    return table, len(photos)


# --------------------------------------------------------------------------- false positives

def real_images() -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    out += [("shared real_photos", p) for p in sorted((DATA / "real_photos").rglob("*"))
            if p.suffix.lower() in IMAGE_EXT]
    manifest = DATA / "modern" / "manifest.csv"
    if manifest.exists():
        for row in csv.DictReader(manifest.open()):
            if row["label"] == "real":
                out.append(("shared modern (real rows)", DATA / "modern" / row["path"]))
    for root, label in ((Path("/usr/share/backgrounds/mate"), "/usr/share/backgrounds/mate"),
                        (Path("/usr/share/doc/opencv-doc/examples/data"), "OpenCV sample images")):
        if root.exists():
            out += [(label, p) for p in sorted(root.rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_EXT]
    return out


def _agreements(rgb: np.ndarray) -> dict[str, float]:
    """Bit agreement with every payload, on any size >= 256² (the production path also skips > 2048²)."""
    ll = wm._haar_ll(wm._u_plane(rgb))
    out = {}
    for p in wm.KNOWN_PAYLOADS:
        bits = wm._bits_from_votes(wm._block_votes(wm._shift(ll, p.mode)), len(p.bits))
        out[p.name] = float(np.mean(bits == np.asarray(p.bits, bool)))
    return out


def false_positives() -> dict:
    per_source: dict[str, dict] = defaultdict(lambda: {"checked": 0, "small": 0, "large": 0, "errors": 0})
    maxima = {p.name: (0.0, "") for p in wm.KNOWN_PAYLOADS}
    all_agree: dict[str, list[float]] = defaultdict(list)
    detected = []
    for source, path in real_images():
        try:
            s = load(path)
        except Exception:  # a sample file Pillow cannot read: counted, not fatal
            per_source[source]["errors"] += 1
            continue
        n = s.width * s.height
        if n < wm.MIN_PIXELS:
            per_source[source]["small"] += 1
            continue
        per_source[source]["checked"] += 1
        if n > wm.MAX_PIXELS:
            per_source[source]["large"] += 1
        ag = _agreements(s.image)
        for k, v in ag.items():
            all_agree[k].append(v)
            if v > maxima[k][0]:
                maxima[k] = (v, f"{path.parent.name}/{path.name}")
            if v >= wm.required_agreement(len(next(p for p in wm.KNOWN_PAYLOADS if p.name == k).bits)):
                detected.append((k, str(path)))
    cifake = sorted((DATA / "cifake").rglob("*.jpg")) if (DATA / "cifake").exists() else []
    fakes = {"checked": 0, "small": 0, "detected": 0}
    manifest = DATA / "modern" / "manifest.csv"
    if manifest.exists():
        for row in csv.DictReader(manifest.open()):
            if row["label"] != "fake":
                continue
            s = load(DATA / "modern" / row["path"])
            if s.width * s.height < wm.MIN_PIXELS:
                fakes["small"] += 1
                continue
            fakes["checked"] += 1
            ag = _agreements(s.image)
            fakes["detected"] += any(ag[p.name] >= wm.required_agreement(len(p.bits)) for p in wm.KNOWN_PAYLOADS)
    return {"per_source": dict(per_source), "maxima": maxima, "detected": detected, "cifake": len(cifake),
            "p99": {k: float(np.percentile(v, 99)) for k, v in all_agree.items()},
            "mean": {k: float(np.mean(v)) for k, v in all_agree.items()}, "fakes": fakes}


# --------------------------------------------------------------------------- cost

def cost(rounds: int) -> dict:
    paths = make_jpegs(30, (1024, 768), WORK / "jpeg_1024x768")
    jpg = [p.read_bytes() for p in paths]
    samples = [decode(b, path=str(p)) for b, p in zip(jpg, paths, strict=True)]
    j444 = [_save(s.image, "JPEG", quality=90, subsampling=0) for s in samples]
    png = [_save(s.image, "PNG") for s in samples]
    s444 = [decode(b, path="x.jpg") for b in j444]
    spng = [decode(b, path="x.png") for b in png]
    try:
        import fakescope

        detectors = [fakescope.create_detector(n) for n in ("npr", "spectral")]
    except Exception as e:  # detectors not available in this checkout
        print(f"  detectors unavailable: {e}", file=sys.stderr)
        detectors = []
    with_wm, no_wm = ProvenanceOptions(), ProvenanceOptions(watermark=False)
    for s in samples[:3] + s444[:3] + spng[:3]:  # warm caches and lazy imports
        analyze_provenance(s, with_wm)
        for d in detectors:
            d.analyze(s)
    steps = {
        "decode JPEG q90 4:2:0 (fakescope.io.decode)": lambda i: decode(jpg[i], path="x.jpg"),
        "provenance, JPEG 4:2:0 (watermark skipped by format)": lambda i: analyze_provenance(samples[i], with_wm),
        "provenance, JPEG 4:2:0, watermark=False": lambda i: analyze_provenance(samples[i], no_wm),
        "decode JPEG q90 4:4:4": lambda i: decode(j444[i], path="x.jpg"),
        "provenance, JPEG 4:4:4 (watermark checked)": lambda i: analyze_provenance(s444[i], with_wm),
        "decode PNG": lambda i: decode(png[i], path="x.png"),
        "provenance, PNG (watermark checked)": lambda i: analyze_provenance(spng[i], with_wm),
        "watermark check alone (3 payloads)": lambda i: wm.check_watermarks(samples[i].image),
    }
    for d in detectors:
        steps[f"detector {d.name}"] = (lambda det: (lambda i: det.analyze(samples[i])))(d)
    per_round: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for name, fn in steps.items():
            t0 = time.perf_counter()
            for i in range(len(samples)):
                fn(i)
            per_round[name].append((time.perf_counter() - t0) / len(samples) * 1000)
    out = {k: statistics.median(v) for k, v in per_round.items()}
    # the reference decoder (invisible-watermark's WatermarkDecoder), one payload, a few images
    from imwatermark import WatermarkDecoder

    t0 = time.perf_counter()
    for s in samples[:5]:
        WatermarkDecoder("bits", 48).decode(np.ascontiguousarray(s.image[:, :, ::-1]), "dwtDct")
    out["invisible-watermark WatermarkDecoder (1 payload)"] = (time.perf_counter() - t0) / 5 * 1000
    out["_detectors"] = [d.name for d in detectors]
    return out


# --------------------------------------------------------------------------- report

def write(path: Path, rob: tuple[dict, int], fp: dict, cst: dict, seconds: float) -> None:
    table, n_photos = rob
    names = [p.name for p in wm.KNOWN_PAYLOADS]
    gens = {p.name: f"{p.generator} ({len(p.bits)} bits, needs ≥ {wm.required_agreement(len(p.bits)):.3f})"
            for p in wm.KNOWN_PAYLOADS}
    L = ["# Provenance benchmark", "",
         f"Written by `bench/provenance_bench.py` in {seconds:.0f} s on {machine()} (shared with other jobs, so "
         "timings are indicative).  Watermark threshold: bit agreement ≥ "
         f"{wm.DEFAULT_THRESHOLD} (`ProvenanceOptions.watermark_threshold`), raised for short payloads so that fair "
         f"coins reach it with probability ≤ {wm.CHANCE_LEVEL:g}.", "",
         "## Invisible watermark: detection rate after common edits", "",
         f"{n_photos} real photos (shared `real_photos`: 24 Kodak, 12 Wikipedia), each stamped with each payload as "
         "the reference code does, edited, saved and re-read through `fakescope.io.decode`.  Cell: share detected "
         "(median bit agreement).", "",
         "| edit | " + " | ".join(gens[n] for n in names) + " |",
         "|---|" + "---|" * len(names)]
    for attack in ATTACKS:
        L.append(f"| {attack} | " + " | ".join(f"{table[(n, attack)][0]:.0%} ({table[(n, attack)][1]:.2f})"
                                               for n in names) + " |")
    L += ["",
          "Reading: the dwtDct mark lives in the chroma (U) plane on the exact pixel grid.  Even unedited, it "
          "is not always readable: the reference encoder writes into a `uint8` image (truncation) and picks the "
          "largest coefficient of each block, which the edit itself can change, so on flat or grey images the "
          "payload never takes.  JPEG's default 4:2:0 chroma subsampling, any resize, and any crop that changes "
          "the width (the bit-to-block mapping follows the row length) destroy it; JPEG at 4:4:4 keeps it.  So a "
          "match is strong evidence, and its absence says nothing.", "",
          "## Invisible watermark: false positives on real images", "",
          "| source | checked | too small (< 256²) | larger than 2048² (checked here, skipped in scans) | unreadable |",
          "|---|---|---|---|---|"]
    total = 0
    for src, c in fp["per_source"].items():
        L.append(f"| {src} | {c['checked']} | {c['small']} | {c['large']} | {c['errors']} |")
        total += c["checked"]
    L += ["", f"**{len(fp['detected'])} false positives out of {total} real images checked** "
          f"(CIFAKE's {fp['cifake']} images are 32×32, below the 256×256 that dwtDct needs, and are not counted).", "",
          "| payload | mean agreement | 99th percentile | highest (image) | needed |", "|---|---|---|---|---|"]
    for p in wm.KNOWN_PAYLOADS:
        v, where = fp["maxima"][p.name]
        L.append(f"| {p.name} | {fp['mean'][p.name]:.3f} | {fp['p99'][p.name]:.3f} | {v:.3f} ({where}) | "
                 f"{wm.required_agreement(len(p.bits)):.3f} |")
    fk = fp["fakes"]
    L += ["", f"For reference, the AI images of `modern` (public repositories' sample outputs, mostly tiles cut from "
          f"grids or re-saved): {fk['detected']} of {fk['checked']} checked carry a detectable mark "
          f"({fk['small']} too small).", "",
          "## Cost per 1024×768 image (median ms over rounds, 30 images cut from real photos)", "",
          "Same pixels saved three ways; all steps interleaved in each round.  The machine is shared with a "
          "training job, so repeated runs differ by up to ~2× (the watermark check alone measured 2.8–5.4 ms).", "",
          "| step | ms / image |", "|---|---|"]
    for k, v in cst.items():
        if not k.startswith("_"):
            L.append(f"| {k} | {v:.2f} |")
    det = sum(v for k, v in cst.items() if k.startswith("detector "))
    names_det = ", ".join(cst["_detectors"]) or "none available"
    rows = (("JPEG q90 4:2:0 (typical web JPEG)", "decode JPEG q90 4:2:0 (fakescope.io.decode)",
             "provenance, JPEG 4:2:0 (watermark skipped by format)"),
            ("JPEG q90 4:4:4", "decode JPEG q90 4:4:4", "provenance, JPEG 4:4:4 (watermark checked)"),
            ("PNG", "decode PNG", "provenance, PNG (watermark checked)"))
    L += ["", f"Per-image scan cost: decode + detectors ({names_det}: {det:.1f} ms on the decoded pixels) "
          "+ provenance:",
          "", "| input | decode | detectors | provenance | provenance share |", "|---|---|---|---|---|"]
    for label, kd, kp in rows:
        total = cst[kd] + det + cst[kp]
        L.append(f"| {label} | {cst[kd]:.1f} | {det:.1f} | {cst[kp]:.1f} | {cst[kp] / total:.0%} |")
    L += ["", "Decision: the watermark is only looked for where it can survive (PNG, lossless WebP, TIFF, BMP, GIF, "
          "HEIF/AVIF, and 4:4:4 JPEGs, between 256×256 and 2048×2048 pixels): JPEG's default 4:2:0 subsampling "
          "erases it (table above), so checking such files would cost "
          f"{cst['watermark check alone (3 payloads)']:.1f} ms for nothing.  The vectorised decoder reads all "
          "three payloads at once and returns the same bits as `invisible-watermark`'s `WatermarkDecoder`, which "
          f"takes {cst['invisible-watermark WatermarkDecoder (1 payload)']:.0f} ms for one payload.  Reading a "
          "C2PA manifest costs about 1 ms and only happens when the bytes contain one.", ""]
    path.write_text("\n".join(L), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=DOCS / "provenance.md")
    args = ap.parse_args()
    t0 = time.perf_counter()
    print("cost ...", file=sys.stderr)
    cst = cost(args.rounds)
    print("false positives ...", file=sys.stderr)
    fp = false_positives()
    print("robustness ...", file=sys.stderr)
    rob = robustness()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write(args.out, rob, fp, cst, time.perf_counter() - t0)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
