"""The designed sweep's runs as one table, and the planted-effect check on the sweep.

Part of the analysis stage, for config `design` (issue 13). A sweep mixture is a vector of
token shares over the sweep's sources, trained for the same token budget; each is trained and
evaluated per seed like any mixture. This module reads

* every sweep run's scores and the base model's (`{model: {seed: scores.tsv}}`, base first)
  into the per-seed differences CPT+SFT - base+SFT (paired by seed, as everywhere else), and
* each sweep mixture's realisation (results/corpus/mixtures/{mixture}/realised.json): the
  declared design shares and the shares its subsample really holds (`realised_shares`),

and checks the demo world's planted effects on the whole sweep (`planted_sweep_check`):

- expected + / -: the slope of the seed-averaged difference on the drivers' summed realised
  share across the N sweep mixtures, with the task's held sources' shares (planted column
  `held_sources`: the base sources of its language, which every declared mixture holds whole
  but a sweep varies) as covariates: OLS, t with N - 2 - h df for h held sources in the
  sweep. Seed-averaging first makes the residual variance include the seeds' noise; the
  other sources' shares vary across the space-filling design and act as noise too, so the
  test is conservative. `recovered` = right sign AND BH q < 0.05 (BH over every task of the
  table).
- expected 0: the partial F test of the seed-averaged difference on all the sweep's shares
  (the last source's share left out: they sum to 1) against the held sources' shares alone
  (a constant when the task holds none): do the shares of the sources added to a mixture
  explain anything beyond the base sources of the task's language? Significant after BH = a
  false positive. The estimate is the partial correlation, sqrt of the partial R^2.

Place in `cptmix.analyze`: above `replicates`, `planted` and `inference`; below `run`-level
runners (`surrogate` uses its tables).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm

from cptmix.analyze.inference import bh_qvalues
from cptmix.analyze.planted import _sign, driver_list
from cptmix.analyze.replicates import load_replicates
from cptmix.analyze.twoway import ALPHA
from cptmix.corpus.realise import read_realised

SWEEP_CHECK_COLUMNS = ("task", "expected_sign", "driver_sources", "held_sources", "n_mixtures",
                       "n_seeds",
                       "estimate", "se", "df", "p", "q_bh", "test", "found_sign",
                       "direction_only", "significant", "recovered")
RUN_COLUMNS = ("mixture", "seed", "task", "category", "language", "value", "diff")


def sweep_shares_table(realised: Mapping[str, str | os.PathLike], which: str = "realised_shares"
                       ) -> pd.DataFrame:
    """mixture x source table of shares (`realised_shares` or the declared `shares`), in the
    order given; every record must name the same sources and the mixture it is filed under."""
    rows, sources = {}, None
    for name, path in realised.items():
        rec = read_realised(path)
        if rec["mixture"] != name:
            raise ValueError(f"{path}: field 'mixture' is {rec['mixture']!r}, filed as {name!r}")
        shares = {str(s): float(v) for s, v in rec[which].items()}
        if sources is None:
            sources = list(shares)
        elif set(shares) != set(sources):
            raise ValueError(f"{path}: field {which!r} names {sorted(shares)}, other records "
                             f"{sorted(sources)}")
        rows[name] = [shares[s] for s in sources]
    return pd.DataFrame.from_dict(rows, orient="index", columns=sources or [])


def anchor_shares(ledgers: Mapping[str, str | os.PathLike], sources: Sequence[str]
                  ) -> pd.DataFrame:
    """mixture x source token shares of declared mixtures (anchors) from their ledgers (the
    tokens each source gives the trained mixture, `declared_tokens`), over the sweep's
    `sources`: the rows `sweep_shares_table` gives a sweep mixture. A ledger naming a source
    outside `sources` is an error (that anchor is not a point of the design's simplex)."""
    rows = {}
    for name, path in ledgers.items():
        ledger = pd.read_csv(path, sep="\t")
        extra = sorted(set(ledger["source"]) - set(sources))
        if extra:
            raise ValueError(f"{path}: field 'source' names {extra}, outside the sweep's sources "
                             f"{list(sources)} (design.sweep.sources)")
        tokens = ledger.set_index("source")["declared_tokens"].reindex(list(sources)).fillna(0)
        if tokens.sum() <= 0:
            raise ValueError(f"{path}: field 'declared_tokens' sums to 0")
        rows[name] = (tokens / tokens.sum()).astype(float).tolist()
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(sources))


