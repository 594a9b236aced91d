"""Surrogate models of a mixture sweep: targets, candidate models, held-out checks, the choice.

Part of the analysis stage (after evaluation), for a designed sweep of mixtures (issue 13):
each mixture is a vector of token SHARES of the sweep's sources (on the simplex: the shares of
a mixture sum to 1), trained and evaluated per seed. This module asks whether the shares
predict the outcome out of sample, and with which model; `propose` then optimises the chosen
model into a proposed mixture.

Targets (`runs_table`, `read_runs`): one row per (mixture, seed) with each task's metric and the
Japanese and English averages (mean over the tasks of that language, the language from the task
registry `cptmix.tasks`), for the JMedBench metric `score` or the `continuous` one. Both are
"higher is better": accuracy / BLEU / F1 / Pearson r, and the gold option's z-score, margin
or log-probability or the gold target's log-likelihood per byte. `mixture_means` averages the
seeds: **every model is fitted on seed-averaged targets, one row per mixture**, so a fit never
sees one mixture twice and the refusal below counts mixtures.

Candidates (`MODELS`, all scikit-learn, fixed seeds):

- `linear`: OLS on the shares with **no intercept** (the shares sum to 1, so an intercept would
  be collinear with them; each coefficient is the predicted outcome of a pure source).
  D free parameters (D sources).
- `loglinear`: OLS on log(share + 0.01) with an intercept (a mixing-law shape: diminishing
  returns of a source, so the optimum can lie inside the simplex; the offset 0.01 = 1 % of the
  budget keeps a zero share finite). D + 1 free parameters.
- `gbm`: GradientBoostingRegressor (100 trees of depth 2, learning rate 0.1, at least 2 runs a
  leaf, random_state 0; the histogram variant needs ~20 runs a leaf and never splits at sweep
  sizes). Trees have no fixed parameter count; the documented minimum is max(10, 2 D) runs.
- `gp`: GaussianProcessRegressor, constant x RBF (one length scale: the shares share one
  scale) + WhiteKernel, normalize_y, 1 optimiser restart from random_state 0 (an ARD kernel,
  one length scale per source, took 3-8 x as long for the same held-out error on the tests'
  sweeps). Nonparametric; the documented minimum is D + 2 runs (loglinear's D + 1 and one for
  the noise level).

**Refusal**: a model is never fitted on fewer mixtures than its free parameters
(`min_runs`), including the training part of every held-out fold, so the cross-validation
needs n - ceil(n / K) >= min_runs and n - 1 >= min_runs (`min_mixtures`); `check_models`
raises `SurrogateError` naming the config key `design.surrogate.models` and the model, and can
be called as soon as the design size is known (before anything is trained).

Held-out checks (`cross_validate`): leave-one-mixture-out and K-fold over mixtures (KFold,
shuffled with a fixed seed; the seeds of a mixture stay together because the rows are the
mixtures' seed means). Per target and model: Spearman rho of held-out predictions with the
measured values (and its p), MAE, and the same for predicting the training-fold mean in the
same folds (its held-out Spearman is -1 under LOO by construction: the mean of the others moves
against the held-out value; it is reported, the choice uses its MAE), skill = 1 - MAE/MAE_mean,
and noise_mae: the MAE that even a perfect model would show from seed noise in the measured
means (sqrt(2/pi) x the RMS standard error of a mixture's seed mean; NaN with one seed).

Choice (`choose`): per target, among models that beat the mean on held-out MAE under both LOO
and K-fold AND whose LOO Spearman is positive with one-sided p x (number of models) < 0.05
(Bonferroni: the choice is the best of several models), the one with the best LOO Spearman,
up to one standard error: the simplest model (order of `MODELS`: linear, loglinear, gp, gbm)
within 1 SE of the best on Fisher's z scale. The extra conditions keep pure noise from making
claims: a GP that collapses to the mean can beat the mean's MAE by a hair while ranking
nothing. Measured on pure noise (4 sources, 16 Dirichlet mixtures, 4 models, 100 draws), the
share of draws where some model qualifies: LOO MAE below the mean's 38 %, LOO and K-fold MAE
28 %, plus uncorrected p < 0.05 14 %, plus Bonferroni (this rule) 4 %; on a linear truth
(random coefficients, seed noise 10 % of the spread, 50 draws) all 50 claim and linear is
chosen in 49 (gp in 1). If no model qualifies the choice is "mean": the surrogate makes no claim.

Place in `cptmix.analyze`: above `columns` and `replicates` (`read_model_scores`) and
`cptmix.tasks`; below `propose` (which optimises the chosen model).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import sklearn
from scipy import stats as sps
from sklearn.base import RegressorMixin, clone
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.parallel import Parallel, delayed
from threadpoolctl import threadpool_limits

from cptmix.analyze.candidates import (
    K_FOLDS,
    MODELS,
    MODELS_KEY,
    SurrogateError,
    check_models,
    model_spec,
)
from cptmix.analyze.columns import language_key
from cptmix.analyze.replicates import METRICS, nested_paths, read_model_scores
from cptmix.analyze.tables import write_tsv
from cptmix.tasks import TASKS_BY_NAME

log = logging.getLogger(__name__)

OBJECTIVE_KEY = "design.objective.targets"
AVERAGE_TARGETS = ("ja_average", "en_average")
MEAN = "mean"  # the choice when no model beats predicting the mean
LOG_OFFSET = 0.01  # loglinear: log(share + 0.01)
SHARE_TOL = 1e-6  # a mixture's shares must sum to 1 within this
CV_SEED = 0
MODEL_SEED = 0
CLAIM_ALPHA = 0.05  # one-sided p of the LOO Spearman needed for a claim
CV_COLUMNS = ("target", "model", "n_params", "n", "n_seeds", "k_folds", "loo_spearman",
              "loo_spearman_p", "loo_spearman_p_bonf", "loo_mae", "loo_mean_spearman", "loo_mean_mae", "loo_skill",
              "kfold_spearman", "kfold_mae", "kfold_mean_spearman", "kfold_mean_mae",
              "kfold_skill", "noise_mae", "eligible", "chosen")
CHOICE_COLUMNS = ("target", "model", "claim", "loo_spearman", "loo_mae", "loo_mean_mae",
                  "kfold_spearman", "kfold_mae", "kfold_mean_mae", "n", "reason")


# ---------------------------------------------------------------------------------------------
# Targets


def task_language(task: str, source: str = "scores") -> str:
    """'ja' or 'en' from the task registry; an unknown task is a SurrogateError."""
    if task not in TASKS_BY_NAME:
        raise SurrogateError(f"{source}: field task: unknown task {task!r} (not in the "
                             "JMedBench task registry, cptmix.tasks)")
    return language_key(TASKS_BY_NAME[task].language)


def runs_table(scores: pd.DataFrame, metric: str = "continuous",
               source: str = "scores") -> pd.DataFrame:
    """One row per (mixture, seed): each task's `metric` and the language averages.

    `scores` is long: mixture, seed, task and a column named `metric` ("score" or
    "continuous", as in scores.tsv). Every (mixture, seed) must have every task exactly once
    and a finite value (an average over a different task set would not be comparable).
    Columns: mixture, seed, the tasks (registry order), ja_average, en_average (a language
    without tasks is left out); rows sorted by mixture order of first appearance, then seed.
    """
    if metric not in METRICS:
        raise SurrogateError(f"metric: {metric!r} is not one of {', '.join(METRICS)}")
    missing = [c for c in ("mixture", "seed", "task", metric) if c not in scores.columns]
    if missing:
        raise SurrogateError(f"{source}: missing column(s) {', '.join(missing)} "
                             f"(found: {', '.join(map(str, scores.columns))})")
    df = scores[["mixture", "seed", "task", metric]].copy()
    df["mixture"] = df["mixture"].astype(str)
    df["task"] = df["task"].astype(str)
    try:
        df["seed"] = df["seed"].astype(int)
        df[metric] = pd.to_numeric(df[metric]).astype(float)
    except (TypeError, ValueError) as exc:
        raise SurrogateError(f"{source}: column seed or {metric} is not numeric ({exc})"
                             ) from None
    if df.empty:
        raise SurrogateError(f"{source}: no rows")
    dup = df[df.duplicated(["mixture", "seed", "task"])]
    if len(dup):
        r = dup.iloc[0]
        raise SurrogateError(f"{source}: mixture {r['mixture']!r}, seed {r['seed']}, task "
                             f"{r['task']!r} listed more than once")
    bad = df[~np.isfinite(df[metric].to_numpy())]
    if len(bad):
        r = bad.iloc[0]
        raise SurrogateError(f"{source}: field {metric}: mixture {r['mixture']!r}, seed "
                             f"{r['seed']}, task {r['task']!r} has no finite value")
    present = set(df["task"])
    for task in sorted(present):
        task_language(task, source)
    tasks = [t for t in TASKS_BY_NAME if t in present]
    wide = df.pivot(index=["mixture", "seed"], columns="task", values=metric)
    holes = wide[tasks].isna().to_numpy()
    if holes.any():
        i, j = map(int, np.argwhere(holes)[0])
        mixture, seed = wide.index[i]
        raise SurrogateError(f"{source}: mixture {mixture!r}, seed {seed} has no row for task "
                             f"{tasks[j]!r} (every run needs every task)")
    order = list(dict.fromkeys(df["mixture"]))
    wide = wide[tasks].reset_index()
    wide["mixture"] = pd.Categorical(wide["mixture"], categories=order, ordered=True)
    wide = wide.sort_values(["mixture", "seed"], kind="stable").reset_index(drop=True)
    wide["mixture"] = wide["mixture"].astype(str)
    for key, name in (("ja", "ja_average"), ("en", "en_average")):
        cols = [t for t in tasks if task_language(t) == key]
        if cols:
            wide[name] = wide[cols].mean(axis=1)
    wide.columns.name = None
    return wide


def read_runs(pattern: str, mixtures: Sequence[str], seeds: Sequence[int],
              metric: str = "continuous") -> pd.DataFrame:
    """`runs_table` from the evaluation's files: pattern "results/eval/{model}/seed-{seed}".

    Reads every mixture's and seed's scores.tsv (`replicates.read_model_scores`: the metric's
    column, checked); a problem is a ValueError naming the file.
    """
    paths = nested_paths(mixtures, seeds, pattern, "scores.tsv")
    frames = []
    for mixture in mixtures:
        for seed in seeds:
            path = paths[str(mixture)][int(seed)]
            table = read_model_scores(path, metric, need_stderr=False)
            frames.append(pd.DataFrame({"mixture": str(mixture), "seed": int(seed),
                                        "task": table["task"], metric: table["value"]}))
    return runs_table(pd.concat(frames, ignore_index=True), metric,
                      source=f"scores under {pattern}")


def target_names(runs: pd.DataFrame) -> list[str]:
    """The target columns of a runs table (everything but mixture and seed)."""
    return [c for c in runs.columns if c not in ("mixture", "seed")]


def mixture_means(runs: pd.DataFrame) -> pd.DataFrame:
    """Seed means per mixture (index mixture, one column per target), first-appearance order."""
    order = list(dict.fromkeys(runs["mixture"].astype(str)))
    means = runs.drop(columns="seed").groupby("mixture", sort=False).mean()
    return means.loc[order]


def mixture_se(runs: pd.DataFrame) -> pd.DataFrame:
    """Standard error of each mixture's seed mean (NaN with one seed)."""
    order = list(dict.fromkeys(runs["mixture"].astype(str)))
    g = runs.drop(columns="seed").groupby("mixture", sort=False)
    return (g.std(ddof=1) / np.sqrt(g.count())).loc[order]


