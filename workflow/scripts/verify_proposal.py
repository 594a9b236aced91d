"""Snakemake script: the proposed mixture's measured objective vs its prediction and vs the
best anchor (the two-way seed x item test over the objective's items).

Reads by name: params.score_files / params.item_files ({model: {seed: path}}: the files
input.scores / input.item_scores declare), params.anchors (the declared mixtures),
params.anchor_budget (corpus.token_budget or train.cpt.epochs passes), params.proxy_budget
(design.sweep.token_budget), params.design_points (the sweep's mixtures: the best of them is a
second reference), params.replicate_scope (replicates.scope: which noise the seeds measure).
With design.verify.seeds (params.verify_units: the independent CPT runs' seeds,
params.eval_dir: the evaluation directory pattern): input.reference (choose_reference's
choice) and the evaluations of base, proposed and that anchor at those seeds, which
input.scores / input.verify_scores (and the items) declare."""
from cptmix.analyze.reference import reseeded_paths
from cptmix.analyze.sweep import run_verification
from cptmix.io import declared_paths, log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
reseeded = {}
if sm.params.verify_units:
    scores = [*sm.input.scores, *sm.input.verify_scores]
    items = [*sm.input.item_scores, *sm.input.verify_items]
    reseeded = {
        "reference_json": sm.input.reference,
        "reseeded_scores": declared_paths("verify_proposal", reseeded_paths(
            sm.input.reference, sm.params.eval_dir, sm.params.verify_units, "scores.tsv"), scores),
        "reseeded_items": declared_paths("verify_proposal", reseeded_paths(
            sm.input.reference, sm.params.eval_dir, sm.params.verify_units, "items.tsv"), items)}
run_verification(sm.input.proposal,
                 declared_paths("verify_proposal", sm.params.score_files, sm.input.scores),
                 declared_paths("verify_proposal", sm.params.item_files, sm.input.item_scores),
                 list(sm.params.anchors), out_table=sm.output.table,
                 out_summary=sm.output.summary, anchor_budget=sm.params.anchor_budget,
                 proxy_budget=sm.params.proxy_budget,
                 design_points=list(sm.params.design_points), out_figure=sm.output.figure,
                 replicate_scope=sm.params.replicate_scope, **reseeded)
