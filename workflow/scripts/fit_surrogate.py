"""Snakemake script: surrogates on the designed sweep (held-out checks) and the proposal.

Reads by name: params.score_files ({model: {seed: scores.tsv}}, base + the sweep: the files
input.scores declares), params.realised ({sweep mixture: realised.json}),
params.anchor_ledgers ({anchor: ledger.tsv}: the anchors trained at the sweep's budget, design
points too), params.design (the config's design block, defaulted); in the demo input.planted
(the planted-effect check on the design)."""
from cptmix.analyze.sweep import declared_score_files, run_design_analysis
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
scores = declared_score_files("fit_surrogate", sm.params.score_files, sm.params.anchor_ledgers,
                              sm.input.scores, sm.input.ledgers)
planted = getattr(sm.output, "planted", None)
run_design_analysis(scores, dict(sm.params.realised), sm.params.design,
                    out_cv=sm.output.cv, out_choice=sm.output.chosen, out_runs=sm.output.runs,
                    out_proposal=sm.output.proposal, out_summary=sm.output.summary,
                    planted=sm.input.planted if planted else None, out_planted=planted,
                    anchor_ledgers=dict(sm.params.anchor_ledgers), n_jobs=sm.threads)
