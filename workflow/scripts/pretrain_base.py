"""Snakemake script: pre-train the demo base model from scratch."""
from cptmix.corpus.sources import Source
from cptmix.io import log_to
from cptmix.train import pretrain_base

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
sources = [Source.from_config(name, entry) for name, entry in sm.params.sources.items()]
pretrain_base(sm.params.arch, sm.input.tokenizer, sources, sm.output[0],
              sm.params.hp, seed=sm.params.seed, threads=sm.threads)
