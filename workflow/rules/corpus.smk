# Corpus stage: tokenizer, per-source token counts, mixtures, compositional statistics.


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
