"""Quality of a mixture design: how well it fills the share simplex, and how well it separates
the seven compositional statistics (correlations, variance inflation factors).

Stage: design (after config; pure functions of tables and arrays). `cptmix design` prints these
for the sweep and for the declared anchors; the analysis stage's partial correlations are only
identifiable where the VIFs here are finite.

The seven statistics (`cptmix.config.STATISTICS`) carry at most three degrees of freedom: the
counts obey total = ja + en + parallel and the ratios sum to 1, so the VIFs of all seven are
infinite by construction, for any design. `vif` therefore takes a column subset; its default
`VIF_COLUMNS` = (total_tokens, ja_ratio, parallel_ratio) is one size and two composition
coordinates, a basis of those three degrees of freedom with no identity among them. A
fixed-budget sweep holds the size (nearly) fixed — every run trains on the same token budget —
so within the sweep alone `total_tokens` has (nearly) no variance and the composition VIFs come
from `RATIO_COLUMNS`; the size effect is identified by the anchors plus the sweep together.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cptmix.config import LANGS, STATISTICS

VIF_COLUMNS = ("total_tokens", "ja_ratio", "parallel_ratio")
STATISTICS_BASIS = VIF_COLUMNS  # the three degrees of freedom of the seven statistics
RATIO_COLUMNS = ("ja_ratio", "parallel_ratio")


def _matrix(points) -> np.ndarray:
    """An n × K array from an array-like or a mapping name -> {source: share} (missing = 0)."""
    if isinstance(points, Mapping):
        rows = list(points.values())
        sources = list(dict.fromkeys(s for r in rows for s in r))
        return np.array([[float(r.get(s, 0.0)) for s in sources] for r in rows], dtype=float)
    return np.asarray(points, dtype=float)


def min_pairwise_distance(points) -> float:
    """The smallest Euclidean distance between two points of a design (shares; an n × K array
    or `sweep_shares`' mapping): the maximin criterion of space filling (larger = better).
    Needs at least two points."""
    from scipy.spatial.distance import pdist

    x = _matrix(points)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"the minimum pairwise distance needs at least two points, got "
                         f"{len(x) if x.ndim == 2 else x.shape}")
    return float(pdist(x).min())


def share_spread(points: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """{source: standard deviation of its share across the design} (population SD) of
    `sweep_shares`' mapping: what a slope on a source's share is estimated from (its standard
    error shrinks with this spread), so a larger spread is more power for the planted check
    and the surrogates' linear terms."""
    x = _matrix(points)
    sources = list(dict.fromkeys(s for r in points.values() for s in r))
    return {s: float(x[:, i].std()) for i, s in enumerate(sources)}


def share_statistics(shares: Mapping[str, float], langs: Mapping[str, str],
                     total: float) -> dict[str, float]:
    """The seven statistics of a mixture holding `total` tokens in the declared `shares`
    (source -> share), each source's tokens counted in its language (`langs`: source ->
    ja | en | parallel, the config's `sources.NAME.lang`). Declared, not realised: hash
    subsampling moves the realised shares a little (`cptmix.corpus.realise.realised_shares`)."""
    tokens = dict.fromkeys(LANGS, 0.0)
    for source, share in shares.items():
        lang = langs.get(source)
        if lang not in LANGS:
            raise ValueError(f"sources.{source}.lang: the statistics of a share need one "
                             f"language per source (ja, en or parallel), got {lang!r}")
        tokens[lang] += share * total
    return {
        "total_tokens": float(total), "ja_tokens": tokens["ja"], "en_tokens": tokens["en"],
        "parallel_tokens": tokens["parallel"],
        "ja_ratio": tokens["ja"] / total, "en_ratio": tokens["en"] / total,
        "parallel_ratio": tokens["parallel"] / total,
    }


def _columns(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"the table has no column(s) {', '.join(missing)} (it has "
                         f"{', '.join(map(str, table.columns))})")
    return table[list(columns)].astype(float)


def statistic_correlations(table: pd.DataFrame,
                           columns: Sequence[str] = STATISTICS) -> pd.DataFrame:
    """Pearson correlations between the statistics across a design's mixtures (rows). A
    statistic constant across the design has no correlation: NaN."""
    return _columns(table, columns).corr(method="pearson")


def vif(table: pd.DataFrame, columns: Sequence[str] = VIF_COLUMNS) -> pd.Series:
    """Variance inflation factors of `columns` across a design's mixtures (rows): for each
    column j, 1 / (1 − R²_j) of the OLS of column j on the others with a constant
    (statsmodels' `variance_inflation_factor` on the standardised columns plus a constant).

    `inf` where a column is an exact linear combination of the others and the constant
    (numerical rank of the design matrix does not grow when the column is added): perfect
    collinearity, e.g. any of total/ja/en/parallel tokens given the other three, a column
    constant across the design, or fewer mixtures than columns + 1."""
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    x = _columns(table, columns).to_numpy()
    n, p = x.shape
    if p < 2:
        raise ValueError(f"VIFs need at least two columns, got {list(columns)}")
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    exog = np.column_stack([np.ones(n), z])
    out = []
    for j in range(p):
        others = np.delete(exog, j + 1, axis=1)
        if sd[j] == 0 or np.linalg.matrix_rank(exog) == np.linalg.matrix_rank(others):
            out.append(np.inf)
            continue
        with warnings.catch_warnings():  # singular `others` (a constant column): pinv, fine
            warnings.simplefilter("ignore")
            out.append(float(variance_inflation_factor(exog, j + 1)))
    return pd.Series(out, index=list(columns), name="vif", dtype=float)


def max_vif(table: pd.DataFrame, columns: Sequence[str] = VIF_COLUMNS) -> float:
    return float(vif(table, columns).max())
