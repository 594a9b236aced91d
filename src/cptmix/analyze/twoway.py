"""The seed x item test of a difference: one contrast of models, over items AND seeds.

Part of the analysis stage (after evaluation); used for every score difference (CPT+SFT -
base+SFT), every contrast of the additive design and the planted-effect check. A contrast is
a weight vector w over the models (base first; e.g. e_mixture - e_base); per task, seed s and
item i it gives the paired difference d[s, i] = sum_m w_m x[m, s, i].

**Two-way random effects** (the default, `TEST_TWOWAY`): d[s, i] = mu + a_s + b_i + e_si with
seed effects a (training noise: CPT and/or SFT reseeded), item effects b (which items the
benchmark happens to hold) and residual e. From the two-way ANOVA mean squares (no
replication)

    MS_seed = I sum_s (dbar_s. - dbar)^2 / (S - 1)
    MS_item = S sum_i (dbar_.i - dbar)^2 / (I - 1)
    MS_res  = sum_si (d_si - dbar_s. - dbar_.i + dbar)^2 / ((S - 1)(I - 1))

the method-of-moments components are var_a = (MS_seed - MS_res)/I, var_b = (MS_item -
MS_res)/S, var_e = MS_res, each floored at 0, and

    Var(dbar) = var_a/S + var_b/I + var_e/(S I)   (= (MS_seed + MS_item - MS_res)/(S I) unfloored)

with Satterthwaite's df for S I Var = MS_seed* + [MS_item - MS_res]_+ (MS_seed* = max(MS_seed,
MS_res): a floored seed component keeps the seed stratum's S - 1 df; a floored item
component drops out) and a two-sided t p-value. The seed term is why a difference that is
large next to its item SE can still be noise: with three seeds and a visible seed effect df
is close to 2. (Letting a floored seed component take the residual's (S - 1)(I - 1) df instead
is anti-conservative: with 3 seeds MS_seed falls below MS_res by chance often enough to give
p ~ 1e-5 for differences whose three per-seed values merely happen to agree.)

With one seed (S = 1) the same model has no seed term: Var(dbar) = var(d_i)/I with df = I - 1,
the paired t-test over items (`TEST_ITEMS`: training noise not measured).

**Without items** (`TEST_STDERR`): the score files give per seed a value and a stderr only;
Var(dbar) = var_s(d_s)/S + mean_s(se_s^2) with se_s^2 = sum_m w_m^2 stderr_m,s^2 (unpaired, so
conservative; the item term is counted in full once), Satterthwaite df with n - 1 for the
stderr term.

Everything is vectorised over contrasts; the same inputs give the same numbers.

Place in `cptmix.analyze`: above `replicates` only; below `design`, `noise`, `planted` and
`run`.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from cptmix.analyze.replicates import ReplicateData

TEST_TWOWAY = "two-way seed x item random effects (method of moments), Satterthwaite t"
TEST_ITEMS = "items only: paired t over items (1 seed: training noise not measured)"
TEST_STDERR = ("no items: seed variance + per-seed stderr (unpaired, conservative), "
               "Satterthwaite t")
TEST_STDERR_1 = "no items, 1 seed: stderr only (unpaired; training noise not measured)"
STS_NOTE = "; STS: jackknife pseudo-values of Pearson r over items"
ALPHA = 0.05


def _pvalue(est: np.ndarray, var: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided t p-value; a zero variance gives p = 1 for a zero estimate, else 0."""
    se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(est) / se
        p = 2.0 * sps.t.sf(t, np.where(np.isfinite(df), df, np.inf))
    tiny = 1e-12 * np.maximum(1.0, np.abs(est))
    degenerate = np.isfinite(est) & (se <= tiny)
    p = np.where(degenerate, np.where(np.abs(est) <= tiny, 1.0, 0.0), p)
    return np.where(np.isfinite(est) & np.isfinite(var), p, np.nan)


