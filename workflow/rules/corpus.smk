# Corpus stage: tokenizer, per-source token counts, mixtures, compositional statistics,
# blend weights and ledgers; for the megatron backend also indexed sources and index caches.

if TRAIN_TOKENIZER:

    # Train the demo's byte-level BPE tokenizer on all sources.
    rule train_tokenizer:
        input:
            sources=source_files(SOURCES),
        output:
            directory("results/tokenizer"),
        params:
            code=CODE["train_tokenizer"],  # what the script can run (reruns on change)
            vocab_size=config["tokenizer"]["train"]["vocab_size"],
            sources=config["sources"],
        log:
            "results/logs/train_tokenizer/tokenizer.log",
        benchmark:
            "results/benchmarks/train_tokenizer/tokenizer.tsv"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        conda:
            "../../envs/corpus.yaml"
        script:
            "../scripts/train_tokenizer.py"


# Count every document's tokens once per source shard (mixture statistics derive from these).
rule count_source:
    input:
        source=shard_files,
        tokenizer=tokenizer_dir(),
    output:
        counts="results/corpus/{source}/{shard}/counts.tsv",
        provenance="results/corpus/{source}/{shard}/counts.json",
    params:
        code=CODE["count_source"],  # what the script can run (reruns on change)
        entry=source_entry,
        strict=STUDY.corpus.strict,  # empty documents: an error, else skipped and counted
    log:
        "results/logs/count_source/{source}/{shard}.log",
    benchmark:
        "results/benchmarks/count_source/{source}/{shard}.tsv"
    threads: threads_for("corpus")  # per source shard; --cores caps it
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/corpus.yaml"
    script:
        "../scripts/count_source.py"


# A designed mixture's token shares (a sweep point, or the surrogate's proposal) made
# trainable from its sources' counts: nested subsample fractions and the epochs over them
# that give design.sweep.token_budget tokens; fails when a share needs more than
# max_repetitions passes over its source (before anything trains).
rule realise_mixture:
    input:
        unpack(mixture_counts),
        unpack(design_shares_input),
    output:
        REALISED,
    params:
        code=CODE["realise_mixture"],  # what the script can run (reruns on change)
        shares=design_shares,  # sweep-NN: from the config; proposed: None (input.proposal)
        budget=SWEEP_SPEC.token_budget if SWEEP_SPEC else None,
        max_repetitions=SWEEP_SPEC.max_repetitions if SWEEP_SPEC else None,
        counts_sources=SWEEP_SPEC.sources if SWEEP_SPEC else [],  # input names of the counts
    log:
        "results/logs/realise_mixture/{mixture}.log",
    benchmark:
        "results/benchmarks/realise_mixture/{mixture}.tsv"
    threads: 1
    priority: CHECK_PRIORITY  # every mixture's checks before any training job
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/corpus.yaml"
    group:
        mixture_group  # one Slurm job per designed mixture (profiles/slurm)
    script:
        "../scripts/realise_mixture.py"


# A mixture's composition (the seven statistics), derived from its sources' counts alone.
rule mixture_stats:
    input:
        unpack(mixture_counts),
        unpack(realised_input),
        count_provenance=mixture_count_provenance,
    output:
        "results/corpus/mixtures/{mixture}/stats.json",
    params:
        code=CODE["mixture_stats"],  # what the script can run (reruns on change)
        fractions=mixture_fractions,
        recorded=recorded_fractions,  # what fractions derive from, recorded (reruns on change)
    log:
        "results/logs/mixture_stats/{mixture}.log",
    benchmark:
        "results/benchmarks/mixture_stats/{mixture}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/corpus.yaml"
    group:
        mixture_group  # one Slurm job per designed mixture (profiles/slurm)
    script:
        "../scripts/mixture_stats.py"


# Write the documents a mixture selects (hf backend: what CPT trains on; megatron blends the
# indexed sources instead and never needs it).
rule build_mixture:
    input:
        unpack(mixture_counts),
        unpack(realised_input),
        sources=mixture_source_files,
    output:
        "results/corpus/mixtures/{mixture}/corpus.jsonl",
    params:
        code=CODE["build_mixture"],  # what the script can run (reruns on change)
        fractions=mixture_fractions,
        sources=config["sources"],
        recorded=recorded_mixture,  # what fractions derive from, recorded (reruns on change)
    log:
        "results/logs/build_mixture/{mixture}.log",
    benchmark:
        "results/benchmarks/build_mixture/{mixture}.tsv"
    threads: 1
    priority: cpt_priority  # as urgent as the CPT run it feeds (else it waits behind them all)
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/corpus.yaml"
    group:
        mixture_group  # one Slurm job per designed mixture (profiles/slurm)
    script:
        "../scripts/build_mixture.py"


