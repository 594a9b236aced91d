"""Reading the analysis inputs and writing its outputs reproducibly.

Part of the analysis stage (after evaluation). Inputs are the composition table and one score
table per model; every problem with them is reported as one ValueError that names the file and
what is wrong (e.g. the missing column). Outputs are written atomically (temporary file in the
same folder, then rename) so an interrupted run never leaves a half-written table that a
workflow engine would take as done, and floats are formatted with a fixed precision so that the
same inputs give byte-identical files.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from cptmix.analyze.stats import check_composition, check_differences, check_scores
from cptmix.io import write_text as atomic_write_text

FLOAT_DECIMALS = 6
FLOAT_FORMAT = f"%.{FLOAT_DECIMALS}f"
NA_REP = "NaN"


def _read_tsv(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    try:
        # Text columns stay text: keep_default_na=False stops a task or mixture called "NA"
        # from becoming NaN; numeric columns are converted (and checked) by the callers.
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable tab-separated table ({exc})") from None


def read_scores(path: str | os.PathLike) -> pd.DataFrame:
    """One model's scores: task, category, language, score (metric and n are passed through)."""
    df = _read_tsv(path)
    if "score" in df.columns:
        # Empty or NA cells mean "not scored"; they become NaN, anything else must parse.
        df["score"] = df["score"].replace({"": np.nan, "NA": np.nan, "NaN": np.nan,
                                           "nan": np.nan})
    return check_scores(df, str(path))


def read_composition(path: str | os.PathLike) -> pd.DataFrame:
    """The composition table, indexed by mixture, ratios as fractions."""
    return check_composition(_read_tsv(path), str(path))


def read_score_differences(path: str | os.PathLike) -> pd.DataFrame:
    """A long score-difference table (mixture, task, category, language, score_diff, ...)."""
    return check_differences(_read_tsv(path), str(path))


def read_planted(path: str | os.PathLike, sources: Iterable[str] | None = None
                 ) -> pd.DataFrame:
    """The demo world's planted_effects.tsv: task, expected_sign, driver_sources, statistic,
    rationale (see `cptmix.analyze.planted`). `sources`, when given, are the design's source
    names: a driver outside them is an error (it could never be tested)."""
    from cptmix.analyze.planted import PLANTED_COLUMNS, driver_list
    from cptmix.analyze.stats import STATISTICS

    df = _read_tsv(path)
    missing = [c for c in PLANTED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(found: {', '.join(map(str, df.columns))})")
    df = df[list(PLANTED_COLUMNS)].copy()
    df["expected_sign"] = df["expected_sign"].str.strip()
    bad = sorted(set(df["expected_sign"]) - {"+", "-", "0"})
    if bad:
        raise ValueError(f"{path}: column expected_sign: {', '.join(bad)} (expected +, - or 0)")
    df["statistic"] = df["statistic"].str.strip()
    unknown = sorted(set(df["statistic"]) - {"", *STATISTICS})
    if unknown:
        raise ValueError(f"{path}: column statistic: unknown {', '.join(unknown)} "
                         f"(known: {', '.join(STATISTICS)} or empty)")
    known = set(sources) if sources is not None else None
    for row in df.itertuples():
        drivers = driver_list(row.driver_sources)
        if row.expected_sign == "0" and drivers:
            raise ValueError(f"{path}: column driver_sources: task {row.task!r} expects no "
                             f"effect (0) but names {', '.join(drivers)}")
        if row.expected_sign != "0" and not drivers:
            raise ValueError(f"{path}: column driver_sources: task {row.task!r} expects "
                             f"{row.expected_sign} but names no source")
        absent = [d for d in drivers if known is not None and d not in known]
        if absent:
            raise ValueError(f"{path}: column driver_sources: task {row.task!r}: unknown "
                             f"source(s) {', '.join(absent)} (design: "
                             f"{', '.join(sorted(known))})")
    if df["task"].duplicated().any():
        raise ValueError(f"{path}: column task: {df['task'][df['task'].duplicated()].iloc[0]!r} "
                         "listed more than once")
    return df


def format_tsv(df: pd.DataFrame) -> str:
    """The table as TSV text with every float at FLOAT_DECIMALS decimals and NaN as "NaN"."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            # Round first and add 0.0 so that tiny negatives print as 0.000000, not -0.000000.
            out[col] = out[col].round(FLOAT_DECIMALS) + 0.0
    buf = io.StringIO()
    out.to_csv(buf, sep="\t", index=False, float_format=FLOAT_FORMAT, na_rep=NA_REP,
               lineterminator="\n")
    return buf.getvalue()


def write_tsv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    atomic_write_text(path, format_tsv(df))
