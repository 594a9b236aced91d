"""Mixtures: deterministic nested subsampling of sources and the seven compositional
statistics of the paper (section 3.1, Table C.1).

A document of source `s` is kept at fraction `f` when a hash of `s/id` (mapped to [0, 1))
is below `f`. The selection is therefore nested — the "half" of a source is a subset of its
"full" — and stable across runs, machines and processes (no Python `hash()`).

Statistics are derived from the per-shard counts (`count_source`), never from the text: a
source's shards are summed one table at a time, so memory is one shard's counts table.
`relations` is the design check: how each mixture relates to the others.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from cptmix.config import STATISTICS
from cptmix.corpus.sources import EmptyDocuments, Source, iter_documents, shard_counts
from cptmix.io import atomic_path, write_json, write_tsv


def document_key(source: str, doc_id: str) -> float:
    """The document's fixed value in [0, 1): a subsample at fraction f keeps the documents
    whose key is below f (so a smaller fraction's subset is nested in a larger one's)."""
    digest = hashlib.sha256(f"{source}/{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def keep_document(source: str, doc_id: str, fraction: float) -> bool:
    if fraction >= 1.0:
        return True
    if fraction <= 0.0:
        return False
    return document_key(source, doc_id) < fraction


def kept(source: str, table: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """The rows of a counts table that `keep_document` selects at `fraction`."""
    if fraction >= 1.0:
        return table
    return table[[keep_document(source, i, fraction) for i in table["id"]]]


def _tokens(fractions: dict[str, float], counts: dict) -> dict[str, int]:
    tokens = {"ja": 0, "en": 0, "parallel": 0}
    for source, frac in fractions.items():
        if frac <= 0:
            continue
        for table in shard_counts(counts[source]).values():
            for lang, n in kept(source, table, frac).groupby("lang")["tokens"].sum().items():
                tokens[lang] += int(n)
    return tokens


def _statistics(tokens: dict[str, int]) -> dict[str, float | int]:
    total = sum(tokens.values())
    return {
        "total_tokens": total,
        "ja_tokens": tokens["ja"],
        "en_tokens": tokens["en"],
        "parallel_tokens": tokens["parallel"],
        "ja_ratio": tokens["ja"] / total if total else 0.0,
        "en_ratio": tokens["en"] / total if total else 0.0,
        "parallel_ratio": tokens["parallel"] / total if total else 0.0,
    }


def mixture_statistics(fractions: dict[str, float], counts: dict) -> dict[str, float | int]:
    """The seven statistics of one mixture, derived from per-source document counts
    (`counts[source]`: a table, a counts TSV, or its shards; see `shard_counts`)."""
    stats = _statistics(_tokens(fractions, counts))
    if stats["total_tokens"] == 0:
        raise ValueError(f"mixture selects no tokens (fractions {fractions})")
    return stats


def _kept_documents(fractions: dict[str, float], counts: dict) -> dict[str, int]:
    return {source: sum(len(kept(source, t, frac)) for t in shard_counts(counts[source]).values())
            if frac > 0 else 0 for source, frac in fractions.items()}


def mixture_stats(name: str, fractions: dict[str, float], counts: dict) -> dict:
    """A mixture's composition from the per-shard counts alone (no text read): the seven
    statistics, the same per source (with the documents selected), and the content hashes
    the counts were made from (`counted_from`)."""
    documents = _kept_documents(fractions, counts)
    skipped = skipped_documents(counts)
    per_source = {source: {"fraction": frac, "documents": documents[source],
                           **({"skipped_documents": skipped[source]} if source in skipped
                              else {}),
                           **_statistics(_tokens({source: frac}, counts))}
                  for source, frac in fractions.items()}
    stats = {"mixture": name, **mixture_statistics(fractions, counts)}
    if skipped:  # empty documents in the sources' files (not part of any statistic)
        stats["skipped_documents"] = sum(skipped.get(s, 0) for s, f in fractions.items()
                                         if f > 0)
    stats["sources"] = per_source
    provenance = counted_from(counts)
    if provenance:
        stats["provenance"] = provenance
    return stats


def write_stats(name: str, fractions: dict[str, float], counts: dict,
                out_json: str | Path) -> dict:
    stats = mixture_stats(name, fractions, counts)
    write_json(out_json, stats)
    return stats


def materialise_mixture(name: str, fractions: dict[str, float], sources: dict[str, dict],
                        counts: dict, out_jsonl: str | Path) -> dict[str, int]:
    """Write the documents a mixture selects (`corpus.jsonl`: id `source/id`, source, lang,
    text), reading every source through `iter_documents`; only the hf backend trains on it.
    The documents selected per source must be those the counts select, else the counts are
    stale and the statistics would not describe this corpus: an error, nothing written."""
    expected = _kept_documents(fractions, counts)
    written = {}
    with atomic_path(out_jsonl) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for source, frac in fractions.items():
            n_docs = 0
            # Empty documents are skipped here as count_source skipped them.
            docs = iter_documents(Source.from_config(source, sources[source]),
                                  empty=EmptyDocuments()) if frac > 0 else ()
            for doc in docs:
                if keep_document(source, doc["id"], frac):
                    doc = {"id": f"{source}/{doc['id']}", "source": source, "lang": doc["lang"],
                           "text": doc["text"]}
                    fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
                    n_docs += 1
            if n_docs != expected[source]:
                raise ValueError(f"mixture {name}: source {source} selects {n_docs} documents "
                                 f"but its counts select {expected[source]}; the counts are "
                                 f"stale, recount the source")
            written[source] = n_docs
    return written


def build_mixture(name: str, fractions: dict[str, float], sources: dict[str, dict],
                  counts: dict, out_dir: str | Path) -> dict:
    """Both outputs of one mixture in `out_dir`: `corpus.jsonl` (`materialise_mixture`) and
    `stats.json` (`mixture_stats`). `sources` are the config entries (`sources.NAME`)."""
    out_dir = Path(out_dir)
    materialise_mixture(name, fractions, sources, counts, out_dir / "corpus.jsonl")
    return write_stats(name, fractions, counts, out_dir / "stats.json")


def _count_sidecars(entry) -> list[dict]:
    """The counts.json records beside a source's counts.tsv files (none for tables)."""
    if isinstance(entry, pd.DataFrame | str | os.PathLike):
        entry = [entry]
    out = []
    for p in entry.values() if isinstance(entry, dict) else entry:
        if isinstance(p, str | os.PathLike) and Path(p).with_suffix(".json").is_file():
            out.append(json.loads(Path(p).with_suffix(".json").read_text(encoding="utf-8")))
    return out


