"""Tests for `cptmix.evaluate`: metric and standard-error tables, loader errors, loaders on
JMedBench-format fixtures (tests/fixtures/jmedbench), shared-prefix vs naive option scoring,
and an end-to-end run of `evaluate_model` on the tiny random model from conftest (checked
against a direct computation with the model, against itself across runs and batch sizes, with
rigged golds, and for its provenance record)."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from samples import write_jsonl

from cptmix.evaluate import evaluate_model, predictions_name
from cptmix.evaluate.metrics import (
    BLEU_TOKENIZERS,
    accuracy,
    binomial_se,
    bleu,
    bleu_bootstrap_se,
    bleu_signature,
    bootstrap_se,
    mean_bootstrap_se,
    mean_sentence_bleu,
    mt_hypothesis,
    ner_f1,
    parse_entities,
    pearson,
    pearson_bootstrap_se,
    sentence_bleus,
)
from cptmix.evaluate.provenance import template_hash
from cptmix.records import load_records, task_data_path
from cptmix.tasks import (
    EN,
    JA,
    TASK_NAMES,
    get_task,
    gold_index,
    prompt_and_choices,
    prompt_and_target,
)

JMEDBENCH_FIXTURES = Path(__file__).parent / "fixtures" / "jmedbench"

# --- metrics ---------------------------------------------------------------------------------


# NER parsing and F1 as med-eval's evaluate_ner.py: first line, stripped, split on ", " only,
# items stripped and lower-cased; "" reads as ["none"]; set F1, 0 if either set is empty.
@pytest.mark.parametrize(("text", "expected"), [
    ("頭痛, 発熱", ["頭痛", "発熱"]),
    ("頭痛、発熱，咳嗽", ["頭痛、発熱，咳嗽"]),      # only ", " separates (no Japanese commas)
    ("頭痛,発熱", ["頭痛,発熱"]),                   # nor a bare comma
    ("  頭痛 ,発熱  ", ["頭痛 ,発熱"]),              # ", " absent: one stripped item
    ("  頭痛 ,  発熱  ", ["頭痛", "発熱"]),          # ", " present: items stripped
    ("頭痛 , 発熱", ["頭痛", "発熱"]),
    ("", ["none"]),                                # an empty answer is "none"
    ("   ", ["none"]),
    ("\n頭痛", ["none"]),                           # the first line is empty
    ("none", ["none"]),
    ("頭痛, 頭痛, 発熱", ["頭痛", "発熱"]),          # duplicates collapse, first order kept
    ("頭痛, , 発熱", ["頭痛", "", "発熱"]),          # an empty item stays (matches nothing)
    ("頭痛\n発熱, 咳嗽", ["頭痛"]),                  # only the first line is the answer
    ("BRCA1, TP53", ["brca1", "tp53"]),            # lower-cased
])
def test_parse_entities(text, expected):
    assert parse_entities(text) == expected


@pytest.mark.parametrize(("pred", "gold", "expected"), [
    ("", ["none"], 1.0),                  # BLURB-derived sets write ["none"] for no entity
    ("none", ["None"], 1.0),
    ("", [], 0.0),                        # an empty gold set can never be matched
    ("none", [], 0.0),
    ("", ["頭痛"], 0.0),                  # missed everything
    ("頭痛", ["none"], 0.0),              # invented an entity
    ("頭痛, 発熱", ["頭痛", "発熱"], 1.0),
    ("発熱, 頭痛", ["頭痛", "発熱"], 1.0),  # order does not matter
    ("発熱、頭痛", ["頭痛", "発熱"], 0.0),  # "、" does not separate: one unknown entity
    ("頭痛", ["頭痛", "発熱"], 2 / 3),     # P=1, R=1/2
    ("頭痛, 発熱, 咳嗽, 嘔吐", ["頭痛"], 0.4),  # P=1/4, R=1
    ("咳嗽", ["頭痛"], 0.0),
    ("brca1, Tp53", ["BRCA1", "TP53"], 1.0),  # case-insensitive
    ("頭痛, 頭痛", ["頭痛"], 1.0),        # sets, not lists
    ("頭痛", [" 頭痛 "], 1.0),            # gold labels stripped
    ("頭痛", ["頭痛", ""], 2 / 3),        # an empty gold label counts (P=1, R=1/2)
])
def test_ner_f1(pred, gold, expected):
    assert ner_f1(pred, gold) == pytest.approx(expected)


def _med_eval_entity_f1(raw: str, labels: list[str]) -> float:
    """med-eval's evaluate_ner.py scoring of one sample, transcribed."""
    def _post_process(prediction_raw_text):
        if prediction_raw_text == "":
            return ["none"]
        return [p.strip().lstrip().lower() for p in prediction_raw_text.split(", ")]

    predictions = _post_process(raw.split("\n")[0].strip().lstrip())
    ground_truths = [r.strip().lstrip().lower() for r in labels]
    prediction_set, reference_set = set(predictions), set(ground_truths)
    intersection = prediction_set.intersection(reference_set)
    precision = len(intersection) / len(prediction_set) if len(prediction_set) > 0 else 0
    recall = len(intersection) / len(reference_set) if len(reference_set) > 0 else 0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0


def _med_eval_bleu(raws: list[str], refs: list[str], target_lang: str) -> float:
    """med-eval's evaluate_mt.py BLEU, transcribed (0-100 scale)."""
    import unicodedata

    import sacrebleu

    scores = []
    for raw, ref in zip(raws, refs, strict=True):
        prediction = raw.split("\n")[0].strip().lstrip()
        if target_lang == "japanese":
            prediction = unicodedata.normalize("NFKC", prediction)
            ref = unicodedata.normalize("NFKC", ref)
            scores.append(sacrebleu.corpus_bleu([prediction], [[ref]], tokenize="ja-mecab").score)
        else:
            scores.append(sacrebleu.corpus_bleu([prediction], [[ref]]).score)
    return sum(scores) / len(scores)


_NER_CASES = [(" BRCA1, tp53\nmore", ["BRCA1", "TP53"]), ("", ["none"]), ("  ", []),
              ("none", ["none"]), ("頭痛、発熱", ["頭痛", "発熱"]), ("頭痛, , 発熱", ["頭痛", ""]),
              ("A, B, C, D", ["a", "x"]), ("\n頭痛", ["頭痛"]), ("頭痛 ,  発熱", ["頭痛", "発熱"])]


def test_metrics_equal_med_eval_transcriptions():
    for raw, labels in _NER_CASES:
        assert ner_f1(raw, labels) == pytest.approx(_med_eval_entity_f1(raw, labels)), raw
    ja_refs = ["患者はＣＴで径３ｃｍの腫瘤を認めた。", "血圧は高かった。", "彼は頭痛を訴えた。"]
    ja_raws = [" 患者はCTで径3cmの腫瘤を認めた。\n次", "血圧が高かった。", ""]
    en_refs = ["The patient had a fever .", "Blood pressure was high .", "He had a headache ."]
    en_raws = [" The patient had a fever .\nNext", "Blood pressure was ＨＩＧＨ .", "headache"]
    for raws, refs, lang, code in ((ja_raws, ja_refs, JA, "japanese"),
                                   (en_raws, en_refs, EN, "english")):
        ours = mean_sentence_bleu([mt_hypothesis(r) for r in raws], refs, lang)
        assert ours == pytest.approx(_med_eval_bleu(raws, refs, code) / 100)
        assert 0 < ours < 1


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


def test_jmedbench_bleu_is_the_mean_of_sentence_bleus():
    """med-eval's evaluate_mt.py: mean over sentences of sacrebleu.corpus_bleu([hyp], [[ref]])
    (NFKC + ja-mecab for Japanese targets), which differs from corpus BLEU."""
    import sacrebleu

    refs = ["患者は昨日から強い頭痛と発熱を訴えている。", "血圧は高かった。"]
    hyps = ["患者は昨日から強い頭痛と発熱を訴えている。", "検査で異常はなかった。"]
    per = sentence_bleus(hyps, refs, JA)
    assert per[0] == pytest.approx(1.0)
    assert per[1] == pytest.approx(
        sacrebleu.corpus_bleu([hyps[1]], [[refs[1]]], tokenize="ja-mecab").score / 100)
    assert mean_sentence_bleu(hyps, refs, JA) == pytest.approx(sum(per) / 2)
    assert mean_sentence_bleu(hyps, refs, JA) != pytest.approx(bleu(hyps, refs, JA))
    # NFKC for Japanese targets: full-width letters and digits equal their ASCII forms ...
    assert sentence_bleus(["ＣＴで径３ｃｍの腫瘤を認めた。"], ["CTで径3cmの腫瘤を認めた。"],
                          JA) == pytest.approx([1.0])
    # ... but English is scored as is (13a), as in med-eval.
    assert sentence_bleus(["The ＣＴ scan showed a 3 cm mass ."],
                          ["The CT scan showed a 3 cm mass ."], EN)[0] < 1.0
    assert sentence_bleus(["The CT scan showed a 3 cm mass ."],
                          ["The CT scan showed a 3 cm mass ."], EN) == pytest.approx([1.0])
    assert mt_hypothesis("  患者は発熱している。 \n次の文") == "患者は発熱している。"
    with pytest.raises(ValueError, match="2 predictions but 1 golds"):
        sentence_bleus(hyps, refs[:1], JA)


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


