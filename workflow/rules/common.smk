# Config validation first, then the names and short input functions every rule file uses.
import os
import re
from pathlib import Path

from snakemake.utils import validate

from cptmix.analyze.candidates import check_models
from cptmix.config import (
    StudyConfig,
    check_config,
    check_config_files,
    config_files_label,
    cpt_seed,
    cpt_seeds,
    fill_defaults,
    missing_inputs,
    selected_tasks,
)
from cptmix.analyze.reference import reseeded_paths
from cptmix.code import code_hashes
from cptmix.corpus.ledger import ledger_tokens
from cptmix.corpus.realise import read_realised, trainable_fractions
from cptmix.corpus.sources import source_shards
from cptmix.design import (
    PROPOSED,
    check_design,
    designed_mixtures,
    proxy_budget,
    proxy_hp,
    sweep_shares,
    sweep_spec,
)
from cptmix.train.backends import BACKENDS, backend_env

# No surprise network: a missing local model is an error, not a download or a hang.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Snakemake reads each config file leniently (a repeated key: the last one silently wins), so
# every file it was given is read again strictly first. Then every config problem at once,
# named by the files and the config path; then the schema's defaults (the one source of
# defaults: rules and scripts read values, never restate them) and Snakemake's own
# validation (which would fill the same defaults).
check_config_files(workflow.configfiles)
CONFIG_WHERE = config_files_label(workflow.configfiles)  # e.g. config/config.yaml
SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
check_config(config, where=CONFIG_WHERE, schema=SCHEMA)
fill_defaults(config, SCHEMA)
validate(config, schema="../schemas/config.schema.yaml")
# The typed view (cptmix.config.StudyConfig): every value the rules read, defaults included.
STUDY = StudyConfig.from_dict(config)

# What each script can run: the script and the cptmix modules it can import (cptmix.code).
# Rules record their script's hash as the param `code`. Snakemake reruns a job whose
# script changed, not one whose library code changed, so an updated cptmix would leave
# results of the old code beside new ones. A change reruns the jobs that can run it only.
CODE = code_hashes(sorted((Path(workflow.basedir) / "workflow" / "scripts").glob("*.py")))


# Input paths are checked when the workflow really runs (not for `snakemake -n`, so the
# cluster recipe's plan can be seen without its data), before any job starts.
onstart:
    check_config(config, where=CONFIG_WHERE, check_paths=True)

MISSING_INPUTS = missing_inputs(config)  # absent external inputs (see inputs.smk)
DECLARED = STUDY.mixtures  # name -> {source: fraction}, extends flattened: the anchors
# Designed mixtures (config `design`, cptmix.design): the sweep's token shares are a pure
# function of the config; their fractions and epochs are realised after counting
# (realise_mixture), and `proposed` comes from the surrogate fitted on the sweep.
TASKS = selected_tasks(config)
check_design(config, TASKS, where=CONFIG_WHERE)  # every problem of the block, named
SWEEP_SPEC = sweep_spec(config, where=CONFIG_WHERE)  # None: no design block
SWEEP = sweep_shares(SWEEP_SPEC) if SWEEP_SPEC else {}  # sweep-NN -> {source: share}
if SWEEP_SPEC:  # a surrogate never fits fewer sweep mixtures than its free parameters
    check_models(config["design"]["surrogate"]["models"], SWEEP_SPEC.n,
                 len(SWEEP_SPEC.sources), config["design"]["surrogate"]["folds"])
