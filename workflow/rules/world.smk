# The embedded demo: a synthetic bilingual medical world (sources, JMedBench-shaped
# evaluation sets, the raw inputs of the build rules and the effects planted by design).
# Only when config has `world`. pmc_ja_mt and parallel_abstracts are built (prepare.smk).
WORLD_SOURCES = ["general", "ja_base", "en_base", "pmc_en", "textbooks"]


if WORLD:

    # Generate the whole world deterministically from config["world"].
    rule generate_world:
        output:
            sources=expand("results/world/sources/{name}.jsonl", name=WORLD_SOURCES),
            jmedbench=directory("results/world/jmedbench"),
            abstract_pairs="results/world/parallel/abstract_pairs.jsonl",
            sft_sources=directory("results/world/sft_sources"),
            planted=report(
                "results/world/planted_effects.tsv",
                category="1. Demo world",
                caption="../report/planted.rst",
            ),
            world="results/world/world.json",
        params:
            code=CODE["generate_world"],  # what the script can run (reruns on change)
            world=config["world"],
        log:
            "results/logs/generate_world/world.log",
        benchmark:
            "results/benchmarks/generate_world/world.tsv"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        conda:
            "../../envs/corpus.yaml"
        script:
            "../scripts/generate_world.py"
