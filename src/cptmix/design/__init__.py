"""Design stage: sampling designs of mixture sweeps, their space filling and the VIFs of the
compositional statistics across them.

Sits between `cptmix.config` and the demo world: everything here is a pure function of the
config (no data read). `sweep_spec` validates the `design.sweep` block (`DesignError` naming the
key), `sweep_shares` turns it into the mixtures `sweep-01 … sweep-NN` as token shares over the
sweep's sources (one function per method in `METHODS`: sobol, latin, dirichlet), and the
quality functions (`min_pairwise_distance`, `vif`, `statistic_correlations`) say how well a
design fills the simplex and separates the statistics. The corpus stage realises shares as
trainable fractions and epochs (`cptmix.corpus.realise`).
"""

from cptmix.design.quality import (
    RATIO_COLUMNS,
    STATISTICS_BASIS,
    VIF_COLUMNS,
    max_vif,
    min_pairwise_distance,
    share_statistics,
    statistic_correlations,
    vif,
)
from cptmix.design.study import (
    PROPOSED,
    check_design,
    design_problems,
    designed_mixtures,
    proxy_hp,
)
from cptmix.design.sweep import (
    DECIMALS,
    METHODS,
    PREFIX_STABLE,
    DesignError,
    SweepSpec,
    capped,
    method,
    round_shares,
    sweep_names,
    sweep_points,
    sweep_problems,
    sweep_shares,
    sweep_spec,
    to_bounded_simplex,
)

__all__ = [
    "DECIMALS",
    "METHODS",
    "PREFIX_STABLE",
    "PROPOSED",
    "RATIO_COLUMNS",
    "STATISTICS_BASIS",
    "VIF_COLUMNS",
    "DesignError",
    "SweepSpec",
    "capped",
    "check_design",
    "design_problems",
    "designed_mixtures",
    "max_vif",
    "method",
    "min_pairwise_distance",
    "proxy_hp",
    "round_shares",
    "share_statistics",
    "statistic_correlations",
    "sweep_names",
    "sweep_points",
    "sweep_problems",
    "sweep_shares",
    "sweep_spec",
    "to_bounded_simplex",
    "vif",
]
