"""How many sweep mixtures the planted-effect check needs: a power simulation calibrated on
the measured sweep (power.tsv, power.md, power.png).

Part of the analysis stage, for a designed sweep. Two questions a lab asks after a sweep,
answered by simulation from what the sweep measured:

- would more runs make the surrogate's held-out ranking good enough to trust
  (`surrogate_skill`: the linear surrogate's LOO Spearman for the language averages, and
  the proposal's objective when it is another weighting, per design size, and its noise ceiling: the Spearman of the true surface itself with the noisy
  measurements, which more runs cannot pass), in every world;
- in the demo (planted effects known), how the planted check's recovered count would grow
  with more sweep mixtures (`power_table`), so a miss shows as a matter of design size or of
  the world (an effect too small or absent at proxy scale).

The planted check's simulation, per metric:

1. Calibration, per task, on the measured design (sweep + anchors), seed-averaged
   differences y over the mixtures' shares S (more mixtures than sources needed, else nothing
   is simulated and power.md says why):
   - a non-zero planted task: the linear mixture (Scheffé) model y ~ 1 + S[:, :-1] (the last
     share left out: they sum to 1) by OLS, its residual SD (df n - p) as the noise of a
     seed-averaged run at the measured seed count, and its slopes, shrunk to the unbiased
     estimate of their true size (`debiased`: a fitted slope is the truth plus noise, and
     taken as it is, a task with no effect would grow "significant" in a larger simulated
     design), as the truth;
   - a "0" task: the check's null, y ~ 1 + the held sources' shares, with its residual SD.
2. Simulation, for each prospective size n' = multiplier x design.sweep.n: the design the
   config's method generates at n' (`cptmix.design.sweep.sweep_points`) plus the measured
   anchors; `replicates` draws of every task's y = X b + N(0, sigma^2) (one RNG, `seed`);
   each draw is checked exactly as the planted check does (the held-adjusted OLS slope on the
   drivers' summed share, t test; the partial F test for a "0" task; BH over every task of
   the draw: `_slope_p` / `_none_p` vectorise `planted_sweep_check`'s tests, and a test holds
   them equal).
3. Per n': per task the share of draws that recover it (right sign and BH q < 0.05), or, for a
   "0" task, that call it significant (a false positive); over tasks the distribution of the
   recovered count (mean, 10th and 90th percentile) and of false positives.

Caveats, stated in power.md: the calibrated slopes are estimates (debiased in size, not
exact: a task's power here can be off either way, most for tasks near the noise); the truth is linear in the shares (a curved response is part
of sigma); designs are the declared shares (a realised subsample differs by rounding).

Place in `cptmix.analyze`: above `sweep` (its check and tables) and `inference`; it imports
`cptmix.design.sweep` (an earlier stage) for the prospective designs.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from cptmix.analyze.inference import bh_qvalues
from cptmix.analyze.planted import driver_list
from cptmix.analyze.sweep import none_testable, slope_testable
from cptmix.analyze.twoway import ALPHA

POWER_COLUMNS = ("metric", "multiplier", "n_sweep", "n_points", "task", "expected_sign",
                 "driver_sources", "held_sources", "sigma", "power", "right_sign")
PERCENTILES = (10, 90)
SKILL_GOAL = 0.8  # a held-out Spearman worth a proposal (issue 13's goal for the averages):
# p_reaching_goal is the share of draws whose LOO Spearman reaches it
SKILL_TARGETS = ("ja_average", "en_average")
SKILL_COLUMNS = ("metric", "multiplier", "n_sweep", "n_points", "target", "sigma",
                 "measured_loo_spearman", "loo_spearman_mean",
                 f"loo_spearman_p{PERCENTILES[0]}", f"loo_spearman_p{PERCENTILES[1]}",
                 "p_reaching_goal", "ceiling_mean")
SUMMARY_COLUMNS = ["metric", "multiplier", "n_sweep", "n_points", "replicates", "nonzero", "none",
                   "recovered_mean", f"recovered_p{PERCENTILES[0]}",
                   f"recovered_p{PERCENTILES[1]}", "false_positives_mean"]


@dataclasses.dataclass(frozen=True)
class TaskTruth:
    """One task's calibrated truth: coefficients over [1, S[:, :-1]] (non-zero task) or over
    [1, held shares] ("0" task), and the residual SD."""
    task: str
    expected: str
    drivers: tuple[str, ...]
    held: tuple[str, ...]
    coef: np.ndarray
    sigma: float


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """OLS of every column of `y` on `x`: (coefficients, residual sums of squares, residual
    df)."""
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    return coef, (resid ** 2).sum(axis=0), x.shape[0] - x.shape[1]


def _ones(n: int) -> np.ndarray:
    return np.ones((n, 1))


def calibrate(planted: pd.DataFrame, runs: pd.DataFrame, shares: pd.DataFrame
              ) -> list[TaskTruth]:
    """The truth per planted task (module docstring, step 1), from `runs` (`sweep_runs`: per
    seed differences) and `shares` (mixture x source, the measured design). Tasks not in
    `runs`, or whose drivers the design does not vary, are left out."""
    mean = runs.groupby(["task", "mixture"], sort=False)["diff"].mean()
    mixtures = [m for m in shares.index if m in set(runs["mixture"])]
    s = shares.loc[mixtures].to_numpy(dtype=float)
    analysed = set(mean.index.get_level_values(0))
    out = []
    if len(mixtures) <= shares.shape[1]:  # the full model (1 + K - 1 shares) has no df left
        return out
    for item in planted.itertuples():
        task, expected = str(item.task), str(item.expected_sign).strip()
        drivers = tuple(driver_list(item.driver_sources))
        held = tuple(h for h in driver_list(item.held_sources) if h in shares.columns)
        if task not in analysed or any(d not in shares.columns for d in drivers):
            continue
        y = mean.loc[task].reindex(mixtures).to_numpy(dtype=float)
        if expected == "0":
            x = np.hstack([_ones(len(y)), shares.loc[mixtures, list(held)].to_numpy(float)])
        else:
            x = np.hstack([_ones(len(y)), s[:, :-1]])
        fit = _truth(x, y, debias=expected != "0")
        if fit is not None:
            out.append(TaskTruth(task, expected, drivers, held, *fit))
    return out


def _truth(x: np.ndarray, y: np.ndarray, debias: bool = True
           ) -> tuple[np.ndarray, float] | None:
    """(coefficients, residual SD) of the OLS fit of `y` on `x`, the slopes `debiased` unless
    `debias` is False; None when the fit leaves no residual df."""
    coef, rss, df = _ols(x, y)
    if df < 1:
        return None
    sigma = float(np.sqrt(rss / df))
    return (debiased(coef, x, sigma) if debias else coef), sigma


def debiased(coef: np.ndarray, x: np.ndarray, sigma: float) -> np.ndarray:
    """`coef` (intercept first) with its slopes shrunk so that their Wald statistic equals the
    unbiased estimate of the true one: W = b' (X'X / sigma^2) b has expectation k + lambda
    for k slopes of non-centrality lambda, so the slopes are scaled by sqrt(max(0, W - k) / W).
    Without it, a task with no effect would take its noise as the truth and a larger design
    would "find" it; with it, pure noise gives slopes near 0 and a large effect keeps its
    size."""
    b = coef[1:]
    if sigma <= 0 or not len(b):
        return coef
    info = np.linalg.inv(np.linalg.inv(x.T @ x)[1:, 1:]) / sigma**2
    wald = float(b @ info @ b)
    scale = np.sqrt(max(0.0, wald - len(b)) / wald) if wald > 0 else 0.0
    return np.concatenate([coef[:1], b * scale])


def _slope_p(y: np.ndarray, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(slope, two-sided p) of the OLS slope on `x` adjusted for the columns of `z`, for every
    column of `y` (n x R): `planted_sweep_check`'s test for a non-zero task."""
    design = np.column_stack([_ones(len(x)), x, z])
    coef, rss, df = _ols(design, y)
    cov11 = np.linalg.inv(design.T @ design)[1, 1]
    se = np.sqrt(rss / df * cov11)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = coef[1] / se
    return coef[1], 2 * sps.t.sf(np.abs(t), df)


