"""Does a demo model *know* the facts an MCQA task asks, and can the MCQA format read them out?

A measurement script for calibrating the demo world (issue 12); not part of the workflow.
For each model directory and English MCQA task it scores the task's own options three ways
and reports top-1 accuracy per fact tier (base | pmc):

- ``statement``: after a statement prefix of the asked fact, cut from the world's own
  English templates at the object slot (en_base's and pmc_en's wordings, e.g. "{disease} is
  treated with"), averaged over those templates: knowledge in the form CPT states it;
- ``question``: med-eval's prompt without the option block ("Question: ...\\nAnswer:");
- ``mcqa``: med-eval's prompt as evaluation scores it (question, options, "Answer: ").

A model that knows a fact scores high on ``statement``; JMedBench's metric moves only when
``mcqa`` follows. Usage (a finished results folder; model dirs relative to it or absolute):

    PYTHONPATH=src python benchmarks/mcqa_extraction.py --results RUN/results \\
        --models models/cpt/EnDominant/seed-1234 models/sft/EnDominant/seed-1234
"""

from __future__ import annotations

import argparse
import json
import string
from pathlib import Path

import numpy as np
import torch

from cptmix.corpus.tokenizer import load_tokenizer
from cptmix.demo.templates import EN_BASE, FACT_PAIRS
from cptmix.evaluate.scoring import score_options
from cptmix.tasks import get_task, gold_index, prompt_and_choices
from cptmix.train.hf import load_model

TASKS = ("MedQA", "USMLEQA", "MedMCQA", "MMLU-Medical")
OBJECT_SLOT = {"treats": "drug", "gene": "gene", "symptom": "symptom", "ae": "ae"}


def statement_prefixes(kind: str) -> list[str]:
    """The English templates of `kind` cut just before the object slot, where the subject
    comes first (the direction a question asks)."""
    obj, subj = OBJECT_SLOT[kind], "disease" if kind != "ae" else "drug"
    out = []
    for template in [*EN_BASE[kind], *(en for en, _ in FACT_PAIRS[kind])]:
        slots = [f for _, f, _, _ in string.Formatter().parse(template) if f]
        if obj in slots and subj in slots and slots.index(subj) < slots.index(obj):
            out.append(template[:template.index("{" + obj + "}")])
    return out


def top1(model, tok, requests, golds) -> np.ndarray:
    scores = score_options(model, tok, requests, batch_size=32)
    return np.array([int(np.argmax([s.loglik for s in sc])) == g
                     for sc, g in zip(scores, golds, strict=True)])


def with_space(prefix: str, options: list[str]) -> tuple[str, list[str]]:
    """A prefix ending in a space gives the space to the options (one token boundary)."""
    if prefix.endswith(" "):
        return prefix.rstrip(), [" " + o for o in options]
    return prefix, options


def measure(model_dir: Path, results: Path, tasks) -> list[dict]:
    world = json.loads((results / "world/world.json").read_text(encoding="utf-8"))
    facts = {f["id"]: f for f in world["facts"]}
    names = {e["id"]: e["en"] for ents in world["entities"].values() for e in ents}
    tok, model = load_tokenizer(model_dir), load_model(model_dir)
    model.eval()
    rows = []
    for name in tasks:
        task = get_task(name)
        path = results / "world/jmedbench" / task.folder / "test.jsonl"
        recs = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
        recs = [r for r in recs if r["metadata"]["kind"] in OBJECT_SLOT]
        golds = [gold_index(task, r) for r in recs]
        tiers = np.array([r["metadata"]["tier"] for r in recs])
        hits = {"mcqa": top1(model, tok, [prompt_and_choices(task, r) for r in recs], golds),
                "question": top1(model, tok, [with_space(f"Question: {r['question']}\nAnswer: ",
                                                         r["options"]) for r in recs], golds)}
        per_template = []
        for k in range(max(len(statement_prefixes(kd)) for kd in OBJECT_SLOT)):
            reqs = []
            for r in recs:
                f = facts[r["metadata"]["fact"]]
                prefixes = statement_prefixes(f["kind"])
                prefix = prefixes[k % len(prefixes)]
                values = {role: names[eid] for role, eid in f["args"].items()}
                reqs.append(with_space(prefix.format(**values), r["options"]))
            per_template.append(top1(model, tok, reqs, golds))
        hits["statement"] = np.mean(per_template, axis=0)
        for tier in ("base", "pmc"):
            sel = tiers == tier
            if sel.any():
                rows.append({"model": str(model_dir), "task": name, "tier": tier,
                             "n": int(sel.sum()), "chance": float(np.mean(
                                 [1 / len(r["options"]) for r, s in zip(recs, sel) if s])),
                             **{k: float(v[sel].mean()) for k, v in hits.items()}})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cols = ("model", "task", "tier", "n", "chance", "statement", "question", "mcqa")
    print("\t".join(cols))
    for m in a.models:
        path = Path(m) if Path(m).is_absolute() else a.results / m
        for row in measure(path, a.results, a.tasks):
            print("\t".join(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c])
                            for c in cols), flush=True)


if __name__ == "__main__":
    main()
