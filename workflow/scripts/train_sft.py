"""Snakemake script: supervised fine-tuning of one model (base or CPT), with the rule's
backend."""
from cptmix.io import log_to
from cptmix.train import run_sft

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
run_sft(sm.params.backend, model=sm.input.model, data=sm.input.data, out=sm.output[0],
        hp=sm.params.hp, seed=sm.params.seed, threads=sm.threads, job_file=sm.params.job,
        log_file=sm.log[0])
