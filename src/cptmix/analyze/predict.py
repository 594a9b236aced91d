"""Does composition predict the gain? Leave-one-mixture-out ridge prediction of score differences.

Part of the analysis stage (after evaluation), beside the correlations: a correlation with six
points can look strong by chance, so this module asks the out-of-sample question instead. For
every task, each mixture in turn is held out, a small ridge regression is fitted on the other
mixtures' score differences from their composition, and the held-out difference is predicted.
The error is compared with the trivial predictor "the mean of the other mixtures":

    skill = 1 - MAE(ridge) / MAE(mean)     > 0: composition helps; <= 0: it does not

Features: log(1 + count) of the four token counts and the three ratios (seven columns),
standardised on each training fold. Ridge with a fixed alpha (no tuning: with five training
points there is nothing to tune on), closed form in numpy, intercept unpenalised.

Place in `cptmix.analyze`: above `columns` and `differences` (the outcome matrix); below
`run`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cptmix.analyze.columns import COUNT_STATISTICS, RATIO_STATISTICS
from cptmix.analyze.differences import outcome_matrix

RIDGE_ALPHA = 1.0  # on standardised features: shrinks 7 coefficients fitted on 5 points
PREDICTION_COLUMNS = ("task", "n", "mae_model", "mae_mean", "skill")
MIN_POINTS = 3  # fewer than 3 mixtures: a held-out fold trains on one point


def composition_features(composition: pd.DataFrame) -> np.ndarray:
    """(mixtures, 7) features: log1p of the token counts (orders of magnitude), raw ratios."""
    counts = np.log1p(composition[list(COUNT_STATISTICS)].to_numpy(dtype=float))
    return np.column_stack([counts, composition[list(RATIO_STATISTICS)].to_numpy(dtype=float)])


def ridge_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                  alpha: float = RIDGE_ALPHA) -> np.ndarray:
    """Ridge prediction with features standardised on the training rows.

    A feature constant in the training rows carries no information there; it is zeroed
    rather than divided by zero.
    """
    mean = x_train.mean(axis=0)
    sd = x_train.std(axis=0)
    sd = np.where(sd > 0, sd, np.inf)  # x / inf = 0: constant feature dropped
    xs, xt = (x_train - mean) / sd, (x_test - mean) / sd
    y_mean = y_train.mean()
    beta = np.linalg.solve(xs.T @ xs + alpha * np.eye(xs.shape[1]), xs.T @ (y_train - y_mean))
    return y_mean + xt @ beta


def loo_prediction(diffs: pd.DataFrame, composition: pd.DataFrame,
                   alpha: float = RIDGE_ALPHA) -> pd.DataFrame:
    """Per task: n, leave-one-mixture-out MAE of ridge and of the training mean, and skill.

    Mixtures without a score difference for the task are left out of its folds. NaN where
    fewer than MIN_POINTS mixtures remain; skill is NaN where the mean baseline is exact
    (constant outcome: nothing to predict).
    """
    wide, comp = outcome_matrix(diffs, composition)
    feats = composition_features(comp)
    rows = []
    for task in wide.index:
        y_all = wide.loc[task].to_numpy(dtype=float)
        ok = np.isfinite(y_all)
        x, y = feats[ok], y_all[ok]
        n = len(y)
        mae_model = mae_mean = skill = float("nan")
        if n >= MIN_POINTS:
            err_model, err_mean = [], []
            for i in range(n):
                train = np.arange(n) != i
                pred = ridge_predict(x[train], y[train], x[i:i + 1], alpha)[0]
                err_model.append(abs(pred - y[i]))
                err_mean.append(abs(y[train].mean() - y[i]))
            mae_model, mae_mean = float(np.mean(err_model)), float(np.mean(err_mean))
            # A baseline error at rounding level means the outcome is constant.
            if mae_mean > 1e-12 * max(1.0, float(np.max(np.abs(y)))):
                skill = 1.0 - mae_model / mae_mean
        rows.append({"task": task, "n": n, "mae_model": mae_model, "mae_mean": mae_mean,
                     "skill": skill})
    return pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))
