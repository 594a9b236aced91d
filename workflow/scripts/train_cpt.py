"""Snakemake script: continual pre-training on one mixture."""
from cptmix.io import log_to
from cptmix.train import continual_pretrain

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
if sm.params.backend != "hf":
    raise NotImplementedError(f"train.backend {sm.params.backend!r}: only 'hf' is built so far")
continual_pretrain(sm.input.model, [sm.input.corpus], sm.output[0], sm.params.hp,
                   seed=sm.params.seed, threads=sm.threads)
