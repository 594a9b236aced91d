"""Snakemake script: evaluate one SFT model on the JMedBench tasks."""
from cptmix.evaluate import evaluate_model
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
evaluate_model(sm.input.model, sm.input.data, sm.output.scores, sm.output.predictions,
               tasks=list(sm.params.tasks), batch_size=sm.params.batch_size,
               max_new_tokens=sm.params.max_new_tokens, threads=sm.threads,
               provenance_json=sm.output.provenance, scoring=sm.params.scoring,
               option_metric=sm.params.option_metric,
               # Declared by the rule; absent, evaluate_model writes items.tsv beside scores.
               items_tsv=sm.output.get("item_scores"))
