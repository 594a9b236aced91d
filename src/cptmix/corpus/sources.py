"""Reading sources (JSONL, one document a line: `id`, `text`, optional `lang`) and counting
their tokens once per source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from cptmix.corpus.tokenizer import encode_batch
from cptmix.io import read_jsonl, write_tsv

LANGS = ("ja", "en", "parallel")


def iter_documents(path: str | Path, lang: str) -> Iterator[dict]:
    """Documents of a source with a resolved language. `lang` is the source's language, or
    "document" when each record carries its own `lang` field."""
    seen: set[str] = set()
    for i, rec in enumerate(read_jsonl(path, required=("id", "text")), 1):
        doc_lang = rec.get("lang", lang) if lang == "document" else lang
        if doc_lang not in LANGS:
            raise ValueError(f"{path}: document {i}: field 'lang' is {doc_lang!r}, "
                             f"expected one of {LANGS}")
        doc_id = str(rec["id"])
        if doc_id in seen:
            raise ValueError(f"{path}: document {i}: field 'id' {doc_id!r} is duplicated")
        seen.add(doc_id)
        yield {"id": doc_id, "text": rec["text"], "lang": doc_lang}


def count_source(path: str | Path, lang: str, tokenizer, out_tsv: str | Path,
                 batch_size: int = 256) -> pd.DataFrame:
    """Token count of every document of one source -> TSV with columns id, lang, tokens."""
    rows: list[tuple[str, str, int]] = []
    batch: list[dict] = []

    def flush() -> None:
        for doc, ids in zip(batch, encode_batch(tokenizer, [d["text"] for d in batch])):
            rows.append((doc["id"], doc["lang"], len(ids)))
        batch.clear()

    for doc in iter_documents(path, lang):
        batch.append(doc)
        if len(batch) >= batch_size:
            flush()
    flush()
    df = pd.DataFrame(rows, columns=["id", "lang", "tokens"])
    write_tsv(out_tsv, df)
    return df


def read_counts(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"id": str, "lang": str, "tokens": "int64"},
                       keep_default_na=False)
