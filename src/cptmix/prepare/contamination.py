"""Contamination check of the SFT set against the 27 JMedBench evaluation sets (appendix D).

Part of the prepare stage (`build_sft`), before training: an SFT item that restates an
evaluation item inflates exactly the scores the study compares, so it is removed and counted.

What is compared is an item's *content* — the question and options of an MCQA record, the
document(s) of a DC/STS record, both sides of an MT pair, the sentence of an NER record (for
free-form instruction data: its prompt) — not the prompt template around it, whose shared
wording would make unrelated items look alike.

Two tests, both on text normalised by Unicode NFKC, case folding and whitespace collapsing:
- exact: equal normalised content (a hash lookup);
- near: Jaccard similarity of the sets of character n-grams >= `threshold`. Candidates come
  from MinHash LSH (`datasketch`, deterministic CRC-32 shingle hashes and a fixed seed),
  tuned to a lower threshold than `threshold` so that true near-duplicates are not missed;
  every candidate is then confirmed with the exact Jaccard of the n-gram sets, so a near-miss
  below the threshold is never removed because of MinHash's estimation error.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cptmix.tasks import DC, MT, NER, STS, TASKS, Task, get_task, has_own_options, record_context

_WS = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Unicode NFKC, case-folded, runs of whitespace collapsed to one space, stripped."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def shingles(normalized: str, n: int) -> set[str]:
    """Character n-grams of a normalised text (the whole text when shorter than n)."""
    if len(normalized) <= n:
        return {normalized}
    return {normalized[i:i + n] for i in range(len(normalized) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def record_content(task: Task, record: dict) -> str:
    """The part of a JMedBench-style record that makes it *this* item (see module doc)."""
    if has_own_options(task, record):
        # PubMedQA and the published DC sets repeat one question and option list on every
        # item; what tells items apart is the passage in metadata["context"].
        context = record_context(record)
        return "\n".join([*([context] if context else []), record["question"], *record["options"]])
    if task.category in (DC, STS):
        return "\n".join(x for x in (record["premise"], record.get("hypothesis")) if x)
    if task.category == MT:
        return f"{record['english']}\n{record['japanese']}"
    if task.category == NER:
        return record["text"]
    raise ValueError(f"{task.name}: unknown category {task.category}")


@dataclass
class Item:
    """One compared item: an SFT example or an evaluation record."""

    id: str
    content: str
    group: str  # SFT: its source; eval: its task name
    norm: str = field(init=False)

    def __post_init__(self) -> None:
        self.norm = normalize(self.content)


def load_eval_items(data_dir: str | Path, tasks: Iterable[str] | None = None) -> list[Item]:
    """Every test record of the given tasks (default: all 27) as an `Item`; EJMMT's folder is
    read once per direction but both directions have the same content, so it is kept once."""
    from cptmix.records import load_records

    names = [t.name for t in TASKS] if tasks is None else list(tasks)
    items, seen_folders = [], set()
    for name in names:
        task = get_task(name)
        if task.category == MT and task.folder in seen_folders:
            continue
        seen_folders.add(task.folder)
        for rec in load_records(task, data_dir, split="test"):
            items.append(Item(f"{name}/{rec['sample_id']}", record_content(task, rec), name))
    return items


@dataclass(frozen=True)
class Hit:
    sft_id: str
    source: str
    kind: str  # exact | near
    task: str
    eval_id: str
    similarity: float


class ContaminationIndex:
    """The evaluation items, indexed for exact and near-duplicate lookups."""

    def __init__(self, eval_items: list[Item], *, ngram: int = 5, threshold: float = 0.9,
                 num_perm: int = 128) -> None:
        from datasketch import MinHashLSH

        if not 0 < threshold <= 1:
            raise ValueError(f"contamination.threshold must be in (0, 1], got {threshold}")
        if ngram < 1:
            raise ValueError(f"contamination.ngram must be >= 1, got {ngram}")
        self.ngram, self.threshold, self.num_perm = ngram, threshold, num_perm
        self.items = eval_items
        self.exact: dict[str, list[int]] = {}
        for i, it in enumerate(eval_items):
            self.exact.setdefault(it.norm, []).append(i)
        self.sets = [shingles(it.norm, ngram) for it in eval_items]
        # Candidate generation at a lower threshold, weighted against false negatives; the
        # exact Jaccard decides afterwards.
        self.lsh = MinHashLSH(threshold=max(0.05, threshold - 0.2), num_perm=num_perm,
                              weights=(0.2, 0.8))
        for i, mh in enumerate(self._minhashes(self.sets)):
            self.lsh.insert(i, mh, check_duplication=False)

    def _minhashes(self, sets: list[set[str]]):
        from datasketch import MinHash

        # A MinHash is a minimum over the set: the order of the shingles does not matter.
        return MinHash.bulk([[s.encode() for s in x] for x in sets],
                            num_perm=self.num_perm, seed=1, hashfunc=zlib.crc32)

    def check(self, items: list[Item], against: dict[str, set[str] | None]) -> list[Hit]:
        """The best hit (exact before near, then highest similarity) of each SFT item that
        overlaps an evaluation item of the tasks its source is checked against
        (`against[source]`: a set of task names, None = all tasks; a source missing from
        `against` is not checked)."""
        checked = [it for it in items if it.group in against]
        hits: list[Hit] = []
        near_todo = []
        for it in checked:
            allowed = against[it.group]
            exact = [j for j in self.exact.get(it.norm, ())
                     if allowed is None or self.items[j].group in allowed]
            if exact:
                ev = self.items[exact[0]]
                hits.append(Hit(it.id, it.group, "exact", ev.group, ev.id, 1.0))
            else:
                near_todo.append(it)
        sets = [shingles(it.norm, self.ngram) for it in near_todo]
        for it, s, mh in zip(near_todo, sets, self._minhashes(sets)):
            allowed = against[it.group]
            best = None
            for j in sorted(self.lsh.query(mh)):
                if allowed is not None and self.items[j].group not in allowed:
                    continue
                sim = jaccard(s, self.sets[j])
                if sim >= self.threshold and (best is None or sim > best[0]):
                    best = (sim, j)
            if best is not None:
                ev = self.items[best[1]]
                hits.append(Hit(it.id, it.group, "near", ev.group, ev.id, round(best[0], 6)))
        order = {it.id: k for k, it in enumerate(items)}
        return sorted(hits, key=lambda h: order[h.sft_id])


def naive_check(items: list[Item], eval_items: list[Item], ngram: int,
                threshold: float) -> set[str]:
    """Ids of the SFT items with an exact or near duplicate, by comparing every pair (the
    baseline `ContaminationIndex` must agree with; quadratic, for tests and benchmarks)."""
    ev = [(e.norm, shingles(e.norm, ngram)) for e in eval_items]
    out = set()
    for it in items:
        s = shingles(it.norm, ngram)
        if any(it.norm == n or jaccard(s, es) >= threshold for n, es in ev):
            out.add(it.id)
    return out


def removal_table(hits: list[Hit], sources: list[str], tasks: list[str]):
    """Removals per source × task (rows for every pair, zeros included), as a DataFrame with
    columns source, task, exact, near, removed."""
    import pandas as pd

    counts = {(s, t): [0, 0] for s in sources for t in tasks}
    for h in hits:
        counts.setdefault((h.source, h.task), [0, 0])[0 if h.kind == "exact" else 1] += 1
    rows = [{"source": s, "task": t, "exact": e, "near": n, "removed": e + n}
            for (s, t), (e, n) in counts.items()]
    return pd.DataFrame(rows, columns=["source", "task", "exact", "near", "removed"])

