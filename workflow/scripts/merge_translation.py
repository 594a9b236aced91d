"""Snakemake script: concatenate translated shards into one source (see cptmix.prepare)."""
from cptmix.io import log_to
from cptmix.prepare.translate import merge_shards

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
merge_shards(sm.input.shards, sm.input.provenances, sm.output.source, sm.output.provenance)
