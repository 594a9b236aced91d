"""Seed replicates of the evaluation: reading and checking every (model, seed) score and item file.

Part of the analysis stage (after evaluation). The evaluation writes, per model ("base" =
base+SFT, and one CPT+SFT model per mixture) and per seed, `scores.tsv` (one row per task) and
`items.tsv` (one row per task item). A seed s means CPT with seed s followed by SFT with seed
s (base+SFT is reseeded too), so differences are paired by seed and, within a seed, by item.
This module turns those files into one `ReplicateData`: for every task an (M, S, I) array of
per-item values (M models, base first; S seeds; I items in one fixed sample_id order), next to
the (M, S, T) task scores and their stderr from the score files.

Two metrics can be analysed (`metric`): "score" (the JMedBench metric: the score/stderr
columns and item_score) or "continuous" (the mean gold-option z-score, margin or
log-probability, by evaluate.option_metric, or gold log-likelihood per byte:
continuous/continuous_stderr and item_continuous). The mean of a task's item values is its
score, with one exception: STS's metric is a Pearson r over items, which no single item
carries. For it the per-item values are jackknife pseudo-values of r
(I r - (I - 1) r_(-i)), recentred so that their mean is r itself; the two-way test then sees
the item-level variability of r the way the jackknife estimates it. The score files' value must
agree with the items (mean, or Pearson r) up to rounding: a mismatch means misaligned files.

Every problem is one ValueError naming the file and the field.

Place in `cptmix.analyze`: above `columns`, `checks` and `tables` (it reads with
`tables.read_tsv`); below every seed-aware module (`twoway`, `design`, `noise`, `bootstrap`,
`planted`) and the runner `run`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cptmix.analyze.checks import check_languages
from cptmix.analyze.columns import BASE
from cptmix.analyze.tables import read_tsv

METRICS = ("score", "continuous")
# (value column, stderr column, item column, metric-name column) per analysed metric.
METRIC_COLUMNS = {
    "score": ("score", "stderr", "item_score", "metric"),
    "continuous": ("continuous", "continuous_stderr", "item_continuous", "continuous_metric"),
}
REPLICATE_SCOPES = {
    "full": "CPT and SFT reseeded: the seeds measure CPT + SFT training noise",
    "sft": "one CPT run, only SFT reseeded: the seeds measure SFT noise only (CPT noise not "
           "measured)",
}
ITEM_COLUMNS = ("task", "sample_id", "item_score", "item_continuous", "prediction", "gold")
# The score files and the items must agree up to this (rounding of stored values).
CONSISTENCY_TOL = 1e-3


@dataclass
class TaskItems:
    """One task's items for every model and seed.

    `values` (M, S, I): per-item values whose mean is the task value (STS score: recentred
    jackknife pseudo-values). `kind` is "mean" or "pearson"; for "pearson" `prediction` and
    `gold` (M, S, I) hold what r is computed from (the bootstrap recomputes r on resamples).
    """

    values: np.ndarray
    kind: str = "mean"
    prediction: np.ndarray | None = None
    gold: np.ndarray | None = None
    sample_ids: list[str] = field(default_factory=list)

    @property
    def n_items(self) -> int:
        return int(self.values.shape[-1])


@dataclass
class ReplicateData:
    """Everything the seed-aware analysis needs, as arrays.

    models: base first, then the mixtures in table order; seeds: as given; tasks: task,
    category, language, metric (the metric's name) in the base file's order; scores and
    stderr: (M, S, T); n: (T,) items per task from the score files (NaN when absent);
    items: one TaskItems per task, or None (the tests then use the score files' stderr).
    """

    models: list[str]
    seeds: list[int]
    tasks: pd.DataFrame
    scores: np.ndarray
    stderr: np.ndarray
    n: np.ndarray
    items: list[TaskItems] | None
    metric: str = "score"
    replicate_scope: str = "full"

    @property
    def mixtures(self) -> list[str]:
        return self.models[1:]

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    def task_names(self) -> list[str]:
        return self.tasks["task"].tolist()


# ---------------------------------------------------------------------------------------------
# Pearson r and its jackknife (STS)


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis; 0.0 where a side is constant (the evaluation's rule)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    sxx, syy = (xc * xc).sum(-1), (yc * yc).sum(-1)
    den = np.sqrt(sxx * syy)
    ok = den > 1e-12 * np.maximum(1.0, np.sqrt(sxx) + np.sqrt(syy))
    return np.divide((xc * yc).sum(-1), den, out=np.zeros_like(den), where=ok)


def pearson_from_sums(n, sx, sy, sxx, syy, sxy) -> np.ndarray:
    """Pearson r from (weighted) sums; 0.0 where a side is constant. Broadcasts."""
    vx = n * sxx - sx * sx
    vy = n * syy - sy * sy
    cov = n * sxy - sx * sy
    den = np.sqrt(np.clip(vx, 0, None) * np.clip(vy, 0, None))
    scale = np.maximum(1.0, n * n * np.maximum(np.abs(sxx), np.abs(syy)))
    ok = den > 1e-10 * scale
    return np.divide(cov, den, out=np.zeros(np.broadcast(cov, den).shape), where=ok)


def jackknife_pseudo_values(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Recentred jackknife pseudo-values of Pearson r along the last axis (I items).

    p_i = I r - (I - 1) r_(-i), shifted so that mean_i p_i = r (the full-sample r, which is
    the reported score); their spread is the jackknife's: var(mean p) = jackknife var of r.
    """
    n = x.shape[-1]
    sums = [a.sum(-1, keepdims=True) for a in (x, y, x * x, y * y, x * y)]
    loo = pearson_from_sums(n - 1.0, *(s - a for s, a in zip(
        sums, (x, y, x * x, y * y, x * y), strict=True)))
    r = pearson_rows(x, y)[..., None]
    pseudo = n * r - (n - 1) * loo
    return pseudo - pseudo.mean(-1, keepdims=True) + r


# ---------------------------------------------------------------------------------------------
# Reading


def _numeric(df: pd.DataFrame, col: str, path) -> np.ndarray:
    # Empty or NA cells mean "no value" (NaN); anything else must parse.
    text = df[col].replace({"": np.nan, "NA": np.nan, "NaN": np.nan, "nan": np.nan})
    try:
        return pd.to_numeric(text).to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: column {col} is not numeric ({exc})") from None


def read_model_scores(path: str | os.PathLike, metric: str, need_stderr: bool) -> pd.DataFrame:
    """One (model, seed) scores.tsv: task, category, language, metric_name, value, stderr, n."""
    value_col, se_col, _, name_col = METRIC_COLUMNS[metric]
    df = read_tsv(path)
    required = ["task", "category", "language", value_col] + ([se_col] if need_stderr else [])
    missing = [c for c in required if c not in df.columns]
    if missing:
        what = f" (metric {metric!r})" if value_col in missing or se_col in missing else ""
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}{what} "
                         f"(found: {', '.join(map(str, df.columns))})")
    dup = df["task"][df["task"].duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"{path}: field task: listed more than once: {', '.join(dup)}")
    check_languages(df["language"], path)
    return pd.DataFrame({
        "task": df["task"].astype(str),
        "category": df["category"].astype(str),
        "language": df["language"].astype(str),
        "metric": df[name_col].astype(str) if name_col in df.columns else metric,
        "value": _numeric(df, value_col, path),
        "stderr": _numeric(df, se_col, path) if se_col in df.columns else np.nan,
        "n": _numeric(df, "n", path) if "n" in df.columns else np.nan,
    })


