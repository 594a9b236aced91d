"""Snakemake script: the demo's planted check by sweep size (a power simulation calibrated on
the measured sweep).

Reads by name, as fit_surrogate does: params.score_files ({model: {seed: scores.tsv}}, base +
the sweep + the anchors), params.realised ({sweep mixture: realised.json}),
params.anchor_ledgers ({anchor: ledger.tsv}), params.design (the config's design block,
defaulted: design.power), input.planted."""
from cptmix.analyze.power import run_power
from cptmix.analyze.sweep import declared_score_files
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
scores = declared_score_files("sweep_power", sm.params.score_files, sm.params.anchor_ledgers,
                              sm.input.scores, sm.input.ledgers)
run_power(scores, dict(sm.params.realised), sm.params.design, sm.input.planted,
          out_table=sm.output.table, out_summary=sm.output.summary, out_figure=sm.output.figure,
          anchor_ledgers=dict(sm.params.anchor_ledgers))
