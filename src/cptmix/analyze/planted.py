"""Did the pipeline recover the effects planted in the demo world? (planted_effects_check.tsv)

Part of the analysis stage; only for the embedded demo, whose world generator writes
results/world/planted_effects.tsv with the columns

    task  expected_sign  driver_sources  held_sources  statistic  rationale

`driver_sources` lists (comma-separated) the sources whose addition should raise (or, for
"-", lower) the task's score; it is empty for expected sign "0". `held_sources` lists the
base sources that also bear on the task but that every declared mixture holds whole: this
check, on the additive design, never sees them vary and ignores them; the designed sweep's
check (`analyze.sweep`) adjusts for them. A source is a driver or held, not both. `statistic`
names the compositional statistic the driver moves (informational; checked to be a known
column).

"Recovered" means the right sign AND significance under a named test, not a sign alone:

- expected + / -: the *relevant edges* are the covering pairs of the additive design
  (`design.covering_edges`) whose raised sources intersect the drivers; each is a clean
  ablation of the driver. The pooled estimate is, per item and seed, the mean over those
  edges of CPT+SFT_A - CPT+SFT_B, tested with the seed x item test (`twoway`).
  `direction_only` = "yes" when the pooled sign is right whatever p is; `recovered` = "yes"
  when the sign is right and p < 0.05, "no" otherwise, "untestable" when no edge raises a
  driver (or the task was not analysed).
- expected 0: every covering edge is tested on its own, Bonferroni over the edges. An edge
  with adjusted p < 0.05 is a false positive (`recovered` = "false positive"); otherwise
  "yes". The reported estimate/se/df are the smallest-p edge's, p its Bonferroni p.

q_bh is Benjamini-Hochberg over the p column of the whole table. With one seed the test is
over items only (training noise not measured) and the `test` column says so.

`read_planted` reads and checks planted_effects.tsv; `planted_check` does the check.
Place in `cptmix.analyze`: above `columns`, `tables`, `replicates`, `twoway`, `design` and
`inference`; below `run`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import pandas as pd

from cptmix.analyze.columns import STATISTICS
from cptmix.analyze.design import Edge, edge_weights
from cptmix.analyze.inference import bh_qvalues
from cptmix.analyze.replicates import ReplicateData
from cptmix.analyze.tables import read_tsv
from cptmix.analyze.twoway import ALPHA, contrast_tests, describe_test

PLANTED_COLUMNS = ("task", "expected_sign", "driver_sources", "held_sources", "statistic",
                   "rationale")
PLANTED_CHECK_COLUMNS = ("task", "expected_sign", "driver_sources", "edges", "estimate", "se",
                         "df", "p", "q_bh", "test", "found_sign", "direction_only",
                         "significant", "recovered")


def driver_list(text: object) -> list[str]:
    return [s.strip() for s in str(text).split(",") if s.strip()]


def read_planted(path: str | os.PathLike, sources: Iterable[str] | None = None
                 ) -> pd.DataFrame:
    """The demo world's planted_effects.tsv: task, expected_sign, driver_sources,
    held_sources, statistic, rationale (see the module docstring). `sources`, when given, are
    the design's source names: a driver or held source outside them is an error (it could
    never be tested or adjusted for)."""
    df = read_tsv(path)
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
        drivers, held = driver_list(row.driver_sources), driver_list(row.held_sources)
        for column, names in (("driver_sources", drivers), ("held_sources", held)):
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(f"{path}: column {column}: task {row.task!r} names "
                                 f"{', '.join(repeated)} more than once")
            absent = [n for n in names if known is not None and n not in known]
            if absent:
                raise ValueError(f"{path}: column {column}: task {row.task!r}: unknown "
                                 f"source(s) {', '.join(absent)} (design: "
                                 f"{', '.join(sorted(known))})")
        both = sorted(set(drivers) & set(held))
        if both:
            raise ValueError(f"{path}: column held_sources: task {row.task!r}: "
                             f"{', '.join(both)} also a driver (a source is one or the other)")
        if row.expected_sign == "0" and drivers:
            raise ValueError(f"{path}: column driver_sources: task {row.task!r} expects no "
                             f"effect (0) but names {', '.join(drivers)}")
        if row.expected_sign != "0" and not drivers:
            raise ValueError(f"{path}: column driver_sources: task {row.task!r} expects "
                             f"{row.expected_sign} but names no source")
    if df["task"].duplicated().any():
        raise ValueError(f"{path}: column task: {df['task'][df['task'].duplicated()].iloc[0]!r} "
                         "listed more than once")
    return df


def _sign(value: float) -> str:
    if not np.isfinite(value):
        return ""
    return "+" if value > 0 else "-" if value < 0 else "0"


def planted_check(planted: pd.DataFrame, data: ReplicateData, edges: list[Edge]
                  ) -> pd.DataFrame:
    """One row per planted task (see the module docstring)."""
    covering = [e for e in edges if e.kind == "covering"]
    tasks = data.task_names()
    rows = []
    for item in planted.itertuples():
        task, expected = str(item.task), str(item.expected_sign).strip()
        drivers = driver_list(item.driver_sources)
        row = {"task": task, "expected_sign": expected, "driver_sources": ",".join(drivers),
               "edges": "", "estimate": np.nan, "se": np.nan, "df": np.nan, "p": np.nan,
               "test": "", "found_sign": "", "direction_only": "", "significant": "",
               "recovered": "untestable"}
        rows.append(row)
        if task not in tasks:
            row["test"] = "task not analysed"
            continue
        t = tasks.index(task)
        if expected == "0":
            _no_effect(row, data, covering, t)
            continue
        relevant = [e for e in covering if e.raised_sources() & set(drivers)]
        if not relevant:
            row["test"] = "no covering edge raises a driver source"
            continue
        w = edge_weights(relevant, data.models).mean(axis=0, keepdims=True)
        res = contrast_tests(data, w, t)
        row.update(edges="; ".join(e.name for e in relevant), estimate=res["estimate"][0],
                   se=res["se"][0], df=res["df"][0], p=res["p"][0],
                   test=f"pooled over {len(relevant)} edge(s): {describe_test(data, t)}")
        found = _sign(row["estimate"])
        significant = bool(np.isfinite(row["p"]) and row["p"] < ALPHA)
        row["found_sign"] = found
        row["direction_only"] = "yes" if found == expected else "no"
        row["significant"] = "yes" if significant else "no"
        row["recovered"] = "yes" if found == expected and significant else "no"
    out = pd.DataFrame(rows, columns=[c for c in PLANTED_CHECK_COLUMNS if c != "q_bh"])
    out = out.astype({c: float for c in ("estimate", "se", "df", "p")})
    out.insert(out.columns.get_loc("p") + 1, "q_bh", bh_qvalues(out["p"].to_numpy(dtype=float)))
    return out[list(PLANTED_CHECK_COLUMNS)]


def _no_effect(row: dict, data: ReplicateData, covering: list[Edge], t: int) -> None:
    """Expected 0: each covering edge tested, Bonferroni over the edges."""
    if not covering:
        row["test"] = "no covering edge in the design"
        return
    res = contrast_tests(data, edge_weights(covering, data.models), t)
    p = res["p"]
    if not np.isfinite(p).any():
        row["test"] = "no defined test"
        return
    k = int(np.nanargmin(p))
    p_adj = float(min(1.0, p[k] * len(covering)))
    significant = p_adj < ALPHA
    row.update(edges="; ".join(e.name for e in covering), estimate=res["estimate"][k],
               se=res["se"][k], df=res["df"][k], p=p_adj,
               test=(f"each of {len(covering)} edge(s), Bonferroni (smallest p: "
                     f"{covering[k].name}): {describe_test(data, t)}"),
               found_sign=_sign(res["estimate"][k]) if significant else "0",
               direction_only="n/a", significant="yes" if significant else "no",
               recovered="false positive" if significant else "yes")
