# The embedded demo: a synthetic bilingual medical world (sources, JMedBench-shaped
# evaluation sets, an SFT set and the effects planted by design). Only when config has `world`.
WORLD_SOURCES = [*config.get("world", {}).get("docs", {}), "pmc_ja_mt"]


if WORLD:

    # Generate the whole world deterministically from config["world"].
    rule generate_world:
        output:
            sources=expand("results/world/sources/{name}.jsonl", name=WORLD_SOURCES),
            jmedbench=directory("results/world/jmedbench"),
            sft="results/world/sft/train.jsonl",
            planted=report(
                "results/world/planted_effects.tsv",
                category="1. Demo world",
                caption="../report/planted.rst",
            ),
            world="results/world/world.json",
            mt_source="results/world/mt_source/ejmmt_en2ja.jsonl",
        params:
            world=config.get("world"),
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
