"""Answer priors of the demo world: could a model score without knowing the facts?

Where it sits: a check on the world's outputs (`jmedbench/{folder}/test.jsonl` and
`sft_sources/{folder}/train.jsonl`, or the same records in memory), used by
tests/test_demo.py and by anyone re-tuning the world. SFT teaches a model which strings are
answers; if the gold options of a test set were SFT targets more (or less) often than its
distractors, or some entities were gold more often than distractors, a model would gain (or
lose) accuracy from that prior alone, and CPT effects would be read through it.

`answer_balance` returns one row per option-scored task:

- entity-option tasks (MCQA with entity options): the mean number of SFT targets equal to
  the gold option vs to a distractor (`gold_sft`, `distractor_sft`), the shares never an SFT
  target (`gold_never`, `distractor_never`), and `entity_tv`, the total-variation distance
  between the distribution of entities as gold and as distractor (0: each entity is a
  distractor in proportion to how often it is the answer);
- fixed-label tasks (PubMedQA yes/no/maybe, DC, STS): `eval_label_tv` / `sft_label_tv`, the
  total-variation distance of the gold labels from uniform in the test and SFT sets.

`tier_mixing` asks the same of the corpus: the share of an entity-option task's distractors
that answer no fact of the item's own tier (`object_tiers`, from world.json). Base-tier facts
are stated in every mixture (en_base/ja_base), pmc-tier facts only by the PMC sources, and a
drug or gene answers facts of one tier; a distractor from another tier is a name some mixtures
have read and others have not, so familiarity, not knowledge, would move the choice with the
mixture.

`none_exposure` / `none_leaks` ask it of the planted-"none" tasks: every word of their items,
counted per source; a word that a source added by some mixture writes (or a fact-bearing name)
would let that mixture move a task planted to stay put.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from cptmix.demo.templates import EVERYDAY_AGES, EVERYDAY_OUTCOMES
from cptmix.demo.world import ROLES
from cptmix.tasks import DC, MCQA, STS, TASKS, gold_index, mcqa_view, prompt_and_target

ENTITY_FIELDS = ("gold_sft", "distractor_sft", "gold_never", "distractor_never", "entity_tv")
LABEL_FIELDS = ("eval_label_tv", "sft_label_tv")


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def read_world_records(world_dir: str | Path) -> tuple[dict, dict]:
    """(test records, SFT train records) by task name, from a generated world directory."""
    root = Path(world_dir)
    tests = {t.name: _read_jsonl(root / "jmedbench" / t.folder / "test.jsonl") for t in TASKS}
    train = {t.name: _read_jsonl(root / "sft_sources" / t.folder / "train.jsonl")
             for t in TASKS}
    return tests, train


def _tv(a: Counter, b: Counter) -> float:
    na, nb = sum(a.values()), sum(b.values())
    if not na or not nb:
        return 0.0
    return 0.5 * sum(abs(a[k] / na - b[k] / nb) for k in set(a) | set(b))


def _uniform_tv(labels: list[int], n: int) -> float:
    return _tv(Counter(labels), Counter(range(n)))


def answer_balance(tests: dict | str | Path, train: dict | None = None) -> list[dict]:
    """Balance of answers vs distractors per option-scored task (see the module docstring).

    `tests` and `train` map task names to records; or pass a world directory as `tests`."""
    if not isinstance(tests, dict):
        tests, train = read_world_records(tests)
    train = train or {}
    targets = Counter(prompt_and_target(t, r)[1].strip() for t in TASKS
                      for r in train.get(t.name, []))
    rows = []
    for task in TASKS:
        records = tests.get(task.name)
        if not records or task.category not in (MCQA, DC, STS):
            continue
        row: dict = {"task": task.name, "items": len(records)}
        fixed = task.category != MCQA or len({tuple(r["options"]) for r in records}) == 1
        if fixed:  # one option list (PubMedQA) or verbalised labels (DC, STS)
            n = len(mcqa_view(task, records[0])["options"]) if task.category != STS else 6
            row["eval_label_tv"] = _uniform_tv([gold_index(task, r) for r in records], n)
            row["sft_label_tv"] = _uniform_tv([gold_index(task, r)
                                               for r in train.get(task.name, [])], n)
        else:
            gold, wrong = Counter(), Counter()
            for r in records:
                for i, o in enumerate(r["options"]):
                    (gold if i == r["answer_idx"] else wrong)[o] += 1
            row["gold_sft"] = sum(targets[o] * c for o, c in gold.items()) / gold.total()
            row["distractor_sft"] = sum(targets[o] * c for o, c in wrong.items()) / wrong.total()
            row["gold_never"] = sum(c for o, c in gold.items() if not targets[o]) / gold.total()
            row["distractor_never"] = (sum(c for o, c in wrong.items() if not targets[o])
                                       / wrong.total())
            row["entity_tv"] = _tv(gold, wrong)
        rows.append(row)
    return rows


def object_tiers(world: dict | str | Path) -> dict[str, set[str]]:
    """The tiers (base | pmc | jp) of the facts each object answers, by its English and
    Japanese name, from a world's world.json (or its parsed content). A drug or gene answers
    facts of one tier; a symptom or adverse event may answer facts of several."""
    if not isinstance(world, dict):
        world = json.loads(Path(world).read_text(encoding="utf-8"))
    names = {e["id"]: (e["en"], e["ja"]) for ents in world["entities"].values() for e in ents}
    out: dict[str, set[str]] = {}
    for f in world["facts"]:
        if f["kind"] in ROLES:
            for name in names[f["args"][ROLES[f["kind"]][1]]]:
                out.setdefault(name, set()).add(f["tier"])
    return out


def tier_mixing(tests: dict, tiers: dict[str, set[str]]) -> dict[str, float]:
    """Per entity-option MCQA task: the share of distractors that answer no fact of the
    item's own tier (the record's metadata.tier; `object_tiers` gives `tiers`). 0: every
    option is a name that the same sources state as an answer, so familiarity with names
    cannot tell the answer."""
    out = {}
    for task in TASKS:
        records = tests.get(task.name)
        if not records or task.category != MCQA or len({tuple(r["options"])
                                                         for r in records}) == 1:
            continue
        other = total = 0
        for r in records:
            tier = r["metadata"]["tier"]
            for i, o in enumerate(r["options"]):
                if i != r["answer_idx"]:
                    total += 1
                    other += tier not in tiers.get(o, ())
        out[task.name] = other / total
    return out


# The everyday vocabulary the planted-"none" tasks are made of (names.COMPLAINTS etc.), the
# sources that are in every mixture of the demo design whole (reading them is the same for
# every CPT run), and the CPT sources that mixtures add (pmc_ja_mt is pmc_en translated term by
# term within a term's type, so pmc_en stands for it).
EVERYDAY_TYPES = ("complaint", "remedy", "common")
EVERY_MIXTURE = ("ja_base", "en_base")
ADDED_SOURCES = ("pmc_en", "textbooks", "parallel")
# Fact-bearing entity types: a none task naming one would move with the sources that state it.
FACT_TYPES = ("disease", "drug", "gene", "symptom", "ae", "region", "program")


def _source_texts(root: Path) -> dict[str, str]:
    texts = {name: "\n".join(d["text"] for d in _read_jsonl(root / "sources" / f"{name}.jsonl"))
             for name in ("general", *EVERY_MIXTURE, "pmc_en", "textbooks")}
    texts["parallel"] = "\n".join(p["en"] + "\n" + p["ja"] for p in
                                  _read_jsonl(root / "parallel" / "abstract_pairs.jsonl"))
    return texts


def none_exposure(world_dir: str | Path) -> list[dict]:
    """Where the words of the planted-"none" tasks (planted_effects.tsv, expected sign 0)
    are written: one row per (task, term) for every everyday term (EVERYDAY_TYPES, the age
    groups and courses) or fact-bearing entity name (FACT_TYPES) that the task's test items
    contain, with its number of occurrences in each source (columns general, ja_base,
    en_base, pmc_en, textbooks, parallel). A none task is what it claims only when none of
    its terms occurs in a source that a mixture adds (ADDED_SOURCES): `none_leaks`."""
    root = Path(world_dir)
    world = json.loads((root / "world.json").read_text(encoding="utf-8"))
    terms: dict[str, str] = {}
    for etype in (*EVERYDAY_TYPES, *FACT_TYPES):
        for e in world["entities"].get(etype, []):
            terms[e["ja"]] = terms[e["en"]] = etype
    terms.update({w: "age" for w in EVERYDAY_AGES})
    terms.update({w: "course" for w in EVERYDAY_OUTCOMES})
    texts = _source_texts(root)
    with open(root / "planted_effects.tsv", encoding="utf-8", newline="") as f:
        none_tasks = [r["task"] for r in csv.DictReader(f, delimiter="\t")
                      if r["expected_sign"] == "0"]
    by_name = {t.name: t for t in TASKS}
    ordered = sorted(terms.items())
    rows = []
    for task_name in none_tasks:
        items = _read_jsonl(root / "jmedbench" / by_name[task_name].folder / "test.jsonl")
        blob = "\n".join(json.dumps(r, ensure_ascii=False) for r in items)
        for term, etype in ordered:
            if term in blob:
                rows.append({"task": task_name, "term": term, "type": etype,
                             **{src: text.count(term) for src, text in texts.items()}})
    return rows


def none_leaks(rows: list[dict]) -> list[dict]:
    """The rows of `none_exposure` that make a planted "none" untrue: a fact-bearing name in
    the task's items, or a term that a source added by some mixture writes."""
    return [r for r in rows if r["type"] in FACT_TYPES or any(r[s] for s in ADDED_SOURCES)]


def format_balance(rows: list[dict]) -> str:
    """The rows of `answer_balance` as a TSV table."""
    cols = ("task", "items", *ENTITY_FIELDS, *LABEL_FIELDS)
    lines = ["\t".join(cols)]
    for r in rows:
        lines.append("\t".join(f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, ""))
                               for c in cols))
    return "\n".join(lines) + "\n"


def format_exposure(rows: list[dict]) -> str:
    """The rows of `none_exposure` as a TSV table, leaks (`none_leaks`) marked."""
    cols = ("task", "term", "type", "general", *EVERY_MIXTURE, *ADDED_SOURCES)
    leaks = {(r["task"], r["term"]) for r in none_leaks(rows)}
    lines = ["\t".join((*cols, "leak"))]
    lines += ["\t".join((*(str(r[c]) for c in cols),
                         "yes" if (r["task"], r["term"]) in leaks else "no")) for r in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m cptmix.demo.balance results/world
    import sys

    print(format_balance(answer_balance(sys.argv[1])), end="")
    exposure = none_exposure(sys.argv[1])
    print(f"\nplanted-none tasks: {len(exposure)} (task, term) pairs, "
          f"{len(none_leaks(exposure))} leak(s) into an added source\n")
    print(format_exposure(exposure), end="")
