"""Scoring attacks and defences on one footing: evasion, TPR at 1% FPR, AUC, PSNR and SSIM.

For every target (a shipped detector, or ``fusion``: the default scan's pixel fusion) the *same*
ONNX detectors a scan runs score the real images, the clean fakes and the attacked fakes (the
uint8 pixels that were written to disk).  A fake is *flagged* when its calibrated probability reaches
the target's default operating point (:class:`fakescope.fusion.Fuser` at 1% FPR on the calibration
split, the regime of the image's size: what ``fakescope scan --detectors D`` labels ``ai-generated``;
for ``fusion`` the default set of that regime).  The evasion rate is the share of the fakes flagged
clean that are no longer flagged after the attack.  TPR@1%FPR thresholds the raw scores at the
99th percentile of *these* reals' scores (before and after use the same reals: the attacker only
touches fakes).  Provenance and metadata are not part of these numbers (pixels only).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = ["psnr", "ssim", "target_scores", "evaluate", "purify", "PURIFIERS", "flag_threshold"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (``inf`` when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, *, sigma: float = 1.5) -> float:
    """Mean SSIM (Wang et al. 2004) over the colour channels: Gaussian window σ=1.5 (truncated at 3.5σ),
    K1=0.01, K2=0.03, L=255.

    >>> x = np.random.default_rng(0).integers(0, 255, (32, 32, 3)).astype(np.uint8)
    >>> ssim(x, x)
    1.0
    """
    from scipy.ndimage import gaussian_filter

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for c in range(a.shape[2]):
        x, y = a[..., c].astype(np.float64), b[..., c].astype(np.float64)
        f = lambda z: gaussian_filter(z, sigma, truncate=3.5, mode="reflect")  # noqa: E731
        mx, my = f(x), f(y)
        sxx, syy, sxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        vals.append(m.mean())
    return float(round(np.mean(vals), 6))


def _auc(neg: np.ndarray, pos: np.ndarray) -> float:
    from ..training.evaluate import roc_auc

    return float(roc_auc([0] * len(neg) + [1] * len(pos), np.concatenate([neg, pos])))


class Target:
    """One scored target: raw scores of images, and whether they are flagged at its operating point."""

    def __init__(self, name: str, min_side: int) -> None:
        from ..detectors import create_detector
        from ..fusion import Fuser

        self.name = name
        self.fuser = Fuser.default() if name == "fusion" else Fuser([name])
        self.members = self.fuser.detectors_for(min_side)
        self.dets = {m: create_detector(m) for m in self.members}
        self.min_side = min_side
        self.op = self.fuser.operating_point_for(min_side, None)

    def scores(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(raw fused logit, p_fake) per image."""
        raw = {m: d.raw_scores(list(images)) for m, d in self.dets.items()}
        p = np.array([self.fuser.pixel_probability({m: float(raw[m][i]) for m in self.members},
                                                   min_side=self.min_side) for i in range(len(images))])
        z = np.log(np.clip(p, 1e-12, 1) / np.clip(1 - p, 1e-12, 1))
        return z, p

    def flagged(self, p: np.ndarray) -> np.ndarray:
        return p >= self.op.threshold


def flag_threshold(target: str, min_side: int) -> float:
    """The p_fake at or above which ``target`` labels an image of this size ``ai-generated``."""
    return Target(target, min_side).op.threshold


def tpr_at_fpr(neg: np.ndarray, pos: np.ndarray, fpr: float = 0.01) -> float:
    thr = np.quantile(neg, 1.0 - fpr, method="higher")
    return float(np.mean(pos > thr))


_SCORES: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}  # (target, sha256 of the pixels) -> scores
_TARGETS: dict[tuple[str, int], Target] = {}


def target_scores(targets: Sequence[str], images: Mapping[str, np.ndarray]) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """``{target: {set: {"z": logits, "p": probabilities, "flag": flagged}}}`` for every named image set
    (scores of identical pixel arrays are computed once per process: the reals and clean fakes of a sweep)."""
    import hashlib

    min_side = min(next(iter(images.values())).shape[1:3])
    out: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for t in targets:
        tg = _TARGETS.setdefault((t, min_side), Target(t, min_side)) if (t, min_side) not in _TARGETS \
            else _TARGETS[(t, min_side)]
        out[t] = {}
        for k, ims in images.items():
            key = (t, hashlib.sha256(np.ascontiguousarray(ims).tobytes() + str(ims.shape).encode()).hexdigest())
            if key not in _SCORES:
                _SCORES[key] = tg.scores(list(ims))
            z, p = _SCORES[key]
            out[t][k] = {"z": z, "p": p, "flag": tg.flagged(p)}
    return out


