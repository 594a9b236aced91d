"""Evaluate one model on JMedBench: one template per task category, then write the scores.

Part of the evaluate stage: after SFT (it reads `results/models/sft/{model}/`), before analysis
(which reads the `scores.tsv` written here). A template turns a task's records into prompts,
asks `scoring` for option log-likelihoods or greedy generations, and applies the category's
metric from `metrics`; the per-task code is just the `Task` entry in `cptmix.tasks`.

Outputs are deterministic (greedy decoding, fixed batch order, fixed float formatting), so two
runs with the same model, data and settings write byte-identical files, and each file is
written to a temporary name and renamed, so a crash never leaves a partial one behind.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from cptmix.evaluate.loaders import load_records
from cptmix.evaluate.metrics import accuracy, bleu, ner_f1, parse_entities, pearson
from cptmix.evaluate.scoring import generate_greedy, score_options
from cptmix.io import atomic_path, write_tsv
from cptmix.tasks import (
    DC,
    MCQA,
    MT,
    NER,
    STS,
    TASK_NAMES,
    TASKS,
    Task,
    get_task,
    mt_reference,
    prompt_and_choices,
    prompt_and_target,
)

log = logging.getLogger(__name__)

COLUMNS = ["task", "category", "language", "metric", "score", "n"]
SCORE_FORMAT = "%.6f"  # fixed, so reruns are byte-identical and diffs show real changes
LOGLIK_DIGITS = 6  # rounding of log-likelihoods stored in the predictions files


@dataclass(frozen=True)
class TaskResult:
    task: Task
    score: float
    predictions: list[dict]  # one JSON-serialisable row per record


def predictions_name(task: Task) -> str:
    """File stem of a task's predictions: its data folder, plus the direction for MT
    (both EJMMT directions read `ejmmt/`, so the folder alone would collide)."""
    return f"{task.folder}_{task.direction}" if task.direction else task.folder


def load_model(model_dir: str | Path):
    """The causal LM and tokenizer saved in `model_dir`, from local files only, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(
        model_dir, use_safetensors=True, dtype=torch.float32, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model.eval()
    return model, tokenizer


# --- category templates ----------------------------------------------------------------------

def _choice_template(task: Task, records: list[dict], model, tokenizer, batch_size: int,
                     max_new_tokens: int) -> TaskResult:
    """MCQA, DC, STS: the answer is the option whose continuation is most likely (summed
    log-prob); ties go to the first option. The length-normalised choice is kept alongside."""
    scores = score_options(model, tokenizer, [prompt_and_choices(task, r) for r in records],
                           batch_size=batch_size)
    gold_field = "answer_idx" if task.category == MCQA else "label"
    preds, preds_norm, golds, rows = [], [], [], []
    for record, options in zip(records, scores, strict=True):
        loglik = [s.loglik for s in options]
        loglik_norm = [s.loglik_per_token for s in options]
        pred, pred_norm = int(np.argmax(loglik)), int(np.argmax(loglik_norm))
        gold = int(record[gold_field])
        preds.append(pred)
        preds_norm.append(pred_norm)
        golds.append(gold)
        rows.append({
            "sample_id": record["sample_id"],
            "prediction": pred,
            "gold": gold,
            "prediction_norm": pred_norm,
            "loglik": [round(x, LOGLIK_DIGITS) for x in loglik],
            "loglik_norm": [round(x, LOGLIK_DIGITS) for x in loglik_norm],
            "n_tokens": [s.n_tokens for s in options],
        })
    if task.category == STS:
        # The grade index is the similarity value itself ("0".."5").
        score = pearson(preds, golds)
        log.info("%s: pearson=%.4f (length-normalised: %.4f)", task.name, score,
                 pearson(preds_norm, golds))
    else:
        score = accuracy(preds, golds)
        log.info("%s: acc=%.4f acc_norm=%.4f", task.name, score, accuracy(preds_norm, golds))
    return TaskResult(task, score, rows)


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0].strip()


def _mt_template(task: Task, records: list[dict], model, tokenizer, batch_size: int,
                 max_new_tokens: int) -> TaskResult:
    """MT: greedy translation up to the first newline; corpus BLEU against the target side.
    `task.language` is the target language (EJMMT-Ja translates into Japanese)."""
    prompts = [prompt_and_target(task, r)[0] for r in records]
    raw = generate_greedy(model, tokenizer, prompts, max_new_tokens, batch_size)
    hyps = [_first_line(t) for t in raw]
    refs = [mt_reference(task, r) for r in records]
    score = bleu(hyps, refs, task.language)
    rows = [{"sample_id": r["sample_id"], "prediction": h, "gold": g, "generation": t}
            for r, h, g, t in zip(records, hyps, refs, raw, strict=True)]
    return TaskResult(task, score, rows)


