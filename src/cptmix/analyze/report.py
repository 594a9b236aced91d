"""`run_analysis`: the analysis stage end to end, from score files to tables, figures, summary.

The analysis stage sits after evaluation in the workflow: it reads the composition table
(appendix C statistics of each mixture) and either one JMedBench score table per model ("base"
and one per mixture; `run_analysis`) or one long score-difference table of any study
(`run_analysis_from_differences`), and writes into one output folder

    score_differences.tsv        long, appendix E shape
    score_differences_wide.tsv   task rows x mixture columns
    averages.tsv                 table 1 shape (plus a "base" row and per-category means)
    correlations.tsv             plain Pearson r per task x statistic
    partial_correlations.tsv     the paper's partial r per task x statistic (section 3.4), with
                                 p_paper, p, p_perm, q_bh, jackknife interval, LOO sign, VIF
    prediction.tsv               leave-one-mixture-out ridge vs mean prediction per task
    planted_effects_check.tsv    only with `planted`: did the demo's planted effects come out?
    provenance.json / .tsv       config hash, input hashes, settings, software versions
    summary.md                   short human-readable digest of the above
    figures/*.png, *.svg         heatmaps, forest plots, averages, composition (FIGURES)

All files are written atomically and deterministically (same inputs, same bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from cptmix.analyze import figures
from cptmix.analyze.inference import (
    CI_LEVEL,
    EXACT_PERMUTATION_MAX_N,
    MONTE_CARLO_PERMUTATIONS,
    PERMUTATION_SEED,
)
from cptmix.analyze.planted import planted_check
from cptmix.analyze.predict import RIDGE_ALPHA, loo_prediction
from cptmix.analyze.stats import (
    STATISTICS,
    averages_from_differences,
    check_composition,
    correlations,
    language_averages,
    language_key,
    partial_correlations,
    resolve_covariates,
    score_differences,
    wide_differences,
)
from cptmix.analyze.tables import (
    format_tsv,
    read_composition,
    read_planted,
    read_score_differences,
    read_scores,
    write_tsv,
)
from cptmix.io import sha256_file as file_sha256
from cptmix.io import write_text as atomic_write_text

# Figure stems under figures/; each is written as .png and .svg.
FIGURES = (
    "composition",
    "averages",
    "score_differences_heatmap",
    "partial_correlations",
    *(f"forest_{stat}" for stat in STATISTICS),
    "statistics_correlation",
    "score_differences_correlation",
)
OUTPUT_FILES = (
    "score_differences.tsv",
    "score_differences_wide.tsv",
    "averages.tsv",
    "correlations.tsv",
    "partial_correlations.tsv",
    "prediction.tsv",
    "provenance.json",
    "provenance.tsv",
    "summary.md",
    *(f"figures/{stem}.{ext}" for stem in FIGURES for ext in ("png", "svg")),
)
PLANTED_FILE = "planted_effects_check.tsv"  # only when planted effects are given
# Packages whose versions the provenance records (those not installed say so).
PROVENANCE_PACKAGES = ("cptmix", "numpy", "scipy", "pandas", "matplotlib", "pingouin", "torch",
                       "transformers", "snakemake")
TOP_TASKS = 3  # tasks listed per statistic in summary.md


def _fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if np.isfinite(value) else "–"


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def summary_markdown(diffs: pd.DataFrame, averages: pd.DataFrame, partial: pd.DataFrame,
                     prediction: pd.DataFrame | None = None,
                     planted: pd.DataFrame | None = None) -> str:
    """A short digest: table 1, the strongest partial correlations and how much of them
    survives, the degenerate ones, the prediction skill and the planted-effect check."""
    tasks = diffs.drop_duplicates("task").set_index("task")
    mixtures = list(dict.fromkeys(diffs["mixture"]))
    lang = tasks["language"].map(language_key)
    lines = ["# Analysis summary", "",
             (f"{len(mixtures)} mixtures ({', '.join(mixtures)}); {len(tasks)} tasks "
              f"({int((lang == 'ja').sum())} Japanese, {int((lang == 'en').sum())} English). "
              "Score difference = CPT+SFT score − base+SFT score."), "",
             "## Average scores (table 1)", ""]
    diff_cols = [c for c in averages.columns if c.startswith("diff_")]
    header = ["mixture", "Japanese tasks", "English tasks", "Ja diff", "En diff",
              *[c[len("diff_"):] + " diff" for c in diff_cols]]
    rows = [[str(row["mixture"]), *[_fmt(row[c]) for c in averages.columns[1:]]]
            for _, row in averages.iterrows()]
    lines += _md_table(header, rows)

    defined_all = partial[np.isfinite(partial["r"].to_numpy(dtype=float))]
    n_def = len(defined_all)
    lines += ["", "## How much survives", "",
              (f"{n_def} defined partial correlations (of {len(partial)}). Nominally "
               f"significant (p < 0.05): {int((defined_all['p_paper'] < 0.05).sum())} with the "
               f"paper's df = n − 2, {int((defined_all['p'] < 0.05).sum())} with df = n − 2 − k, "
               f"{int((defined_all['p_perm'] < 0.05).sum())} by the exact permutation test "
               f"(about {0.05 * n_def:.1f} expected by chance alone); "
               f"{int((defined_all['q_bh'] < 0.05).sum())} with Benjamini–Hochberg q < 0.05 "
               "over the whole family.")]

    lines += ["", "## Strongest partial correlations per statistic", "",
              ("p uses df = n − 2 − k (k covariates); p_paper uses df = n − 2 as in the "
               "paper; p_perm is the exact permutation p (all n! orderings); q is "
               "Benjamini–Hochberg over all tests; LOO = fraction of leave-one-mixture-out r "
               f"with the same sign. Top {TOP_TASKS} tasks by |r| among the defined ones."), ""]
    for stat in STATISTICS:
        sub = partial[partial["statistic"] == stat]
        if sub.empty:
            continue
        covs = sub["covariates"].iloc[0] or "none"
        lines.append(f"### {stat} (covariates: {covs.replace(',', ', ')})")
        lines.append("")
        defined = sub[np.isfinite(sub["r"].to_numpy(dtype=float))]
        if defined.empty:
            lines += [f"No defined partial correlation: {sub['note'].iloc[0]}.", ""]
            continue
        # Stable sort on |r| keeps the base-file task order among ties: deterministic output.
        order = np.argsort(-np.abs(defined["r"].to_numpy(dtype=float)), kind="stable")
        top = defined.iloc[order[:TOP_TASKS]]
        rows = [[str(row.task), str(tasks.loc[row.task, "category"]),
                 str(tasks.loc[row.task, "language"]), _fmt(row.r), _fmt_p(row.p_paper),
                 _fmt_p(row.p), _fmt_p(row.p_perm), _fmt_p(row.q_bh),
                 _fmt(row.loo_sign_stable, 2)]
                for row in top.itertuples()]
        lines += _md_table(["task", "category", "language", "r", "p_paper", "p", "p_perm",
                            "q", "LOO"], rows)
        flagged = int((defined["note"] != "").sum())
        if flagged:
            lines.append("")
            lines.append(f"Caution ({flagged} of {len(defined)} tasks): "
                         f"{defined.loc[defined['note'] != '', 'note'].iloc[0]}.")
        lines.append("")

    nan_mask = ~np.isfinite(partial["r"].to_numpy(dtype=float))
    lines += ["## Degenerate partial correlations", "",
              (f"{int(nan_mask.sum())} of {len(partial)} task × statistic partial "
               "correlations are undefined (NaN in partial_correlations.tsv, reason in its note "
               "column).")]
    if nan_mask.any():
        kinds = (partial.loc[nan_mask]
                 .assign(reason=lambda d: d["note"].str.split(":").str[0])
                 .groupby(["statistic", "reason"], sort=False).size())
        lines += [""] + _md_table(["statistic", "reason", "tasks"],
                                  [[s, r, str(c)] for (s, r), c in kinds.items()])

    if prediction is not None:
        skill = prediction["skill"].to_numpy(dtype=float)
        ok = np.isfinite(skill)
        lines += ["", "## Does composition predict the gain?", "",
                  (f"Leave-one-mixture-out ridge (alpha = {RIDGE_ALPHA:g}) on log token counts "
                   "and ratios vs predicting the mean of the other mixtures: skill = 1 − "
                   f"MAE(ridge)/MAE(mean) > 0 in {int((skill[ok] > 0).sum())} of {int(ok.sum())} "
                   f"tasks; median skill {_fmt(float(np.median(skill[ok])) if ok.any() else np.nan)}"
                   " (prediction.tsv).")]
    if planted is not None:
        counts = planted["recovered"].value_counts()
        lines += ["", "## Planted effects (demo world)", "",
                  (f"Recovered with the expected sign: {int(counts.get('yes', 0))}, not: "
                   f"{int(counts.get('no', 0))}, untestable: {int(counts.get('untestable', 0))}"
                   f" of {len(planted)} (planted_effects_check.tsv).")]
        rows = [[str(r.task), str(r.expected_sign), str(r.basis).split(":")[0],
                 str(r.statistic or r.driver_mixtures), _fmt(r.contrast), _fmt(r.r),
                 _fmt_p(r.p_perm), str(r.recovered)] for r in planted.itertuples()]
        lines += [""] + _md_table(["task", "expected", "basis", "statistic / driver mixtures",
                                   "contrast", "r", "p_perm", "recovered"], rows)
    return "\n".join(lines) + "\n"


def _canonical_sha256(obj) -> str:
    """sha256 of canonical JSON (sorted keys, no spaces): equal configs, equal hashes."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance(config: Mapping | None, inputs: Mapping[str, str | os.PathLike],
               covariates: Mapping[str, Sequence[str]] | None) -> dict:
    """What produced the outputs: config hash, input hashes, settings, software versions.

    Nothing time- or host-dependent, so that the provenance is as reproducible as the tables
    (versions are fixed for a given environment).
    """
    return {
        "config_sha256": _canonical_sha256(config) if config is not None else "not given",
        "inputs_sha256": {role: file_sha256(path) for role, path in inputs.items()},
        "settings": {
            "covariates": {k: ",".join(v) for k, v in resolve_covariates(covariates).items()},
            "permutation_test": (f"exact over all n! orderings for n <= "
                                 f"{EXACT_PERMUTATION_MAX_N}, else {MONTE_CARLO_PERMUTATIONS} "
                                 f"random orderings (seed {PERMUTATION_SEED})"),
            "multiple_testing": "Benjamini-Hochberg over all defined p_perm",
            "interval": f"jackknife {100 * CI_LEVEL:g} % on Fisher z",
            "prediction": f"leave-one-mixture-out ridge, alpha {RIDGE_ALPHA:g}",
        },
        "software": {"python": platform.python_version(),
                     **{pkg: _version(pkg) for pkg in PROVENANCE_PACKAGES}},
    }


