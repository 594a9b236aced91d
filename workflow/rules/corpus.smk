# Corpus stage: tokenizer, per-source token counts, mixtures, compositional statistics,
# blend weights and ledgers; for the megatron backend also indexed sources and index caches.

if TRAIN_TOKENIZER:

    # Train the demo's byte-level BPE tokenizer on all sources.
    rule train_tokenizer:
        input:
            sources=[config["sources"][s]["path"] for s in SOURCES],
        output:
            directory("results/tokenizer"),
        params:
            vocab_size=config["tokenizer"].get("train", {}).get("vocab_size"),
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


# Count every document's tokens once per source (mixture statistics derive from these).
rule count_source:
    input:
        source=source_path,
        tokenizer=tokenizer_dir(),
    output:
        "results/corpus/{source}/counts.tsv",
    params:
        lang=source_lang,
    log:
        "results/logs/count_source/{source}.log",
    benchmark:
        "results/benchmarks/count_source/{source}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/corpus.yaml"
    script:
        "../scripts/count_source.py"


# Select each source's documents at its fraction; write the corpus and its statistics.
rule build_mixture:
    input:
        unpack(mixture_counts),
        sources=mixture_source_files,
    output:
        corpus="results/corpus/mixtures/{mixture}/corpus.jsonl",
        stats="results/corpus/mixtures/{mixture}/stats.json",
    params:
        fractions=mixture_fractions,
        sources=config["sources"],
    log:
        "results/logs/build_mixture/{mixture}.log",
    benchmark:
        "results/benchmarks/build_mixture/{mixture}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/corpus.yaml"
    script:
        "../scripts/build_mixture.py"


# Table C.1: the seven compositional statistics of every mixture.
rule composition:
    input:
        expand("results/corpus/mixtures/{mixture}/stats.json", mixture=MIXTURES),
    output:
        report(
            "results/corpus/composition.tsv",
            category="2. Corpora",
            caption="../report/composition.rst",
        ),
    params:
        mixtures=list(MIXTURES),
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
    output:
        blend="results/corpus/mixtures/{mixture}/blend.json",
        ledger="results/corpus/mixtures/{mixture}/ledger.tsv",
    params:
        fractions=mixture_fractions,
        budget=CORPUS.get("token_budget", {"epochs": config["train"]["cpt"].get("epochs", 1)}),
        max_repetitions=CORPUS.get("max_repetitions"),
        pool="source" if MEGATRON else "subset",
    log:
        "results/logs/ledger/{mixture}.log",
    benchmark:
        "results/benchmarks/ledger/{mixture}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/corpus.yaml"
    script:
        "../scripts/ledger.py"


if MEGATRON:

    # Tokenise one source, in full and once, into megatron-core's .bin/.idx format.
    rule index_source:
        input:
            source=source_path,
            tokenizer=tokenizer_dir(),
        output:
            bin="results/corpus/{source}/tokens.bin",
            idx="results/corpus/{source}/tokens.idx",
            provenance="results/corpus/{source}/provenance.json",
        params:
            sources=config["sources"],
        log:
            "results/logs/index_source/{source}.log",
        benchmark:
            "results/benchmarks/index_source/{source}.tsv"
        threads: 8
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
            seed=config.get("seed", 1234),
            sequence_length=MEGATRON_SEQUENCE_LENGTH,
        log:
            "results/logs/build_index_cache/{mixture}.log",
        benchmark:
            "results/benchmarks/build_index_cache/{mixture}.tsv"
        threads: 1
        resources:
            mem_mb=8000,
            runtime=120,
        conda:
            "../../envs/megatron_data.yaml"
        script:
            "../scripts/build_index_cache.py"
