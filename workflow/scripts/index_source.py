"""Snakemake script: tokenise one source into megatron-core's .bin/.idx indexed format."""
import os

sm = snakemake  # noqa: F821 - injected by the script directive
# The tokenizer's Rust thread pool reads this once, on first use: give it the rule's threads.
os.environ["RAYON_NUM_THREADS"] = str(sm.threads)

from cptmix.corpus.indexed import index_source
from cptmix.io import log_to

log_to(sm.log[0])
source = sm.wildcards.source
entry = sm.params.sources[source]
index_source(sm.input.source, entry["lang"], sm.input.tokenizer,
             sm.output.bin.removesuffix(".bin"), name=source, config_entry=dict(entry))
