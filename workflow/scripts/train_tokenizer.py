"""Snakemake script: train the demo tokenizer on all sources."""
from cptmix.corpus.sources import Source, iter_documents
from cptmix.corpus.tokenizer import train_tokenizer
from cptmix.io import log_to

sm = snakemake  # noqa: F821 - injected by the script directive
log_to(sm.log[0])
sources = [Source.from_config(name, entry) for name, entry in sm.params.sources.items()]
texts = (doc["text"] for source in sources for doc in iter_documents(source))
train_tokenizer(texts, sm.output[0], vocab_size=sm.params.vocab_size)
