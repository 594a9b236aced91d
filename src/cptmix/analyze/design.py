"""The additive design of the mixtures (paper section 3.3) and its contrasts (contrasts.tsv).

Part of the analysis stage (after evaluation). The mixtures are built additively: each
`extends` another and may only add sources or raise their fractions. That makes the resolved
design ({mixture: {source: fraction}}) a partial order: A >= B when every source fraction of A
is at least B's. A *covers* B when A > B and no other mixture lies strictly between them; the
covering pairs are the design's single steps (EnDominant -> EnJa-Plus adds half of the
translated PMC papers), and each step is a clean ablation: the two models differ only in what
A adds. Besides them the paper compares two mixtures that are not ordered, JaDominant vs
EnDominant (translated vs original PMC papers), so that pair is added when both exist.

Each contrast A vs B is tested per task on the per-item, per-seed differences CPT+SFT_A -
CPT+SFT_B with the seed x item test of `twoway` (BH q over the whole table).

Place in `cptmix.analyze`: above `replicates`, `twoway` and `inference` (BH q); below
`planted` and `run`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cptmix.analyze.inference import bh_qvalues
from cptmix.analyze.replicates import ReplicateData
from cptmix.analyze.twoway import ALPHA, contrast_tests, describe_test

# The paper's one comparison of two unordered mixtures (section 3.3).
PAPER_PAIRS = (("JaDominant", "EnDominant"),)
CONTRAST_COLUMNS = ("contrast", "kind", "added", "task", "category", "language", "estimate",
                    "se", "df", "p", "q_bh", "significant", "test")
FRACTION_TOL = 1e-12


@dataclass(frozen=True)
class Edge:
    """A vs B: `raised` = sources whose fraction A raises, {source: (fraction B, fraction A)}."""

    a: str
    b: str
    kind: str  # "covering" or "paper"
    raised: tuple[tuple[str, float, float], ...]
    lowered: tuple[tuple[str, float, float], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.a} vs {self.b}"

    def added_text(self) -> str:
        def fmt(items):
            return ", ".join(f"{s} {fb:g}→{fa:g}" for s, fb, fa in items)

        text = fmt(self.raised)
        if self.lowered:
            text += f"; lowered: {fmt(self.lowered)}"
        return text

    def raised_sources(self) -> set[str]:
        return {s for s, _, _ in self.raised}


def fractions(spec) -> dict[str, float]:
    """{source: fraction} of one mixture: a mapping, or a list of sources (fraction 1)."""
    if isinstance(spec, Mapping):
        out = {}
        for source, frac in spec.items():
            try:
                out[str(source)] = float(frac)
            except (TypeError, ValueError):
                raise ValueError(f"mixture_sources: fraction of {source!r} is not a number: "
                                 f"{frac!r}") from None
        return out
    return {str(s): 1.0 for s in spec}


def resolve_design(mixture_sources: Mapping[str, object] | None, mixtures: list[str]
                   ) -> dict[str, dict[str, float]] | None:
    """The analysed mixtures' fractions, in analysis order; None without a design."""
    if mixture_sources is None:
        return None
    absent = [m for m in mixtures if m not in mixture_sources]
    if absent:
        raise ValueError(f"mixture_sources: no sources for mixture(s) {', '.join(absent)} "
                         f"(given: {', '.join(map(str, mixture_sources))})")
    return {m: fractions(mixture_sources[m]) for m in mixtures}


def _geq(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return all(a.get(s, 0.0) >= f - FRACTION_TOL for s, f in b.items())


def _changes(a: Mapping[str, float], b: Mapping[str, float]):
    sources = list(dict.fromkeys([*b, *a]))
    raised = tuple((s, b.get(s, 0.0), a.get(s, 0.0)) for s in sources
                   if a.get(s, 0.0) > b.get(s, 0.0) + FRACTION_TOL)
    lowered = tuple((s, b.get(s, 0.0), a.get(s, 0.0)) for s in sources
                    if a.get(s, 0.0) < b.get(s, 0.0) - FRACTION_TOL)
    return raised, lowered


def covering_edges(design: Mapping[str, Mapping[str, float]]) -> list[Edge]:
    """Every covering pair (A covers B) of the design's partial order, A in design order.

    Order: by A's position, then B's, so the table follows the design's declaration order.
    """
    names = list(design)
    greater = {(a, b) for a in names for b in names
               if a != b and _geq(design[a], design[b]) and not _geq(design[b], design[a])}
    edges = []
    for a in names:
        for b in names:
            if (a, b) not in greater:
                continue
            if any((a, c) in greater and (c, b) in greater for c in names):
                continue  # something lies strictly between: not a single step
            raised, lowered = _changes(design[a], design[b])
            edges.append(Edge(a, b, "covering", raised, lowered))
    return edges


def design_edges(design: Mapping[str, Mapping[str, float]] | None, mixtures: list[str]
                 ) -> list[Edge]:
    """Covering edges plus the paper's pairs present among `mixtures` (not already edges)."""
    edges = covering_edges(design) if design is not None else []
    have = {(e.a, e.b) for e in edges} | {(e.b, e.a) for e in edges}
    for a, b in PAPER_PAIRS:
        if a in mixtures and b in mixtures and (a, b) not in have:
            raised, lowered = (_changes(design[a], design[b]) if design is not None
                               else ((), ()))
            edges.append(Edge(a, b, "paper", raised, lowered))
    return edges


def edge_weights(edges: list[Edge], models: list[str]) -> np.ndarray:
    """(E, M) weights: +1 on A, -1 on B."""
    w = np.zeros((len(edges), len(models)))
    for k, e in enumerate(edges):
        w[k, models.index(e.a)] += 1.0
        w[k, models.index(e.b)] -= 1.0
    return w


def contrasts_table(data: ReplicateData, edges: list[Edge]) -> pd.DataFrame:
    """contrasts.tsv: one row per edge x task (edge-major), BH q over the whole table."""
    rows = []
    if edges:
        w = edge_weights(edges, data.models)
        per_task = [contrast_tests(data, w, t) for t in range(len(data.tasks))]
        for k, e in enumerate(edges):
            for t, meta in enumerate(data.tasks.itertuples()):
                res = per_task[t]
                rows.append({"contrast": e.name, "kind": e.kind, "added": e.added_text(),
                             "task": meta.task, "category": meta.category,
                             "language": meta.language, "estimate": res["estimate"][k],
                             "se": res["se"][k], "df": res["df"][k], "p": res["p"][k],
                             "test": describe_test(data, t)})
    out = pd.DataFrame(rows, columns=[c for c in CONTRAST_COLUMNS
                                      if c not in ("q_bh", "significant")])
    out = out.astype({c: float for c in ("estimate", "se", "df", "p")})
    out.insert(out.columns.get_loc("p") + 1, "q_bh", bh_qvalues(out["p"].to_numpy(dtype=float)))
    out.insert(out.columns.get_loc("q_bh") + 1, "significant",
               np.where(out["p"] < ALPHA, "yes", "no"))
    return out[list(CONTRAST_COLUMNS)]
