"""Snakemake script: write the documents one mixture selects (corpus.jsonl)."""
from cptmix.corpus.mixture import materialise_mixture
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
fractions = dict(sm.params.fractions)
counts = {s: sm.input[s] for s in fractions}  # each: the source's per-shard TSVs
materialise_mixture(sm.wildcards.mixture, fractions, sm.params.sources, counts, sm.output[0])
