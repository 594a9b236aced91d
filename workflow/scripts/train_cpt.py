"""Snakemake script: continual pre-training on one mixture."""
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
if sm.params.backend == "hf":
    from cptmix.train import continual_pretrain

    continual_pretrain(sm.input.model, [sm.input.corpus], sm.output[0], sm.params.hp,
                       seed=sm.params.seed, threads=sm.threads)
elif sm.params.backend == "megatron":
    from cptmix.train.megatron.launch import cpt_job, run_job

    run_job(cpt_job(sm.input.model, sm.input.cache, sm.output[0], sm.params.hp, sm.params.seed),
            sm.params.job, sm.log[0])
else:
    raise ValueError(f"train.backend {sm.params.backend!r}: CPT runs with hf or megatron")
