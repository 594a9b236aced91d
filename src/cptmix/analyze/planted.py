"""Did the pipeline recover the effects planted in the demo world? (planted_effects_check.tsv)

Part of the analysis stage; only for the embedded demo, whose world generator writes
results/world/planted_effects.tsv: per task an `expected_driver` such as

    "pmc_en in mixture (English token count)"
    "textbooks in mixture (EnJa-Hybrid; Japanese token count)"
    "none"

and an `expected_sign` (+, - or 0). The driver names sources (before "in mixture") and, in
parentheses, mixtures and/or a compositional statistic. The check is deliberately simple:

1. **contrast** (preferred, it tests the planted mechanism itself): the mean score difference
   of the mixtures that contain a driver source minus that of the others. The mixtures come
   from `mixture_sources` (the workflow's resolved mixtures) or, failing that, from the
   mixture names in parentheses. Only when the driver splits the mixtures into two non-empty
   groups (a source present in every mixture, e.g. parallel_abstracts, gives no contrast).
2. **correlation**: otherwise the plain Pearson r of the score difference with the statistic
   named in parentheses ("Japanese token count" -> ja_tokens, ...).
3. For expected sign 0 ("none"): **no effect**: recovered when no statistic correlates
   significantly (exact permutation p of the plain r, Bonferroni over the seven statistics).

`recovered` is "yes" when the found sign equals the expected one, "no" otherwise (a zero
contrast counts as "no"), "untestable" when the driver names neither a source that splits the
mixtures nor a statistic, or the task was not analysed. `p_perm` is the exact permutation p of
the deciding contrast or r (all n! orderings of the outcome), so a "yes" on a coin flip is
visible as such: with six mixtures only p_perm < 0.05 is evidence beyond the sign.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from cptmix.analyze.inference import permutation_pvalue, permutations_for
from cptmix.analyze.stats import STATISTICS, outcome_matrix

PLANTED_CHECK_COLUMNS = ("task", "expected_driver", "expected_sign", "basis", "driver_mixtures",
                         "statistic", "contrast", "r", "p_perm", "found_sign", "recovered")
# How the generator names statistics in parentheses (the column names are accepted too).
STATISTIC_PHRASES = {
    "total token count": "total_tokens",
    "japanese token count": "ja_tokens",
    "english token count": "en_tokens",
    "parallel token count": "parallel_tokens",
    "japanese token ratio": "ja_ratio",
    "english token ratio": "en_ratio",
    "parallel token ratio": "parallel_ratio",
}
ALPHA = 0.05  # family-wise level of the "no effect" check (Bonferroni over 7 statistics)


def parse_driver(text: str, sources: Iterable[str], mixtures: Iterable[str]
                 ) -> tuple[list[str], list[str], str]:
    """(driver sources, mixtures named in parentheses, statistic or "") of an expected_driver."""
    text = str(text).strip()
    head, _, tail = text.partition("(")
    head = head.split(" in mixture")[0]
    words = [w.strip() for w in re.split(r",|\bor\b|\band\b", head) if w.strip()]
    known_sources = set(sources)
    found_sources = [w for w in words if w in known_sources]
    known_mixtures = set(mixtures)
    named_mixtures, statistic = [], ""
    for item in re.split(r"[;,]", tail.rstrip(")")):
        item = item.strip()
        if item in known_mixtures:
            named_mixtures.append(item)
        elif item.lower() in STATISTIC_PHRASES:
            statistic = STATISTIC_PHRASES[item.lower()]
        elif item in STATISTICS:
            statistic = item
    return found_sources, named_mixtures, statistic


def _sources_of(spec) -> set[str]:
    """Sources a mixture draws from: a {source: fraction} map (fraction > 0) or a list."""
    if isinstance(spec, Mapping):
        return {str(s) for s, f in spec.items() if float(f) > 0}
    return {str(s) for s in spec}


def _sign(value: float) -> str:
    if not np.isfinite(value):
        return ""
    return "+" if value > 0 else "-" if value < 0 else "0"


def contrast_pvalue(y: np.ndarray, member: np.ndarray) -> tuple[float, float]:
    """(mean(y | member) - mean(y | not member), its exact two-sided permutation p)."""
    weights = np.where(member, 1.0 / member.sum(), -1.0 / (~member).sum())
    values = y[permutations_for(len(y))] @ weights
    observed = values[0]
    p = float(np.mean(np.abs(values) >= abs(observed) * (1 - 1e-9) - 1e-12))
    return float(observed), p


def planted_check(planted: pd.DataFrame, diffs: pd.DataFrame, composition: pd.DataFrame,
                  mixture_sources: Mapping[str, object] | None = None) -> pd.DataFrame:
    """One row per planted task: what was expected, what the analysis found, `recovered`."""
    wide, comp = outcome_matrix(diffs, composition)
    mixtures = list(wide.columns)
    sources_by_mixture = {m: _sources_of(s) for m, s in (mixture_sources or {}).items()}
    all_sources = set().union(*sources_by_mixture.values()) if sources_by_mixture else set()
    rows = []
    for _, item in planted.iterrows():
        task, driver = str(item["task"]), str(item["expected_driver"])
        expected = str(item["expected_sign"]).strip()
        row = {"task": task, "expected_driver": driver, "expected_sign": expected, "basis": "",
               "driver_mixtures": "", "statistic": "", "contrast": np.nan, "r": np.nan,
               "p_perm": np.nan, "found_sign": "", "recovered": "untestable"}
        rows.append(row)
        if task not in wide.index:
            row["basis"] = "task not analysed"
            continue
        y_all = wide.loc[task].to_numpy(dtype=float)
        ok = np.isfinite(y_all)
        y = y_all[ok]
        present = [m for m, keep in zip(mixtures, ok, strict=True) if keep]
        if expected == "0":
            _no_effect(row, y, comp.loc[present])
            continue
        src, named, statistic = parse_driver(driver, all_sources, mixtures)
        if src and sources_by_mixture:
            members = {m for m in present if _sources_of(mixture_sources.get(m, ())) & set(src)}
        else:
            members = set(named)
        member = np.array([m in members for m in present])
        row["driver_mixtures"] = ",".join(m for m in present if m in members)
        row["statistic"] = statistic
        if statistic and len(y) >= 3:
            x = comp.loc[present, statistic].to_numpy(dtype=float)
            if np.ptp(x) > 0 and np.ptp(y) > 0:
                row["r"] = float(np.corrcoef(x, y)[0, 1])
        if 0 < member.sum() < len(member):
            row["basis"] = "contrast: driver mixtures vs the others"
            row["contrast"], row["p_perm"] = contrast_pvalue(y, member)
            found = row["contrast"]
        elif statistic and len(y) >= 3:
            row["basis"] = ("correlation: driver sources in every mixture" if member.all()
                            else "correlation: no driver source or mixture named")
            x = comp.loc[present, statistic].to_numpy(dtype=float)
            # A constant outcome has no correlation: r = 0 is what was found, not undefined.
            found = row["r"] if np.isfinite(row["r"]) else 0.0
            row["r"] = found
            row["p_perm"] = permutation_pvalue(x, y) if np.ptp(y) > 0 else 1.0
        else:
            row["basis"] = "driver names no splitting source and no statistic"
            continue
        # A contrast or r at rounding level (e.g. a mixture equal to the others' mean) is no
        # effect, not a sign.
        if abs(found) <= 1e-9 * max(1.0, float(np.max(np.abs(y)))):
            found = 0.0
        row["found_sign"] = _sign(found)
        row["recovered"] = "yes" if row["found_sign"] == expected else "no"
    return pd.DataFrame(rows, columns=list(PLANTED_CHECK_COLUMNS))


def _no_effect(row: dict, y: np.ndarray, comp: pd.DataFrame) -> None:
    """Expected sign 0: recovered when no statistic correlates (permutation p, Bonferroni)."""
    row["basis"] = "no effect: no statistic with Bonferroni-corrected p_perm < 0.05"
    if len(y) < 3:
        row["basis"] = "too few mixtures"
        return
    if np.ptp(y) == 0:
        row.update(r=0.0, p_perm=1.0, found_sign="0", recovered="yes")
        return
    best_stat, best_p, best_r = "", np.inf, np.nan
    for stat in STATISTICS:
        x = comp[stat].to_numpy(dtype=float)
        if np.ptp(x) == 0:
            continue
        p = permutation_pvalue(x, y)
        if p < best_p:
            best_stat, best_p, best_r = stat, p, float(np.corrcoef(x, y)[0, 1])
    if not best_stat:
        return
    significant = best_p * len(STATISTICS) < ALPHA
    row.update(statistic=best_stat, r=best_r, p_perm=best_p,
               found_sign=_sign(best_r) if significant else "0",
               recovered="no" if significant else "yes")
