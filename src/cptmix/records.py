"""Read one JMedBench task's test split and check its records before any model runs.

Sits next to the task registry (`cptmix.tasks`), below both stages that read JMedBench
records: `cptmix.prepare` (SFT set, contamination check) and `cptmix.evaluate`. A malformed
record should stop the run with an error that names the file, the line and the field, not
surface later as a KeyError deep inside scoring or, worse, as a silently wrong score.
"""

from __future__ import annotations

import json
from pathlib import Path

from cptmix.tasks import DC, MCQA, MT, NER, STS, Task, has_own_options

# Fields each category's prompt template and metric read (record shapes: `cptmix.tasks`).
# DC records come in two shapes: published JMedBench (MCQA-shaped, `options` present) and the
# demo world's (premise/label); DC's `hypothesis` is optional, the template adds it when present.
# NER and MT records have no sample_id in the published data (med-eval's NERSample/MTSample
# have none), so `load_records` names them by line instead.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    MCQA: ("sample_id", "question", "options", "answer_idx"),
    DC: ("sample_id", "premise", "label"),
    STS: ("sample_id", "premise", "hypothesis", "label"),
    MT: ("english", "japanese"),
    NER: ("text", "labels"),
}
_TEXT_FIELDS = ("question", "premise", "hypothesis", "english", "japanese", "text")


def task_data_path(task: Task, data_dir: str | Path, split: str = "test") -> Path:
    """`{data_dir}/{task.folder}/{split}.jsonl`; both EJMMT directions share `ejmmt/`."""
    return Path(data_dir) / task.folder / f"{split}.jsonl"


def required_fields(task: Task, record: dict) -> tuple[str, ...]:
    """The fields `record` must have for `task` (DC depends on which of its shapes it is in)."""
    return REQUIRED_FIELDS[MCQA if has_own_options(task, record) else task.category]


def load_records(task: Task, data_dir: str | Path, split: str = "test") -> list[dict]:
    """All records of `task`'s split, validated.

    Every problem raises one error naming the task, the file, the line and (when it has one)
    the record's sample_id: a missing task directory or file (FileNotFoundError), a line that
    is not a JSON object, a missing or ill-typed field, an answer index out of range, fewer
    than two options or two options that are the same text (`validate_record`), a sample_id
    that repeats an earlier record's (both lines named), or an empty split (ValueError).
    Records without a sample_id (published NER/MT data) get "line-{n}", so predictions can
    still be traced to their source line.
    """
    path = task_data_path(task, data_dir, split)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{task.name}: task directory {path.parent} does not exist, "
                                f"so neither does {path} (JMedBench folder {task.folder!r} "
                                f"expected under {data_dir})")
    if not path.is_file():
        raise FileNotFoundError(f"{task.name}: data file {path} does not exist")
    records = []
    seen: dict[str, int] = {}  # sample_id (as text, as items.tsv writes it) -> first line
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{task.name}: {path}, line {lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: not valid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                # A data error, not a programming error: ValueError like every other bad record.
                raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")  # noqa: TRY004
            if record.get("sample_id") is not None:
                where += f" (sample_id {record['sample_id']!r})"
            validate_record(task, record, where)
            if task.category in (MT, NER) and record.get("sample_id") is None:
                record = {"sample_id": f"line-{lineno}", **record}
            _check_unique_id(record["sample_id"], lineno, seen, where)
            records.append(record)
    if not records:
        # An empty split would give an undefined score; better to fail at the source.
        raise ValueError(f"{task.name}: {path}: no records (empty task)")
    return records


def validate_record(task: Task, record: dict, where: str = "record") -> None:
    """Check that `record` has what `task`'s template and metric need, with usable types."""
    required = required_fields(task, record)
    sample_id = record.get("sample_id")
    if sample_id is not None and (isinstance(sample_id, bool)
                                  or not isinstance(sample_id, str | int)
                                  or not str(sample_id).strip()):
        # Ids key items.tsv and the paired tests across models and seeds: text or integer.
        raise ValueError(f"{where}: field 'sample_id' must be a non-empty string or an "
                         f"integer, got {sample_id!r}")
    for name in required:
        if name not in record or record[name] is None:
            raise ValueError(f"{where}: missing required field {name!r} for {task.name} "
                             f"({task.category} records need {', '.join(required)})")
    for name in _TEXT_FIELDS:
        if name in required and not isinstance(record[name], str):
            raise ValueError(f"{where}: field {name!r} must be a string, "
                             f"got {type(record[name]).__name__}")
    if has_own_options(task, record):
        options = record["options"]
        if not (isinstance(options, list) and options
                and all(isinstance(o, str) and o.strip() for o in options)):
            # med-eval asserts the same (MCQASample.__post_init__: no empty option).
            raise ValueError(f"{where}: field 'options' must be a non-empty list of non-empty "
                             f"strings")
        _check_options(options, where)
        _check_index(record, "answer_idx", len(options), where)
        metadata = record.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise ValueError(f"{where}: field 'metadata' must be an object")
    elif task.category in (DC, STS):
        _check_index(record, "label", len(task.labels), where)
    elif task.category == NER:
        labels = record["labels"]
        if not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
            raise ValueError(f"{where}: field 'labels' must be a list of strings")


def _check_options(options: list[str], where: str) -> None:
    """At least two options, no two the same text once whitespace is normalised.

    A single option is a free correct answer, and a repeated option is a tie the scorer
    breaks by position (the first of equal log-likelihoods wins), so either inflates accuracy
    without the model knowing anything.
    """
    if len(options) < 2:
        raise ValueError(f"{where}: field 'options' has {len(options)} option; an item needs "
                         f"at least 2 (a single option is always answered correctly)")
    first: dict[str, int] = {}
    for j, option in enumerate(options):
        key = " ".join(option.split())  # every run of whitespace (U+3000 too) as one space
        if key in first:
            i = first[key]
            raise ValueError(f"{where}: field 'options' repeats an option: options[{j}] "
                             f"{option!r} is options[{i}] {options[i]!r} up to whitespace")
        first[key] = j


def _check_unique_id(sample_id, lineno: int, seen: dict[str, int], where: str) -> None:
    """A sample_id may occur once per task: a repeated id counts one item twice in the score
    and pairs the wrong items across models. Compared as text (1 and "1" are one id in
    items.tsv)."""
    key = str(sample_id)
    if key in seen:
        raise ValueError(f"{where}: sample_id {sample_id!r} repeats the record on line "
                         f"{seen[key]}; sample_ids must be unique within a task")
    seen[key] = lineno


def _check_index(record: dict, name: str, n: int, where: str) -> None:
    value = record[name]
    # bool is an int subclass; a `true` label is a data error, not label 1.
    ok = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, str) and value.strip().isdigit():
        ok, value = True, int(value)
    if not ok or not 0 <= int(value) < n:
        raise ValueError(f"{where}: field {name!r} must be an integer in [0, {n}), got {value!r}")
