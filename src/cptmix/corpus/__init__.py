"""Corpus stage: tokenizer, per-source token counts, mixtures and compositional statistics.

Sits after the sources (the demo world or a lab's own JSONL files) and before training.
Each source is read and tokenised once (`count_source`); a mixture's seven compositional
statistics are then derived from those counts and the mixture's fractions, so the cost grows
with the number of sources, not of mixtures. `build_mixture` also materialises the selected
documents, which the CPT step trains on.

For the megatron backend, `index_source` tokenises each source once into megatron-core's
`.bin`/`.idx` format and `write_ledger` derives each mixture's blend weights and checks its
token budget (`ledger.tsv`); `cptmix.corpus.megatron_cache` builds megatron's index cache.
"""

from cptmix.corpus.indexed import index_source
from cptmix.corpus.ledger import RepetitionError, blend_spec, token_ledger, write_ledger
from cptmix.corpus.mixture import (
    build_mixture,
    composition_table,
    keep_document,
    mixture_statistics,
)
from cptmix.corpus.sources import count_source, iter_documents, read_counts
from cptmix.corpus.tokenizer import load_tokenizer, train_tokenizer

__all__ = [
    "RepetitionError",
    "blend_spec",
    "build_mixture",
    "composition_table",
    "count_source",
    "index_source",
    "iter_documents",
    "keep_document",
    "load_tokenizer",
    "mixture_statistics",
    "read_counts",
    "token_ledger",
    "train_tokenizer",
    "write_ledger",
]
