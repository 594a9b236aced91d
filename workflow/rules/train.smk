# Training stage: the base model, CPT on each mixture, SFT of base and of every CPT model.
# Backends (train.backend, train.sft.backend overrides it for SFT): `hf` trains in the job's
# own process; `megatron` starts torchrun (srun + rendezvous on several Slurm nodes) on the
# megatron-core entry point; `nemo` (SFT only) runs NeMo's llm.finetune in envs/nemo.yaml.
# Every backend writes the same HF (safetensors) directory, which evaluation reads.

if PRETRAIN_BASE:

    # Pre-train the demo's tiny Llama base model from scratch (stands in for llm-jp-3-13b).
    rule pretrain_base:
        input:
            tokenizer=tokenizer_dir(),
            corpus=source_files(PRETRAIN_SOURCES),
        output:
            directory("results/models/cpt/base"),
        params:
            code=CODE["pretrain_base"],  # what the script can run (reruns on change)
            sources={s: config["sources"][s] for s in PRETRAIN_SOURCES},
            # required by the schema when base_model has no path
            arch=config["base_model"]["architecture"],
            hp=config["base_model"]["train"],
            seed=STUDY.seed,
        log:
            "results/logs/pretrain_base/base.log",
        benchmark:
            "results/benchmarks/pretrain_base/base.tsv"
        threads: threads_for("train")
        resources:
            mem_mb=4000,
            runtime=120,
        conda:
            "../../envs/train.yaml"
        script:
            "../scripts/pretrain_base.py"


# Continual pre-training of the base model on one mixture, once per replicate seed.
rule train_cpt:
    input:
        unpack(cpt_data),
        model=base_model_dir(),
    output:
        directory("results/models/cpt/{mixture}/seed-{seed}"),
    params:
        code=CODE["train_cpt"],  # what the script can run (reruns on change)
        hp=cpt_hp,  # train.cpt; proxy runs: design.proxy.train + realised epochs
        recorded=recorded_cpt,  # what hp derives from, recorded (reruns on change)
        backend=CPT_BACKEND,
        seed=replicate_seed,
        job="results/logs/train_cpt/{mixture}/seed-{seed}.job.json",
    log:
        "results/logs/train_cpt/{mixture}/seed-{seed}.log",
    benchmark:
        "results/benchmarks/train_cpt/{mixture}/seed-{seed}.tsv"
    threads: threads_for("train")
    priority: cpt_priority
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        TRAIN_ENVS[CPT_BACKEND]
    script:
        "../scripts/train_cpt.py"


# SFT with identical settings for the base model ("before") and each CPT model ("after"),
# once per replicate seed: difference s = (CPT+SFT, seed s) - (base+SFT, seed s).
rule train_sft:
    input:
        model=cpt_model_dir,
        data=sft_data(),
    output:
        directory("results/models/sft/{model}/seed-{seed}"),
    params:
        code=CODE["train_sft"],  # what the script can run (reruns on change)
        hp=config["train"]["sft"],
        backend=SFT_BACKEND,
        seed=replicate_seed,
        job="results/logs/train_sft/{model}/seed-{seed}.job.json",
    log:
        "results/logs/train_sft/{model}/seed-{seed}.log",
    benchmark:
        "results/benchmarks/train_sft/{model}/seed-{seed}.tsv"
    threads: threads_for("train")
    priority: reference_priority
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        TRAIN_ENVS[SFT_BACKEND]
    script:
        "../scripts/train_sft.py"
