"""Snakemake script: a mixture's compositional statistics, derived from per-shard counts."""
from cptmix.corpus.mixture import write_stats
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
fractions = dict(sm.params.fractions)
counts = {s: sm.input[s] for s in fractions}  # each: the source's per-shard TSVs
write_stats(sm.wildcards.mixture, fractions, counts, sm.output[0])
