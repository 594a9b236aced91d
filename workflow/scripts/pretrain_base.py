"""Snakemake script: pre-train the demo base model from scratch."""
from cptmix.io import log_to
from cptmix.train import pretrain_base

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
pretrain_base(sm.params.arch, sm.input.tokenizer, list(sm.input.corpus), sm.output[0],
              sm.params.hp, seed=sm.params.seed, threads=sm.threads)
