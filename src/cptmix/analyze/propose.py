"""The proposed mixture of a sweep, and its verification once trained (proposal.json).

Part of the analysis stage (after evaluation), on top of `surrogate`: the declared objective (a
weighted mean of targets, higher is better: both metrics are, see `surrogate`) is computed
per mixture and seed, the candidates are cross-validated on it like any target, the chosen one
is fitted on every mixture's seed mean and maximised over the feasible shares

    F = {w : sum_j w_j = 1, lo_j <= w_j <= hi_j},   hi_j = min(upper bound_j, cap_j)

(bounds per source from the design, caps from the repetition limit the lead derives from the
token budget). The result is the `proposed` shares, its predicted objective and a prediction
interval for the seed mean that training it will measure, the model used, and the best
measured sweep mixture for reference. The workflow trains and evaluates the proposal like any
mixture; `verify_proposal` then compares the measured value with the prediction and with the
best anchor, over seeds.

Search (deterministic): a scrambled Sobol cloud (seed `SEARCH_SEED`, 2^12 points) mapped to
the simplex by normalised exponential spacings (a uniform Dirichlet cover) and placed inside F
(shift onto the lower bounds, then the Euclidean projection onto F), plus the measured
mixtures; the best `N_REFINE` candidates are refined by SLSQP under the bounds and the sum
constraint, the best point is projected onto F again and rounded to `DECIMALS` decimals that
sum to exactly 1 and respect the bounds (largest remainders, ties by source order). Trees
(gbm) are piecewise constant, so for them the refinement keeps the cloud's best point.

Interval (level `LEVEL` = 90 %): gp: predicted mean +- z sd with the GP's predictive sd (its
white-noise term included: the interval is for a new measured seed mean); the other models:
split-conformal from the chosen model's leave-one-mixture-out absolute residuals (the
ceil((n + 1) level)-th smallest; unbounded, written as null, when n is too small for the
level). When the choice is "mean" the surrogate makes no claim: the proposal is then the best
measured mixture (a replication: it measures that mixture's winner's curse), its predicted
value the mean of all mixtures, its interval conformal from the mean's own LOO residuals.

Verification (`verify_proposal`): measured mean +- se over seeds, inside-interval flag, the
best anchor (highest seed mean), and proposed - best anchor: paired over seeds (the two-way
seed x item test of `twoway` when per-item values are given; else the paired t over seeds,
df S - 1, via `twoway.stderr_test`), Welch's t with Satterthwaite df when the seeds differ;
clears_noise_floor = p < 0.05, beats_best_anchor = that and a positive difference, and the
minimum detectable difference at the same se and df.

Place in `cptmix.analyze`: above `surrogate`, `twoway` and `tables`; nothing in the package
imports it except the package's `__init__` (re-exports).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps
from scipy.stats import qmc

from cptmix.analyze.surrogate import (
    CV_SEED,
    K_FOLDS,
    MEAN,
    MODELS,
    MODELS_KEY,
    OBJECTIVE_KEY,
    SurrogateError,
    check_objective,
    check_shares,
    choose,
    cross_validate,
    fit_model,
    heldout_predictions,
    loo_folds,
    mixture_means,
    mixture_se,
    objective_values,
    predict_model,
    single_threaded,
    target_names,
    write_cv,
)
from cptmix.analyze.twoway import ALPHA, mdd, seed_item_test, stderr_test
from cptmix.io import write_json

BOUNDS_KEY = "design.sweep.bounds"
CAPS_KEY = "design.sweep.max_repetitions"
OBJECTIVE = "objective"  # the objective's name as a target (cv.tsv rows)
LEVEL = 0.9
SEARCH_SEED = 0
N_CANDIDATES_LOG2 = 12  # 4096 Sobol points
N_REFINE = 8
DECIMALS = 4
JSON_DECIMALS = 6
BOUND_TOL = 1e-9
# verify_proposal with one run per mixture and item scores: the note of its first row
ONE_RUN_NOTE = ("1 seed: training noise not measured; the item test over one run each makes no "
                "claim.")


# ---------------------------------------------------------------------------------------------
# The feasible set


def feasible_box(sources: Sequence[str], bounds: Mapping | None = None,
                 caps: Mapping | None = None, *, bounds_key: str = BOUNDS_KEY,
                 caps_key: str = CAPS_KEY) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) per source: bounds {source: (lo, hi)} (absent: [0, 1]) with hi capped by
    caps {source: max share}; a SurrogateError naming the key when they name an unknown
    source, are not in [0, 1], cross, or cannot sum to 1."""
    sources = [str(s) for s in sources]
    lo, hi = np.zeros(len(sources)), np.ones(len(sources))
    for key, table in ((bounds_key, bounds or {}), (caps_key, caps or {})):
        unknown = [s for s in table if str(s) not in sources]
        if unknown:
            raise SurrogateError(f"{key}: unknown source(s) {', '.join(map(str, unknown))} "
                                 f"(sources: {', '.join(sources)})")
    for j, s in enumerate(sources):
        if s in (bounds or {}):
            pair = bounds[s]
            try:
                a, b = (float(v) for v in pair)
            except (TypeError, ValueError):
                raise SurrogateError(f"{bounds_key}.{s}: expected [min, max], got {pair!r}"
                                     ) from None
            if not (0 <= a <= b <= 1):
                raise SurrogateError(f"{bounds_key}.{s}: [{a:g}, {b:g}] is not 0 <= min <= "
                                     "max <= 1")
            lo[j], hi[j] = a, b
        if s in (caps or {}):
            try:
                cap = float(caps[s])
            except (TypeError, ValueError):
                raise SurrogateError(f"{caps_key}.{s}: cap {caps[s]!r} is not a number"
                                     ) from None
            if not (math.isfinite(cap) and cap >= 0):
                raise SurrogateError(f"{caps_key}.{s}: cap {caps[s]!r} must be >= 0")
            if cap < lo[j]:
                raise SurrogateError(f"{caps_key}.{s}: cap {cap:g} is below the lower bound "
                                     f"{lo[j]:g} ({bounds_key}.{s})")
            hi[j] = min(hi[j], cap)
    if lo.sum() > 1 + BOUND_TOL or hi.sum() < 1 - BOUND_TOL:
        raise SurrogateError(f"{bounds_key}: the shares cannot sum to 1 (lower bounds sum to "
                             f"{lo.sum():.6g}, upper bounds after {caps_key} to {hi.sum():.6g})")
    return lo, hi


