"""Snakemake script (checkpoint, design.verify.seeds): the anchor the proposal is verified
against, chosen from the anchors' evaluations at the replicate seeds as verify_proposal
chooses its best anchor; the workflow then trains it at the verification seeds.

Reads by name: params.score_files / params.item_files ({model: {seed: path}} of base and the
anchors: the files input.scores / input.item_scores declare), params.anchors (the declared
mixtures), params.objective (design.objective.targets), params.metric (design.objective.metric)."""
from cptmix.analyze.sweep import choose_reference
from cptmix.io import declared_paths, log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
choose_reference(declared_paths("choose_reference", sm.params.score_files, sm.input.scores),
                 declared_paths("choose_reference", sm.params.item_files, sm.input.item_scores),
                 list(sm.params.anchors), dict(sm.params.objective), sm.params.metric,
                 sm.output[0])
