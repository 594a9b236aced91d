"""Snakemake script: interleave aligned En/Ja documents (see cptmix.prepare.parallel)."""
import logging

from cptmix.io import log_to
from cptmix.prepare.parallel import build_parallel

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
spec = sm.params.spec
counts = build_parallel(sm.output[0], seed=int(spec.get("seed", 0)), pairs=sm.input.get("pairs"),
                        en=sm.input.get("en"), ja=sm.input.get("ja"),
                        ja_id_suffix=spec.get("ja_id_suffix", ""))
logging.getLogger("build_parallel").info("built %s", counts)