DESIGNED = designed_mixtures(config)  # the sweep's names, then `proposed` (design.propose)
PROPOSE = "proposed" in DESIGNED
# name -> the sources it may draw from (declared: its own; designed: the sweep's)
MIXTURE_SOURCES = {
    **{m: list(f) for m, f in DECLARED.items()},
    **{m: list(SWEEP_SPEC.sources) for m in DESIGNED},
}
MIXTURES = list(MIXTURE_SOURCES)  # anchors first, then sweep-01.., then proposed
MODELS = ["base", *MIXTURES]  # "base" = the model before CPT, shared by all mixtures
# Replicates: every CPT, SFT and evaluation job exists once per seed (scope `sft`: CPT once,
# with the first seed, and SFT per seed). The base model itself is pre-trained (or given) once.
SEEDS = list(STUDY.seeds)
SCOPE = STUDY.replicate_scope
CPT_SEEDS = cpt_seeds(config)  # the seeds of independent CPT runs among the replicates
# design.verify.seeds: the proposal and the best anchor (and base+SFT) trained once more per
# seed, CPT included, so that the verification also compares independent CPT runs.
VERIFY_SEEDS = list(STUDY.verify_seeds)
VERIFY_UNITS = [*CPT_SEEDS, *VERIFY_SEEDS] if VERIFY_SEEDS else []  # one CPT run per seed
METRICS = list(STUDY.analysis.metrics)
SOURCES = list(config["sources"])
# source -> shard -> its files: globs are expanded now, so each shard is one counting/indexing
# job and one blend entry; an absent external path stays a placeholder (see inputs.smk).
SHARDS = source_shards(config["sources"])
MT_SOURCE = STUDY.evaluate.mt_source  # appendix-B check of the MT engine; None: absent = off
WORLD = STUDY.world is not None
TRAIN_TOKENIZER = "train" in config["tokenizer"]
PRETRAIN_BASE = "path" not in config["base_model"]
# Prepare stage (prepare.smk): translated sources, parallel sources, the SFT set.
# The sections themselves (defaulted) are what the rules pass on as params.spec; STUDY.translate
# and STUDY.parallel are their typed views. Absent sections: no such rules (empty).
TRANSLATIONS = config.get("translate") or {}  # name -> input, engine, shards; absent = none
PARALLEL = config.get("parallel") or {}  # name -> aligned En/Ja documents; absent = none
SFT_BUILD = STUDY.sft is not None
# Training backends (train.smk): train.backend, overridden for SFT by train.sft.backend.
CPT_BACKEND = STUDY.train.backend
SFT_BACKEND = STUDY.train.sft_backend
# The conda env of a backend, relative to this rule file (cptmix.train's backend registry).
TRAIN_ENVS = {name: f"../../{backend_env(name)}" for name in BACKENDS}


def _alternatives(names):
    return "|".join(re.escape(n) for n in names)


wildcard_constraints:
    source=_alternatives(SOURCES),
    shard=r"\d{5}",
    mixture=_alternatives(MIXTURES),
    model=_alternatives(MODELS),
    translation=_alternatives(TRANSLATIONS) or "(?!)",
    parallel=_alternatives(PARALLEL) or "(?!)",
    seed=_alternatives(str(s) for s in [*SEEDS, *VERIFY_SEEDS]),
    metric=_alternatives(METRICS),


# Corpus settings; the megatron backend also needs indexed sources and index caches.
MEGATRON = CPT_BACKEND == "megatron"
# Megatron sample length: corpus.sequence_length, else the CPT block size.
MEGATRON_SEQUENCE_LENGTH = STUDY.megatron_sequence_length


def mixture_indexed(wildcards):
    """The indexed shards (.bin/.idx + provenance) of the sources a mixture may blend (a
    declared fraction of 0 draws nothing; a designed mixture's zero shares are known only
    after realisation, so all its sources are listed)."""
    fractions = DECLARED.get(wildcards.mixture)
    return [
        f"results/corpus/{s}/{shard}/{name}"
        for s in MIXTURE_SOURCES[wildcards.mixture]
        if fractions is None or fractions[s] > 0
        for shard in SHARDS[s]
        for name in ("tokens.bin", "tokens.idx", "provenance.json")
    ]


def tokenizer_dir():
    """The tokenizer every stage uses: trained by the demo, or the model's own."""
    return "results/tokenizer" if TRAIN_TOKENIZER else config["tokenizer"]["path"]