def read_model_items(path: str | os.PathLike, metric: str) -> pd.DataFrame:
    """One (model, seed) items.tsv: task, sample_id, value, prediction, gold (floats)."""
    item_col = METRIC_COLUMNS[metric][2]
    df = read_tsv(path)
    required = ["task", "sample_id", item_col] + (["prediction", "gold"]
                                                   if metric == "score" else [])
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(found: {', '.join(map(str, df.columns))})")
    key = df["task"].astype(str) + "\x00" + df["sample_id"].astype(str)
    if key.duplicated().any():
        row = df[key.duplicated()].iloc[0]
        raise ValueError(f"{path}: field sample_id: {row['sample_id']!r} listed more than once "
                         f"for task {row['task']!r}")
    out = pd.DataFrame({"task": df["task"].astype(str), "sample_id": df["sample_id"].astype(str),
                        "value": _numeric(df, item_col, path)})
    for col in ("prediction", "gold"):
        # Option/grade indices for option tasks; free text (MT/NER) becomes NaN, unused.
        out[col] = (pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
                    if col in df.columns else np.nan)
    return out


def _check_nested(paths: Mapping, what: str) -> tuple[list[str], list[int]]:
    """Models (base first) and seeds of a {model: {seed: path}} map; same seeds everywhere."""
    if not isinstance(paths, Mapping) or not paths:
        raise ValueError(f"{what}: expected {{model: {{seed: path}}}}, got {paths!r}")
    if BASE not in paths:
        raise ValueError(f"{what}: no {BASE!r} model (base+SFT) among {', '.join(paths)}")
    models = [BASE, *[str(m) for m in paths if str(m) != BASE]]
    if len(models) < 2:
        raise ValueError(f"{what}: no mixture model next to {BASE!r}")
    seeds_of = {}
    for model in models:
        per_seed = paths[model]
        if not isinstance(per_seed, Mapping) or not per_seed:
            raise ValueError(f"{what}: model {model!r}: expected {{seed: path}}, got "
                             f"{per_seed!r}")
        try:
            seeds_of[model] = [int(s) for s in per_seed]
        except (TypeError, ValueError):
            raise ValueError(f"{what}: model {model!r}: seeds must be integers, got "
                             f"{list(per_seed)}") from None
    seeds = seeds_of[BASE]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{what}: model {BASE!r}: a seed is given more than once")
    for model in models:
        missing = [s for s in seeds if s not in seeds_of[model]]
        extra = [s for s in seeds_of[model] if s not in seeds]
        if missing:
            raise ValueError(f"{what}: model {model!r} has no seed {missing[0]} (every model "
                             f"needs the seeds {', '.join(map(str, seeds))})")
        if extra:
            raise ValueError(f"{what}: model {model!r} has seed {extra[0]} that {BASE!r} lacks "
                             f"(seeds: {', '.join(map(str, seeds))})")
    return models, seeds


