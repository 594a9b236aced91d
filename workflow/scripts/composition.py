"""Snakemake script: Table C.1 (composition.tsv) from every mixture's stats.json."""
from cptmix.corpus.mixture import write_composition
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
write_composition(dict(zip(sm.params.mixtures, sm.input)), sm.output[0])
