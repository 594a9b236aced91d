"""Evaluate one model on JMedBench: one template per task category, then write the scores.

Part of the evaluate stage: after SFT (it reads `results/models/sft/{model}/`), before analysis
(which reads the `scores.tsv` and `items.tsv` written here). A template turns a task's records
into prompts, asks `scoring` for option log-likelihoods or greedy generations, and applies the
category's metric from `metrics`; the per-task code is just the `Task` entry in `cptmix.tasks`.
Beside each JMedBench metric (the headline) a template computes the task's continuous metric
(`continuous`: the gold option's z-score, margin or normalised log-probability over the
options, by `evaluate.option_metric`, or the gold target's log-likelihood per byte, by a
teacher-forced pass after generation for MT and NER).

Outputs are deterministic (greedy decoding, fixed batch order, fixed float formatting), so two
runs with the same model, data and settings write byte-identical files, and each file is
written to a temporary name and renamed, so a crash never leaves a partial one behind.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from cptmix.evaluate.continuous import (
    DEFINITIONS,
    OPTION_FUNCTIONS,
    UNITS,
    continuous_metrics,
    mean_and_stderr,
)
from cptmix.evaluate.metrics import (
    BOOTSTRAP_SEED,
    N_BOOTSTRAP,
    accuracy,
    binomial_se,
    bleu,
    bleu_signature,
    mean_bootstrap_se,
    mt_hypothesis,
    ner_f1,
    parse_entities,
    pearson,
    pearson_bootstrap_se,
    sentence_bleus,
)
from cptmix.evaluate.provenance import (
    library_versions,
    scoring_provenance,
    sha256_file,
    template_hash,
    tokenizer_hash,
)
from cptmix.evaluate.scoring import (
    SCORINGS,
    generate_greedy,
    score_continuations,
    score_options,
)
from cptmix.io import write_json, write_jsonl, write_tsv
from cptmix.records import load_records, task_data_path
from cptmix.tasks import (
    DC,
    MCQA,
    MT,
    NER,
    STS,
    TASK_NAMES,
    TASKS,
    Task,
    answer_token_ids,
    get_task,
    gold_index,
    mt_reference,
    prompt_and_choices,
    prompt_and_target,
    template_name,
)

log = logging.getLogger(__name__)

COLUMNS = ["task", "category", "language", "metric", "score", "stderr", "n",
           "continuous_metric", "continuous_unit", "continuous", "continuous_stderr"]
# items.tsv: one row per evaluated record (see `evaluate_model`).
ITEM_COLUMNS = ["task", "sample_id", "item_score", "item_continuous", "prediction", "gold"]
SCORE_FORMAT = "%.6f"  # fixed, so reruns are byte-identical and diffs show real changes
LOGLIK_DIGITS = 6  # rounding of log-likelihoods stored in the predictions files
# Units the choice templates normalise option log-likelihoods by (see `scoring.OptionScore`).
LENGTH_UNITS = ("token", "char", "byte")


@dataclass(frozen=True)
class Settings:
    """Everything besides model and data that a score depends on (recorded in provenance)."""

    batch_size: int = 16  # (item, option) sequences per forward pass / prompts per generate call
    # Generation budget for MT and NER answers: one number, or per category
    # ({"MT": 256, "NER": 128} is med-eval's JMedBench setting).
    max_new_tokens: int | dict[str, int] = 48
    method: str = "prefix"  # option scoring: "prefix" (shared prompt cache) or "naive"
    seed: int = BOOTSTRAP_SEED  # bootstrap resampling seed (decoding is greedy: no other RNG)
    n_bootstrap: int = N_BOOTSTRAP  # bootstrap resamples for BLEU / F1 / Pearson SEs
    # Option-scoring rule (`scoring.SCORING_RULES`): "cptmix" (corrected, the default) or
    # "medeval" (med-eval's token sequences, quirks included, as published JMedBench results).
    scoring: str = "cptmix"
    # The option-scored tasks' continuous metric (`continuous.OPTION_METRICS`): "zscore",
    # "margin" or "logprob" (evaluate.option_metric).
    option_metric: str = "zscore"

    def budget(self, category: str) -> int:
        """The generation budget of a category (MT or NER)."""
        if isinstance(self.max_new_tokens, int):
            return self.max_new_tokens
        return int(self.max_new_tokens[category])


@dataclass(frozen=True)
class TaskResult:
    task: Task
    score: float
    stderr: float
    predictions: list[dict]  # one JSON-serialisable row per record
    # Per record: its part of `score` (the score is their mean; NaN for STS, whose Pearson r
    # is no mean over items) and its continuous metric (`continuous`), unrounded.
    item_scores: list[float]
    item_continuous: list[float]
    provenance: dict = field(default_factory=dict)  # metric details, e.g. sacrebleu signature

    @property
    def continuous(self) -> tuple[float, float]:
        """The task's continuous metric: mean over items and its standard error."""
        return mean_and_stderr(self.item_continuous)


