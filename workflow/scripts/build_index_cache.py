"""Snakemake script: build megatron-core's sample/shuffle index cache of one mixture on CPU."""
from cptmix.corpus.megatron_cache import build_index_cache
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
build_index_cache(sm.input.blend, sm.input.tokenizer, sm.output[0], seed=sm.params.seed,
                  sequence_length=sm.params.sequence_length)
