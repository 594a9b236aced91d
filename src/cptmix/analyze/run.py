"""`run_analysis`: the analysis stage end to end, from score files to tables, figures, summary.

The analysis stage sits after evaluation in the workflow: it reads the composition table
(appendix C statistics of each mixture) and, per model ("base" = base+SFT and one CPT+SFT model
per mixture) and training seed, the evaluation's scores.tsv and items.tsv (`run_analysis`), or
one long score-difference table of any study (`run_analysis_from_differences`, single seed, no
tests), and writes into one output folder

    score_differences.tsv           long, appendix E shape (seed-averaged), plus the seed x item
                                    test of each difference: se, df, p, q_bh, clears_noise_floor
    score_differences_per_seed.tsv  the same per seed
    score_differences_wide.tsv      task rows x mixture columns
    averages.tsv                    table 1 shape (plus a "base" row and per-category means,
                                    and SEs of the Japanese/English mean differences)
    noise_floors.tsv                per task: seed SDs, SE of a difference, minimum detectable
                                    difference (`noise`)
    contrasts.tsv                   the additive design's single steps A vs B (`design`)
    correlations.tsv                plain Pearson r per task x statistic (+ seed x item bootstrap)
    partial_correlations.tsv        the paper's partial r per task x statistic (section 3.4), with
                                    p_paper, p, p_perm, q_bh, jackknife interval, LOO sign, VIF,
                                    and the seed x item bootstrap interval and p (`bootstrap`)
    prediction.tsv                  leave-one-mixture-out ridge vs mean prediction per task
    planted_effects_check.tsv       only with `planted`: recovered = right sign AND significant
    provenance.json / .tsv          config hash, input hashes, settings, software versions
    summary.md                      short human-readable digest of the above
    figures/*.png, *.svg            heatmaps, forest plots, averages, composition, noise floors

All files are written atomically and deterministically (same inputs, same bytes).

Place in `cptmix.analyze`: the top, the runner of the workflow's `analyze` job
(workflow/scripts/analyze.py calls `run_analysis`); it imports the modules below it and is
imported only by the package's `__init__` (re-exports) and `cli`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from cptmix.analyze import figures
from cptmix.analyze.bootstrap import (
    BOOT_COLUMNS,
    BOOTSTRAP_REPLICATES,
    BOOTSTRAP_SEED,
    bootstrap_correlations,
    bootstrap_differences,
)
from cptmix.analyze.checks import check_composition
from cptmix.analyze.columns import STATISTICS, language_key
from cptmix.analyze.correlation import resolve_covariates
from cptmix.analyze.correlation_tables import correlations, partial_correlations
from cptmix.analyze.design import contrasts_table, design_edges, resolve_design
from cptmix.analyze.differences import averages_from_differences, wide_differences
from cptmix.analyze.inference import (
    CI_LEVEL,
    EXACT_PERMUTATION_MAX_N,
    MONTE_CARLO_PERMUTATIONS,
    PERMUTATION_SEED,
)
from cptmix.analyze.noise import (
    averages_se,
    difference_tests,
    noise_floors,
    per_seed_differences,
    scope_text,
    tested_differences,
)
from cptmix.analyze.planted import planted_check, read_planted
from cptmix.analyze.predict import RIDGE_ALPHA, loo_prediction
from cptmix.analyze.replicates import METRIC_COLUMNS, ReplicateData, load_replicates
from cptmix.analyze.tables import (
    format_tsv,
    read_composition,
    read_score_differences,
    write_tsv,
)
from cptmix.analyze.twoway import ALPHA, TEST_ITEMS, TEST_STDERR, TEST_TWOWAY
from cptmix.io import sha256_file as file_sha256
from cptmix.io import write_text as atomic_write_text

# Figure stems under figures/; each is written as .png and .svg.
FIGURES = (
    "composition",
    "averages",
    "score_differences_heatmap",
    "noise_floors",
    "partial_correlations",
    *(f"forest_{stat}" for stat in STATISTICS),
    "statistics_correlation",
    "score_differences_correlation",
)
# Every file `run_analysis` writes (figures included), planted_effects_check.tsv aside.
OUTPUT_FILES = (
    "score_differences.tsv",
    "score_differences_per_seed.tsv",
    "score_differences_wide.tsv",
    "averages.tsv",
    "noise_floors.tsv",
    "contrasts.tsv",
    "correlations.tsv",
    "partial_correlations.tsv",
    "prediction.tsv",
    "provenance.json",
    "provenance.tsv",
    "summary.md",
    *(f"figures/{stem}.{ext}" for stem in FIGURES for ext in ("png", "svg")),
)
# What `run_analysis_from_differences` writes: no seeds or items, so no tests or noise floors.
DIFFERENCES_OUTPUT_FILES = tuple(
    f for f in OUTPUT_FILES
    if f not in ("score_differences_per_seed.tsv", "noise_floors.tsv", "contrasts.tsv",
                 "figures/noise_floors.png", "figures/noise_floors.svg"))
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


@dataclass
class Replicates:
    """The seed-aware results `write_analysis` adds to the outputs of `run_analysis`."""

    data: ReplicateData
    per_seed: pd.DataFrame
    floors: pd.DataFrame
    contrasts: pd.DataFrame
    boot: np.ndarray | None  # (tasks, B, mixtures) bootstrap of the seed-averaged differences


def _test_description(data: ReplicateData) -> str:
    if data.items is None:
        return (f"{TEST_STDERR}: items.tsv not given, so the score files' stderr stands in for "
                "the item-level variance (unpaired, hence conservative)")
    if data.n_seeds == 1:
        return f"{TEST_ITEMS}; STS uses jackknife pseudo-values of Pearson r over items"
    return (f"{TEST_TWOWAY} over the per-item paired differences d[s, i] (seed x item); "
            "STS, whose metric has no per-item value, uses jackknife pseudo-values of "
            "Pearson r over items")


def _replicate_sections(rep: Replicates, diffs: pd.DataFrame) -> list[str]:
    data = rep.data
    value_col = METRIC_COLUMNS[data.metric][0]
    metric = ("the JMedBench metric (score)" if data.metric == "score" else
              "the continuous metric (gold-option z-score, margin or log-probability for "
              "MCQA/DC/STS, as scores.tsv's continuous_metric names it; gold log-likelihood "
              "per byte for MT/NER; higher is better)")
    seeds = ", ".join(map(str, data.seeds))
    lines = ["## Replicates and noise", "",
             (f"Metric analysed: {metric}, column `{value_col}`. {data.n_seeds} seed(s) "
              f"({seeds}); replicate scope `{data.replicate_scope}`: {scope_text(data)}. "
              "Differences are paired by seed (CPT+SFT_s − base+SFT_s) and by item."), "",
             f"Test of each difference: {_test_description(data)}.", ""]
    if data.n_seeds < 2:
        lines += [("**One seed: training noise is not measured.** The tests below are over "
                   "items only; a difference that clears them may still be seed noise."), ""]
    tested = diffs[diffs["p"].notna()]
    n_clear = int((tested["clears_noise_floor"] == "yes").sum())
    n_q = int((tested["q_bh"] < ALPHA).sum())
    lines += [(f"Differences that clear the noise floor (p < 0.05): {n_clear} of {len(tested)} "
               f"(about {ALPHA * len(tested):.1f} expected by chance alone); {n_q} with BH "
               "q < 0.05 over all mixture × task differences (score_differences.tsv)."), "",
              "### Noise floors per task (noise_floors.tsv)", "",
              ("sd_base: seed SD of base+SFT; sd_cpt: seed SD of CPT+SFT pooled over mixtures; "
               "sd_diff: pooled seed SD of the differences; se_diff: RMS SE of a difference; "
               "mdd: minimum detectable difference (α = 0.05 two-sided, power 0.8). Clear: "
               "mixtures whose difference has p < 0.05."), ""]
    clear = diffs.groupby("task", sort=False)["clears_noise_floor"].apply(
        lambda c: int((c == "yes").sum()))
    rows = [[str(r.task), str(r.category), str(r.metric), _fmt(r.sd_base), _fmt(r.sd_cpt),
             _fmt(r.sd_diff), _fmt(r.se_diff), _fmt(r.mdd),
             f"{clear.get(r.task, 0)}/{len(data.mixtures)}"] for r in rep.floors.itertuples()]
    lines += _md_table(["task", "category", "metric", "sd_base", "sd_cpt", "sd_diff",
                        "se_diff", "mdd", "clear"], rows)
    lines += [""]
    if not rep.contrasts.empty:
        lines += ["### Contrasts of the additive design (contrasts.tsv)", "",
                  ("Each covering pair of the design (A adds sources to B, nothing in between) "
                   "and the paper's JaDominant vs EnDominant, tested per task with the same "
                   "seed x item test on CPT+SFT_A − CPT+SFT_B."), ""]
        rows = []
        for name, sub in rep.contrasts.groupby("contrast", sort=False):
            est = sub["estimate"].to_numpy(dtype=float)
            rows.append([str(name), str(sub["added"].iloc[0]) or "–",
                         _fmt(float(np.nanmean(est))),
                         f"{int((sub['significant'] == 'yes').sum())}/{len(sub)}",
                         str(int((sub["q_bh"] < ALPHA).sum()))])
        lines += _md_table(["contrast", "added", "mean estimate", "p < 0.05", "q < 0.05"],
                           rows)
        lines += [""]
    return lines


def _planted_section(planted: pd.DataFrame) -> list[str]:
    nonzero = planted[planted["expected_sign"] != "0"]
    zero = planted[planted["expected_sign"] == "0"]
    tests = [t.split(": ", 1)[-1] for t in planted["test"] if ": " in t]
    test = tests[0] if tests else "none"
    recovered = int((nonzero["recovered"] == "yes").sum())
    direction = int((nonzero["direction_only"] == "yes").sum())
    untestable = int((nonzero["recovered"] == "untestable").sum())
    false_pos = int((zero["recovered"] == "false positive").sum())
    lines = ["## Planted effects (demo world)", "",
             (f"Recovered (right sign AND p < 0.05, {test}): {recovered} of {len(nonzero)} "
              f"planted non-zero effects; right sign regardless of significance "
              f"(direction only): {direction}; untestable (no design edge raises a driver): "
              f"{untestable}. False positives among the {len(zero)} tasks planted with no "
              f"effect (any covering edge significant, Bonferroni over edges): {false_pos}. "
              "Estimates pool the covering edges that raise a driver source "
              "(planted_effects_check.tsv)."), ""]
    rows = [[str(r.task), str(r.expected_sign), str(r.driver_sources) or "–",
             str(len(str(r.edges).split("; "))) if r.edges else "0", _fmt(r.estimate),
             _fmt(r.se), _fmt_p(r.p), str(r.direction_only), str(r.recovered)]
            for r in planted.itertuples()]
    lines += _md_table(["task", "expected", "drivers", "edges", "estimate", "se", "p",
                        "direction", "recovered"], rows)
    return lines


def summary_markdown(diffs: pd.DataFrame, averages: pd.DataFrame, partial: pd.DataFrame,
                     prediction: pd.DataFrame | None = None,
                     planted: pd.DataFrame | None = None,
                     replicates: Replicates | None = None) -> str:
    """A short digest: what the seeds measure and the noise floors, how many differences clear
    them, table 1, the strongest partial correlations (with the seed x item bootstrap) and how
    much of them survives, the degenerate ones, the prediction skill, the design's contrasts
    and the planted-effect check."""
    tasks = diffs.drop_duplicates("task").set_index("task")
    mixtures = list(dict.fromkeys(diffs["mixture"]))
    lang = tasks["language"].map(language_key)
    lines = ["# Analysis summary", "",
             (f"{len(mixtures)} mixtures ({', '.join(mixtures)}); {len(tasks)} tasks "
              f"({int((lang == 'ja').sum())} Japanese, {int((lang == 'en').sum())} English). "
              "Score difference = CPT+SFT score − base+SFT score."), ""]
    if replicates is not None:
        lines += _replicate_sections(replicates, diffs)
    lines += ["## Average scores (table 1)", ""]
    diff_cols = [c for c in averages.columns if c.startswith("diff_")]
    has_se = "ja_diff_se" in averages.columns

    def diff_cell(row, key):
        if has_se and np.isfinite(row[f"{key}_diff_se"]):
            return f"{_fmt(row[f'{key}_diff'])} ± {_fmt(row[f'{key}_diff_se'])}"
        return _fmt(row[f"{key}_diff"])

    header = ["mixture", "Japanese tasks", "English tasks", "Ja diff", "En diff",
              *[c[len("diff_"):] + " diff" for c in diff_cols]]
    rows = [[str(row["mixture"]), _fmt(row["ja_score"]), _fmt(row["en_score"]),
             diff_cell(row, "ja"), diff_cell(row, "en"), *[_fmt(row[c]) for c in diff_cols]]
            for _, row in averages.iterrows()]
    lines += _md_table(header, rows)
    if has_se:
        lines += ["", ("± : SE of the mean difference over the language's tasks, from the seed x "
                       "item decomposition (seed term from the per-seed means, so tasks of one "
                       "training run are not treated as independent).")]

    defined_all = partial[np.isfinite(partial["r"].to_numpy(dtype=float))]
    n_def = len(defined_all)
    lines += ["", "## How much survives", "",
              (f"{n_def} defined partial correlations (of {len(partial)}). Nominally "
               f"significant (p < 0.05): {int((defined_all['p_paper'] < 0.05).sum())} with the "
               f"paper's df = n − 2, {int((defined_all['p'] < 0.05).sum())} with df = n − 2 − k, "
               f"{int((defined_all['p_perm'] < 0.05).sum())} by the exact permutation test "
               f"(about {0.05 * n_def:.1f} expected by chance alone); "
               f"{int((defined_all['q_bh'] < 0.05).sum())} with Benjamini–Hochberg q < 0.05 "
               "over the whole family; "
               f"{int((defined_all['p_boot'] < 0.05).sum())} with the seed x item bootstrap "
               "p_boot < 0.05" + ("" if replicates is not None and replicates.boot is not None
                                 else " (bootstrap not available: one seed and no items)")
               + ".")]

    lines += ["", "## Strongest partial correlations per statistic", "",
              ("p uses df = n − 2 − k (k covariates); p_paper uses df = n − 2 as in the "
               "paper; p_perm is the exact permutation p (all n! orderings); q is "
               "Benjamini–Hochberg over all tests; LOO = fraction of leave-one-mixture-out r "
               "with the same sign; boot 95 % and p_boot: the seed x item bootstrap (seeds and "
               "items resampled, the same draw for every model) of the partial r on the "
               f"seed-averaged differences. Top {TOP_TASKS} tasks by |r| among the defined "
               "ones."), ""]
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
                 _fmt(row.loo_sign_stable, 2),
                 (f"[{_fmt(row.r_boot_low)}, {_fmt(row.r_boot_high)}]"
                  if np.isfinite(row.r_boot_low) else "–"), _fmt_p(row.p_boot)]
                for row in top.itertuples()]
        lines += _md_table(["task", "category", "language", "r", "p_paper", "p", "p_perm",
                            "q", "LOO", "boot 95 %", "p_boot"], rows)
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
        lines += [""] + _planted_section(planted)
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
               covariates: Mapping[str, Sequence[str]] | None,
               data: ReplicateData | None = None) -> dict:
    """What produced the outputs: config hash, input hashes, settings, software versions.

    Nothing time- or host-dependent, so that the provenance is as reproducible as the tables
    (versions are fixed for a given environment).
    """
    settings = {
        "covariates": {k: ",".join(v) for k, v in resolve_covariates(covariates).items()},
        "permutation_test": (f"exact over all n! orderings for n <= "
                             f"{EXACT_PERMUTATION_MAX_N}, else {MONTE_CARLO_PERMUTATIONS} "
                             f"random orderings (seed {PERMUTATION_SEED})"),
        "multiple_testing": "Benjamini-Hochberg over all defined p_perm",
        "interval": f"jackknife {100 * CI_LEVEL:g} % on Fisher z",
        "prediction": f"leave-one-mixture-out ridge, alpha {RIDGE_ALPHA:g}",
    }
    if data is not None:
        settings.update({
            "metric": data.metric,
            "seeds": ",".join(map(str, data.seeds)),
            "replicate_scope": data.replicate_scope,
            "difference_test": _test_description(data),
            "bootstrap": (f"seeds x items, {BOOTSTRAP_REPLICATES} replicates, seed "
                          f"{BOOTSTRAP_SEED}, 95 % percentile"),
        })
    return {
        "config_sha256": _canonical_sha256(config) if config is not None else "not given",
        "inputs_sha256": {role: file_sha256(path) for role, path in inputs.items()},
        "settings": settings,
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
                   replicates: Replicates | None = None,
                   provenance_info: dict | None = None, make_figures: bool = True) -> None:
    """Compute the correlation tables from checked inputs and write all outputs to `out_dir`.

    `planted` is the finished planted check (planted_effects_check.tsv); `replicates` the
    seed-aware tables (absent for a bare score-difference table). `make_figures=False` skips
    figures/.
    """
    comp = check_composition(composition)
    mixtures = list(dict.fromkeys(diffs["mixture"]))
    tasks = list(dict.fromkeys(diffs["task"]))
    boot = replicates.boot if replicates is not None else None
    corr = correlations(diffs, comp)
    corr[list(BOOT_COLUMNS)] = bootstrap_correlations(boot, corr, comp.loc[mixtures], tasks,
                                                      partial=False)
    partial = partial_correlations(diffs, comp, covariates)
    partial[list(BOOT_COLUMNS)] = bootstrap_correlations(boot, partial, comp.loc[mixtures],
                                                         tasks, covariates)
    prediction = loo_prediction(diffs, comp)

    out = Path(out_dir)
    fig_dir = out / "figures"
    write_tsv(diffs, out / "score_differences.tsv")
    write_tsv(wide_differences(diffs), out / "score_differences_wide.tsv")
    write_tsv(averages, out / "averages.tsv")
    write_tsv(corr, out / "correlations.tsv")
    write_tsv(partial, out / "partial_correlations.tsv")
    write_tsv(prediction, out / "prediction.tsv")
    if replicates is not None:
        write_tsv(replicates.per_seed, out / "score_differences_per_seed.tsv")
        write_tsv(replicates.floors, out / "noise_floors.tsv")
        write_tsv(replicates.contrasts, out / "contrasts.tsv")
    if planted is not None:
        write_tsv(planted, out / PLANTED_FILE)
    if provenance_info is not None:
        atomic_write_text(out / "provenance.json",
                          json.dumps(provenance_info, indent=2, sort_keys=True) + "\n")
        atomic_write_text(out / "provenance.tsv", format_tsv(_provenance_table(provenance_info)))

    if make_figures:
        _write_figures(comp.loc[mixtures], diffs, averages, partial, fig_dir, replicates)
    # The summary last: its presence says the other outputs are complete.
    atomic_write_text(out / "summary.md",
                      summary_markdown(diffs, averages, partial, prediction, planted,
                                       replicates))


def _write_figures(comp: pd.DataFrame, diffs: pd.DataFrame, averages: pd.DataFrame,
                   partial: pd.DataFrame, fig_dir: Path,
                   replicates: Replicates | None = None) -> None:
    """Every figure of FIGURES; `comp` holds the analysed mixtures in display order."""
    mixtures = list(comp.index)
    figures.composition_chart(comp, fig_dir / "composition.png")
    figures.averages_chart(averages, fig_dir / "averages.png")
    figures.score_differences_heatmap(diffs, fig_dir / "score_differences_heatmap.png")
    if replicates is not None:
        data = replicates.data
        figures.noise_floor_chart(diffs, replicates.floors, fig_dir / "noise_floors.png",
                                  f"{data.n_seeds} seed(s), scope {data.replicate_scope}")
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


def _seed_count(scores) -> int:
    if isinstance(scores, Mapping) and "base" in scores and isinstance(scores["base"], Mapping):
        return len(scores["base"])
    return 0


def run_analysis(composition_tsv: str | os.PathLike,
                 scores: Mapping[str, Mapping[int, str | os.PathLike]],
                 out_dir: str | os.PathLike, *,
                 items: Mapping[str, Mapping[int, str | os.PathLike]] | None = None,
                 metric: str = "score",
                 covariates: Mapping[str, Sequence[str]] | None = None,
                 planted: str | os.PathLike | None = None,
                 mixture_sources: Mapping[str, object] | None = None,
                 replicate_scope: str = "full", require_noise_floor: bool = False,
                 config: Mapping | None = None, make_figures: bool = True,
                 designed: Sequence[str] = ()) -> None:
    """Read the inputs, compute every table, and write all outputs into `out_dir`.

    `scores` and `items` map model -> seed -> scores.tsv / items.tsv ("base" = base+SFT and
    one entry per mixture, mixtures in table order; every model needs the same seeds).
    `metric` is "score" (the JMedBench metric) or "continuous"; `items=None` makes the tests
    fall back on scores.tsv's stderr. `covariates` overrides the default covariates per
    statistic (see `partial_correlations`); `planted` is the demo world's planted_effects.tsv
    (adds planted_effects_check.tsv); `mixture_sources` is the resolved design {mixture:
    {source: fraction}} (contrasts and the planted check need it); `replicate_scope` says what
    the seeds vary ("full" or "sft"); `require_noise_floor` makes fewer than 2 seeds an error;
    `config` (the workflow config) is hashed into the provenance; `designed` names the
    mixtures generated by config `design` (sweep, proposed): analysed like the others, but
    outside the additive design (no `mixture_sources` entry, no contrasts). All inputs are read
    and checked before anything is written.
    """
    if require_noise_floor and _seed_count(scores) < 2:
        raise ValueError(f"require_noise_floor: a noise floor needs at least 2 seeds (scores "
                         f"give {_seed_count(scores)})")
    composition = read_composition(composition_tsv)
    data = load_replicates(scores, items, metric=metric, replicate_scope=replicate_scope)
    _require_rows(composition, data.mixtures, composition_tsv)
    unknown = sorted(set(designed) - set(data.mixtures))
    if unknown:
        raise ValueError(f"designed: mixture(s) {', '.join(unknown)} have no scores")
    additive = [m for m in data.mixtures if m not in set(designed)]
    design = resolve_design(mixture_sources, additive)
    edges = design_edges(design, additive)
    planted_df = None
    if planted is not None:
        sources = set().union(*map(set, design.values())) if design is not None else None
        planted_df = read_planted(planted, sources)

    tests = difference_tests(data)
    diffs = tested_differences(data, tests)
    averages = averages_from_differences(diffs).merge(averages_se(data, tests), on="mixture",
                                                      how="left", sort=False)
    replicates = Replicates(data, per_seed_differences(data), noise_floors(data, tests),
                            contrasts_table(data, edges), bootstrap_differences(data))
    check = planted_check(planted_df, data, edges) if planted_df is not None else None
    inputs = {"composition": composition_tsv,
              **{f"scores:{m}:seed-{s}": p for m, per in scores.items() for s, p in per.items()},
              **({f"items:{m}:seed-{s}": p for m, per in items.items() for s, p in per.items()}
                 if items is not None else {}),
              **({"planted": planted} if planted is not None else {})}
    write_analysis(composition, diffs, averages, out_dir, covariates, planted=check,
                   replicates=replicates,
                   provenance_info=provenance(config, inputs, covariates, data),
                   make_figures=make_figures)


def run_analysis_from_differences(composition_tsv: str | os.PathLike,
                                  scores_tsv: str | os.PathLike, out_dir: str | os.PathLike,
                                  covariates: Mapping[str, Sequence[str]] | None = None, *,
                                  config: Mapping | None = None,
                                  make_figures: bool = True) -> None:
    """As `run_analysis`, from one long table `mixture, task, category, language, score_diff`
    (extra columns ignored; base_score/cpt_score, when present, give table 1's scores).

    One number per mixture and task, no seeds or items: no tests, noise floors, contrasts or
    planted check (DIFFERENCES_OUTPUT_FILES); the bootstrap columns are NaN.
    """
    composition = read_composition(composition_tsv)
    diffs = read_score_differences(scores_tsv)
    _require_rows(composition, diffs["mixture"].astype(str), composition_tsv)
    inputs = {"composition": composition_tsv, "score_differences": scores_tsv}
    write_analysis(composition, diffs, averages_from_differences(diffs), out_dir, covariates,
                   provenance_info=provenance(config, inputs, covariates),
                   make_figures=make_figures)
