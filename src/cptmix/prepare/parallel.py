"""Parallel documents from aligned English/Japanese document pairs (paper appendix G).

Feeds the corpus stage's `parallel` sources (EnJa-Hybrid's PubMed abstracts + their
translations): each paragraph appears in both languages, one after the other, the order of the
two languages drawn per paragraph from a random stream seeded by (seed, document id) — so a
document's layout does not depend on which other documents are built with it.

Input, either
- `pairs`: one JSONL with {"id", "en", "ja"} per document, or
- `en` + `ja`: two JSONL sources ({"id", "text"}) paired by id, the Japanese id being the
  English id + `ja_id_suffix` (what the translate rule writes with `id_suffix`).
Paragraphs are newline-separated and must correspond one to one.
"""

from __future__ import annotations

import random
from pathlib import Path

from cptmix.io import read_jsonl, write_jsonl


def interleave(en: list[str], ja: list[str], rng: random.Random) -> list[str]:
    """Paragraph pairs, each in a random order of language."""
    lines = []
    for e, j in zip(en, ja, strict=True):
        lines += [e, j] if rng.random() < 0.5 else [j, e]
    return lines


def _text(rec: dict, field: str, where: str) -> str:
    value = rec.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: field {field!r} must be a non-empty string")
    return value


def aligned_pairs(pairs: str | Path | None = None, en: str | Path | None = None,
                  ja: str | Path | None = None, ja_id_suffix: str = "") -> list[tuple]:
    """(id, English text, Japanese text, where) per document, in input order."""
    if pairs is not None:
        out = []
        for i, rec in enumerate(read_jsonl(pairs), 1):
            where = f"{pairs}: record {i}"
            out.append((_text(rec, "id", where), _text(rec, "en", where),
                        _text(rec, "ja", where), where))
        return out
    if en is None or ja is None:
        raise ValueError("build_parallel: give `pairs`, or both `en` and `ja`")
    ja_by_id = {}
    for i, rec in enumerate(read_jsonl(ja), 1):
        ja_by_id[_text(rec, "id", f"{ja}: record {i}")] = _text(rec, "text", f"{ja}: record {i}")
    out = []
    for i, rec in enumerate(read_jsonl(en), 1):
        where = f"{en}: record {i}"
        doc_id = _text(rec, "id", where)
        if doc_id + ja_id_suffix not in ja_by_id:
            raise ValueError(f"{where}: field 'id': no Japanese document "
                             f"{doc_id + ja_id_suffix!r} in {ja}")
        out.append((doc_id, _text(rec, "text", where), ja_by_id[doc_id + ja_id_suffix], where))
    return out


def build_parallel(output: str | Path, *, seed: int, pairs: str | Path | None = None,
                   en: str | Path | None = None, ja: str | Path | None = None,
                   ja_id_suffix: str = "") -> dict:
    """Write the interleaved parallel source ({"id", "text", "lang": "parallel"}); returns
    counts (documents, paragraphs)."""
    docs, n_par = [], 0
    for doc_id, en_text, ja_text, where in aligned_pairs(pairs, en, ja, ja_id_suffix):
        en_p, ja_p = en_text.split("\n"), ja_text.split("\n")
        if len(en_p) != len(ja_p):
            raise ValueError(f"{where} (id {doc_id!r}): {len(en_p)} English paragraphs but "
                             f"{len(ja_p)} Japanese ones; paragraphs must align one to one")
        rng = random.Random(f"cptmix-parallel:{seed}:{doc_id}")
        docs.append({"id": doc_id, "text": "\n".join(interleave(en_p, ja_p, rng)),
                     "lang": "parallel"})
        n_par += len(en_p)
    if not docs:
        raise ValueError(f"build_parallel: no documents in {pairs or en}")
    write_jsonl(output, docs)
    return {"documents": len(docs), "paragraphs": n_par}
