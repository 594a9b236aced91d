"""Token shares → a trainable mixture: the subsample fractions and the epochs that give a sweep
point's shares at its token budget.

Corpus stage, between the counts (`count_source`) and the mixture's build: a designed mixture
(`cptmix.design.sweep_shares`) says which share `w_s` of a budget of `B` trained tokens each
source should supply; the hf backend trains `E` passes over one materialised subset, so the
shares become, for source token counts `T_s` (text tokens + one EOD per document, as the ledger
counts them, `source_token_counts`):

    n_s = w_s · B                            tokens of source s to train on
    E   = max(1, ceil(max_s n_s / T_s))      integer passes over the realised mixture
    f_s = n_s / (E · T_s)   (<= 1)           the source's subsample fraction

so that E passes over the subset `keep_document(s, ·, f_s)` give B tokens in shares w. The
arithmetic is exact (fractions.Fraction; shares are decimals), so E never rounds up by a float
error. A source would be passed over `n_s / T_s` times (`repetitions`); above
`max_repetitions` it is an error naming the config key, the mixture and the source, before
anything is built. A share of 0 leaves the source out (fraction 0).

Hash subsampling keeps whole documents, so the subset holds about, not exactly, f_s · T_s
tokens: `realised_tokens` / `realised_shares` say what it actually holds (declared vs
realised). On small sources the difference is large (the demo: up to 4 share points), so
`calibrate_fractions` moves each f_s to the hash threshold whose kept documents hold the
tokens nearest n_s / E (one document's worth at most off): still a `keep_document` fraction,
still nested, chosen from the counts alone. For the megatron backend (`pool="source"`) the shares are the blend weights and E·f_s
= n_s / T_s the passes over the whole source, which the ledger checks.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from cptmix.corpus.ledger import RepetitionError, source_sizes
from cptmix.corpus.mixture import document_key, kept
from cptmix.corpus.sources import shard_counts
from cptmix.io import write_json

log = logging.getLogger(__name__)

BUDGET_KEY = "design.sweep.token_budget"
SHARE_TOLERANCE = 1e-9


class RealiseError(ValueError):
    """Shares, token counts or a budget that cannot be realised as a mixture."""


def _exact(x) -> Fraction:
    """A share or count as an exact rational: floats by their shortest decimal repr (the
    share 0.123456 is 123456/10**6, not the binary double nearest to it)."""
    if isinstance(x, Fraction | int):
        return Fraction(x)
    return Fraction(Decimal(repr(float(x))))


def _check(name: str, shares: Mapping[str, float], source_tokens: Mapping[str, int],
           budget: int, key: str) -> None:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise RealiseError(f"{key}: must be a positive integer number of tokens, got {budget!r}")
    bad = {s: w for s, w in shares.items() if not (math.isfinite(w) and 0 <= w <= 1)}
    if bad:
        s, w = next(iter(bad.items()))
        raise RealiseError(f"mixture {name}: source {s} has share {w!r}, not in [0, 1]")
    total = math.fsum(shares.values())
    if abs(total - 1) > SHARE_TOLERANCE:
        raise RealiseError(f"mixture {name}: shares sum to {total!r}, not 1")
    missing = [s for s, w in shares.items() if w > 0 and s not in source_tokens]
    if missing:
        raise RealiseError(f"mixture {name}: no token count for source(s) {', '.join(missing)}")
    empty = [s for s, w in shares.items() if w > 0 and source_tokens[s] <= 0]
    if empty:
        raise RealiseError(f"mixture {name}: source {empty[0]} holds no tokens but has share "
                           f"{shares[empty[0]]!r}")


def realise_shares(name: str, shares: Mapping[str, float], source_tokens: Mapping[str, int],
                   budget: int, max_repetitions: float | None = None,
                   key: str = BUDGET_KEY) -> dict:
    """One mixture's shares realised for a budget of `budget` trained tokens (module
    docstring). Returns, per source in `shares` order: `fractions` (f_s), `expected_tokens`
    (n_s = w_s · B, tokens trained), `repetitions` (n_s / T_s, passes over the source), and
    `epochs` (E), `token_budget` (B), `mixture`, `shares`.

    Raises `RepetitionError` (a ValueError) naming `key` (the config key of the budget), the
    mixture and the source when some n_s / T_s exceeds `max_repetitions` (None: no limit);
    `RealiseError` for shares that are not a distribution or sources without counts."""
    _check(name, shares, source_tokens, budget, key)
    need = {s: _exact(w) * budget for s, w in shares.items()}
    reps = {s: (need[s] / int(source_tokens[s]) if need[s] else Fraction(0)) for s in shares}
    if max_repetitions is not None:
        over = [s for s in shares if reps[s] > _exact(max_repetitions)]
        if over:
            s = max(over, key=lambda s: reps[s])
            also = f" (also: {', '.join(x for x in over if x != s)})" if len(over) > 1 else ""
            raise RepetitionError(
                f"{key}: mixture {name} needs {float(need[s]):,.0f} tokens of source {s} (share "
                f"{shares[s]:g} of {budget:,}), {float(reps[s]):.2f} passes over its "
                f"{int(source_tokens[s]):,} tokens, more than max_repetitions={max_repetitions}"
                f"{also}. Lower the token budget or the source's upper bound "
                f"(design.sweep.bounds.{s}; `share_caps` gives the largest share each source "
                f"can take).")
    epochs = max(1, math.ceil(max(reps.values())))
    return {
        "mixture": name,
        "token_budget": budget,
        "epochs": epochs,
        "shares": {s: float(w) for s, w in shares.items()},
        "fractions": {s: float(reps[s] / epochs) for s in shares},
        "expected_tokens": {s: float(need[s]) for s in shares},
        "repetitions": {s: float(reps[s]) for s in shares},
    }


def share_caps(source_tokens: Mapping[str, int], budget: int,
               max_repetitions: float) -> dict[str, float]:
    """The largest share each source can take at `budget` without being passed over more
    than `max_repetitions` times: min(1, max_repetitions · T_s / B) (rounded down to
    1e-6, the share grid of `cptmix.design`, so a capped share stays realisable)."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise RealiseError(f"{BUDGET_KEY}: must be a positive integer number of tokens, got "
                           f"{budget!r}")
    caps = {}
    for s, t in source_tokens.items():
        cap = min(Fraction(1), _exact(max_repetitions) * int(t) / budget)
        caps[s] = math.floor(cap * 10**6) / 10**6
    return caps


