"""Corpus stage: tokenizer, per-source token counts, mixtures and compositional statistics.

Sits after the sources (the demo world or a lab's own JSONL/JSONL.gz/JSONL.zst/Parquet files
or text directories, read by `cptmix.corpus.sources`) and before training. Each source is read
and tokenised once, shard by shard (`count_source`); a mixture's seven compositional
statistics are then derived from those counts and the mixture's fractions (`mixture_stats`), so
the cost grows with the number of sources, not of mixtures. `materialise_mixture` writes the
selected documents, which the hf backend's CPT trains on; `relations` is the design check.

Counting and indexing read the tokenizer directory's own tokenizer.json with `tokenizers`,
checked on a bilingual probe against what transformers loads (`load_counting_tokenizer`);
`import_sentencepiece` builds such a directory from a SentencePiece model, verified.

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
    materialise_mixture,
    mixture_statistics,
    mixture_stats,
    relations,
)
from cptmix.corpus.sources import (
    EmptyDocuments,
    Source,
    count_source,
    iter_documents,
    read_counts,
    shard_counts,
    source_shards,
)
from cptmix.corpus.tokenizer import (
    TokenizerError,
    import_sentencepiece,
    load_counting_tokenizer,
    load_tokenizer,
    train_tokenizer,
)

__all__ = [
    "EmptyDocuments",
    "RepetitionError",
    "Source",
    "TokenizerError",
    "blend_spec",
    "build_mixture",
    "composition_table",
    "count_source",
    "import_sentencepiece",
    "index_source",
    "iter_documents",
    "keep_document",
    "load_counting_tokenizer",
    "load_tokenizer",
    "materialise_mixture",
    "mixture_statistics",
    "mixture_stats",
    "read_counts",
    "relations",
    "shard_counts",
    "source_shards",
    "token_ledger",
    "train_tokenizer",
    "write_ledger",
]
