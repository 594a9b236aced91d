"""The analysis figures (PNG and SVG): heatmaps, forest plots, averages, composition.

Part of the analysis stage (after evaluation):

- score_differences_heatmap: tasks x mixtures score differences (appendix E), hatched where
  a difference does not clear the noise floor (seed x item test p >= 0.05);
- noise_floor_chart: per task |score difference| of every mixture against the task's minimum
  detectable difference;
- partial_correlations_heatmap: tasks x statistics partial r;
- forest_plot: per statistic, task-wise partial r with jackknife intervals, coloured by
  category, marked by the exact permutation p (paper figs. 3-6);
- correlation_heatmap: mutual correlations among the statistics and among the tasks' score
  differences (appendix F, figs. F.1 and F.2);
- averages_chart: table 1 as a grouped bar chart;
- composition_chart: Japanese / English / parallel tokens per mixture (paper fig. 2);
- proposal_chart: a designed sweep's measured objective per mixture (anchors, sweep runs) with
  the proposed mixture's measured value and its predicted interval.

Figures are drawn with matplotlib's object-oriented API on the Agg canvas (no pyplot, so no
global figure state and no display backend), under the default style (so a user's matplotlibrc
cannot change the output), and saved with fixed dpi, without the PNG "Software" and SVG "Date"
metadata and with a fixed SVG hash salt (the ids of clip paths and glyphs): the same tables give
byte-identical PNG and SVG files. Every `path` names the PNG; the SVG is written beside it.

Place in `cptmix.analyze`: above `columns` only; `run` draws the figures.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib import style as mpl_style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import EngFormatter
from matplotlib.transforms import blended_transform_factory

from cptmix.analyze.columns import CATEGORIES, STATISTICS, language_key
from cptmix.io import write_bytes as atomic_write_bytes

DPI = 120
_DIVERGING = "RdBu_r"  # red = CPT helped / positive r, blue = hurt / negative r
# Fixed: matplotlib otherwise salts SVG ids with a random value per process.
_SVG_RC = {"svg.hashsalt": "cptmix-analysis", "svg.fonttype": "path"}
CATEGORY_COLOURS = {"MCQA": "#1f77b4", "MT": "#ff7f0e", "NER": "#2ca02c", "DC": "#d62728",
                    "STS": "#9467bd"}
OTHER_COLOUR = "#7f7f7f"
SIGNIFICANCE = 0.05  # filled forest-plot markers: exact permutation p below this


def _png_bytes(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _svg_bytes(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    with rc_context(_SVG_RC):
        fig.savefig(buf, format="svg", dpi=DPI, metadata={"Date": None})
    return buf.getvalue()


def _save(fig: Figure, path: str | os.PathLike) -> None:
    """`path` (PNG) and the same name with .svg."""
    path = Path(path)
    atomic_write_bytes(path, _png_bytes(fig))
    atomic_write_bytes(path.with_suffix(".svg"), _svg_bytes(fig))


def _task_labels(diffs: pd.DataFrame) -> list[str]:
    tasks = diffs.drop_duplicates("task")
    return [f"{t} [{language_key(lang).capitalize()}/{cat}]"
            for t, lang, cat in zip(tasks["task"], tasks["language"], tasks["category"],
                                    strict=True)]


def _signed(value: float, digits: int) -> str:
    # A value that rounds to zero is shown unsigned: "-0.000" would suggest a direction.
    text = f"{value:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def _text_colour(value: float, norm: Normalize) -> str:
    # White text on the saturated ends of the colormap, black elsewhere, for legibility.
    return "white" if abs(norm(value) - 0.5) > 0.35 else "black"


def _heatmap(ax, values: np.ndarray, norm: Normalize, fmt, nan_text: str):
    cmap = matplotlib.colormaps[_DIVERGING].with_extremes(bad="#d0d0d0")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto",
                      interpolation="nearest")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            if np.isfinite(v):
                ax.text(j, i, fmt(i, j, v), ha="center", va="center", fontsize=7,
                        color=_text_colour(v, norm))
            else:
                ax.text(j, i, nan_text, ha="center", va="center", fontsize=7, color="#505050")
    return image


def score_differences_heatmap(diffs: pd.DataFrame, path: str | os.PathLike) -> None:
    """Tasks x mixtures heatmap of score differences, colour scale symmetric around 0."""
    wide = diffs.pivot(index="task", columns="mixture", values="score_diff")
    tasks = list(dict.fromkeys(diffs["task"]))
    mixtures = list(dict.fromkeys(diffs["mixture"]))
    values = wide.loc[tasks, mixtures].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    vmax = float(np.max(np.abs(finite))) if finite.size and np.any(finite != 0) else 1.0
    norm = Normalize(vmin=-vmax, vmax=vmax)
    with mpl_style.context("default"):
        fig = Figure(figsize=(2.8 + 1.1 * len(mixtures), 1.4 + 0.3 * len(tasks)))
        ax = fig.add_subplot()
        image = _heatmap(ax, values, norm, lambda i, j, v: _signed(v, 3), "n/a")
        title = "Score difference per task (CPT+SFT − base+SFT)"
        if "clears_noise_floor" in diffs.columns:
            clears = diffs.pivot(index="task", columns="mixture", values="clears_noise_floor")
            clears = clears.loc[tasks, mixtures].to_numpy()
            # Differences that do not clear the noise floor are veiled and hatched: their
            # colour would otherwise read as an effect.
            for i, j in zip(*np.nonzero(clears == "no"), strict=True):
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=(1, 1, 1, 0.55),
                                       edgecolor="#909090", hatch="///", linewidth=0))
            n_yes = int((clears == "yes").sum())
            title += (f"\nhatched: p ≥ 0.05 (within the noise floor); {n_yes} of "
                      f"{clears.size} clear it")
        ax.set_xticks(range(len(mixtures)), mixtures, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(tasks)), _task_labels(diffs), fontsize=7)
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.6).set_label("score difference", fontsize=8)
        fig.tight_layout()
        _save(fig, path)


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def partial_correlations_heatmap(partial: pd.DataFrame, diffs: pd.DataFrame,
                                 path: str | os.PathLike) -> None:
    """Tasks x statistics heatmap of partial r; undefined (NaN) cells grey and marked."""
    tasks = list(dict.fromkeys(diffs["task"]))
    stats = [s for s in STATISTICS if s in set(partial["statistic"])]
    r = partial.pivot(index="task", columns="statistic", values="r").loc[tasks, stats]
    p = partial.pivot(index="task", columns="statistic", values="p").loc[tasks, stats]
    values, pvals = r.to_numpy(dtype=float), p.to_numpy(dtype=float)
    n_nan = int(np.sum(~np.isfinite(values)))
    with mpl_style.context("default"):
        fig = Figure(figsize=(3.0 + 0.95 * len(stats), 1.8 + 0.3 * len(tasks)))
        ax = fig.add_subplot()
        image = _heatmap(ax, values, Normalize(-1.0, 1.0),
                         lambda i, j, v: _signed(v, 2) + _stars(pvals[i, j]), "×")
        ax.set_xticks(range(len(stats)), stats, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(tasks)), _task_labels(diffs), fontsize=7)
        ax.set_title("Partial correlation of score difference with each statistic", fontsize=9)
        ax.set_xlabel(f"× / grey: undefined (collinear or too few points), {n_nan} cells; "
                      "stars: p with df = n−2−k", fontsize=7)
        fig.colorbar(image, ax=ax, shrink=0.6).set_label("partial r", fontsize=8)
        fig.tight_layout()
        _save(fig, path)


def averages_chart(averages: pd.DataFrame, path: str | os.PathLike) -> None:
    """Table 1 as a grouped bar chart: mean Japanese / English CPT+SFT score per mixture.

    The before-CPT model is drawn as dashed reference lines rather than bars, because the
    question the chart answers is how far each mixture moves the score from it. A study that
    gave only score differences (no base/CPT scores) gets the mean differences instead.
    """
    base = averages[averages["mixture"] == "base"]
    mix = averages[averages["mixture"] != "base"]
    has_scores = bool(np.isfinite(mix[["ja_score", "en_score"]].to_numpy(dtype=float)).any())
    cols = ("ja_score", "en_score") if has_scores else ("ja_diff", "en_diff")
    names = mix["mixture"].tolist()
    x = np.arange(len(names))
    width = 0.38
    colours = dict(zip(cols, ("#c0392b", "#2c6fbb"), strict=True))
    labels = dict(zip(cols, ("Japanese tasks", "English tasks"), strict=True))
    with mpl_style.context("default"):
        fig = Figure(figsize=(4.0 + 1.2 * max(len(names), 1), 4.2))
        ax = fig.add_subplot()
        shown = []
        for offset, col in zip((-width / 2, width / 2), cols, strict=True):
            vals = mix[col].to_numpy(dtype=float)
            bars = ax.bar(x + offset, np.nan_to_num(vals), width, color=colours[col],
                          label=labels[col])
            fmt = (lambda v: f"{v:.3f}") if has_scores else (lambda v: _signed(v, 3))
            ax.bar_label(bars, labels=[fmt(v) if np.isfinite(v) else "n/a" for v in vals],
                         fontsize=7, padding=2)
            shown.extend(vals[np.isfinite(vals)])
            if has_scores and len(base) and np.isfinite(base[col].iloc[0]):
                ref = float(base[col].iloc[0])
                ax.axhline(ref, color=colours[col], linestyle="--", linewidth=1,
                           label=f"{labels[col]}, base ({ref:.3f})")
                shown.append(ref)
        if has_scores and shown:
            # Zoom on the data (the bars are labelled, so the cut axis cannot mislead).
            lo, hi = min(shown), max(shown)
            pad = max(0.15 * (hi - lo), 0.01)
            # Scores >= 0 keep 0 as the floor; continuous values may be negative.
            floor = max(0.0, lo - 3 * pad) if lo >= 0 else lo - 3 * pad
            ax.set_ylim(floor, hi + 2 * pad)
        elif shown:
            ax.axhline(0.0, color="black", linewidth=0.8)
            lim = max(abs(min(shown)), abs(max(shown)), 0.01) * 1.3
            ax.set_ylim(-lim, lim)
        ax.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("average score (CPT+SFT)" if has_scores
                      else "average score difference (CPT+SFT − base+SFT)", fontsize=8)
        ax.set_title("Average JMedBench score per mixture (table 1)" if has_scores
                     else "Average score difference per mixture (table 1)", fontsize=9)
        # Outside the axes: inside, it would cover the tallest bars whatever the data.
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        _save(fig, path)


def _category_colour(category: str) -> str:
    return CATEGORY_COLOURS.get(str(category).upper(), OTHER_COLOUR)


def forest_plot(partial: pd.DataFrame, diffs: pd.DataFrame, statistic: str,
                path: str | os.PathLike) -> None:
    """Task-wise partial r with `statistic` (paper figs. 3-6), strongest positive first.

    Whiskers: jackknife 95 % interval; colour: task category; filled marker: exact
    permutation p < 0.05; label: r (p_perm) with the paper's stars, computed from p_perm.
    Undefined correlations are listed at the bottom with their reason.
    """
    tasks = diffs.drop_duplicates("task").set_index("task")
    sub = partial[partial["statistic"] == statistic].set_index("task")
    sub = sub.loc[[t for t in tasks.index if t in sub.index]]
    r = sub["r"].to_numpy(dtype=float)
    defined = np.isfinite(r)
    # Stable sort on -r keeps the task order among ties: deterministic layout.
    order = [*sub.index[defined][np.argsort(-r[defined], kind="stable")],
             *sub.index[~defined]]
    n = len(order)
    covs = str(sub["covariates"].iloc[0]) if n else ""
    with mpl_style.context("default"):
        fig = Figure(figsize=(9.0, 1.6 + 0.27 * max(n, 1)))
        ax = fig.add_subplot()
        ax.axvline(0.0, color="#606060", linewidth=0.8)
        right = blended_transform_factory(ax.transAxes, ax.transData)
        for pos, task in enumerate(order):
            y = n - 1 - pos
            row = sub.loc[task]
            colour = _category_colour(tasks.loc[task, "category"])
            if not np.isfinite(row["r"]):
                reason = str(row["note"]).split(":")[0] or "undefined"
                ax.text(0.0, y, f"undefined ({reason})", ha="center", va="center",
                        fontsize=6.5, color="#707070")
                continue
            if np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"]):
                ax.plot([row["ci_low"], row["ci_high"]], [y, y], color=colour, alpha=0.45,
                        linewidth=1.2, solid_capstyle="butt")
            significant = np.isfinite(row["p_perm"]) and row["p_perm"] < SIGNIFICANCE
            ax.plot([row["r"]], [y], marker="o", markersize=6, color=colour,
                    markerfacecolor=colour if significant else "white", markeredgewidth=1.3)
            ax.text(1.01, y, f"{_signed(row['r'], 3)} ({row['p_perm']:.3f})"
                    f"{_stars(row['p_perm'])}", transform=right, fontsize=6.5, va="center")
        labels = [f"{t}: {tasks.loc[t, 'category']} "
                  f"[{language_key(tasks.loc[t, 'language']).capitalize()}]" for t in order]
        ax.set_yticks(range(n - 1, -1, -1), labels, fontsize=7)
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlim(-1.08, 1.08)
        ax.set_xlabel("partial r (whisker: jackknife 95 % interval; label: r (exact "
                      "permutation p))", fontsize=8)
        n_sig = int((sub["p_perm"] < SIGNIFICANCE).sum())
        n_q = int((sub["q_bh"] < SIGNIFICANCE).sum())
        ax.set_title(f"Partial correlation with {statistic} (covariates: "
                     f"{covs.replace(',', ', ') or 'none'})\n{n_sig} of {n} tasks with "
                     f"p_perm < 0.05, {n_q} with BH q < 0.05 over all tests", fontsize=9)
        cats = set(tasks["category"].astype(str).str.upper())
        present = [c for c in CATEGORIES if c in cats] + sorted(cats - set(CATEGORIES))
        handles = [Line2D([], [], marker="o", linestyle="", color=_category_colour(c), label=c)
                   for c in present]
        handles += [Line2D([], [], marker="o", linestyle="", color="black", label="p_perm < .05"),
                    Line2D([], [], marker="o", linestyle="", color="black",
                           markerfacecolor="white", label="p_perm ≥ .05")]
        ax.legend(handles=handles, fontsize=6.5, loc="upper left", bbox_to_anchor=(1.23, 1.0))
        fig.tight_layout()
        _save(fig, path)


def correlation_heatmap(matrix: pd.DataFrame, path: str | os.PathLike, title: str,
                        annotate: bool | None = None) -> None:
    """A symmetric correlation matrix (appendix F); NaN (a constant variable) grey and "×".

    Cells are annotated with r when the matrix is small enough to read (<= 15 rows), unless
    `annotate` says otherwise.
    """
    values = matrix.to_numpy(dtype=float)
    labels = [str(c) for c in matrix.columns]
    k = len(labels)
    annotate = k <= 15 if annotate is None else annotate
    with mpl_style.context("default"):
        side = 2.5 + (0.55 if annotate else 0.32) * k
        fig = Figure(figsize=(side + 1.2, side))
        ax = fig.add_subplot()
        if annotate:
            image = _heatmap(ax, values, Normalize(-1.0, 1.0), lambda i, j, v: _signed(v, 2),
                             "×")
        else:
            cmap = matplotlib.colormaps[_DIVERGING].with_extremes(bad="#d0d0d0")
            image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap,
                              norm=Normalize(-1.0, 1.0), interpolation="nearest")
        fontsize = 8 if k <= 15 else 6
        ax.set_xticks(range(k), labels, rotation=60, ha="right", fontsize=fontsize)
        ax.set_yticks(range(k), labels, fontsize=fontsize)
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.6).set_label("Pearson r across mixtures",
                                                         fontsize=8)
        fig.tight_layout()
        _save(fig, path)


def composition_chart(composition: pd.DataFrame, path: str | os.PathLike) -> None:
    """Stacked Japanese / English / parallel token counts per mixture (paper fig. 2).

    `composition` is indexed by mixture in display order (as `check_composition` returns it);
    segments are labelled with their ratio, bars with the total token count.
    """
    names = [str(m) for m in composition.index]
    x = np.arange(len(names))
    parts = (("ja_tokens", "ja_ratio", "Japanese", "#c0392b"),
             ("en_tokens", "en_ratio", "English", "#2c6fbb"),
             ("parallel_tokens", "parallel_ratio", "parallel", "#8e44ad"))
    totals = composition["total_tokens"].to_numpy(dtype=float)
    stacked = composition[[c for c, *_ in parts]].to_numpy(dtype=float).sum(axis=1)
    # Normally total = ja + en + parallel; the larger of the two keeps both on the axes when a
    # study's table breaks the identity (e.g. rounded or partly counted statistics).
    top = max(float(np.max(totals, initial=0.0)), float(np.max(stacked, initial=0.0)), 1.0)
    fmt = EngFormatter(places=1, sep=" ")
    with mpl_style.context("default"):
        fig = Figure(figsize=(3.5 + 1.1 * max(len(names), 1), 4.4))
        ax = fig.add_subplot()
        bottom = np.zeros(len(names))
        for count_col, ratio_col, label, colour in parts:
            vals = composition[count_col].to_numpy(dtype=float)
            ax.bar(x, vals, 0.6, bottom=bottom, color=colour, label=label)
            for xi, b, v, ratio in zip(x, bottom, vals, composition[ratio_col], strict=True):
                if v >= 0.06 * top:  # too thin a segment cannot hold a label
                    ax.text(xi, b + v / 2, f"{100 * ratio:.1f} %", ha="center", va="center",
                            fontsize=7, color="white")
            bottom = bottom + vals
        for xi, total in zip(x, totals, strict=True):
            ax.text(xi, total + 0.01 * top, fmt(total), ha="center", va="bottom", fontsize=7)
        ax.yaxis.set_major_formatter(fmt)
        ax.set_ylim(0, top * 1.1)
        ax.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("tokens (study tokenizer)", fontsize=8)
        ax.set_title("Corpus composition per mixture (labels: token ratio)", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        _save(fig, path)


def noise_floor_chart(diffs: pd.DataFrame, floors: pd.DataFrame, path: str | os.PathLike,
                      scope: str) -> None:
    """Per task: |score difference| of each mixture (dots; filled: p < 0.05) against the
    task's minimum detectable difference (bar), on one axis per task row."""
    tasks = floors["task"].tolist()
    mixtures = list(dict.fromkeys(diffs["mixture"]))
    colours = matplotlib.colormaps["tab10"]
    d = diffs.set_index(["task", "mixture"])
    with mpl_style.context("default"):
        fig = Figure(figsize=(8.5, 1.6 + 0.27 * max(len(tasks), 1)))
        ax = fig.add_subplot()
        n = len(tasks)
        mdd = floors["mdd"].to_numpy(dtype=float)
        ax.barh(np.arange(n)[::-1], np.nan_to_num(mdd), 0.7, color="#e0e0e0",
                edgecolor="#a0a0a0", label="minimum detectable difference (power 0.8)")
        for k, m in enumerate(mixtures):
            vals = np.array([abs(d.loc[(t, m), "score_diff"]) for t in tasks], dtype=float)
            sig = np.array([d.loc[(t, m), "clears_noise_floor"] == "yes" for t in tasks])
            colour = colours(k % 10)
            ys = np.arange(n)[::-1] + (k - (len(mixtures) - 1) / 2) * 0.08
            ax.plot(vals[sig], ys[sig], "o", color=colour, markersize=4, label=m)
            ax.plot(vals[~sig], ys[~sig], "o", color=colour, markersize=4,
                    markerfacecolor="white")
        labels = [f"{t} [{language_key(lang).capitalize()}/{cat}]" for t, lang, cat in
                  zip(floors["task"], floors["language"], floors["category"], strict=True)]
        ax.set_yticks(np.arange(n)[::-1], labels, fontsize=7)
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlabel("|score difference| (CPT+SFT − base+SFT); filled: p < 0.05 (seed x item "
                      "test)", fontsize=8)
        ax.set_title(f"Score differences against the noise floor ({scope})", fontsize=9)
        ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        _save(fig, path)


