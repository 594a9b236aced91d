"""Mixtures: deterministic nested subsampling of sources and the seven compositional
statistics of the paper (section 3.1, Table C.1).

A document of source `s` is kept at fraction `f` when a hash of `s/id` (mapped to [0, 1))
is below `f`. The selection is therefore nested — the "half" of a source is a subset of its
"full" — and stable across runs, machines and processes (no Python `hash()`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from cptmix.config import STATISTICS
from cptmix.corpus.sources import iter_documents
from cptmix.io import atomic_path, write_json, write_tsv


def keep_document(source: str, doc_id: str, fraction: float) -> bool:
    if fraction >= 1.0:
        return True
    if fraction <= 0.0:
        return False
    digest = hashlib.sha256(f"{source}/{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def mixture_statistics(fractions: dict[str, float],
                       counts: dict[str, pd.DataFrame]) -> dict[str, float | int]:
    """The seven statistics of one mixture, derived from per-source document counts."""
    tokens = {"ja": 0, "en": 0, "parallel": 0}
    for source, frac in fractions.items():
        df = counts[source]
        kept = df[[keep_document(source, i, frac) for i in df["id"]]]
        for lang, n in kept.groupby("lang")["tokens"].sum().items():
            tokens[lang] += int(n)
    total = sum(tokens.values())
    if total == 0:
        raise ValueError(f"mixture selects no tokens (fractions {fractions})")
    return {
        "total_tokens": total,
        "ja_tokens": tokens["ja"],
        "en_tokens": tokens["en"],
        "parallel_tokens": tokens["parallel"],
        "ja_ratio": tokens["ja"] / total,
        "en_ratio": tokens["en"] / total,
        "parallel_ratio": tokens["parallel"] / total,
    }


def build_mixture(name: str, fractions: dict[str, float], sources: dict[str, dict],
                  counts: dict[str, pd.DataFrame], out_dir: str | Path) -> dict:
    """Materialise one mixture: `corpus.jsonl` (the selected documents, tagged with source and
    language) and `stats.json` (its composition, per source and in total)."""
    out_dir = Path(out_dir)
    per_source = {}
    with atomic_path(out_dir / "corpus.jsonl") as tmp, tmp.open("w", encoding="utf-8") as fh:
        for source, frac in fractions.items():
            n_docs = 0
            for doc in iter_documents(sources[source]["path"], sources[source]["lang"]):
                if keep_document(source, doc["id"], frac):
                    doc = {"id": f"{source}/{doc['id']}", "source": source, "lang": doc["lang"],
                           "text": doc["text"]}
                    fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
                    n_docs += 1
            per_source[source] = {"fraction": frac, "documents": n_docs,
                                  **mixture_statistics({source: frac}, counts)}
    stats = {"mixture": name, **mixture_statistics(fractions, counts), "sources": per_source}
    write_json(out_dir / "stats.json", stats)
    return stats


def composition_table(stats_files: dict[str, str | Path]) -> pd.DataFrame:
    """Table C.1: one row per mixture with the seven statistics (counts exact, ratios as
    fractions); checks the identities total = ja + en + parallel and sum of ratios = 1."""
    rows = []
    for name, path in stats_files.items():
        st = json.loads(Path(path).read_text(encoding="utf-8"))
        rows.append({"mixture": name, **{k: st[k] for k in STATISTICS}})
    df = pd.DataFrame(rows, columns=["mixture", *STATISTICS])
    bad = df[df.total_tokens != df.ja_tokens + df.en_tokens + df.parallel_tokens]
    if len(bad):
        raise ValueError(f"total != ja + en + parallel for {list(bad.mixture)}")
    if ((df.ja_ratio + df.en_ratio + df.parallel_ratio - 1).abs() > 1e-9).any():
        raise ValueError("ratios do not sum to 1")
    return df


def write_composition(stats_files: dict[str, str | Path], out_tsv: str | Path) -> pd.DataFrame:
    df = composition_table(stats_files)
    write_tsv(out_tsv, df, float_format="%.8f")
    return df
