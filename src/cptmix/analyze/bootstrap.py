"""Seed x item bootstrap of the (partial) correlations: uncertainty that includes training noise.

Part of the analysis stage (after evaluation). The correlations and partial correlations of
section 3.4 are computed on the seed-averaged score differences (one number per mixture and
task); their permutation p treats those numbers as exact. Here they are not: each is an
average over S training seeds and I benchmark items. The bootstrap redraws both, seeds with
replacement and items with replacement, with ONE draw shared by all models of a task (base
and every mixture), so the pairing by seed and by item is kept, recomputes every mixture's
seed-averaged difference (for STS the Pearson r from the resampled items) and then r or the
partial r. Per task x statistic it reports the 95 % percentile interval (r_boot_low,
r_boot_high) and p_boot = 2 min(share <= 0, share >= 0) (at most 1).

The seed draw is shared by all tasks of a replicate (a seed is one training run, which every
task of it sees); item draws are per task. Vectorised: item multiplicities are a (B, I)
count matrix, so every resampled mean is one matrix product. Fixed seed (BOOTSTRAP_SEED).
With three seeds only 10 distinct seed multisets exist: the interval is coarse, but it is
the honest width. Without items only seeds are resampled; with one seed and no items the
columns are NaN.

Place in `cptmix.analyze`: above `columns`, the kernel `correlation`, `inference` (the
residual maker) and `replicates`; below `run`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cptmix.analyze.columns import STATISTICS
from cptmix.analyze.correlation import design_matrix, resolve_covariates
from cptmix.analyze.inference import residual_maker
from cptmix.analyze.replicates import ReplicateData, pearson_from_sums

BOOTSTRAP_SEED = 20240602
BOOTSTRAP_REPLICATES = 1000
BOOT_COLUMNS = ("r_boot_low", "r_boot_high", "p_boot")
CI_LEVEL = 0.95


def bootstrap_differences(data: ReplicateData, n_boot: int = BOOTSTRAP_REPLICATES,
                          seed: int = BOOTSTRAP_SEED) -> np.ndarray | None:
    """(T, B, n_mixtures) resampled seed-averaged differences; None when nothing varies."""
    s_n = data.n_seeds
    if data.items is None and s_n < 2:
        return None
    rng = np.random.default_rng(seed)
    # Seed multiplicities / S: the weights of the resampled seed average, shared by all tasks.
    seed_w = rng.multinomial(s_n, np.full(s_n, 1.0 / s_n), size=n_boot) / s_n  # (B, S)
    out = np.empty((len(data.tasks), n_boot, len(data.mixtures)))
    for t in range(len(data.tasks)):
        if data.items is None:
            per_seed = np.broadcast_to(data.scores[:, :, t], (n_boot, *data.scores.shape[:2]))
        else:
            per_seed = _item_resampled(data.items[t], rng, n_boot)  # (B, M, S)
        avg = np.einsum("bms,bs->bm", per_seed, seed_w)
        out[t] = avg[:, 1:] - avg[:, :1]
    return out


def _item_resampled(item, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """(B, M, S) task values on B item resamples (mean of items, or Pearson r)."""
    i_n = item.n_items
    counts = rng.multinomial(i_n, np.full(i_n, 1.0 / i_n), size=n_boot).astype(float)
    if item.kind == "pearson":
        x, y = item.prediction, item.gold  # (M, S, I)

        def wsum(a):
            return np.einsum("bi,msi->bms", counts, a)

        return pearson_from_sums(float(i_n), wsum(x), wsum(y), wsum(x * x), wsum(y * y),
                                 wsum(x * y))
    values = item.values
    finite = np.isfinite(values)
    if finite.all():
        return np.einsum("bi,msi->bms", counts, values) / i_n
    # Items missing somewhere are left out of the resampled means, as the test leaves them out.
    keep = finite.all(axis=(0, 1)).astype(float)
    c = counts * keep
    total = c.sum(axis=1)[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("bi,msi->bms", c, np.nan_to_num(values)) / total


def _boot_summary(r_boot: np.ndarray) -> tuple[float, float, float]:
    ok = r_boot[np.isfinite(r_boot)]
    if ok.size == 0:
        return np.nan, np.nan, np.nan
    low, high = np.quantile(ok, [(1 - CI_LEVEL) / 2, (1 + CI_LEVEL) / 2])
    p = min(1.0, 2.0 * min(float(np.mean(ok <= 0)), float(np.mean(ok >= 0))))
    return float(low), float(high), p


def bootstrap_correlations(boot: np.ndarray | None, table: pd.DataFrame,
                           composition: pd.DataFrame, tasks: Sequence[str],
                           covariates: Mapping[str, Sequence[str]] | None = None,
                           partial: bool = True) -> pd.DataFrame:
    """BOOT_COLUMNS for each row (task, statistic) of a correlation table, in its order.

    `table` is correlations.tsv (partial=False: plain Pearson r, no covariates) or
    partial_correlations.tsv (partial=True: its covariates); rows whose r is NaN stay NaN.
    `composition` holds the mixtures in the bootstrap's column order.
    """
    result = pd.DataFrame(np.nan, index=table.index, columns=list(BOOT_COLUMNS))
    if boot is None:
        return result
    covs = resolve_covariates(covariates) if partial else {s: [] for s in STATISTICS}
    task_pos = {t: k for k, t in enumerate(tasks)}
    cache = {}
    for idx, row in table.iterrows():
        if not np.isfinite(row["r"]):
            continue
        stat = row["statistic"]
        if stat not in cache:
            x = composition[stat].to_numpy(dtype=float)
            z = composition[covs[stat]].to_numpy(dtype=float).reshape(len(x), -1)
            m = residual_maker(design_matrix(z))
            rx = m @ (x - x.mean())
            cache[stat] = (m, rx / np.linalg.norm(rx))
        m, rx = cache[stat]
        y = boot[task_pos[row["task"]]]  # (B, n)
        ry = y @ m
        norm = np.linalg.norm(ry, axis=1)
        scale = np.linalg.norm(y - y.mean(axis=1, keepdims=True), axis=1)
        ok = norm > 1e-8 * np.maximum(scale, 1e-300)
        r_boot = np.where(ok, (ry @ rx) / np.where(ok, norm, 1.0), np.nan)
        result.loc[idx, list(BOOT_COLUMNS)] = _boot_summary(r_boot)
    return result
