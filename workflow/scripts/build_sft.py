"""Snakemake script: the decontaminated SFT set and its statistics (see cptmix.prepare.sft)."""
from cptmix.io import log_to
from cptmix.prepare.sft import build_sft

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
spec, cont = sm.params.spec, sm.params.spec.get("contamination") or {}
build_sft(spec["sources"], eval_data_dir=sm.input.eval_data, tokenizer=sm.input.tokenizer,
          out_jsonl=sm.output.sft, stats_tsv=sm.output.stats,
          contamination_tsv=sm.output.contamination, removed_jsonl=sm.output.removed,
          eval_tasks=sm.params.tasks, ngram=int(cont.get("ngram", 5)),
          threshold=float(cont.get("threshold", 0.9)), num_perm=int(cont.get("num_perm", 128)),
          chat_template=spec.get("chat_template", "never"))