@pytest.mark.parametrize(("p", "n", "expected"), [
    (0.5, 100, 0.05),          # sqrt(.25 / 100)
    (0.2, 400, 0.02),          # sqrt(.16 / 400)
    (1.0, 10, 0.0),
    (0.0, 3, 0.0),
    (2 / 3, 3, math.sqrt(2 / 27)),
])
def test_binomial_se(p, n, expected):
    assert binomial_se(p, n) == pytest.approx(expected)


def test_bootstrap_se_is_seeded_and_scales():
    x = [0.0, 1.0] * 50
    a = mean_bootstrap_se(x, seed=1)
    assert a == mean_bootstrap_se(x, seed=1)  # byte-identical reruns need exact equality
    assert a != mean_bootstrap_se(x, seed=2)
    # The bootstrap SE of a mean approaches sd / sqrt(n) = 0.5 / 10.
    assert a == pytest.approx(0.05, rel=0.2)
    assert mean_bootstrap_se([0.7] * 20) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="no items"):
        bootstrap_se(lambda idx: 0.0, 0)


def test_pearson_bootstrap_se():
    golds = [0, 1, 2, 3, 4, 5] * 3
    assert pearson_bootstrap_se(golds, golds) < 0.2  # r = 1 except for constant resamples
    noisy = pearson_bootstrap_se([3, 0, 5, 1, 2, 4] * 3, golds)
    assert 0.05 < noisy < 0.6
    assert noisy == pearson_bootstrap_se([3, 0, 5, 1, 2, 4] * 3, golds)


def test_bleu_bootstrap_matches_resampled_corpus_bleu():
    """The fast path (per-sentence n-gram counts, summed per resample) must equal sacrebleu
    rescoring each resample from scratch."""
    refs = ["患者は昨日から発熱している。", "血圧は高かった。", "彼は頭痛を訴えた。",
            "検査で異常はなかった。"]
    hyps = ["患者は昨日から熱がある。", "血圧が高かった。", "彼は頭痛を訴えた。", "異常なし。"]
    fast = bleu_bootstrap_se(hyps, refs, JA, n_resamples=30, seed=7)
    rng = np.random.default_rng(7)
    slow = []
    for _ in range(30):
        idx = rng.integers(0, len(refs), size=len(refs))
        slow.append(bleu([hyps[i] for i in idx], [refs[i] for i in idx], JA))
    assert fast == pytest.approx(float(np.std(slow, ddof=1)), abs=1e-9)
    assert fast > 0


def test_bleu_signature_names_tokenizer():
    assert "tok:ja-mecab" in bleu_signature(JA) and "nrefs:1" in bleu_signature(JA)
    assert "tok:13a" in bleu_signature(EN)


# --- loaders ---------------------------------------------------------------------------------

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
        write_jsonl(task_data_path(get_task(name), data_dir), records)
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
    write_jsonl(path, [FIXTURE_DATA[task][0], record])
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
    write_jsonl(task_data_path(t, tmp_path), [{**FIXTURE_DATA[task][0], **patch}])
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


# --- loaders on JMedBench-format fixtures ------------------------------------------------------

# (task, n records, first sample_id, gold index or None) for each fixture folder.
FIXTURE_EXPECTED = [
    ("MedQA-Jp", 3, 0, 0),
    ("MedQA", 2, 0, 0),
    ("PubMedQA-Jp", 2, "21645374", 0),
    ("CRADE", 2, 0, 2),
    ("JCSTS", 3, 0, 5),
    ("EJMMT-Ja", 2, "line-1", None),
    ("EJMMT-En", 2, "line-1", None),
    ("BC2GM-Jp", 2, "line-1", None),
]
REAL_FORMAT_TASKS = [name for name, *_ in FIXTURE_EXPECTED]


@pytest.mark.parametrize(("task", "n", "first_id", "gold"), FIXTURE_EXPECTED)
def test_loaders_read_jmedbench_format(task, n, first_id, gold):
    t = get_task(task)
    records = load_records(t, JMEDBENCH_FIXTURES)
    assert len(records) == n
    assert records[0]["sample_id"] == first_id  # NER/MT records have none: named by line
    if gold is not None:
        assert gold_index(t, records[0]) == gold
    prompt, target = prompt_and_target(t, records[0])
    assert prompt and target.strip()


def test_context_and_record_options_reach_the_prompt():
    # PubMedQA's abstract and a DC document (metadata.context) must be in the prompt, and a
    # published (MCQA-shaped) DC record is scored over its own options.
    pub = load_records(get_task("PubMedQA-Jp"), JMEDBENCH_FIXTURES)[0]
    prompt, choices = prompt_and_choices(get_task("PubMedQA-Jp"), pub)
    assert prompt.startswith("要旨：2型糖尿病患者120名") and prompt.endswith("\n答え：")
    assert choices == ["はい", "いいえ", "たぶん"]  # appended without a space, as med-eval
    crade = load_records(get_task("CRADE"), JMEDBENCH_FIXTURES)[0]
    prompt, choices = prompt_and_choices(get_task("CRADE"), crade)
    assert prompt.startswith("文脈：抗菌薬投与開始3日後") and "\n質問：この症例報告" in prompt
    assert choices == crade["options"]
    # Only PubMedQA and DC use a context (as in med-eval): a MedQA record carrying one in its
    # metadata keeps the plain MCQA prompt.
    medqa = load_records(get_task("MedQA"), JMEDBENCH_FIXTURES)[0]
    medqa["metadata"] = {"context": "stray passage"}
    assert prompt_and_choices(get_task("MedQA"), medqa)[0].startswith("Question: A 45-year-old")


# The prompts med-eval renders for these records, written out by hand from its templates
# (templates/mcqa.py, nli.py, mt.py, ner.py + tasks/ner.py; full-width colons in Japanese).
_MCQA_JA = {"sample_id": 1, "question": "発熱の原因は。", "options": ["髄膜炎", "骨折"],
            "answer_idx": 0, "n_options": 2, "metadata": {}}
_MCQA_EN = {"sample_id": 1, "question": "Cause of fever?", "options": ["meningitis", "fracture"],
            "answer_idx": 1, "n_options": 2, "metadata": {}}
_PUB = {"sample_id": 1, "question": "有効か。", "options": ["はい", "いいえ", "たぶん"],
        "answer_idx": 2, "n_options": 3, "metadata": {"context": "要旨本文。"}}
_DC_MCQA = {"sample_id": 1, "question": "T分類は。", "options": ["T1", "T2", "T3", "T4"],
            "answer_idx": 1, "n_options": 4, "metadata": {"context": "腫瘤を認める。"}}
_DC_NLI = {"sample_id": 1, "premise": "腫瘤を認める。", "hypothesis": "", "label": 1,
           "n_label": 4, "metadata": {}}
_STS = {"sample_id": 1, "premise": "文A。", "hypothesis": "文B。", "label": 3, "n_label": 6,
        "metadata": {}}
_MT = {"english": "Fever.", "japanese": "発熱。"}
_NER = {"text": "BRCA1を認めた。", "labels": ["BRCA1"], "entity_type": "遺伝子"}
_MRNER = {"text": "頭痛あり。", "labels": ["頭痛"], "entity_type": "Disease"}
_MRNER_TYPE = "患者に実際に認められた病変や症状の存在を示す異常などの所見を表す表現"