def proposal_chart(measured: pd.DataFrame, predicted: float, interval: tuple[float, float],
                   path: str | os.PathLike, objective: str,
                   reseeded: pd.DataFrame | None = None) -> None:
    """Every measured mixture's objective, highest first: mean ± se over seeds (`measured`:
    index = mixture, columns mean, se, kind = "anchor" | "sweep" | "proposed"), and for the
    proposed mixture its prediction with the surrogate's interval beside the measurement (an
    interval bound that is NaN, e.g. no claim, is left out; a NaN prediction is not drawn).
    `reseeded` (design.verify.seeds; index = mixture, columns mean, se): the proposal's and
    the reference anchor's means over independent CPT runs, hollow, below their rows."""
    order = measured.sort_values("mean", ascending=True, kind="stable")
    y = np.arange(len(order))
    colours = {"anchor": "#2c6fbb", "sweep": OTHER_COLOUR, "proposed": "#c0392b"}
    with mpl_style.context("default"):
        fig = Figure(figsize=(6.4, 1.6 + 0.22 * max(len(order), 1)))
        ax = fig.add_subplot()
        for kind, colour in colours.items():
            rows = order["kind"].to_numpy() == kind
            ax.errorbar(order["mean"][rows], y[rows], xerr=order["se"][rows], fmt="o",
                        color=colour, ms=4 if kind != "proposed" else 6, capsize=2,
                        label={"anchor": "anchor (declared mixture)", "sweep": "sweep run",
                               "proposed": "proposed: measured"}[kind])
        where = np.flatnonzero(order["kind"].to_numpy() == "proposed")
        if len(where) and np.isfinite(predicted):
            yp = float(y[where[0]]) + 0.3
            lo, hi = (b if np.isfinite(b) else predicted for b in interval)
            ax.errorbar([predicted], [yp], xerr=[[predicted - lo], [hi - predicted]], fmt="D",
                        color="#e67e22", ms=4, capsize=3, label="proposed: predicted, interval")
        if reseeded is not None and len(reseeded):
            rows = [m for m in reseeded.index if m in order.index]
            at = {m: float(y[order.index.get_loc(m)]) - 0.3 for m in rows}
            ax.errorbar(reseeded.loc[rows, "mean"], [at[m] for m in rows],
                        xerr=reseeded.loc[rows, "se"], fmt="o", mfc="white", color="#7d3c98",
                        ms=5, capsize=2, label="over independent CPT runs (verify.seeds)")
        ax.set_yticks(y, [str(m) for m in order.index], fontsize=7)
        ax.set_xlabel(f"objective ({objective}), mean ± se over seeds", fontsize=8)
        ax.set_title("The proposal among the measured mixtures", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        _save(fig, path)


_POWER_COLOURS = {"continuous": "#2c6fbb", "score": "#c0392b"}


def _band(ax, x, mean, lo, hi, colour: str, label: str, style: str = "o-") -> None:
    ax.plot(x, mean, style, color=colour, ms=4, label=label)
    ax.fill_between(x, lo, hi, color=colour, alpha=0.15, lw=0)


def power_chart(summary: pd.DataFrame | None, measured: Mapping[str, int],
                skill: pd.DataFrame, path: str | os.PathLike) -> None:
    """Power by sweep size (`cptmix.analyze.power`): the linear surrogate's simulated LOO
    Spearman per metric and language average (mean, 10th-90th percentile band; crosses: as
    measured; dotted: the 0.8 goal), and in the demo (`summary`, the planted check's) the
    planted effects recovered (the same bands; crosses: the measured count; dashed: the
    number of non-zero planted effects)."""
    panels = 2 if summary is not None else 1
    with mpl_style.context("default"):
        fig = Figure(figsize=(5.2 * panels, 3.8))
        axes = [fig.add_subplot(1, panels, k + 1) for k in range(panels)]
        ax = axes[0]
        styles = {"ja_average": "o-", "en_average": "s--"}
        for (metric, target), rows in skill.groupby(["metric", "target"], sort=False):
            colour = _POWER_COLOURS.get(str(metric), OTHER_COLOUR)
            rows = rows.sort_values("n_sweep")
            _band(ax, rows["n_sweep"], rows["loo_spearman_mean"], rows["loo_spearman_p10"],
                  rows["loo_spearman_p90"], colour, f"{target} ({metric})",
                  styles.get(str(target), "o-"))
            at = rows[rows["multiplier"] == 1]  # the measured size, when it is simulated
            if len(at) and np.isfinite(at["measured_loo_spearman"].iloc[0]):
                ax.plot([at["n_sweep"].iloc[0]], [at["measured_loo_spearman"].iloc[0]], "x",
                        color=colour, ms=7, mew=2)
        if skill.empty:
            ax.text(0.5, 0.5, "too few measured design points (power.md)", ha="center",
                    va="center", transform=ax.transAxes, fontsize=8)
        ax.axhline(0.8, color="0.4", lw=0.8, ls=":")
        ax.set_ylabel("linear surrogate: LOO Spearman", fontsize=8)
        ax.set_title("Surrogate skill (x: measured)", fontsize=9)
        if summary is not None:
            ax = axes[1]
            for metric, rows in summary.groupby("metric", sort=False):
                colour = _POWER_COLOURS.get(str(metric), OTHER_COLOUR)
                rows = rows.sort_values("n_sweep")
                _band(ax, rows["n_sweep"], rows["recovered_mean"], rows["recovered_p10"],
                      rows["recovered_p90"], colour, f"{metric}: simulated")
                at = rows[rows["multiplier"] == 1]  # the measured size
                if metric in measured and len(at):
                    ax.plot([at["n_sweep"].iloc[0]], [measured[metric]], "x", color=colour,
                            ms=8, mew=2, label=f"{metric}: measured")
            if len(summary):
                ax.axhline(float(summary["nonzero"].max()), color="0.4", lw=0.8, ls="--",
                           label="non-zero planted effects")
            else:
                ax.text(0.5, 0.5, "too few measured design points (power.md)", ha="center",
                        va="center", transform=ax.transAxes, fontsize=8)
            ax.set_ylabel("planted effects recovered (right sign, BH q < 0.05)", fontsize=8)
            ax.set_title("Planted-effect check (demo)", fontsize=9)
        for ax in axes:
            ax.set_xlabel("sweep mixtures (plus the anchors)", fontsize=8)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="lower right")
        fig.suptitle("Power by sweep size (bands: 10th-90th percentile of the draws)",
                     fontsize=9)
        fig.tight_layout()
        _save(fig, path)
