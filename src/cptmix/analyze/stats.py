"""Compatibility re-exports of the former `stats` module; new code imports the modules below.

`stats` used to hold the input checks, the score differences and the correlations in one
module. They now live in `columns` (names), `checks` (input checks), `differences` (score
differences, averages, outcome matrix), `correlation` (the partial-correlation kernel) and
`correlations` (the correlation tables). This module only re-exports their names for callers
outside the package (tests/test_demo.py, benchmarks/bench_analyze.py); no module of
`cptmix.analyze` imports it, so it sits at the top of the package beside `run`.
"""

from __future__ import annotations

from cptmix.analyze.checks import (
    check_composition,
    check_differences,
    check_languages,
    check_scores,
)
from cptmix.analyze.columns import (
    BASE,
    CATEGORIES,
    COMPOSITION_COLUMNS,
    COUNT_STATISTICS,
    DIFF_COLUMNS,
    LONG_COLUMNS,
    RATIO_STATISTICS,
    SCORE_COLUMNS,
    STATISTICS,
    language_key,
)
from cptmix.analyze.correlation import (
    COLLINEAR_TOL,
    CONSTANT_TOL,
    NEAR_COLLINEAR_TOL,
    PartialCorrelation,
    default_covariates,
    design_matrix,
    finite_rows,
    partial_corr,
    resolve_covariates,
    t_test_pvalue,
)
from cptmix.analyze.correlations import PARTIAL_COLUMNS, correlations, partial_correlations
from cptmix.analyze.differences import (
    averages_from_differences,
    language_averages,
    outcome_matrix,
    score_differences,
    wide_differences,
)

__all__ = [
    "BASE",
    "CATEGORIES",
    "COLLINEAR_TOL",
    "COMPOSITION_COLUMNS",
    "CONSTANT_TOL",
    "COUNT_STATISTICS",
    "DIFF_COLUMNS",
    "LONG_COLUMNS",
    "NEAR_COLLINEAR_TOL",
    "PARTIAL_COLUMNS",
    "RATIO_STATISTICS",
    "SCORE_COLUMNS",
    "STATISTICS",
    "PartialCorrelation",
    "averages_from_differences",
    "check_composition",
    "check_differences",
    "check_languages",
    "check_scores",
    "correlations",
    "default_covariates",
    "design_matrix",
    "finite_rows",
    "language_averages",
    "language_key",
    "outcome_matrix",
    "partial_corr",
    "partial_correlations",
    "resolve_covariates",
    "score_differences",
    "t_test_pvalue",
    "wide_differences",
]
