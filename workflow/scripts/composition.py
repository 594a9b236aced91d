"""Snakemake script: Table C.1 (composition.tsv) from every mixture's stats.json, and the
design check (how the mixtures relate) in design.txt and the log."""
from cptmix.corpus.mixture import write_composition, write_design
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
mixtures = {m: dict(f) for m, f in sm.params.mixtures.items()}
write_design(mixtures, dict(sm.params.parents), sm.output.design)
write_composition(dict(zip(mixtures, sm.input, strict=True)), sm.output.table)
