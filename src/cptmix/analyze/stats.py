"""Score differences, language averages and (partial) correlations: the numbers of the analysis.

The analysis stage sits after evaluation: evaluation writes one score table per model (the
"base" model, i.e. the state before continued pre-training, plus one model per corpus
mixture, all after the same SFT), and this module turns them into

- per-task score differences, CPT+SFT minus base+SFT (paper section 3.3, appendix E);
- per-language and per-category averages (paper table 1);
- Pearson correlations and the paper's partial correlations (section 3.4) between each task's
  score difference and each of the seven compositional statistics of the mixtures (appendix C).

Partial correlation follows section 3.4 literally: OLS-regress the predictor (a statistic) on
the covariates with an intercept, do the same for the outcome (a task's score difference), and
take the Pearson r of the two residual vectors. Two p-values are reported: `p_paper` with the
paper's df = n - 2 (the plain Pearson test applied to the residuals, which is what reproduces
the paper's numbers, e.g. r = 0.587 -> p = 0.221 at n = 6), and `p` with the correct
df = n - 2 - k for k covariates (the same as `pingouin.partial_corr`).

Degenerate cases give NaN with the reason in `note`, never a number: the compositional
statistics satisfy exact identities (total = ja + en + parallel; the three ratios sum to one),
so with the default covariates ("the other statistics of the same group") every predictor is an
exact linear function of its covariates and its residual is pure floating-point noise; a
Pearson r computed from that noise would look like a result but mean nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

COUNT_STATISTICS = ("total_tokens", "ja_tokens", "en_tokens", "parallel_tokens")
RATIO_STATISTICS = ("ja_ratio", "en_ratio", "parallel_ratio")
STATISTICS = COUNT_STATISTICS + RATIO_STATISTICS

# JMedBench categories in the order the tables show them (paper section 3.3).
CATEGORIES = ("MCQA", "MT", "NER", "DC", "STS")

# A predictor (or outcome) whose residual after the covariates is below this fraction of its
# centred norm is an exact linear function of them up to rounding: r would be noise.
COLLINEAR_TOL = 1e-8
# Below this the value is kept but flagged: the predictor shares > 99.99 % of its variance with
# the covariates, so r is driven by whatever small deviations (e.g. rounding of the published
# statistics) remain.
NEAR_COLLINEAR_TOL = 1e-2
# A vector whose centred norm is below this fraction of its largest magnitude is constant.
CONSTANT_TOL = 1e-12

LONG_COLUMNS = ("mixture", "task", "category", "language", "base_score", "cpt_score",
                "score_diff")
SCORE_COLUMNS = ("task", "category", "language", "score")
COMPOSITION_COLUMNS = ("mixture",) + STATISTICS
BASE = "base"


# ---------------------------------------------------------------------------------------------
# Input normalisation (shared with the file readers in `tables`)


def language_key(value: object) -> str:
    """Map a language label ("Japanese", "ja", "English", "en", ...) to "ja" or "en"."""
    text = str(value).strip().lower()
    if text.startswith(("ja", "jp")) or text == "日本語":
        return "ja"
    if text.startswith("en") or text == "英語":
        return "en"
    raise ValueError(f"unknown language {value!r}: expected Japanese/ja or English/en")


def check_languages(values, source: str) -> None:
    """Every value of a `language` column is one `language_key` knows, else a ValueError
    naming `source` and the column."""
    for lang in pd.unique(values):
        try:
            language_key(lang)
        except ValueError as exc:
            raise ValueError(f"{source}: column language: {exc}") from None


def check_scores(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate one model's score table; return a copy with a float `score` column.

    `source` names the table (a path, or "scores of mixture X") in error messages.
    """
    missing = [c for c in SCORE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)} "
                         f"(found: {', '.join(map(str, df.columns))})")
    out = df.copy()
    out["task"] = out["task"].astype(str)
    dup = out["task"][out["task"].duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"{source}: task(s) listed more than once: {', '.join(dup)}")
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
    missing = [c for c in COMPOSITION_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)} "
                         f"(found: {', '.join(map(str, frame.columns))})")
    out = frame.copy()
    out["mixture"] = out["mixture"].astype(str)
    dup = out["mixture"][out["mixture"].duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"{source}: mixture(s) listed more than once: {', '.join(dup)}")
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


# ---------------------------------------------------------------------------------------------
# Score differences and averages


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


DIFF_COLUMNS = ("mixture", "task", "category", "language", "score_diff")


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


# ---------------------------------------------------------------------------------------------
# Correlations


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


def _is_constant(v: np.ndarray) -> bool:
    centred = v - v.mean()
    return float(np.linalg.norm(centred)) <= CONSTANT_TOL * max(float(np.max(np.abs(v))), 1e-300)


