# Analysis stage, once per metric (results/analysis/{metric}/: `score` = the JMedBench metric,
# the paper's headline; `continuous` = gold-option z-score / per-byte log-likelihood): score
# differences paired by seed, noise floors, the additive design's contrasts, (partial)
# correlations with seed-aware uncertainty, prediction, planted-effect check (demo only),
# figures and provenance.

# The demo world plants effects by design; checking them needs its table (real corpora: none).
PLANTED_EFFECTS = "results/world/planted_effects.tsv" if WORLD else []
PLANTED_CHECK = (
    {
        "planted_check": report(
            "results/analysis/{metric}/planted_effects_check.tsv",
            category="1. Demo world",
            subcategory="{metric}",
            caption="../report/planted_check.rst",
        )
    }
    if WORLD
    else {}
)


# Everything of the paper's section 4 from every model's and seed's evaluation and Table C.1.
rule analyze:
    input:
        composition="results/corpus/composition.tsv",
        scores=eval_files("scores.tsv"),
        item_scores=eval_files("items.tsv"),
        planted=PLANTED_EFFECTS,
    output:
        diffs=analysis_report("score_differences.tsv", "diffs"),
        per_seed=analysis_report("score_differences_per_seed.tsv", "diffs_per_seed"),
        wide=analysis_report("score_differences_wide.tsv", "diffs_wide"),
        noise=analysis_report("noise_floors.tsv", "noise_floors"),
        contrasts=analysis_report("contrasts.tsv", "contrasts"),
        averages=analysis_report("averages.tsv", "averages"),
        correlations=analysis_report("correlations.tsv", "correlations"),
        partial=analysis_report("partial_correlations.tsv", "partial"),
        prediction=analysis_report("prediction.tsv", "prediction"),
        summary=analysis_report("summary.md", "summary"),
        provenance=analysis_report("provenance.tsv", "provenance", "6. Provenance"),
        provenance_json="results/analysis/{metric}/provenance.json",
        figures=report(
            directory("results/analysis/{metric}/figures"),
            patterns=["{name}.png"],
            category="5. Figures",
            subcategory="{metric}",
            labels={"figure": "{name}"},
            caption="../report/figures.rst",
        ),
        **PLANTED_CHECK,
    params:
        code=CODE["analyze"],  # what the script can run (reruns on change)
        # {model: {seed: path}} of the files `input` declares (the same function): the script
        # looks each model's and seed's files up by name
        score_files=eval_paths("scores.tsv"),
        item_files=eval_paths("items.tsv"),
        metric="{metric}",
        mixture_sources=DECLARED,  # the additive design (contrasts, planted check)
        designed=DESIGNED,  # sweep and proposed: analysed, outside the additive design
        covariates=STUDY.analysis.covariates,
        replicate_scope=SCOPE,
        noise_floor=STUDY.analysis.noise_floor,
        config=config,
    log:
        "results/logs/analyze/{metric}.log",
    benchmark:
        "results/benchmarks/analyze/{metric}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analyze.yaml"
    script:
        "../scripts/analyze.py"


if SWEEP_SPEC:

    # Surrogates on the sweep (issue 13): per target (each task, the Japanese and English
    # averages) the candidates' K-fold and leave-one-mixture-out checks against predicting
    # the mean, the model chosen per target, and the mixture the chosen surrogate proposes
    # for design.objective (within the bounds and the repetition caps).
    rule fit_surrogate:
        input:
            unpack(sweep_inputs),
            planted=PLANTED_EFFECTS,
        output:
            cv=report(
                "results/analysis/design/surrogate_cv.tsv",
                category="7. Design",
                caption="../report/surrogate_cv.rst",
            ),
            chosen="results/analysis/design/surrogates.tsv",
            runs="results/analysis/design/runs.tsv",
            proposal=PROPOSAL,
            summary="results/analysis/design/surrogate.md",
            **(
                {"planted": "results/analysis/design/planted_sweep_check.tsv"}
                if WORLD
                else {}
            ),
        params:
            code=CODE["fit_surrogate"],  # what the script can run (reruns on change)
            score_files=sweep_eval_paths("scores.tsv"),  # {model: {seed: path}}, by name
            realised={m: REALISED.format(mixture=m) for m in SWEEP},
            anchor_ledgers=anchor_ledgers(),  # anchors at the sweep's budget: design points
            design=config["design"],
        log:
            "results/logs/fit_surrogate/design.log",
        benchmark:
            "results/benchmarks/fit_surrogate/design.tsv"
        # It runs alone (after every sweep run, before the proposal): its held-out checks
        # share the cores out by target.
        threads: threads_for("surrogate")
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            "../../envs/analyze.yaml"
        script:
            "../scripts/fit_surrogate.py"


