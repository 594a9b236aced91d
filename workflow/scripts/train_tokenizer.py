"""Snakemake script: train the demo tokenizer on all sources."""
from cptmix.corpus.sources import iter_documents
from cptmix.corpus.tokenizer import train_tokenizer
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
texts = (doc["text"] for path in sm.input.sources for doc in iter_documents(path, "document"))
train_tokenizer(texts, sm.output[0], vocab_size=sm.params.vocab_size)