def seed_item_test(d) -> dict[str, np.ndarray]:
    """The two-way (S >= 2) or paired (S = 1) test of mean(d) for d of shape (..., S, I).

    Returns arrays over the leading axes: estimate, se, df, p, and item_var (the item part
    of Var(dbar): var_b/I, or var(d)/I for one seed), seed_var (var_a/S; 0 for one seed).
    """
    d = np.asarray(d, dtype=float)
    s_n, i_n = d.shape[-2:]
    est = d.mean(axis=(-2, -1))
    if i_n < 2:
        raise ValueError("the seed x item test needs at least 2 items")
    if s_n == 1:
        x = d[..., 0, :]
        var = x.var(axis=-1, ddof=1) / i_n
        df = np.full(est.shape, i_n - 1.0)
        return {"estimate": est, "se": np.sqrt(var), "df": df, "p": _pvalue(est, var, df),
                "item_var": var, "seed_var": np.zeros_like(var)}
    seed_means = d.mean(axis=-1)
    item_means = d.mean(axis=-2)
    ms_seed = i_n * ((seed_means - est[..., None]) ** 2).sum(-1) / (s_n - 1)
    ms_item = s_n * ((item_means - est[..., None]) ** 2).sum(-1) / (i_n - 1)
    resid = d - seed_means[..., :, None] - item_means[..., None, :] + est[..., None, None]
    df_res = (s_n - 1) * (i_n - 1)
    ms_res = (resid ** 2).sum(axis=(-2, -1)) / df_res
    # Flooring var_a at 0 replaces MS_seed by MS_res in the seed stratum, which keeps its
    # S - 1 df: a seed mean square that is small by chance (2 df with 3 seeds) must not buy
    # the (S - 1)(I - 1) df of the residual (that made the test anti-conservative, see the
    # calibration in tests/test_replicates.py).
    ms_seed_eff = np.maximum(ms_seed, ms_res)
    var_a = (ms_seed_eff - ms_res) / i_n
    var_b = np.maximum((ms_item - ms_res) / s_n, 0.0)
    var = var_a / s_n + var_b / i_n + ms_res / (s_n * i_n)
    # S I Var = MS_seed* + c_item (MS_item - MS_res), c_item = 0 when var_b is floored.
    c_item = (ms_item > ms_res).astype(float)
    den = (ms_seed_eff ** 2 / (s_n - 1)
           + c_item * (ms_item ** 2 / (i_n - 1) + ms_res ** 2 / df_res))
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(den > 0, (s_n * i_n * var) ** 2 / den, np.nan)
    return {"estimate": est, "se": np.sqrt(var), "df": df, "p": _pvalue(est, var, df),
            "item_var": var_b / i_n, "seed_var": var_a / s_n}


def stderr_test(values, stderr, n_items: float = np.nan) -> dict[str, np.ndarray]:
    """The test without items: per-seed values (..., S) and their stderr (..., S)."""
    v = np.asarray(values, dtype=float)
    se2 = np.asarray(stderr, dtype=float) ** 2
    s_n = v.shape[-1]
    est = v.mean(-1)
    item_var = se2.mean(-1)
    df_item = n_items - 1.0 if np.isfinite(n_items) and n_items > 1 else np.inf
    if s_n == 1:
        var, seed_var = item_var, np.zeros_like(item_var)
        df = np.full(est.shape, df_item)
    else:
        seed_var = v.var(axis=-1, ddof=1) / s_n
        var = seed_var + item_var
        den = seed_var ** 2 / (s_n - 1) + (item_var ** 2 / df_item if np.isfinite(df_item)
                                           else 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = np.where(den > 0, var ** 2 / den, np.inf)
    return {"estimate": est, "se": np.sqrt(var), "df": df, "p": _pvalue(est, var, df),
            "item_var": item_var, "seed_var": seed_var}


def describe_test(data: ReplicateData, task_index: int) -> str:
    """What `contrast_tests` ran for this task (the `test` column)."""
    if data.items is None:
        return TEST_STDERR if data.n_seeds >= 2 else TEST_STDERR_1
    name = TEST_TWOWAY if data.n_seeds >= 2 else TEST_ITEMS
    if data.items[task_index].kind == "pearson":
        name += STS_NOTE
    return name


def contrast_tests(data: ReplicateData, weights: np.ndarray, task_index: int
                   ) -> dict[str, np.ndarray]:
    """Test every contrast (rows of `weights`, shape (C, M)) on one task.

    Adds n_items (items used: those finite for every model and seed) and the per-seed
    contrast values `per_seed` (C, S) to the result of `seed_item_test` / `stderr_test`.
    """
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    per_seed = np.einsum("cm,ms->cs", w, data.scores[:, :, task_index])
    if data.items is None:
        se = np.sqrt(np.einsum("cm,ms->cs", w ** 2, data.stderr[:, :, task_index] ** 2))
        out = stderr_test(per_seed, se, float(data.n[task_index]))
        out["n_items"] = np.full(len(w), data.n[task_index])
    else:
        x = data.items[task_index].values
        keep = np.all(np.isfinite(x), axis=(0, 1))
        if keep.sum() < 2:
            nan = np.full(len(w), np.nan)
            out = {k: nan for k in ("estimate", "se", "df", "p", "item_var", "seed_var")}
        else:
            d = np.einsum("cm,msi->csi", w, x[:, :, keep])
            out = seed_item_test(d)
        out["n_items"] = np.full(len(w), float(keep.sum()))
    out["per_seed"] = per_seed
    return out


def mdd(se, df, alpha: float = ALPHA, power: float = 0.8):
    """Minimum detectable difference: (t_{1-alpha/2, df} + t_{power, df}) se."""
    se = np.asarray(se, dtype=float)
    df = np.where(np.isfinite(df), df, np.inf)
    with np.errstate(invalid="ignore"):
        return (sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(power, df)) * se
