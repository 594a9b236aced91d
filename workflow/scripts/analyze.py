"""Snakemake script: score differences, correlations, prediction, planted check, figures."""
from pathlib import Path

from cptmix.analyze import run_analysis
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
run_analysis(sm.input.composition, sm.input.base, dict(zip(sm.params.mixtures, sm.input.mixtures)),
             Path(sm.output.diffs).parent, covariates=sm.params.covariates,
             planted=sm.input.planted or None, mixture_sources=sm.params.mixture_sources,
             config=sm.params.config)
