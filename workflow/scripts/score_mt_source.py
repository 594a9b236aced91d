"""Snakemake script: quality of the translation engine behind the translated PMC subcorpus."""
from cptmix.evaluate.translation_quality import mt_quality
from cptmix.io import log_to, write_json

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
write_json(sm.output[0], mt_quality(sm.input.hypotheses, sm.params.references,
                                    comet_model=sm.params.comet_model))
