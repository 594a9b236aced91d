"""Blend weights and the realised-composition ledger of a mixture.

Sits after `count_source` (it needs only the per-source counts, never the text) and before any
training job. Two outputs per mixture:

* `blend.json` — the `(prefix, weight)` list, one entry per shard of each source (a sharded
  source is listed shard by shard, never merged), that megatron-core's
  `BlendedMegatronDatasetBuilder` consumes (`GPTDatasetConfig(blend=(prefixes, weights))`).
  The weights are *derived* from
  the declared composition, never typed by hand: the weight of a source is its share of the
  mixture's tokens, i.e. the tokens of the documents `keep_document` selects at the source's
  fraction (plus one EOD per document, since megatron samples EODs too), normalised. The
  mixture's one-epoch size is therefore exactly the Table C.1 total (+ EODs).

* `ledger.tsv` — for a token budget (epochs over the mixture, or N tokens), per source: the
  unique tokens available, the tokens seen, how many of them are repeats, and the epochs over
  the source. A budget that needs more than `max_repetitions` passes over some source raises
  `RepetitionError` naming the mixture and the source, before anything trains.

Fractions below 1 and megatron (`pool="source"`): megatron samples a blended source by weight
from the *whole* indexed source (it has no notion of our hash-selected subset), so "half of
pmc_ja_mt" becomes "pmc_ja_mt at half the weight its full token count would give". Per mixture
epoch the model sees as many pmc_ja_mt tokens as the declared half holds, drawn from the whole
source in megatron's seeded shuffle, so the unique tokens available are the whole source's.
The hf backend (`pool="subset"`) instead trains on the materialised subset (`corpus.jsonl`),
whose unique tokens are exactly the declared ones. The ledger states which pool it assumes.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pandas as pd

from cptmix.corpus.mixture import kept
from cptmix.corpus.sources import shard_counts
from cptmix.io import write_json, write_tsv

log = logging.getLogger(__name__)

POOLS = ("source", "subset")
LEDGER_COLUMNS = [
    "source", "fraction", "weight", "source_tokens", "declared_tokens", "available_tokens",
    "tokens_seen", "unique_tokens_seen", "repeated_tokens", "epochs",
]


class RepetitionError(ValueError):
    """A token budget would repeat a source more often than `max_repetitions` allows."""


def source_sizes(source: str, fraction: float, counts: pd.DataFrame) -> dict[str, int]:
    """Documents and tokens (text + one EOD per document) of a whole source (or shard) and of
    the subset that `keep_document` selects at `fraction`."""
    sub = kept(source, counts, fraction) if fraction > 0 else counts.iloc[:0]
    return {
        "source_documents": len(counts),
        "source_tokens": int(counts["tokens"].sum()) + len(counts),
        "declared_documents": len(sub),
        "declared_tokens": int(sub["tokens"].sum()) + len(sub),
    }


PREFIX_TEMPLATE = "results/corpus/{source}/{shard}/tokens"
SIZE_KEYS = ("source_documents", "source_tokens", "declared_documents", "declared_tokens")


def blend_spec(mixture: str, fractions: dict[str, float], counts: dict,
               prefix_template: str = PREFIX_TEMPLATE) -> dict:
    """The blend of one mixture: one entry per shard of each source, weight = the shard's
    share of the declared tokens; shards selecting nothing are left out (megatron rejects
    weight 0). `counts[source]` is a counts table, a TSV, or its shards (`shard_counts`).

    `sources` sums the shards per source (the ledger's rows); `shards` lists every blend
    entry; `blend` is `[[prefix, weight], ...]` in the same order as `shards`."""
    shards, rows = [], []
    for source, frac in fractions.items():
        row = {"source": source, "fraction": frac, "shards": 0, **dict.fromkeys(SIZE_KEYS, 0)}
        for shard, table in shard_counts(counts[source]).items():
            sizes = source_sizes(source, frac, table)
            for k in SIZE_KEYS:
                row[k] += sizes[k]
            if sizes["declared_tokens"] > 0:
                shards.append({"source": source, "shard": shard, "fraction": frac,
                               "prefix": prefix_template.format(source=source, shard=shard),
                               **sizes})
                row["shards"] += 1
        if row["declared_tokens"] > 0:
            rows.append(row)
    total = sum(r["declared_tokens"] for r in rows)
    if total == 0:
        raise ValueError(f"mixture {mixture}: selects no tokens (fractions {fractions})")
    for r in (*rows, *shards):
        r["weight"] = r["declared_tokens"] / total
    return {
        "mixture": mixture,
        "epoch_tokens": total,  # one pass over the declared mixture, EODs included
        "blend": [[r["prefix"], r["weight"]] for r in shards],
        "sources": rows,
        "shards": shards,
    }


def write_blend(path: str | Path, spec: dict) -> None:
    write_json(path, spec)


def read_blend(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def megatron_blend(spec: dict) -> tuple[list[str], list[float]]:
    """`(prefixes, weights)` as `GPTDatasetConfig(blend=...)` takes it."""
    return [p for p, _ in spec["blend"]], [float(w) for _, w in spec["blend"]]


def megatron_data_path(spec: dict) -> list[str]:
    """The same blend as Megatron-LM's `--data-path w1 p1 w2 p2 ...` arguments."""
    return [x for p, w in spec["blend"] for x in (repr(float(w)), p)]


def budget_tokens(spec: dict, epochs: float | None = None, tokens: int | None = None) -> int:
    """A token budget: `tokens` outright, or `epochs` passes over the declared mixture."""
    if (epochs is None) == (tokens is None):
        raise ValueError("give exactly one of epochs or tokens as the token budget")
    if tokens is not None:
        if tokens <= 0:
            raise ValueError(f"token budget must be positive, got {tokens}")
        return int(tokens)
    if epochs <= 0:
        raise ValueError(f"token budget must be positive, got {epochs} epochs")
    return round(epochs * spec["epoch_tokens"])


def token_ledger(spec: dict, budget: int, pool: str = "source",
           max_repetitions: float | None = None) -> pd.DataFrame:
    """Per source: tokens available and seen, unique vs repeated, epochs over the source.

    Tokens seen = budget × weight (what megatron's blend draws in expectation; its realised
    counts differ by under one sample per source). Unique seen = min(seen, available): a lower
    bound on repeats, exact when each pass over a source completes before the next starts.
    Raises `RepetitionError` when a source would be passed over more than `max_repetitions`
    times.
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    rows = []
    for s in spec["sources"]:
        available = s["source_tokens"] if pool == "source" else s["declared_tokens"]
        seen = round(budget * s["weight"])
        unique = min(seen, available)
        rows.append({
            "source": s["source"], "fraction": s["fraction"], "weight": s["weight"],
            "source_tokens": s["source_tokens"], "declared_tokens": s["declared_tokens"],
            "available_tokens": available, "tokens_seen": seen, "unique_tokens_seen": unique,
            "repeated_tokens": seen - unique, "epochs": seen / available,
        })
    df = pd.DataFrame(rows, columns=LEDGER_COLUMNS)
    if max_repetitions is not None:
        over = df[df.epochs > max_repetitions + 1e-9]
        if len(over):
            r = over.iloc[0]
            raise RepetitionError(
                f"mixture {spec['mixture']}: source {r.source} would be read {r.epochs:.2f} times "
                f"({r.tokens_seen:,} tokens seen of {r.available_tokens:,} unique, pool={pool}) "
                f"for a budget of {budget:,} tokens, more than max_repetitions={max_repetitions}"
                f"{' (also: ' + ', '.join(over.source.iloc[1:]) + ')' if len(over) > 1 else ''}. "
                f"Lower corpus.token_budget (or the source's fraction) or raise "
                f"corpus.max_repetitions.")
    return df


def format_ledger(mixture: str, df: pd.DataFrame, budget: int, pool: str) -> str:
    """The ledger as an aligned text table, for the job log (read before training starts)."""
    head = f"ledger of {mixture}: budget {budget:,} tokens, pool={pool}"
    return head + "\n" + df.to_string(index=False, float_format=lambda x: f"{x:.4f}")


def write_ledger(mixture: str, fractions: dict[str, float], counts: dict,
                 blend_json: str | Path, ledger_tsv: str | Path, *, epochs: float | None = None,
                 tokens: int | None = None, pool: str = "source",
                 max_repetitions: float | None = None,
                 prefix_template: str = PREFIX_TEMPLATE) -> pd.DataFrame:
    """Blend + ledger of one mixture, both written only if the budget is feasible."""
    spec = blend_spec(mixture, fractions, counts, prefix_template)
    budget = budget_tokens(spec, epochs=epochs, tokens=tokens)
    df = token_ledger(spec, budget, pool=pool, max_repetitions=max_repetitions)
    log.info("%s", format_ledger(mixture, df, budget, pool))
    spec["budget_tokens"] = budget
    spec["pool"] = pool
    write_blend(blend_json, spec)
    write_tsv(ledger_tsv, df, float_format="%.8f")
    return df


def ledger_tokens(ledger_tsv: str | Path) -> int:
    """Tokens a mixture's budget trains: the ledger's tokens seen, summed over its sources."""
    return int(pd.read_csv(ledger_tsv, sep="\t")["tokens_seen"].sum())


def num_samples(budget: int, sequence_length: int) -> int:
    """Megatron samples (sequences) covering a token budget: each sample reads
    `sequence_length` + 1 tokens but advances by `sequence_length`."""
    return max(1, math.ceil(budget / sequence_length))
