"""Design stage: sampling designs of mixture sweeps, their space filling and the VIFs of the
compositional statistics across them.

Sits between `cptmix.config` and the demo world: everything here is a pure function of the
config (no data read). `sweep_spec` validates the `design.sweep` block (`DesignError` naming the
key), `sweep_shares` turns it into the mixtures `sweep-01 … sweep-NN` as token shares over the
sweep's sources (one function per method in `METHODS`: sobol, latin, dirichlet, doptimal),
and the quality functions (`min_pairwise_distance`, `share_spread`, `vif`,
`statistic_correlations`) say how well a design fills the simplex, spreads each source's share
and separates the statistics. The corpus stage realises shares as
trainable fractions and epochs (`cptmix.corpus.realise`).
"""

from cptmix import lazy_exports

# Each name and the module that defines it, imported on first use (`cptmix.lazy_exports`).
_EXPORTS = {
    "RATIO_COLUMNS": "cptmix.design.quality",
    "STATISTICS_BASIS": "cptmix.design.quality",
    "VIF_COLUMNS": "cptmix.design.quality",
    "max_vif": "cptmix.design.quality",
    "min_pairwise_distance": "cptmix.design.quality",
    "share_spread": "cptmix.design.quality",
    "share_statistics": "cptmix.design.quality",
    "statistic_correlations": "cptmix.design.quality",
    "vif": "cptmix.design.quality",
    "PROPOSED": "cptmix.design.study",
    "check_design": "cptmix.design.study",
    "design_problems": "cptmix.design.study",
    "designed_mixtures": "cptmix.design.study",
    "proxy_budget": "cptmix.design.study",
    "proxy_hp": "cptmix.design.study",
    "DECIMALS": "cptmix.design.sweep",
    "DesignError": "cptmix.design.sweep",
    "METHODS": "cptmix.design.sweep",
    "PREFIX_STABLE": "cptmix.design.sweep",
    "SweepSpec": "cptmix.design.sweep",
    "capped": "cptmix.design.sweep",
    "fedorov_exchange": "cptmix.design.sweep",
    "method": "cptmix.design.sweep",
    "round_shares": "cptmix.design.sweep",
    "sweep_names": "cptmix.design.sweep",
    "sweep_points": "cptmix.design.sweep",
    "sweep_problems": "cptmix.design.sweep",
    "sweep_shares": "cptmix.design.sweep",
    "sweep_spec": "cptmix.design.sweep",
    "to_bounded_simplex": "cptmix.design.sweep",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
