# Config validation first, then the names and short input functions every rule file uses.
import os
import re
from pathlib import Path

from snakemake.utils import validate

from cptmix.config import check_config, missing_inputs, resolve_mixtures, selected_tasks

# No surprise network: a missing local model is an error, not a download or a hang.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Every config problem at once, named by its config path; then Snakemake's own validation.
SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
check_config(config, where="config", schema=SCHEMA)
validate(config, schema="../schemas/config.schema.yaml")


# Input paths are checked when the workflow really runs (not for `snakemake -n`, so the
# cluster recipe's plan can be seen without its data), before any job starts.
onstart:
    check_config(config, where="config", check_paths=True)

MISSING_INPUTS = missing_inputs(config)  # absent external inputs (see inputs.smk)
MIXTURES = resolve_mixtures(config)  # name -> {source: fraction}, extends flattened
MODELS = ["base", *MIXTURES]  # "base" = the model before CPT, shared by all mixtures
SOURCES = list(config["sources"])
TASKS = selected_tasks(config)
MT_SOURCE = config["evaluate"].get("mt_source")  # appendix-B check of the MT engine, optional
WORLD = "world" in config
TRAIN_TOKENIZER = "train" in config["tokenizer"]
PRETRAIN_BASE = "path" not in config["base_model"]


def _alternatives(names):
    return "|".join(re.escape(n) for n in names)


wildcard_constraints:
    source=_alternatives(SOURCES),
    mixture=_alternatives(MIXTURES),
    model=_alternatives(MODELS),


# Corpus settings; the megatron backend also needs indexed sources and index caches.
CORPUS = config.get("corpus", {})
MEGATRON = config["train"]["backend"] == "megatron"
# Megatron sample length: corpus.sequence_length, else the CPT block size.
MEGATRON_SEQUENCE_LENGTH = CORPUS.get(
    "sequence_length", config["train"]["cpt"].get("block_size")
)


def mixture_indexed(wildcards):
    """The indexed files (.bin/.idx + provenance) of the sources a mixture blends."""
    return [
        f"results/corpus/{s}/{name}"
        for s, frac in MIXTURES[wildcards.mixture].items()
        if frac > 0
        for name in ("tokens.bin", "tokens.idx", "provenance.json")
    ]


def tokenizer_dir():
    """The tokenizer every stage uses: trained by the demo, or the model's own."""
    return "results/tokenizer" if TRAIN_TOKENIZER else config["tokenizer"]["path"]


def source_path(wildcards):
    return config["sources"][wildcards.source]["path"]


def source_lang(wildcards):
    return config["sources"][wildcards.source]["lang"]


def mixture_fractions(wildcards):
    return MIXTURES[wildcards.mixture]


def mixture_counts(wildcards):
    """Per-source token counts of the sources a mixture draws from."""
    return {s: f"results/corpus/{s}/counts.tsv" for s in MIXTURES[wildcards.mixture]}


def mixture_source_files(wildcards):
    return [config["sources"][s]["path"] for s in MIXTURES[wildcards.mixture]]


def base_model_dir():
    return "results/models/cpt/base" if PRETRAIN_BASE else config["base_model"]["path"]


def cpt_model_dir(wildcards):
    """The model SFT starts from: the base itself, or the base after CPT on a mixture."""
    if wildcards.model == "base":
        return base_model_dir()
    return f"results/models/cpt/{wildcards.model}"


def sft_data():
    return config.get("sft_data", "results/world/sft/train.jsonl")


def eval_data_dir():
    return config["evaluate"]["data_dir"]


def mt_source_references():
    """The references' input: a file inside the evaluation data directory (EJMMT's test set)
    is represented by that directory, which is what the world rule declares as its output."""
    ref, data = MT_SOURCE["references"], eval_data_dir()
    return data if Path(data) in Path(ref).parents else ref


def analysis_outputs():
    return [
        f"results/analysis/{name}"
        for name in (
            "score_differences.tsv",
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
        *expand("results/eval/{model}/scores.tsv", model=MODELS),
        *analysis_outputs(),
        *(["results/eval/mt_source_quality.json"] if MT_SOURCE else []),
    ]


def threads_for(group):
    return int(config.get("threads", {}).get(group, 1))
