"""Analysis stage: score differences, table 1 averages and (partial) correlations, with figures.

Sits after evaluation in the workflow. Evaluation writes one JMedBench score table per model
(the before-CPT "base" model and one per corpus mixture, all after the same SFT); this package
computes the per-task score differences (paper section 3.3, appendix E), the language averages
(table 1), and the Pearson and partial correlations of each task's score difference with the
seven compositional statistics of the mixtures (section 3.4, appendix C), and writes them as
tables, figures and a short markdown summary (`run_analysis`). `cptmix.analyze.cli` provides
the `analyze` subcommand.
"""

from cptmix.analyze.report import OUTPUT_FILES, run_analysis
from cptmix.analyze.stats import (
    COUNT_STATISTICS,
    RATIO_STATISTICS,
    STATISTICS,
    PartialCorrelation,
    correlations,
    default_covariates,
    language_averages,
    partial_corr,
    partial_correlations,
    score_differences,
    wide_differences,
)

__all__ = [
    "COUNT_STATISTICS",
    "OUTPUT_FILES",
    "RATIO_STATISTICS",
    "STATISTICS",
    "PartialCorrelation",
    "correlations",
    "default_covariates",
    "language_averages",
    "partial_corr",
    "partial_correlations",
    "run_analysis",
    "score_differences",
    "wide_differences",
]
