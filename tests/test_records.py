"""Evaluation records that would inflate a score are rejected by the loader (`cptmix.records`)
with one error naming task, file, line and record, and through the CLI with exit 2 and
nothing written: a sample_id repeated within a task, an item with fewer than two options, and
options that are the same text up to whitespace, for every category whose records list their
options (MCQA, DC in the published shape) or carry ids (all five)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

from cptmix.cli import main
from cptmix.records import load_records, task_data_path
from cptmix.tasks import DC, MCQA, STS, TASKS, get_task

# One valid record per shape (the published JMedBench shapes and the demo's NLI-shaped DC).
RECORDS = {
    "MedQA": {"sample_id": 1, "question": "Cause of fever?", "options": ["meningitis",
              "fracture", "gastric ulcer"], "answer_idx": 0, "n_options": 3, "metadata": {}},
    "MedQA-Jp": {"sample_id": "q1", "question": "発熱の原因は。", "options": ["髄膜炎", "骨折"],
                 "answer_idx": 1, "n_options": 2, "metadata": {}},
    "PubMedQA-Jp": {"sample_id": "p1", "question": "有効か。", "options": ["はい", "いいえ",
                    "たぶん"], "answer_idx": 2, "n_options": 3,
                    "metadata": {"context": "要旨本文。"}},
    # DC as published: MCQA-shaped, scored over the record's own options.
    "RRTNM": {"sample_id": 7, "question": "T分類は。", "options": ["T1", "T2", "T3", "T4"],
              "answer_idx": 1, "n_options": 4, "metadata": {"context": "腫瘤を認める。"}},
    # DC as the demo writes it, and STS: options are the task's labels.
    "CRADE": {"sample_id": "c1", "premise": "発疹が出現した。", "hypothesis": "", "label": 1,
              "n_label": 4, "metadata": {}},
    "JCSTS": {"sample_id": "j1", "premise": "血圧が高い。", "hypothesis": "高血圧である。",
              "label": 3, "n_label": 6, "metadata": {}},
    "EJMMT-Ja": {"sample_id": "m1", "english": "Fever.", "japanese": "発熱。"},
    "BC2GM-Jp": {"sample_id": "n1", "text": "BRCA1を認めた。", "labels": ["BRCA1"],
                 "entity_type": "遺伝子"},
}
OPTION_TASKS = ["MedQA", "MedQA-Jp", "PubMedQA-Jp", "RRTNM"]  # records that list options


def _write(tmp_path: Path, task: str, records: list[dict]) -> Path:
    path = task_data_path(get_task(task), tmp_path / "data")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


def _second(task: str, **patch) -> list[dict]:
    """Two records of `task`: a valid first one (id changed) and the patched second one."""
    first = {**RECORDS[task], "sample_id": "other"}
    return [first, {**RECORDS[task], **patch}]


# --- the loader --------------------------------------------------------------------------------

def test_valid_records_load(tmp_path):
    for task, record in RECORDS.items():
        _write(tmp_path, task, [record, {**record, "sample_id": "second"}])
        assert [r["sample_id"] for r in load_records(get_task(task), tmp_path / "data")] \
            == [record["sample_id"], "second"]


@pytest.mark.parametrize("task", list(RECORDS))
def test_repeated_sample_id_names_both_lines(tmp_path, task):
    record = RECORDS[task]
    path = _write(tmp_path, task, [record, {**record, "sample_id": "x"}, record])
    sid = record["sample_id"]
    with pytest.raises(ValueError) as err:
        load_records(get_task(task), tmp_path / "data")
    assert str(err.value) == (f"{task}: {path}, line 3 (sample_id {sid!r}): sample_id {sid!r} "
                              f"repeats the record on line 1; sample_ids must be unique "
                              f"within a task")


def test_ids_are_compared_as_text_and_line_names_count(tmp_path):
    # 1 and "1" are one id in items.tsv (and in the pairing of items across models).
    _write(tmp_path, "MedQA", [RECORDS["MedQA"], {**RECORDS["MedQA"], "sample_id": "1"}])
    with pytest.raises(ValueError, match=r"line 2 \(sample_id '1'\): sample_id '1' repeats "
                                         r"the record on line 1"):
        load_records(get_task("MedQA"), tmp_path / "data")
    # An NER record without an id is named "line-2"; an explicit "line-2" elsewhere collides.
    bare = {k: v for k, v in RECORDS["BC2GM-Jp"].items() if k != "sample_id"}
    _write(tmp_path, "BC2GM-Jp", [{**bare, "sample_id": "line-2"}, bare])
    with pytest.raises(ValueError, match=r"bc2gm_jp/test.jsonl, line 2: sample_id 'line-2' "
                                         r"repeats the record on line 1"):
        load_records(get_task("BC2GM-Jp"), tmp_path / "data")


@pytest.mark.parametrize("bad", [[1], {"a": 1}, True, 1.5, "", "  "])
def test_sample_id_must_be_text_or_integer(tmp_path, bad):
    path = _write(tmp_path, "JCSTS", _second("JCSTS", sample_id=bad))
    with pytest.raises(ValueError) as err:
        load_records(get_task("JCSTS"), tmp_path / "data")
    assert str(err.value) == (f"JCSTS: {path}, line 2 (sample_id {bad!r}): field 'sample_id' "
                              f"must be a non-empty string or an integer, got {bad!r}")


@pytest.mark.parametrize("task", OPTION_TASKS)
def test_single_option_is_rejected(tmp_path, task):
    path = _write(tmp_path, task, _second(task, options=["only"], answer_idx=0))
    sid = RECORDS[task]["sample_id"]
    with pytest.raises(ValueError) as err:
        load_records(get_task(task), tmp_path / "data")
    assert str(err.value) == (f"{task}: {path}, line 2 (sample_id {sid!r}): field 'options' "
                              f"has 1 option; an item needs at least 2 (a single option is "
                              f"always answered correctly)")


# (options, index of the repeat, index of the first): equal after whitespace normalisation.
DUPLICATES = [
    (["A", "B", "A"], 2, 0),
    (["the  liver", "kidney", "the liver "], 2, 0),  # runs of spaces, trailing space
    (["髄膜炎", "\u3000髄膜炎", "骨折"], 1, 0),  # an ideographic (full-width) space
    (["a\tb", "x", "y", "a\nb"], 3, 0),  # tab and newline
]


@pytest.mark.parametrize("task", OPTION_TASKS)
@pytest.mark.parametrize(("options", "j", "i"), DUPLICATES)
def test_duplicate_options_are_rejected(tmp_path, task, options, j, i):
    path = _write(tmp_path, task, _second(task, options=options, answer_idx=0))
    sid = RECORDS[task]["sample_id"]
    with pytest.raises(ValueError) as err:
        load_records(get_task(task), tmp_path / "data")
    assert str(err.value) == (f"{task}: {path}, line 2 (sample_id {sid!r}): field 'options' "
                              f"repeats an option: options[{j}] {options[j]!r} is "
                              f"options[{i}] {options[i]!r} up to whitespace")


def test_options_that_differ_only_in_case_or_inside_words_are_distinct(tmp_path):
    _write(tmp_path, "MedQA", _second("MedQA", options=["T1", "t1", "T 1", "T１"]))
    assert len(load_records(get_task("MedQA"), tmp_path / "data")) == 2


def test_every_label_scored_task_has_two_distinct_labels():
    # DC (demo shape) and STS are scored over the registry's labels, not the record's.
    for task in TASKS:
        if task.category in (DC, STS):
            keys = [" ".join(label.split()) for label in task.labels]
            assert len(keys) >= 2 and len(set(keys)) == len(keys), task.name
        elif task.category == MCQA:
            assert not task.labels


# --- through the CLI and the workflow script: exit 2 / the error, nothing written ---------------

CLI_CASES = [
    ("MedQA", [RECORDS["MedQA"], RECORDS["MedQA"]], "line 2 (sample_id 1): sample_id 1 repeats"),
    ("RRTNM", _second("RRTNM", options=["T1"], answer_idx=0), "'options' has 1 option"),
    ("MedQA-Jp", _second("MedQA-Jp", options=["髄膜炎", "髄膜炎 "]), "repeats an option"),
    ("BC2GM-Jp", [RECORDS["BC2GM-Jp"]] * 2, "sample_id 'n1' repeats the record on line 1"),
    ("JCSTS", _second("JCSTS", sample_id=[1]), "field 'sample_id' must be a non-empty string"),
]


@pytest.mark.parametrize(("task", "records", "phrase"), CLI_CASES)
def test_cli_exits_2_and_writes_nothing(tmp_path, capsys, tiny_model_dir, task, records,
                                        phrase):
    path = _write(tmp_path, task, records)
    out = tmp_path / "eval"
    code = main(["evaluate", "--model", str(tiny_model_dir), "--data", str(tmp_path / "data"),
                 "--out", str(out / "scores.tsv"), "--predictions", str(out / "predictions"),
                 "--tasks", task])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"cptmix evaluate: error: {task}: {path}, line ") and phrase in err
    assert not out.exists()


class _Named(dict):
    __getattr__ = dict.__getitem__


@pytest.mark.parametrize(("task", "records", "phrase"), CLI_CASES[:3])
def test_workflow_script_fails_naming_the_record_and_writes_nothing(
        tmp_path, monkeypatch, tiny_model_dir, task, records, phrase):
    monkeypatch.setattr("cptmix.io.log_to", lambda path: None)
    path = _write(tmp_path, task, records)
    out = tmp_path / "eval"
    sm = SimpleNamespace(
        input=_Named(model=str(tiny_model_dir), data=str(tmp_path / "data")),
        output=_Named(scores=str(out / "scores.tsv"), predictions=str(out / "predictions"),
                      provenance=str(out / "scores.provenance.json"),
                      item_scores=str(out / "items.tsv")),
        log=[str(tmp_path / "log.txt")], threads=1,
        params=_Named(tasks=[task], batch_size=4, max_new_tokens=8, scoring="cptmix",
                      option_metric="zscore"))
    script = Path(__file__).parents[1] / "workflow" / "scripts" / "evaluate_model.py"
    with pytest.raises(ValueError) as err:
        runpy.run_path(str(script), init_globals={"snakemake": sm})
    assert str(err.value).startswith(f"{task}: {path}, line ") and phrase in str(err.value)
    assert not out.exists()