def shard_files(wildcards):
    """The files (text format: directories) of one shard of a source."""
    return SHARDS[wildcards.source][wildcards.shard]


def source_files(sources):
    """Every file of the given sources, all shards."""
    return [f for s in sources for files in SHARDS[s].values() for f in files]


def source_entry(wildcards):
    return config["sources"][wildcards.source]


REALISED = "results/corpus/mixtures/{mixture}/realised.json"  # a designed mixture's realisation


def realised_input(wildcards):
    """{"realised": its realisation} for a designed mixture (read by mixture_fractions and
    cpt_hp once it exists), nothing for a declared one."""
    designed = wildcards.mixture in DESIGNED
    return {"realised": REALISED.format(mixture=wildcards.mixture)} if designed else {}


def mixture_fractions(wildcards, input):
    """{source: fraction}: declared in the config, or realised from the design's shares (a
    params function: Snakemake calls it when the realisation, an input, exists)."""
    if wildcards.mixture in DECLARED:
        return DECLARED[wildcards.mixture]
    return trainable_fractions(read_realised(input.realised))


def recorded_fractions(wildcards):
    """What `mixture_fractions` derives from in the config, as a params value Snakemake records
    in its metadata (the params trigger): params that read `input` (mixture_fractions,
    mixture_budget, cpt_hp) are evaluated when the job runs and are not recorded, so without
    this a changed fraction would leave the old statistics, ledger and documents in place. A
    designed mixture's come from its realisation, an input whose change reruns them."""
    return {"fractions": DECLARED[wildcards.mixture]} if wildcards.mixture in DECLARED else {}


def recorded_mixture(wildcards):
    """`recorded_fractions` with what `mixture_budget` derives from (corpus.token_budget, else
    train.cpt.epochs): what a mixture's ledger and documents derive from."""
    if wildcards.mixture in DECLARED:
        return {**recorded_fractions(wildcards), "token_budget": STUDY.token_budget}
    return {}


def recorded_cpt(wildcards):
    """`recorded_mixture` for a CPT run, with what `cpt_hp` derives from: train.cpt, and for
    a designed mixture design.proxy.train."""
    proxy = {} if wildcards.mixture in DECLARED else {"proxy": config["design"]["proxy"]}
    return {**recorded_mixture(wildcards), "cpt": config["train"]["cpt"], **proxy}


def mixture_counts(wildcards):
    """Per-shard token counts of the sources a mixture draws from, named by source."""
    return {
        s: [f"results/corpus/{s}/{shard}/counts.tsv" for shard in SHARDS[s]]
        for s in MIXTURE_SOURCES[wildcards.mixture]
    }


def mixture_count_provenance(wildcards):
    """The counts.json beside each counts.tsv of a mixture (content and tokenizer hashes)."""
    return [
        f"results/corpus/{s}/{shard}/counts.json"
        for s in MIXTURE_SOURCES[wildcards.mixture]
        for shard in SHARDS[s]
    ]


def mixture_source_files(wildcards):
    return source_files(MIXTURE_SOURCES[wildcards.mixture])


PROPOSAL = "results/analysis/design/proposal.json"  # the surrogate's proposed shares


def design_shares(wildcards):
    """A sweep mixture's token shares (None for `proposed`: its shares are input.proposal)."""
    return SWEEP.get(wildcards.mixture)


def design_shares_input(wildcards):
    return {"proposal": PROPOSAL} if wildcards.mixture == "proposed" else {}


def mixture_budget(wildcards, input):
    """Tokens trained per mixture: for a designed one the sweep's token_budget (megatron
    draws it from the whole sources) or, with hf, its realisation's epochs over the realised
    subset (what the proxy run trains: about the budget, exactly E passes); else
    corpus.token_budget (or train.cpt.epochs passes)."""
    if wildcards.mixture in DESIGNED:
        return proxy_budget(read_realised(input.realised), MEGATRON)
    return STUDY.token_budget


