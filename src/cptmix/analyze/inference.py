"""How much of a partial correlation survives: exact permutation p, BH q, leave-one-out, VIF.

Part of the analysis stage (after evaluation), next to `correlation`, which computes the
paper's partial r (section 3.4). With six mixtures per task, 27 tasks and seven collinear
statistics (189 tests) a t-test p says little, so every partial r is reported with

- `p_perm`: an exact permutation p. The outcome is permuted over all n! orderings (720 for
  n = 6), the residual partial r is recomputed for each, and p is the fraction of orderings
  with |r_perm| >= |r_obs| (the identity included, so p >= 1/n!). Beyond
  `EXACT_PERMUTATION_MAX_N` mixtures a fixed-seed Monte Carlo sample is used instead.
  Vectorised: with M = I - H the residual maker of the design [1, Z], the residual of a
  permuted outcome is M y_perm, so all orderings are one (n! x n) @ (n x n) product.
- `q_bh`: Benjamini-Hochberg over the whole family of defined p_perm values (`bh_qvalues`).
- `loo_sign_stable`: the fraction of leave-one-mixture-out partial r with the sign of r.
- `ci_low`, `ci_high`: a jackknife (leave-one-mixture-out) interval on Fisher's z.
- `vif_max`: the largest variance inflation factor among the predictor and its covariates
  (inf when one is an exact linear function of the others).

Everything is deterministic: exact enumeration, or a fixed seed.

Place in `cptmix.analyze`: above the kernel `correlation` (its only import from the package);
used by `correlations` (the partial-correlation table), `bootstrap`, `design`, `noise`,
`planted` and `run`.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from functools import lru_cache

import numpy as np
from scipy import stats as sps

from cptmix.analyze.correlation import (
    COLLINEAR_TOL,
    PartialCorrelation,
    design_matrix,
    finite_rows,
    partial_corr,
)

# 8! = 40,320 orderings x n columns is still a few MB; 9! would be 3 M rows per test.
EXACT_PERMUTATION_MAX_N = 8
MONTE_CARLO_PERMUTATIONS = 9999  # beyond that n: identity + 9,999 random orderings
PERMUTATION_SEED = 20240601  # fixed: the Monte Carlo p is reproducible
# |r_perm| >= |r_obs| is decided up to this relative tolerance, so that orderings giving the
# same |r| as the observed one (e.g. the reversal for a linear outcome) count as "as extreme"
# despite rounding.
PERMUTATION_RTOL = 1e-9
CI_LEVEL = 0.95
# Fisher's z is infinite at |r| = 1: clip first, so a perfect leave-one-out r widens the
# interval to (almost) [-1, 1] instead of producing NaN.
FISHER_CLIP = 1.0 - 1e-12
ZERO_R = 1e-9  # |r| below this is treated as exactly 0 when comparing signs
VIF_INF = 1e12  # a VIF above this is reported as inf (exact collinearity up to rounding)


@lru_cache(maxsize=8)
def permutations_for(n: int) -> np.ndarray:
    """Row orderings for the permutation test: (P, n) int array, the identity first.

    All n! orderings for n <= EXACT_PERMUTATION_MAX_N (720 for n = 6), otherwise the identity
    plus MONTE_CARLO_PERMUTATIONS seeded random ones. Cached and read-only.
    """
    if n <= EXACT_PERMUTATION_MAX_N:
        perms = np.array(list(itertools.permutations(range(n))), dtype=np.intp).reshape(-1, n)
    else:
        rng = np.random.default_rng(PERMUTATION_SEED)
        perms = np.vstack([np.arange(n), rng.permuted(
            np.tile(np.arange(n), (MONTE_CARLO_PERMUTATIONS, 1)), axis=1)]).astype(np.intp)
    perms.setflags(write=False)
    return perms


def residual_maker(design: np.ndarray) -> np.ndarray:
    """M = I - U U^T with U an orthonormal basis of the design's column space (rank-safe).

    Covariates may be collinear among themselves (e.g. ja_ratio and en_ratio when the parallel
    ratio is constant); the SVD basis keeps only the directions they actually span.
    """
    u, s, _ = np.linalg.svd(design, full_matrices=False)
    basis = u[:, s > s[0] * 1e-10] if s.size and s[0] > 0 else u[:, :0]
    return np.eye(design.shape[0]) - basis @ basis.T


def permuted_partial_r(x: np.ndarray, y: np.ndarray, z: np.ndarray,
                       perms: np.ndarray) -> np.ndarray:
    """Residual partial r of x with y[perm] for every row of `perms`, in one matrix product.

    Inputs must already be free of non-finite rows. An ordering whose residualised outcome
    vanishes (y[perm] in the covariates' span, by `partial_corr`'s criterion) has no r; it
    counts as 0, i.e. not extreme.
    """
    m = residual_maker(design_matrix(z))
    rx = m @ x
    ry = y[perms] @ m  # (P, n): M is symmetric, so row i is (M y[perm_i])^T
    num = ry @ rx
    ry_norm = np.linalg.norm(ry, axis=1)
    # Permuting does not change y's centred norm, so one number scales every ordering.
    centred = float(np.linalg.norm(y - y.mean()))
    ok = ry_norm > COLLINEAR_TOL * centred
    den = ry_norm * np.linalg.norm(rx)
    return np.divide(num, den, out=np.zeros_like(num), where=ok & (den > 1e-300))


def permutation_pvalue(x, y, covariates=None) -> float:
    """Exact (or seeded Monte Carlo) two-sided permutation p of the residual partial r.

    Rows with a non-finite value are dropped first; the caller decides whether the partial
    correlation is defined at all (`partial_corr`), this function only counts orderings.
    """
    x, y, z = finite_rows(x, y, covariates)
    if len(x) < 2:
        return float("nan")
    r = permuted_partial_r(x, y, z, permutations_for(len(x)))
    observed = abs(r[0])  # the identity ordering
    extreme = np.abs(r) >= observed * (1.0 - PERMUTATION_RTOL) - 1e-12
    return float(np.mean(extreme))


def naive_permutation_pvalue(x, y, covariates=None) -> float:
    """The same p as `permutation_pvalue` by calling `partial_corr` once per ordering.

    The slow reference: used by the tests to check the vectorised version and by
    benchmarks/bench_analyze.py as the baseline of the speed-up.
    """
    x, y, z = finite_rows(x, y, covariates)
    rs = np.array([partial_corr(x, y[perm], z).r for perm in permutations_for(len(x))])
    rs = np.nan_to_num(rs, nan=0.0)
    observed = abs(rs[0])
    return float(np.mean(np.abs(rs) >= observed * (1.0 - PERMUTATION_RTOL) - 1e-12))


def leave_one_out_r(x, y, covariates=None) -> np.ndarray:
    """Partial r with each observation dropped in turn (NaN where then undefined)."""
    x, y, z = finite_rows(x, y, covariates)
    keep = ~np.eye(len(x), dtype=bool)
    return np.array([partial_corr(x[k], y[k], z[k]).r for k in keep])


def sign_stability(r: float, loo: np.ndarray) -> float:
    """Fraction of the defined leave-one-out r with the sign of r; NaN if none is defined."""
    defined = loo[np.isfinite(loo)]
    if not np.isfinite(r) or defined.size == 0:
        return float("nan")
    # An r at rounding level is zero, not a sign: otherwise float noise (+-1e-16) decides.
    signs = np.where(np.abs(defined) < ZERO_R, 0.0, np.sign(defined))
    return float(np.mean(signs == (0.0 if abs(r) < ZERO_R else np.sign(r))))


def jackknife_ci(r: float, loo: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    """Jackknife interval for r on Fisher's z, centred on the full-sample z.

    se = sqrt((n-1)/n * sum (z_i - mean z)^2) over the n leave-one-out estimates, and the
    interval is tanh(z(r) -/+ t_{n-1} se). NaN unless r and every leave-one-out r is defined:
    an interval from the subsamples where the statistic happens to exist would be optimistic.
    """
    n = len(loo)
    if not np.isfinite(r) or n < 3 or not np.all(np.isfinite(loo)):
        return float("nan"), float("nan")
    z_full = np.arctanh(np.clip(r, -FISHER_CLIP, FISHER_CLIP))
    z_loo = np.arctanh(np.clip(loo, -FISHER_CLIP, FISHER_CLIP))
    se = float(np.sqrt((n - 1) / n * np.sum((z_loo - z_loo.mean()) ** 2)))
    half = float(sps.t.ppf(0.5 + level / 2, n - 1)) * se
    return float(np.tanh(z_full - half)), float(np.tanh(z_full + half))


def vif_max(x, covariates=None) -> float:
    """Largest variance inflation factor among [x, covariates] (each on the others + 1).

    1.0 without covariates; inf when a column is an exact linear function of the others,
    i.e. exactly the degeneracy that makes the partial correlation undefined.
    """
    x = np.asarray(x, dtype=float).reshape(len(x), 1)
    z = (np.empty((len(x), 0)) if covariates is None
         else np.asarray(covariates, dtype=float).reshape(len(x), -1))
    cols = np.column_stack([x, z])
    cols = cols[np.all(np.isfinite(cols), axis=1)]
    if cols.shape[1] < 2:
        return 1.0
    worst = 1.0
    for j in range(cols.shape[1]):
        v = cols[:, j] - cols[:, j].mean()
        norm = float(np.linalg.norm(v))
        if norm == 0:
            return float("inf")  # a constant column is collinear with the intercept
        m = residual_maker(design_matrix(np.delete(cols, j, axis=1)))
        rel = float(np.linalg.norm(m @ (v / norm)))  # sqrt(1 - R^2)
        if rel < COLLINEAR_TOL:
            return float("inf")
        worst = max(worst, 1.0 / (rel * rel))
    return float("inf") if worst > VIF_INF else worst


def bh_qvalues(pvalues) -> np.ndarray:
    """Benjamini-Hochberg q for the defined (finite) p values; NaN stays NaN."""
    p = np.asarray(pvalues, dtype=float)
    q = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = sps.false_discovery_control(p[ok], method="bh")
    return q


def robust_partial_corr(x, y, covariates=None, x_name: str = "predictor",
                        covariate_names=()) -> PartialCorrelation:
    """`partial_corr` plus p_perm, the leave-one-out sign stability, the jackknife interval
    and vif_max (all NaN where r is undefined, except vif_max, which describes only the
    composition)."""
    res = partial_corr(x, y, covariates, x_name=x_name, covariate_names=covariate_names)
    fx, _, fz = finite_rows(x, y, covariates)
    vif = vif_max(fx, fz)
    if not np.isfinite(res.r):
        return replace(res, vif_max=vif)
    loo = leave_one_out_r(x, y, covariates)
    low, high = jackknife_ci(res.r, loo)
    return replace(res, p_perm=permutation_pvalue(x, y, covariates), ci_low=low, ci_high=high,
                   loo_sign_stable=sign_stability(res.r, loo), vif_max=vif)