def predictions_name(task: Task) -> str:
    """File stem of a task's predictions: its data folder, plus the direction for MT
    (both EJMMT directions read `ejmmt/`, so the folder alone would collide)."""
    return f"{task.folder}_{task.direction}" if task.direction else task.folder


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device_dtype(device: str | None = None,
                         dtype: str | None = None) -> tuple[str, torch.dtype]:
    """Default: CUDA in bfloat16 when a GPU is visible, else CPU in float32 (bf16 matmuls on
    CPU are slow and change scores more than they save)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype is None:
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    try:
        return device, _DTYPES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(_DTYPES)}") from None


def load_model(model_dir: str | Path, device: str | None = None, dtype: str | None = None):
    """The causal LM and tokenizer saved in `model_dir`, from local files only, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device, torch_dtype = resolve_device_dtype(device, dtype)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, use_safetensors=True, dtype=torch_dtype, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model.to(device).eval()
    return model, tokenizer


# --- category templates ----------------------------------------------------------------------

def _record_names(task: Task, records: list[dict], source: str) -> list[str]:
    """How an error names each record: task, file and sample_id."""
    return [f"{task.name}, {source}, record {r.get('sample_id')!r}" for r in records]


def _argmax(values: list[float]) -> int:
    return int(np.argmax(values))  # ties go to the first option


def _choice_template(task: Task, records: list[dict], model, tokenizer, settings: Settings,
                     source: str) -> TaskResult:
    """MCQA, DC, STS: the answer is the option whose continuation is most likely (summed
    log-prob, i.e. lowest summed loss as in JMedBench); ties go to the first option.
    Length-normalised choices are kept alongside, one per unit (token, char, byte)."""
    # med-eval builds STS requests with its NLI builder (tasks/nli.py): no empty-option fallback.
    rule = "medeval_nli" if settings.scoring == "medeval" and task.category == STS \
        else settings.scoring
    scores = score_options(model, tokenizer, [prompt_and_choices(task, r) for r in records],
                           batch_size=settings.batch_size, method=settings.method,
                           names=_record_names(task, records, source), scoring=rule)
    preds, golds, by_unit, rows = [], [], {u: [] for u in LENGTH_UNITS}, []
    per_item: dict[str, list[float]] = {name: [] for name in OPTION_FUNCTIONS}
    for record, options in zip(records, scores, strict=True):
        loglik = [s.loglik for s in options]
        normed = {u: [getattr(s, f"loglik_per_{u}") for s in options] for u in LENGTH_UNITS}
        pred, gold = _argmax(loglik), gold_index(task, record)
        preds.append(pred)
        golds.append(gold)
        for name, value_of in OPTION_FUNCTIONS.items():
            per_item[name].append(value_of(loglik, gold))
        row = {"sample_id": record["sample_id"], "prediction": pred, "gold": gold,
               **{f"gold_{k}": round(v[-1], LOGLIK_DIGITS) for k, v in per_item.items()},
               "loglik": [round(x, LOGLIK_DIGITS) for x in loglik],
               "n_tokens": [s.n_tokens for s in options],
               "n_chars": [s.n_chars for s in options]}
        if any(s.boundary_merge for s in options):  # see `scoring`: med-eval's boundary cut
            row["boundary_merge"] = [s.boundary_merge for s in options]
        for unit in LENGTH_UNITS:
            by_unit[unit].append(_argmax(normed[unit]))
            row[f"prediction_per_{unit}"] = by_unit[unit][-1]
        for unit in ("token", "char"):  # bytes are derivable from the text; keep files small
            row[f"loglik_per_{unit}"] = [round(x, LOGLIK_DIGITS) for x in normed[unit]]
        rows.append(row)
    n = len(records)
    if task.category == STS:
        # The grade index is the similarity value itself ("0".."5").
        score = pearson(preds, golds)
        stderr = pearson_bootstrap_se(preds, golds, n_resamples=settings.n_bootstrap,
                                      seed=settings.seed)
        variants = {u: pearson(p, golds) for u, p in by_unit.items()}
        item_scores = [math.nan] * n  # r is a statistic of the whole set, not a mean
    else:
        score = accuracy(preds, golds)
        stderr = binomial_se(score, n)
        variants = {u: accuracy(p, golds) for u, p in by_unit.items()}
        item_scores = [float(p == g) for p, g in zip(preds, golds, strict=True)]
    log.info("%s: %s=%.4f (per token %.4f, per char %.4f, per byte %.4f)", task.name,
             task.metric, score, variants["token"], variants["char"], variants["byte"])
    extra = {"length_normalised": {f"per_{u}": round(v, LOGLIK_DIGITS)
                                   for u, v in variants.items()},
             # Options whose tokens med-eval's joint-encode-and-cut split differently from
             # the option text alone (BPE merged across the prompt boundary).
             "boundary_merged_options": sum(s.boundary_merge for o in scores for s in o)}
    return TaskResult(task, score, stderr, rows, item_scores, per_item[settings.option_metric],
                      extra)


