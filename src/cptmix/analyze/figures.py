"""The analysis figures: score-difference heatmap, partial-correlation heatmap, average scores.

Part of the analysis stage (after evaluation). Figures are drawn with matplotlib's
object-oriented API on the Agg canvas (no pyplot, so no global figure state and no display
backend), under the default style (so a user's matplotlibrc cannot change the output), and
saved with fixed dpi and without the "Software" metadata (which carries the matplotlib version):
the same tables give byte-identical PNGs.
"""

from __future__ import annotations

import io
import os

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import style as mpl_style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from cptmix.analyze.stats import STATISTICS, language_key
from cptmix.analyze.tables import atomic_write_bytes

DPI = 120
_DIVERGING = "RdBu_r"  # red = CPT helped / positive r, blue = hurt / negative r


def _png_bytes(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _save(fig: Figure, path: str | os.PathLike) -> None:
    atomic_write_bytes(path, _png_bytes(fig))


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
        ax.set_xticks(range(len(mixtures)), mixtures, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(tasks)), _task_labels(diffs), fontsize=7)
        ax.set_title("Score difference per task (CPT+SFT − base+SFT)", fontsize=9)
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
    """Bar chart of the mean Japanese / English CPT+SFT score per mixture (table 1).

    The before-CPT model is drawn as dashed reference lines rather than bars, because the
    question the chart answers is how far each mixture moves the score from it.
    """
    base = averages[averages["mixture"] == "base"]
    mix = averages[averages["mixture"] != "base"]
    names = mix["mixture"].tolist()
    x = np.arange(len(names))
    width = 0.38
    colours = {"ja_score": "#c0392b", "en_score": "#2c6fbb"}
    labels = {"ja_score": "Japanese tasks", "en_score": "English tasks"}
    with mpl_style.context("default"):
        fig = Figure(figsize=(4.0 + 1.2 * max(len(names), 1), 4.2))
        ax = fig.add_subplot()
        shown = []
        for offset, col in ((-width / 2, "ja_score"), (width / 2, "en_score")):
            vals = mix[col].to_numpy(dtype=float)
            bars = ax.bar(x + offset, np.nan_to_num(vals), width, color=colours[col],
                          label=labels[col])
            ax.bar_label(bars, labels=[f"{v:.3f}" if np.isfinite(v) else "n/a" for v in vals],
                         fontsize=7, padding=2)
            shown.extend(vals[np.isfinite(vals)])
            if len(base) and np.isfinite(base[col].iloc[0]):
                ref = float(base[col].iloc[0])
                ax.axhline(ref, color=colours[col], linestyle="--", linewidth=1,
                           label=f"{labels[col]}, base ({ref:.3f})")
                shown.append(ref)
        if shown:
            # Zoom on the data (the bars are labelled, so the cut axis cannot mislead).
            lo, hi = min(shown), max(shown)
            pad = max(0.15 * (hi - lo), 0.01)
            ax.set_ylim(max(0.0, lo - 3 * pad), hi + 2 * pad)
        ax.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("average score (CPT+SFT)", fontsize=8)
        ax.set_title("Average JMedBench score per mixture", fontsize=9)
        # Outside the axes: inside, it would cover the tallest bars whatever the data.
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        _save(fig, path)