if SWEEP_SPEC:

    # Power by sweep size (design.power): the linear surrogate's held-out skill, and in the
    # demo the planted check's recovered count, at 1-4 x design.sweep.n mixtures, simulated
    # from the linear mixture model fitted on the measured sweep with its residual noise.
    rule sweep_power:
        input:
            unpack(sweep_inputs),
            planted=PLANTED_EFFECTS,
        output:
            skill="results/analysis/design/surrogate_power.tsv",
            summary="results/analysis/design/power.md",
            figure=report(
                "results/analysis/design/power.png",
                category="7. Design",
                caption="../report/power_figure.rst",
            ),
            **({"table": "results/analysis/design/power.tsv"} if WORLD else {}),
        params:
            code=CODE["sweep_power"],  # what the script can run (reruns on change)
            score_files=sweep_eval_paths("scores.tsv"),  # {model: {seed: path}}, by name
            realised={m: REALISED.format(mixture=m) for m in SWEEP},
            anchor_ledgers=anchor_ledgers(),
            design=config["design"],
        log:
            "results/logs/sweep_power/design.log",
        benchmark:
            "results/benchmarks/sweep_power/design.tsv"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            "../../envs/analyze.yaml"
        script:
            "../scripts/sweep_power.py"


if VERIFY_SEEDS:

    # design.verify.seeds: which anchor the proposal is verified against (the best by the
    # objective over the replicate seeds), known once the anchors are evaluated; a checkpoint,
    # so that the workflow then trains that anchor (and the proposal) at the verification seeds.
    checkpoint choose_reference:
        input:
            scores=[p for per in anchor_eval_paths("scores.tsv").values() for p in per.values()],
            item_scores=[p for per in anchor_eval_paths("items.tsv").values()
                         for p in per.values()],
        output:
            REFERENCE,
        params:
            code=CODE["choose_reference"],  # what the script can run (reruns on change)
            score_files=anchor_eval_paths("scores.tsv"),
            item_files=anchor_eval_paths("items.tsv"),
            anchors=list(DECLARED),
            objective=config["design"]["objective"]["targets"],
            metric=config["design"]["objective"]["metric"],
        log:
            "results/logs/choose_reference/design.log",
        benchmark:
            "results/benchmarks/choose_reference/design.tsv"
        threads: 1
        priority: CHECK_PRIORITY  # seconds of work that the anchor's reseeded runs wait for
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            "../../envs/analyze.yaml"
        script:
            "../scripts/choose_reference.py"


if PROPOSE:

    # The proposal, trained and evaluated like any mixture: predicted vs measured, and
    # whether it beats the best anchor by more than the noise floor (paired over seeds); with
    # design.verify.seeds also over independent CPT runs of both.
    rule verify_proposal:
        input:
            unpack(verify_inputs),
            proposal=PROPOSAL,
            realised=REALISED.format(mixture="proposed"),
            scores=eval_files("scores.tsv"),
            item_scores=eval_files("items.tsv"),
        output:
            table=report(
                "results/analysis/design/verification.tsv",
                category="7. Design",
                caption="../report/verification.rst",
            ),
            summary="results/analysis/design/verification.md",
            figure=report(
                "results/analysis/design/verification.png",
                category="7. Design",
                caption="../report/verification_figure.rst",
            ),
            figure_svg="results/analysis/design/verification.svg",
        params:
            code=CODE["verify_proposal"],  # what the script can run (reruns on change)
            score_files=eval_paths("scores.tsv"),
            item_files=eval_paths("items.tsv"),
            anchors=list(DECLARED),
            design_points=list(SWEEP),  # the best sweep mixture: a second reference
            anchor_budget=STUDY.token_budget,
            proxy_budget=SWEEP_SPEC.token_budget,  # PROPOSE: a design block exists
            replicate_scope=SCOPE,  # which noise the seeds measure
            verify_units=VERIFY_UNITS,  # design.verify.seeds: independent CPT runs' seeds
            eval_dir=lambda wildcards: EVAL_DIR,  # a pattern: not expanded by Snakemake
        log:
            "results/logs/verify_proposal/design.log",
        benchmark:
            "results/benchmarks/verify_proposal/design.tsv"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            "../../envs/analyze.yaml"
        script:
            "../scripts/verify_proposal.py"
