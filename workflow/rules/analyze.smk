# Analysis stage: score differences, averages, (partial) correlations, figures.


# Everything of the paper's section 4 from the evaluation TSVs and Table C.1.
rule analyze:
    input:
        composition="results/corpus/composition.tsv",
        base="results/eval/base/scores.tsv",
        mixtures=expand("results/eval/{mixture}/scores.tsv", mixture=MIXTURES),
    output:
        diffs=report(
            "results/analysis/score_differences.tsv",
            category="4. Analysis",
            caption="../report/diffs.rst",
        ),
        averages=report(
            "results/analysis/averages.tsv",
            category="4. Analysis",
            caption="../report/averages.rst",
        ),
        correlations="results/analysis/correlations.tsv",
        partial=report(
            "results/analysis/partial_correlations.tsv",
            category="4. Analysis",
            caption="../report/partial.rst",
        ),
        figures=report(
            directory("results/analysis/figures"),
            patterns=["{name}.png"],
            category="5. Figures",
            caption="../report/figures.rst",
        ),
    params:
        mixtures=list(MIXTURES),
        covariates=config.get("analysis", {}).get("covariates"),
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