def _gold_target_scores(task: Task, records: list[dict], model, tokenizer, settings: Settings,
                        source: str) -> list[dict]:
    """MT, NER: the teacher-forced log-likelihood of each record's gold target, tokenised as
    SFT trains on it (`answer_token_ids`), as prediction-row fields; `gold_loglik_per_byte`
    is the continuous metric. One forward pass over prompt + target per record, cheap next
    to greedy generation's one pass per generated token."""
    requests = []
    for record in records:
        prompt, target = prompt_and_target(task, record)
        prompt_ids, target_ids = answer_token_ids(tokenizer, task, prompt, target)
        requests.append((prompt_ids, target_ids, target))
    # "naive" whatever `settings.method`: with one continuation per prompt there is no prefix
    # to share, and one pass over prompt + target beats prefix's two (~20% on the demo model).
    scores = score_continuations(model, tokenizer, requests, batch_size=settings.batch_size,
                                 names=_record_names(task, records, source), method="naive")
    return [{"gold_loglik_per_byte": s.loglik_per_byte, "gold_loglik": s.loglik,
             "gold_n_tokens": s.n_tokens} for s in scores]


def _rounded(fields: dict) -> dict:
    return {k: round(v, LOGLIK_DIGITS) if isinstance(v, float) else v for k, v in fields.items()}


def _mt_template(task: Task, records: list[dict], model, tokenizer, settings: Settings,
                 source: str) -> TaskResult:
    """MT: greedy translation up to the first newline; JMedBench's BLEU, the mean of
    sentence BLEUs against the target side (corpus BLEU kept in provenance as a variant).
    `task.language` is the target language (EJMMT-Ja translates into Japanese)."""
    prompts = [prompt_and_target(task, r)[0] for r in records]
    raw = generate_greedy(model, tokenizer, prompts, settings.budget(MT), settings.batch_size)
    hyps = [mt_hypothesis(t) for t in raw]
    refs = [mt_reference(task, r) for r in records]
    per_item = sentence_bleus(hyps, refs, task.language)
    score = float(np.mean(per_item))
    stderr = mean_bootstrap_se(per_item, n_resamples=settings.n_bootstrap, seed=settings.seed)
    golds = _gold_target_scores(task, records, model, tokenizer, settings, source)
    rows = [{"sample_id": r["sample_id"], "prediction": h, "gold": g,
             "bleu": round(b, LOGLIK_DIGITS), "generation": t, **_rounded(c)}
            for r, h, g, b, t, c in zip(records, hyps, refs, per_item, raw, golds, strict=True)]
    return TaskResult(task, score, stderr, rows, [float(b) for b in per_item],
                      [c["gold_loglik_per_byte"] for c in golds],
                      {"sacrebleu_signature": bleu_signature(task.language),
                       "bleu_aggregation": "mean of sentence BLEU (med-eval)",
                       "corpus_bleu": round(bleu(hyps, refs, task.language), LOGLIK_DIGITS)})


