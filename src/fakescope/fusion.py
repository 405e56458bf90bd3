"""Evidence → verdict, in one place.

The pixel detectors' raw scores are combined by logistic stacking fitted on the held-out
calibration split shipped in ``weights/calibration.json`` (never the test split).  The
fused probability is therefore calibrated for balanced classes.  The decision threshold is
the one that flags at most ``fpr`` of the calibration split's real images; below a second,
"real" threshold the image is called real, and in between the answer is an honest ``inconclusive``.

A low score is not proof: fakes of generators the detectors never saw score low too.  So the
"real" threshold is the lower of two cuts: the one under which at most ``miss_rate`` of the
calibration fakes fall, and the one under which at most ``unseen_miss`` (10%) of the fakes of
*every* source the detectors never saw fall, as stored and laundered (``weights/wild.json``,
:mod:`fakescope.build.generalisation`).  Scores outside everything the calibration and those
sources covered (:meth:`Fuser.outside_coverage`) give ``inconclusive`` with that reason.

Provenance evidence (a later analyzer family) enters here too: ``weight="strong"`` items
decide the label whatever the pixels say; ``weight="weak"`` items shift the log-odds a
little and can never flip a label on their own.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .errors import UsageError, WeightsError
from .fitting import _sigmoid, fit_logistic, fit_stacker
from .regimes import HELDOUT_PREFIX, REGIMES, THUMBNAIL_MAX_SIDE, condition_key, fit_weights, regime_of
from .types import Attribution, Evidence

__all__ = ["CalibrationSet", "CascadeScores", "WildScores", "load_cascade", "load_wild", "Fuser", "OperatingPoint",
           "Decision", "attach_where_and_who", "fit_logistic", "load_calibration", "real_rule", "default_detectors", "default_regime_detectors",
           "regime_of", "THUMBNAIL_MAX_SIDE"]

CALIBRATION_FILE = Path(__file__).resolve().parent / "weights" / "calibration.json"
CASCADE_FILE = Path(__file__).resolve().parent / "weights" / "cascade.json"
WILD_FILE = Path(__file__).resolve().parent / "weights" / "wild.json"
UNSEEN_MISS = 0.10  # at most this share of any never-seen source's fakes may be labelled real
MIN_UNSEEN_UNIT = 5  # images a never-seen source needs to count in that rule
MIN_CONDITION_REALS = 100  # held-out real images a compression class needs for a threshold of its own
WEAK_SHIFT_MAX = 0.75  # the most a weak item may move the log-odds


def _self_declared(e: Evidence) -> bool:
    """A signed declaration whose signer no trusted authority vouches for (C2PA ``details.self_declared``)."""
    return bool((e.details or {}).get("self_declared"))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))




def heldout_mask(groups: Sequence[str]) -> np.ndarray:
    """True for the rows of held-out-decoder fakes (``heldout:*`` groups, bench/heldout_decoders.py):
    kept in the calibration split to choose the ensemble's stacker, never to fit the default fusion
    or to choose the default sets."""
    return np.array([g.startswith(HELDOUT_PREFIX) for g in groups], bool)


@dataclass(frozen=True)
class CalibrationSet:
    """Raw detector scores on the held-out calibration split."""

    split: str
    labels: np.ndarray  # 0 real, 1 fake
    groups: tuple[str, ...]
    scores: Mapping[str, np.ndarray]
    min_side: tuple[int, ...] | None = None  # each image's smaller side, when recorded
    default: tuple[str, ...] = ()  # the detectors a plain scan fuses (empty: every scored detector)
    regime_default: Mapping[str, tuple[str, ...]] | None = None  # per-regime default sets, when chosen so
    sha256: str = ""  # of the file it was read from
    variants: tuple[str, ...] | None = None  # each row's variant ("original", "jpeg90", "thumbnail-64"), when recorded

    def fit_mask(self) -> np.ndarray:
        """Rows the fusion is fitted on: all but the held-out-decoder fakes (groups ``heldout:*``), which
        the calibration split keeps to choose the ensemble's stacker, not to fit the default fusion."""
        return ~heldout_mask(self.groups) if self.groups else np.ones(self.labels.size, bool)

    def fit_weights(self) -> np.ndarray:
        """Each row's weight in the stackers' fits (:func:`fakescope.regimes.fit_weights`: native and made
        thumbnails weigh equally in the thumbnail regime; every other row 1)."""
        return fit_weights(self.min_sides(), self.variants)

    def min_sides(self) -> list[int | None]:
        """Each calibration image's smaller side (from the file, else from its group: CIFAKE is 32 px)."""
        if self.min_side is not None:
            return list(self.min_side)
        return [32 if g.startswith("cifake") else None for g in self.groups] if self.groups else \
            [None] * int(self.labels.size)

    @classmethod
    def from_json(cls, path: str | Path) -> "CalibrationSet":
        try:
            raw_bytes = Path(path).read_bytes()
            d = json.loads(raw_bytes)
        except FileNotFoundError:
            raise WeightsError(f"calibration file not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise WeightsError(f"calibration file {path} is not valid JSON: {e}") from None
        labels = np.asarray(d["labels"], np.int64)
        scores = {k: np.asarray(v, np.float64) for k, v in d["scores"].items()}
        for k, v in scores.items():
            if v.shape != labels.shape:
                raise WeightsError(f"calibration scores for {k!r} have {v.size} values, labels {labels.size}")
        ms = d.get("min_side")
        variants = d.get("variants")
        if variants is not None and len(variants) != labels.size:
            raise WeightsError(f"calibration file {path}: {len(variants)} variants for {labels.size} rows")
        raw_default = d.get("default") or ()
        regime_default = None
        if isinstance(raw_default, dict):
            if set(raw_default) != set(REGIMES):
                raise WeightsError(f"calibration file {path}: a per-regime default needs exactly {REGIMES}")
            regime_default = {r: tuple(raw_default[r]) for r in REGIMES}
            default = tuple(dict.fromkeys(n for r in REGIMES for n in regime_default[r]))
        else:
            default = tuple(raw_default)
        unknown = [k for k in default if k not in scores]
        if unknown:
            raise WeightsError(f"calibration file {path}: default detectors {unknown} have no scores")
        return cls(split=d.get("split", ""), labels=labels, groups=tuple(d.get("groups", [])), scores=scores,
                   min_side=tuple(int(v) for v in ms) if ms is not None else None, default=default,
                   regime_default=regime_default, sha256=hashlib.sha256(raw_bytes).hexdigest(),
                   variants=tuple(variants) if variants is not None else None)


@lru_cache(maxsize=4)
def load_calibration(path: str = str(CALIBRATION_FILE)) -> CalibrationSet:
    """The shipped calibration split's raw detector scores (cached)."""
    return CalibrationSet.from_json(path)


@dataclass(frozen=True)
class CascadeScores:
    """First-stage raw scores of the full-resolution default detectors on the calibration split.

    Written by ``bench/cascade.py`` into ``weights/cascade.json``.  ``members`` says what each
    detector contributes to the first stage: ``"half"`` (half of its tiles,
    :meth:`fakescope.detectors.Detector.staged_raw_score`) or ``"full"`` (its whole score);
    ``scores`` are row-aligned with the calibration file whose sha256 is
    ``calibration_sha256`` (NaN for rows without two stages: thumbnails, one-tile images).
    """

    calibration_sha256: str
    members: Mapping[str, str]
    scores: Mapping[str, np.ndarray]
    safety_margin: float = 0.5  # logits added to the smallest margin that kept every calibration label

    @classmethod
    def from_json(cls, path: str | Path) -> "CascadeScores":
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
            members = {str(k): str(v) for k, v in d["members"].items()}
            scores = {k: np.array([np.nan if v is None else float(v) for v in d["scores"][k]], np.float64)
                      for k in members}
            out = cls(calibration_sha256=str(d["calibration_sha256"]), members=members, scores=scores,
                      safety_margin=float(d.get("safety_margin", 0.5)))
        except FileNotFoundError:
            raise WeightsError(f"cascade file not found: {path}") from None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise WeightsError(f"cannot read cascade file {path}: {e}") from None
        bad = [m for m, v in out.members.items() if v not in ("half", "full")]
        if bad:
            raise WeightsError(f"cascade file {path}: members {bad} must be 'half' or 'full'")
        return out


@lru_cache(maxsize=4)
def load_cascade(path: str = str(CASCADE_FILE)) -> CascadeScores | None:
    """The shipped first-stage calibration scores, or None when there is no cascade file."""
    return CascadeScores.from_json(path) if Path(path).is_file() else None


@dataclass(frozen=True)
class WildScores:
    """Raw detector scores on images no detector trained or was calibrated on, as stored and laundered.

    Written by the ``wild`` build step (:func:`fakescope.build.generalisation.write_wild`) into
    ``weights/wild.json``.  ``unseen`` marks the rows of sources no shipped detector saw (the
    never-seen generators and the wild sources); ``units`` name the source each row counts for.
    """

    labels: np.ndarray
    units: tuple[str, ...]
    unseen: np.ndarray
    conditions: tuple[str, ...]
    min_side: np.ndarray
    scores: Mapping[str, np.ndarray]
    compression: tuple[str, ...] | None = None  # compression class per row (io.decode.compression_class)
    images: np.ndarray | None = None  # which image each row is a condition of (rows of one image share it)

    @classmethod
    def from_json(cls, path: str | Path) -> "WildScores":
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
            labels = np.asarray(d["labels"], np.int64)
            out = cls(labels=labels, units=tuple(d["units"]), unseen=np.asarray(d["unseen"], bool),
                      conditions=tuple(d["conditions"]), min_side=np.asarray(d["min_side"], np.int64),
                      scores={k: np.asarray(v, np.float64) for k, v in d["scores"].items()},
                      compression=tuple(d["compression"]) if "compression" in d else None,
                      images=np.asarray(d["images"], np.int64) if "images" in d else None)
        except FileNotFoundError:
            raise WeightsError(f"wild scores file not found: {path}") from None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise WeightsError(f"cannot read wild scores file {path}: {e}") from None
        n = labels.size
        if any(len(v) != n for v in (out.units, out.unseen, out.conditions, out.min_side, out.compression or out.units,
                                     out.images if out.images is not None else out.units)) or \
                any(v.size != n for v in out.scores.values()):
            raise WeightsError(f"wild scores file {path}: rows of unequal length")
        return out

    def subset(self, keep: np.ndarray) -> "WildScores":
        """The rows where ``keep`` is true (leave-one-source-out checks of the "real" rule)."""
        keep = np.asarray(keep, bool)
        return WildScores(labels=self.labels[keep], units=tuple(np.asarray(self.units)[keep].tolist()),
                          unseen=self.unseen[keep], conditions=tuple(np.asarray(self.conditions)[keep].tolist()),
                          min_side=self.min_side[keep], scores={k: v[keep] for k, v in self.scores.items()},
                          compression=None if self.compression is None else
                          tuple(np.asarray(self.compression)[keep].tolist()),
                          images=None if self.images is None else self.images[keep])


@lru_cache(maxsize=4)
def load_wild(path: str = str(WILD_FILE)) -> WildScores | None:
    """The shipped wild scores, or None when there is no such file."""
    return WildScores.from_json(path) if Path(path).is_file() else None


def _wilson_lower(k: int, n: int, z: float = 1.645) -> float:
    """One-sided lower confidence bound (95% at z = 1.645) of a proportion ``k / n`` (Wilson score).

    >>> round(_wilson_lower(3, 300), 4), round(_wilson_lower(30, 300), 4)
    (0.004, 0.075)
    """
    if n <= 0:
        return 0.0
    ph = k / n
    den = 1 + z * z / n
    centre = ph + z * z / (2 * n)
    half = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n))
    return max(0.0, (centre - half) / den)


