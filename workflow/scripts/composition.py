"""Snakemake script: Table C.1 (composition.tsv) from every mixture's stats.json, and the
design check (how the mixtures relate) in design.txt and the log.

Reads by name: params.mixtures (the declared mixtures, resolved {mixture: {source: fraction}},
which design.txt relates), params.stats ({mixture: stats.json} of every mixture, designed ones
included: the files input.stats declares) and params.parents ({mixture: the mixture it
extends, or None})."""
from cptmix.corpus.mixture import write_composition, write_design
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
mixtures = {m: dict(f) for m, f in sm.params.mixtures.items()}
stats = dict(sm.params.stats)
undeclared = set(stats.values()) - set(sm.input.stats)
if undeclared:
    raise ValueError(f"composition: params.stats names undeclared inputs {sorted(undeclared)}")
write_design(mixtures, dict(sm.params.parents), sm.output.design)
write_composition(stats, sm.output.table)
