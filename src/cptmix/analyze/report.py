"""`run_analysis`: the analysis stage end to end, from score files to tables, figures, summary.

The analysis stage sits after evaluation in the workflow: it reads the composition table
(appendix C statistics of each mixture) and one JMedBench score table per model ("base" and
one per mixture), and writes into one output folder

    score_differences.tsv        long, appendix E shape
    score_differences_wide.tsv   task rows x mixture columns
    averages.tsv                 table 1 shape (plus a "base" row and per-category means)
    correlations.tsv             plain Pearson r per task x statistic
    partial_correlations.tsv     the paper's partial r per task x statistic (section 3.4)
    summary.md                   short human-readable digest of the above
    figures/score_differences_heatmap.png, figures/partial_correlations.png,
    figures/averages.png

All files are written atomically and deterministically (same inputs, same bytes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cptmix.analyze import figures
from cptmix.analyze.stats import (
    STATISTICS,
    correlations,
    language_averages,
    language_key,
    partial_correlations,
    score_differences,
    wide_differences,
)
from cptmix.analyze.tables import (
    atomic_write_text,
    read_composition,
    read_scores,
    write_tsv,
)

OUTPUT_FILES = (
    "score_differences.tsv",
    "score_differences_wide.tsv",
    "averages.tsv",
    "correlations.tsv",
    "partial_correlations.tsv",
    "summary.md",
    "figures/score_differences_heatmap.png",
    "figures/partial_correlations.png",
    "figures/averages.png",
)
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


def summary_markdown(diffs: pd.DataFrame, averages: pd.DataFrame,
                     partial: pd.DataFrame) -> str:
    """A short digest: table 1, the strongest partial correlations, the degenerate ones."""
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

    lines += ["", "## Strongest partial correlations per statistic", "",
              ("p uses df = n − 2 − k (k covariates); p_paper uses df = n − 2 as in the "
               f"paper. Top {TOP_TASKS} tasks by |r| among the defined ones."), ""]
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
        rows = [[str(t), str(tasks.loc[t, "category"]), str(tasks.loc[t, "language"]),
                 _fmt(r), _fmt_p(pp), _fmt_p(p)]
                for t, r, pp, p in zip(top["task"], top["r"], top["p_paper"], top["p"],
                                       strict=True)]
        lines += _md_table(["task", "category", "language", "r", "p_paper", "p"], rows)
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
    return "\n".join(lines) + "\n"


def run_analysis(composition_tsv: str | os.PathLike, base_scores_tsv: str | os.PathLike,
                 mixture_scores_tsvs: Mapping[str, str | os.PathLike],
                 out_dir: str | os.PathLike,
                 covariates: Mapping[str, Sequence[str]] | None = None) -> None:
    """Read the inputs, compute every table, and write all outputs into `out_dir`.

    `mixture_scores_tsvs` maps mixture name -> score file, in the order tables should show;
    `covariates` overrides the default covariates per statistic (see `partial_correlations`).
    All inputs are read and checked before anything is written.
    """
    composition = read_composition(composition_tsv)
    base = read_scores(base_scores_tsv)
    mixture_scores = {str(name): read_scores(path) for name, path in mixture_scores_tsvs.items()}

    diffs = score_differences(base, mixture_scores)
    averages = language_averages(diffs, mixture_scores, base)
    corr = correlations(diffs, composition)
    partial = partial_correlations(diffs, composition, covariates)

    out = Path(out_dir)
    write_tsv(diffs, out / "score_differences.tsv")
    write_tsv(wide_differences(diffs), out / "score_differences_wide.tsv")
    write_tsv(averages, out / "averages.tsv")
    write_tsv(corr, out / "correlations.tsv")
    write_tsv(partial, out / "partial_correlations.tsv")
    figures.score_differences_heatmap(diffs, out / "figures" / "score_differences_heatmap.png")
    figures.partial_correlations_heatmap(partial, diffs,
                                         out / "figures" / "partial_correlations.png")
    figures.averages_chart(averages, out / "figures" / "averages.png")
    # The summary last: its presence says the other outputs are complete.
    atomic_write_text(out / "summary.md", summary_markdown(diffs, averages, partial))