def _ner_template(task: Task, records: list[dict], model, tokenizer, settings: Settings,
                  source: str) -> TaskResult:
    """NER: greedy answer up to the first newline, parsed into entities; mean per-sample F1."""
    prompts = [prompt_and_target(task, r)[0] for r in records]
    raw = generate_greedy(model, tokenizer, prompts, settings.budget(NER), settings.batch_size)
    golds = _gold_target_scores(task, records, model, tokenizer, settings, source)
    rows, f1s = [], []
    for record, text, gold in zip(records, raw, golds, strict=True):
        answer = text.split("\n")[0].strip()
        f1 = ner_f1(answer, record["labels"])
        f1s.append(f1)
        rows.append({"sample_id": record["sample_id"], "prediction": answer,
                     "gold": record["labels"], "entities": parse_entities(answer),
                     "f1": round(f1, LOGLIK_DIGITS), "generation": text, **_rounded(gold)})
    stderr = mean_bootstrap_se(f1s, n_resamples=settings.n_bootstrap, seed=settings.seed)
    return TaskResult(task, float(np.mean(f1s)), stderr, rows, [float(f) for f in f1s],
                      [g["gold_loglik_per_byte"] for g in golds])


Template = Callable[[Task, list[dict], object, object, Settings, str], TaskResult]
TEMPLATES: dict[str, Template] = {
    MCQA: _choice_template,
    DC: _choice_template,
    STS: _choice_template,
    MT: _mt_template,
    NER: _ner_template,
}
STDERR_KIND = {MCQA: "binomial", DC: "binomial", STS: "bootstrap", MT: "bootstrap",
               NER: "bootstrap"}


def evaluate_task(task: Task, records: list[dict], model, tokenizer, *,
                  settings: Settings | None = None, source: str = "") -> TaskResult:
    """Score a loaded model on one task's (validated) records; `source` (the data file) names
    records in errors."""
    settings = settings or Settings()
    return TEMPLATES[task.category](task, records, model, tokenizer, settings,
                                    source or task.folder)


# --- the stage's entry point -------------------------------------------------------------------

def provenance_path(out_tsv: str | Path) -> Path:
    """Where `evaluate_model` records provenance by default: `scores.tsv` ->
    `scores.provenance.json`."""
    out_tsv = Path(out_tsv)
    return out_tsv.with_name(f"{out_tsv.stem}.provenance.json")


def items_path(out_tsv: str | Path) -> Path:
    """Where `evaluate_model` writes the per-item table by default: beside `out_tsv`."""
    return Path(out_tsv).with_name("items.tsv")


OPTION_SCORED = (MCQA, DC, STS)
# provenance["settings"]["conventions"] under each option-scoring rule.
CONVENTIONS = {
    "cptmix": "med-eval templates; options appended as med-eval does; joint encode cut at the "
              "prompt's length, trailing whitespace moved to the option; BLEU = mean sentence "
              "BLEU (NFKC for Japanese); NER = ', '-split lower-cased entity-set F1",
    "medeval": "med-eval templates; options appended and cut as med-eval does (trailing "
               "whitespace kept with the prompt, BOS written over the prompt's first token "
               "when the tokenizer defines one); BLEU = mean sentence BLEU (NFKC for "
               "Japanese); NER = ', '-split lower-cased entity-set F1",
}


def _item_rows(result: TaskResult) -> list[dict]:
    """A task's rows of items.tsv: prediction and gold are option indices for option-scored
    tasks and absent (NaN) for generated answers, whose texts stay in the predictions file."""
    options = result.task.category in OPTION_SCORED
    return [{"task": result.task.name, "sample_id": row["sample_id"], "item_score": score,
             "item_continuous": value,
             "prediction": row["prediction"] if options else None,
             "gold": row["gold"] if options else None}
            for row, score, value in zip(result.predictions, result.item_scores,
                                         result.item_continuous, strict=True)]


