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

from cptmix import lazy_exports

# Each name and the module that defines it, imported on first use (`cptmix.lazy_exports`).
_EXPORTS = {
    "index_source": "cptmix.corpus.indexed",
    "RepetitionError": "cptmix.corpus.ledger",
    "blend_spec": "cptmix.corpus.ledger",
    "token_ledger": "cptmix.corpus.ledger",
    "write_ledger": "cptmix.corpus.ledger",
    "build_mixture": "cptmix.corpus.mixture",
    "composition_table": "cptmix.corpus.mixture",
    "keep_document": "cptmix.corpus.mixture",
    "materialise_mixture": "cptmix.corpus.mixture",
    "mixture_statistics": "cptmix.corpus.mixture",
    "mixture_stats": "cptmix.corpus.mixture",
    "relations": "cptmix.corpus.mixture",
    "EmptyDocuments": "cptmix.corpus.sources",
    "Source": "cptmix.corpus.sources",
    "count_source": "cptmix.corpus.sources",
    "iter_documents": "cptmix.corpus.sources",
    "read_counts": "cptmix.corpus.sources",
    "shard_counts": "cptmix.corpus.sources",
    "source_shards": "cptmix.corpus.sources",
    "TokenizerError": "cptmix.corpus.tokenizer",
    "import_sentencepiece": "cptmix.corpus.tokenizer",
    "load_counting_tokenizer": "cptmix.corpus.tokenizer",
    "load_tokenizer": "cptmix.corpus.tokenizer",
    "train_tokenizer": "cptmix.corpus.tokenizer",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
