"""Snakemake script: concatenate translated shards into one source (see cptmix.build)."""
from cptmix.build.translate import merge_shards
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
merge_shards(sm.input.shards, sm.input.provenances, sm.output.source, sm.output.provenance)
