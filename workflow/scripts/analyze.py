"""Snakemake script: the analysis stage (seed-aware differences, noise floors, contrasts,
correlations, prediction, planted check, figures) into the folder of output.summary.

Reads by name: params.models (base first), params.seeds, params.eval_pattern
("results/eval/{model}/seed-{seed}"; /scores.tsv and /items.tsv are appended), params.metric,
params.mixture_sources, params.covariates, params.replicate_scope, params.noise_floor (bool),
params.config; input.composition and, in the demo, input.planted.
"""
from pathlib import Path

from cptmix.analyze import run_analysis
from cptmix.analyze.replicates import nested_paths
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
p = sm.params
planted = getattr(sm.input, "planted", None) or None  # [] outside the demo
run_analysis(
    sm.input.composition,
    nested_paths(p.models, p.seeds, p.eval_pattern, "scores.tsv"),
    Path(sm.output.summary).parent,
    items=nested_paths(p.models, p.seeds, p.eval_pattern, "items.tsv"),
    metric=p.metric,
    covariates=p.covariates,
    planted=str(planted) if planted else None,
    mixture_sources=p.mixture_sources,
    replicate_scope=p.replicate_scope,
    require_noise_floor=bool(p.noise_floor),
    config=p.config,
)
