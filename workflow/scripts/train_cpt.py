"""Snakemake script: continual pre-training on one mixture, with the rule's backend."""
from cptmix.io import log_to
from cptmix.train import run_cpt

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
# the mixture's training data, named after what it is by cpt_data (common.smk): the
# materialised corpus or megatron's index cache
data = sm.input.cache if hasattr(sm.input, "cache") else sm.input.corpus
run_cpt(sm.params.backend, model=sm.input.model, data=data, out=sm.output[0], hp=sm.params.hp,
        seed=sm.params.seed, threads=sm.threads, job_file=sm.params.job, log_file=sm.log[0])
