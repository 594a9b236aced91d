"""Score differences and averages: appendix E's long table, table 1, the outcome matrix.

In the analysis package (`cptmix.analyze`) above `columns` and `checks`, below the correlation
tables (`correlations`), `predict` and the runner (`run`). From one score table per model
(base+SFT and one CPT+SFT model per mixture) it computes

- per-task score differences, CPT+SFT minus base+SFT (paper section 3.3, appendix E):
  `score_differences`, and their task x mixture shape `wide_differences`;
- per-language and per-category averages (paper table 1): `language_averages`, or
  `averages_from_differences` from a long score-difference table alone;
- `outcome_matrix`: the task x mixture score differences next to the composition rows of the
  same mixtures, the input of every correlation and of the prediction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from cptmix.analyze.checks import check_composition, check_scores
from cptmix.analyze.columns import BASE, CATEGORIES, LONG_COLUMNS, language_key


def score_differences(base_scores: pd.DataFrame,
                      mixture_scores: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per-task score differences, long format (appendix E): one row per mixture x task.

    Columns: mixture, task, category, language, base_score, cpt_score, score_diff, where
    score_diff = cpt_score - base_score. Mixtures keep the given order, tasks the base file's
    order; category and language come from the base table. Every mixture must have scored
    exactly the base's tasks: a missing or extra task is an evaluation bug, not something to
    average over silently.
    """
    if not mixture_scores:
        raise ValueError("no mixture score tables given")
    base = check_scores(base_scores, "base scores")
    base_tasks = base["task"].tolist()
    frames = []
    for name, table in mixture_scores.items():
        if name == BASE:
            raise ValueError(f"mixture name {BASE!r} is reserved for the before-CPT model")
        mix = check_scores(table, f"scores of mixture {name!r}")
        lacking = [t for t in base_tasks if t not in set(mix["task"])]
        extra = [t for t in mix["task"] if t not in set(base_tasks)]
        if lacking or extra:
            parts = []
            if lacking:
                parts.append(f"missing task(s) {', '.join(lacking)}")
            if extra:
                parts.append(f"task(s) not in the base scores {', '.join(extra)}")
            raise ValueError(f"scores of mixture {name!r}: {'; '.join(parts)}")
        cpt = mix.set_index("task")["score"]
        frame = pd.DataFrame({
            "mixture": name,
            "task": base["task"].to_numpy(),
            "category": base["category"].astype(str).to_numpy(),
            "language": base["language"].astype(str).to_numpy(),
            "base_score": base["score"].to_numpy(),
            "cpt_score": cpt.loc[base_tasks].to_numpy(),
        })
        frame["score_diff"] = frame["cpt_score"] - frame["base_score"]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[list(LONG_COLUMNS)]


def averages_from_differences(diffs: pd.DataFrame) -> pd.DataFrame:
    """Table 1 from a long score-difference table alone (same shape as `language_averages`).

    Average scores come from its base_score / cpt_score columns (NaN when a study gave only
    score_diff); mean differences from score_diff. Unweighted means over tasks, NaN skipped.
    """
    d = diffs.assign(_lang=diffs["language"].map(language_key),
                     _cat=diffs["category"].astype(str).str.upper())
    cat_cols = _category_columns(d["_cat"].unique().tolist())
    first = d.drop_duplicates("task")
    base_scores = d.groupby("task", sort=False)["base_score"].first()
    rows = [{"mixture": BASE,
             "ja_score": float(base_scores[first.loc[first["_lang"] == "ja", "task"]].mean()),
             "en_score": float(base_scores[first.loc[first["_lang"] == "en", "task"]].mean())}]
    for name in dict.fromkeys(d["mixture"]):
        sub = d[d["mixture"] == name]
        row = {"mixture": name}
        for lang in ("ja", "en"):
            row[f"{lang}_score"] = float(sub.loc[sub["_lang"] == lang, "cpt_score"].mean())
            row[f"{lang}_diff"] = float(sub.loc[sub["_lang"] == lang, "score_diff"].mean())
        for col in cat_cols:
            row[col] = float(sub.loc[sub["_cat"] == col[len("diff_"):], "score_diff"].mean())
        rows.append(row)
    columns = ["mixture", "ja_score", "en_score", "ja_diff", "en_diff", *cat_cols]
    out = pd.DataFrame(rows, columns=columns)
    out[columns[1:]] = out[columns[1:]].astype(float)
    return out


def wide_differences(diffs: pd.DataFrame) -> pd.DataFrame:
    """Task rows x mixture columns of score_diff (after task, category, language)."""
    tasks = diffs.drop_duplicates("task")[["task", "category", "language"]]
    wide = diffs.pivot(index="task", columns="mixture", values="score_diff")
    mixtures = list(dict.fromkeys(diffs["mixture"]))
    wide = wide.loc[tasks["task"], mixtures]
    out = tasks.reset_index(drop=True)
    for m in mixtures:
        out[m] = wide[m].to_numpy()
    return out


def _category_columns(categories: Sequence[str]) -> list[str]:
    extra = sorted({c for c in categories if c not in CATEGORIES})
    return [f"diff_{c}" for c in (*CATEGORIES, *extra)]


def language_averages(diffs: pd.DataFrame, mixture_scores: Mapping[str, pd.DataFrame],
                      base_scores: pd.DataFrame) -> pd.DataFrame:
    """Table 1: mean CPT+SFT score per language, plus mean score differences.

    One row for "base" (its own scores; difference columns NaN) followed by one row per
    mixture in the given order. Columns: mixture, ja_score, en_score, ja_diff, en_diff, and
    diff_<category> for MCQA, MT, NER, DC, STS (NaN where a category has no task). Means are
    unweighted over tasks, as in the paper (20 Japanese, 7 English tasks).
    """
    # The score files are validated here; their scores are the base_score / cpt_score columns
    # of `diffs` (score_differences keeps them), so Table 1 has one implementation.
    check_scores(base_scores, "base scores")
    for name, table in mixture_scores.items():
        check_scores(table, f"scores of mixture {name!r}")
    return averages_from_differences(diffs[diffs["mixture"].isin(list(mixture_scores))])


def outcome_matrix(diffs: pd.DataFrame, composition: pd.DataFrame
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(task x mixture score_diff table, composition rows aligned to its mixtures)."""
    comp = check_composition(composition)
    mixtures = list(dict.fromkeys(diffs["mixture"]))
    absent = [m for m in mixtures if m not in comp.index]
    if absent:
        raise ValueError(f"composition: no row for mixture(s) {', '.join(absent)} "
                         f"(rows: {', '.join(comp.index)})")
    tasks = list(dict.fromkeys(diffs["task"]))
    wide = diffs.pivot(index="task", columns="mixture", values="score_diff")
    return wide.loc[tasks, mixtures], comp.loc[mixtures]
