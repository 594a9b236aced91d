# Evaluation stage: every SFT model on the selected JMedBench tasks.


# Score one SFT model (one replicate seed) on all tasks: the JMedBench metric (MCQA/DC by
# option log-likelihood, MT BLEU, NER F1, STS r) and the continuous metric beside it, plus
# every item's values (items.tsv) for the paired tests over items and seeds.
rule evaluate_model:
    input:
        model="results/models/sft/{model}/seed-{seed}",
        data=eval_data_dir(),
    output:
        scores=report(
            "results/eval/{model}/seed-{seed}/scores.tsv",
            category="3. Evaluation",
            subcategory="{model}",
            labels={"model": "{model}", "seed": "{seed}"},
            caption="../report/scores.rst",
        ),
        item_scores="results/eval/{model}/seed-{seed}/items.tsv",
        provenance="results/eval/{model}/seed-{seed}/scores.provenance.json",
        predictions=directory("results/eval/{model}/seed-{seed}/predictions"),
    params:
        code=CODE["evaluate_model"],  # what the script can run (reruns on change)
        tasks=TASKS,
        batch_size=STUDY.evaluate.batch_size,
        max_new_tokens=STUDY.evaluate.max_new_tokens,
        scoring=STUDY.evaluate.scoring,
        option_metric=STUDY.evaluate.option_metric,
    log:
        "results/logs/evaluate_model/{model}/seed-{seed}.log",
    benchmark:
        "results/benchmarks/evaluate_model/{model}/seed-{seed}.tsv"
    threads: threads_for("evaluate")
    priority: reference_priority
    resources:
        mem_mb=4000,
        runtime=60,
    # On a cluster the evaluations run several to a job (profiles/slurm: group-components):
    # group `eval` for every model but the proposed mixture, whose evaluations wait for the
    # surrogate fitted on the others' (a job holding both would wait for itself).
    group:
        eval_group
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../scripts/evaluate_model.py"


if MT_SOURCE:

    # Paper appendix B: BLEU (ja-mecab) of the MT engine behind the translated PMC subcorpus.
    rule score_mt_source:
        input:
            hypotheses=MT_SOURCE.hypotheses,
            references=mt_source_references(),
        output:
            report(
                "results/eval/mt_source_quality.json",
                category="3. Evaluation",
                caption="../report/mt_source.rst",
            ),
        params:
            code=CODE["score_mt_source"],  # what the script can run (reruns on change)
            references=MT_SOURCE.references,
            comet_model=MT_SOURCE.comet_model,  # None: no COMET (optional, no default)
        log:
            "results/logs/score_mt_source/mt_source.log",
        benchmark:
            "results/benchmarks/score_mt_source/mt_source.tsv"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        conda:
            "../../envs/evaluate.yaml"
        script:
            "../scripts/score_mt_source.py"
