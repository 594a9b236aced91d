# Prepare stage: inputs the study constructs before the corpus stage reads them — machine-
# translated sources (sharded), interleaved parallel sources, the decontaminated SFT set.


# Translate shard {shard} of the input of translation {translation} (a GPU job with `hf`).
rule translate_shard:
    input:
        source=translation_input,
        model=translation_model,
    output:
        shard="results/prepare/translate/{translation}/shards/{shard}.jsonl",
        provenance="results/prepare/translate/{translation}/shards/{shard}.provenance.json",
    params:
        code=CODE["translate_shard"],  # what the script can run (reruns on change)
        spec=translation_spec,
        # the noisy engine is the demo world's translator; None (absent = real corpora) for hf
        world=STUDY.world,
    log:
        "results/logs/translate_shard/{translation}/{shard}.log",
    benchmark:
        "results/benchmarks/translate_shard/{translation}/{shard}.tsv"
    threads: threads_for("translate")
    resources:
        mem_mb=16000,
        runtime=240,
    conda:
        "../../envs/build.yaml"
    script:
        "../scripts/translate_shard.py"


# Concatenate the shards (in order) into the translated source the corpus stage reads.
rule merge_translation:
    input:
        shards=translation_shards,
        provenances=translation_shard_provenances,
    output:
        source="results/prepare/translate/{translation}.jsonl",
        provenance="results/prepare/translate/{translation}.provenance.json",
    params:
        code=CODE["merge_translation"],  # what the script can run (reruns on change)
    log:
        "results/logs/merge_translation/{translation}.log",
    benchmark:
        "results/benchmarks/merge_translation/{translation}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    conda:
        "../../envs/build.yaml"
    script:
        "../scripts/merge_translation.py"


# Interleave aligned English/Japanese documents paragraph by paragraph (appendix G).
rule build_parallel:
    input:
        unpack(parallel_inputs),
    output:
        "results/prepare/parallel/{parallel}.jsonl",
    params:
        code=CODE["build_parallel"],  # what the script can run (reruns on change)
        spec=parallel_spec,
    log:
        "results/logs/build_parallel/{parallel}.log",
    benchmark:
        "results/benchmarks/build_parallel/{parallel}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/build.yaml"
    script:
        "../scripts/build_parallel.py"


if SFT_BUILD:

    # The SFT set from the declared instruction sources, minus items overlapping evaluation.
    rule build_sft:
        input:
            sources=sft_source_paths(),
            eval_data=eval_data_dir(),
            tokenizer=tokenizer_dir(),
        output:
            sft="results/prepare/sft/train.jsonl",
            stats="results/prepare/sft/stats.tsv",
            contamination=report(
                "results/prepare/sft/contamination.tsv",
                category="2. Corpora",
                subcategory="SFT set: contamination check",
                caption="../report/contamination.rst",
            ),
            removed="results/prepare/sft/removed.jsonl",
        params:
            code=CODE["build_sft"],  # what the script can run (reruns on change)
            spec=config["sft"],  # defaulted; the script reads it through SftConfig
            tasks=TASKS,
        log:
            "results/logs/build_sft/sft.log",
        benchmark:
            "results/benchmarks/build_sft/sft.tsv"
        threads: 1
        resources:
            mem_mb=8000,
            runtime=60,
        conda:
            "../../envs/build.yaml"
        script:
            "../scripts/build_sft.py"
