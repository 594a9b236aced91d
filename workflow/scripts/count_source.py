"""Snakemake script: count the tokens of every document of one source."""
from cptmix.corpus import count_source, load_tokenizer
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
count_source(sm.input.source, sm.params.lang, load_tokenizer(sm.input.tokenizer), sm.output[0])