def objective_values(targets: pd.DataFrame, objective: Mapping[str, float],
                     key: str = OBJECTIVE_KEY) -> pd.Series:
    """The objective per row: sum_t w_t target_t / sum_t w_t (higher is better).

    `objective` maps target names (tasks, ja_average, en_average) to non-negative weights with
    a positive sum; an unknown target or a bad weight is a SurrogateError naming `key`.
    """
    weights = check_objective(objective, list(targets.columns), key)
    total = sum(weights.values())
    values = sum(w * targets[t].to_numpy(dtype=float) for t, w in weights.items()) / total
    return pd.Series(values, index=targets.index, name="objective")


def check_objective(objective: Mapping[str, float], targets: Sequence[str],
                    key: str = OBJECTIVE_KEY) -> dict[str, float]:
    if not isinstance(objective, Mapping) or not objective:
        raise SurrogateError(f"{key}: expected a non-empty mapping {{target: weight}}, got "
                             f"{objective!r}")
    out = {}
    for name, weight in objective.items():
        if name not in targets:
            raise SurrogateError(f"{key}: unknown target {name!r} (targets: "
                                 f"{', '.join(targets)})")
        try:
            w = float(weight)
        except (TypeError, ValueError):
            raise SurrogateError(f"{key}.{name}: weight {weight!r} is not a number") from None
        if not math.isfinite(w) or w < 0:
            raise SurrogateError(f"{key}.{name}: weight {weight!r} must be finite and >= 0")
        out[str(name)] = w
    if sum(out.values()) <= 0:
        raise SurrogateError(f"{key}: the weights sum to 0")
    return out