def _auc(neg: np.ndarray, pos: np.ndarray) -> float:
    """ROC AUC of positives over negatives (the metric library's, ties counting one half)."""
    from .benchmark.metrics import roc_auc

    return roc_auc(np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos])


def _logit_arr(p: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Log-odds of probabilities clamped to ``[eps, 1 - eps]``."""
    q = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    return np.log(q / (1 - q))


def _unit_cuts(z: np.ndarray, units: np.ndarray, q: float, min_n: int,
               images: np.ndarray | None = None) -> dict[str, float]:
    """Each unit's lower q-cut in logits: halfway between its k-th and (k+1)-th lowest score, k = floor(q n),
    so that rounding in a later evaluation of the same scores cannot move a fake across it.  A unit
    needs ``min_n`` distinct ``images`` (rows, when not given)."""
    out = {}
    for u in np.unique(units):
        m = units == u
        v = np.sort(z[m])
        if (v.size if images is None else np.unique(images[m]).size) >= min_n:
            k = int(np.floor(q * v.size))
            out[str(u)] = float((v[k - 1] + v[k]) / 2) if k > 0 else float(v[0]) - 1e-6
    return out


REAL_MARGINS = tuple(np.arange(0.0, 4.01, 0.25))  # standard deviations of the units' cuts, tried in order


def real_rule(p: np.ndarray, units: Sequence[str], *, q: float = 0.10, min_n: int = 5,
              cells: Sequence[str] | None = None, images: Sequence[int] | None = None) -> tuple[float, float]:
    """The "real" cut on ``p_fake`` from the fakes of never-seen sources (``units``), and its margin.

    Each unit (with at least ``min_n`` distinct ``images``; rows when not given) has its lower q-cut; the rule takes the lowest of them
    minus ``margin`` standard deviations of the units' cuts (in logits).  The margin is chosen by
    leaving each unit out: the smallest of :data:`REAL_MARGINS` at which the cut fitted on the other
    units keeps at most a share ``q`` of the left-out unit's fakes below it — in every one of its
    ``cells`` (e.g. laundering conditions) when given.  A source nobody saw may score lower than all
    the known ones; the margin is what leaving each known one out says it takes.

    Returns ``(cut, margin)``; ``(0.0, inf)`` when no margin passes that check (a left-out source
    falls below any cut the others allow: pixels must then never say real); ``(0.0, nan)`` when no
    unit has ``min_n`` rows (nothing to go by).

    >>> p = np.r_[np.linspace(.2, .9, 20), np.linspace(.1, .8, 20), np.linspace(.3, .95, 20)]
    >>> cut, margin = real_rule(p, ["a"] * 20 + ["b"] * 20 + ["c"] * 20, q=0.1)
    >>> bool(0 < cut < 0.15), float(margin) >= 0
    (True, True)
    """
    z = _logit_arr(p)
    units = np.asarray(units)
    cells = np.asarray(cells) if cells is not None else np.full(units.size, "")
    imgs = np.asarray(images) if images is not None else None
    cuts = _unit_cuts(z, units, q, min_n, imgs)
    if not cuts:
        return 0.0, float("nan")

    def cut_at(c: dict[str, float], margin: float) -> float:
        vals = np.array(list(c.values()))
        sd = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
        return float(vals.min() - margin * sd)

    chosen = float("inf")
    if len(cuts) < 3:  # leave-one-unit-out needs at least two units left to measure a spread
        chosen = REAL_MARGINS[-1]
    else:
        for margin in REAL_MARGINS:
            worst = 0.0
            for u in cuts:
                others = {k: v for k, v in cuts.items() if k != u}
                t = cut_at(others, margin)
                m = units == u
                worst = max([worst] + [float(np.mean(z[m & (cells == c)] < t)) for c in np.unique(cells[m])])
            if worst <= q:
                chosen = margin
                break
    if not math.isfinite(chosen):
        return 0.0, chosen
    t = cut_at(cuts, chosen)
    return float(1.0 / (1.0 + np.exp(-t))), float(chosen)


def default_detectors() -> tuple[str, ...]:
    """The detectors fused by default: the calibration file's ``default`` list (else every scored detector).

    The calibration split holds raw scores of every shipped detector so any subset can be fused
    (``--detector``); the default is the combination measured best on held-out data.
    """
    cal = load_calibration()
    return cal.default or tuple(sorted(cal.scores))


def default_regime_detectors() -> dict[str, tuple[str, ...]] | None:
    """Per-regime default sets (thumbnails may fuse more detectors than full-resolution images:
    on 32-px images every detector is cheap), or None when one set serves both."""
    cal = load_calibration()
    return dict(cal.regime_default) if cal.regime_default else None


@dataclass(frozen=True)
class OperatingPoint:
    fpr: float  # requested
    threshold: float  # p_fake at or above which the label is ai-generated
    real_threshold: float  # p_fake below which the label is real
    calibration_fpr: float  # reached on the calibration split
    calibration_tpr: float
    n_real: int = 0  # calibration images behind it
    n_fake: int = 0
    #: what set ``real_threshold``: "calibration" (the miss rate on calibration fakes), "unseen
    #: sources" (at most ``unseen_miss`` of every never-seen source's fakes below it), or "not established"
    #: (no held-out rule could be measured for these detectors: ``real_threshold`` is 0, pixels never say
    #: real; ``real_note`` says why)
    real_basis: str = "calibration"
    unseen_miss: float = 0.0
    real_margin: float = 0.0  # standard deviations of the sources' cuts below the lowest (see real_rule)
    #: the compression class this point holds for ("" all): raised where held-out real photos of that
    #: class reach the fpr at a higher threshold (lossy WebP makes real photos look fake to some detectors)
    condition: str = ""
    n_condition_reals: int = 0
    real_note: str = ""  # why no "real" rule was established (real_basis "not established")


def _condition_words(key: str) -> str:
    """A per-condition threshold's key (:func:`fakescope.regimes.condition_key`) in words ("" for none).

    >>> _condition_words("jpeg@65-159"), _condition_words("lossless"), _condition_words("")
    ('stored as JPEG, 65-159 px on the smaller side', 'stored losslessly', '')
    """
    if not key:
        return ""
    comp, _, size = key.partition("@")
    words = {"webp-lossy": "stored as lossy WebP", "jpeg": "stored as JPEG",
             "lossless": "stored losslessly", "other": "in this format"}.get(comp, f"stored as {comp}")
    if size:
        words += (f", {size[:-1]} px or more on the smaller side" if size.endswith("+")
                  else f", {size} px on the smaller side")
    return words


@dataclass(frozen=True)
class Decision:
    p_fake: float
    label: str
    threshold: float
    operating_fpr: float
    explanation: str
    generator: Attribution | None = None
    pixel_p_fake: float | None = None
    reasons: tuple[str, ...] = field(default_factory=tuple)


MIN_PER_CLASS = 20


@dataclass(frozen=True)
class _Coverage:
    """Where the calibration and the wild rows put a stacker's raw-score vectors, across its decision
    direction: the detectors' scores are projected onto the directions along which the fused
    log-odds do not change (where the detectors *disagree*), and an input farther from the covered
    rows' centre there (Mahalanobis) than every covered row is outside.  Being more extreme along
    the decision direction itself (every detector surer than ever) is not: the fusion is monotone
    there.  One detector: no such directions, nothing is outside."""

    centre: np.ndarray
    basis: np.ndarray  # (d, d-1) orthonormal directions across the decision direction
    inv_cov: np.ndarray
    cut: float

    def distance(self, x: np.ndarray) -> np.ndarray:
        y = (np.atleast_2d(x) - self.centre) @ self.basis
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", y, self.inv_cov, y), 0.0))

    @classmethod
    def fit(cls, x: np.ndarray, direction: np.ndarray) -> "_Coverage | None":
        d = x.shape[1]
        if d < 2 or not np.any(direction):
            return None
        u = direction / np.linalg.norm(direction)
        q, _ = np.linalg.qr(np.c_[u, np.eye(d)])  # first column spans u, the next d-1 complete the basis
        basis = q[:, 1:d]
        centre = x.mean(axis=0)
        y = (x - centre) @ basis
        cov = np.atleast_2d(np.cov(y, rowvar=False))
        inv = np.linalg.inv(cov + 1e-6 * np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0]) + 1e-12 * np.eye(cov.shape[0]))
        cover = cls(centre, basis, inv, 0.0)
        return cls(centre, basis, inv, float(cover.distance(x).max()))


@dataclass(frozen=True)
class _Stacker:
    mu: np.ndarray
    sd: np.ndarray
    weights: np.ndarray
    bias: float
    op: "OperatingPoint"
    coverage: _Coverage | None = None
    condition_ops: Mapping[str, "OperatingPoint"] = field(default_factory=dict)

    def op_for(self, compression: str | None, min_side: int | None = None) -> "OperatingPoint":
        """The operating point for inputs of this compression class and smaller side: the ``ai-generated``
        threshold of the size class where its held-out reals were enough to judge it
        (:func:`fakescope.regimes.condition_key`), else the compression class's, else the plain one."""
        ops = self.condition_ops
        return ops.get(condition_key(compression, min_side)) or ops.get(compression or "", self.op)

    def p(self, x: np.ndarray) -> np.ndarray:
        return _sigmoid(((x - self.mu) / self.sd) @ self.weights + self.bias)


@dataclass(frozen=True)
class _Cascade:
    """The early exit for full-resolution images (see :meth:`Fuser.early_exit`)."""

    plan: Mapping[str, str]  # member -> "half" | "full"
    stacker: _Stacker  # fitted on the first-stage scores
    margin: float  # logits beyond the first-stage thresholds
    calibration_exit_rate: float  # share of the calibration rows that would exit

    def exits(self, p: np.ndarray) -> np.ndarray:
        """Whether first-stage probabilities settle the label (see :func:`_exits`)."""
        return _exits(p, self.stacker.op, self.margin)


_LABELS = ("real", "inconclusive", "ai-generated")


def _labels(p: np.ndarray, op: "OperatingPoint") -> np.ndarray:
    """0 real, 1 inconclusive, 2 ai-generated: pixel evidence labelled at an operating point
    (indices into ``_LABELS``; :meth:`Fuser.decide` labels with it too)."""
    return np.where(p >= op.threshold, 2, np.where(p < op.real_threshold, 0, 1))


def _exits(p: np.ndarray, op: "OperatingPoint", margin: float) -> np.ndarray:
    """Whether probabilities lie beyond the operating point's thresholds by ``margin`` logits."""
    z = _logit_arr(p, 1e-6)  # the clamp of _logit
    return (z >= _logit(op.threshold) + margin) | (z < _logit(op.real_threshold) - margin)


def _generator(items: Sequence[Evidence]) -> Attribution | None:
    """The generator named by the most decisive AI-leaning evidence item, if any."""
    named = [e for e in items if e.score >= 0.5 and isinstance(e.details.get("generator"), str)
             and e.details["generator"].strip()]
    if not named:
        return None
    e = max(named, key=lambda e: e.score)
    return Attribution(name=e.details["generator"].strip(), family=str(e.details.get("family") or "unknown"),
                       confidence=float(e.score))


def attach_where_and_who(d: "Decision", items: Sequence[Evidence]) -> "Decision":
    """``d`` with the pixel attribution and the localization items (``kind`` ``attribution`` /
    ``localization``, weight ``none``: they say which generator and where, never whether) put into words:
    the verdict's ``generator`` from pixels when nothing named one and the label is ``ai-generated``, and
    the explanation followed by the generator (or its family) with its confidence and the marked regions."""
    from dataclasses import replace

    from .attribution.families import family_words

    generator, extra = d.generator, []
    for e in items:
        if e.kind == "attribution" and d.label == "ai-generated" and generator is None:
            det = e.details
            name, fam, conf = str(det.get("generator") or "unknown"), str(det.get("family") or "unknown"), \
                float(det.get("confidence") or 0.0)
            generator = Attribution(name=name, family=fam, confidence=conf)
            a = det.get("attribution") or {}
            if det.get("reason"):
                extra.append(f"Which generator: not attributed ({e.summary})")
            elif name != "unknown":
                extra.append(f"Which generator: the pixels resemble {name} ({family_words(fam)}) most "
                             f"(confidence {conf:.2f} among {a.get('classes', 'the')} known generators, an estimate from pixels: "
                             "docs/benchmarks/attribution.md)")
            elif fam != "unknown":
                extra.append(f"Which generator: no known generator matches closely (nearest {a.get('nearest', '?')}), "
                             f"but the family looks like {family_words(fam)} (confidence {conf:.2f})")
            else:
                extra.append("Which generator: unknown; no known generator or family matches closely (nearest "
                             f"{a.get('nearest', '?')}); enrol examples with 'fakescope enroll' to name it")
        elif e.kind == "localization":
            regions = (e.details or {}).get("regions") or []
            if regions:
                where = "; ".join(f"{r['where']} ({100 * r['fraction']:.0f}% of the image)" for r in regions)
                note = (" (the map looks for edited parts of an otherwise real photo: for a wholly generated image "
                        "it only says where the traces are strongest)") if d.label == "ai-generated" else ""
                extra.append(f"Where: the localization map marks {where}{note}")
            else:
                extra.append("Where: the localization map marks no region: no part of the image stands out "
                             "from the rest")
    text = (d.explanation or "").rstrip()
    if extra:
        text = (text + " " if text else "") + ". ".join(extra) + "."
    return replace(d, generator=generator, explanation=text)


class Fuser:
    """Stacks detector scores into one calibrated ``p_fake`` and decides at an operating point.

    Parameters
    ----------
    detectors : names of the detectors whose raw scores are fused (must be in the calibration set).
    fpr : target false-positive rate on real images (0 < fpr < 0.5).
    miss_rate : at most this share of calibration fakes may fall in the "real" region.
    calibration : a :class:`CalibrationSet` (default: the shipped one).
    regime_detectors : optional per-regime subsets of ``detectors`` (``{"thumbnail": [...], "full": [...]}``);
        default: every detector in both regimes.  :meth:`default` uses the calibrated default.
    cascade : first-stage calibration scores (:class:`CascadeScores`) enabling the early exit for
        full-resolution images, when they cover exactly the full-resolution set and belong to
        this calibration file; :meth:`default` passes the shipped ones.
    wild : scores on never-seen sources (:class:`WildScores`; default: the shipped ``weights/wild.json``;
        None: the "real" cut from the calibration split alone, for experiments only: the scan never does
        this).  When they hold every fused detector, the "real" cut keeps at most ``unseen_miss`` of every
        never-seen source's fakes below it, and they widen the region of scores the fusion counts as
        covered.  When they lack one of the fused detectors, or hold too few never-seen fakes of a regime
        to set that rule, pixels never say real there (``real_basis`` "not established"): a weak or new
        detector set cannot call an image real from a merely low score.
    unseen_miss : see ``wild``.
    """

    @classmethod
    def default(cls, *, fpr: float = 0.01, miss_rate: float = 0.05) -> "Fuser":
        """The fusion a plain scan uses: the calibrated default set(s) of the shipped calibration split."""
        return cls(default_detectors(), fpr=fpr, miss_rate=miss_rate, regime_detectors=default_regime_detectors(),
                   cascade=load_cascade())

    def __init__(self, detectors: Sequence[str], *, fpr: float = 0.01, miss_rate: float = 0.05,
                 calibration: CalibrationSet | None = None,
                 regime_detectors: Mapping[str, Sequence[str]] | None = None,
                 cascade: CascadeScores | None = None, wild: "WildScores | None | str" = "shipped",
                 unseen_miss: float = UNSEEN_MISS) -> None:
        if not 0.0 < fpr < 0.5:
            raise UsageError(f"fpr must be between 0 and 0.5, got {fpr}")
        if not 0.0 < miss_rate < 0.5:
            raise UsageError(f"miss_rate must be between 0 and 0.5, got {miss_rate}")
        cal = calibration or load_calibration()
        missing = [d for d in detectors if d not in cal.scores]
        if missing:
            raise UsageError(f"no calibration scores for detector(s) {missing}; calibrated: {sorted(cal.scores)}")
        if not detectors:
            raise UsageError("at least one detector is needed")
        if not 0.0 < unseen_miss < 0.5:
            raise UsageError(f"unseen_miss must be between 0 and 0.5, got {unseen_miss}")
        self.unseen_miss = float(unseen_miss)
        self._wild = load_wild() if isinstance(wild, str) else wild
        self.detectors = tuple(detectors)
        self.fpr = float(fpr)
        self.miss_rate = float(miss_rate)
        self.calibration_split = cal.split
        self._calibration = cal
        self._subsets: dict[tuple[tuple[str, ...], str], _Stacker] = {}
        self._names: dict[str, tuple[str, ...]] = {}
        for r in REGIMES:
            names = tuple(regime_detectors[r]) if regime_detectors and r in regime_detectors else self.detectors
            extra = [d for d in names if d not in self.detectors]
            if extra or not names:
                raise UsageError(f"regime {r!r}: detectors {list(names)} must be a non-empty subset of "
                                 f"{list(self.detectors)}")
            self._names[r] = names
        regimes = np.array([regime_of(s) for s in cal.min_sides()])
        fit = cal.fit_mask()
        wt = cal.fit_weights()
        self._models: dict[str, _Stacker] = {}
        for r in REGIMES:
            x = np.stack([cal.scores[d] for d in self._names[r]], axis=1)
            m = (regimes == r) & fit
            n_real, n_fake = int(np.sum(cal.labels[m] == 0)), int(np.sum(cal.labels[m] == 1))
            # a regime with too few calibration images of either class falls back to the pooled fit
            if min(n_real, n_fake) < MIN_PER_CLASS:
                m = fit
            self._models[r] = self._fit(x[m], cal.labels[m], self._names[r], r, weight=wt[m])
        self._cascade = self._fit_cascade(cal, cascade, (regimes == "full") & fit)

    def _fit_cascade(self, cal: CalibrationSet, cascade: CascadeScores | None, rows: np.ndarray) -> _Cascade | None:
        """The early exit: a stacker on the first-stage scores, its own operating point, and the
        margin beyond its thresholds at which no calibration image's label differs from the full
        scan's (the smallest such margin on a 0.25-logit grid, plus ``cascade.safety_margin``)."""
        names = self._names["full"]
        if cascade is None or set(cascade.members) != set(names) or cascade.calibration_sha256 != cal.sha256:
            return None
        x1 = np.stack([cascade.scores[d] for d in names], axis=1)
        if x1.shape[0] != cal.labels.size:
            return None
        xb = np.stack([cal.scores[d] for d in names], axis=1)
        m = rows & np.isfinite(x1).all(axis=1)
        y = cal.labels[m]
        if min(int(np.sum(y == 0)), int(np.sum(y == 1))) < MIN_PER_CLASS:
            return None
        st = self._fit(x1[m], y)
        full = self._models["full"]
        if full.op.real_basis != "calibration":  # the wild rule has no first-stage scores: no early "real"
            st = replace(st, op=replace(st.op, real_threshold=0.0, real_basis=full.op.real_basis))
        p1 = st.p(x1[m])
        agree_ref = _labels(full.p(xb[m]), full.op)
        lab1 = _labels(p1, st.op)
        for margin in np.arange(0.0, 8.01, 0.25):
            ex = _exits(p1, st.op, margin)
            if not np.any(lab1[ex] != agree_ref[ex]):
                break
        else:
            return None
        margin = float(margin) + cascade.safety_margin
        return _Cascade(plan={d: cascade.members[d] for d in names}, stacker=st, margin=margin,
                        calibration_exit_rate=float(_exits(p1, st.op, margin).mean()))

    def stage_plan(self, min_side: int | None, compression: str | None = None) -> Mapping[str, str] | None:
        """For an image of this smaller side and compression class: what each detector scores in the
        first stage (``"half"`` or ``"full"``), or None when the image is always scored whole
        (thumbnails; no cascade; a class with a threshold of its own, where the first stage, calibrated
        at the plain one, may not exit)."""
        if self._cascade is None or regime_of(min_side) != "full":
            return None
        if self.operating_point_for(min_side, compression).condition:
            return None
        return self._cascade.plan

    @property
    def cascade_margin(self) -> float | None:
        """Logits beyond the first-stage thresholds needed to exit early (None: no cascade)."""
        return None if self._cascade is None else self._cascade.margin

    @property
    def cascade_exit_rate(self) -> float | None:
        """Share of the calibration split's full-resolution rows that exit early (None: no cascade)."""
        return None if self._cascade is None else self._cascade.calibration_exit_rate

    def early_exit(self, raw: Mapping[str, float], *, min_side: int | None = None,
                   compression: str | None = None) -> bool:
        """Whether first-stage raw scores (per :meth:`stage_plan`) settle the label: the first-stage
        probability is beyond its operating point's thresholds by the calibrated margin.  Never for
        scores outside the covered region, nor for a compression class with a threshold of its own
        (the first stage was calibrated at the plain one)."""
        c = self._cascade
        if c is None or regime_of(min_side) != "full":
            return False
        if self.operating_point_for(min_side, compression).condition:
            return False
        try:
            x = np.array([[float(raw[d]) for d in self._names["full"]]], np.float64)
        except KeyError:
            return False
        if not np.isfinite(x).all() or self.outside_coverage(raw, min_side=min_side) is not None:
            return False
        return bool(c.exits(c.stacker.p(x))[0])

    @property
    def operating_point(self) -> "OperatingPoint":
        """The operating point for full-resolution images (what users scan)."""
        return self._models["full"].op

    def operating_point_for(self, min_side: int | None, compression: str | None = None) -> "OperatingPoint":
        """The operating point for an image of this smaller side and compression class
        (:func:`fakescope.io.decode.compression_class`; None: the plain one)."""
        return self._models[regime_of(min_side)].op_for(compression, min_side)

    def detectors_for(self, min_side: int | None) -> tuple[str, ...]:
        """The detectors fused for an image of this smaller side."""
        return self._names[regime_of(min_side)]

    def _fit(self, x: np.ndarray, y: np.ndarray, names: Sequence[str] | None = None,
             regime: str | None = None, weight: np.ndarray | None = None) -> "_Stacker":
        """A stacker on calibration rows ``x`` (rows weighted by ``weight``: :meth:`CalibrationSet.fit_weights`);
        with the detectors' ``names`` and the ``regime``, the wild rows of that regime set its "real" cut
        (see the class docs) and join its coverage."""
        mu, sd, w, b = fit_stacker(x, y, sample_weight=weight)
        st = _Stacker(mu, sd, w, b, None)  # type: ignore[arg-type]
        op = self._operating_point(st.p(x), y)
        covered = x
        wild = self._wild
        lacking = sorted(n for n in names if n not in wild.scores) if names is not None and wild is not None else []
        if lacking:
            # a set whose scores on never-seen sources were never measured (weights/wild.json): the calibration
            # fakes' miss rate says nothing about fakes of generators the detectors never saw, so no "real"
            op = replace(op, real_threshold=0.0, real_basis="not established", real_note=(
                f"the scores of {', '.join(lacking)} on the fakes of generators the detectors never saw were never "
                "measured (weights/wild.json), so no held-out rule says how low such fakes score"))
        elif names is not None and wild is not None:
            established = False
            rows = np.array([regime_of(int(v)) == regime for v in wild.min_side], bool)
            xw = np.stack([wild.scores[n] for n in names], axis=1)[rows]
            covered = np.r_[x, xw]
            fakes = (wild.labels[rows] == 1) & wild.unseen[rows]
            units = np.asarray(wild.units)[rows][fakes]
            conds = np.asarray(wild.conditions)[rows][fakes]
            if wild.images is not None:  # a source counts with MIN_UNSEEN_UNIT images of this regime
                imgs, min_n = wild.images[rows][fakes], MIN_UNSEEN_UNIT
            else:  # older files: each image once per condition
                imgs, min_n = None, MIN_UNSEEN_UNIT * max(1, len(set(wild.conditions)))
            p_rows = st.p(xw)
            if fakes.any():
                cut, margin = real_rule(p_rows[fakes], units, q=self.unseen_miss, min_n=min_n, cells=conds,
                                        images=imgs)
                reals = wild.labels[rows] == 0
                if reals.any() and not math.isnan(margin) and _auc(p_rows[reals], p_rows[fakes]) < 0.5:
                    # in this regime the fused score ranks never-seen fakes below held-out reals: a low
                    # score says nothing, so pixels never say real here
                    cut, margin = 0.0, float("inf")
                established = not math.isnan(margin)
                if cut < op.real_threshold and established:
                    op = replace(op, real_threshold=cut, real_basis="unseen sources", unseen_miss=self.unseen_miss,
                                 real_margin=margin)
            if not established:
                op = replace(op, real_threshold=0.0, real_basis="not established", real_note=(
                    f"no source the detectors never saw has {MIN_UNSEEN_UNIT} or more "
                    f"{'thumbnail' if regime == 'thumbnail' else 'full-resolution'} fakes in the wild scores "
                    "(weights/wild.json), so no held-out rule says how low such fakes score"))
            condition_ops = {} if wild.compression is None else self._condition_ops(
                op, p_rows, wild.labels[rows], np.asarray(wild.compression)[rows], st.p(x), y,
                min_side=np.asarray(wild.min_side)[rows])
            return _Stacker(mu, sd, w, b, op, _Coverage.fit(covered, w / sd), condition_ops)
        return _Stacker(mu, sd, w, b, op, _Coverage.fit(covered, w / sd))

    def _condition_ops(self, op: "OperatingPoint", p: np.ndarray, y: np.ndarray, compression: np.ndarray,
                       p_cal: np.ndarray, y_cal: np.ndarray, *, min_side: np.ndarray | None = None
                       ) -> dict[str, "OperatingPoint"]:
        """Per compression class, the threshold at which at most ``fpr`` of the held-out real photos of
        that class are flagged — for the classes whose reals the plain threshold flags more often than
        ``fpr`` beyond sampling noise (the one-sided 95% Wilson lower bound of their false-positive rate
        is above ``fpr``).  Never below the plain threshold: a class is only ever judged more cautiously.

        With the rows' smaller sides (``min_side``), each compression class is also judged per size class
        (:func:`fakescope.regimes.condition_key`: a 256-px JPEG is not a camera JPEG): a size class with
        :data:`MIN_CONDITION_REALS` held-out reals gets its own point, which :meth:`_Stacker.op_for` prefers to
        the compression class's: the threshold at which at most ``fpr`` of its reals are flagged, or the plain
        one where that is lower (a conformal threshold per condition)."""
        keys = compression if min_side is None else np.array(
            [condition_key(c, int(s)) for c, s in zip(compression.tolist(), min_side.tolist())], dtype=object)
        cells = [(c, compression == c) for c in sorted(set(compression.tolist()))]
        if min_side is not None:  # a size class holding every real of its compression class adds nothing
            n_real = {c: int(np.sum((y == 0) & m)) for c, m in cells}
            cells += [(k, keys == k) for k in sorted(set(keys.tolist()))
                      if "@" in k and int(np.sum((y == 0) & (keys == k))) < n_real[k.partition("@")[0]]]
        out = {}
        for c, m in cells:
            reals = np.sort(p[(y == 0) & m])[::-1]
            if reals.size < MIN_CONDITION_REALS:
                continue
            # a compression class is raised only where its reals clearly need it; a size class, judged on its
            # own reals, takes their (1 - fpr) quantile (conformal) wherever that is above the plain threshold
            if "@" not in c and _wilson_lower(int(np.sum(reals >= op.threshold)), reals.size) <= self.fpr:
                continue
            k = int(math.floor(self.fpr * reals.size))
            t = float(np.nextafter(reals[k], np.inf)) if k < reals.size else 0.0
            if t > op.threshold:
                out[c] = replace(op, threshold=t, condition=c, n_condition_reals=int(reals.size),
                                 calibration_fpr=float(np.mean(reals >= t)),  # on that class's held-out reals
                                 calibration_tpr=float(np.mean(p_cal[y_cal == 1] >= t)))
            elif "@" in c:
                out[c] = op
        return out

    def outside_coverage(self, raw: Mapping[str, float], *, min_side: int | None = None) -> str | None:
        """Why these raw scores lie outside what the calibration and the wild rows covered (None: inside).

        The fused detectors' raw-score vector is compared with every covered row across the decision
        direction (:class:`_Coverage`): where the detectors disagree more than on any covered image,
        the calibrated probability is an extrapolation."""
        r = regime_of(min_side)
        names = self._names[r]
        if any(n not in raw for n in names):
            return None
        st = self._models[r]
        if st.coverage is None:
            return None
        x = np.array([[float(raw[n]) for n in names]], np.float64)
        d = float(st.coverage.distance(x)[0])
        if d <= st.coverage.cut:
            return None
        return (f"the detectors disagree more than on any calibration image ({', '.join(f'{n} {raw[n]:.2f}' for n in names)}; "
                f"Mahalanobis distance across the decision direction {d:.1f} > {st.coverage.cut:.1f})")

    def _operating_point(self, p: np.ndarray, y: np.ndarray) -> OperatingPoint:
        reals = np.sort(p[y == 0])[::-1]
        fakes = np.sort(p[y == 1])
        k = int(math.floor(self.fpr * reals.size))
        # exactly k calibration reals (no ties) are at or above the threshold
        t_fake = float(np.nextafter(reals[k], np.inf)) if k < reals.size else 0.0
        m = int(math.floor(self.miss_rate * fakes.size))
        t_real = float(fakes[m]) if m < fakes.size else 1.0
        t_real = min(t_real, t_fake, 0.5)  # p_fake of 0.5 or more is never called real
        return OperatingPoint(
            fpr=self.fpr, threshold=t_fake, real_threshold=t_real,
            calibration_fpr=float(np.mean(reals >= t_fake)), calibration_tpr=float(np.mean(fakes >= t_fake)),
            n_real=int(reals.size), n_fake=int(fakes.size),
        )

    def pixel_probability(self, raw: Mapping[str, float], *, min_side: int | None = None) -> float:
        """Calibrated probability from the detectors' raw scores, for an image of this smaller side."""
        r = regime_of(min_side)
        x = np.array([[raw[d] for d in self._names[r]]], np.float64)
        return float(self._models[r].p(x)[0])

    def _subset(self, names: tuple[str, ...], min_side: int | None) -> tuple["_Stacker", tuple[str, ...]]:
        """A stacker over the detectors that could score this image (some give no evidence on small
        images), fitted on the same calibration split and cached."""
        key = (names, regime_of(min_side))
        if key not in self._subsets:
            cal = self._calibration
            x = np.stack([cal.scores[d] for d in names], axis=1)
            fit = cal.fit_mask()
            m = (np.array([regime_of(s) for s in cal.min_sides()]) == key[1]) & fit
            y = cal.labels
            ok = m if min(int(np.sum(y[m] == 0)), int(np.sum(y[m] == 1))) >= MIN_PER_CLASS else fit
            self._subsets[key] = self._fit(x[ok], y[ok], names, key[1], weight=cal.fit_weights()[ok])
        return self._subsets[key], names

    def decide(self, evidence: Sequence[Evidence], raw: Mapping[str, float] | None = None, *,
               min_side: int | None = None, first_stage: bool = False, compression: str | None = None) -> Decision:
        """Turn all evidence for one image into a decision with its reasons, and say what would change it:
        the decision without the weightiest item (:meth:`top_item`), computed by deciding again without
        it (so the sentence is true by construction; tests/test_explanation.py checks it)."""
        d = self._decide(evidence, raw, min_side=min_side, first_stage=first_stage, compression=compression)
        top = None if first_stage else self.top_item(evidence, raw, min_side=min_side)
        if top is None:
            return d
        alt = self.decide_without(top, evidence, raw, min_side=min_side, compression=compression)
        what = f"{top.source}'s {'provenance' if top.weight == 'strong' else 'score'}"
        if alt.label == d.label:
            tail = (f" What would change it: the label rests on more than one item: without {what} (the weightiest "
                    f"evidence) it would stay {alt.label} (p_fake {alt.p_fake:.2f}).")
        else:
            tail = (f" What would change it: without {what} (the weightiest evidence) the label would be "
                    f"{alt.label} (p_fake {alt.p_fake:.2f}).")
        return replace(d, explanation=(d.explanation or "").rstrip() + tail)

    def top_item(self, evidence: Sequence[Evidence], raw: Mapping[str, float] | None = None, *,
                 min_side: int | None = None) -> Evidence | None:
        """The weightiest evidence item: the provenance item that decides (strong evidence), else the pixel
        detector with a usable score farthest from 0.5; None when there is neither."""
        strong = [e for e in evidence if e.weight == "strong"]
        if strong:
            return max(strong, key=lambda e: (abs(e.score - 0.5), not _self_declared(e)))
        raw = raw or {}
        wanted = self.detectors_for(min_side)
        dets = [e for e in evidence if e.kind == "detector" and e.weight == "pixel" and e.source in wanted
                and e.source in raw and math.isfinite(raw[e.source])]
        return max(dets, key=lambda e: abs(e.score - 0.5)) if dets else None

    def decide_without(self, item: Evidence, evidence: Sequence[Evidence], raw: Mapping[str, float] | None = None, *,
                       min_side: int | None = None, compression: str | None = None) -> Decision:
        """The decision with ``item`` (and, for a detector, its raw score) removed, without the
        counterfactual sentence."""
        rest = [e for e in evidence if e is not item]
        raw2 = {k: v for k, v in (raw or {}).items() if not (item.kind == "detector" and k == item.source)}
        return self._decide(rest, raw2, min_side=min_side, compression=compression)

    def _decide(self, evidence: Sequence[Evidence], raw: Mapping[str, float] | None = None, *,
                min_side: int | None = None, first_stage: bool = False, compression: str | None = None) -> Decision:
        """The decision and its explanation (see :meth:`decide`).

        ``min_side`` (the image's smaller side) picks the calibration regime: thumbnails
        (<= 64 px) and full-resolution images are calibrated and thresholded separately.
        ``first_stage``: ``raw`` holds first-stage scores (:meth:`stage_plan`) that passed
        :meth:`early_exit`; they are fused by the first-stage stacker at its operating point.
        ``compression`` (the file's compression class) picks a raised threshold where held-out real
        photos of that class need one (see :meth:`operating_point_for`).
        """
        op = self.operating_point_for(min_side, compression)
        raw = raw or {}
        wanted = self.detectors_for(min_side)
        usable = {d: raw[d] for d in wanted if d in raw and math.isfinite(raw[d])}
        pixel_p: float | None = None
        if first_stage:
            if self._cascade is None or regime_of(min_side) != "full" or len(usable) != len(wanted):
                raise UsageError("first-stage scores need the cascade, a full-resolution image and every "
                                 f"detector of {list(wanted)}")
            st = self._cascade.stacker
            op = st.op
            pixel_p = float(st.p(np.array([[usable[d] for d in wanted]], np.float64))[0])
            z = _logit(pixel_p)
        elif len(usable) == len(wanted):
            pixel_p = self.pixel_probability(usable, min_side=min_side)
            z = _logit(pixel_p)
        elif usable:
            model, names = self._subset(tuple(d for d in wanted if d in usable), min_side)
            op = model.op_for(compression, min_side)
            pixel_p = float(model.p(np.array([[usable[d] for d in names]], np.float64))[0])
            z = _logit(pixel_p)
        else:
            z = 0.0  # no pixel evidence: 0.5
        strong = [e for e in evidence if e.weight == "strong"]
        weak = [e for e in evidence if e.weight == "weak"]
        detector_ev = [e for e in evidence if e.kind == "detector" and e.weight == "pixel"]

        if strong:
            # verifiable provenance decides; the most decisive item leads, a trusted one before a self-declared one
            lead = max(strong, key=lambda e: (abs(e.score - 0.5), not _self_declared(e)))
            p = float(lead.score)
            label = "ai-generated" if p >= 0.5 else "real"
            how = " on the file's own declaration" if _self_declared(lead) else ""
            why = lead.summary.rstrip(".")
            explanation = f"Labelled {label}{how} because {why[0].lower() + why[1:]}"
            if pixel_p is not None:
                agree = (pixel_p >= op.threshold) == (label == "ai-generated")
                explanation += (f"; the pixel detectors {'agree' if agree else 'disagree'} "
                                f"(p_fake {pixel_p:.2f} from pixels alone).")
            else:
                explanation += "."
            return Decision(p, label, op.threshold, self.fpr, explanation, generator=_generator(strong),
                            pixel_p_fake=pixel_p, reasons=tuple(e.summary for e in strong))

        outside = self.outside_coverage(usable, min_side=min_side) if pixel_p is not None and not first_stage \
            and len(usable) == len(wanted) else None
        shift = 0.0
        for e in weak:
            shift += max(-WEAK_SHIFT_MAX, min(WEAK_SHIFT_MAX, _logit(e.score)))
        shift = max(-WEAK_SHIFT_MAX, min(WEAK_SHIFT_MAX, shift))
        p = float(_sigmoid(z + shift))
        label = "inconclusive" if pixel_p is None else _LABELS[int(_labels(p, op))]
        if weak and pixel_p is not None:
            pix_label = _LABELS[int(_labels(pixel_p, op))]
            if pix_label != label and {pix_label, label} == {"ai-generated", "real"}:
                label = "inconclusive"  # weak evidence never flips a label on its own
        if outside is not None:
            label = "inconclusive"
        explanation = self._explain(label, p, pixel_p, detector_ev, weak, len(usable) < len(wanted), op,
                                    outside=outside)
        if first_stage:
            halves = [d for d in wanted if self._cascade and self._cascade.plan.get(d) == "half"]
            explanation += (f" Decided after the first stage ({', '.join(halves)} on half of the tiles): the "
                            "calibrated probability is far enough from the thresholds that, on the calibration "
                            "split, the remaining tiles never changed such a label (fakescope scan --exhaustive "
                            "scores everything).")
        generator = _generator(weak) if label != "real" else None
        return Decision(p, label, op.threshold, self.fpr, explanation, generator=generator,
                        pixel_p_fake=pixel_p, reasons=tuple(e.summary for e in weak))

    def _explain(self, label: str, p: float, pixel_p: float | None, detector_ev: Sequence[Evidence],
                 weak: Sequence[Evidence], partial: bool, op: "OperatingPoint", *, outside: str | None = None) -> str:
        fpr_txt = f"{self.fpr:.0%}" if self.fpr >= 0.01 else f"{self.fpr:.1%}"
        if pixel_p is None:
            why = "the pixel detectors could not score this image" + (
                " (too small or missing scores)" if partial else "")
            return f"Inconclusive: {why}, and no decisive provenance was found."
        by = ", ".join(f"{e.source} {e.score:.2f}" for e in sorted(detector_ev, key=lambda e: -abs(e.score - 0.5)))
        kind = _condition_words(op.condition)
        if label == "ai-generated":
            head = (f"Labelled AI-generated: the calibrated probability {p:.2f} is at or above the threshold "
                    f"{op.threshold:.2f}, chosen so that at most {fpr_txt} of held-out real photos"
                    f"{' ' + kind if kind else ''} are flagged")
        elif label == "real" and op.real_basis == "calibration":
            head = (f"Labelled real: the calibrated probability {p:.2f} is below {op.real_threshold:.2f}, "
                    f"where few held-out AI images ({self.miss_rate:.0%} at most) fall")
        elif label == "real":
            head = (f"Labelled real: the calibrated probability {p:.2f} is below {op.real_threshold:.2g}, "
                    f"under which at most {op.unseen_miss:.0%} of the fakes of any generator the detectors never "
                    "saw fell, as stored or re-encoded, each checked while left out of the rule")
        elif outside is not None:
            head = (f"Inconclusive: {outside}, so the calibrated probability {p:.2f} is an extrapolation "
                    "and is not used to label the image")
        elif p < op.threshold and op.real_basis == "not established":
            head = (f"Inconclusive: the calibrated probability {p:.2f} is below the AI-generated threshold "
                    f"{op.threshold:.2f}, but these detectors never say real: {op.real_note} (a low score is not "
                    "proof: fakes of generators the detectors never saw score low too)")
        elif p < op.threshold and op.real_basis != "calibration" and op.real_threshold <= 0.0:
            head = (f"Inconclusive: the calibrated probability {p:.2f} is below the AI-generated threshold "
                    f"{op.threshold:.2f}, but for images like this one pixels never say real: no score cut kept the "
                    "fakes of generators the detectors never saw out of 'real' (docs/benchmarks/generalisation.md)")
        elif p < op.threshold and op.real_basis != "calibration":
            head = (f"Inconclusive: the calibrated probability {p:.2f} is below the AI-generated threshold "
                    f"{op.threshold:.2f} ({fpr_txt} false positives{' on real photos ' + kind if kind else ''}), but a low score is not proof: more than "
                    f"{op.unseen_miss:.0%} of the fakes of some generators the detectors never saw score this low "
                    f"too (real only below {op.real_threshold:.2g})")
        else:
            head = (f"Inconclusive: the calibrated probability {p:.2f} lies between {op.real_threshold:.2f} "
                    f"(real) and {op.threshold:.2f} (AI-generated at {fpr_txt} false positives)")
        tail = f" (detectors: {by})" if by else ""
        if weak:
            tail += "; weaker cues: " + "; ".join(e.summary for e in weak)
        return head + tail + "."