def _path(paths: Mapping, model: str, seed: int):
    per_seed = paths[model]
    return per_seed[seed] if seed in per_seed else per_seed[str(seed)]


def load_replicates(scores: Mapping, items: Mapping | None = None, *, metric: str = "score",
                    replicate_scope: str = "full") -> ReplicateData:
    """Read and check every score (and item) file; see the module docstring."""
    if metric not in METRICS:
        raise ValueError(f"metric: {metric!r} is not one of {', '.join(METRICS)}")
    if replicate_scope not in REPLICATE_SCOPES:
        raise ValueError(f"replicate_scope: {replicate_scope!r} is not one of "
                         f"{', '.join(REPLICATE_SCOPES)}")
    models, seeds = _check_nested(scores, "scores")
    if items is not None:
        item_models, item_seeds = _check_nested(items, "items")
        if set(item_models) != set(models) or item_seeds != seeds:
            raise ValueError(f"items: models/seeds ({', '.join(item_models)}; "
                             f"{', '.join(map(str, item_seeds))}) differ from the scores' "
                             f"({', '.join(models)}; {', '.join(map(str, seeds))})")
    base_path = _path(scores, BASE, seeds[0])
    tables = {(m, s): read_model_scores(_path(scores, m, s), metric, need_stderr=items is None)
              for m in models for s in seeds}
    ref = tables[(BASE, seeds[0])]
    tasks = ref["task"].tolist()
    for (m, s), table in tables.items():
        have = set(table["task"])
        lacking = [t for t in tasks if t not in have]
        extra = [t for t in table["task"] if t not in set(tasks)]
        if lacking or extra:
            problem = (f"missing task(s) {', '.join(lacking)}" if lacking
                       else f"task(s) not in {base_path}: {', '.join(extra)}")
            raise ValueError(f"{_path(scores, m, s)}: field task: {problem}")
    shape = (len(models), len(seeds), len(tasks))
    values, stderr = np.empty(shape), np.empty(shape)
    for mi, m in enumerate(models):
        for si, s in enumerate(seeds):
            t = tables[(m, s)].set_index("task").loc[tasks]
            values[mi, si] = t["value"].to_numpy()
            stderr[mi, si] = t["stderr"].to_numpy(dtype=float)
    meta = ref[["task", "category", "language", "metric"]].reset_index(drop=True)
    data = ReplicateData(models, seeds, meta, values, stderr, ref["n"].to_numpy(dtype=float),
                         None, metric, replicate_scope)
    if items is not None:
        data.items = _load_items(items, data)
    return data