def sweep_runs(scores: Mapping[str, Mapping[int, str | os.PathLike]], metric: str = "score"
               ) -> pd.DataFrame:
    """Long table mixture, seed, task, category, language, value (CPT+SFT), diff (CPT+SFT -
    base+SFT of the same seed), from {model: {seed: scores.tsv}} with "base" first."""
    data = load_replicates(scores, None, metric=metric)
    tasks = data.tasks.reset_index(drop=True)
    rows = []
    for m, mixture in enumerate(data.mixtures, start=1):
        for s, seed in enumerate(data.seeds):
            for t, task in tasks.iterrows():
                value = float(data.scores[m, s, t])
                rows.append((mixture, int(seed), task["task"], task["category"],
                             task["language"], value, value - float(data.scores[0, s, t])))
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def planted_sweep_check(planted: pd.DataFrame, runs: pd.DataFrame, shares: pd.DataFrame
                        ) -> pd.DataFrame:
    """One row per planted task (module docstring): `planted` as `read_planted` returns it,
    `runs` from `sweep_runs`, `shares` (mixture x source) from `sweep_shares_table`."""
    mean = runs.groupby(["task", "mixture"], sort=False)["diff"].mean()
    n_seeds = int(runs["seed"].nunique()) if len(runs) else 0
    mixtures = [m for m in shares.index if m in set(runs["mixture"])]
    rows = []
    for item in planted.itertuples():
        task, expected = str(item.task), str(item.expected_sign).strip()
        drivers = driver_list(item.driver_sources)
        held = [h for h in driver_list(item.held_sources) if h in shares.columns]
        row = {"task": task, "expected_sign": expected, "driver_sources": ",".join(drivers),
               "held_sources": ",".join(held), "n_mixtures": len(mixtures), "n_seeds": n_seeds,
               "estimate": np.nan, "se": np.nan, "df": np.nan, "p": np.nan, "test": "",
               "found_sign": "", "direction_only": "", "significant": "",
               "recovered": "untestable"}
        rows.append(row)
        if task not in mean.index.get_level_values(0):
            row["test"] = "task not analysed"
            continue
        y = mean.loc[task].reindex(mixtures).to_numpy(dtype=float)
        z = shares.loc[mixtures, held].to_numpy(dtype=float)
        if expected == "0":
            row.update(_none_test(y, shares.loc[mixtures], z, held, n_seeds))
            continue
        absent = [d for d in drivers if d not in shares.columns]
        if absent:
            row["test"] = f"driver(s) {', '.join(absent)} not varied by the sweep"
            continue
        x = shares.loc[mixtures, drivers].sum(axis=1).to_numpy(dtype=float)
        design = np.column_stack([np.ones(len(mixtures)), x, z])
        if not slope_testable(x, design):
            apart = f" apart from the share of {', '.join(held)}" if held else ""
            row["test"] = (f"the drivers' share does not vary{apart} over "
                           f"{design.shape[1] + 1} or more design points")
            continue
        fit = sm.OLS(y, design).fit()
        adjusted = f", adjusted for the share of {', '.join(held)}" if held else ""
        row.update(estimate=float(fit.params[1]), se=float(fit.bse[1]), df=float(fit.df_resid),
                   p=float(fit.pvalues[1]),
                   test=(f"OLS slope of the seed-averaged difference on the drivers' realised "
                         f"share{adjusted}, t with {int(fit.df_resid)} df, {len(mixtures)} "
                         f"design points (mixtures) x {n_seeds} seed(s)"))
    out = pd.DataFrame(rows, columns=[c for c in SWEEP_CHECK_COLUMNS if c != "q_bh"])
    out = out.astype({c: float for c in ("estimate", "se", "df", "p")})
    out.insert(out.columns.get_loc("p") + 1, "q_bh", bh_qvalues(out["p"].to_numpy(dtype=float)))
    for i, row in out.iterrows():
        if not np.isfinite(row["p"]):
            continue
        significant = bool(row["q_bh"] < ALPHA)
        out.at[i, "significant"] = "yes" if significant else "no"
        if row["expected_sign"] == "0":
            out.at[i, "found_sign"] = "n/a"
            out.at[i, "direction_only"] = "n/a"
            out.at[i, "recovered"] = "false positive" if significant else "yes"
            continue
        found = _sign(row["estimate"])
        out.at[i, "found_sign"] = found
        out.at[i, "direction_only"] = "yes" if found == row["expected_sign"] else "no"
        out.at[i, "recovered"] = "yes" if found == row["expected_sign"] and significant \
            else "no"
    return out[list(SWEEP_CHECK_COLUMNS)]


