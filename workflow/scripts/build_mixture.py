"""Snakemake script: materialise one mixture and compute its compositional statistics."""
from cptmix.corpus import build_mixture, read_counts
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
counts = {s: read_counts(sm.input[s]) for s in sm.params.fractions}
build_mixture(sm.wildcards.mixture, dict(sm.params.fractions), sm.params.sources, counts,
              sm.output.stats.rsplit("/", 1)[0])