def correlations(diffs: pd.DataFrame, composition: pd.DataFrame) -> pd.DataFrame:
    """Plain Pearson r (scipy.stats.pearsonr) of each task's score difference with each statistic.

    Columns: task, statistic, n, r, p. Mixtures with a missing score difference are dropped
    per task; NaN where fewer than 3 mixtures remain or either variable is constant.
    """
    wide, comp = outcome_matrix(diffs, composition)
    rows = []
    for task in wide.index:
        y_all = wide.loc[task].to_numpy(dtype=float)
        for stat in STATISTICS:
            x_all = comp[stat].to_numpy(dtype=float)
            ok = np.isfinite(y_all)
            x, y = x_all[ok], y_all[ok]
            r = p = np.nan
            if len(y) >= 3 and not _is_constant(x) and not _is_constant(y):
                res = sps.pearsonr(x, y)
                r, p = float(res.statistic), float(res.pvalue)
            rows.append({"task": task, "statistic": stat, "n": len(y), "r": r, "p": p})
    return pd.DataFrame(rows, columns=["task", "statistic", "n", "r", "p"])


def default_covariates() -> dict[str, list[str]]:
    """The other statistics of the same group (counts or ratios) for each statistic."""
    out = {}
    for group in (COUNT_STATISTICS, RATIO_STATISTICS):
        for stat in group:
            out[stat] = [s for s in group if s != stat]
    return out


