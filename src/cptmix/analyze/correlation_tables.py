"""The correlation tables: correlations.tsv (Pearson r) and partial_correlations.tsv.

In the analysis package (`cptmix.analyze`) above the correlation kernel (`correlation`), the
extras of `inference` and the outcome matrix of `differences`; below the runner (`run`). For
every task's score difference and each of the seven compositional statistics of the mixtures
(section 3.4, appendix C) `correlations` gives the plain Pearson r and `partial_correlations`
the paper's partial r with what a reviewer asks for (exact permutation p, Benjamini-Hochberg
q over the table, jackknife interval, leave-one-out sign stability, VIF).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from cptmix.analyze.columns import STATISTICS
from cptmix.analyze.correlation import is_constant, resolve_covariates
from cptmix.analyze.differences import outcome_matrix
from cptmix.analyze.inference import bh_qvalues, robust_partial_corr


def correlations(diffs: pd.DataFrame, composition: pd.DataFrame) -> pd.DataFrame:
    """Plain Pearson r (scipy.stats.pearsonr) of each task's score difference with each statistic.

    Columns: task, statistic, n, r, p. Mixtures with a missing score difference are dropped
    per task; NaN where fewer than 3 mixtures remain or either variable is constant.
    """
    wide, comp = outcome_matrix(diffs, composition)
    rows = []
    for task in wide.index:
        y_all = wide.loc[task].to_numpy(dtype=float)
        for stat in STATISTICS:
            x_all = comp[stat].to_numpy(dtype=float)
            ok = np.isfinite(y_all)
            x, y = x_all[ok], y_all[ok]
            r = p = np.nan
            if len(y) >= 3 and not is_constant(x) and not is_constant(y):
                res = sps.pearsonr(x, y)
                r, p = float(res.statistic), float(res.pvalue)
            rows.append({"task": task, "statistic": stat, "n": len(y), "r": r, "p": p})
    return pd.DataFrame(rows, columns=["task", "statistic", "n", "r", "p"])


PARTIAL_COLUMNS = ("task", "statistic", "covariates", "n", "r", "p_paper", "p", "p_perm",
                   "q_bh", "ci_low", "ci_high", "loo_sign_stable", "vif_max", "note")


def partial_correlations(diffs: pd.DataFrame, composition: pd.DataFrame,
                         covariates: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Partial correlation of every task's score difference with every statistic (section 3.4).

    Columns: task, statistic, covariates (comma-joined), n, r, p_paper, p, then what a reviewer
    asks for (see `cptmix.analyze.inference`): p_perm (exact permutation p), q_bh
    (Benjamini-Hochberg over all defined p_perm of the table), ci_low/ci_high (jackknife),
    loo_sign_stable, vif_max; and note. `covariates` maps a statistic to its covariate
    statistics; statistics it does not name keep the default, the other statistics of the same
    group (which are exactly collinear for exact counts and ratios: those rows come out NaN
    with the reason in `note`).
    """
    wide, comp = outcome_matrix(diffs, composition)
    covs = resolve_covariates(covariates)
    rows = []
    for task in wide.index:
        y = wide.loc[task].to_numpy(dtype=float)
        for stat in STATISTICS:
            res = robust_partial_corr(comp[stat].to_numpy(dtype=float), y,
                                      comp[covs[stat]].to_numpy(dtype=float),
                                      x_name=stat, covariate_names=covs[stat])
            rows.append({"task": task, "statistic": stat, "covariates": ",".join(covs[stat]),
                         "n": res.n, "r": res.r, "p_paper": res.p_paper, "p": res.p,
                         "p_perm": res.p_perm, "ci_low": res.ci_low, "ci_high": res.ci_high,
                         "loo_sign_stable": res.loo_sign_stable, "vif_max": res.vif_max,
                         "note": res.note})
    out = pd.DataFrame(rows, columns=[c for c in PARTIAL_COLUMNS if c != "q_bh"])
    # One family: every defined test of the table, whatever the task or statistic.
    out.insert(out.columns.get_loc("p_perm") + 1, "q_bh",
               bh_qvalues(out["p_perm"].to_numpy(dtype=float)))
    return out[list(PARTIAL_COLUMNS)]
