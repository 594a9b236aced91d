"""Snakemake script: the analysis stage (seed-aware differences, noise floors, contrasts,
correlations, prediction, planted check, figures) into the folder of output.summary.

Reads by name: params.score_files and params.item_files ({model: {seed: path}}, base first:
the files input.scores / input.item_scores declare, built by the same function),
params.metric, params.mixture_sources (the declared mixtures), params.designed (sweep,
proposed), params.covariates, params.replicate_scope, params.noise_floor (bool),
params.config; input.composition and, in the demo, input.planted.
"""
from pathlib import Path

from cptmix.analyze import run_analysis
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
p = sm.params


def by_name(paths, declared):
    """{model: {seed: path}}, each path one the rule declares as input."""
    out = {str(m): {int(s): Path(f) for s, f in per_seed.items()} for m, per_seed in paths.items()}
    missing = {str(f) for per_seed in out.values() for f in per_seed.values()} - set(declared)
    if missing:
        raise ValueError(f"analyze: params name files the rule does not declare: {sorted(missing)}")
    return out


planted = getattr(sm.input, "planted", None) or None  # [] outside the demo
run_analysis(
    sm.input.composition,
    by_name(p.score_files, sm.input.scores),
    Path(sm.output.summary).parent,
    items=by_name(p.item_files, sm.input.item_scores),
    metric=p.metric,
    covariates=p.covariates,
    planted=str(planted) if planted else None,
    mixture_sources=p.mixture_sources,
    replicate_scope=p.replicate_scope,
    require_noise_floor=bool(p.noise_floor),
    config=p.config,
    designed=list(p.designed),
)
