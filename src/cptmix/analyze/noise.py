"""Seed-aware score differences and noise floors (score_differences*.tsv, noise_floors.tsv).

Part of the analysis stage (after evaluation). From the per-(model, seed) scores and items
(`replicates.ReplicateData`):

- `per_seed_differences`: diff_s = CPT+SFT_s - base+SFT_s per mixture, task and seed;
- `tested_differences`: the paper's long table (seed-averaged base_score, cpt_score,
  score_diff) plus n_seeds, n_items, diff_sd_seeds, se, df, p, q_bh (over all mixture x task
  tests), clears_noise_floor ("yes" when p < 0.05) and the test used (`twoway`);
- `noise_floors`: per task the seed SD of base+SFT, the pooled seed SD of CPT+SFT over
  mixtures and of the differences, the root-mean-square SE of a difference over mixtures
  (se_diff) and the minimum detectable difference at the design's n (alpha = 0.05
  two-sided, power 0.8: mdd = (t_{0.975, df} + t_{0.8, df}) se_diff, df the median df of
  the task's differences); the seed SDs are NaN with a note below two seeds;
- `averages_se`: SEs of table 1's Japanese/English mean differences from the same
  decomposition: Var(mean over tasks) = var_s(per-seed task mean)/S + sum_t item_var_t / n^2
  (the seed term keeps the correlation of tasks within one training run; item terms are
  independent across tasks).

Place in `cptmix.analyze`: above `columns`, `inference`, `replicates` and `twoway`; below
`run`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cptmix.analyze.columns import LONG_COLUMNS, language_key
from cptmix.analyze.inference import bh_qvalues
from cptmix.analyze.replicates import REPLICATE_SCOPES, ReplicateData
from cptmix.analyze.twoway import ALPHA, contrast_tests, describe_test, mdd

TEST_COLUMNS = ("n_seeds", "n_items", "diff_sd_seeds", "se", "df", "p", "q_bh",
                "clears_noise_floor", "test")
PER_SEED_COLUMNS = ("mixture", "task", "category", "language", "seed", "base_score",
                    "cpt_score", "score_diff", "base_stderr", "cpt_stderr")
NOISE_COLUMNS = ("task", "category", "language", "metric", "n_seeds", "n_items", "sd_base",
                 "sd_cpt", "sd_diff", "se_diff", "mdd", "scope", "note")


def difference_weights(n_models: int) -> np.ndarray:
    """(n_mixtures, M): e_mixture - e_base for every mixture."""
    w = np.zeros((n_models - 1, n_models))
    w[:, 0] = -1.0
    w[np.arange(n_models - 1), np.arange(1, n_models)] = 1.0
    return w


def difference_tests(data: ReplicateData) -> list[dict[str, np.ndarray]]:
    """Per task, the test of every mixture's difference (arrays over mixtures)."""
    w = difference_weights(len(data.models))
    return [contrast_tests(data, w, t) for t in range(len(data.tasks))]


def per_seed_differences(data: ReplicateData) -> pd.DataFrame:
    rows = []
    for mi, m in enumerate(data.mixtures, start=1):
        for t, meta in enumerate(data.tasks.itertuples()):
            for si, s in enumerate(data.seeds):
                base, cpt = data.scores[0, si, t], data.scores[mi, si, t]
                rows.append({"mixture": m, "task": meta.task, "category": meta.category,
                             "language": meta.language, "seed": s, "base_score": base,
                             "cpt_score": cpt, "score_diff": cpt - base,
                             "base_stderr": data.stderr[0, si, t],
                             "cpt_stderr": data.stderr[mi, si, t]})
    out = pd.DataFrame(rows, columns=list(PER_SEED_COLUMNS))
    return out.astype({c: float for c in PER_SEED_COLUMNS[5:]})