def slope_testable(x: np.ndarray, design: np.ndarray) -> bool:
    """The guard of a non-zero row's slope test: more design points than `design`'s columns
    ([1, drivers' share `x`, held shares]), a varying `x`, and full column rank (the drivers'
    share not a combination of the held ones)."""
    return (len(x) >= design.shape[1] + 1 and np.ptp(x) > 0
            and np.linalg.matrix_rank(design) == design.shape[1])


def none_testable(n_points: int, n_sources: int) -> bool:
    """The guard of a "0" row's partial F test: more design points than sources (the full
    model holds an intercept and every share but the last)."""
    return n_points > n_sources


def _none_test(y: np.ndarray, shares: pd.DataFrame, held_x: np.ndarray, held: list[str],
               n_seeds: int) -> dict:
    """The "0" row's partial F test (module docstring): every share but the last (they sum to
    1) against the held sources' shares; the fields of a check row."""
    full_x = shares.iloc[:, :-1].to_numpy(dtype=float)
    if not none_testable(len(y), shares.shape[1]):
        return {"test": f"F test needs more than {full_x.shape[1] + 1} design points"}
    ones = np.ones((len(y), 1))
    full = sm.OLS(y, np.hstack([ones, full_x])).fit()
    reduced = sm.OLS(y, np.hstack([ones, held_x])).fit()
    f, p, df_diff = full.compare_f_test(reduced)
    partial_r2 = (reduced.ssr - full.ssr) / reduced.ssr if reduced.ssr > 0 else 0.0
    beyond = f" beyond {', '.join(held)}" if held else ""
    return {"estimate": float(np.sqrt(max(partial_r2, 0.0))), "df": float(full.df_resid),
            "p": float(p),
            "test": (f"partial F test, F({int(df_diff)}, {int(full.df_resid)}) = {f:.2f}, of the "
                     f"seed-averaged difference on the shares of "
                     f"{', '.join(map(str, shares.columns[:-1]))}{beyond} (estimate: partial "
                     f"R), {len(y)} design points (mixtures) x {n_seeds} seed(s)")}


def recovery_counts(check: pd.DataFrame) -> dict[str, int]:
    """Counts for a note or summary: non-zero planted effects, recovered (right sign and
    significant), right sign only, "none" tasks and false positives among them."""
    nonzero = check[check["expected_sign"] != "0"]
    zero = check[check["expected_sign"] == "0"]
    return {"nonzero": len(nonzero), "recovered": int((nonzero["recovered"] == "yes").sum()),
            "right_sign": int((nonzero["direction_only"] == "yes").sum()),
            "none": len(zero), "false_positives": int((zero["recovered"] == "false positive")
                                                      .sum())}


def summary_lines(check: pd.DataFrame, metric: str) -> Sequence[str]:
    c = recovery_counts(check)
    return [(f"Planted effects on the sweep ({metric}): {c['recovered']} of {c['nonzero']} "
             f"non-zero effects recovered (right sign and BH q < {ALPHA}; {c['right_sign']} "
             f"right sign), {c['false_positives']} of {c['none']} \"none\" tasks "
             f"significant.")]


# ---------------------------------------------------------------------------------------------
# The design's runners: surrogates + proposal (fit_surrogate), verification (verify_proposal)

OBJECTIVE_TARGETS_KEY = "design.objective.targets"


def declared_score_files(rule: str, score_files: Mapping, anchor_ledgers: Mapping,
                         input_scores: Sequence[str], input_ledgers: Sequence[str]
                         ) -> dict[str, dict[int, str]]:
    """A design rule's {model: {seed: scores.tsv}} from its params (`score_files`: seeds as
    keys of any type), checked against the files the rule declares as inputs: a params path
    that is not an input (so Snakemake would not wait for it) is an error naming `rule`."""
    from cptmix.io import declared_paths

    undeclared = set(anchor_ledgers.values()) - set(input_ledgers)
    if undeclared:
        raise ValueError(f"{rule}: params name undeclared inputs {sorted(undeclared)}")
    return declared_paths(rule, score_files, input_scores)


def runs_for(scores: Mapping[str, Mapping[int, str | os.PathLike]], models: Sequence[str],
              metric: str) -> pd.DataFrame:
    """The surrogate's runs table (one row per model x seed, each task and the language
    averages) of `models`, read from {model: {seed: scores.tsv}}."""
    from cptmix.analyze.replicates import read_model_scores
    from cptmix.analyze.surrogate import runs_table

    frames = []
    for model in models:
        for seed, path in scores[model].items():
            table = read_model_scores(path, metric, need_stderr=False)
            frames.append(pd.DataFrame({"mixture": str(model), "seed": int(seed),
                                        "task": table["task"], metric: table["value"]}))
    return runs_table(pd.concat(frames, ignore_index=True), metric)