def mixture_max_repetitions(wildcards):
    if wildcards.mixture in DESIGNED:
        return SWEEP_SPEC.max_repetitions
    return STUDY.corpus.max_repetitions  # None: no limit (no schema default)


def cpt_hp(wildcards, input):
    """CPT hyperparameters: train.cpt; a designed (proxy) run takes design.proxy.train's
    overrides and the realisation's epochs (token_budget tokens in the design's shares). With
    corpus.token_budget the hf backend trains the ledger's tokens (megatron's cache holds them)."""
    if wildcards.mixture not in DECLARED:
        return proxy_hp(config, read_realised(input.realised))
    if CPT_BACKEND == "hf" and STUDY.corpus.token_budget is not None:
        return {**config["train"]["cpt"], "token_budget": ledger_tokens(input.ledger)}
    return config["train"]["cpt"]


def base_model_dir():
    return "results/models/cpt/base" if PRETRAIN_BASE else config["base_model"]["path"]


# demo: pre-trained from scratch on these (the schema requires them without base_model.path)
PRETRAIN_SOURCES = config["base_model"]["pretrain_sources"] if PRETRAIN_BASE else []


def cpt_data(wildcards):
    """What CPT reads: megatron the mixture's blended indexed data through the CPU-built index
    cache, hf the materialised corpus; both wait for the mixture's token ledger (printed and
    checked against max_repetitions before any training job starts)."""
    mix = f"results/corpus/mixtures/{wildcards.mixture}"
    data = {"cache": f"{mix}/megatron_cache"} if CPT_BACKEND == "megatron" \
        else {"corpus": f"{mix}/corpus.jsonl"}
    return {**data, "ledger": f"{mix}/ledger.tsv", **realised_input(wildcards)}


def cpt_priority(wildcards):
    """Larger CPT runs start first (longest-processing-time order), and every CPT run before
    any SFT or evaluation job (but those of `reference_priority`), so the short jobs fill the
    cores at the end instead of one long CPT run trailing alone. A declared mixture's size is
    estimated by the sum of its fractions (the sources' sizes are not known before they are
    built); designed runs share one token budget."""
    fractions = DECLARED.get(wildcards.mixture)
    return 1 + (_size_rank(fractions) if fractions is not None else 0)


def _size_rank(fractions):
    """A declared mixture's size rank: 10 x the sum of its fractions, rounded."""
    return round(10 * sum(fractions.values()))


def reference_priority(wildcards):
    """With design.verify.seeds, the SFT and evaluation jobs that choose_reference reads (base
    and the anchors at the replicate seeds) run right after the anchors' CPT runs, ahead of
    the sweep's CPT runs (priority 1): the checkpoint (CHECK_PRIORITY) then fires early, and
    the chosen anchor's CPT runs at the verification seeds (a declared mixture's
    cpt_priority) fill the cores mid-run instead of queueing behind the proposal's at the
    end. Every other SFT and evaluation job: 0 (after every CPT run)."""
    anchor = wildcards.model == "base" or wildcards.model in DECLARED
    return 2 if VERIFY_SEEDS and anchor and int(wildcards.seed) in SEEDS else 0


# Above every cpt_priority: a mixture's realisation and ledger (its repetition checks) run as
# soon as its counts exist, so an infeasible budget fails before the training jobs, not
# after them (a designed mixture's CPT, priority 1, would otherwise wait behind the anchors).
CHECK_PRIORITY = 3 + max(map(_size_rank, DECLARED.values()), default=0)  # > reference_priority


def replicate_seed(wildcards):
    """The training seed of a job's replicate (its `seed` wildcard)."""
    return int(wildcards.seed)


def cpt_model_dir(wildcards):
    """The model SFT (replicate `seed`) starts from: the base itself, or the base after CPT
    on a mixture with the replicate's CPT seed (the first seed under scope `sft`)."""
    if wildcards.model == "base":
        return base_model_dir()
    return f"results/models/cpt/{wildcards.model}/seed-{cpt_seed(config, wildcards.seed)}"