@pytest.mark.parametrize(("task", "record", "prompt", "target"), [
    ("MedQA-Jp", _MCQA_JA, "質問：発熱の原因は。\nA. 髄膜炎\nB. 骨折\n答え：", "髄膜炎"),
    ("MedQA", _MCQA_EN, "Question: Cause of fever?\nA. meningitis\nB. fracture\nAnswer: ",
     "fracture"),
    ("PubMedQA-Jp", _PUB, "要旨：要旨本文。\n質問：有効か。\n答え：", "たぶん"),
    ("PubMedQA", _PUB, "Abstract: 要旨本文。\nQuestion: 有効か。\nAnswer: ", "たぶん"),
    ("RRTNM", _DC_MCQA, "文脈：腫瘤を認める。\n質問：T分類は。\nA. T1\nB. T2\nC. T3\nD. T4\n答え：",
     "T2"),
    # The demo's NLI-shaped DC record renders as the MCQA-shaped one with the task's question.
    ("RRTNM", _DC_NLI, ("文脈：腫瘤を認める。\n質問：この読影所見のT分類はどれか。\nA. T1\nB. T2\n"
                        "C. T3\nD. T4\n答え："), "T2"),
    ("JCSTS", _STS, "テキスト1：文A。\nテキスト2：文B。\n類似度 (0-5)：", " 3"),
    ("EJMMT-Ja", _MT, "翻訳（English => 日本語）：Fever. => ", "発熱。"),
    ("EJMMT-En", _MT, "Translation (日本語 => English): 発熱。 => ", "Fever."),
    ("BC2GM-Jp", _NER, "以下の段落において、遺伝子は？\n段落: BRCA1を認めた。 => 遺伝子:", " BRCA1"),
    ("MRNER-Disease", _MRNER, (f"以下の段落において、{_MRNER_TYPE}は？\n段落: 頭痛あり。 => "
                               f"{_MRNER_TYPE}:"), " 頭痛"),
    ("BC2GM-Jp", {**_NER, "labels": ["none"]}, None, " none"),
    ("BC2GM-Jp", {**_NER, "labels": []}, None, " none"),
])
def test_prompts_are_med_evals(task, record, prompt, target):
    got_prompt, got_target = prompt_and_target(get_task(task), record)
    if prompt is not None:
        assert got_prompt == prompt
    assert got_target == target


# --- bad input: one error naming task, file and record; nothing written -------------------------

def _copy_fixture(tmp_path: Path, task: str, edit=None) -> Path:
    """The fixture data of `task` under tmp_path/data, its records passed through `edit`."""
    t = get_task(task)
    records = [json.loads(x) for x in
               task_data_path(t, JMEDBENCH_FIXTURES).read_text(encoding="utf-8").splitlines()]
    if edit is not None:
        records = edit(records)
    path = task_data_path(t, tmp_path / "data")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return tmp_path / "data"


def _drop(field, line):
    return lambda rs: [{k: v for k, v in r.items() if k != field or i != line - 1}
                       for i, r in enumerate(rs)]


def _patch(line, **values):
    return lambda rs: [{**r, **values} if i == line - 1 else r for i, r in enumerate(rs)]


_INDEX = "must be an integer in "


@pytest.mark.parametrize(("task", "edit", "match"), [
    ("MedQA-Jp", _drop("question", 2), r"medqa_jp/test.jsonl, line 2 \(sample_id 1\): missing "),
    ("CRADE", _patch(2, answer_idx=4), r"crade/test.jsonl, line 2 \(sample_id 1\): field "
                                       r"'answer_idx' " + _INDEX),
    ("JCSTS", _patch(3, label=6), r"jcsts/test.jsonl, line 3 \(sample_id 2\): field 'label' "),
    ("MedQA", _patch(1, answer_idx=-1), r"medqa/test.jsonl, line 1 \(sample_id 0\): .*" + _INDEX),
    ("EJMMT-En", _drop("english", 2), r"ejmmt/test.jsonl, line 2: missing .* 'english'"),
    ("BC2GM-Jp", _drop("labels", 1), r"bc2gm_jp/test.jsonl, line 1: missing .* 'labels'"),
    ("MedQA", _patch(2, options=["Amlodipine", " "]), r"line 2 .*non-empty strings"),
    ("PubMedQA-Jp", lambda rs: [], r"pubmedqa_jp/test.jsonl: no records"),
])
def test_bad_input_names_task_file_record_and_writes_nothing(tiny_model_dir, tmp_path, task,
                                                             edit, match):
    data = _copy_fixture(tmp_path, task, edit)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"^{task}: .*{match}"):
        evaluate_model(tiny_model_dir, data, out / "scores.tsv", out / "predictions",
                       tasks=[task], progress=False)
    assert not out.exists()  # no score file, no provenance, no predictions


def test_missing_task_directory_is_named(tiny_model_dir, tmp_path):
    data = _copy_fixture(tmp_path, "MedQA")
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match=r"MedQA-Jp: task directory .*medqa_jp does not "
                                                r"exist.*medqa_jp/test.jsonl"):
        evaluate_model(tiny_model_dir, data, out / "scores.tsv", out / "predictions",
                       tasks=["MedQA", "MedQA-Jp"], progress=False)
    assert not out.exists()


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
    assert list(table.columns) == ["task", "category", "language", "metric", "score", "stderr",
                                   "n", "continuous_metric", "continuous_unit", "continuous",
                                   "continuous_stderr"]
    assert list(table["task"]) == FIXTURE_TASKS
    assert dict(zip(table["task"], table["n"], strict=True)) == {
        n: len(FIXTURE_DATA[n]) for n in FIXTURE_TASKS}
    for row in table.itertuples():
        low = -1.0 if row.metric == "pearson" else 0.0
        assert low <= row.score <= 1.0, row
        assert 0.0 <= row.stderr <= 1.0, row
        if row.metric == "accuracy":
            assert row.stderr == pytest.approx(math.sqrt(row.score * (1 - row.score) / row.n))
    for row in table.itertuples():
        option_scored = row.category in ("MCQA", "DC", "STS")
        assert (row.continuous_metric, row.continuous_unit) == (
            ("gold_option_zscore", "sd") if option_scored
            else ("gold_loglik_per_byte", "nats/byte")), row
        assert row.continuous_stderr > 0, row
        if not option_scored:  # log-likelihoods (a z-score takes either sign)
            assert row.continuous < 0, row
    lines = (out_dir / "scores.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == ("task\tcategory\tlanguage\tmetric\tscore\tstderr\tn\t"
                        "continuous_metric\tcontinuous_unit\tcontinuous\tcontinuous_stderr")
    assert lines[1].startswith("MedQA-Jp\tMCQA\tJapanese\taccuracy\t")
    assert "\t3\tgold_option_zscore\tsd\t" in lines[1]
    assert all(len(line.split("\t")[col].split(".")[1]) == 6
               for line in lines[1:] for col in (4, 5, 9, 10))
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
            expected = mean_sentence_bleu(preds, golds, task.language)
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
    assert {Path("scores.tsv"), Path("items.tsv"), Path("scores.provenance.json")} <= set(files1)
    for rel in files1:
        assert (out1 / rel).read_bytes() == (out2 / rel).read_bytes(), rel