def check_shares(shares: pd.DataFrame, source: str = "shares") -> pd.DataFrame:
    """Mixtures x sources share matrix: numeric, in [0, 1], rows summing to 1, unique names."""
    if not isinstance(shares, pd.DataFrame) or shares.shape[1] < 2 or shares.empty:
        raise SurrogateError(f"{source}: expected a mixtures x sources table with at least 2 "
                             "sources")
    out = shares.copy()
    out.index = out.index.astype(str)
    out.columns = out.columns.astype(str)
    dup = out.index[out.index.duplicated()].unique().tolist()
    if dup:
        raise SurrogateError(f"{source}: mixture(s) listed more than once: {', '.join(dup)}")
    try:
        out = out.astype(float)
    except (TypeError, ValueError) as exc:
        raise SurrogateError(f"{source}: shares are not numeric ({exc})") from None
    x = out.to_numpy()
    if not np.all(np.isfinite(x)) or np.any(x < -SHARE_TOL) or np.any(x > 1 + SHARE_TOL):
        raise SurrogateError(f"{source}: shares must be finite and in [0, 1]")
    sums = x.sum(axis=1)
    bad = np.abs(sums - 1) > SHARE_TOL
    if bad.any():
        i = int(np.argmax(bad))
        raise SurrogateError(f"{source}: mixture {out.index[i]!r}: shares sum to {sums[i]:.6g}, "
                             "not 1")
    return out


