"""Snakemake script: count the tokens of every document of one source shard."""
import os

sm = snakemake  # noqa: F821 - injected by the script directive
# The tokenizer's Rust thread pool reads this once, on first use: give it the rule's threads.
os.environ["RAYON_NUM_THREADS"] = str(sm.threads)

from cptmix.corpus import Source, count_source
from cptmix.corpus.sources import check_shard
from cptmix.corpus.tokenizer import load_counting_tokenizer
from cptmix.io import log_to

log_to(sm.log[0])
source = Source.from_config(sm.wildcards.source, sm.params.entry)
check_shard(source, sm.wildcards.shard, sm.input.source)
tokenizer = load_counting_tokenizer(sm.input.tokenizer)  # tokenizer.json, checked on the probe
count_source(source, None, tokenizer, sm.output.counts,
             shard=sm.wildcards.shard, progress=True, provenance_json=sm.output.provenance,
             tokenizer_dir=sm.input.tokenizer, strict=sm.params.strict)
