"""Tests for `cptmix.evaluate`: metric tables, loader errors, and an end-to-end run of
`evaluate_model` on the tiny random model from conftest (checked against a direct computation
with the model, against itself across runs and batch sizes, and with rigged golds)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cptmix.evaluate import evaluate_model, predictions_name
from cptmix.evaluate.loaders import load_records, task_data_path
from cptmix.evaluate.metrics import BLEU_TOKENIZERS, accuracy, bleu, ner_f1, parse_entities, pearson
from cptmix.tasks import EN, JA, TASK_NAMES, get_task, prompt_and_choices

# --- metrics ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("頭痛, 発熱", ["頭痛", "発熱"]),
    ("頭痛、発熱，咳嗽", ["頭痛", "発熱", "咳嗽"]),
    ("  頭痛 ,  発熱  ", ["頭痛", "発熱"]),
    ("なし", []),
    (" なし ", []),
    ("", []),
    ("   ", []),
    (",、，", []),
    ("頭痛, 頭痛, 発熱", ["頭痛", "発熱"]),          # duplicates collapse, first order kept
    ("頭痛, なし", ["頭痛"]),                       # the "none" marker is never an entity
    ("頭痛\n発熱, 咳嗽", ["頭痛"]),                  # only the first line is the answer
    ("BRCA1, TP53", ["BRCA1", "TP53"]),            # case kept here; ner_f1 lowercases
    ("なし病", ["なし病"]),                         # only the exact marker is dropped
])
def test_parse_entities(text, expected):
    assert parse_entities(text) == expected


@pytest.mark.parametrize(("pred", "gold", "expected"), [
    ("なし", [], 1.0),                    # correct "no entity" answer
    ("", [], 1.0),
    ("なし", ["頭痛"], 0.0),              # missed everything
    ("頭痛", [], 0.0),                    # invented an entity
    ("頭痛, 発熱", ["頭痛", "発熱"], 1.0),
    ("発熱、頭痛", ["頭痛", "発熱"], 1.0),  # order and separator do not matter
    ("頭痛", ["頭痛", "発熱"], 2 / 3),     # P=1, R=1/2
    ("頭痛, 発熱, 咳嗽, 嘔吐", ["頭痛"], 0.4),  # P=1/4, R=1
    ("咳嗽", ["頭痛"], 0.0),
    ("brca1, Tp53", ["BRCA1", "TP53"], 1.0),  # case-insensitive
    ("頭痛, 頭痛", ["頭痛"], 1.0),        # sets, not lists
    ("頭痛", [" 頭痛 ", ""], 1.0),        # gold whitespace and empty labels ignored
])
def test_ner_f1(pred, gold, expected):
    assert ner_f1(pred, gold) == pytest.approx(expected)


def test_bleu_japanese_uses_mecab():
    ref = "患者は昨日から強い頭痛と発熱を訴えている。"
    assert bleu([ref], [ref], JA) == pytest.approx(1.0)
    worse = bleu(["患者は昨日から軽い咳を訴えている。"], [ref], JA)
    assert 0.0 < worse < 1.0
    # Without word segmentation (13a) the unsegmented sentence is a single token, so a
    # one-character change would score 0; MeCab gives partial credit.
    assert bleu(["患者は昨日から強い頭痛と発熱を訴えた。"], [ref], JA) > 0.3


def test_bleu_english_and_errors():
    ref = "The patient complained of a severe headache since yesterday ."
    assert bleu([ref, ref], [ref, ref], EN) == pytest.approx(1.0)
    assert 0.0 < bleu(["The patient complained of a mild cough since yesterday ."], [ref], EN) < 1
    assert bleu([""], [ref], EN) == 0.0
    with pytest.raises(ValueError, match="target language"):
        bleu([ref], [ref], "Klingon")
    with pytest.raises(ValueError, match="2 predictions but 1 golds"):
        bleu([ref, ref], [ref], EN)


def test_bleu_tokeniser_follows_mt_target_language():
    # EJMMT-Ja translates into Japanese (MeCab), EJMMT-En into English (13a).
    assert BLEU_TOKENIZERS[get_task("EJMMT-Ja").language] == "ja-mecab"
    assert BLEU_TOKENIZERS[get_task("EJMMT-En").language] == "13a"


def test_pearson(caplog):
    assert pearson([0, 1, 2, 3], [0, 1, 2, 3]) == pytest.approx(1.0)
    assert pearson([3, 2, 1, 0], [0, 1, 2, 3]) == pytest.approx(-1.0)
    assert pearson([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    with caplog.at_level(logging.WARNING, logger="cptmix.evaluate.metrics"):
        assert pearson([2, 2, 2], [0, 3, 5]) == 0.0
    assert "constant predictions" in caplog.text
    assert pearson([0, 3, 5], [1, 1, 1]) == 0.0
    assert pearson([4], [4]) == 0.0


def test_accuracy():
    assert accuracy([0, 1, 2, 3], [0, 1, 0, 0]) == 0.5
    with pytest.raises(ValueError, match="no items"):
        accuracy([], [])


# --- loaders ---------------------------------------------------------------------------------

def _write_jsonl(path: Path, records: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")


def _mcqa(i: int, lang: str = JA) -> dict:
    if lang == JA:
        return {"sample_id": f"q{i}", "question": f"症例{i}: 発熱と頭痛を訴える患者の診断は。",
                "options": ["髄膜炎", "片頭痛", "胃潰瘍", "骨折"], "answer_idx": i % 4,
                "n_options": 4, "metadata": {}}
    return {"sample_id": f"q{i}", "question": f"Case {i}: which drug lowers blood pressure?",
            "options": ["amlodipine", "insulin", "aspirin"], "answer_idx": i % 3,
            "n_options": 3, "metadata": {}}


FIXTURE_DATA = {
    "MedQA-Jp": [_mcqa(i) for i in range(3)],
    "MedQA": [_mcqa(i, EN) for i in range(3)],
    "EJMMT-Ja": [
        {"sample_id": "m0", "english": "The patient has a fever.",
         "japanese": "患者は発熱している。"},
        {"sample_id": "m1", "english": "Blood pressure was high.", "japanese": "血圧が高かった。"},
        {"sample_id": "m2", "english": "He complained of a headache.",
         "japanese": "彼は頭痛を訴えた。"},
    ],
    "BC2GM-Jp": [
        {"sample_id": "n0", "text": "BRCA1とTP53の変異を認めた。", "labels": ["BRCA1", "TP53"],
         "entity_type": "遺伝子"},
        {"sample_id": "n1", "text": "特記すべき所見なし。", "labels": [], "entity_type": "遺伝子"},
    ],
    "NRNER": [
        {"sample_id": "r0", "text": "頭痛に対しロキソプロフェンを投与。",
         "labels": ["頭痛", "ロキソプロフェン"], "entity_type": "症状・薬剤"},
        {"sample_id": "r1", "text": "発熱あり。", "labels": ["発熱"], "entity_type": "症状・薬剤"},
    ],
    "CRADE": [
        {"sample_id": f"c{i}", "premise": f"症例{i}: 薬剤投与後に発疹が出現した。",
         "hypothesis": "", "label": i % 4, "n_label": 4, "metadata": {}} for i in range(3)
    ],
    "SMDIS": [
        {"sample_id": f"s{i}", "premise": f"投稿{i}: 昨日から熱がある。", "label": i % 2,
         "n_label": 2, "metadata": {}} for i in range(3)
    ],
    "JCSTS": [
        {"sample_id": f"j{i}", "premise": "血圧が高い。", "hypothesis": f"高血圧である{i}。",
         "label": (5, 1, 3)[i], "n_label": 6, "metadata": {}} for i in range(3)
    ],
}
FIXTURE_DATA["EJMMT-En"] = FIXTURE_DATA["EJMMT-Ja"]  # same folder, other direction
FIXTURE_TASKS = [n for n in TASK_NAMES if n in FIXTURE_DATA]  # registry order


def _write_data(data_dir: Path, data: dict[str, list[dict]]) -> Path:
    for name, records in data.items():
        _write_jsonl(task_data_path(get_task(name), data_dir), records)
    return data_dir


@pytest.mark.parametrize(("task", "record", "field"), [
    ("MedQA-Jp", {k: v for k, v in _mcqa(0).items() if k != "question"}, "question"),
    ("MedQA-Jp", {k: v for k, v in _mcqa(0).items() if k != "answer_idx"}, "answer_idx"),
    ("EJMMT-Ja", {"sample_id": "m0", "english": "A fever."}, "japanese"),
    ("BC2GM-Jp", {"sample_id": "n0", "text": "所見なし。"}, "labels"),
    ("JCSTS", {"sample_id": "j0", "premise": "血圧が高い。", "label": 3}, "hypothesis"),
    ("CRADE", {"premise": "発疹。", "label": 1}, "sample_id"),
])
def test_loader_names_file_and_missing_field(tmp_path, task, record, field):
    t = get_task(task)
    path = task_data_path(t, tmp_path)
    _write_jsonl(path, [FIXTURE_DATA[task][0], record])
    with pytest.raises(ValueError) as err:
        load_records(t, tmp_path)
    message = str(err.value)
    assert str(path) in message and "line 2" in message and repr(field) in message


@pytest.mark.parametrize(("task", "patch", "match"), [
    ("MedQA-Jp", {"answer_idx": 4}, r"'answer_idx' must be an integer in \[0, 4\)"),
    ("MedQA-Jp", {"options": []}, "'options' must be a non-empty list"),
    ("CRADE", {"label": 9}, r"'label' must be an integer in \[0, 4\)"),
    ("SMDIS", {"label": True}, "'label' must be an integer"),
    ("BC2GM-Jp", {"labels": "BRCA1"}, "'labels' must be a list"),
    ("EJMMT-En", {"english": 3}, "'english' must be a string"),
])
def test_loader_rejects_bad_values(tmp_path, task, patch, match):
    t = get_task(task)
    _write_jsonl(task_data_path(t, tmp_path), [{**FIXTURE_DATA[task][0], **patch}])
    with pytest.raises(ValueError, match=match):
        load_records(t, tmp_path)


def test_loader_file_level_errors(tmp_path):
    t = get_task("MedQA")
    with pytest.raises(FileNotFoundError, match="medqa/test.jsonl"):
        load_records(t, tmp_path)
    path = task_data_path(t, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no records"):
        load_records(t, tmp_path)
    path.write_text(json.dumps(_mcqa(0, EN)) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        load_records(t, tmp_path)
    path.write_text(json.dumps(_mcqa(0, EN)) + "\n\n" + json.dumps(_mcqa(1, EN)) + "\n")
    assert [r["sample_id"] for r in load_records(t, tmp_path)] == ["q0", "q1"]


# --- end to end on the tiny model --------------------------------------------------------------

def _run(model_dir, data_dir, out_dir, **kwargs):
    out_dir = Path(out_dir)
    table = evaluate_model(model_dir, data_dir, out_dir / "scores.tsv", out_dir / "predictions",
                           progress=False, **kwargs)
    return table, out_dir


def _predictions(out_dir: Path, task: str) -> list[dict]:
    path = out_dir / "predictions" / f"{predictions_name(get_task(task))}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def fixture_data(tmp_path_factory):
    return _write_data(tmp_path_factory.mktemp("jmedbench"), FIXTURE_DATA)


@pytest.fixture(scope="module")
def first_run(tiny_model_dir, fixture_data, tmp_path_factory):
    # Tasks given out of order on purpose: the table must come back in registry order.
    return _run(tiny_model_dir, fixture_data, tmp_path_factory.mktemp("run1"),
                tasks=list(reversed(FIXTURE_TASKS)), batch_size=4)


def test_score_table_shape_and_ranges(first_run):
    table, out_dir = first_run
    assert list(table.columns) == ["task", "category", "language", "metric", "score", "n"]
    assert list(table["task"]) == FIXTURE_TASKS
    assert dict(zip(table["task"], table["n"], strict=True)) == {
        n: len(FIXTURE_DATA[n]) for n in FIXTURE_TASKS}
    for row in table.itertuples():
        low = -1.0 if row.metric == "pearson" else 0.0
        assert low <= row.score <= 1.0, row
    lines = (out_dir / "scores.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "task\tcategory\tlanguage\tmetric\tscore\tn"
    assert lines[1].startswith("MedQA-Jp\tMCQA\tJapanese\taccuracy\t")
    assert all(len(line.split("\t")[4].split(".")[1]) == 6 for line in lines[1:])
    names = sorted(p.name for p in (out_dir / "predictions").iterdir())
    assert names == sorted(f"{predictions_name(get_task(n))}.jsonl" for n in FIXTURE_TASKS)
    assert "ejmmt_en2ja.jsonl" in names and "ejmmt_ja2en.jsonl" in names  # no collision


def test_scores_recompute_from_predictions(first_run):
    """Each reported score is the category's metric applied to the stored predictions."""
    table, out_dir = first_run
    for name, score in zip(table["task"], table["score"], strict=True):
        task, rows = get_task(name), _predictions(out_dir, name)
        preds, golds = [r["prediction"] for r in rows], [r["gold"] for r in rows]
        if task.metric == "accuracy":
            expected = accuracy(preds, golds)
        elif task.metric == "pearson":
            expected = pearson(preds, golds)
        elif task.metric == "bleu":
            expected = bleu(preds, golds, task.language)
        else:
            expected = sum(ner_f1(p, g) for p, g in zip(preds, golds, strict=True)) / len(rows)
        assert score == pytest.approx(expected), name
        assert [r["sample_id"] for r in rows] == [r["sample_id"] for r in FIXTURE_DATA[name]]


