"""Snakemake script: power by sweep size (simulations calibrated on the measured sweep): the
surrogate's held-out skill, and in the demo the planted check's recovered count.

Reads by name, as fit_surrogate does: params.score_files ({model: {seed: scores.tsv}}, base +
the sweep + the anchors), params.realised ({sweep mixture: realised.json}),
params.anchor_ledgers ({anchor: ledger.tsv}), params.design (the config's design block,
defaulted: design.power); in the demo input.planted."""
from cptmix.analyze.power import run_power
from cptmix.analyze.sweep import declared_score_files
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
scores = declared_score_files("sweep_power", sm.params.score_files, sm.params.anchor_ledgers,
                              sm.input.scores, sm.input.ledgers)
table = getattr(sm.output, "table", None)
run_power(scores, dict(sm.params.realised), sm.params.design,
          sm.input.planted if table else None, out_skill=sm.output.skill,
          out_summary=sm.output.summary, out_figure=sm.output.figure, out_table=table,
          anchor_ledgers=dict(sm.params.anchor_ledgers))