# Table C.1: the seven compositional statistics of every mixture, and the design check (how
# the mixtures relate; warns when an `extends` mixture is not a superset).
rule composition:
    input:
        stats=list(mixture_stats_files().values()),
    output:
        table=report(
            "results/corpus/composition.tsv",
            category="2. Corpora",
            caption="../report/composition.rst",
        ),
        design="results/corpus/design.txt",
    params:
        code=CODE["composition"],  # what the script can run (reruns on change)
        mixtures=DECLARED,  # design.txt relates the declared (additive) mixtures
        stats=mixture_stats_files(),  # mixture -> stats.json: the input, looked up by name
        parents=STUDY.parents,  # mixture -> the mixture it extends (None), as resolved
    log:
        "results/logs/composition/composition.log",
    benchmark:
        "results/benchmarks/composition/composition.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/corpus.yaml"
    script:
        "../scripts/composition.py"


# Blend weights derived from the counts, and the token ledger of a budget (fails on too many
# repetitions); megatron samples from whole sources, the hf backend trains the subset.
rule ledger:
    input:
        unpack(mixture_counts),
        unpack(realised_input),
    output:
        blend="results/corpus/mixtures/{mixture}/blend.json",
        ledger="results/corpus/mixtures/{mixture}/ledger.tsv",
    params:
        code=CODE["ledger"],  # what the script can run (reruns on change)
        fractions=mixture_fractions,
        budget=mixture_budget,  # design.sweep (hf: realised epochs), corpus.token_budget or epochs
        recorded=recorded_mixture,  # what fractions and budget derive from (reruns on change)
        max_repetitions=mixture_max_repetitions,
        pool="source" if MEGATRON else "subset",
    log:
        "results/logs/ledger/{mixture}.log",
    benchmark:
        "results/benchmarks/ledger/{mixture}.tsv"
    threads: 1
    priority: CHECK_PRIORITY  # a budget that is not feasible fails before any training job
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/corpus.yaml"
    group:
        mixture_group  # one Slurm job per designed mixture (profiles/slurm)
    script:
        "../scripts/ledger.py"


if MEGATRON:

    # Tokenise one source shard, in full and once, into megatron-core's .bin/.idx format.
    rule index_source:
        input:
            source=shard_files,
            tokenizer=tokenizer_dir(),
        output:
            bin="results/corpus/{source}/{shard}/tokens.bin",
            idx="results/corpus/{source}/{shard}/tokens.idx",
            provenance="results/corpus/{source}/{shard}/provenance.json",
        params:
            code=CODE["index_source"],  # what the script can run (reruns on change)
            entry=source_entry,
            strict=STUDY.corpus.strict,  # empty documents: an error, else skipped
        log:
            "results/logs/index_source/{source}/{shard}.log",
        benchmark:
            "results/benchmarks/index_source/{source}/{shard}.tsv"
        threads: threads_for("corpus")  # per source shard; --cores caps it
        resources:
            mem_mb=4000,
            runtime=600,
        conda:
            "../../envs/megatron_data.yaml"
        script:
            "../scripts/index_source.py"

    # Megatron's sample/shuffle index cache of one mixture, built on CPU so GPUs never wait.
    rule build_index_cache:
        input:
            indexed=mixture_indexed,
            blend="results/corpus/mixtures/{mixture}/blend.json",
            ledger="results/corpus/mixtures/{mixture}/ledger.tsv",
            tokenizer=tokenizer_dir(),
        output:
            directory("results/corpus/mixtures/{mixture}/megatron_cache"),
        params:
            code=CODE["build_index_cache"],  # what the script can run (reruns on change)
            seed=STUDY.seed,
            sequence_length=MEGATRON_SEQUENCE_LENGTH,
        log:
            "results/logs/build_index_cache/{mixture}.log",
        benchmark:
            "results/benchmarks/build_index_cache/{mixture}.tsv"
        threads: 1
        priority: cpt_priority  # as urgent as the CPT run it feeds
        resources:
            mem_mb=8000,
            runtime=120,
        conda:
            "../../envs/megatron_data.yaml"
        script:
            "../scripts/build_index_cache.py"