def source_token_counts(counts: Mapping) -> dict[str, int]:
    """T_s per source: its text tokens plus one EOD per document, summed over its shards
    (`counts[source]`: a counts table, a counts TSV, or its shards; `shard_counts`), as the
    ledger and the trainer's packing count them."""
    return {s: sum(source_sizes(s, 1.0, t)["source_tokens"]
                   for t in shard_counts(entry).values())
            for s, entry in counts.items()}


def realised_tokens(fractions: Mapping[str, float], counts: Mapping) -> dict[str, int]:
    """The tokens (text + EODs) the subset at `fractions` holds per source: the documents
    `cptmix.corpus.mixture.kept` selects, counted, summed over shards; 0 for fraction 0."""
    return {s: (sum(source_sizes(s, f, t)["declared_tokens"]
                    for t in shard_counts(counts[s]).values()) if f > 0 else 0)
            for s, f in fractions.items()}


def realised_shares(fractions: Mapping[str, float], counts: Mapping) -> dict[str, float]:
    """The token shares the subset at `fractions` really holds (`realised_tokens`,
    normalised): compare with the declared shares of `realise_shares`."""
    tokens = realised_tokens(fractions, counts)
    total = sum(tokens.values())
    if total == 0:
        raise RealiseError(f"the fractions {dict(fractions)} select no tokens")
    return {s: n / total for s, n in tokens.items()}


def _document_keys(source: str, ids) -> np.ndarray:
    """The value in [0, 1) that `keep_document` compares with the fraction, per document."""
    return np.array([document_key(source, i) for i in ids], dtype=float)


