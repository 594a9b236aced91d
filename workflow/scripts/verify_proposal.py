"""Snakemake script: the proposed mixture's measured objective vs its prediction and vs the
best anchor (the two-way seed x item test over the objective's items).

Reads by name: params.score_files / params.item_files ({model: {seed: path}}: the files
input.scores / input.item_scores declare), params.anchors (the declared mixtures),
params.anchor_budget (corpus.token_budget or train.cpt.epochs passes), params.proxy_budget
(design.sweep.token_budget), params.design_points (the sweep's mixtures: the best of them is a
second reference), params.replicate_scope (replicates.scope: which noise the seeds measure)."""
from cptmix.analyze.sweep import run_verification
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])


def by_name(paths, declared):
    out = {m: {int(s): p for s, p in per.items()} for m, per in paths.items()}
    missing = {p for per in out.values() for p in per.values()} - set(declared)
    if missing:
        raise ValueError(f"verify_proposal: params name undeclared inputs {sorted(missing)}")
    return out


run_verification(sm.input.proposal, by_name(sm.params.score_files, sm.input.scores),
                 by_name(sm.params.item_files, sm.input.item_scores), list(sm.params.anchors),
                 out_table=sm.output.table, out_summary=sm.output.summary,
                 anchor_budget=sm.params.anchor_budget, proxy_budget=sm.params.proxy_budget,
                 design_points=list(sm.params.design_points), out_figure=sm.output.figure,
                 replicate_scope=sm.params.replicate_scope)
