"""Megatron indexed data: each source tokenised once into megatron-core's `.bin`/`.idx` format.

Sits beside `count_source` in the corpus stage and feeds the megatron training backend (the
demo's hf backend never needs it). Every source is indexed *in full*, once; mixtures then
select by blend weight (`cptmix.corpus.ledger`), so adding a mixture costs no tokenisation.

The files are written by megatron-core's own `IndexedDatasetBuilder` (one document = one
sequence, EOD appended), so whatever megatron-core reads back is exactly what it wrote. Reading
is streamed in chunks of documents: memory is bounded by a chunk, not by the corpus.
Tokenisation is counting's (`load_counting_tokenizer`): the tokenizer directory's own
tokenizer.json through `tokenizers` (checked against what transformers loads), whose
`encode_batch_fast` spreads a chunk over all rayon threads (`RAYON_NUM_THREADS`, set from the
rule's `threads:`), or, for a directory imported from a SentencePiece model, sentencepiece on
as many threads (the same ids: `cptmix.corpus.tokenizer`).
Documents with empty text are skipped (counted in the provenance's `skipped_documents`), as
counting skips them, or refused with `strict`.

megatron-core is imported lazily so that `import cptmix.corpus` works without it.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from cptmix.corpus.sources import (
    CHUNK_CHARS,
    CHUNK_DOCS,
    EmptyDocuments,
    Source,
    content_hash,
    encoded_chunks,
    iter_documents,
)
from cptmix.corpus.tokenizer import CountingTokenizer, load_counting_tokenizer
from cptmix.io import sha256_file, write_json

log = logging.getLogger(__name__)

# A chunk (`cptmix.corpus.sources.chunks`) is flushed at whichever limit comes first: enough
# documents to keep every core busy inside one Rust call, few enough characters that a chunk
# of very long documents stays small.
CHUNK_BYTES = CHUNK_CHARS  # the old name


def tokenizer_file(tokenizer_dir: str | Path) -> Path:
    """The file whose hash identifies a tokenizer (its `tokenizer.json`)."""
    path = Path(tokenizer_dir) / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"{tokenizer_dir}: not a tokenizer directory (no tokenizer.json)")
    return path


def bin_path(prefix: str | Path) -> Path:
    return Path(f"{prefix}.bin")


def idx_path(prefix: str | Path) -> Path:
    return Path(f"{prefix}.idx")


def index_source(source: Source | str | Path, lang: str | None, tokenizer_dir: str | Path,
                 out_prefix: str | Path, *, shard: str | None = None, name: str | None = None,
                 config_entry: dict | None = None, chunk_docs: int = CHUNK_DOCS,
                 chunk_bytes: int = CHUNK_CHARS, progress: bool = True,
                 strict: bool = False, tokenizer: CountingTokenizer | None = None) -> dict:
    """Tokenise one source, or one shard of it, into `{out_prefix}.bin/.idx` (+
    `provenance.json` beside them).

    `source` is a `Source` (config entry) or a path with its `lang`. Every document, in file
    order, becomes one megatron sequence followed by the tokenizer's EOS as EOD. Errors in the
    source (bad JSON, missing field, invalid UTF-8, empty source) name the file and line; on
    any error no output is left behind. Returns the provenance record. `tokenizer` is
    `tokenizer_dir` already loaded by `load_counting_tokenizer` (default: loaded here).
    """
    from megatron.core.datasets.indexed_dataset import DType, IndexedDatasetBuilder
    from tqdm import tqdm

    if not isinstance(source, Source):
        source = Source.from_path(source, lang, **({"name": name} if name else {}))
    out_prefix = Path(out_prefix)
    units = source.shards()[shard] if shard is not None else source.units()
    for unit in units:  # before anything is created
        if not os.path.exists(unit):
            raise FileNotFoundError(f"{unit}: source file does not exist")
    if tokenizer is None:
        tok = load_counting_tokenizer(tokenizer_dir)  # checked against transformers
    elif Path(tokenizer.path).resolve() != Path(tokenizer_dir).resolve():
        raise ValueError(f"index_source: the tokenizer given was loaded from {tokenizer.path}, "
                         f"not from tokenizer_dir {tokenizer_dir}")
    else:
        tok = tokenizer
    eod = tok.eos_id
    vocab_size = tok.vocab_size
    dtype = DType.optimal_dtype(vocab_size)  # megatron's own choice: uint16 below 65,500 ids

    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    # Temporary names beside the outputs, renamed only after `finalize`, so a crash never
    # leaves a .bin/.idx pair that a rerun or megatron would take as complete.
    tmp = out_prefix.with_name(f".{out_prefix.name}.tmp-{os.getpid()}")
    n_docs = n_tokens = 0
    t0 = time.perf_counter()
    label = name or source.name
    empty = EmptyDocuments()
    try:
        builder = IndexedDatasetBuilder(str(bin_path(tmp)), dtype=dtype)
        bar = tqdm(unit="tok", unit_scale=True, desc=label if shard is None else
                   f"{label}/{shard}", disable=not progress, mininterval=1.0)
        try:
            docs = iter_documents(source, shard=shard, empty=empty, strict=strict)
            for batch, encs in encoded_chunks(tok.encode_ids, docs, chunk_docs, chunk_bytes):
                chunk_tokens = 0
                for enc in encs:
                    ids = np.empty(len(enc) + 1, dtype=dtype)
                    ids[:-1] = enc
                    ids[-1] = eod
                    builder.add_document(ids, [ids.size])
                    chunk_tokens += ids.size
                n_docs += len(batch)
                n_tokens += chunk_tokens
                bar.update(chunk_tokens)
                bar.set_postfix(docs=n_docs, refresh=False)
        finally:
            bar.close()
            builder.data_file.close()  # idempotent; `finalize` closes it on success too
        builder.finalize(str(idx_path(tmp)))
        os.replace(bin_path(tmp), bin_path(out_prefix))
        os.replace(idx_path(tmp), idx_path(out_prefix))
    finally:
        for p in (bin_path(tmp), idx_path(tmp)):
            p.unlink(missing_ok=True)
    seconds = time.perf_counter() - t0
    tok.report(f"indexing {out_prefix}")
    empty.report(f"source {label}" + (f", shard {shard}" if shard is not None else ""))
    log.info("%s: %d documents, %d tokens (incl. EOD) in %.1f s = %.0f tokens/s",
             ", ".join(units), n_docs, n_tokens, seconds, n_tokens / max(seconds, 1e-9))
    hashes = content_hash(source, units)
    provenance = {
        "source": label,
        "shard": shard,
        "path": units[0] if len(units) == 1 else units,
        "lang": source.lang,
        "config": config_entry or source.config,
        "source_sha256": hashes["sha256"],
        "files": hashes["files"],
        "tokenizer_dir": str(tokenizer_dir),
        "tokenizer_sha256": sha256_file(tokenizer_file(tokenizer_dir)),
        "vocab_size": vocab_size,
        "eod_id": eod,
        "dtype": np.dtype(dtype).name,
        "documents": n_docs,
        "tokens": n_tokens,  # what megatron samples from: text tokens + one EOD per document
        "text_tokens": n_tokens - n_docs,  # what counts.tsv and Table C.1 count
        "skipped_documents": empty.count,  # empty text: not indexed, as not counted
        "prefix": str(out_prefix),
        "megatron_core": _megatron_version(),
    }
    # Deterministic (no timings): equal inputs give byte-equal provenance.
    write_json(out_prefix.parent / "provenance.json", provenance)
    return provenance


def _megatron_version() -> str:
    from importlib.metadata import version

    return version("megatron-core")


def read_provenance(prefix: str | Path) -> dict:
    import json

    return json.loads((Path(prefix).parent / "provenance.json").read_text(encoding="utf-8"))
