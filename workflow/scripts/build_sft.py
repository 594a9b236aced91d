"""Snakemake script: the decontaminated SFT set and its statistics (see cptmix.prepare.sft)."""
from cptmix.config import SftConfig
from cptmix.io import log_to
from cptmix.prepare.sft import build_sft

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
spec = SftConfig.from_dict(sm.params.spec)
cont = spec.contamination
build_sft(spec.sources, eval_data_dir=sm.input.eval_data, tokenizer=sm.input.tokenizer,
          out_jsonl=sm.output.sft, stats_tsv=sm.output.stats,
          contamination_tsv=sm.output.contamination, removed_jsonl=sm.output.removed,
          eval_tasks=sm.params.tasks, ngram=cont.ngram, threshold=cont.threshold,
          num_perm=cont.num_perm, chat_template=spec.chat_template)