def _provenance_table(prov: Mapping, prefix: str = "") -> pd.DataFrame:
    """The provenance flattened to dotted keys (settings.covariates.ja_tokens), one a row."""
    rows = []
    for key, value in prov.items():
        if isinstance(value, Mapping):
            rows += _provenance_table(value, f"{prefix}{key}.").itertuples(index=False)
        else:
            rows.append((f"{prefix}{key}", str(value)))
    return pd.DataFrame(rows, columns=["key", "value"])


def write_analysis(composition: pd.DataFrame, diffs: pd.DataFrame, averages: pd.DataFrame,
                   out_dir: str | os.PathLike,
                   covariates: Mapping[str, Sequence[str]] | None = None, *,
                   planted: pd.DataFrame | None = None,
                   mixture_sources: Mapping[str, object] | None = None,
                   provenance_info: dict | None = None, make_figures: bool = True) -> None:
    """Compute every table from checked inputs and write all outputs into `out_dir`.

    `make_figures=False` skips figures/ (the tables alone take well under a second).
    """
    comp = check_composition(composition)
    corr = correlations(diffs, comp)
    partial = partial_correlations(diffs, comp, covariates)
    prediction = loo_prediction(diffs, comp)
    check = (planted_check(planted, diffs, comp, mixture_sources)
             if planted is not None else None)

    out = Path(out_dir)
    fig_dir = out / "figures"
    mixtures = list(dict.fromkeys(diffs["mixture"]))
    write_tsv(diffs, out / "score_differences.tsv")
    write_tsv(wide_differences(diffs), out / "score_differences_wide.tsv")
    write_tsv(averages, out / "averages.tsv")
    write_tsv(corr, out / "correlations.tsv")
    write_tsv(partial, out / "partial_correlations.tsv")
    write_tsv(prediction, out / "prediction.tsv")
    if check is not None:
        write_tsv(check, out / PLANTED_FILE)
    if provenance_info is not None:
        atomic_write_text(out / "provenance.json",
                          json.dumps(provenance_info, indent=2, sort_keys=True) + "\n")
        atomic_write_text(out / "provenance.tsv", format_tsv(_provenance_table(provenance_info)))

    if make_figures:
        _write_figures(comp.loc[mixtures], diffs, averages, partial, fig_dir)
    # The summary last: its presence says the other outputs are complete.
    atomic_write_text(out / "summary.md",
                      summary_markdown(diffs, averages, partial, prediction, check))