def tested_differences(data: ReplicateData, tests: list[dict[str, np.ndarray]]
                       ) -> pd.DataFrame:
    """score_differences.tsv: LONG_COLUMNS (seed-averaged) + TEST_COLUMNS, mixture-major."""
    rows = []
    sd_ddof = 1 if data.n_seeds >= 2 else 0
    for k, m in enumerate(data.mixtures):
        mi = k + 1
        for t, meta in enumerate(data.tasks.itertuples()):
            res = tests[t]
            diff_s = data.scores[mi, :, t] - data.scores[0, :, t]
            rows.append({
                "mixture": m, "task": meta.task, "category": meta.category,
                "language": meta.language, "base_score": data.scores[0, :, t].mean(),
                "cpt_score": data.scores[mi, :, t].mean(), "score_diff": diff_s.mean(),
                "n_seeds": data.n_seeds, "n_items": res["n_items"][k],
                "diff_sd_seeds": diff_s.std(ddof=sd_ddof) if sd_ddof else np.nan,
                "se": res["se"][k], "df": res["df"][k], "p": res["p"][k],
                "test": describe_test(data, t)})
    out = pd.DataFrame(rows, columns=[*LONG_COLUMNS, *[c for c in TEST_COLUMNS
                                                       if c not in ("q_bh",
                                                                    "clears_noise_floor")]])
    floats = ["base_score", "cpt_score", "score_diff", "n_items", "diff_sd_seeds", "se", "df",
              "p"]
    out = out.astype({c: float for c in floats})
    out["n_items"] = out["n_items"].round().astype("Int64")
    out.insert(out.columns.get_loc("p") + 1, "q_bh", bh_qvalues(out["p"].to_numpy(dtype=float)))
    clears = np.where(out["p"].isna(), "", np.where(out["p"] < ALPHA, "yes", "no"))
    out.insert(out.columns.get_loc("q_bh") + 1, "clears_noise_floor", clears)
    return out[[*LONG_COLUMNS, *TEST_COLUMNS]]


def _pooled_sd(x: np.ndarray) -> float:
    """sqrt(mean over rows of the seed variance) of an (rows, S) array."""
    return float(np.sqrt(np.mean(np.var(x, axis=-1, ddof=1))))


def noise_floors(data: ReplicateData, tests: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    rows = []
    s_n = data.n_seeds
    for t, meta in enumerate(data.tasks.itertuples()):
        res = tests[t]
        se_diff = float(np.sqrt(np.nanmean(res["se"] ** 2))) if np.isfinite(
            res["se"]).any() else np.nan
        df = float(np.nanmedian(res["df"])) if np.isfinite(res["df"]).any() else np.inf
        row = {"task": meta.task, "category": meta.category, "language": meta.language,
               "metric": meta.metric, "n_seeds": s_n, "n_items": res["n_items"][0],
               "sd_base": np.nan, "sd_cpt": np.nan, "sd_diff": np.nan, "se_diff": se_diff,
               "mdd": float(mdd(se_diff, df)), "scope": data.replicate_scope, "note": ""}
        if s_n >= 2:
            scores = data.scores[:, :, t]
            row.update(sd_base=float(np.std(scores[0], ddof=1)), sd_cpt=_pooled_sd(scores[1:]),
                       sd_diff=_pooled_sd(scores[1:] - scores[:1]))
        else:
            row["note"] = ("1 seed: seed SDs not measurable; se_diff and mdd are items only "
                           "(training noise not measured)")
        if data.items is None:
            fallback = "no items: se from scores.tsv stderr (unpaired, conservative)"
            row["note"] = "; ".join(filter(None, [row["note"], fallback]))
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(NOISE_COLUMNS))
    out = out.astype({c: float for c in ("n_items", "sd_base", "sd_cpt", "sd_diff", "se_diff",
                                          "mdd")})
    out["n_items"] = out["n_items"].round().astype("Int64")
    return out


def scope_text(data: ReplicateData) -> str:
    return REPLICATE_SCOPES[data.replicate_scope]


def averages_se(data: ReplicateData, tests: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """mixture, ja_diff_se, en_diff_se (the base row NaN), in table 1's row order."""
    lang = data.tasks["language"].map(language_key).to_numpy()
    rows = [{"mixture": "base", "ja_diff_se": np.nan, "en_diff_se": np.nan}]
    diff = data.scores[1:] - data.scores[:1]  # (mixtures, S, T)
    item_var = np.stack([tests[t]["item_var"] for t in range(len(data.tasks))], axis=1)
    for k, m in enumerate(data.mixtures):
        row = {"mixture": m}
        for key in ("ja", "en"):
            sel = lang == key
            n = int(sel.sum())
            if n == 0:
                row[f"{key}_diff_se"] = np.nan
                continue
            var = float(np.sum(item_var[k, sel])) / n ** 2
            if data.n_seeds >= 2:
                var += float(np.var(diff[k][:, sel].mean(axis=1), ddof=1)) / data.n_seeds
            row[f"{key}_diff_se"] = float(np.sqrt(var))
        rows.append(row)
    return pd.DataFrame(rows, columns=["mixture", "ja_diff_se", "en_diff_se"])