def _none_p(y: np.ndarray, s: np.ndarray, z: np.ndarray) -> np.ndarray:
    """p of the partial F test of every column of `y` on all shares but the last against the
    held shares `z`: `planted_sweep_check`'s test for a "0" task."""
    ones = _ones(len(s))
    _, rss_full, df_full = _ols(np.hstack([ones, s[:, :-1]]), y)
    _, rss_red, df_red = _ols(np.hstack([ones, z]), y)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = ((rss_red - rss_full) / (df_red - df_full)) / (rss_full / df_full)
    return sps.f.sf(f, df_red - df_full, df_full)


def testable(truth: TaskTruth, shares: pd.DataFrame) -> bool:
    """Whether the planted check can test the task on design `shares`: its own guards
    (`sweep.slope_testable`, `sweep.none_testable`)."""
    if truth.expected == "0":
        return none_testable(len(shares), shares.shape[1])
    x = shares[list(truth.drivers)].sum(axis=1).to_numpy(float)
    z = shares[list(truth.held)].to_numpy(float)
    return slope_testable(x, np.column_stack([_ones(len(shares)), x, z]))


def simulate(truths: Sequence[TaskTruth], shares: pd.DataFrame, replicates: int,
             rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Draws on design `shares` (mixture x source, the calibration's sources in order):
    (per task: power and right-sign rate, recovered count per draw, false positives per
    draw). A task the design cannot test has NaN power and counts as not recovered."""
    s = shares.to_numpy(float)
    n = len(s)
    ps, signs, rows = [], [], []
    for truth in truths:
        z = shares[list(truth.held)].to_numpy(float)
        if truth.expected == "0":
            mean = np.hstack([_ones(n), z]) @ truth.coef
        else:
            mean = np.hstack([_ones(n), s[:, :-1]]) @ truth.coef
        y = mean[:, None] + rng.normal(0.0, truth.sigma, (n, replicates))
        if not testable(truth, shares):
            ps.append(np.full(replicates, np.nan))
            signs.append(np.zeros(replicates, bool))
            continue
        if truth.expected == "0":
            ps.append(_none_p(y, s, z))
            signs.append(np.zeros(replicates, bool))
        else:
            x = shares[list(truth.drivers)].sum(axis=1).to_numpy(float)
            slope, p = _slope_p(y, x, z)
            ps.append(p)
            signs.append(np.sign(slope) == (1 if truth.expected == "+" else -1))
    p = np.vstack(ps)  # tasks x draws
    q = np.column_stack([bh_qvalues(p[:, r]) for r in range(replicates)])
    significant = np.nan_to_num(q, nan=1.0) < ALPHA
    sign = np.vstack(signs)
    zero = np.array([t.expected == "0" for t in truths])
    recovered = significant & sign & ~zero[:, None]
    false_pos = significant & zero[:, None]
    for i, truth in enumerate(truths):
        untestable = np.isnan(p[i]).all()
        hit = false_pos[i] if zero[i] else recovered[i]
        rows.append({"task": truth.task, "expected_sign": truth.expected,
                     "driver_sources": ",".join(truth.drivers),
                     "held_sources": ",".join(truth.held), "sigma": truth.sigma,
                     "power": np.nan if untestable else float(hit.mean()),
                     "right_sign": np.nan if zero[i] or untestable else float(sign[i].mean())})
    return pd.DataFrame(rows), recovered.sum(axis=0), false_pos.sum(axis=0)


def _spearman_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of every column of `a` with the same column of `b`."""
    ra, rb = sps.rankdata(a, axis=0), sps.rankdata(b, axis=0)
    ra, rb = ra - ra.mean(axis=0), rb - rb.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (ra * rb).sum(axis=0) / np.sqrt((ra ** 2).sum(axis=0) * (rb ** 2).sum(axis=0))


def _loo_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Leave-one-mixture-out Spearman of the linear surrogate (OLS on `x`, the Scheffé
    design with its intercept) for every column of `y`: the held-out prediction of point i is
    y_i - e_i / (1 - h_ii), exactly what refitting without i predicts."""
    hat = x @ np.linalg.pinv(x)
    h = np.clip(np.diag(hat), None, 1 - 1e-12)[:, None]
    return _spearman_columns(y - (y - hat @ y) / (1 - h), y)


def surrogate_skill(targets: pd.DataFrame, shares: pd.DataFrame,
                    designs: Mapping[int, pd.DataFrame], replicates: int,
                    rng: np.random.Generator, metric: str, *, n_measured: int
                    ) -> pd.DataFrame:
    """Rows of SKILL_COLUMNS: for each target column of `targets` (mixture x target seed
    means over the measured `shares`) the linear surrogate's LOO Spearman as measured (on the
    row of `n_measured`, the measured sweep's size) and, per design size (`designs`: {sweep
    mixtures: design}), as simulated from the fitted linear mixture model (slopes `debiased`)
    with its residual noise. Empty when the measured design has no more mixtures than
    sources."""
    s = shares.to_numpy(float)
    x = np.hstack([_ones(len(s)), s[:, :-1]])
    rows = []
    if len(s) <= s.shape[1]:
        return pd.DataFrame(rows, columns=list(SKILL_COLUMNS))
    for target in targets.columns:
        y = targets.loc[shares.index, target].to_numpy(float)
        truth, sigma = _truth(x, y)  # df >= 1: more mixtures than sources (checked above)
        measured = float(_loo_spearman(x, y[:, None])[0])
        for n, design in sorted(designs.items()):
            d = design[list(shares.columns)].to_numpy(float)
            xd = np.hstack([_ones(len(d)), d[:, :-1]])
            surface = np.repeat(xd @ truth[:, None], replicates, axis=1)
            draws = surface + rng.normal(0.0, sigma, (len(d), replicates))
            rho = _loo_spearman(xd, draws)
            # the noise ceiling: the true surface itself, scored against the noisy draws (0
            # for a flat surface: there is no ranking to recover)
            ceiling = (_spearman_columns(surface, draws) if np.ptp(surface[:, 0]) > 0
                       else np.zeros(replicates))
            lo, hi = np.nanpercentile(rho, PERCENTILES)
            rows.append({"metric": metric, "multiplier": n // n_measured, "n_sweep": n,
                         "n_points": len(d), "target": target, "sigma": sigma,
                         "measured_loo_spearman": measured if n == n_measured else np.nan,
                         "loo_spearman_mean": float(np.nanmean(rho)),
                         f"loo_spearman_p{PERCENTILES[0]}": float(lo),
                         f"loo_spearman_p{PERCENTILES[1]}": float(hi),
                         "p_reaching_goal": float(np.mean(rho >= SKILL_GOAL)),
                         "ceiling_mean": float(np.nanmean(ceiling))})
    return pd.DataFrame(rows, columns=list(SKILL_COLUMNS))


def prospective_designs(spec, anchors: pd.DataFrame, multipliers: Sequence[int]
                        ) -> dict[int, pd.DataFrame]:
    """{n': design} for n' = multiplier x spec.n: the config's method at n' (declared shares,
    `sweep_points`) plus the `anchors` rows, over spec.sources."""
    from cptmix.design.sweep import sweep_points

    out = {}
    for k in multipliers:
        n = int(k) * spec.n
        points = sweep_points(dataclasses.replace(spec, n=n))
        design = pd.DataFrame(points, columns=list(spec.sources),
                              index=[f"design-{i + 1:03d}" for i in range(n)])
        out[n] = pd.concat([design, anchors[list(spec.sources)]])
    return out


def power_table(planted: pd.DataFrame, runs: pd.DataFrame, shares: pd.DataFrame,
                designs: Mapping[int, pd.DataFrame], replicates: int, seed: int,
                metric: str, *, n_measured: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per n' x task rows of POWER_COLUMNS, per n' summary: mean and percentiles of the
    recovered count, mean false positives), for one metric's `runs`; `designs`: {sweep
    mixtures: design}, `n_measured`: the measured sweep's size (multiplier 1)."""
    truths = calibrate(planted, runs, shares)
    if not truths:  # too few measured points for the linear mixture model (n <= sources)
        return pd.DataFrame(columns=list(POWER_COLUMNS)), pd.DataFrame(columns=SUMMARY_COLUMNS)
    rng = np.random.default_rng(seed)
    tables, summary = [], []
    for n, design in sorted(designs.items()):
        per_task, counts, fps = simulate(truths, design[list(shares.columns)], replicates, rng)
        per_task.insert(0, "n_points", len(design))
        per_task.insert(0, "n_sweep", n)
        per_task.insert(0, "multiplier", n // n_measured)
        per_task.insert(0, "metric", metric)
        tables.append(per_task)
        lo, hi = np.percentile(counts, PERCENTILES)
        summary.append({"metric": metric, "multiplier": n // n_measured, "n_sweep": n,
                        "n_points": len(design), "replicates": replicates,
                        "nonzero": sum(t.expected != "0" for t in truths),
                        "none": sum(t.expected == "0" for t in truths),
                        "recovered_mean": float(counts.mean()),
                        f"recovered_p{PERCENTILES[0]}": float(lo),
                        f"recovered_p{PERCENTILES[1]}": float(hi),
                        "false_positives_mean": float(fps.mean())})
    return (pd.concat(tables, ignore_index=True)[list(POWER_COLUMNS)],
            pd.DataFrame(summary, columns=SUMMARY_COLUMNS))


def _too_few(n_sources: int, n_points: int) -> str:
    """power.md's line when a section has nothing to simulate."""
    return (f"Nothing simulated: the linear mixture model over {n_sources} sources needs more "
            f"than {n_sources} measured design points; the measured design has {n_points}.")


def summary_markdown(summary: pd.DataFrame, table: pd.DataFrame, measured: Mapping[str, int],
                     n_seeds: int, n_points: int = 0, n_sources: int = 0) -> str:
    """power.md: the expected recovered counts per design size and metric, beside the count
    the measured design's check found (`measured`: {metric: recovered}), and per metric the
    non-zero tasks that stay below power 0.5 at the largest size (`table`: power_table's
    rows)."""
    intro = ("Each row: designs of the config's method at that size (plus the anchors), every "
             "task's seed-averaged difference drawn from the linear mixture model fitted on the "
             f"measured design with its residual noise ({n_seeds} seed(s) per run, as "
             "measured), checked as the planted check does (held-adjusted OLS slope on the "
             f"drivers' share, BH q < {ALPHA} over every task; recovered = right sign and "
             "significant).")
    header = ("| metric | sweep mixtures | design points | recovered: mean | "
              f"{PERCENTILES[0]}th-{PERCENTILES[1]}th pct | of | measured | "
              "\"none\" significant: mean |")
    title = "## The planted-effect check by sweep size (demo)"
    lines = [title]
    lines += ["", intro, "", header, "|---|---|---|---|---|---|---|---|"]
    if summary.empty:
        lines += ["", _too_few(n_sources, n_points)]
    for r in summary.itertuples():
        got = measured.get(r.metric) if r.multiplier == 1 else None
        lines.append(
            f"| {r.metric} | {r.n_sweep} | {r.n_points} | {r.recovered_mean:.1f} | "
            f"{getattr(r, f'recovered_p{PERCENTILES[0]}'):.0f}-"
            f"{getattr(r, f'recovered_p{PERCENTILES[1]}'):.0f} | {r.nonzero} | "
            f"{'' if got is None else got} | {r.false_positives_mean:.2f} of {r.none} |")
    for metric, rows in table.groupby("metric", sort=False):
        largest = rows[(rows["n_sweep"] == rows["n_sweep"].max())
                       & (rows["expected_sign"] != "0")]
        weak = largest[~(largest["power"] >= 0.5)]
        listed = ", ".join(f"{r.task} {r.power:.2f}" for r in weak.itertuples()) or "none"
        lines += ["", (f"{metric}: non-zero planted effects below power 0.5 at "
                       f"{int(rows['n_sweep'].max())} sweep mixtures (more runs barely help "
                       f"them: too small or absent at proxy scale): {listed}.")]
    lines += ["", ("Caveats: the truth is the fitted linear mixture model with its slopes shrunk "
                   "to the unbiased estimate of their size (a fitted slope is the truth plus "
                   "noise), so a task's power here can be off either way, most for tasks near "
                   "the noise; curvature in the shares counts as noise; prospective designs use "
                   "declared shares. Per-task power: power.tsv.")]
    return "\n".join(lines) + "\n"


def skill_targets(runs: pd.DataFrame, objective: Mapping | None
                  ) -> tuple[pd.DataFrame, list[str]]:
    """(runs, target names) for `surrogate_skill`: the language averages of `runs` (a
    `surrogate.runs_table`), and, given the design's `objective` block (for the objective's
    metric), the proposal's objective as a column "objective" unless it is one of the
    averages alone."""
    from cptmix.analyze.propose import OBJECTIVE, objective_runs

    names = [t for t in SKILL_TARGETS if t in runs.columns]
    targets = dict((objective or {}).get("targets") or {})
    if targets and not (len(targets) == 1 and next(iter(targets)) in names):
        return objective_runs(runs, targets), [*names, OBJECTIVE]
    return runs, names


def skill_markdown(skill: pd.DataFrame, n_points: int, n_sources: int) -> str:
    """power.md's surrogate section: the linear surrogate's LOO Spearman per target and
    design size, measured and simulated."""
    lines = ["## The linear surrogate's held-out skill by sweep size", "",
             ("Each row: a language average or the proposal's objective (the raw CPT+SFT value) "
              "drawn from the linear mixture model fitted on the measured design with its residual "
              "noise, on the config's designs at that size (plus the anchors); LOO Spearman of "
              "the linear surrogate (the candidate whose held-out prediction has a closed "
              "form). Ceiling: the Spearman of the true (simulated) surface itself with the "
              "noisy measurements, the most any surrogate can reach on that design; more runs "
              "bring a surrogate up to it, only a wider design or less noise per run raises "
              "it. Both assume the linear truth: curvature counts as noise, so a curved "
              "candidate (loglinear, gp, gbm) can beat this ceiling where the response bends. "
              "The other candidates' measured checks: surrogate_cv.tsv."), "",
             ("| metric | target | sweep mixtures | design points | LOO Spearman: measured | "
              f"simulated mean | {PERCENTILES[0]}th-{PERCENTILES[1]}th pct | "
              f"P(>= {SKILL_GOAL}) | ceiling |"), "|---|---|---|---|---|---|---|---|---|"]
    if skill.empty:
        lines += ["", _too_few(n_sources, n_points)]
    for r in skill.itertuples():
        measured = "" if np.isnan(r.measured_loo_spearman) else f"{r.measured_loo_spearman:.2f}"
        lines.append(
            f"| {r.metric} | {r.target} | {r.n_sweep} | {r.n_points} | {measured} | "
            f"{r.loo_spearman_mean:.2f} | {getattr(r, f'loo_spearman_p{PERCENTILES[0]}'):.2f}-"
            f"{getattr(r, f'loo_spearman_p{PERCENTILES[1]}'):.2f} | "
            f"{r.p_reaching_goal:.2f} | {r.ceiling_mean:.2f} |")
    return "\n".join(lines) + "\n"


def run_power(scores: Mapping[str, Mapping[int, str | os.PathLike]],
              realised: Mapping[str, str | os.PathLike], design: Mapping,
              planted: str | os.PathLike | None = None, *, out_skill: str | os.PathLike,
              out_summary: str | os.PathLike, out_figure: str | os.PathLike,
              out_table: str | os.PathLike | None = None,
              anchor_ledgers: Mapping[str, str | os.PathLike] | None = None) -> pd.DataFrame:
    """sweep_power's job, on fit_surrogate's inputs (`scores` {model: {seed: scores.tsv}}
    with "base", `realised`, `anchor_ledgers`) and `design` (the config's design block,
    defaulted; `design.power`: multipliers, replicates, seed): the surrogate's skill by sweep
    size (`out_skill`), and in the demo (`planted`) the planted check's power (`out_table`);
    the summary and the figure of both. Returns the skill table."""
    from cptmix.analyze.figures import power_chart
    from cptmix.analyze.planted import read_planted
    from cptmix.analyze.surrogate import METRICS, mixture_means
    from cptmix.analyze.sweep import (
        anchor_shares,
        planted_sweep_check,
        recovery_counts,
        runs_for,
        sweep_runs,
        sweep_shares_table,
    )
    from cptmix.design.sweep import sweep_spec
    from cptmix.io import write_text, write_tsv

    settings, objective = design["power"], design["objective"]
    reps, seed = int(settings["replicates"]), int(settings["seed"])
    block = design["sweep"]  # validated with the config; its sources are the config's
    spec = sweep_spec({"design": {"sweep": block}, "sources": dict.fromkeys(block["sources"])})
    shares = sweep_shares_table(realised)[list(spec.sources)]
    anchors = anchor_shares(anchor_ledgers or {}, list(spec.sources))
    measured_design = pd.concat([shares, anchors])
    designs = prospective_designs(spec, anchors, settings["multipliers"])
    planted_df = read_planted(planted) if planted is not None else None
    models = [m for m in scores if m != "base"]
    skill_rng = np.random.default_rng([seed, 1])  # its own stream: the planted draws use seed
    skills, tables, summaries, measured = [], [], [], {}
    n_seeds = 0
    for metric in METRICS:
        runs = runs_for(scores, models, metric)
        n_seeds = int(runs["seed"].nunique())
        runs, names = skill_targets(runs, objective if metric == objective["metric"] else None)
        means = mixture_means(runs[["mixture", "seed", *names]])
        means = means.loc[list(measured_design.index), names]
        skills.append(surrogate_skill(means, measured_design, designs, reps, skill_rng,
                                      metric, n_measured=spec.n))
        if planted_df is not None:
            diffs = sweep_runs(scores, metric)
            measured[metric] = recovery_counts(
                planted_sweep_check(planted_df, diffs, measured_design))["recovered"]
            table, summary = power_table(planted_df, diffs, measured_design, designs, reps,
                                         seed, metric, n_measured=spec.n)
            tables.append(table)
            summaries.append(summary)
    skill = pd.concat(skills, ignore_index=True)
    write_tsv(out_skill, skill, float_format="%.4f")
    text = ["# Power by sweep size (simulations calibrated on the measured sweep)", "",
            (f"Measured design: {len(shares)} sweep mixtures + {len(anchors)} anchors, "
             f"{n_seeds} seed(s) per run; prospective designs: design.sweep.method "
             f"({spec.method}) at {', '.join(str(n) for n in sorted(designs))} sweep mixtures, "
             f"{reps} draws each (design.power)."), "",
            skill_markdown(skill, len(measured_design), len(spec.sources))]
    summary = None
    if planted_df is not None:
        table = pd.concat(tables, ignore_index=True)
        summary = pd.concat(summaries, ignore_index=True)
        write_tsv(out_table, table, float_format="%.4f")
        text.append(summary_markdown(summary, table, measured, n_seeds, len(measured_design),
                                     len(spec.sources)))
    write_text(out_summary, "\n".join(text))
    power_chart(summary, measured, skill, out_figure)
    return skill
