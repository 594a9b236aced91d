"""Input checks of the analysis: score tables, the composition table, score-difference tables.

Second from the bottom of the analysis package (`cptmix.analyze`), above `columns` only. Each
check validates one input table (from a file, see `tables`, or passed in by a caller) and
returns a normalised copy; every problem is one ValueError that names the table (`source`)
and what is wrong (the missing column, the non-numeric cell, the duplicated task).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cptmix.analyze.columns import (
    BASE,
    COMPOSITION_COLUMNS,
    DIFF_COLUMNS,
    LONG_COLUMNS,
    RATIO_STATISTICS,
    SCORE_COLUMNS,
    STATISTICS,
    language_key,
)


def check_languages(values, source: str) -> None:
    """Every value of a `language` column is one `language_key` knows, else a ValueError
    naming `source` and the column."""
    for lang in pd.unique(values):
        try:
            language_key(lang)
        except ValueError as exc:
            raise ValueError(f"{source}: column language: {exc}") from None


def _keyed_copy(df: pd.DataFrame, columns, key: str, what: str, source: str) -> pd.DataFrame:
    """A copy of `df` with every one of `columns` present and `key` as unique strings."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)} "
                         f"(found: {', '.join(map(str, df.columns))})")
    out = df.copy()
    out[key] = out[key].astype(str)
    dup = out[key][out[key].duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"{source}: {what}(s) listed more than once: {', '.join(dup)}")
    return out


def check_scores(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate one model's score table; return a copy with a float `score` column.

    `source` names the table (a path, or "scores of mixture X") in error messages.
    """
    out = _keyed_copy(df, SCORE_COLUMNS, "task", "task", source)
    try:
        out["score"] = pd.to_numeric(out["score"]).astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: column score is not numeric ({exc})") from None
    check_languages(out["language"], source)
    return out


def check_composition(df: pd.DataFrame, source: str = "composition") -> pd.DataFrame:
    """Validate the composition table; return it indexed by mixture, ratios as fractions.

    Ratios are accepted as fractions or percent (appendix C prints percent): if any ratio
    cell exceeds 1 all three ratio columns are read as percent. The decision is joint because
    a single column (e.g. a small parallel ratio) can be entirely below 1 even in percent.
    Idempotent, so callers may pass an already checked table.
    """
    frame = df.reset_index() if df.index.name == "mixture" else df
    out = _keyed_copy(frame, COMPOSITION_COLUMNS, "mixture", "mixture", source)
    for col in STATISTICS:
        try:
            out[col] = pd.to_numeric(out[col]).astype(float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: column {col} is not numeric ({exc})") from None
        values = out[col].to_numpy()
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"{source}: column {col} has missing, infinite or negative values")
    ratios = out[list(RATIO_STATISTICS)]
    if (ratios > 1).to_numpy().any():
        if (ratios > 100).to_numpy().any():
            raise ValueError(f"{source}: ratio columns exceed 100 (neither fractions nor %)")
        out[list(RATIO_STATISTICS)] = ratios / 100.0
    return out.set_index("mixture")


def check_differences(df: pd.DataFrame, source: str = "score differences") -> pd.DataFrame:
    """Validate a long score-difference table (any study's, e.g. `cptmix analyze --scores`).

    Required columns: mixture, task, category, language, score_diff; base_score and cpt_score
    are kept when present (they give table 1's average scores), other columns are ignored.
    Empty/NA cells become NaN; each (mixture, task) pair may appear once, and a task keeps one
    category and language. Returns the LONG_COLUMNS shape (base/cpt NaN when absent), mixtures
    and tasks in order of first appearance; a task missing for a mixture becomes a NaN row,
    which the correlations drop for that task.
    """
    missing = [c for c in DIFF_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)} "
                         f"(found: {', '.join(map(str, df.columns))})")
    out = df[[c for c in LONG_COLUMNS if c in df.columns]].copy()
    for col in ("mixture", "task", "category", "language"):
        out[col] = out[col].astype(str)
    if (out["mixture"] == BASE).any():
        raise ValueError(f"{source}: mixture name {BASE!r} is reserved for the before-CPT model")
    for col in ("base_score", "cpt_score", "score_diff"):
        if col not in out.columns:
            out[col] = np.nan
            continue
        cells = out[col].replace({"": np.nan, "NA": np.nan, "NaN": np.nan, "nan": np.nan})
        try:
            out[col] = pd.to_numeric(cells).astype(float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: column {col} is not numeric ({exc})") from None
    dup = out[out.duplicated(["mixture", "task"])]
    if len(dup):
        first = dup.iloc[0]
        raise ValueError(f"{source}: mixture {first['mixture']!r}, task {first['task']!r} "
                         "listed more than once")
    meta = out.drop_duplicates(["task", "category", "language"])
    if meta["task"].duplicated().any():
        task = meta.loc[meta["task"].duplicated(), "task"].iloc[0]
        raise ValueError(f"{source}: task {task!r} has more than one category or language")
    check_languages(out["language"], source)
    if out.empty:
        raise ValueError(f"{source}: no rows")
    # The full mixture x task grid, in order of first appearance: a missing pair is NaN.
    mixtures = list(dict.fromkeys(out["mixture"]))
    tasks = meta.set_index("task")[["category", "language"]]
    grid = pd.MultiIndex.from_product([mixtures, tasks.index], names=["mixture", "task"])
    full = out.set_index(["mixture", "task"]).reindex(grid).reset_index()
    full["category"] = tasks.loc[full["task"], "category"].to_numpy()
    full["language"] = tasks.loc[full["task"], "language"].to_numpy()
    return full[list(LONG_COLUMNS)]
