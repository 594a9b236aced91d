# Analysis stage: score differences, averages, (partial) correlations with the reviewer's
# statistics, prediction, planted-effect check (demo only), figures and provenance.

# The demo world plants effects by design; checking them needs its table (real corpora: none).
PLANTED_EFFECTS = "results/world/planted_effects.tsv" if WORLD else []
PLANTED_CHECK = (
    {
        "planted_check": report(
            "results/analysis/planted_effects_check.tsv",
            category="1. Demo world",
            caption="../report/planted_check.rst",
        )
    }
    if WORLD
    else {}
)


# Everything of the paper's section 4 from the evaluation TSVs and Table C.1.
rule analyze:
    input:
        composition="results/corpus/composition.tsv",
        base="results/eval/base/scores.tsv",
        mixtures=expand("results/eval/{mixture}/scores.tsv", mixture=MIXTURES),
        planted=PLANTED_EFFECTS,
    output:
        diffs=report(
            "results/analysis/score_differences.tsv",
            category="4. Analysis",
            caption="../report/diffs.rst",
        ),
        wide=report(
            "results/analysis/score_differences_wide.tsv",
            category="4. Analysis",
            caption="../report/diffs_wide.rst",
        ),
        averages=report(
            "results/analysis/averages.tsv",
            category="4. Analysis",
            caption="../report/averages.rst",
        ),
        correlations=report(
            "results/analysis/correlations.tsv",
            category="4. Analysis",
            caption="../report/correlations.rst",
        ),
        partial=report(
            "results/analysis/partial_correlations.tsv",
            category="4. Analysis",
            caption="../report/partial.rst",
        ),
        prediction=report(
            "results/analysis/prediction.tsv",
            category="4. Analysis",
            caption="../report/prediction.rst",
        ),
        summary=report(
            "results/analysis/summary.md",
            category="4. Analysis",
            caption="../report/summary.rst",
        ),
        provenance=report(
            "results/analysis/provenance.tsv",
            category="6. Provenance",
            caption="../report/provenance.rst",
        ),
        provenance_json="results/analysis/provenance.json",
        figures=report(
            directory("results/analysis/figures"),
            patterns=["{name}.png"],
            category="5. Figures",
            labels={"figure": "{name}"},
            caption="../report/figures.rst",
        ),
        **PLANTED_CHECK,
    params:
        mixtures=list(MIXTURES),
        mixture_sources=MIXTURES,
        covariates=config.get("analysis", {}).get("covariates"),
        config=config,
    log:
        "results/logs/analyze/analyze.log",
    benchmark:
        "results/benchmarks/analyze/analyze.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analyze.yaml"
    script:
        "../scripts/analyze.py"
