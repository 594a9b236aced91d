"""Snakemake script: supervised fine-tuning of one model (base or CPT)."""
from cptmix.io import log_to
from cptmix.train import supervised_finetune

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
if sm.params.backend != "hf":
    raise NotImplementedError(f"train.backend {sm.params.backend!r}: only 'hf' is built so far")
supervised_finetune(sm.input.model, sm.input.data, sm.output[0], sm.params.hp,
                    seed=sm.params.seed, threads=sm.threads)