def resolve_covariates(covariates: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    """Defaults overridden per statistic by `covariates` (an empty list means none)."""
    out = default_covariates()
    for stat, covs in (covariates or {}).items():
        if stat not in STATISTICS:
            raise ValueError(f"covariates: unknown statistic {stat!r} "
                             f"(known: {', '.join(STATISTICS)})")
        covs = [str(c) for c in covs]
        bad = [c for c in covs if c not in STATISTICS]
        if bad:
            raise ValueError(f"covariates for {stat}: unknown statistic(s) {', '.join(bad)}")
        if stat in covs:
            raise ValueError(f"covariates for {stat}: a statistic cannot be its own covariate")
        if len(set(covs)) != len(covs):
            raise ValueError(f"covariates for {stat}: repeated covariate in {covs}")
        out[stat] = covs
    return out


@dataclass(frozen=True)
class PartialCorrelation:
    """One partial correlation: NaN r/p with a reason in `note` when it is undefined."""

    n: int
    k: int
    r: float
    p_paper: float  # df = n - 2 (the paper's test)
    p: float  # df = n - 2 - k (correct for k covariates)
    note: str = ""
    # Filled by `cptmix.analyze.inference.robust_partial_corr`; NaN from `partial_corr` alone.
    p_perm: float = float("nan")  # exact permutation p (all n! orderings of the outcome)
    ci_low: float = float("nan")  # jackknife interval on Fisher's z
    ci_high: float = float("nan")
    loo_sign_stable: float = float("nan")  # fraction of leave-one-out r with r's sign
    vif_max: float = float("nan")  # largest VIF among the predictor and its covariates


def t_test_pvalue(r: float, df: int) -> float:
    """Two-sided p-value of a correlation r under H0: rho = 0, with `df` degrees of freedom."""
    if df <= 0 or not np.isfinite(r):
        return float("nan")
    if abs(r) >= 1.0:
        return 0.0
    t = r * np.sqrt(df / (1.0 - r * r))
    return float(2.0 * sps.t.sf(abs(t), df))


def finite_rows(x, y, covariates=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y and the (n, k) covariate array as floats, without rows holding a non-finite value."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    z = (np.empty((len(x), 0)) if covariates is None
         else np.asarray(covariates, dtype=float).reshape(len(x), -1))
    ok = np.isfinite(x) & np.isfinite(y) & np.all(np.isfinite(z), axis=1)
    return x[ok], y[ok], z[ok]


def design_matrix(z: np.ndarray) -> np.ndarray:
    """[intercept, standardised covariates]: the OLS design of the residual method.

    Standardising leaves the column space (with the intercept) unchanged but keeps the
    least-squares problem well scaled whatever the units (token counts ~1e10, ratios ~0.1).
    """
    n = z.shape[0]
    zc = z - z.mean(axis=0)
    scale = np.linalg.norm(zc, axis=0)
    zc = zc / np.where(scale > 0, scale, 1.0)
    return np.column_stack([np.ones(n) / np.sqrt(n), zc])


def _residual(v: np.ndarray, design: np.ndarray) -> tuple[np.ndarray, float]:
    """OLS residual of v on `design`, and its norm relative to v's centred norm.

    v is centred and scaled to unit norm first so that token counts (~1e10) and ratios (~0.1)
    are residualised at the same numerical precision; the design contains an intercept, so
    neither step changes the residual's direction, and r is scale-free.
    """
    centred = v - v.mean()
    unit = centred / np.linalg.norm(centred)
    coef, *_ = np.linalg.lstsq(design, unit, rcond=None)
    resid = unit - design @ coef
    return resid, float(np.linalg.norm(resid))


def partial_corr(x: Sequence[float], y: Sequence[float],
                 covariates: np.ndarray | Sequence[Sequence[float]] | None = None,
                 x_name: str = "predictor", covariate_names: Sequence[str] = ()
                 ) -> PartialCorrelation:
    """The paper's partial correlation of predictor x and outcome y given covariate columns.

    `covariates` is an (n, k) array (or None / zero columns for a plain Pearson r). Rows with
    a non-finite value anywhere are dropped. Names are used only in the note.
    """
    x, y, z = finite_rows(x, y, covariates)
    n, k = len(x), z.shape[1]
    cov_text = ", ".join(covariate_names) if covariate_names else f"{k} covariate(s)"

    def undefined(note: str) -> PartialCorrelation:
        return PartialCorrelation(n, k, float("nan"), float("nan"), float("nan"), note)

    # With n <= k + 2 the correct test has no degrees of freedom left (and at n <= k + 1 the
    # residuals are identically zero), so there is nothing to report.
    if n <= k + 2:
        return undefined(f"too few observations: n={n} <= k+2={k + 2}")
    if _is_constant(y):
        return undefined("constant outcome: the score difference is the same for every mixture")
    if _is_constant(x):
        return undefined(f"constant predictor: {x_name} is the same for every mixture")
    design = design_matrix(z)
    rx, rel_x = _residual(x, design)
    if rel_x < COLLINEAR_TOL:
        return undefined(f"predictor collinear with covariates: {x_name} is an exact linear "
                         f"function of {cov_text} (relative residual {rel_x:.1e})")
    ry, rel_y = _residual(y, design)
    if rel_y < COLLINEAR_TOL:
        return undefined(f"outcome collinear with covariates: the score difference is an exact "
                         f"linear function of {cov_text} (relative residual {rel_y:.1e})")
    r = float(np.clip(rx @ ry / (np.linalg.norm(rx) * np.linalg.norm(ry)), -1.0, 1.0))
    note = ""
    if rel_x < NEAR_COLLINEAR_TOL:
        note = (f"near-collinear predictor: {x_name} is almost a linear function of {cov_text} "
                f"(relative residual {rel_x:.1e}); r reflects small deviations such as rounding")
    return PartialCorrelation(n, k, r, t_test_pvalue(r, n - 2), t_test_pvalue(r, n - 2 - k), note)


PARTIAL_COLUMNS = ("task", "statistic", "covariates", "n", "r", "p_paper", "p", "p_perm",
                   "q_bh", "ci_low", "ci_high", "loo_sign_stable", "vif_max", "note")


def partial_correlations(diffs: pd.DataFrame, composition: pd.DataFrame,
                         covariates: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Partial correlation of every task's score difference with every statistic (section 3.4).

    Columns: task, statistic, covariates (comma-joined), n, r, p_paper, p, then what a reviewer
    asks for (see `cptmix.analyze.inference`): p_perm (exact permutation p), q_bh
    (Benjamini-Hochberg over all defined p_perm of the table), ci_low/ci_high (jackknife),
    loo_sign_stable, vif_max; and note. `covariates` maps a statistic to its covariate
    statistics; statistics it does not name keep the default, the other statistics of the same
    group (which are exactly collinear for exact counts and ratios: those rows come out NaN
    with the reason in `note`).
    """
    # Imported here: inference builds on this module's partial_corr.
    from cptmix.analyze.inference import bh_qvalues, robust_partial_corr

    wide, comp = outcome_matrix(diffs, composition)
    covs = resolve_covariates(covariates)
    rows = []
    for task in wide.index:
        y = wide.loc[task].to_numpy(dtype=float)
        for stat in STATISTICS:
            res = robust_partial_corr(comp[stat].to_numpy(dtype=float), y,
                                      comp[covs[stat]].to_numpy(dtype=float),
                                      x_name=stat, covariate_names=covs[stat])
            rows.append({"task": task, "statistic": stat, "covariates": ",".join(covs[stat]),
                         "n": res.n, "r": res.r, "p_paper": res.p_paper, "p": res.p,
                         "p_perm": res.p_perm, "ci_low": res.ci_low, "ci_high": res.ci_high,
                         "loo_sign_stable": res.loo_sign_stable, "vif_max": res.vif_max,
                         "note": res.note})
    out = pd.DataFrame(rows, columns=[c for c in PARTIAL_COLUMNS if c != "q_bh"])
    # One family: every defined test of the table, whatever the task or statistic.
    out.insert(out.columns.get_loc("p_perm") + 1, "q_bh",
               bh_qvalues(out["p_perm"].to_numpy(dtype=float)))
    return out[list(PARTIAL_COLUMNS)]
