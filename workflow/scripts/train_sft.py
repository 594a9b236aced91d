"""Snakemake script: supervised fine-tuning of one model (base or CPT)."""
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
if sm.params.backend == "hf":
    from cptmix.train import supervised_finetune

    supervised_finetune(sm.input.model, sm.input.data, sm.output[0], sm.params.hp,
                        seed=sm.params.seed, threads=sm.threads)
elif sm.params.backend == "megatron":
    from cptmix.train.megatron.launch import run_job, sft_job

    run_job(sft_job(sm.input.model, sm.input.data, sm.output[0], sm.params.hp, sm.params.seed),
            sm.params.job, sm.log[0])
elif sm.params.backend == "nemo":
    from cptmix.train.nemo import run_nemo_sft

    # NeMo's imported base checkpoint, packed data and resumable checkpoints live beside the
    # output until the HF export is written
    run_nemo_sft(sm.input.model, sm.input.data, sm.output[0], sm.params.hp,
                 seed=sm.params.seed, work_dir=str(sm.output[0]) + ".nemo")
else:
    raise ValueError(f"train.sft.backend {sm.params.backend!r}: SFT runs with hf, megatron or "
                     f"nemo")
