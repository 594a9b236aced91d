"""The correlation kernel: the paper's partial correlation and the pieces it is built from.

Low in the analysis package (`cptmix.analyze`): it imports only `columns`; `inference`
(permutation p, jackknife, VIF) builds on it, and `correlations` turns it into the tables.
It holds the covariate choice (`default_covariates`, `resolve_covariates`), the result type
`PartialCorrelation`, the t-test p of a correlation (`t_test_pvalue`), the row filter
(`finite_rows`), the OLS design and residuals (`design_matrix`), the constancy test used by
the Pearson table (`is_constant`), and `partial_corr` itself.

Partial correlation follows section 3.4 literally: OLS-regress the predictor (a statistic) on
the covariates with an intercept, do the same for the outcome (a task's score difference), and
take the Pearson r of the two residual vectors. Two p-values are reported: `p_paper` with the
paper's df = n - 2 (the plain Pearson test applied to the residuals, which is what reproduces
the paper's numbers, e.g. r = 0.587 -> p = 0.221 at n = 6), and `p` with the correct
df = n - 2 - k for k covariates (the same as `pingouin.partial_corr`).

Degenerate cases give NaN with the reason in `note`, never a number: the compositional
statistics satisfy exact identities (total = ja + en + parallel; the three ratios sum to one),
so with the default covariates ("the other statistics of the same group") every predictor is an
exact linear function of its covariates and its residual is pure floating-point noise; a
Pearson r computed from that noise would look like a result but mean nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from cptmix.analyze.columns import COUNT_STATISTICS, RATIO_STATISTICS, STATISTICS

# A predictor (or outcome) whose residual after the covariates is below this fraction of its
# centred norm is an exact linear function of them up to rounding: r would be noise.
COLLINEAR_TOL = 1e-8
# Below this the value is kept but flagged: the predictor shares > 99.99 % of its variance with
# the covariates, so r is driven by whatever small deviations (e.g. rounding of the published
# statistics) remain.
NEAR_COLLINEAR_TOL = 1e-2
# A vector whose centred norm is below this fraction of its largest magnitude is constant.
CONSTANT_TOL = 1e-12


def is_constant(v: np.ndarray) -> bool:
    centred = v - v.mean()
    return float(np.linalg.norm(centred)) <= CONSTANT_TOL * max(float(np.max(np.abs(v))), 1e-300)


def default_covariates() -> dict[str, list[str]]:
    """The other statistics of the same group (counts or ratios) for each statistic."""
    out = {}
    for group in (COUNT_STATISTICS, RATIO_STATISTICS):
        for stat in group:
            out[stat] = [s for s in group if s != stat]
    return out


def resolve_covariates(covariates: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    """Defaults overridden per statistic by `covariates` (an empty list means none)."""
    out = default_covariates()
    for stat, covs in (covariates or {}).items():
        if stat not in STATISTICS:
            raise ValueError(f"covariates: unknown statistic {stat!r} "
                             f"(known: {', '.join(STATISTICS)})")
        covs = [str(c) for c in covs]
        bad = [c for c in covs if c not in STATISTICS]
        if bad:
            raise ValueError(f"covariates for {stat}: unknown statistic(s) {', '.join(bad)}")
        if stat in covs:
            raise ValueError(f"covariates for {stat}: a statistic cannot be its own covariate")
        if len(set(covs)) != len(covs):
            raise ValueError(f"covariates for {stat}: repeated covariate in {covs}")
        out[stat] = covs
    return out


@dataclass(frozen=True)
class PartialCorrelation:
    """One partial correlation: NaN r/p with a reason in `note` when it is undefined."""

    n: int
    k: int
    r: float
    p_paper: float  # df = n - 2 (the paper's test)
    p: float  # df = n - 2 - k (correct for k covariates)
    note: str = ""
    # Filled by `cptmix.analyze.inference.robust_partial_corr`; NaN from `partial_corr` alone.
    p_perm: float = float("nan")  # exact permutation p (all n! orderings of the outcome)
    ci_low: float = float("nan")  # jackknife interval on Fisher's z
    ci_high: float = float("nan")
    loo_sign_stable: float = float("nan")  # fraction of leave-one-out r with r's sign
    vif_max: float = float("nan")  # largest VIF among the predictor and its covariates


def t_test_pvalue(r: float, df: int) -> float:
    """Two-sided p-value of a correlation r under H0: rho = 0, with `df` degrees of freedom."""
    if df <= 0 or not np.isfinite(r):
        return float("nan")
    if abs(r) >= 1.0:
        return 0.0
    t = r * np.sqrt(df / (1.0 - r * r))
    return float(2.0 * sps.t.sf(abs(t), df))


def finite_rows(x, y, covariates=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y and the (n, k) covariate array as floats, without rows holding a non-finite value."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    z = (np.empty((len(x), 0)) if covariates is None
         else np.asarray(covariates, dtype=float).reshape(len(x), -1))
    ok = np.isfinite(x) & np.isfinite(y) & np.all(np.isfinite(z), axis=1)
    return x[ok], y[ok], z[ok]


def design_matrix(z: np.ndarray) -> np.ndarray:
    """[intercept, standardised covariates]: the OLS design of the residual method.

    Standardising leaves the column space (with the intercept) unchanged but keeps the
    least-squares problem well scaled whatever the units (token counts ~1e10, ratios ~0.1).
    """
    n = z.shape[0]
    zc = z - z.mean(axis=0)
    scale = np.linalg.norm(zc, axis=0)
    zc = zc / np.where(scale > 0, scale, 1.0)
    return np.column_stack([np.ones(n) / np.sqrt(n), zc])


def _residual(v: np.ndarray, design: np.ndarray) -> tuple[np.ndarray, float]:
    """OLS residual of v on `design`, and its norm relative to v's centred norm.

    v is centred and scaled to unit norm first so that token counts (~1e10) and ratios (~0.1)
    are residualised at the same numerical precision; the design contains an intercept, so
    neither step changes the residual's direction, and r is scale-free.
    """
    centred = v - v.mean()
    unit = centred / np.linalg.norm(centred)
    coef, *_ = np.linalg.lstsq(design, unit, rcond=None)
    resid = unit - design @ coef
    return resid, float(np.linalg.norm(resid))


def partial_corr(x: Sequence[float], y: Sequence[float],
                 covariates: np.ndarray | Sequence[Sequence[float]] | None = None,
                 x_name: str = "predictor", covariate_names: Sequence[str] = ()
                 ) -> PartialCorrelation:
    """The paper's partial correlation of predictor x and outcome y given covariate columns.

    `covariates` is an (n, k) array (or None / zero columns for a plain Pearson r). Rows with
    a non-finite value anywhere are dropped. Names are used only in the note.
    """
    x, y, z = finite_rows(x, y, covariates)
    n, k = len(x), z.shape[1]
    cov_text = ", ".join(covariate_names) if covariate_names else f"{k} covariate(s)"

    def undefined(note: str) -> PartialCorrelation:
        return PartialCorrelation(n, k, float("nan"), float("nan"), float("nan"), note)

    # With n <= k + 2 the correct test has no degrees of freedom left (and at n <= k + 1 the
    # residuals are identically zero), so there is nothing to report.
    if n <= k + 2:
        return undefined(f"too few observations: n={n} <= k+2={k + 2}")
    if is_constant(y):
        return undefined("constant outcome: the score difference is the same for every mixture")
    if is_constant(x):
        return undefined(f"constant predictor: {x_name} is the same for every mixture")
    design = design_matrix(z)
    rx, rel_x = _residual(x, design)
    if rel_x < COLLINEAR_TOL:
        return undefined(f"predictor collinear with covariates: {x_name} is an exact linear "
                         f"function of {cov_text} (relative residual {rel_x:.1e})")
    ry, rel_y = _residual(y, design)
    if rel_y < COLLINEAR_TOL:
        return undefined(f"outcome collinear with covariates: the score difference is an exact "
                         f"linear function of {cov_text} (relative residual {rel_y:.1e})")
    r = float(np.clip(rx @ ry / (np.linalg.norm(rx) * np.linalg.norm(ry)), -1.0, 1.0))
    note = ""
    if rel_x < NEAR_COLLINEAR_TOL:
        note = (f"near-collinear predictor: {x_name} is almost a linear function of {cov_text} "
                f"(relative residual {rel_x:.1e}); r reflects small deviations such as rounding")
    return PartialCorrelation(n, k, r, t_test_pvalue(r, n - 2), t_test_pvalue(r, n - 2 - k), note)
