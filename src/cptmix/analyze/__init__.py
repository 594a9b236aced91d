"""Analysis stage: score differences, table 1 averages and (partial) correlations, with figures.

Sits after evaluation in the workflow. Evaluation writes one JMedBench score table per model
(the before-CPT "base" model and one per corpus mixture, all after the same SFT); this package
computes the per-task score differences (paper section 3.3, appendix E), the language averages
(table 1), and the Pearson and partial correlations of each task's score difference with the
seven compositional statistics of the mixtures (section 3.4, appendix C), and writes them as
tables, figures and a short markdown summary (`run_analysis`, or
`run_analysis_from_differences` for any study's long score-difference table).

With seed replicates (every CPT, SFT and evaluation per seed; `replicates`) each difference
is tested over items and seeds (`twoway`: two-way random effects, Satterthwaite df), noise
floors and minimum detectable differences are reported (`noise`), the additive design's
single steps are contrasted (`design`), and the correlations get a seed x item bootstrap
(`bootstrap`). Next to the paper's numbers it reports what a reviewer asks of six data points
per task (`inference`: exact permutation p, Benjamini-Hochberg q, leave-one-out sign
stability, jackknife interval, VIF), whether composition predicts the gain out of sample
(`predict`), whether the demo world's planted effects were recovered: right sign and
significant (`planted`), and the provenance.
`cptmix.analyze.cli` provides the `analyze` subcommand.

Modules, bottom to top; each imports only modules listed above it (no import circle):

- `columns`: statistic and category names, table column lists, "base", `language_key`;
- `checks`: input checks of score, composition and score-difference tables;
- `correlation`: the correlation kernel: covariates, `partial_corr`, design matrix and
  residuals, t-test p, row filter;
- `inference`: permutation p, BH q, leave-one-out, jackknife, VIF (`robust_partial_corr`);
- `differences`: score differences, table 1 averages, the task x mixture outcome matrix;
- `correlation_tables`: the correlation tables (Pearson r; partial r with the `inference`
  extras);
- `predict`: leave-one-mixture-out ridge prediction of the score differences;
- `tables`: reading input tables, writing TSV tables byte-reproducibly;
- `replicates`: reading and checking every (model, seed) score and item file;
- `twoway`: the seed x item test of a contrast of models;
- `design`: the additive design's covering pairs and their contrasts;
- `noise`: seed-aware score differences, noise floors, SEs of the averages;
- `bootstrap`: seed x item bootstrap of the differences and correlations;
- `planted`: reading the demo world's planted effects and checking their recovery;
- `candidates`: the candidate surrogates by name and the refusal to fit too few runs (no
  scikit-learn: the workflow checks a design with it while planning);
- `surrogate`: a designed sweep's targets, candidate surrogates, held-out checks and the choice;
- `propose`: the proposed mixture (the chosen surrogate maximised within bounds and caps) and
  its verification;
- `sweep`: the sweep's runs, the planted-effect check on the sweep, and the runners of the
  workflow's `fit_surrogate` and `verify_proposal` jobs;
- `power`: power by sweep size, simulated from the measured sweep (the surrogate's held-out
  skill and its noise ceiling; in the demo the planted check's recovered count), and the
  runner of the workflow's `sweep_power` job;
- `figures`: the PNG/SVG figures;
- `run`: the runner of the workflow's `analyze` job (`run_analysis`, outputs, summary.md,
  provenance);
- `cli`: the `analyze` subcommand; `stats`: re-exports of the former `stats` module for
  callers outside the package (nothing inside imports it).
"""

from cptmix import lazy_exports

# Each name and the module that defines it, imported on first use (`cptmix.lazy_exports`).
_EXPORTS = {
    "check_differences": "cptmix.analyze.checks",
    "COUNT_STATISTICS": "cptmix.analyze.columns",
    "RATIO_STATISTICS": "cptmix.analyze.columns",
    "STATISTICS": "cptmix.analyze.columns",
    "PartialCorrelation": "cptmix.analyze.correlation",
    "default_covariates": "cptmix.analyze.correlation",
    "partial_corr": "cptmix.analyze.correlation",
    "correlations": "cptmix.analyze.correlation_tables",
    "partial_correlations": "cptmix.analyze.correlation_tables",
    "averages_from_differences": "cptmix.analyze.differences",
    "language_averages": "cptmix.analyze.differences",
    "score_differences": "cptmix.analyze.differences",
    "wide_differences": "cptmix.analyze.differences",
    "bh_qvalues": "cptmix.analyze.inference",
    "permutation_pvalue": "cptmix.analyze.inference",
    "robust_partial_corr": "cptmix.analyze.inference",
    "planted_check": "cptmix.analyze.planted",
    "loo_prediction": "cptmix.analyze.predict",
    "ReplicateData": "cptmix.analyze.replicates",
    "load_replicates": "cptmix.analyze.replicates",
    "OUTPUT_FILES": "cptmix.analyze.run",
    "run_analysis": "cptmix.analyze.run",
    "run_analysis_from_differences": "cptmix.analyze.run",
    "seed_item_test": "cptmix.analyze.twoway",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
