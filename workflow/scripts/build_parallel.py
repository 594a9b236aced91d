"""Snakemake script: interleave aligned En/Ja documents (see cptmix.prepare.parallel)."""
import logging

from cptmix.config import ParallelSpec
from cptmix.io import log_to
from cptmix.prepare.parallel import build_parallel

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
spec = ParallelSpec.from_dict(sm.params.spec)
# input.pairs, or input.en + input.ja: the rule declares one form (None for the other)
counts = build_parallel(sm.output[0], seed=spec.seed, pairs=sm.input.get("pairs"),
                        en=sm.input.get("en"), ja=sm.input.get("ja"),
                        ja_id_suffix=spec.ja_id_suffix)
logging.getLogger("build_parallel").info("built %s", counts)