def test_option_scores_match_direct_computation(first_run, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    _, out_dir = first_run
    for task_name in ("MedQA-Jp", "MedQA", "CRADE"):
        task = get_task(task_name)
        record = FIXTURE_DATA[task_name][1]
        prompt, choices = prompt_and_choices(task, record)
        # The English template ends in "Answer: ": its space goes with the option.
        base = prompt.rstrip()
        conts = [prompt[len(base):] + c for c in choices]
        manual = []
        with torch.no_grad():
            for cont in conts:
                # med-eval: encode prompt and prompt + option, the option is the tail.
                p = tokenizer(base)["input_ids"]
                c = tokenizer(base + cont)["input_ids"][len(p):]
                ids = torch.tensor([p + c])
                logprobs = torch.log_softmax(model(ids).logits[0], dim=-1)
                manual.append(sum(float(logprobs[t - 1, ids[0, t]])
                                  for t in range(len(p), len(p) + len(c))))
        row = _predictions(out_dir, task_name)[1]
        assert row["sample_id"] == record["sample_id"]
        assert row["loglik"] == pytest.approx(manual, abs=1e-4)
        assert row["prediction"] == max(range(len(manual)), key=manual.__getitem__)
        assert len(row["loglik_per_token"]) == len(row["n_tokens"]) == len(choices)
        assert row["loglik_per_token"] == pytest.approx(
            [m / n for m, n in zip(manual, row["n_tokens"], strict=True)], abs=1e-4)
        # Per-character normalisation divides by the continuation text's length, labelled.
        assert row["n_chars"] == [len(c) for c in conts]
        assert row["loglik_per_char"] == pytest.approx(
            [m / len(c) for m, c in zip(manual, conts, strict=True)], abs=1e-4)
        per_char = [m / len(c) for m, c in zip(manual, conts, strict=True)]
        assert row["prediction_per_char"] == max(range(len(per_char)), key=per_char.__getitem__)
        # The options are far apart, so the check would catch a wrong answer, not just noise.
        assert len({round(x, 1) for x in manual}) == len(manual)


def test_batch_size_does_not_change_answers(first_run, tiny_model_dir, fixture_data, tmp_path):
    _, out1 = first_run
    _, out2 = _run(tiny_model_dir, fixture_data, tmp_path, tasks=FIXTURE_TASKS, batch_size=1)
    for task in FIXTURE_TASKS:
        rows1, rows2 = _predictions(out1, task), _predictions(out2, task)
        for a, b in zip(rows1, rows2, strict=True):
            assert a["prediction"] == b["prediction"], (task, a["sample_id"])
            for key in ("loglik", "gold_logprob", "gold_margin", "gold_zscore",
                        "gold_loglik_per_byte"):
                if key in a:
                    assert a[key] == pytest.approx(b[key], abs=1e-4), (task, key)


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
    # Outputs are written only once every task has been scored: nothing at all is left.
    assert not [p.name for p in tmp_path.rglob("*") if p.is_file()]


def test_bad_arguments(tiny_model_dir, fixture_data, tmp_path):
    with pytest.raises(KeyError, match="unknown task"):
        _run(tiny_model_dir, fixture_data, tmp_path, tasks=["MedQA-Jp", "NoSuchTask"])
    with pytest.raises(FileNotFoundError, match="igakuqa"):
        _run(tiny_model_dir, fixture_data, tmp_path, tasks=["IgakuQA"])
    with pytest.raises(FileNotFoundError, match="igakuqa"):  # "all" means all 27 tasks
        _run(tiny_model_dir, fixture_data, tmp_path, tasks="all")
    assert not (tmp_path / "scores.tsv").exists()


def test_provenance_records_what_scores_depend_on(first_run, tiny_model_dir, fixture_data):
    table, out_dir = first_run
    prov = json.loads((out_dir / "scores.provenance.json").read_text(encoding="utf-8"))
    token_sha = hashlib.sha256((Path(tiny_model_dir) / "tokenizer.json").read_bytes()).hexdigest()
    assert prov["model"]["tokenizer_sha256"] == token_sha
    assert prov["model"]["dtype"] == "float32" and prov["model"]["device"] == "cpu"
    assert prov["settings"]["batch_size"] == 4 and prov["settings"]["option_scoring"] == "prefix"
    assert prov["settings"]["scoring"] == "cptmix"  # the corrected rule is the default
    assert "trailing whitespace moved to the option" in prov["settings"]["scoring_rule"]
    assert {"bootstrap_seed", "bootstrap_resamples"} <= set(prov["settings"])
    assert sorted(prov["tasks"]) == sorted(table["task"])  # JSON keys are written sorted
    for name, entry in prov["tasks"].items():
        path = task_data_path(get_task(name), fixture_data)
        assert entry["data_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["template_sha256"] == template_hash(get_task(name))
        assert entry["n"] == len(FIXTURE_DATA[name])
    assert "tok:ja-mecab" in prov["tasks"]["EJMMT-Ja"]["sacrebleu_signature"]
    assert "tok:13a" in prov["tasks"]["EJMMT-En"]["sacrebleu_signature"]
    assert prov["tasks"]["MedQA"]["stderr"] == "binomial"
    assert set(prov["tasks"]["CRADE"]["length_normalised"]) == {"per_token", "per_char",
                                                               "per_byte"}
    definitions = prov["settings"]["continuous_metrics"]
    assert {k: v["unit"] for k, v in definitions.items()} == {
        "gold_option_zscore": "sd", "gold_option_margin": "nats",
        "gold_option_logprob": "nats", "gold_loglik_per_byte": "nats/byte"}
    assert "logsumexp" in definitions["gold_option_logprob"]["definition"]
    assert "mean(loglik[j]" in definitions["gold_option_margin"]["definition"]
    assert prov["settings"]["option_metric"] == "zscore"
    assert prov["tasks"]["JCSTS"]["continuous_metric"] == "gold_option_zscore"
    assert prov["tasks"]["BC2GM-Jp"]["continuous_unit"] == "nats/byte"


# --- continuous metrics and the per-item table -----------------------------------------------------

def _items(out_dir: Path):
    import pandas as pd

    return pd.read_csv(out_dir / "items.tsv", sep="\t", dtype={"sample_id": str})


def test_items_table_means_are_the_scores(first_run):
    """items.tsv: one row per record, tasks in registry order, records in file order; per task
    the mean of item_score is the JMedBench score (not STS) and the mean of item_continuous
    the continuous metric, as read back from the two written files."""
    import pandas as pd

    _, out_dir = first_run
    scores = pd.read_csv(out_dir / "scores.tsv", sep="\t").set_index("task")
    items = _items(out_dir)
    raw = [line.split("\t") for line in
           (out_dir / "items.tsv").read_text(encoding="utf-8").splitlines()]
    assert raw[0] == ["task", "sample_id", "item_score", "item_continuous", "prediction", "gold"]
    assert list(items["task"]) == [n for n in FIXTURE_TASKS for _ in FIXTURE_DATA[n]]
    for name in FIXTURE_TASKS:
        task, rows = get_task(name), items[items["task"] == name]
        preds = _predictions(out_dir, name)
        assert list(rows["sample_id"]) == [str(r["sample_id"]) for r in FIXTURE_DATA[name]]
        n = len(rows)
        assert rows["item_continuous"].mean() == pytest.approx(scores.loc[name, "continuous"],
                                                               abs=1e-6)
        assert float(np.std(rows["item_continuous"], ddof=1) / math.sqrt(n)) == pytest.approx(
            scores.loc[name, "continuous_stderr"], abs=1e-5)
        if task.category == "STS":
            assert rows["item_score"].isna().all()  # Pearson r is no mean over items
        else:
            assert rows["item_score"].mean() == pytest.approx(scores.loc[name, "score"],
                                                              abs=1e-6)
        if task.category in ("MCQA", "DC", "STS"):
            assert list(rows["prediction"]) == [p["prediction"] for p in preds]
            assert list(rows["gold"]) == [p["gold"] for p in preds]
            assert list(rows["item_continuous"]) == pytest.approx(
                [p["gold_zscore"] for p in preds], abs=1e-6)
            if task.category != "STS":
                assert list(rows["item_score"]) == [float(p["prediction"] == p["gold"])
                                                    for p in preds]
        else:
            assert rows["prediction"].isna().all() and rows["gold"].isna().all()
            key = "bleu" if task.category == "MT" else "f1"
            assert list(rows["item_score"]) == pytest.approx([p[key] for p in preds], abs=1e-6)
            assert list(rows["item_continuous"]) == pytest.approx(
                [p["gold_loglik_per_byte"] for p in preds], abs=1e-6)
    # Text-level format: integer option indices (the STS grade itself), NaN spelt "NaN",
    # other floats to 6 decimals.
    for cells in raw[1:]:
        category = get_task(cells[0]).category
        if category in ("MCQA", "DC", "STS"):
            assert cells[4].isdigit() and cells[5].isdigit(), cells
        else:
            assert cells[4:] == ["NaN", "NaN"], cells
        assert cells[2] == "NaN" if category == "STS" else len(cells[2].split(".")[1]) == 6
        assert len(cells[3].split(".")[1]) == 6
    sts = [c for c in raw[1:] if c[0] == "JCSTS"]
    assert [int(c[5]) for c in sts] == [r["label"] for r in FIXTURE_DATA["JCSTS"]]


def test_gold_option_logprob_is_the_log_softmax_of_the_logliks(first_run):
    """Option-scored continuous metric from the stored option log-likelihoods: the gold's
    log-softmax over the options; the options' probabilities sum to one."""
    _, out_dir = first_run
    for name in ("MedQA-Jp", "MedQA", "CRADE", "SMDIS", "JCSTS"):
        for row in _predictions(out_dir, name):
            x = np.asarray(row["loglik"], dtype=float)
            log_softmax = x - np.log(np.exp(x - x.max()).sum()) - x.max()
            assert row["gold_logprob"] == pytest.approx(log_softmax[row["gold"]], abs=1e-5)
            assert row["gold_logprob"] <= 0
            assert np.exp(log_softmax).sum() == pytest.approx(1.0)
            # The argmax answer is the option of highest normalised probability.
            assert row["prediction"] == int(np.argmax(log_softmax))
            others = np.delete(x, row["gold"])
            assert row["gold_margin"] == pytest.approx(x[row["gold"]] - others.mean(), abs=1e-5)
            assert row["gold_zscore"] == pytest.approx(
                (x[row["gold"]] - others.mean()) / x.std() if x.std() > 0 else 0.0, abs=1e-4)


def test_option_metric_logprob_writes_the_log_softmax(first_run, tiny_model_dir, fixture_data,
                                                      tmp_path):
    """evaluate.option_metric = logprob: the option tasks' continuous column is the gold
    log-softmax (the same predictions as the default run), named so in scores.tsv and
    provenance; MT/NER are unchanged; an unknown option metric names the config key."""
    table1, out1 = first_run
    tasks = ["MedQA", "JCSTS", "NRNER"]
    table2, out2 = _run(tiny_model_dir, fixture_data, tmp_path / "lp", tasks=tasks,
                        batch_size=4, option_metric="logprob")
    t1, t2 = table1.set_index("task"), table2.set_index("task")
    for name in ("MedQA", "JCSTS"):
        assert t2.loc[name, "continuous_metric"] == "gold_option_logprob"
        gold_lps = [p["gold_logprob"] for p in _predictions(out1, name)]
        assert t2.loc[name, "continuous"] == pytest.approx(np.mean(gold_lps), abs=1e-5)
        assert t2.loc[name, "score"] == t1.loc[name, "score"]
    assert t2.loc["NRNER", "continuous"] == pytest.approx(t1.loc["NRNER", "continuous"])
    prov = json.loads((out2 / "scores.provenance.json").read_text(encoding="utf-8"))
    assert prov["settings"]["option_metric"] == "logprob"
    with pytest.raises(ValueError, match=r"evaluate\.option_metric"):
        _run(tiny_model_dir, fixture_data, tmp_path / "bad", tasks=["MedQA"],
             option_metric="brier")
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("task", ["EJMMT-Ja", "EJMMT-En", "BC2GM-Jp", "NRNER"])
def test_generated_continuous_scores_the_tokens_sft_trains_on(first_run, tiny_model_dir, task):
    """MT/NER gold_loglik_per_byte: the teacher-forced log-likelihood of exactly the answer
    tokens SFT trains on (`answer_token_ids`, no EOS) after exactly its prompt ids, over the
    target's UTF-8 bytes. For MT the option-scoring rule would split differently (the
    prompt's trailing space would move into the target), so the check can fail."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cptmix.evaluate.scoring import _tokenise
    from cptmix.tasks import answer_token_ids

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    _, out_dir = first_run
    t = get_task(task)
    for record, row in zip(FIXTURE_DATA[task], _predictions(out_dir, task), strict=True):
        prompt, target = prompt_and_target(t, record)
        prompt_ids, answer_ids = answer_token_ids(tokenizer, t, prompt, target)
        with torch.no_grad():
            logprobs = torch.log_softmax(
                model(torch.tensor([prompt_ids + answer_ids])).logits[0].double(), dim=-1)
        manual = sum(float(logprobs[len(prompt_ids) + k - 1, a])
                     for k, a in enumerate(answer_ids))
        assert row["gold_n_tokens"] == len(answer_ids)
        assert row["gold_loglik"] == pytest.approx(manual, abs=1e-4)
        assert row["gold_loglik_per_byte"] == pytest.approx(
            manual / len(target.encode("utf-8")), abs=1e-5)
        if t.category == "MT":
            item = _tokenise(tokenizer, [(prompt, [target])], None)[0]
            assert (item.prompt, item.conts[0]) != (prompt_ids, answer_ids)


def test_items_path_can_be_chosen(tiny_model_dir, fixture_data, tmp_path):
    out = tmp_path / "out"
    evaluate_model(tiny_model_dir, fixture_data, out / "scores.tsv", out / "predictions",
                   tasks=["JCSTS"], progress=False, items_tsv=tmp_path / "elsewhere.tsv")
    assert not (out / "items.tsv").exists()
    lines = (tmp_path / "elsewhere.tsv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + len(FIXTURE_DATA["JCSTS"])


class _Named(dict):
    """A Snakemake input/output/params object: attribute access and `.get`."""

    __getattr__ = dict.__getitem__


@pytest.mark.parametrize("declared", [True, False])
def test_workflow_script_writes_items_where_the_rule_says(tiny_model_dir, fixture_data,
                                                         tmp_path, monkeypatch, declared):
    import runpy
    from types import SimpleNamespace

    # The script's log_to would take over this process's stderr and logging.
    monkeypatch.setattr("cptmix.io.log_to", lambda path: None)
    script = Path(__file__).parents[1] / "workflow" / "scripts" / "evaluate_model.py"
    out = tmp_path / "eval"
    output = _Named(scores=str(out / "scores.tsv"), predictions=str(out / "predictions"),
                    provenance=str(out / "scores.provenance.json"))
    if declared:
        output["item_scores"] = str(tmp_path / "declared" / "items.tsv")
    sm = SimpleNamespace(input=_Named(model=str(tiny_model_dir), data=str(fixture_data)),
                         output=output, log=[str(tmp_path / "log.txt")], threads=1,
                         params=_Named(tasks=["JCSTS"], batch_size=4, max_new_tokens=8,
                                       scoring="cptmix", option_metric="zscore"))
    runpy.run_path(str(script), init_globals={"snakemake": sm})
    assert (tmp_path / "declared" / "items.tsv").exists() == declared
    assert (out / "items.tsv").exists() != declared


def test_template_hash_tracks_prompt_changes(monkeypatch):
    from cptmix import tasks as task_module

    medqa = template_hash(get_task("MedQA"))
    assert medqa != template_hash(get_task("MedQA-Jp"))  # the template differs
    assert template_hash(get_task("MedQA")) == medqa  # deterministic
    monkeypatch.setitem(task_module.MEDEVAL_TEMPLATES, "mcqa_with_options",
                        "Question: {question}\n{options}\nAnswer:")
    assert template_hash(get_task("MedQA")) != medqa
    assert template_hash(get_task("MedQA-Jp")) == template_hash(get_task("MedQA-Jp"))


# --- shared-prefix option scoring == naive per-option scoring ------------------------------------

def _scoring_requests(tokenizer) -> list[tuple[str, list[str]]]:
    """Prompts of very different lengths, options of 1..8 tokens, 2..6 options per item, and
    one prompt longer than the tiny model's 512-token context (left truncation, naive path)."""
    rng = np.random.default_rng(3)
    words = ["頭痛", "発熱", "患者", "the", "patient", "fever", "血圧", "amlodipine", "答え"]
    requests = []
    for _ in range(24):
        question = " ".join(rng.choice(words, size=int(rng.integers(1, 80))))
        options = [" " + " ".join(rng.choice(words, size=int(rng.integers(1, 5))))
                   for _ in range(int(rng.integers(2, 7)))]
        requests.append((f"質問: {question}\n答え:", options))
    requests.append(("質問: " + "患者 " * 600 + "\n答え:", [" 頭痛", " 発熱 患者"]))
    assert len(tokenizer(requests[-1][0], add_special_tokens=False)["input_ids"]) > 512
    return requests


@pytest.mark.parametrize("batch_size", [2, 16])
def test_prefix_scoring_equals_naive(tiny_model_dir, batch_size):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cptmix.evaluate.scoring import score_options

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    requests = _scoring_requests(tokenizer)
    naive = score_options(model, tokenizer, requests, batch_size=batch_size, method="naive")
    fast = score_options(model, tokenizer, requests, batch_size=batch_size, method="prefix")
    for a, b in zip(naive, fast, strict=True):
        assert [s.loglik for s in b] == pytest.approx([s.loglik for s in a], abs=1e-4)
        assert [s.n_tokens for s in b] == [s.n_tokens for s in a]
        assert np.argmax([s.loglik for s in a]) == np.argmax([s.loglik for s in b])
    # Random options differ by whole nats: the agreement is not an artefact of ties.
    assert len({round(s.loglik, 1) for s in naive[0]}) == len(naive[0])


@pytest.fixture(scope="module")
def bos_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with a tokenizer that adds BOS to every encoding, as Llama's and
    llm-jp's do (the case med-eval's `[bos] + ids[1:]` was written for)."""
    import shutil

    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    out = tmp_path_factory.mktemp("bos_model")
    for f in Path(tiny_model_dir).iterdir():
        shutil.copy(f, out / f.name)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.backend_tokenizer.post_processor = TemplateProcessing(
        single=f"{tok.bos_token} $A", special_tokens=[(tok.bos_token, tok.bos_token_id)])
    tok.save_pretrained(out)
    assert AutoTokenizer.from_pretrained(out)("x")["input_ids"][0] == tok.bos_token_id
    return out


def _med_eval_losses(model, tokenizer, prompt: str, options: list[str],
                     overwrite_bos: bool = True) -> list[float]:
    """med-eval's MCQA scoring, transcribed from `tasks/mcqa.py` (construct_requests) and
    `evaluate_mcqa.py` (_loglikelihood_batch): one unpadded sequence per option.
    `overwrite_bos=False` skips its `[bos] + ids[1:]` (our one departure on the token side
    for tokenizers that define a BOS but do not add it)."""
    import torch
    from torch import nn

    input_ids = tokenizer(prompt, return_tensors="pt")["input_ids"].squeeze().tolist()
    losses = []
    for option in options:
        all_ids = tokenizer(prompt + f"{option}",
                            return_tensors="pt")["input_ids"].squeeze().tolist()
        output_ids = all_ids[len(input_ids):]
        if tokenizer.bos_token_id is not None and overwrite_bos:
            ids = [tokenizer.bos_token_id] + input_ids[1:] + output_ids
        else:
            ids = input_ids + output_ids
        labels = torch.tensor([[-100] * len(input_ids) + output_ids])
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits
        loss = nn.CrossEntropyLoss(ignore_index=-100, reduction="none")(
            logits[0, :-1], labels[0, 1:])
        losses.append(float(loss.sum()))
    return losses


@pytest.mark.parametrize("with_bos", [False, True])
def test_option_scores_equal_med_eval_on_japanese_templates(tiny_model_dir, bos_model_dir,
                                                            with_bos):
    """On the Japanese templates (no trailing space) our log-likelihoods are minus med-eval's
    summed losses, prompt-cache path included, for a tokenizer that adds BOS (the paper's
    models). For one that defines a BOS without adding it (cptmix's), med-eval would
    overwrite the prompt's first token with it; we keep the prompt whole."""
    from cptmix.evaluate.scoring import score_options

    model, tokenizer = _model_and_tokenizer(bos_model_dir if with_bos else tiny_model_dir)
    requests = [prompt_and_choices(get_task(name), r)
                for name in ("MedQA-Jp", "CRADE", "SMDIS", "JCSTS")
                for r in FIXTURE_DATA[name]]
    requests += [prompt_and_choices(get_task(n), load_records(get_task(n), JMEDBENCH_FIXTURES)[0])
                 for n in ("PubMedQA-Jp", "CRADE")]
    for method in ("prefix", "naive"):
        ours = score_options(model, tokenizer, requests, batch_size=3, method=method)
        for (prompt, options), scores in zip(requests, ours, strict=True):
            theirs = _med_eval_losses(model, tokenizer, prompt, options,
                                      overwrite_bos=with_bos)
            assert [-s.loglik for s in scores] == pytest.approx(theirs, abs=1e-4)
            assert np.argmax([s.loglik for s in scores]) == np.argmin(theirs)
            if not with_bos:  # the overwrite would change the scores: a real departure
                overwritten = _med_eval_losses(model, tokenizer, prompt, options)
                assert [-s.loglik for s in scores] != pytest.approx(overwritten, abs=1e-4)


def test_english_trailing_space_goes_with_the_option(tiny_model_dir):
    """med-eval's cut after "Answer: " would drop the option's first token (or all of it);
    moving the space keeps every token of " amlodipine" and the text scored is the same."""
    from transformers import AutoTokenizer

    from cptmix.evaluate.scoring import encode, encode_pair, split_text

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompt = "Question: Which drug?\nA. amlodipine\nB. insulin\nAnswer: "
    _, med_eval_cut, merged = encode_pair(tokenizer, prompt, "amlodipine")
    assert merged  # the joint encoding does not start with the prompt's ids
    assert tokenizer.decode(med_eval_cut) != "amlodipine"
    base, cont = split_text(prompt, "amlodipine")
    assert (base, cont) == (prompt[:-1], " amlodipine")
    ids, cut, merged = encode_pair(tokenizer, base, cont)
    assert not merged and ids == encode(tokenizer, base)
    assert tokenizer.decode(cut) == " amlodipine"
    assert split_text("質問：x\n答え：", "はい") == ("質問：x\n答え：", "はい")


@pytest.mark.parametrize("task", ["MedQA", "MedQA-Jp", "CRADE", "JCSTS", "EJMMT-Ja",
                                  "EJMMT-En", "BC2GM-Jp"])
def test_sft_answer_tokens_are_the_tokens_evaluation_uses(tiny_model_dir, task):
    """`answer_token_ids` (for SFT) gives the gold option exactly the tokens it is scored with,
    and a generated answer the prompt ids generation starts from."""
    from transformers import AutoTokenizer

    from cptmix.evaluate.scoring import _tokenise, encode
    from cptmix.tasks import answer_token_ids

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    t, record = get_task(task), FIXTURE_DATA[task][0]
    prompt, answer = prompt_and_target(t, record)
    prompt_ids, answer_ids = answer_token_ids(tokenizer, t, prompt, answer)
    if t.category in ("MCQA", "DC", "STS"):
        item = _tokenise(tokenizer, [prompt_and_choices(t, record)], None)[0]
        assert prompt_ids == item.prompt
        assert answer_ids == item.conts[gold_index(t, record)]
        assert tokenizer.decode(answer_ids) == prompt[len(prompt.rstrip()):] + answer
    else:
        assert prompt_ids == encode(tokenizer, prompt)  # "=> " keeps its space, as med-eval
        assert tokenizer.decode(answer_ids) == answer


def test_zero_token_option_is_an_error_naming_the_record(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cptmix.evaluate.scoring import score_options

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for method in ("prefix", "naive"):
        with pytest.raises(ValueError, match=r"MedQA, medqa/test.jsonl, record 'q7': option 1 "
                                             r"\(''\) tokenizes to zero continuation tokens"):
            score_options(model, tokenizer, [("Question: x\nAnswer:", [" a", ""])],
                          names=["MedQA, medqa/test.jsonl, record 'q7'"], method=method)


# --- end to end on the JMedBench-format fixtures --------------------------------------------------

def test_end_to_end_on_jmedbench_format(tiny_model_dir, tmp_path):
    table, out = _run(tiny_model_dir, JMEDBENCH_FIXTURES, tmp_path / "prefix",
                      tasks=REAL_FORMAT_TASKS, batch_size=4)
    assert list(table["task"]) == [n for n in TASK_NAMES if n in REAL_FORMAT_TASKS]
    assert dict(zip(table["task"], table["n"], strict=True)) == {
        name: n for name, n, *_ in FIXTURE_EXPECTED}
    assert [r["sample_id"] for r in _predictions(out, "BC2GM-Jp")] == ["line-1", "line-2"]
    assert [r["gold"] for r in _predictions(out, "CRADE")] == [2, 0]
    # The naive scorer gives the same answers on the same items.
    _, naive = _run(tiny_model_dir, JMEDBENCH_FIXTURES, tmp_path / "naive",
                    tasks=["MedQA-Jp", "PubMedQA-Jp", "CRADE", "JCSTS"], method="naive")
    for task in ("MedQA-Jp", "PubMedQA-Jp", "CRADE", "JCSTS"):
        for a, b in zip(_predictions(out, task), _predictions(naive, task), strict=True):
            assert a["prediction"] == b["prediction"]
            assert a["loglik"] == pytest.approx(b["loglik"], abs=1e-4)


# --- MT-source quality (appendix B) --------------------------------------------------------------

def test_mt_quality_bleu_pairs_by_id_and_skips_unconfigured_comet(tmp_path):
    from cptmix.evaluate.translation_quality import mt_quality

    refs = [{"sample_id": f"m{i}", "english": e, "japanese": j} for i, (e, j) in enumerate([
        ("The patient has a fever.", "患者は発熱している。"),
        ("Blood pressure was high.", "血圧が高かった。"),
        ("He complained of a headache.", "彼は頭痛を訴えた。")])]
    write_jsonl(tmp_path / "ref.jsonl", refs)
    write_jsonl(tmp_path / "same.jsonl", [{"sample_id": r["sample_id"],
                                           "japanese": r["japanese"]} for r in reversed(refs)])
    out = mt_quality(tmp_path / "same.jsonl", tmp_path / "ref.jsonl")
    assert out["n"] == 3 and out["bleu"] == pytest.approx(1.0)  # paired by id, not by line
    assert "tok:ja-mecab" in out["sacrebleu_signature"]
    assert out["comet"] is None and out["comet_model"] is None
    hyps = [{"japanese": "患者は熱がある。"}, {"japanese": "血圧が高かった。"},
            {"japanese": "頭痛を訴えた。"}]
    write_jsonl(tmp_path / "hyp.jsonl", hyps)  # no ids: paired by line
    out = mt_quality(tmp_path / "hyp.jsonl", tmp_path / "ref.jsonl")
    assert out["bleu"] == pytest.approx(bleu([h["japanese"] for h in hyps],
                                             [r["japanese"] for r in refs], JA))
    assert 0 < out["bleu"] < 1 and out["bleu_stderr"] > 0
    write_jsonl(tmp_path / "short.jsonl", hyps[:2])
    with pytest.raises(ValueError, match="2 lines but .* has 3"):
        mt_quality(tmp_path / "short.jsonl", tmp_path / "ref.jsonl")
    write_jsonl(tmp_path / "stray.jsonl", [{"sample_id": "m9", "japanese": "x"}])
    with pytest.raises(ValueError, match="have no reference .* 'm9'"):
        mt_quality(tmp_path / "stray.jsonl", tmp_path / "ref.jsonl")
    with pytest.raises(FileNotFoundError, match="COMET checkpoint"):
        mt_quality(tmp_path / "hyp.jsonl", tmp_path / "ref.jsonl",
                   comet_model=tmp_path / "missing.ckpt")


def test_generation_budget_per_category(tiny_model_dir, fixture_data, tmp_path):
    """`max_new_tokens` may be set per category (med-eval: MT 256, NER 128)."""
    tasks = ["EJMMT-Ja", "BC2GM-Jp"]
    _, wide = _run(tiny_model_dir, fixture_data, tmp_path / "wide", tasks=tasks, max_new_tokens=8)
    _, split = _run(tiny_model_dir, fixture_data, tmp_path / "split", tasks=tasks,
                    max_new_tokens={"MT": 1, "NER": 8})
    # Greedy decoding: one token is a prefix of eight, and strictly shorter somewhere.
    short = [p["generation"] for p in _predictions(split, "EJMMT-Ja")]
    long = [p["generation"] for p in _predictions(wide, "EJMMT-Ja")]
    assert all(b.startswith(a) for a, b in zip(short, long, strict=True))
    assert sum(map(len, short)) < sum(map(len, long))
    assert _predictions(split, "BC2GM-Jp") == _predictions(wide, "BC2GM-Jp")
    with pytest.raises(ValueError, match="max_new_tokens"):
        _run(tiny_model_dir, fixture_data, tmp_path / "bad", tasks=tasks,
             max_new_tokens={"MT": 4})


# --- med-eval's option scoring as a choice (`evaluate.scoring: medeval`) ---------------------------
#
# The reference: med-eval's request builders and loss, line by line (github.com/nii-nlp/med-eval,
# `tasks/mcqa.py` MCQARequestDataset.construct_requests, `tasks/nli.py` NLIRequestDataset.
# construct_requests, `evaluate_mcqa.py` _loglikelihood_batch; zero-shot, truncate off, as its
# JMedBench scripts run). `evaluate_sts.py` sums vLLM's prompt log-probs of the same label
# tokens, which is minus the same cross-entropy sum.

def _med_eval_requests(tokenizer, input_text: str, options: list[str],
                       nli: bool = False) -> list[dict]:
    """MCQA/DC (`nli=False`, options = the record's) or STS (`nli=True`, options = the label
    set, appended after a space) requests, as med-eval builds them."""
    input_token_ids = tokenizer(input_text, return_tensors="pt")["input_ids"].squeeze().tolist()
    all_output_token_ids = []
    for option in options:
        output_text = input_text + (f" {option}" if nli else f"{option}")  # " {}".format(...)
        all_token_ids = tokenizer(output_text, return_tensors="pt")["input_ids"].squeeze().tolist()
        output_token_ids = all_token_ids[len(input_token_ids):]
        if not nli and len(output_token_ids) == 0:  # tasks/mcqa.py only
            output_token_ids = tokenizer(option, add_special_tokens=False)["input_ids"]
            if len(output_token_ids) == 0:
                output_token_ids = [tokenizer.unk_token_id or 0]
        all_output_token_ids.append(output_token_ids)
    requests = []
    for j, output_token_ids in enumerate(all_output_token_ids):
        if tokenizer.bos_token_id is not None:
            all_token_ids = [tokenizer.bos_token_id] + input_token_ids[1:] + output_token_ids
            labels = [-100] * len(input_token_ids) + output_token_ids
        else:
            all_token_ids = input_token_ids + output_token_ids
            labels = [-100] * len(input_token_ids) + output_token_ids
        requests.append({"option_id": j, "input_ids": all_token_ids, "labels": labels})
    return requests


def _med_eval_loss(model, request: dict) -> float:
    """evaluate_mcqa.py `_loglikelihood_batch` for one request (a batch of one: med-eval's
    collator pads labels with -100, so padding changes nothing)."""
    import torch
    from torch import nn

    input_ids, labels = torch.tensor([request["input_ids"]]), torch.tensor([request["labels"]])
    with torch.no_grad():
        lm_logits = model(input_ids=input_ids).logits
    shift_logits = lm_logits[..., :-1, :].contiguous()
    shift_labels = labels[..., 1:].contiguous()
    loss_fct = nn.CrossEntropyLoss(ignore_index=-100, reduction="none")
    losses = loss_fct(shift_logits.view(-1, shift_logits.size(-1)), shift_labels.view(-1))
    return float(losses.view(1, -1).sum(dim=-1)[0])


def _med_eval_reference(model, tokenizer, task, record) -> tuple[list[dict], list[float]]:
    """med-eval's requests and losses for one record (its prediction is argmin of losses)."""
    prompt, choices = prompt_and_choices(task, record)
    if task.category == "STS":
        requests = _med_eval_requests(tokenizer, prompt, list(task.labels), nli=True)
    else:
        requests = _med_eval_requests(tokenizer, prompt, choices)
    return requests, [_med_eval_loss(model, r) for r in requests]


@pytest.fixture(scope="module")
def no_bos_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with a tokenizer that defines no BOS at all (med-eval then keeps the
    prompt's ids as they are)."""
    import shutil

    from transformers import AutoTokenizer

    out = tmp_path_factory.mktemp("no_bos_model")
    for f in Path(tiny_model_dir).iterdir():
        shutil.copy(f, out / f.name)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.bos_token = None
    tok.save_pretrained(out)
    assert AutoTokenizer.from_pretrained(out).bos_token_id is None
    return out


# The three BOS cases: adds one (Llama, llm-jp: the paper's models), defines one it does not add
# (cptmix's own tokenizer, bos = eos), defines none.
BOS_KINDS = ("adds_bos", "defines_bos", "no_bos")


@pytest.fixture(scope="module")
def bos_kind_dirs(tiny_model_dir, bos_model_dir, no_bos_model_dir):
    return {"adds_bos": bos_model_dir, "defines_bos": tiny_model_dir, "no_bos": no_bos_model_dir}


def _fixture_records(folder: str) -> list[dict]:
    path = JMEDBENCH_FIXTURES / folder / "test.jsonl"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


# Every option-scored shape: English and Japanese MCQA with and without a context, DC in the
# published (MCQA) shape and the demo's (premise/label) shape, STS. Ids unique per task.
PARITY_DATA = {
    "MedQA": FIXTURE_DATA["MedQA"] + _fixture_records("medqa"),
    "PubMedQA": [{**r, "sample_id": f"p{i}"} for i, r in
                 enumerate(_fixture_records("pubmedqa_jp") + [_MCQA_EN])],
    "MedQA-Jp": FIXTURE_DATA["MedQA-Jp"] + _fixture_records("medqa_jp"),
    "PubMedQA-Jp": _fixture_records("pubmedqa_jp"),
    "CRADE": FIXTURE_DATA["CRADE"] + _fixture_records("crade"),
    "RRTNM": [_DC_MCQA, {**_DC_NLI, "sample_id": 2}],
    "SMDIS": FIXTURE_DATA["SMDIS"],
    "JCSTS": FIXTURE_DATA["JCSTS"] + _fixture_records("jcsts"),
}
PARITY_CATEGORIES = {  # the option-scored categories, English MCQA apart (its prompts end in a space)
    "MCQA-English": ["MedQA", "PubMedQA"],
    "MCQA-Japanese": ["MedQA-Jp", "PubMedQA-Jp"],
    "DC": ["CRADE", "RRTNM", "SMDIS"],
    "STS": ["JCSTS"],
}


@pytest.fixture(scope="module")
def parity_runs(bos_kind_dirs, tmp_path_factory):
    """evaluate_model on PARITY_DATA under both rules, for each BOS kind: {(kind, rule): out}."""
    data = _write_data(tmp_path_factory.mktemp("parity_data"), PARITY_DATA)
    runs = {}
    for kind, model_dir in bos_kind_dirs.items():
        for rule in ("medeval", "cptmix"):
            out = tmp_path_factory.mktemp(f"parity_{kind}_{rule}")
            _run(model_dir, data, out, tasks=list(PARITY_DATA), batch_size=5, scoring=rule)
            runs[kind, rule] = out
    return runs


@functools.cache
def _model_and_tokenizer(model_dir):
    """The model (float32, eval mode) and tokenizer of `model_dir`, loaded once for the module:
    the parity tests only read them."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return (AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval(),
            AutoTokenizer.from_pretrained(model_dir))


# Log-likelihood tolerance: the token ids are compared exactly; the numbers come from the same
# float32 model over the same ids, ours from a KV-cached, left-padded batch (prefix) or a
# right-padded one (naive), med-eval's from one unpadded sequence, so they differ only by float32
# summation order (float32 eps ~1.2e-7 relative on sums of a few to ~100 nats; the predictions
# files round to 1e-6). 1e-4 nats is far below the gaps between options (the argmax check
# asserts the same winner) and above that rounding; the same bound the prefix-vs-naive test uses.
LOGLIK_TOL = 1e-4


@pytest.mark.parametrize("kind", BOS_KINDS)
@pytest.mark.parametrize("category", list(PARITY_CATEGORIES))
def test_medeval_scoring_equals_med_eval(parity_runs, bos_kind_dirs, category, kind):
    """Under `scoring="medeval"` every option is scored on exactly med-eval's token sequence,
    and the predictions and log-likelihoods written are med-eval's, for all three BOS kinds."""
    from cptmix.evaluate.scoring import _tokenise

    model, tokenizer = _model_and_tokenizer(bos_kind_dirs[kind])
    out = parity_runs[kind, "medeval"]
    for name in PARITY_CATEGORIES[category]:
        task = get_task(name)
        rule = "medeval_nli" if task.category == "STS" else "medeval"
        for record, row in zip(PARITY_DATA[name], _predictions(out, name), strict=True):
            requests, losses = _med_eval_reference(model, tokenizer, task, record)
            item = _tokenise(tokenizer, [prompt_and_choices(task, record)], None, rule)[0]
            for j, request in enumerate(requests):  # bit for bit on the token side
                assert item.prompt + item.conts[j] == request["input_ids"]
                assert item.conts[j] == [x for x in request["labels"] if x != -100]
            assert row["loglik"] == pytest.approx([-x for x in losses], abs=LOGLIK_TOL)
            assert row["prediction"] == int(np.argmin(losses))
            assert row["n_tokens"] == [len(c) for c in item.conts]


def _same_sequences(tokenizer, task, record) -> bool:
    """Whether the default rule scores exactly med-eval's token sequences on this record."""
    from cptmix.evaluate.scoring import _tokenise

    rule = "medeval_nli" if task.category == "STS" else "medeval"
    request = prompt_and_choices(task, record)
    ours = _tokenise(tokenizer, [request], None, "cptmix")[0]
    theirs = _tokenise(tokenizer, [request], None, rule)[0]
    return ours.prompt == theirs.prompt and ours.conts == theirs.conts


@pytest.mark.parametrize("kind", BOS_KINDS)
def test_default_scoring_departs_from_med_eval_where_documented(parity_runs, bos_kind_dirs,
                                                                kind):
    """The corrected default differs from med-eval exactly where the issue says: on English
    MCQA (the prompt's trailing space; for every BOS kind) and, for a tokenizer that defines a
    BOS it does not add, on every option task (the BOS overwrite); elsewhere the two rules
    score the same sequences and write the same log-likelihoods."""
    _, tokenizer = _model_and_tokenizer(bos_kind_dirs[kind])
    for category, names in PARITY_CATEGORIES.items():
        for name in names:
            task = get_task(name)
            ours = _predictions(parity_runs[kind, "cptmix"], name)
            theirs = _predictions(parity_runs[kind, "medeval"], name)
            departs = category == "MCQA-English" or kind == "defines_bos"
            for record, a, b in zip(PARITY_DATA[name], ours, theirs, strict=True):
                assert _same_sequences(tokenizer, task, record) != departs, (name, record)
                if departs:
                    assert a["loglik"] != pytest.approx(b["loglik"], abs=LOGLIK_TOL)
                else:
                    assert a == b
    # The departure changes answers, not only numbers (on these items, this random model).
    changed = sum(a["prediction"] != b["prediction"]
                  for name in PARITY_CATEGORIES["MCQA-English"]
                  for a, b in zip(_predictions(parity_runs[kind, "cptmix"], name),
                                  _predictions(parity_runs[kind, "medeval"], name), strict=True))
    assert changed >= 1


@pytest.mark.parametrize("method", ["prefix", "naive"])
def test_medeval_scoring_is_engine_independent(bos_kind_dirs, method):
    """Both engines score med-eval's sequences alike (prefix cache vs one pass per option)."""
    from cptmix.evaluate.scoring import score_options

    for model_dir in bos_kind_dirs.values():
        model, tokenizer = _model_and_tokenizer(model_dir)
        for name in ("MedQA", "CRADE"):
            task = get_task(name)
            requests = [prompt_and_choices(task, r) for r in PARITY_DATA[name]]
            ours = score_options(model, tokenizer, requests, batch_size=3, method=method,
                                 scoring="medeval")
            for record, scores in zip(PARITY_DATA[name], ours, strict=True):
                _, losses = _med_eval_reference(model, tokenizer, task, record)
                assert [s.loglik for s in scores] == pytest.approx([-x for x in losses],
                                                                   abs=LOGLIK_TOL)


def test_medeval_empty_option_fallback_and_its_absence_for_sts(tiny_model_dir, caplog):
    """med-eval's MCQA builder encodes an option the cut leaves empty on its own (else one
    unknown token, id 0 here); its NLI builder has no fallback: an error naming the record."""
    from cptmix.evaluate.scoring import score_options

    model, tokenizer = _model_and_tokenizer(tiny_model_dir)
    prompt = "Question: Which drug?\nA. amlodipine\nB. x\nAnswer: "
    requests = _med_eval_requests(tokenizer, prompt, ["amlodipine", ""])
    assert requests[1]["labels"][-1:] == [0] and requests[1]["labels"].count(0) == 1
    with caplog.at_level(logging.WARNING, logger="cptmix.evaluate.scoring"):
        scores = score_options(model, tokenizer, [(prompt, ["amlodipine", ""])],
                               names=["MedQA, f, record 'q1'"], scoring="medeval")[0]
    assert "MedQA, f, record 'q1': option 1 ('')" in caplog.text
    assert [s.loglik for s in scores] == pytest.approx(
        [-_med_eval_loss(model, r) for r in requests], abs=LOGLIK_TOL)
    # Here even "amlodipine" is cut to nothing (" amlodipine" is one token, the prompt's " "
    # another): the fallback scores it encoded alone; without it, the first empty one fails.
    assert "option 0 ('amlodipine')" in caplog.text
    with pytest.raises(ValueError, match=r"record 'q1': option 0 \('amlodipine'\) tokenizes "
                                         r"to zero"):
        score_options(model, tokenizer, [(prompt, ["amlodipine", ""])],
                      names=["MedQA, f, record 'q1'"], scoring="medeval_nli")


def test_scoring_is_named_in_provenance_and_checked(parity_runs, fixture_data, tiny_model_dir,
                                                    tmp_path):
    from cptmix.evaluate.scoring import SCORING_RULES

    for (_, rule), out in parity_runs.items():
        prov = json.loads((out / "scores.provenance.json").read_text(encoding="utf-8"))
        assert prov["settings"]["scoring"] == rule
        assert prov["settings"]["scoring_rule"] == SCORING_RULES[rule]
    assert "BOS written over" in json.loads(
        (parity_runs["adds_bos", "medeval"] / "scores.provenance.json").read_text())[
            "settings"]["conventions"]
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"unknown option scoring 'lm-eval' \(evaluate.scoring\);"
                                         r" use one of cptmix, medeval"):
        evaluate_model(tiny_model_dir, fixture_data, out / "scores.tsv", out / "predictions",
                       tasks=["MedQA"], progress=False, scoring="lm-eval")
    assert not out.exists()


def test_scoring_in_config_cli_and_script(tmp_path, capsys, tiny_model_dir, fixture_data,
                                          monkeypatch):
    """The config key (schema enum, default cptmix), the CLI flag and the workflow script all
    reach `evaluate_model`."""
    import runpy
    from types import SimpleNamespace

    import yaml

    from cptmix.cli import main
    from cptmix.config import StudyConfig

    root = Path(__file__).parents[1]
    demo = yaml.safe_load((root / "config" / "config.yaml").read_text(encoding="utf-8"))
    assert StudyConfig.from_dict(demo).evaluate.scoring == "cptmix"
    demo["evaluate"]["scoring"] = "medeval"
    assert StudyConfig.from_dict(demo).evaluate.scoring == "medeval"
    demo["evaluate"]["scoring"] = "lm-eval"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(demo, allow_unicode=True), encoding="utf-8")
    assert main(["check-config", str(bad)]) == 2
    assert "evaluate.scoring: 'lm-eval' is not one of ['cptmix', 'medeval']" in \
        capsys.readouterr().err

    out = tmp_path / "cli"
    assert main(["evaluate", "--model", str(tiny_model_dir), "--data", str(fixture_data),
                 "--out", str(out / "scores.tsv"), "--predictions", str(out / "predictions"),
                 "--tasks", "MedQA", "--scoring", "medeval"]) == 0
    prov = json.loads((out / "scores.provenance.json").read_text(encoding="utf-8"))
    assert prov["settings"]["scoring"] == "medeval"

    monkeypatch.setattr("cptmix.io.log_to", lambda path: None)
    script = root / "workflow" / "scripts" / "evaluate_model.py"
    out = tmp_path / "script"
    output = _Named(scores=str(out / "scores.tsv"), predictions=str(out / "predictions"),
                    provenance=str(out / "scores.provenance.json"))
    sm = SimpleNamespace(input=_Named(model=str(tiny_model_dir), data=str(fixture_data)),
                         output=output, log=[str(tmp_path / "log.txt")], threads=1,
                         params=_Named(tasks=["MedQA"], batch_size=4, max_new_tokens=8,
                                       scoring="medeval", option_metric="zscore"))
    runpy.run_path(str(script), init_globals={"snakemake": sm})
    prov = json.loads((out / "scores.provenance.json").read_text(encoding="utf-8"))
    assert prov["settings"]["scoring"] == "medeval"
