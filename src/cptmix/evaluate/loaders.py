"""Read one JMedBench task's test split and check its records before any model runs.

Part of the evaluate stage (after SFT, before analysis). A malformed record should stop the
evaluation with an error that names the file, the line and the field, not surface later as a
KeyError deep inside scoring or, worse, as a silently wrong score.
"""

from __future__ import annotations

import json
from pathlib import Path

from cptmix.tasks import DC, MCQA, MT, NER, STS, Task

# Fields each category's prompt template and metric read (record shapes: `cptmix.tasks`).
# DC's `hypothesis` is optional: the DC template only adds it when present.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    MCQA: ("sample_id", "question", "options", "answer_idx"),
    DC: ("sample_id", "premise", "label"),
    STS: ("sample_id", "premise", "hypothesis", "label"),
    MT: ("sample_id", "english", "japanese"),
    NER: ("sample_id", "text", "labels"),
}
_TEXT_FIELDS = ("question", "premise", "hypothesis", "english", "japanese", "text")


def task_data_path(task: Task, data_dir: str | Path, split: str = "test") -> Path:
    """`{data_dir}/{task.folder}/{split}.jsonl`; both EJMMT directions share `ejmmt/`."""
    return Path(data_dir) / task.folder / f"{split}.jsonl"


def load_records(task: Task, data_dir: str | Path, split: str = "test") -> list[dict]:
    """All records of `task`'s split, validated; raises ValueError naming file, line and field."""
    path = task_data_path(task, data_dir, split)
    if not path.is_file():
        raise FileNotFoundError(f"{task.name}: data file {path} does not exist")
    records = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: not valid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                # A data error, not a programming error: ValueError like every other bad record.
                raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")  # noqa: TRY004
            validate_record(task, record, where)
            records.append(record)
    if not records:
        # An empty split would give an undefined score; better to fail at the source.
        raise ValueError(f"{path}: no records for task {task.name}")
    return records


def validate_record(task: Task, record: dict, where: str = "record") -> None:
    """Check that `record` has what `task`'s template and metric need, with usable types."""
    required = REQUIRED_FIELDS[task.category]
    for name in required:
        if name not in record or record[name] is None:
            raise ValueError(f"{where}: missing required field {name!r} for {task.name} "
                             f"({task.category} records need {', '.join(required)})")
    for name in _TEXT_FIELDS:
        if name in REQUIRED_FIELDS[task.category] and not isinstance(record[name], str):
            raise ValueError(f"{where}: field {name!r} must be a string, "
                             f"got {type(record[name]).__name__}")
    if task.category == MCQA:
        options = record["options"]
        if not (isinstance(options, list) and options and all(isinstance(o, str) for o in options)):
            raise ValueError(f"{where}: field 'options' must be a non-empty list of strings")
        _check_index(record, "answer_idx", len(options), where)
    elif task.category in (DC, STS):
        _check_index(record, "label", len(task.labels), where)
    elif task.category == NER:
        labels = record["labels"]
        if not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
            raise ValueError(f"{where}: field 'labels' must be a list of strings")


def _check_index(record: dict, name: str, n: int, where: str) -> None:
    value = record[name]
    # bool is an int subclass; a `true` label is a data error, not label 1.
    ok = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, str) and value.strip().isdigit():
        ok, value = True, int(value)
    if not ok or not 0 <= int(value) < n:
        raise ValueError(f"{where}: field {name!r} must be an integer in [0, {n}), got {value!r}")