def skipped_documents(counts: dict) -> dict[str, int]:
    """source -> documents its counting skipped for empty text (summed over shards), for the
    sources whose counts.json records it."""
    out: dict[str, int] = {}
    for source, entry in counts.items():
        for rec in _count_sidecars(entry):
            if "skipped_documents" in rec:
                out[source] = out.get(source, 0) + int(rec["skipped_documents"])
    return out


def counted_from(counts: dict) -> dict:
    """The content hashes behind a mixture's statistics: for counts given as files, the
    `counts.json` written beside each `counts.tsv` (source -> shard -> sha256, and the
    tokenizer's sha256). Paths are left out so that the record is the same on every machine."""
    out: dict = {}
    tokenizers = set()
    for source, entry in counts.items():
        if isinstance(entry, pd.DataFrame | str | os.PathLike):
            entry = [entry]
        for p in entry.values() if isinstance(entry, dict) else entry:
            if not isinstance(p, str | os.PathLike):
                continue  # an in-memory table: nothing recorded
            side = Path(p).with_suffix(".json")
            if side.is_file():
                rec = json.loads(side.read_text(encoding="utf-8"))
                out.setdefault("sources", {}).setdefault(source, {})[rec["shard"] or "all"] = \
                    rec["source_sha256"]
                tokenizers.add(rec.get("tokenizer_sha256"))
    if out and len(tokenizers) == 1:
        out["tokenizer_sha256"] = tokenizers.pop()
    elif out:
        raise ValueError(f"the counts of one mixture were made with {len(tokenizers)} different "
                         f"tokenizers; recount")
    return out