def sft_data():
    """The SFT set train_sft reads: built by build_sft (config `sft`) or given (`sft_data`)."""
    return "results/prepare/sft/train.jsonl" if SFT_BUILD else config["sft_data"]


# --- Prepare stage (prepare.smk): translated sources, parallel sources, the SFT set ---------------
def translation_spec(wildcards):
    return TRANSLATIONS[wildcards.translation]


def translation_input(wildcards):
    """The translation input for Snakemake; a file inside the evaluation data directory (EJMMT's test
    set) is represented by that directory, as in mt_source_references."""
    path, data = TRANSLATIONS[wildcards.translation]["input"], eval_data_dir()
    return data if Path(data) in Path(path).parents else path


def translation_model(wildcards):
    """The local model directory of an `hf` translation (none for the demo's noisy engine)."""
    spec = TRANSLATIONS[wildcards.translation]
    return [spec["model"]] if spec["backend"] == "hf" else []


def translation_shards(wildcards, suffix=".jsonl"):
    """Shard outputs of one translation, in order (shards: 00000, 00001, ...)."""
    n = STUDY.translate[wildcards.translation].shards
    return [f"results/prepare/translate/{wildcards.translation}/shards/{k:05d}{suffix}"
            for k in range(n)]


def translation_shard_provenances(wildcards):
    return translation_shards(wildcards, ".provenance.json")


def parallel_spec(wildcards):
    return PARALLEL[wildcards.parallel]


def parallel_inputs(wildcards):
    """The aligned documents of a parallel source: `pairs`, or `en` + `ja`."""
    spec = PARALLEL[wildcards.parallel]
    return {k: spec[k] for k in ("pairs", "en", "ja") if k in spec}


def sft_source_paths():
    return [s["path"] for s in config["sft"]["sources"].values()]


def eval_data_dir():
    return config["evaluate"]["data_dir"]


def mt_source_references():
    """The references' input: a file inside the evaluation data directory (EJMMT's test set)
    is represented by that directory, which is what the world rule declares as its output."""
    ref, data = MT_SOURCE.references, eval_data_dir()
    return data if Path(data) in Path(ref).parents else ref


EVAL_DIR = "results/eval/{model}/seed-{seed}"  # one model's evaluation, one replicate


def eval_paths(name):
    """One evaluation file (scores.tsv, items.tsv) of every model and seed, by name:
    {model: {seed: path}} (models base first, seeds in order)."""
    return {
        m: {s: f"{EVAL_DIR.format(model=m, seed=s)}/{name}" for s in SEEDS} for m in MODELS
    }


def eval_files(name):
    """The same files as a list, model by model (what a rule's input declares)."""
    return [p for per_seed in eval_paths(name).values() for p in per_seed.values()]


# Anchors that are points of the design: trained at the sweep's budget (corpus.token_budget =
# design.sweep.token_budget) from the sweep's sources only. They join the sweep in the
# surrogates and the planted-effect check; at another budget they are not comparable.
EQUAL_BUDGET = SWEEP_SPEC is not None and dict(STUDY.token_budget) == {
    "tokens": SWEEP_SPEC.token_budget}
DESIGN_ANCHORS = [m for m, fractions in DECLARED.items()
                  if EQUAL_BUDGET and set(fractions) <= set(SWEEP_SPEC.sources)]


def anchor_ledgers():
    return {m: f"results/corpus/mixtures/{m}/ledger.tsv" for m in DESIGN_ANCHORS}


def sweep_eval_paths(name):
    """{model: {seed: path}} of the base model, the sweep's models and the design anchors (the
    surrogate's runs)."""
    paths = eval_paths(name)
    return {m: paths[m] for m in ["base", *SWEEP, *DESIGN_ANCHORS]}