def calibrate_fractions(realisation: Mapping, counts: Mapping) -> dict:
    """`realise_shares`' result with each fraction f_s in (0, 1) replaced by the hash threshold
    whose kept documents hold the tokens (text + EOD) nearest the per-epoch target n_s / E,
    keeping at least one document: a `keep_document` fraction like any other (nested, stable),
    chosen from the counts. The arithmetic fractions stay as `nominal_fractions`; fractions 0
    and 1 are kept as they are."""
    epochs = realisation["epochs"]
    fractions = {}
    for s, f in realisation["fractions"].items():
        if f <= 0 or f >= 1:
            fractions[s] = f
            continue
        table = pd.concat(list(shard_counts(counts[s]).values()), ignore_index=True)
        keys = _document_keys(s, table["id"])
        order = np.argsort(keys, kind="stable")
        cum = np.cumsum(table["tokens"].to_numpy()[order] + 1)  # + one EOD per document
        target = realisation["expected_tokens"][s] / epochs
        k = int(np.argmin(np.abs(cum - target))) + 1  # documents kept, >= 1
        fractions[s] = 1.0 if k == len(table) else float(keys[order[k]])
        if len(kept(s, table, fractions[s])) != k:
            raise RealiseError(f"source {s}: the hash threshold {fractions[s]!r} does not keep "
                               f"the {k} documents it was chosen for (keep_document changed?)")
    return {**realisation, "fractions": fractions,
            "nominal_fractions": dict(realisation["fractions"])}


REALISED_FIELDS = ("mixture", "token_budget", "epochs", "shares", "fractions",
                   "nominal_fractions", "expected_tokens", "repetitions", "source_tokens",
                   "realised_tokens", "realised_shares")


def _proposal_shares(path: str | Path, sources: list[str]) -> dict[str, float]:
    """The `proposed` shares of a proposal.json, over exactly the sweep's sources."""
    try:
        rec = json.loads(Path(path).read_text(encoding="utf-8"))
        shares = rec["proposed"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RealiseError(f"{path}: no readable field 'proposed' ({err})") from None
    if not isinstance(shares, Mapping) or set(shares) != set(sources):
        raise RealiseError(f"{path}: field 'proposed' must give a share for each of "
                           f"{', '.join(sources)}, got {shares!r}")
    return {s: float(shares[s]) for s in sources}


def write_realised(name: str, out: str | Path, *, counts: Mapping, budget: int,
                   max_repetitions: float | None, shares: Mapping[str, float] | None = None,
                   proposal: str | Path | None = None) -> dict:
    """A designed mixture's realisation record (realised.json): its shares (given, or the
    `proposed` shares of `proposal`), realised at `budget` (`realise_shares`), the fractions
    calibrated to the hash thresholds (`calibrate_fractions`), and what the subset holds
    (`realised_tokens`, `realised_shares`). `counts[source]`: each sweep source's counts
    table(s). Nothing is written when a check fails."""
    if (shares is None) == (proposal is None):
        raise RealiseError(f"mixture {name}: give exactly one of shares or proposal")
    sources = list(counts)
    if proposal is not None:
        shares = _proposal_shares(proposal, sources)
    tokens = source_token_counts(counts)
    rec = calibrate_fractions(realise_shares(name, dict(shares), tokens, budget,
                                             max_repetitions), counts)
    got = realised_tokens(rec["fractions"], counts)
    total = sum(got.values())
    rec.update(source_tokens=tokens, realised_tokens=got,
               realised_shares={s: n / total for s, n in got.items()})
    for s, f in rec["fractions"].items():
        log.info("%s: %s share %.6f -> fraction %.6f x %d epochs (%d of %d tokens, realised "
                 "share %.6f)", name, s, rec["shares"][s], f, rec["epochs"], got[s], tokens[s],
                 rec["realised_shares"][s])
    write_json(out, {k: rec[k] for k in REALISED_FIELDS})
    return rec


def read_realised(path: str | Path) -> dict:
    """A realisation record as `write_realised` wrote it (every field checked present). A
    missing file raises FileNotFoundError as such: Snakemake then evaluates a params function
    that reads it again once the job that writes it has run."""
    try:
        rec = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as err:
        raise RealiseError(f"{path}: not a readable realisation record ({err})") from None
    missing = [k for k in REALISED_FIELDS if k not in rec]
    if missing:
        raise RealiseError(f"{path}: field(s) {', '.join(missing)} missing")
    return rec


def trainable_fractions(rec: Mapping) -> dict[str, float]:
    """The fractions a mixture's rules use: the realisation's, sources at 0 left out (they
    select nothing, and a blend cannot weigh them)."""
    return {s: float(f) for s, f in rec["fractions"].items() if f > 0}