# ---------------------------------------------------------------------------------------------
# Candidate models


def _log_shares(x):
    return np.log(np.asarray(x, dtype=float) + LOG_OFFSET)


def build_model(name: str, n_sources: int) -> RegressorMixin:
    """A fresh, unfitted estimator of the candidate `name` (`MODELS`) for `n_sources` shares."""
    model_spec(name)
    if name == "linear":
        return LinearRegression(fit_intercept=False)
    if name == "loglinear":
        return make_pipeline(FunctionTransformer(_log_shares), LinearRegression())
    if name == "gbm":
        return GradientBoostingRegressor(n_estimators=100, learning_rate=0.1, max_depth=2,
                                         min_samples_leaf=2, random_state=MODEL_SEED)
    kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * RBF(0.5, (0.05, 100.0))
              + WhiteKernel(0.1, (1e-6, 10.0)))
    return GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=1,
                                    random_state=MODEL_SEED)


def fit_model(name: str, x: np.ndarray, y: np.ndarray, key: str = MODELS_KEY):
    """Fit one candidate on (mixtures x sources) shares `x` and targets `y`; refuses too few."""
    spec = model_spec(name, key)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    need = spec.min_runs(x.shape[1])
    if len(y) < need:
        raise SurrogateError(f"{key}: model {name!r} has {need} free parameters for "
                             f"{x.shape[1]} sources but only {len(y)} mixtures to fit on")
    est = clone(build_model(name, x.shape[1]))
    with warnings.catch_warnings():
        # GP hyper-parameters at a bound are expected on tiny sweeps (e.g. pure noise).
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(x, y)
    return est


def predict_model(est, x: np.ndarray, return_std: bool = False):
    x = np.asarray(x, dtype=float)
    if return_std:
        if not isinstance(est, GaussianProcessRegressor):
            raise SurrogateError("a predictive sd exists for the gp model only")
        return est.predict(x, return_std=True)
    return est.predict(x)


# ---------------------------------------------------------------------------------------------
# Held-out checks