def project(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of `v` onto {sum w = 1, lo <= w <= hi}.

    w = clip(v - tau, lo, hi) with tau solving sum w = 1 (monotone in tau: bisection to
    machine precision), then the rounding residue put on a coordinate with room.
    """
    v = np.atleast_2d(np.asarray(v, dtype=float))
    a = (v - hi[None, :]).min(axis=1) - 1.0  # tau low: everything at hi
    b = (v - lo[None, :]).max(axis=1) + 1.0  # tau high: everything at lo
    for _ in range(200):
        mid = 0.5 * (a + b)
        total = np.clip(v - mid[:, None], lo, hi).sum(axis=1)
        a = np.where(total > 1, mid, a)
        b = np.where(total > 1, b, mid)
    w = np.clip(v - (0.5 * (a + b))[:, None], lo, hi)
    for r in range(len(w)):
        gap = 1.0 - w[r].sum()
        room = (hi - w[r]) if gap > 0 else (w[r] - lo)
        j = int(np.argmax(room))
        w[r, j] += np.sign(gap) * min(abs(gap), room[j])
    return w


def round_shares(w: np.ndarray, lo: np.ndarray, hi: np.ndarray, decimals: int = DECIMALS
                 ) -> np.ndarray:
    """Shares rounded to `decimals` that sum to exactly 1 and stay in [lo, hi]: floor to the
    grid, then hand out the missing units by largest remainder (ties: source order)."""
    unit = 10 ** decimals
    lo_u = np.ceil(np.asarray(lo) * unit - 1e-6).astype(np.int64)
    hi_u = np.floor(np.asarray(hi) * unit + 1e-6).astype(np.int64)
    if lo_u.sum() > unit or hi_u.sum() < unit:
        raise SurrogateError(f"{BOUNDS_KEY}: no shares on the {decimals}-decimal grid fit the "
                             "bounds")
    scaled = np.asarray(w, dtype=float) * unit
    units = np.clip(np.floor(scaled + 1e-9).astype(np.int64), lo_u, hi_u)
    rem = scaled - units
    order = sorted(range(len(units)), key=lambda j: (-rem[j], j))
    while units.sum() < unit:
        j = next(j for j in order if units[j] < hi_u[j])
        units[j] += 1
        order.remove(j)
        order.append(j)
    order = sorted(range(len(units)), key=lambda j: (rem[j], j))
    while units.sum() > unit:
        j = next(j for j in order if units[j] > lo_u[j])
        units[j] -= 1
        order.remove(j)
        order.append(j)
    return units / unit


def candidate_cloud(lo: np.ndarray, hi: np.ndarray, log2_n: int = N_CANDIDATES_LOG2,
                    seed: int = SEARCH_SEED) -> np.ndarray:
    """2^log2_n feasible points: a scrambled Sobol cover of the simplex placed inside F."""
    d = len(lo)
    u = qmc.Sobol(d, scramble=True, seed=seed).random_base2(log2_n)
    e = -np.log1p(-np.clip(u, 0, 1 - 1e-12))  # exponential spacings -> uniform Dirichlet
    s = e / e.sum(axis=1, keepdims=True)
    free = max(1.0 - float(lo.sum()), 0.0)
    return project(lo[None, :] + free * s, lo, hi)


# ---------------------------------------------------------------------------------------------
# The proposal


def _conformal(residuals: np.ndarray, level: float) -> float:
    """Split-conformal half-width: the ceil((n + 1) level)-th smallest |residual| (inf when
    that exceeds n)."""
    r = np.sort(np.abs(np.asarray(residuals, dtype=float)))
    k = math.ceil((len(r) + 1) * level)
    return float(r[k - 1]) if k <= len(r) else float("inf")


def _distances(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Euclidean distances, rows of `w` (one point or several) x rows of `x`."""
    return np.sqrt(((np.atleast_2d(w)[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1))


def trust_radius(x: np.ndarray) -> float:
    """The median distance from a measured mixture to its nearest measured neighbour: the
    scale at which the design has measured the surface (`propose`'s trust region)."""
    d = _distances(x, x)
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(axis=1)))


def _distance(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Distance of each row of `w` to its nearest measured mixture (rows of `x`)."""
    return _distances(w, x).min(axis=1)


def _maximise(est, lo: np.ndarray, hi: np.ndarray, extra: np.ndarray, seed: int,
              radius: float | None = None) -> tuple[np.ndarray, int]:
    """The best feasible point; with `radius`, only within that distance of a measured
    mixture (`extra`, which are candidates themselves, so one always qualifies)."""
    cloud = np.vstack([candidate_cloud(lo, hi, seed=seed), project(extra, lo, hi)])
    if radius is not None:
        cloud = cloud[_distance(cloud, extra) <= radius]
    values = predict_model(est, cloud)
    top = np.argsort(-values, kind="stable")[:N_REFINE]
    best_w, best_v = cloud[top[0]], float(values[top[0]])

    def neg(w):
        return -float(predict_model(est, w[None, :])[0])

    for i in top:
        cons = [{"type": "eq", "fun": lambda w: float(w.sum() - 1.0)}]
        if radius is not None:  # stay near the start's nearest measured mixture
            anchor = extra[int(np.argmin(_distances(cloud[i], extra)[0]))]
            cons.append({"type": "ineq",
                         "fun": lambda w, a=anchor: radius**2 - float(((w - a) ** 2).sum())})
        res = optimize.minimize(neg, cloud[i], method="SLSQP", bounds=list(zip(lo, hi,
                                                                               strict=True)),
                                constraints=cons, options={"ftol": 1e-12, "maxiter": 200})
        w = project(res.x, lo, hi)[0]
        if radius is not None and _distance(w, extra)[0] > radius + 1e-9:
            continue
        v = -neg(w)
        if v > best_v + 1e-12 * max(1.0, abs(best_v)):
            best_w, best_v = w, v
    return best_w, len(cloud)


def objective_runs(runs: pd.DataFrame, objective: Mapping[str, float],
                   key: str = OBJECTIVE_KEY) -> pd.DataFrame:
    """The runs table with an `objective` column (weighted mean of the named targets)."""
    names = target_names(runs)
    weights = check_objective(objective, names, key)
    out = runs.copy()
    out[OBJECTIVE] = objective_values(runs[names], weights, key).to_numpy()
    return out


@single_threaded
def propose(shares: pd.DataFrame, runs: pd.DataFrame, objective: Mapping[str, float],
            models: Sequence[str] = tuple(MODELS), *, bounds: Mapping | None = None,
            caps: Mapping | None = None, cv: pd.DataFrame | None = None,
            k_folds: int = K_FOLDS, cv_seed: int = CV_SEED, level: float = LEVEL,
            search_seed: int = SEARCH_SEED, decimals: int = DECIMALS,
            metric: str | None = None, trust_region: bool = True) -> dict:
    """The proposal record (what proposal.json holds); see the module docstring.

    `shares`: the measured mixtures x sources; `runs`: their runs table (`runs_table`);
    `objective`: {target: weight}; `cv`: a CV table that already has the "objective" rows
    (`surrogate_tables`), else they are computed here. `trust_region`: search only within
    `trust_radius` of a measured mixture (design.trust_region). Refusals (too few mixtures,
    unknown target, infeasible bounds) are SurrogateErrors naming the config key.
    """
    shares = check_shares(shares)
    sources = list(shares.columns)
    lo, hi = feasible_box(sources, bounds, caps)
    if not (0 < level < 1):
        raise SurrogateError(f"level: {level!r} is not in (0, 1)")
    weights = check_objective(objective, target_names(runs), OBJECTIVE_KEY)
    obj_runs = objective_runs(runs, weights)
    means = mixture_means(obj_runs[["mixture", "seed", OBJECTIVE]])
    missing = [m for m in shares.index if m not in means.index]
    if missing:
        raise SurrogateError(f"runs: no runs for mixture(s) {', '.join(missing)}")
    mixtures = list(shares.index)
    y = means.loc[mixtures, OBJECTIVE].to_numpy(dtype=float)
    x = shares.to_numpy()
    if cv is None or OBJECTIVE not in set(cv["target"]):
        se = mixture_se(obj_runs[["mixture", "seed", OBJECTIVE]])
        cv = cross_validate(shares, means.loc[mixtures], models, k_folds=k_folds, seed=cv_seed,
                            target_se=se.loc[mixtures], n_seeds=obj_runs["seed"].nunique())
    cv_obj = cv[cv["target"] == OBJECTIVE]
    choice = choose(cv_obj).iloc[0]
    model = str(choice["model"])
    best_i = int(np.argmax(y))
    record = {
        "target": OBJECTIVE, "objective": weights, "metric": metric,
        "direction": "maximise (higher is better)", "sources": sources,
        "n_mixtures": len(mixtures), "n_seeds": int(obj_runs["seed"].nunique()),
        "models": list(cv_obj["model"]), "model": model, "claim": bool(choice["claim"] == "yes"),
        "cv": {"loo_spearman": choice["loo_spearman"], "loo_mae": choice["loo_mae"],
               "loo_mean_mae": choice["loo_mean_mae"], "kfold_spearman": choice["kfold_spearman"],
               "kfold_mae": choice["kfold_mae"], "kfold_mean_mae": choice["kfold_mean_mae"]},
        "bounds": {s: [float(lo[j]), float(hi[j])] for j, s in enumerate(sources)},
        "search": {"method": "scrambled Sobol Dirichlet cover + measured mixtures, top "
                             f"{N_REFINE} refined by SLSQP, rounded to {decimals} decimals",
                   "seed": int(search_seed), "n_candidates": 0, "trust_radius": None},
        "best_measured": {"mixture": mixtures[best_i], "measured": float(y[best_i]),
                          "shares": dict(zip(sources, map(float, x[best_i]), strict=True))},
    }
    z = float(sps.norm.ppf(0.5 + level / 2))
    if model == MEAN:
        w = round_shares(x[best_i], np.minimum(lo, x[best_i]), np.maximum(hi, x[best_i]),
                         decimals)
        predicted = float(y.mean())
        resid = y - np.array([(y.sum() - v) / (len(y) - 1) for v in y])
        half = _conformal(resid, level)
        method = f"split-conformal from the mean's LOO residuals ({level:.0%})"
        record["note"] = ("no surrogate beat predicting the mean on held-out MAE with a "
                          "significant positive LOO Spearman: the surrogate makes no claim; "
                          "proposed = the best measured mixture (a replication)")
        record["search"]["method"] = "none (no claim)"
    else:
        est = fit_model(model, x, y)
        radius = trust_radius(x) if trust_region else None
        record["search"]["trust_radius"] = radius
        w_opt, record["search"]["n_candidates"] = _maximise(est, lo, hi, x, search_seed, radius)
        w = round_shares(w_opt, lo, hi, decimals)
        if model == "gp":
            mu, sd = predict_model(est, w[None, :], return_std=True)
            predicted, half = float(mu[0]), z * float(sd[0])
            method = f"gp predictive sd (white noise included), {level:.0%} normal"
        else:
            predicted = float(predict_model(est, w[None, :])[0])
            pred_loo, _ = heldout_predictions(model, x, y, loo_folds(len(y)))
            half = _conformal(y - pred_loo, level)
            method = f"split-conformal from the LOO residuals ({level:.0%})"
        record["note"] = (f"{model} beats predicting the mean on held-out MAE; the proposal "
                          "maximises its prediction within the bounds and caps" + (
                              f", within {radius:.4f} (the design's median nearest-neighbour "
                              "distance) of a measured mixture" if trust_region else ""))
    dist = _distances(w, x)[0]
    near = int(np.argmin(dist))
    bounded = math.isfinite(half)
    record.update({
        "proposed": dict(zip(sources, map(float, w), strict=True)),
        "predicted": predicted,
        "interval": {"level": level, "lower": predicted - half if bounded else None,
                     "upper": predicted + half if bounded else None, "method": method,
                     "note": "" if bounded else f"{len(y)} mixtures are too few for a "
                                                f"{level:.0%} conformal interval"},
        "nearest_measured": {"mixture": mixtures[near], "distance": float(dist[near])},
    })
    return record


def surrogate_tables(shares: pd.DataFrame, runs: pd.DataFrame,
                     objective: Mapping[str, float] | None = None,
                     models: Sequence[str] = tuple(MODELS), *, k_folds: int = K_FOLDS,
                     cv_seed: int = CV_SEED, n_jobs: int = 1
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cv, choice) for every target of `runs` (+ "objective" when given): cv.tsv, choice.tsv.
    `n_jobs`: processes for the held-out checks (`cross_validate`)."""
    shares = check_shares(shares)
    if objective is not None:
        runs = objective_runs(runs, objective)
    mixtures = list(shares.index)
    means, se = mixture_means(runs), mixture_se(runs)
    missing = [m for m in mixtures if m not in means.index]
    if missing:
        raise SurrogateError(f"runs: no runs for mixture(s) {', '.join(missing)}")
    cv = cross_validate(shares, means.loc[mixtures], models, k_folds=k_folds, seed=cv_seed,
                        target_se=se.loc[mixtures], n_seeds=runs["seed"].nunique(),
                        n_jobs=n_jobs)
    return cv, choose(cv)


# ---------------------------------------------------------------------------------------------
# Verification


def _seed_map(values: Mapping, what: str) -> dict[int, float]:
    if not isinstance(values, Mapping) or not values:
        raise SurrogateError(f"{what}: expected a non-empty {{seed: value}} mapping")
    out = {}
    for s, v in values.items():
        try:
            out[int(s)] = float(v)
        except (TypeError, ValueError):
            raise SurrogateError(f"{what}: seed {s!r}: value {v!r} is not a number") from None
        if not math.isfinite(out[int(s)]):
            raise SurrogateError(f"{what}: seed {s!r}: value is not finite")
    return out


def seed_mean(per_seed: Mapping) -> float:
    """A mixture's objective: the mean over its seeds' values."""
    return float(np.mean(list(per_seed.values())))


def best_mixture(means: Mapping[str, float]) -> str:
    """The mixture with the highest mean; a tie goes to the first listed."""
    order = list(means)
    return max(order, key=lambda a: (means[a], -order.index(a)))


def verify_proposal(predicted: float, interval: Sequence | Mapping | None,
                    measured_per_seed: Mapping, anchors_per_seed: Mapping[str, Mapping], *,
                    measured_items: np.ndarray | None = None,
                    anchor_items: Mapping[str, np.ndarray] | None = None,
                    alpha: float = ALPHA) -> dict:
    """Predicted vs measured, and proposed - best anchor over seeds.

    `interval`: (lower, upper), proposal.json's "interval" mapping, or None (None bounds are
    unbounded). `measured_per_seed`: {seed: objective of the proposed mixture};
    `anchors_per_seed`: {anchor: {seed: objective}}. Optional per-item values whose item mean
    is each seed's objective, arrays (S, I) in the order of `measured_per_seed`'s seeds:
    `measured_items` and `anchor_items[anchor]` (then the two-way seed x item test is used).
    With one seed the item test's difference, se and p are reported but make no claim
    (`clears_noise_floor` and `beats_best_anchor` empty): training noise is not in them.
    """
    measured = _seed_map(measured_per_seed, "measured_per_seed")
    if not isinstance(anchors_per_seed, Mapping) or not anchors_per_seed:
        raise SurrogateError("anchors_per_seed: expected {anchor: {seed: value}}")
    anchors = {str(a): _seed_map(v, f"anchors_per_seed[{a!r}]")
               for a, v in anchors_per_seed.items()}
    if isinstance(interval, Mapping):
        lower, upper = interval.get("lower"), interval.get("upper")
    elif interval is None:
        lower = upper = None
    else:
        lower, upper = interval
    lower = -math.inf if lower is None else float(lower)
    upper = math.inf if upper is None else float(upper)
    seeds = list(measured)
    m = np.array([measured[s] for s in seeds])
    n_s = len(m)
    mean = float(m.mean())
    se = float(m.std(ddof=1) / math.sqrt(n_s)) if n_s >= 2 else float("nan")
    anchor_means = {a: seed_mean(v) for a, v in anchors.items()}
    best = best_mixture(anchor_means)
    b = anchors[best]
    note = ""
    if set(b) == set(seeds):
        d = m - np.array([b[s] for s in seeds])
        if measured_items is not None and anchor_items is not None and best in anchor_items:
            di = np.asarray(measured_items, dtype=float) - np.asarray(anchor_items[best],
                                                                       dtype=float)
            if di.ndim != 2 or di.shape[0] != n_s:
                raise SurrogateError(f"measured_items/anchor_items[{best!r}]: expected arrays "
                                     f"(seeds={n_s}, items)")
            res = seed_item_test(di)
            test = ("two-way seed x item random effects, Satterthwaite t" if n_s >= 2
                    else "items only: paired t over items (1 seed: training noise not "
                         "measured)")
            if n_s < 2:
                # One run per side: training noise (a reseed moves a tiny model's averages by
                # more than its item SE) is not in the item test: reported, no claim.
                note = ONE_RUN_NOTE
        else:
            res = stderr_test(d, np.zeros_like(d))
            test = "paired t over seeds (df = seeds - 1)"
            if n_s < 2:
                note = "1 seed: training noise not measured, no test"
        est, dse, ddf, p = (float(np.asarray(res[k])) for k in ("estimate", "se", "df", "p"))
        if n_s < 2 and measured_items is None:
            dse, ddf, p = float("nan"), float("nan"), float("nan")
    else:
        a = np.array(list(b.values()))
        est = mean - float(a.mean())
        if n_s >= 2 and len(a) >= 2:
            v1, v2 = m.var(ddof=1) / n_s, a.var(ddof=1) / len(a)
            dse = math.sqrt(v1 + v2)
            den = v1 ** 2 / (n_s - 1) + v2 ** 2 / (len(a) - 1)
            ddf = (v1 + v2) ** 2 / den if den > 0 else float("inf")
            p = float(sps.ttest_ind(m, a, equal_var=False).pvalue) if dse > 0 else (
                1.0 if est == 0 else 0.0)
        else:
            dse = ddf = p = float("nan")
            note = "fewer than 2 seeds on a side: no test"
        test = "Welch t over seeds (seeds differ), Satterthwaite df"
    clears = "" if n_s < 2 or not math.isfinite(p) else ("yes" if p < alpha else "no")
    return {
        "predicted": float(predicted),
        "interval": {"lower": None if math.isinf(lower) else lower,
                     "upper": None if math.isinf(upper) else upper},
        "measured_mean": mean, "measured_se": se, "n_seeds": n_s,
        "measured_per_seed": {str(s): measured[s] for s in seeds},
        "error": mean - float(predicted), "inside_interval": bool(lower <= mean <= upper),
        "anchors": anchor_means, "best_anchor": best, "best_anchor_mean": anchor_means[best],
        "diff": est, "diff_se": dse, "diff_df": ddf, "diff_p": p, "test": test,
        "mdd": float(mdd(dse, ddf)) if math.isfinite(dse) else float("nan"),
        "clears_noise_floor": clears,
        "beats_best_anchor": "yes" if clears == "yes" and est > 0 else
                             ("" if clears == "" else "no"),
        "note": note,
    }


def seed_values(runs: pd.DataFrame, mixture: str, column: str = OBJECTIVE) -> dict[int, float]:
    """{seed: value} of one mixture's `column` in a runs table (`objective_runs` adds the
    objective); a SurrogateError when the mixture has no runs."""
    rows = runs[runs["mixture"].astype(str) == str(mixture)]
    if rows.empty:
        raise SurrogateError(f"runs: no runs for mixture {mixture!r}")
    if column not in rows.columns:
        raise SurrogateError(f"runs: no column {column!r}")
    return {int(s): float(v) for s, v in zip(rows["seed"], rows[column], strict=True)}


def verify_from_runs(proposal: Mapping, runs: pd.DataFrame, proposed: str,
                     anchors: Sequence[str], alpha: float = ALPHA) -> dict:
    """`verify_proposal` for a proposal record (proposal.json) and a runs table holding the
    trained proposal (mixture name `proposed`) and the anchors: the proposal's objective
    weights are applied to both."""
    obj = objective_runs(runs, proposal["objective"])
    out = verify_proposal(proposal["predicted"], proposal.get("interval"),
                          seed_values(obj, proposed), {a: seed_values(obj, a) for a in anchors},
                          alpha=alpha)
    out.update({"mixture": str(proposed), "model": proposal.get("model"),
                "claim": proposal.get("claim"), "objective": dict(proposal["objective"])})
    return out


# ---------------------------------------------------------------------------------------------
# Writers


def jsonable(obj):
    """A copy with floats rounded to JSON_DECIMALS (and -0.0 as 0.0), NaN/inf as None."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return round(x, JSON_DECIMALS) + 0.0 if math.isfinite(x) else None
    return obj


def write_proposal(record: Mapping, path: str | os.PathLike) -> None:
    """proposal.json (or verification.json): sorted keys, floats at 6 decimals, atomic."""
    write_json(path, jsonable(record))


def run_surrogates(shares: pd.DataFrame, runs: pd.DataFrame, objective: Mapping[str, float],
                   out_dir: str | os.PathLike, models: Sequence[str] = tuple(MODELS), *,
                   bounds: Mapping | None = None, caps: Mapping | None = None,
                   metric: str | None = None, k_folds: int = K_FOLDS, cv_seed: int = CV_SEED,
                   level: float = LEVEL, search_seed: int = SEARCH_SEED) -> dict:
    """Write cv.tsv, choice.tsv and proposal.json into `out_dir`; returns the proposal."""
    out = Path(out_dir)
    cv, choice = surrogate_tables(shares, runs, objective, models, k_folds=k_folds,
                                  cv_seed=cv_seed)
    record = propose(shares, runs, objective, models, bounds=bounds, caps=caps, cv=cv,
                     level=level, search_seed=search_seed, metric=metric)
    write_cv(cv, out / "cv.tsv")
    write_cv(choice, out / "choice.tsv")
    write_proposal(record, out / "proposal.json")
    return record


__all__ = ["BOUNDS_KEY", "CAPS_KEY", "MODELS_KEY", "OBJECTIVE", "candidate_cloud",
           "feasible_box", "jsonable", "objective_runs", "project", "propose", "round_shares",
           "run_surrogates", "seed_values", "surrogate_tables", "verify_from_runs",
           "verify_proposal", "write_cv", "write_proposal"]