def test_runs_are_byte_identical(first_run, tiny_model_dir, fixture_data, tmp_path):
    _, out1 = first_run
    _, out2 = _run(tiny_model_dir, fixture_data, tmp_path, tasks=FIXTURE_TASKS, batch_size=4)
    files1 = sorted(p.relative_to(out1) for p in out1.rglob("*") if p.is_file())
    files2 = sorted(p.relative_to(out2) for p in out2.rglob("*") if p.is_file())
    assert files1 == files2
    for rel in files1:
        assert (out1 / rel).read_bytes() == (out2 / rel).read_bytes(), rel


def test_option_scores_match_direct_computation(first_run, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    _, out_dir = first_run
    for task_name in ("MedQA-Jp", "CRADE"):
        task = get_task(task_name)
        record = FIXTURE_DATA[task_name][1]
        prompt, choices = prompt_and_choices(task, record)
        manual = []
        with torch.no_grad():
            for choice in choices:
                p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
                c = tokenizer(choice, add_special_tokens=False)["input_ids"]
                ids = torch.tensor([p + c])
                logprobs = torch.log_softmax(model(ids).logits[0], dim=-1)
                manual.append(sum(float(logprobs[t - 1, ids[0, t]])
                                  for t in range(len(p), len(p) + len(c))))
        row = _predictions(out_dir, task_name)[1]
        assert row["sample_id"] == record["sample_id"]
        assert row["loglik"] == pytest.approx(manual, abs=1e-4)
        assert row["prediction"] == max(range(len(manual)), key=manual.__getitem__)
        assert len(row["loglik_norm"]) == len(row["n_tokens"]) == len(choices)
        assert row["loglik_norm"] == pytest.approx(
            [m / n for m, n in zip(manual, row["n_tokens"], strict=True)], abs=1e-4)
        # The options are far apart, so the check would catch a wrong answer, not just noise.
        assert len({round(x, 1) for x in manual}) == len(manual)


def test_batch_size_does_not_change_answers(first_run, tiny_model_dir, fixture_data, tmp_path):
    _, out1 = first_run
    _, out2 = _run(tiny_model_dir, fixture_data, tmp_path, tasks=FIXTURE_TASKS, batch_size=1)
    for task in FIXTURE_TASKS:
        rows1, rows2 = _predictions(out1, task), _predictions(out2, task)
        for a, b in zip(rows1, rows2, strict=True):
            assert a["prediction"] == b["prediction"], (task, a["sample_id"])
            if "loglik" in a:
                assert a["loglik"] == pytest.approx(b["loglik"], abs=1e-4)


def test_rigged_golds_give_perfect_and_zero_scores(first_run, tiny_model_dir, tmp_path):
    """Golds set to the model's own answers must score 1.0, and to its least likely option 0.0:
    proves the scores come from the model's preferences and the gold fields, not constants."""
    _, out1 = first_run
    oracle, worst = {}, {}
    for task in ("MedQA-Jp", "MedQA", "CRADE", "SMDIS"):
        field = "answer_idx" if get_task(task).category == "MCQA" else "label"
        rows = _predictions(out1, task)
        oracle[task] = [{**r, field: row["prediction"]}
                        for r, row in zip(FIXTURE_DATA[task], rows, strict=True)]
        worst[task] = [{**r, field: min(range(len(row["loglik"])), key=row["loglik"].__getitem__)}
                       for r, row in zip(FIXTURE_DATA[task], rows, strict=True)]
    for task in ("BC2GM-Jp", "NRNER"):
        rows = _predictions(out1, task)
        oracle[task] = [{**r, "labels": row["entities"]}
                        for r, row in zip(FIXTURE_DATA[task], rows, strict=True)]
    # en->ja prompts show only the English side, so rewriting the Japanese side to the model's
    # own translation leaves the prompts, hence the translations, unchanged: BLEU must be 1.
    rows = _predictions(out1, "EJMMT-Ja")
    assert all(len(row["prediction"]) >= 8 for row in rows)  # long enough for 4-grams
    oracle["EJMMT-Ja"] = [{**r, "japanese": row["prediction"]}
                          for r, row in zip(FIXTURE_DATA["EJMMT-Ja"], rows, strict=True)]
    table, _ = _run(tiny_model_dir, _write_data(tmp_path / "oracle", oracle), tmp_path / "o",
                    tasks=list(oracle))
    assert dict(zip(table["task"], table["score"], strict=True)) == pytest.approx(
        dict.fromkeys(oracle, 1.0))
    table, _ = _run(tiny_model_dir, _write_data(tmp_path / "worst", worst), tmp_path / "w",
                    tasks=list(worst))
    assert dict(zip(table["task"], table["score"], strict=True)) == pytest.approx(
        dict.fromkeys(worst, 0.0))


def test_crash_leaves_no_partial_outputs(tiny_model_dir, fixture_data, tmp_path, monkeypatch):
    from cptmix.evaluate import runner

    real = runner.evaluate_task

    def fail_on_ner(task, *args, **kwargs):
        if task.category == "NER":
            raise RuntimeError("simulated crash")
        return real(task, *args, **kwargs)

    monkeypatch.setattr(runner, "evaluate_task", fail_on_ner)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(tiny_model_dir, fixture_data, tmp_path, tasks=FIXTURE_TASKS)
    assert not (tmp_path / "scores.tsv").exists()
    left = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert not [n for n in left if ".tmp" in n]  # only complete files, if any


def test_bad_arguments(tiny_model_dir, fixture_data, tmp_path):
    with pytest.raises(KeyError, match="unknown task"):
        _run(tiny_model_dir, fixture_data, tmp_path, tasks=["MedQA-Jp", "NoSuchTask"])
    with pytest.raises(FileNotFoundError, match="igakuqa"):
        _run(tiny_model_dir, fixture_data, tmp_path, tasks=["IgakuQA"])
    with pytest.raises(FileNotFoundError, match="igakuqa"):  # "all" means all 27 tasks
        _run(tiny_model_dir, fixture_data, tmp_path, tasks="all")
    assert not (tmp_path / "scores.tsv").exists()
