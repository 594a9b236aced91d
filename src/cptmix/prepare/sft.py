"""The SFT instruction set: declared sources -> question/answer pairs -> deduplicated,
decontaminated JSONL with statistics (paper appendix D).

Sits in the prepare stage, before `train_sft`. Each source in `sft.sources` is either
- ``jmedbench``: a directory in JMedBench layout (`{task_folder}/{split}.jsonl`, e.g. the
  MedQA/PubMedQA/MedMCQA train sets, their Japanese translations, national-exam questions in
  IgakuQA's shape); each record becomes the task's own prompt and gold answer
  (`cptmix.tasks.prompt_and_target`), i.e. the format the model is evaluated in; or
- ``instruction``: a JSONL file (e.g. llm-jp's instruction data) whose records a
  `prompt_template` / `response_template` (Python format strings over the record's fields,
  default "{prompt}" / "{response}") turn into a pair.
Items repeating an earlier item's prompt (after normalisation) are dropped; items that overlap
an evaluation item are removed (`cptmix.prepare.contamination`, per source `contamination`:
`check` on by default, `against` all tasks or a list); then the tokenizer's chat template, when
it has one, wraps each prompt (`chat_template: auto | never | always`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from cptmix.io import read_jsonl, write_jsonl, write_tsv
from cptmix.prepare.contamination import (
    ContaminationIndex,
    Hit,
    Item,
    load_eval_items,
    normalize,
    record_content,
    removal_table,
)
from cptmix.tasks import TASK_NAMES, get_task, prompt_and_target

log = logging.getLogger(__name__)
FORMATS = ("jmedbench", "instruction")


def _tasks(spec: dict, where: str) -> list[str]:
    tasks = spec.get("tasks", "all")
    names = list(TASK_NAMES) if tasks == "all" else list(tasks)
    for name in names:
        if name not in TASK_NAMES:
            raise ValueError(f"{where}.tasks: unknown task {name!r}")
    return names


def load_source(name: str, spec: dict) -> list[dict]:
    """The examples of one source: {"id", "source", "task", "prompt", "response", "content"}."""
    from cptmix.records import load_records, task_data_path

    where = f"sft.sources.{name}"
    fmt, path = spec.get("format"), spec.get("path")
    if fmt not in FORMATS:
        raise ValueError(f"{where}.format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if not path or not Path(path).exists():
        raise FileNotFoundError(f"{where}.path: {path} does not exist")
    out = []
    if fmt == "jmedbench":
        split, seen_folder = spec.get("split", "train"), set()
        names = _tasks(spec, where)
        explicit = spec.get("tasks", "all") != "all"
        for task_name in names:
            task = get_task(task_name)
            if not task_data_path(task, path, split).exists() and not explicit:
                continue  # "all": the tasks this directory has a split for
            seen_folder.add(task.folder)
            for rec in load_records(task, path, split=split):
                prompt, target = prompt_and_target(task, rec)
                out.append({"id": f"{name}:{task_name}:{rec['sample_id']}", "source": name,
                            "task": task_name, "prompt": prompt, "response": target,
                            "content": record_content(task, rec)})
        if not seen_folder:
            raise FileNotFoundError(f"{where}.path: {path} has no {split}.jsonl for any of "
                                    f"the tasks {', '.join(names)}")
        return out
    prompt_t = spec.get("prompt_template", "{prompt}")
    response_t = spec.get("response_template", "{response}")
    for i, rec in enumerate(read_jsonl(path), 1):
        try:
            prompt, response = prompt_t.format_map(rec), response_t.format_map(rec)
        except KeyError as exc:
            raise ValueError(f"{path}:{i}: missing field {exc.args[0]!r} used by "
                             f"{where}.prompt_template/response_template") from None
        if not prompt.strip() or not response.strip():
            raise ValueError(f"{path}:{i}: empty prompt or response after applying "
                             f"{where}'s templates")
        out.append({"id": f"{name}:{rec.get('id', i)}", "source": name,
                    "task": spec.get("task", ""), "prompt": prompt, "response": response,
                    "content": prompt})
    return out


def _load_tokenizer(path):
    from transformers import AutoTokenizer

    if not Path(path, "tokenizer.json").exists() and not Path(
            path, "tokenizer_config.json").exists():
        raise FileNotFoundError(f"sft: {path} is not a tokenizer directory (no tokenizer.json)")
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def chat_wrap(tokenizer, prompt: str, mode: str) -> str:
    """`prompt` as the user turn of the tokenizer's chat template (`mode` auto: when it has
    one; never; always: an error if it has none)."""
    has = getattr(tokenizer, "chat_template", None) is not None
    if mode == "never" or (mode == "auto" and not has):
        return prompt
    if not has:
        raise ValueError("sft.chat_template: 'always' but the tokenizer has no chat template")
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)


def build_sft(sources: dict[str, dict], *, eval_data_dir: str | Path, tokenizer: str | Path,
              out_jsonl: str | Path, stats_tsv: str | Path, contamination_tsv: str | Path,
              removed_jsonl: str | Path, eval_tasks: list[str] | None = None, ngram: int = 5,
              threshold: float = 0.9, num_perm: int = 128, chat_template: str = "never") -> dict:
    """Build the SFT set (see the module doc); returns the per-source statistics."""
    import pandas as pd

    if not sources:
        raise ValueError("sft.sources: at least one source is required")
    examples, read = [], {}
    for name, spec in sources.items():
        exs = load_source(name, spec)
        read[name] = len(exs)
        examples += exs
        log.info("%s: %d examples", name, len(exs))
    # Within the set: the first item with a given (normalised) prompt wins.
    seen, unique, dups = set(), [], dict.fromkeys(sources, 0)
    for ex in examples:
        key = normalize(ex["prompt"])
        if key in seen:
            dups[ex["source"]] += 1
            continue
        seen.add(key)
        unique.append(ex)
    against = {}
    for name, spec in sources.items():
        cfg = spec.get("contamination") or {}
        if cfg.get("check", True):
            tasks = cfg.get("against", "all")
            against[name] = None if tasks == "all" else set(_tasks({"tasks": tasks},
                                                                   f"sft.sources.{name}"))
    hits: list[Hit] = []
    eval_task_names = list(eval_tasks) if eval_tasks is not None else list(TASK_NAMES)
    if against:
        eval_items = load_eval_items(eval_data_dir, eval_task_names)
        index = ContaminationIndex(eval_items, ngram=ngram, threshold=threshold,
                                   num_perm=num_perm)
        hits = index.check([Item(ex["id"], ex["content"], ex["source"]) for ex in unique],
                           against)
        log.info("contamination: %d of %d items overlap %d evaluation items", len(hits),
                 len(unique), len(eval_items))
    removed = {h.sft_id for h in hits}
    kept = [ex for ex in unique if ex["id"] not in removed]
    if not kept:
        raise ValueError("sft: no example is left after deduplication and decontamination")

    tok = _load_tokenizer(tokenizer)
    for ex in kept:
        ex["prompt"] = chat_wrap(tok, ex["prompt"], chat_template)
    p_len = [len(x) for x in tok([ex["prompt"] for ex in kept], add_special_tokens=False)
             ["input_ids"]]
    r_len = [len(x) for x in tok([ex["response"] for ex in kept], add_special_tokens=False)
             ["input_ids"]]
    rows = []
    for name in sources:
        idx = [i for i, ex in enumerate(kept) if ex["source"] == name]
        pt, rt = sum(p_len[i] for i in idx), sum(r_len[i] for i in idx)
        rows.append({"source": name, "read": read[name], "duplicates": dups[name],
                     "contaminated": sum(h.source == name for h in hits), "examples": len(idx),
                     "prompt_tokens": pt, "response_tokens": rt, "tokens": pt + rt})
    stats = pd.DataFrame(rows)
    write_jsonl(out_jsonl, ({k: ex[k] for k in ("id", "source", "task", "prompt", "response")}
                            for ex in kept))
    write_jsonl(removed_jsonl, (h.__dict__ for h in hits))
    write_tsv(stats_tsv, stats)
    write_tsv(contamination_tsv, removal_table(hits, list(against), eval_task_names))
    return {r["source"]: r for r in rows}
