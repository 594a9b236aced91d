"""Snakemake script: tokenise one source shard into megatron-core's .bin/.idx indexed format."""
import os

sm = snakemake  # noqa: F821 - injected by the script directive
# The tokenizer's Rust thread pool reads this once, on first use: give it the rule's threads.
os.environ["RAYON_NUM_THREADS"] = str(sm.threads)

from cptmix.corpus import Source
from cptmix.corpus.indexed import index_source
from cptmix.corpus.sources import check_shard
from cptmix.io import log_to

log_to(sm.log[0])
entry = dict(sm.params.entry)
source = Source.from_config(sm.wildcards.source, entry)
check_shard(source, sm.wildcards.shard, sm.input.source)
index_source(source, None, sm.input.tokenizer,
             sm.output.bin.removesuffix(".bin"), shard=sm.wildcards.shard,
             config_entry=entry, strict=sm.params.strict)