def _ner_template(task: Task, records: list[dict], model, tokenizer, batch_size: int,
                  max_new_tokens: int) -> TaskResult:
    """NER: greedy answer up to the first newline, parsed into entities; mean per-sample F1."""
    prompts = [prompt_and_target(task, r)[0] for r in records]
    raw = generate_greedy(model, tokenizer, prompts, max_new_tokens, batch_size)
    rows, f1s = [], []
    for record, text in zip(records, raw, strict=True):
        answer = _first_line(text)
        f1 = ner_f1(answer, record["labels"])
        f1s.append(f1)
        rows.append({"sample_id": record["sample_id"], "prediction": answer,
                     "gold": record["labels"], "entities": parse_entities(answer),
                     "f1": round(f1, LOGLIK_DIGITS), "generation": text})
    return TaskResult(task, float(np.mean(f1s)), rows)


Template = Callable[[Task, list[dict], object, object, int, int], TaskResult]
TEMPLATES: dict[str, Template] = {
    MCQA: _choice_template,
    DC: _choice_template,
    STS: _choice_template,
    MT: _mt_template,
    NER: _ner_template,
}


def evaluate_task(task: Task, records: list[dict], model, tokenizer, *, batch_size: int = 16,
                  max_new_tokens: int = 48) -> TaskResult:
    """Score a loaded model on one task's (validated) records."""
    return TEMPLATES[task.category](task, records, model, tokenizer, batch_size, max_new_tokens)


# --- the stage's entry point -------------------------------------------------------------------

def evaluate_model(model_dir: str | Path, data_dir: str | Path, out_tsv: str | Path,
                   predictions_dir: str | Path, tasks: Sequence[str] | None = None,
                   batch_size: int = 16, max_new_tokens: int = 48, threads: int = 1,
                   progress: bool = True) -> pd.DataFrame:
    """Evaluate the model in `model_dir` on JMedBench tasks read from `data_dir`.

    `tasks`: task names (None or "all": all 27); the output follows registry order regardless.

    Writes `out_tsv` (columns task, category, language, metric, score, n; one row per task in
    registry order; scores with 6 decimals) and `predictions_dir/{predictions_name}.jsonl` per
    task. `batch_size` counts sequences per forward pass (option scoring) or prompts per
    `generate` call. Returns the score table (unrounded scores).
    """
    if isinstance(tasks, str):  # config files say `tasks: all`; a bare name means one task
        tasks = None if tasks == "all" else [tasks]
    wanted = set(TASK_NAMES if tasks is None else [get_task(n).name for n in tasks])
    selected = [t for t in TASKS if t.name in wanted]  # registry order, whatever order was given
    if not selected:
        raise ValueError("no tasks to evaluate")
    if batch_size < 1 or max_new_tokens < 1 or threads < 1:
        raise ValueError(f"batch_size ({batch_size}), max_new_tokens ({max_new_tokens}) and "
                         f"threads ({threads}) must be positive")
    # Read and validate every task's data before loading the model: a bad record fails fast.
    records = {t.name: load_records(t, data_dir) for t in selected}
    predictions_dir = Path(predictions_dir)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model, tokenizer = load_model(model_dir)
        rows = []
        bar = tqdm(selected, desc="evaluate", unit="task", disable=not progress)
        for task in bar:
            bar.set_postfix_str(task.name)
            start = time.perf_counter()
            result = evaluate_task(task, records[task.name], model, tokenizer,
                                   batch_size=batch_size, max_new_tokens=max_new_tokens)
            _write_jsonl(predictions_dir / f"{predictions_name(task)}.jsonl", result.predictions)
            rows.append({"task": task.name, "category": task.category,
                         "language": task.language, "metric": task.metric,
                         "score": float(result.score), "n": len(records[task.name])})
            log.info("%s: %s=%.4f n=%d (%.1f s)", task.name, task.metric, result.score,
                     len(records[task.name]), time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous_threads)
    table = pd.DataFrame(rows, columns=COLUMNS)
    write_tsv(out_tsv, table, float_format=SCORE_FORMAT)  # atomic: temp file + rename
    return table


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
