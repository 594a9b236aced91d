"""Reading the analysis inputs and writing its outputs reproducibly.

In the analysis package (`cptmix.analyze`) above `columns` and `checks` only, so that every
module that reads or writes a table (`replicates`, `planted`, the runner `run`) can import it.
Inputs are the composition table, one score table per model and a long score-difference
table (`read_tsv` reads any of them as text; the `read_*` functions add the checks); every
problem with them is reported as one ValueError that names the file and what is wrong (e.g.
the missing column). Outputs are written atomically (temporary file in the same folder, then
rename) so an interrupted run never leaves a half-written table that a workflow engine would
take as done, and floats are formatted with a fixed precision so that the same inputs give
byte-identical files.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from cptmix.analyze.checks import check_composition, check_differences, check_scores
from cptmix.io import write_text as atomic_write_text

FLOAT_DECIMALS = 6
FLOAT_FORMAT = f"%.{FLOAT_DECIMALS}f"
NA_REP = "NaN"


def read_tsv(path: str | os.PathLike) -> pd.DataFrame:
    """A tab-separated table, every column as text; a ValueError naming the file when it is
    missing or unreadable."""
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
    df = read_tsv(path)
    if "score" in df.columns:
        # Empty or NA cells mean "not scored"; they become NaN, anything else must parse.
        df["score"] = df["score"].replace({"": np.nan, "NA": np.nan, "NaN": np.nan,
                                           "nan": np.nan})
    return check_scores(df, str(path))


def read_composition(path: str | os.PathLike) -> pd.DataFrame:
    """The composition table, indexed by mixture, ratios as fractions."""
    return check_composition(read_tsv(path), str(path))


def read_score_differences(path: str | os.PathLike) -> pd.DataFrame:
    """A long score-difference table (mixture, task, category, language, score_diff, ...)."""
    return check_differences(read_tsv(path), str(path))


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