def _caps(realised: Mapping[str, str | os.PathLike], budget: int, max_repetitions: float
          ) -> dict[str, float]:
    from cptmix.corpus.realise import share_caps

    tokens = read_realised(next(iter(realised.values())))["source_tokens"]
    return share_caps({s: int(t) for s, t in tokens.items()}, budget, max_repetitions)


def _fmt(x, spec: str = ".4f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) \
        else format(x, spec)


def run_design_analysis(scores: Mapping[str, Mapping[int, str | os.PathLike]],
                        realised: Mapping[str, str | os.PathLike], design: Mapping, *,
                        out_cv: str | os.PathLike, out_choice: str | os.PathLike,
                        out_runs: str | os.PathLike, out_proposal: str | os.PathLike,
                        out_summary: str | os.PathLike,
                        planted: str | os.PathLike | None = None,
                        out_planted: str | os.PathLike | None = None,
                        anchor_ledgers: Mapping[str, str | os.PathLike] | None = None,
                        n_jobs: int = 1) -> dict:
    """fit_surrogate's job. `scores`: {model: {seed: scores.tsv}} of "base", every sweep
    mixture and the anchors of `anchor_ledgers`; `realised`: {sweep mixture: realised.json};
    `design`: the config's design block, defaults filled (cptmix.config.fill_defaults);
    `anchor_ledgers`: {anchor: ledger.tsv} of the declared mixtures trained at the sweep's
    budget (corpus.token_budget = design.sweep.token_budget), which join the sweep as design
    points (`anchor_shares`); none: the sweep alone. `n_jobs`: processes for the held-out
    checks (the outputs do not depend on it). Writes the CV table of every target x
    model for both metrics (+ the objective), the choice per target, the runs table of the
    objective's metric, the proposal (proposal.json) and a summary; in the demo also the
    planted-effect check on the design."""
    from cptmix.analyze.planted import read_planted
    from cptmix.analyze.propose import jsonable, propose, surrogate_tables
    from cptmix.analyze.surrogate import check_models, write_cv
    from cptmix.io import write_json, write_text, write_tsv

    anchors = dict(anchor_ledgers or {})
    sweep = [m for m in scores if m != "base"]
    if sorted(sweep) != sorted([*realised, *anchors]):
        raise ValueError(f"fit_surrogate: scores name {sorted(sweep)}, realisations and "
                         f"anchors {sorted([*realised, *anchors])}")
    spec, surrogate, objective = design["sweep"], design["surrogate"], design["objective"]
    models = list(surrogate["models"])
    folds, cv_seed = int(surrogate["folds"]), int(surrogate["seed"])
    metric, targets = str(objective["metric"]), dict(objective["targets"])
    shares = sweep_shares_table(realised)
    if anchors:
        shares = pd.concat([shares, anchor_shares(anchors, list(shares.columns))])
    check_models(models, len(shares), shares.shape[1], folds)
    cvs, choices, runs_by_metric = [], [], {}
    for m in ("score", "continuous"):
        runs = runs_for(scores, sweep, m)
        runs_by_metric[m] = runs
        cv, choice = surrogate_tables(shares, runs, targets if m == metric else None, models,
                                      k_folds=folds, cv_seed=cv_seed, n_jobs=n_jobs)
        cvs.append(cv.assign(metric=m))
        choices.append(choice.assign(metric=m))
    cv = pd.concat(cvs, ignore_index=True)
    cv = cv[["metric", *[c for c in cv.columns if c != "metric"]]]
    choice = pd.concat(choices, ignore_index=True)
    choice = choice[["metric", *[c for c in choice.columns if c != "metric"]]]
    caps = _caps(realised, int(spec["token_budget"]), float(spec["max_repetitions"]))
    objective_cv = cv[(cv["metric"] == metric)].drop(columns="metric")
    proposal = propose(shares, runs_by_metric[metric], targets, models,
                       bounds=spec.get("bounds") or {}, caps=caps, cv=objective_cv,
                       k_folds=folds, cv_seed=cv_seed, metric=metric,
                       trust_region=bool(design["trust_region"]))
    proposal["caps"] = caps
    proposal["features"] = "realised token shares of the sweep's sources"
    proposal["design_points"] = {"sweep": len(realised), "anchors": sorted(anchors)}
    write_cv(cv, out_cv)
    write_tsv(out_choice, choice, float_format="%.6f")
    write_tsv(out_runs, runs_by_metric[metric], float_format="%.6f")
    write_json(out_proposal, jsonable(proposal))
    points = (f"{len(realised)} sweep mixtures + {len(anchors)} anchors at the same budget"
              if anchors else f"{len(realised)} sweep mixtures")
    head = (f"# Designed sweep: surrogates and proposal ({points} x "
            f"{runs_by_metric[metric]['seed'].nunique()} seed(s))")
    chosen = (f"Objective: {targets} on the {metric} metric (higher is better). Chosen model: "
              f"**{proposal['model']}** (claim: {'yes' if proposal['claim'] else 'no'}); "
              f"LOO Spearman {_fmt(proposal['cv']['loo_spearman'], '.3f')}, LOO MAE "
              f"{_fmt(proposal['cv']['loo_mae'])} vs predicting the mean "
              f"{_fmt(proposal['cv']['loo_mean_mae'])}.")
    proposed = "Proposed shares: " + ", ".join(f"{s} {w:.4f}" for s, w in
                                               proposal["proposed"].items())
    interval = proposal["interval"]
    predicted = (f"Predicted objective {_fmt(proposal['predicted'])}, "
                 f"{interval['level']:.0%} interval [{_fmt(interval['lower'])}, "
                 f"{_fmt(interval['upper'])}] ({interval['method']}); best measured sweep "
                 f"mixture {proposal['best_measured']['mixture']} "
                 f"({_fmt(proposal['best_measured']['measured'])}).")
    lines = [head, "", chosen, "", proposed, predicted, "", proposal["note"], "",
             "## Held-out checks per target (chosen model)", "",
             "| metric | target | model | claim | LOO Spearman | LOO MAE | mean's LOO MAE |",
             "|---|---|---|---|---|---|---|"]
    for r in choice.itertuples():
        lines.append(f"| {r.metric} | {r.target} | {r.model} | {r.claim} | "
                     f"{_fmt(r.loo_spearman, '.3f')} | {_fmt(r.loo_mae)} | "
                     f"{_fmt(r.loo_mean_mae)} |")
    if planted is not None and out_planted is not None:
        checks = []
        planted_df = read_planted(planted)
        for m in ("score", "continuous"):
            check = planted_sweep_check(planted_df, sweep_runs(scores, m), shares)
            checks.append(check.assign(metric=m))
            lines += ["", *summary_lines(check, m)]
        table = pd.concat(checks, ignore_index=True)
        write_tsv(out_planted, table[["metric", *SWEEP_CHECK_COLUMNS]], float_format="%.6g")
    write_text(out_summary, "\n".join(lines) + "\n")
    return proposal


def _number(x) -> float:
    """`x` as a float, NaN for None (a proposal without a prediction or an interval)."""
    return float("nan") if x is None else float(x)


def _objective_items(data, model: str, weights: Mapping[str, float]) -> np.ndarray:
    """(S, N) per-item values whose mean over the N items (all the objective's tasks, each
    item scaled by its task's weight) is the objective of `model`'s seed."""
    tasks = data.task_names()
    k = data.models.index(model)
    total_items = sum(data.items[tasks.index(t)].n_items for t in weights)
    parts = []
    for t, w in weights.items():
        values = data.items[tasks.index(t)].values[k]  # (S, I_t)
        parts.append(values * (w * total_items / values.shape[1]))
    return np.concatenate(parts, axis=1)


def task_weights(targets: Mapping[str, float], tasks: pd.DataFrame) -> dict[str, float]:
    """The objective as weights per task summing to 1 (ja_average / en_average spread evenly
    over the tasks of that language)."""
    from cptmix.analyze.columns import language_key

    out: dict[str, float] = {}
    total = float(sum(targets.values()))
    for name, w in targets.items():
        if name in ("ja_average", "en_average"):
            lang = name.split("_")[0]
            names = [r.task for r in tasks.itertuples() if language_key(r.language) == lang]
        else:
            names = [name]
        for t in names:
            out[t] = out.get(t, 0.0) + float(w) / total / len(names)
    return out


def budget_note(anchor_budget: Mapping[str, float], proxy_budget: int) -> str:
    """Whether the anchors and the proposal were trained on the same number of tokens."""
    if dict(anchor_budget) == {"tokens": int(proxy_budget)}:
        return (f"Note: the anchors, the sweep and the proposal all train {int(proxy_budget):,} "
                "tokens (corpus.token_budget = design.sweep.token_budget): the comparison is at "
                "equal budget.")
    anchors = (f"{int(anchor_budget['tokens']):,} tokens" if "tokens" in anchor_budget
               else f"{anchor_budget['epochs']:g} pass{'' if anchor_budget['epochs'] == 1 else 'es'}"
                    " over their own mixture")
    return (f"Note: the anchors train {anchors} (corpus.token_budget, else train.cpt.epochs); "
            f"the sweep and the proposal train {int(proxy_budget):,} tokens "
            "(design.sweep.token_budget): the comparison is not at equal budget.")


def _objective_seed_means(scores: Mapping, items: Mapping, models: Sequence[str],
                          objective: Mapping[str, float], metric: str
                          ) -> tuple[dict[str, np.ndarray], list[int]]:
    """{model: (S, N) objective items} of `models` (base is read too: the files' reference)
    and the seeds, from {model: {seed: path}} maps."""
    names = ["base", *[m for m in models if m != "base"]]
    data = load_replicates({m: scores[m] for m in names}, {m: items[m] for m in names},
                           metric=metric)
    weights = task_weights(objective, data.tasks)
    return {m: _objective_items(data, m, weights) for m in names[1:]}, list(data.seeds)


def choose_reference(scores: Mapping[str, Mapping[int, str | os.PathLike]],
                     items: Mapping[str, Mapping[int, str | os.PathLike]],
                     anchors: Sequence[str], objective: Mapping[str, float], metric: str,
                     out: str | os.PathLike) -> str:
    """choose_reference's job (design.verify.seeds): the anchor the proposal will be verified
    against, chosen as verify_proposal chooses its best anchor (highest objective, the mean
    over the replicate seeds of each seed's item mean; ties to the first), written to `out`
    (JSON: the choice, every anchor's objective, the seeds, metric and objective) so that
    the workflow trains that anchor at the verification seeds. Returns the anchor."""
    from cptmix.analyze.propose import best_mixture, seed_mean
    from cptmix.io import write_json

    if not anchors:
        raise ValueError("anchors: no declared mixture to verify the proposal against")
    items_of, seeds = _objective_seed_means(scores, items, anchors, objective, metric)
    means = {a: seed_mean({s: float(items_of[a][i].mean()) for i, s in enumerate(seeds)})
             for a in anchors}
    best = best_mixture(means)
    write_json(out, {"best_anchor": best, "anchors": means, "seeds": seeds, "metric": metric,
                     "objective": dict(objective)})
    return best


_ROW_KEYS = ("metric", "model", "claim", "predicted", "measured_mean", "measured_se", "n_seeds",
             "error", "inside_interval", "best_anchor", "best_anchor_mean", "diff", "diff_se",
             "diff_df", "diff_p", "mdd", "clears_noise_floor", "beats_best_anchor", "test")


def _reseeded_line(r: Mapping) -> str:
    """The summary's verdict over independent CPT runs (design.verify.seeds)."""
    verb = "beats" if r["beats_best_anchor"] == "yes" else "does not beat"
    return (f"The proposal and {r['best_anchor']} (the best anchor above) trained, CPT and "
            f"SFT, once per seed {', '.join(map(str, r['seeds']))}: {len(r['seeds'])} "
            f"independent CPT runs each. Proposed {_fmt(r['measured_mean'])} ± "
            f"{_fmt(r['measured_se'])} (inside the interval: "
            f"{'yes' if r['inside_interval'] else 'no'}), {r['best_anchor']} "
            f"{_fmt(r['best_anchor_mean'])}; proposed − it = {_fmt(r['diff'])} ± "
            f"{_fmt(r['diff_se'])} (df {_fmt(r['diff_df'], '.1f')}, p "
            f"{_fmt(r['diff_p'], '.3g')}, {r['test']}; minimum detectable difference "
            f"{_fmt(r['mdd'])}): the proposal {verb} the best anchor beyond the noise floor of "
            f"a reseeded mixture (CPT and SFT noise).")


def run_verification(proposal_json: str | os.PathLike,
                     scores: Mapping[str, Mapping[int, str | os.PathLike]],
                     items: Mapping[str, Mapping[int, str | os.PathLike]],
                     anchors: Sequence[str], *, out_table: str | os.PathLike,
                     out_summary: str | os.PathLike, anchor_budget: Mapping[str, float],
                     proxy_budget: int, design_points: Sequence[str] = (),
                     out_figure: str | os.PathLike | None = None,
                     replicate_scope: str = "full",
                     reference_json: str | os.PathLike | None = None,
                     reseeded_scores: Mapping | None = None,
                     reseeded_items: Mapping | None = None) -> dict:
    """verify_proposal's job: the proposed mixture's measured objective (per seed) vs the
    prediction and vs the best anchor (declared mixture), with the two-way seed x item test
    on the objective's items. `scores`/`items`: {model: {seed: path}} with base first and at
    least `proposed` and the anchors. `anchor_budget`: what each anchor trains ({epochs: x}
    or {tokens: N}); `proxy_budget`: the tokens the sweep and the proposal train; the summary
    says whether the comparison is at equal budget. `design_points`: the sweep's mixtures, whose
    best (highest seed mean) the proposal is also compared with, by the same test.
    `out_figure`: a PNG (and SVG) of every measured mixture's objective with the proposal's
    prediction (`figures.proposal_chart`). `replicate_scope` (replicates.scope) says which
    noise the seeds measure: under "sft" every mixture has one CPT run, so the test's seeds
    hold SFT noise only and its verdict is about those CPT runs, not the mixtures; the table
    and the summary say so.

    With design.verify.seeds: `reference_json` (choose_reference's choice, which must be the
    best anchor found here) and `reseeded_scores`/`reseeded_items`, {model: {seed: path}} of
    base, proposed and that anchor over independent CPT runs (the replicates' CPT seeds and
    the verification seeds): proposed − it is tested again over those seeds, a second row of
    the table (replicate_scope `full`) and a section of the summary."""
    from cptmix.analyze.propose import ONE_RUN_NOTE, verify_proposal
    from cptmix.analyze.replicates import REPLICATE_SCOPES
    from cptmix.io import write_text, write_tsv

    if replicate_scope not in REPLICATE_SCOPES:
        raise ValueError(f"replicate_scope: {replicate_scope!r} is not one of "
                         f"{', '.join(REPLICATE_SCOPES)}")

    if (reference_json is None) != (reseeded_scores is None) or (
            reseeded_scores is None) != (reseeded_items is None):
        raise ValueError("reference_json, reseeded_scores and reseeded_items go together")
    proposal = json.loads(Path(proposal_json).read_text(encoding="utf-8"))
    metric = proposal.get("metric") or "continuous"
    items_of, seeds = _objective_seed_means(scores, items,
                                            ["proposed", *anchors, *design_points],
                                            proposal["objective"], metric)

    def against(others: Sequence[str], items_of=items_of, seeds=seeds) -> dict:
        def per_seed(m):
            return {s: float(items_of[m][i].mean()) for i, s in enumerate(seeds)}
        return verify_proposal(
            proposal["predicted"], proposal["interval"], per_seed("proposed"),
            {a: per_seed(a) for a in others}, measured_items=items_of["proposed"],
            anchor_items={a: items_of[a] for a in others})

    result = against(anchors)
    reseeded = None
    if reference_json is not None:
        reference = json.loads(Path(reference_json).read_text(encoding="utf-8"))
        chosen = reference.get("best_anchor")
        if chosen != result["best_anchor"]:
            raise ValueError(f"{reference_json}: field best_anchor: {chosen!r}, but the "
                             f"anchors' evaluations rank {result['best_anchor']!r} first "
                             f"(changed since choose_reference ran?)")
        if reference.get("objective") != dict(proposal["objective"]) or reference.get(
                "metric") != metric:
            raise ValueError(f"{reference_json}: fields objective/metric differ from "
                             f"{proposal_json}'s ({proposal['objective']}, {metric})")
        r_items, r_seeds = _objective_seed_means(reseeded_scores, reseeded_items,
                                                 ["proposed", chosen], proposal["objective"],
                                                 metric)
        reseeded = against([chosen], r_items, r_seeds)
        reseeded.update(seeds=r_seeds, model=proposal["model"], claim=proposal["claim"],
                        metric=metric)
    if design_points:
        best = against(design_points)
        result["design_point"] = {
            "best": best["best_anchor"], "mean": best["best_anchor_mean"],
            "diff": best["diff"], "se": best["diff_se"], "p": best["diff_p"],
            "beats": best["beats_best_anchor"]}
    result.update(model=proposal["model"], claim=proposal["claim"], metric=metric,
                  objective=proposal["objective"])
    row = {k: result[k] for k in _ROW_KEYS}
    row["interval_lower"] = result["interval"]["lower"]
    row["interval_upper"] = result["interval"]["upper"]
    point = result.get("design_point")
    if point:
        row.update(best_design_point=point["best"], best_design_point_mean=point["mean"],
                   design_point_diff=point["diff"], design_point_diff_se=point["se"],
                   design_point_diff_p=point["p"], beats_best_design_point=point["beats"])
    row["replicate_scope"] = replicate_scope
    row["seeds"] = ",".join(map(str, seeds))
    rows = [row]
    if reseeded is not None:
        rows.append({**{k: reseeded[k] for k in _ROW_KEYS}, "replicate_scope": "full",
                     "seeds": ",".join(map(str, reseeded["seeds"])),
                     "interval_lower": reseeded["interval"]["lower"],
                     "interval_upper": reseeded["interval"]["upper"]})
    write_tsv(out_table, pd.DataFrame(rows), float_format="%.6f")
    floor = "the noise floor" if replicate_scope == "full" else "the SFT-seed noise floor"

    def verdict_on(flag: str, what: str) -> str:
        if flag == "yes":
            return f"beats {what} beyond {floor}"
        if flag == "no":
            return f"does not beat {what} beyond {floor}"
        why = ("one run each: training noise not measured" if len(seeds) < 2
               else "no test, see the note")
        return f"is not judged against {what} ({why})"

    verdict = verdict_on(result["beats_best_anchor"], "the best anchor")
    interval = result["interval"]
    head = f"# The proposed mixture, trained and evaluated ({metric}, {len(seeds)} seed(s))"
    measured = (f"Predicted {_fmt(result['predicted'])} (interval [{_fmt(interval['lower'])}, "
                f"{_fmt(interval['upper'])}], model {result['model']}, claim "
                f"{'yes' if result['claim'] else 'no'}); measured "
                f"{_fmt(result['measured_mean'])} ± {_fmt(result['measured_se'])} (inside the "
                f"interval: {'yes' if result['inside_interval'] else 'no'}).")
    anchor = (f"Best anchor {result['best_anchor']} {_fmt(result['best_anchor_mean'])}: "
              f"proposed − best anchor = {_fmt(result['diff'])} ± {_fmt(result['diff_se'])} "
              f"(df {_fmt(result['diff_df'], '.1f')}, p {_fmt(result['diff_p'], '.3g')}, "
              f"{result['test']}; minimum detectable difference {_fmt(result['mdd'])}): the "
              f"proposal {verdict}.")
    note = budget_note(anchor_budget, proxy_budget)
    noise = f"Replicate scope `{replicate_scope}`: {REPLICATE_SCOPES[replicate_scope]}."
    if len(seeds) < 2:
        noise = (f"One run per mixture (seed {seeds[0]}): no training noise is measured, so "
                 "the item test below is reported without a claim; "
                 + ("the section \"CPT reseeded\" tests independent CPT runs."
                    if reseeded is not None else
                    "design.verify.seeds or replicates would test over runs."))
    elif replicate_scope == "sft":
        noise += (" Each mixture here is one CPT run, so a difference that clears this floor "
                  "may still be a CPT reseed (`replicates.scope: full` tests the mixtures).")
    lines = [head, "", noise, "", measured, "", anchor]
    if point:
        lines += ["", (f"Best measured sweep mixture {point['best']} {_fmt(point['mean'])}: "
                       f"proposed − it = {_fmt(point['diff'])} ± {_fmt(point['se'])} (p "
                       f"{_fmt(point['p'], '.3g')}, the same test): the proposal "
                       f"{verdict_on(point['beats'], 'the best measured sweep mixture')}.")]
    lines += ["", note]
    if result.get("note") and result["note"] != ONE_RUN_NOTE:  # that one: the noise paragraph
        lines += ["", result["note"]]
    if reseeded is not None:
        lines += ["", "## CPT reseeded (design.verify.seeds)", "", _reseeded_line(reseeded)]
    write_text(out_summary, "\n".join(lines) + "\n")
    if out_figure is not None:
        from cptmix.analyze.figures import proposal_chart

        def chart_rows(objective_items, models):
            """mean ± se over seeds of each model's per-seed objective"""
            out = []
            for m, kind in models:
                per_seed = objective_items[m].mean(axis=1)
                se = per_seed.std(ddof=1) / np.sqrt(len(per_seed)) if len(per_seed) > 1 else 0.0
                out.append({"mixture": m, "mean": float(per_seed.mean()), "se": float(se),
                            "kind": kind})
            return pd.DataFrame(out).set_index("mixture")

        rows = chart_rows(items_of, [("proposed", "proposed"),
                                     *((a, "anchor") for a in anchors),
                                     *((d, "sweep") for d in design_points)])
        bounds = (interval.get("lower"), interval.get("upper"))
        again = None if reseeded is None else chart_rows(
            r_items, [("proposed", "proposed"), (reseeded["best_anchor"], "anchor")])
        proposal_chart(rows, _number(result["predicted"]),
                       tuple(map(_number, bounds)), out_figure,
                       f"{metric}: " + ", ".join(f"{k} {v:g}" for k, v in
                                                  proposal["objective"].items()),
                       reseeded=again)
    return result