def composition_table(stats_files: dict[str, str | Path]) -> pd.DataFrame:
    """Table C.1: one row per mixture with the seven statistics (counts exact, ratios as
    fractions); checks the identities total = ja + en + parallel and sum of ratios = 1."""
    import logging

    rows = []
    for name, path in stats_files.items():
        st = json.loads(Path(path).read_text(encoding="utf-8"))
        rows.append({"mixture": name, **{k: st[k] for k in STATISTICS}})
        if st.get("skipped_documents"):
            logging.getLogger(__name__).warning(
                "mixture %s: its sources hold %d document(s) with empty text, skipped (not "
                "counted in any statistic; see stats.json)", name, st["skipped_documents"])
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


# --- the design check: how the mixtures relate -------------------------------------------------

def _term(source: str, frac: float) -> str:
    return source if frac >= 1.0 else f"{frac:g}×{source}"


def _difference(mix: dict[str, float], base: dict[str, float]) -> tuple[list[str], list[str]]:
    """(added or raised, removed or lowered) terms turning `base` into `mix`."""
    plus, minus = [], []
    for s in dict.fromkeys([*base, *mix]):
        a, b = base.get(s, 0.0), mix.get(s, 0.0)
        if b > a:
            plus.append(_term(s, b) if a == 0 else f"{s} {a:g}→{b:g}")
        elif b < a:
            minus.append(_term(s, a) if b == 0 else f"{s} {a:g}→{b:g}")
    return plus, minus


def _distance(mix: dict[str, float], base: dict[str, float]) -> tuple[int, int]:
    """Prefer bases the mixture contains, then the fewest changed terms."""
    plus, minus = _difference(mix, base)
    return (1 if minus else 0, len(plus) + len(minus))


def is_superset(mix: dict[str, float], base: dict[str, float]) -> bool:
    return all(mix.get(s, 0.0) >= f for s, f in base.items())


def relations(mixtures: dict[str, dict[str, float]],
              parents: dict[str, str | None] | None = None) -> tuple[list[str], list[str]]:
    """The design check: one line per mixture saying how it is built from another
    (`EnJa-Plus = EnDominant + 0.5×pmc_ja_mt`), and warnings: a mixture declared as extending
    another that is not a superset of it, and mixtures that select exactly the same data.

    Each mixture is related to its declared parent, else to the closest earlier mixture it
    contains, else to the closest earlier mixture at all (with what it drops)."""
    parents = parents or {}
    lines, warnings = [], []
    names = list(mixtures)
    for i, name in enumerate(names):
        mix = {s: f for s, f in mixtures[name].items() if f > 0}
        parent = parents.get(name)
        if parent in mixtures and not is_superset(mix, mixtures[parent]):
            warnings.append(f"{name} is declared to extend {parent} but is not a superset of it")
        base = parent
        if base is None and i > 0:
            base = min(names[:i], key=lambda other, mix=mix: _distance(mix, mixtures[other]))
        if base is None:
            lines.append(f"{name} = " + " + ".join(_term(s, f) for s, f in mix.items()))
            continue
        plus, minus = _difference(mix, {s: f for s, f in mixtures[base].items() if f > 0})
        if not plus and not minus:
            warnings.append(f"{name} selects exactly the same data as {base}")
        rel = "".join(f" + {t}" for t in plus) + "".join(f" − {t}" for t in minus)
        note = "" if not minus else f"   (not a superset of {base})"
        lines.append(f"{name} = {base}{rel}{note}")
    return lines, warnings


def write_design(mixtures: dict[str, dict[str, float]], parents: dict[str, str | None],
                 out_txt: str | Path) -> str:
    """The design check as text (also logged): relations, then warnings."""
    import logging

    lines, warnings = relations(mixtures, parents)
    text = "\n".join(lines) + "\n" + "".join(f"WARNING: {w}\n" for w in warnings)
    log = logging.getLogger(__name__)
    for line in lines:
        log.info("%s", line)
    for w in warnings:
        log.warning("%s", w)
    from cptmix.io import write_text

    write_text(out_txt, text)
    return text