def evaluate(reals: np.ndarray, fakes: np.ndarray, attacked: np.ndarray, *, targets: Sequence[str]) -> dict[str, Any]:
    """Per target: flagged rates before/after, the evasion rate, TPR@1%FPR and AUC before/after; and the
    perturbation's PSNR/SSIM (mean over the fakes) and largest change in grey levels."""
    sc = target_scores(targets, {"reals": reals, "fakes": fakes, "attacked": attacked})
    per: dict[str, Any] = {}
    for t in targets:
        r, f, a = sc[t]["reals"], sc[t]["fakes"], sc[t]["attacked"]
        before = f["flag"]
        evaded = before & ~a["flag"]
        per[t] = {
            "flagged_before": round(float(before.mean()), 4), "flagged_after": round(float(a["flag"].mean()), 4),
            "evasion_rate": round(float(evaded.sum() / max(1, before.sum())), 4),
            "tpr_at_1fpr_before": round(tpr_at_fpr(r["z"], f["z"]), 4),
            "tpr_at_1fpr_after": round(tpr_at_fpr(r["z"], a["z"]), 4),
            "auc_before": round(_auc(r["z"], f["z"]), 4), "auc_after": round(_auc(r["z"], a["z"]), 4),
            "mean_p_fake_before": round(float(f["p"].mean()), 4), "mean_p_fake_after": round(float(a["p"].mean()), 4),
            "real_flagged": round(float(r["flag"].mean()), 4),
        }
    d = attacked.astype(np.int16) - fakes.astype(np.int16)
    ps = [psnr(x, y) for x, y in zip(fakes, attacked)]
    finite = [p for p in ps if np.isfinite(p)]
    return {"targets": per,
            "perturbation": {"psnr_db": round(float(np.mean(finite)), 2) if finite else float("inf"),
                             "ssim": round(float(np.mean([ssim(x, y) for x, y in zip(fakes, attacked)])), 4),
                             "linf_grey_levels": int(np.abs(d).max()) if d.size else 0,
                             "l2_rms_grey_levels": round(float(np.sqrt((d.astype(np.float64) ** 2).mean())), 3)}}


# ----------------------------------------------------------------------------------------------
# purification defences


def _jpeg(images: np.ndarray, quality: int = 75) -> np.ndarray:
    from ..perturbations import apply_perturbation

    return np.stack([apply_perturbation("jpeg", im, quality=quality, subsampling="4:2:0") for im in images])


def _blur(images: np.ndarray, sigma: float = 0.8) -> np.ndarray:
    from ..perturbations import apply_perturbation

    return np.stack([apply_perturbation("gaussian-blur", im, sigma=sigma) for im in images])


def _dae(images: np.ndarray) -> np.ndarray:
    from .autoencoders import apply_autoencoder

    return apply_autoencoder("dae", images)


PURIFIERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"jpeg75": _jpeg, "blur": _blur, "dae": _dae}


def purify(name: str, images: np.ndarray) -> np.ndarray:
    """A purification defence on ``(N, H, W, 3)`` uint8: ``jpeg75``, ``blur`` (Gaussian σ=0.8) or ``dae``."""
    from ..errors import UsageError

    if name not in PURIFIERS:
        raise UsageError(f"unknown purifier {name!r}; valid: {', '.join(PURIFIERS)}")
    return PURIFIERS[name](images)


def evaluate_defence(name: str, reals: np.ndarray, fakes: np.ndarray, attacked: np.ndarray, *,
                     targets: Sequence[str]) -> dict[str, Any]:
    """A purifier applied to every input (reals, clean fakes, attacked fakes) before the targets score them:
    per target the TPR@1%FPR on purified attacked fakes, the share of the attack's TPR loss it recovers,
    and the clean AUC cost (clean AUC without minus with purification)."""
    pr, pf, pa = purify(name, reals), purify(name, fakes), purify(name, attacked)
    sc = target_scores(targets, {"reals": reals, "fakes": fakes, "attacked": attacked, "p_reals": pr,
                                 "p_fakes": pf, "p_attacked": pa})
    out = {}
    for t in targets:
        s = sc[t]
        before = tpr_at_fpr(s["reals"]["z"], s["fakes"]["z"])
        after = tpr_at_fpr(s["reals"]["z"], s["attacked"]["z"])
        purified = tpr_at_fpr(s["p_reals"]["z"], s["p_attacked"]["z"])
        lost = before - after
        out[t] = {"tpr_at_1fpr_clean": round(before, 4), "tpr_at_1fpr_attacked": round(after, 4),
                  "tpr_at_1fpr_purified_attacked": round(purified, 4),
                  "recovered_share": round((purified - after) / lost, 4) if lost > 1e-9 else None,
                  "clean_auc": round(_auc(s["reals"]["z"], s["fakes"]["z"]), 4),
                  "clean_auc_purified": round(_auc(s["p_reals"]["z"], s["p_fakes"]["z"]), 4),
                  "flagged_purified_attacked": round(float(s["p_attacked"]["flag"].mean()), 4),
                  "real_flagged_purified": round(float(s["p_reals"]["flag"].mean()), 4)}
        out[t]["clean_auc_cost"] = round(out[t]["clean_auc"] - out[t]["clean_auc_purified"], 4)
    return out
