"""Snakemake script: a designed mixture's shares -> subsample fractions and epochs."""
from cptmix.corpus.realise import write_realised
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
proposal = sm.input.proposal if hasattr(sm.input, "proposal") else None
counts = {s: sm.input[s] for s in sm.params.counts_sources}
write_realised(sm.wildcards.mixture, sm.output[0], counts=counts, budget=sm.params.budget,
               max_repetitions=sm.params.max_repetitions, shares=sm.params.shares,
               proposal=proposal)