def _write_figures(comp: pd.DataFrame, diffs: pd.DataFrame, averages: pd.DataFrame,
                   partial: pd.DataFrame, fig_dir: Path) -> None:
    """Every figure of FIGURES; `comp` holds the analysed mixtures in display order."""
    mixtures = list(comp.index)
    figures.composition_chart(comp, fig_dir / "composition.png")
    figures.averages_chart(averages, fig_dir / "averages.png")
    figures.score_differences_heatmap(diffs, fig_dir / "score_differences_heatmap.png")
    figures.partial_correlations_heatmap(partial, diffs, fig_dir / "partial_correlations.png")
    for stat in STATISTICS:
        figures.forest_plot(partial, diffs, stat, fig_dir / f"forest_{stat}.png")
    figures.correlation_heatmap(
        comp[list(STATISTICS)].corr(), fig_dir / "statistics_correlation.png",
        "Mutual correlation among the compositional statistics (appendix F, fig. F.1)")
    wide = diffs.pivot(index="task", columns="mixture", values="score_diff")
    tasks = list(dict.fromkeys(diffs["task"]))
    figures.correlation_heatmap(
        wide.loc[tasks, mixtures].T.corr(), fig_dir / "score_differences_correlation.png",
        "Mutual correlation among task-wise score differences (appendix F, fig. F.2)")