REFERENCE = "results/analysis/design/reference.json"  # choose_reference: the verified anchor


def verify_inputs(wildcards):
    """verify_proposal's inputs for design.verify.seeds: choose_reference's choice (a
    checkpoint) and the evaluations of base, proposed and the chosen anchor at the
    verification seeds (none without verification seeds)."""
    if not VERIFY_SEEDS:
        return {}
    chosen = checkpoints.choose_reference.get().output[0]
    files = {name: [p for per_seed in reseeded_paths(chosen, EVAL_DIR, VERIFY_SEEDS, name)
                    .values() for p in per_seed.values()]
             for name in ("scores.tsv", "items.tsv")}
    return {"reference": REFERENCE, "verify_scores": files["scores.tsv"],
            "verify_items": files["items.tsv"]}


def anchor_eval_paths(name):
    """{model: {seed: path}} of base and the declared mixtures (choose_reference's inputs)."""
    paths = eval_paths(name)
    return {m: paths[m] for m in ["base", *DECLARED]}


def sweep_inputs(wildcards):
    """What fit_surrogate and sweep_power read: every sweep run's (and base's, and the design anchors') scores,
    the realisations and the design anchors' ledgers."""
    return {
        "scores": [p for per_seed in sweep_eval_paths("scores.tsv").values()
                   for p in per_seed.values()],
        "realised": [REALISED.format(mixture=m) for m in SWEEP],
        "ledgers": list(anchor_ledgers().values()),
    }


def mixture_stats_files():
    """mixture -> its stats.json, in mixture order (composition's input, read by name)."""
    return {m: f"results/corpus/mixtures/{m}/stats.json" for m in MIXTURES}


def analysis_report(name, caption, category="4. Analysis"):
    """An analysis output of one metric, captioned in the Snakemake report."""
    return report(
        f"results/analysis/{{metric}}/{name}",
        category=category,
        subcategory="{metric}",
        caption=f"../report/{caption}.rst",
    )


def analysis_outputs():
    return [
        f"results/analysis/{metric}/{name}"
        for metric in METRICS
        for name in (
            "score_differences.tsv",
            "noise_floors.tsv",
            "contrasts.tsv",
            "averages.tsv",
            "correlations.tsv",
            "partial_correlations.tsv",
            "prediction.tsv",
            "provenance.tsv",
            "summary.md",
        )
    ]


def final_targets():
    return [
        "results/corpus/composition.tsv",
        *expand("results/corpus/mixtures/{mixture}/ledger.tsv", mixture=MIXTURES),
        *eval_files("scores.tsv"),
        *analysis_outputs(),
        *(["results/eval/mt_source_quality.json"] if MT_SOURCE else []),
        *(["results/analysis/design/surrogate_cv.tsv"] if SWEEP_SPEC else []),
        *(["results/analysis/design/power.md"] if SWEEP_SPEC else []),
        *(["results/analysis/design/verification.tsv"] if PROPOSE else []),
    ]


def eval_group(wildcards):
    """The cluster group of an evaluation (`evaluate_model`): `eval`; `eval_proposed` for the
    proposed mixture, which depends on the others' evaluations; `eval_verify` at a
    verification seed (design.verify.seeds), whose runs depend on choose_reference, which
    reads the anchors' evaluations (one group holding both would wait for itself)."""
    if int(wildcards.seed) in VERIFY_SEEDS:
        return "eval_verify"
    return "eval_proposed" if wildcards.model == PROPOSED else "eval"


def mixture_group(wildcards):
    """The cluster group of a designed mixture's small CPU jobs (its realisation and the rules
    that read it: one Slurm job a mixture); a declared mixture's run ungrouped."""
    return "mixture" if wildcards.mixture in DESIGNED else None


def threads_for(group):
    """Threads of a rule group from config `threads` (tokenisers, torch, generation); the
    schema gives every group's default."""
    return getattr(STUDY.threads, group)