def _cell(value) -> str:
    """One TSV cell: floats as `SCORE_FORMAT`, NaN and missing as "NaN", the rest as text.
    Formatted here rather than by pandas so integer columns with gaps stay integers and NaN
    is spelt the same in every file."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    if isinstance(value, (float, np.floating)):
        return SCORE_FORMAT % value
    return str(value)


def _formatted(table: pd.DataFrame) -> pd.DataFrame:
    return table.astype(object).apply(lambda col: col.map(_cell))


def evaluate_model(model_dir: str | Path, data_dir: str | Path, out_tsv: str | Path,
                   predictions_dir: str | Path, tasks: Sequence[str] | None = None,
                   batch_size: int = 16, max_new_tokens: int | dict[str, int] = 48,
                   threads: int = 1,
                   progress: bool = True, provenance_json: str | Path | None = None,
                   method: str = "prefix", seed: int = BOOTSTRAP_SEED,
                   n_bootstrap: int = N_BOOTSTRAP, device: str | None = None,
                   dtype: str | None = None,
                   items_tsv: str | Path | None = None,
                   scoring: str = "cptmix", option_metric: str = "zscore") -> pd.DataFrame:
    """Evaluate the model in `model_dir` on JMedBench tasks read from `data_dir`.

    `tasks`: task names (None or "all": all 27); the output follows registry order regardless.

    Writes (the two tables with floats to 6 decimals and NaN as "NaN"):
    - `out_tsv`, one row per task in registry order: task, category, language, metric, score
      (the JMedBench metric, the headline), stderr, n, then the task's continuous metric
      (`continuous`): continuous_metric (gold_option_zscore, gold_option_margin or
      gold_option_logprob for option-scored tasks, by `option_metric`; gold_loglik_per_byte
      for MT/NER), continuous_unit (sd, nats or nats/byte), continuous (mean over items),
      continuous_stderr (SD/sqrt(n), ddof=1);
    - `items_tsv` (default `items_path(out_tsv)`), one row per record, tasks in registry order
      and records in file order: task, sample_id, item_score (the item's part of `score`,
      whose mean over the task's rows it is: 1/0 for accuracy, sentence BLEU, entity F1; NaN
      for STS, as Pearson r is not a mean), item_continuous (the item's continuous value,
      whose mean is `continuous`), prediction and gold (option indices for MCQA/DC/STS, the
      grade itself for STS; NaN for MT/NER);
    - `predictions_dir/{predictions_name}.jsonl` per task;
    - `provenance_json` (default `provenance_path(out_tsv)`): hashes of each task's template
      and data file, the tokenizer hash, dtype, device, batch size, scoring method, bootstrap
      seed, sacrebleu signatures and the continuous metrics' definitions, and the option-scoring
      rule (`scoring`: "cptmix", the default, or "medeval", med-eval's own token sequences
      for comparison with published JMedBench numbers; `scoring.SCORING_RULES`).
    Nothing is written until every task has been scored, and the score table last, so a
    failure leaves no score file. Every task's data is read and validated before the model is
    loaded. Returns the score table (unrounded).
    """
    if isinstance(tasks, str):  # config files say `tasks: all`; a bare name means one task
        tasks = None if tasks == "all" else [tasks]
    wanted = set(TASK_NAMES if tasks is None else [get_task(n).name for n in tasks])
    selected = [t for t in TASKS if t.name in wanted]  # registry order, whatever order was given
    if not selected:
        raise ValueError("no tasks to evaluate")
    budgets = (max_new_tokens.get(c, 0) for c in (MT, NER)) if isinstance(max_new_tokens, dict) \
        else (max_new_tokens,)
    if batch_size < 1 or min(budgets) < 1 or threads < 1 or n_bootstrap < 2:
        raise ValueError(f"batch_size ({batch_size}), max_new_tokens ({max_new_tokens}; one "
                         f"number or one per category, MT and NER), "
                         f"threads ({threads}) must be positive and n_bootstrap "
                         f"({n_bootstrap}) at least 2")
    if method not in ("prefix", "naive"):
        raise ValueError(f"unknown scoring method {method!r}; use 'prefix' or 'naive'")
    if scoring not in SCORINGS:
        raise ValueError(f"unknown option scoring {scoring!r} (evaluate.scoring); use one of "
                         f"{', '.join(SCORINGS)}")
    metrics = continuous_metrics(option_metric)  # an unknown option metric fails here
    settings = Settings(batch_size, max_new_tokens, method, seed, n_bootstrap, scoring,
                        option_metric)
    # Read and validate every task's data before loading the model: a bad record fails fast.
    records = {t.name: load_records(t, data_dir) for t in selected}
    data_files = {t.name: task_data_path(t, data_dir) for t in selected}
    predictions_dir = Path(predictions_dir)
    device_name, torch_dtype = resolve_device_dtype(device, dtype)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model, tokenizer = load_model(model_dir, device_name, str(torch_dtype).split(".")[-1])
        results: list[TaskResult] = []
        bar = tqdm(selected, desc="evaluate", unit="task", disable=not progress)
        for task in bar:
            bar.set_postfix_str(task.name)
            start = time.perf_counter()
            result = evaluate_task(task, records[task.name], model, tokenizer,
                                   settings=settings, source=str(data_files[task.name]))
            results.append(result)
            log.info("%s: %s=%.4f ± %.4f n=%d (%.1f s)", task.name, task.metric, result.score,
                     result.stderr, len(records[task.name]), time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous_threads)

    table = pd.DataFrame([{"task": r.task.name, "category": r.task.category,
                           "language": r.task.language, "metric": r.task.metric,
                           "score": float(r.score), "stderr": float(r.stderr),
                           "n": len(records[r.task.name]),
                           "continuous_metric": metrics[r.task.category],
                           "continuous_unit": UNITS[metrics[r.task.category]],
                           "continuous": r.continuous[0], "continuous_stderr": r.continuous[1]}
                          for r in results], columns=COLUMNS)
    # Object dtype: prediction/gold hold integers beside gaps, which a float column would
    # turn into 3.000000.
    items = pd.DataFrame([row for r in results for row in _item_rows(r)], columns=ITEM_COLUMNS,
                         dtype=object)
    provenance = {
        "model": {"dir": str(model_dir), "tokenizer_sha256": tokenizer_hash(model_dir),
                  "config_sha256": sha256_file(Path(model_dir) / "config.json"),
                  "dtype": str(torch_dtype).split(".")[-1], "device": device_name},
        "settings": {"batch_size": batch_size, "max_new_tokens": max_new_tokens,
                     "option_scoring": method, "bootstrap_seed": seed,
                     "bootstrap_resamples": n_bootstrap, "threads": threads,
                     "decoding": "greedy, stop at newline or EOS",
                     # How prompts, options and metrics follow JMedBench's evaluator.
                     "conventions": CONVENTIONS[scoring],
                     **scoring_provenance(scoring),
                     "length_normalisation_units": list(LENGTH_UNITS),
                     # Beside each JMedBench metric in scores.tsv, per item in items.tsv.
                     "continuous_metrics": DEFINITIONS, "option_metric": option_metric,
                     "gold_target_scoring": "naive (one pass over prompt + target)"},
        "tasks": {r.task.name: {"data_file": str(data_files[r.task.name]),
                                "data_sha256": sha256_file(data_files[r.task.name]),
                                "template": template_name(r.task),
                                "template_sha256": template_hash(r.task),
                                "metric": r.task.metric,
                                "stderr": STDERR_KIND[r.task.category],
                                "continuous_metric": metrics[r.task.category],
                                "continuous_unit": UNITS[metrics[r.task.category]],
                                "n": len(records[r.task.name]), **r.provenance}
                  for r in results},
        "versions": library_versions(),
    }
    for result in results:
        write_jsonl(predictions_dir / f"{predictions_name(result.task)}.jsonl",
                    result.predictions, sort_keys=False)
    write_json(provenance_json or provenance_path(out_tsv), provenance)
    # Atomic (temp file + rename); the score table last.
    write_tsv(items_tsv or items_path(out_tsv), _formatted(items))
    write_tsv(out_tsv, _formatted(table))
    return table