def _require_rows(composition: pd.DataFrame, mixtures, path) -> None:
    """Every scored mixture needs its composition row; name the file that lacks it."""
    have = set(composition["mixture"].astype(str)) if "mixture" in composition else set(
        composition.index.astype(str))
    absent = [m for m in dict.fromkeys(mixtures) if m not in have]
    if absent:
        raise ValueError(f"{path}: field mixture: no row for mixture(s) {', '.join(absent)}")


def run_analysis(composition_tsv: str | os.PathLike, base_scores_tsv: str | os.PathLike,
                 mixture_scores_tsvs: Mapping[str, str | os.PathLike],
                 out_dir: str | os.PathLike,
                 covariates: Mapping[str, Sequence[str]] | None = None, *,
                 planted: str | os.PathLike | None = None,
                 mixture_sources: Mapping[str, object] | None = None,
                 config: Mapping | None = None, make_figures: bool = True) -> None:
    """Read the inputs, compute every table, and write all outputs into `out_dir`.

    `mixture_scores_tsvs` maps mixture name -> score file, in the order tables should show;
    `covariates` overrides the default covariates per statistic (see `partial_correlations`);
    `planted` is the demo world's planted_effects.tsv (adds planted_effects_check.tsv);
    `mixture_sources` maps mixture -> its sources ({source: fraction} or a list), used by the
    planted check; `config` (the workflow config) is hashed into the provenance.
    All inputs are read and checked before anything is written.
    """
    composition = read_composition(composition_tsv)
    base = read_scores(base_scores_tsv)
    mixture_scores = {str(name): read_scores(path) for name, path in mixture_scores_tsvs.items()}
    _require_rows(composition, mixture_scores, composition_tsv)
    planted_df = read_planted(planted) if planted is not None else None
    diffs = score_differences(base, mixture_scores)
    averages = language_averages(diffs, mixture_scores, base)
    inputs = {"composition": composition_tsv, "scores:base": base_scores_tsv,
              **{f"scores:{name}": path for name, path in mixture_scores_tsvs.items()},
              **({"planted": planted} if planted is not None else {})}
    write_analysis(composition, diffs, averages, out_dir, covariates, planted=planted_df,
                   mixture_sources=mixture_sources,
                   provenance_info=provenance(config, inputs, covariates),
                   make_figures=make_figures)


def run_analysis_from_differences(composition_tsv: str | os.PathLike,
                                  scores_tsv: str | os.PathLike, out_dir: str | os.PathLike,
                                  covariates: Mapping[str, Sequence[str]] | None = None, *,
                                  planted: str | os.PathLike | None = None,
                                  mixture_sources: Mapping[str, object] | None = None,
                                  config: Mapping | None = None,
                                  make_figures: bool = True) -> None:
    """As `run_analysis`, from one long table `mixture, task, category, language, score_diff`
    (extra columns ignored; base_score/cpt_score, when present, give table 1's scores)."""
    composition = read_composition(composition_tsv)
    diffs = read_score_differences(scores_tsv)
    _require_rows(composition, diffs["mixture"].astype(str), composition_tsv)
    planted_df = read_planted(planted) if planted is not None else None
    inputs = {"composition": composition_tsv, "score_differences": scores_tsv,
              **({"planted": planted} if planted is not None else {})}
    write_analysis(composition, diffs, averages_from_differences(diffs), out_dir, covariates,
                   planted=planted_df, mixture_sources=mixture_sources,
                   provenance_info=provenance(config, inputs, covariates),
                   make_figures=make_figures)