def _aligned(frame: pd.DataFrame, keys: pd.MultiIndex, tasks: list[str], path, ref_path
             ) -> pd.DataFrame:
    """`frame`'s rows in the order of `keys` (task, sample_id); every key exactly once."""
    frame = frame[frame["task"].isin(tasks)].set_index(["task", "sample_id"])
    missing = keys.difference(frame.index, sort=False)
    extra = frame.index.difference(keys, sort=False)
    if len(missing) or len(extra):
        task = (missing if len(missing) else extra)[0][0]
        n_have = int((frame.index.get_level_values(0) == task).sum())
        n_ref = int((keys.get_level_values(0) == task).sum())
        absent = [sid for t, sid in missing if t == task][:3]
        raise ValueError(f"{path}: field sample_id: task {task!r} has {n_have} items, not the "
                         f"{n_ref} of {ref_path}" + (f" (missing e.g. {', '.join(absent)})"
                                                     if absent else " (other sample_ids)"))
    return frame.loc[keys]


def _load_items(items: Mapping, data: ReplicateData) -> list[TaskItems]:
    tasks = data.task_names()
    ref_path = _path(items, BASE, data.seeds[0])
    ref = read_model_items(ref_path, data.metric)
    ref = ref[ref["task"].isin(tasks)]
    counts = ref.groupby("task", sort=False).size()
    for task in tasks:
        if counts.get(task, 0) < 2:
            raise ValueError(f"{ref_path}: field task: {task!r} has {counts.get(task, 0)} "
                             "item(s); the item-level test needs at least 2")
    # One fixed item order: tasks in the score order, items in the reference file's order.
    ref = pd.concat([ref[ref["task"] == t] for t in tasks])
    keys = pd.MultiIndex.from_frame(ref[["task", "sample_id"]])
    shape = (len(data.models), len(data.seeds), len(keys))
    vals, pred, gold = np.empty(shape), np.empty(shape), np.empty(shape)
    for mi, m in enumerate(data.models):
        for si, s in enumerate(data.seeds):
            path = _path(items, m, s)
            frame = ref if (m, s) == (BASE, data.seeds[0]) else read_model_items(path,
                                                                                 data.metric)
            aligned = _aligned(frame.reset_index(drop=True), keys, tasks, path, ref_path)
            vals[mi, si] = aligned["value"].to_numpy()
            pred[mi, si] = aligned["prediction"].to_numpy()
            gold[mi, si] = aligned["gold"].to_numpy()
    out, start = [], 0
    for ti, task in enumerate(tasks):
        stop = start + int(counts[task])
        v, pr, go = vals[..., start:stop], pred[..., start:stop], gold[..., start:stop]
        ids = ref["sample_id"].iloc[start:stop].tolist()
        start = stop
        pearson = data.metric == "score" and bool(np.all(np.isnan(v)))
        if pearson:
            if not (np.all(np.isfinite(pr)) and np.all(np.isfinite(go))):
                raise ValueError(f"{ref_path}: fields prediction/gold: task {task!r} has no "
                                 "item_score (a Pearson task) but non-numeric prediction or "
                                 "gold")
            item = TaskItems(jackknife_pseudo_values(pr, go), "pearson", pr, go, ids)
            implied = pearson_rows(pr, go)
        else:
            item = TaskItems(v, "mean", sample_ids=ids)
            with np.errstate(invalid="ignore"):
                implied = np.nanmean(v, axis=-1) if np.isfinite(v).any() else v[..., 0]
        given = data.scores[:, :, ti]
        bad = np.abs(implied - given) > CONSISTENCY_TOL * np.maximum(1.0, np.abs(given))
        bad &= np.isfinite(given)
        if bad.any():
            mi, si = map(int, np.argwhere(bad)[0])
            how = "Pearson r of prediction/gold" if pearson else "mean of the items"
            raise ValueError(f"{_path(items, data.models[mi], data.seeds[si])}: field "
                             f"{METRIC_COLUMNS[data.metric][2]}: task {task!r}: {how} is "
                             f"{implied[mi, si]:.6f} but {METRIC_COLUMNS[data.metric][0]} in "
                             f"the scores is {given[mi, si]:.6f}")
        out.append(item)
    return out


def nested_paths(models: Sequence[str], seeds: Sequence[int], pattern: str, name: str
                 ) -> dict[str, dict[int, Path]]:
    """{model: {seed: pattern/name}} from a "results/eval/{model}/seed-{seed}" pattern."""
    return {str(m): {int(s): Path(pattern.format(model=m, seed=s)) / name for s in seeds}
            for m in models}