def _spearman(pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman rho and its one-sided p (rho > 0); NaN for constant inputs."""
    if len(y) < 3 or np.ptp(pred) <= 1e-12 * max(1.0, float(np.max(np.abs(pred)))) \
            or np.ptp(y) == 0:
        return float("nan"), float("nan")
    res = sps.spearmanr(pred, y, alternative="greater")
    return float(res.statistic), float(res.pvalue)


def heldout_predictions(name: str, x: np.ndarray, y: np.ndarray, folds
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Held-out predictions of the model and of the training-fold mean over `folds`
    (a list of test-index arrays covering every row once)."""
    pred, base = np.empty(len(y)), np.empty(len(y))
    every = np.arange(len(y))
    for test in folds:
        train = np.setdiff1d(every, test)
        est = fit_model(name, x[train], y[train])
        pred[test] = predict_model(est, x[test])
        base[test] = y[train].mean()
    return pred, base


def loo_folds(n: int) -> list[np.ndarray]:
    return [np.array([i]) for i in range(n)]


def kfold_folds(n: int, k: int = K_FOLDS, seed: int = CV_SEED) -> list[np.ndarray]:
    split = KFold(n_splits=min(k, n), shuffle=True, random_state=seed)
    return [test for _, test in split.split(np.zeros((n, 1)))]


def _score(pred, base, y) -> dict[str, float]:
    rho, p = _spearman(pred, y)
    rho_b, _ = _spearman(base, y)
    mae, mae_b = float(np.mean(np.abs(pred - y))), float(np.mean(np.abs(base - y)))
    skill = 1.0 - mae / mae_b if mae_b > 1e-12 * max(1.0, float(np.max(np.abs(y)))) \
        else float("nan")
    return {"spearman": rho, "spearman_p": p, "mae": mae, "mean_spearman": rho_b,
            "mean_mae": mae_b, "skill": skill}


def _eligible(row: Mapping) -> bool:
    """Beats the mean on held-out MAE (LOO and K-fold) with a positive LOO rank correlation
    that is significant after Bonferroni over the candidate models (one-sided p x models <
    CLAIM_ALPHA: the choice takes the best of several models, so one test each would claim
    ~4 x as often on noise)."""
    return bool(row["loo_mae"] < row["loo_mean_mae"] and row["kfold_mae"] < row["kfold_mean_mae"]
                and np.isfinite(row["loo_spearman"]) and row["loo_spearman"] > 0
                and row["loo_spearman_p_bonf"] < CLAIM_ALPHA)


def single_threaded(func):
    """Run `func` with BLAS/OpenMP limited to one thread: the fits are tiny (tens of rows), and
    thread hand-offs made a GP fit ~6 x slower on a loaded 2-core machine. scikit-learn's
    per-fit checks of parameters and finiteness are skipped too (the shares and targets are
    checked once, before any fit: `check_shares`, `cross_validate`): 100 trees per boosting
    fit made them a fifth of the time. Neither changes a fitted value."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with threadpool_limits(1), sklearn.config_context(assume_finite=True,
                                                         skip_parameter_validation=True):
            return func(*args, **kwargs)
    return wrapper


@single_threaded
def cross_validate(shares: pd.DataFrame, targets: pd.DataFrame,
                   models: Sequence[str] = tuple(MODELS), *, k_folds: int = K_FOLDS,
                   seed: int = CV_SEED, target_se: pd.DataFrame | None = None,
                   n_seeds: int = 1, n_jobs: int = 1) -> pd.DataFrame:
    """The CV table (CV_COLUMNS): one row per target x model, targets in column order.

    `shares`: mixtures x sources (index = mixture names); `targets`: seed-averaged values,
    index = the same mixtures (any order; aligned to `shares`), one column per target (e.g.
    `mixture_means(runs)`, optionally with an "objective" column). `target_se`: the standard
    errors of those means (`mixture_se(runs)`) for noise_mae, and `n_seeds` for the table.
    Refuses (SurrogateError) models the design is too small for, before fitting anything.
    `n_jobs`: processes the targets are shared out over (joblib); the table does not depend
    on it (every fit is seeded, targets are independent and come back in order).
    """
    shares = check_shares(shares)
    mixtures = list(shares.index)
    lacking = [m for m in mixtures if m not in targets.index]
    if lacking:
        raise SurrogateError(f"targets: no values for mixture(s) {', '.join(lacking)}")
    x = shares.to_numpy()
    n, d = x.shape
    names = check_models(models, n, d, k_folds)
    loo, kf = loo_folds(n), kfold_folds(n, k_folds, seed)
    jobs = []
    for target in targets.columns:
        y = targets.loc[mixtures, target].to_numpy(dtype=float)
        if not np.all(np.isfinite(y)):
            raise SurrogateError(f"targets: column {target}: missing or infinite values")
        noise = float("nan")
        if target_se is not None and target in target_se.columns:
            se = target_se.loc[mixtures, target].to_numpy(dtype=float)
            if np.all(np.isfinite(se)):
                noise = float(np.sqrt(2 / np.pi) * np.sqrt(np.mean(se ** 2)))
        jobs.append(delayed(_target_rows)(str(target), x, y, noise, names, loo, kf,
                                          int(n_seeds)))
    log.info("held-out checks: %d targets x %d models, LOO (%d folds) and %d-fold, %d "
             "process(es)", len(jobs), len(names), n, len(kf), n_jobs)
    rows = [row for rows in Parallel(n_jobs=n_jobs)(jobs) for row in rows]
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=list(CV_COLUMNS))
    out["eligible"] = np.where([_eligible(r) for r in out.to_dict("records")], "yes", "no")
    choice = choose(out)
    chosen = dict(zip(choice["target"], choice["model"], strict=True))
    out["chosen"] = np.where(out["model"] == out["target"].map(chosen), "yes", "no")
    floats = [c for c in CV_COLUMNS if c.startswith(("loo_", "kfold_")) or c == "noise_mae"]
    out = out.astype({c: float for c in floats})
    return out[list(CV_COLUMNS)]


@single_threaded
def _target_rows(target: str, x: np.ndarray, y: np.ndarray, noise: float,
                 names: Sequence[str], loo: list, kf: list, n_seeds: int) -> list[dict]:
    """One target's rows of the CV table (`cross_validate`), one per model."""
    n, d = x.shape
    rows = []
    for name in names:
        s_loo = _score(*heldout_predictions(name, x, y, loo), y)
        s_kf = _score(*heldout_predictions(name, x, y, kf), y)
        row = {"target": target, "model": name, "n_params": MODELS[name].min_runs(d), "n": n,
               "n_seeds": n_seeds, "k_folds": len(kf)}
        row.update({f"loo_{k}": v for k, v in s_loo.items() if k != "spearman_p"})
        row["loo_spearman_p"] = s_loo["spearman_p"]
        row["loo_spearman_p_bonf"] = min(1.0, s_loo["spearman_p"] * len(names))
        row.update({f"kfold_{k}": v for k, v in s_kf.items() if k != "spearman_p"})
        row["noise_mae"] = noise
        rows.append(row)
    return rows


def _fisher_z(rho: float) -> float:
    return float(np.arctanh(np.clip(rho, -0.999999, 0.999999)))


def choose(cv: pd.DataFrame) -> pd.DataFrame:
    """Per target the chosen model (CHOICE_COLUMNS), else "mean" with claim "no".

    Among eligible models (`_eligible`), the simplest (order of `MODELS`) whose LOO Spearman
    is within one standard error of the best one's on Fisher's z scale (se = sqrt(1.06 /
    (n - 3)), the Fieller-Hartley-Pearson SE of z(rho_s)): the one-standard-error rule, so that
    a GP or boosted trees matching a linear truth do not displace the linear model on a
    rounding-level difference in rank correlation.
    """
    rows = []
    order = {name: i for i, name in enumerate(MODELS)}
    for target, group in cv.groupby("target", sort=False):
        recs = group.to_dict("records")
        ok = sorted((r for r in recs if _eligible(r)), key=lambda r: order[r["model"]])
        first = recs[0]
        if ok:
            best = max(_fisher_z(r["loo_spearman"]) for r in ok)
            se = math.sqrt(1.06 / max(first["n"] - 3, 1))
            pick = next(r for r in ok if _fisher_z(r["loo_spearman"]) >= best - se)
            rows.append({"target": target, "model": pick["model"], "claim": "yes",
                         **{k: pick[k] for k in CHOICE_COLUMNS[3:10]},
                         "reason": f"simplest of {len(ok)} model(s) beating the mean, LOO "
                                   "Spearman within 1 SE of the best"})
        else:
            rows.append({"target": target, "model": MEAN, "claim": "no",
                         "loo_spearman": float("nan"), "loo_mae": first["loo_mean_mae"],
                         "loo_mean_mae": first["loo_mean_mae"], "kfold_spearman": float("nan"),
                         "kfold_mae": first["kfold_mean_mae"],
                         "kfold_mean_mae": first["kfold_mean_mae"], "n": first["n"],
                         "reason": "no model beats predicting the mean on held-out MAE with a "
                                   "significant positive LOO Spearman: no claim"})
    out = pd.DataFrame(rows, columns=list(CHOICE_COLUMNS))
    return out.astype({c: float for c in CHOICE_COLUMNS[3:9]})


def write_cv(cv: pd.DataFrame, path: str | os.PathLike) -> None:
    """cv.tsv (or choice.tsv): fixed 6-decimal floats, NaN as "NaN", atomic."""
    write_tsv(cv, path)
