"""Tests for `cptmix.evaluate.continuous` (hand-computed log-softmax, mean and standard error)
and for `scoring.score_continuations`, the teacher-forced pass behind gold_loglik_per_byte:
per-byte units on a Japanese target, agreement with a direct forward pass, with the naive
path (context overflow included) and with `score_options` where the tokens coincide."""

from __future__ import annotations

import math

import pytest

from cptmix.evaluate.continuous import (
    DEFINITIONS,
    OPTION_FUNCTIONS,
    OPTION_METRICS,
    UNITS,
    continuous_metrics,
    gold_option_logprob,
    gold_option_margin,
    gold_option_zscore,
    mean_and_stderr,
)
from cptmix.tasks import TASKS, answer_token_ids, get_task, prompt_and_target


def test_gold_option_logprob_hand_computed():
    # logliks -1, -2, -3: logsumexp = -1 + log(1 + e^-1 + e^-2) = -0.592394..., so the gold
    # option 0 gets -0.407606 nats and option 2 gets -2.407606.
    assert gold_option_logprob([-1.0, -2.0, -3.0], 0) == pytest.approx(-0.40760596444, abs=1e-10)
    assert gold_option_logprob([-1.0, -2.0, -3.0], 2) == pytest.approx(-2.40760596444, abs=1e-10)
    # Uniform over k options: -log k; a single option: 0 (all mass on the gold).
    assert gold_option_logprob([-7.5] * 4, 3) == pytest.approx(-math.log(4))
    assert gold_option_logprob([-12.0], 0) == 0.0
    # Summed logliks of long options are large negatives: no underflow.
    assert gold_option_logprob([-1000.0, -1001.0], 1) == pytest.approx(
        -math.log(1 + math.e), abs=1e-12)
    probs = [math.exp(gold_option_logprob([-1.0, -2.5, -0.5], g)) for g in range(3)]
    assert sum(probs) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="gold index 3 outside the 3 options"):
        gold_option_logprob([-1.0, -2.0, -3.0], 3)


def test_gold_option_margin_hand_computed():
    # logliks -1, -2, -3: gold 0 -> -1 - (-2.5) = 1.5; gold 2 -> -3 - (-1.5) = -1.5
    assert gold_option_margin([-1.0, -2.0, -3.0], 0) == pytest.approx(1.5)
    assert gold_option_margin([-1.0, -2.0, -3.0], 2) == pytest.approx(-1.5)
    assert gold_option_margin([-7.5] * 4, 3) == 0.0
    # shifting every loglik (a longer prompt, a more confident model) changes nothing
    assert gold_option_margin([-1001.0, -1002.0, -1003.0], 0) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="gold index 3 outside the 3 options"):
        gold_option_margin([-1.0, -2.0, -3.0], 3)
    with pytest.raises(ValueError, match="at least two options"):
        gold_option_margin([-1.0], 0)


def test_gold_option_zscore_hand_computed():
    # logliks -1, -2, -3: margin of gold 0 is 1.5, population SD sqrt(2/3) = 0.816497
    assert gold_option_zscore([-1.0, -2.0, -3.0], 0) == pytest.approx(1.5 / math.sqrt(2 / 3))
    assert gold_option_zscore([-7.5] * 4, 1) == 0.0  # all tie
    assert gold_option_zscore([-1.0, -4.0], 0) == pytest.approx(2.0)  # two options: +-2
    assert gold_option_zscore([-1.0, -4.0], 1) == pytest.approx(-2.0)
    # a shift and a scale of every option's loglik (a flatter model) change nothing
    x = [-3.0, -5.5, -9.0, -4.0]
    assert gold_option_zscore([0.25 * v - 40 for v in x], 2) == pytest.approx(
        gold_option_zscore(x, 2))
    with pytest.raises(ValueError, match="gold index 4 outside the 4 options"):
        gold_option_zscore(x, 4)


def test_margin_ignores_calibration_where_logprob_does_not():
    """A model that cannot tell the gold (every option equally often gold, scores a
    permutation of one fixed profile): the mean margin over the golds is exactly 0 whether the
    profile is peaked or flat, while the mean log-softmax at the gold rises as it flattens."""
    def means(profile):
        k = len(profile)
        margin = sum(gold_option_margin(profile, g) for g in range(k)) / k
        zscore = sum(gold_option_zscore(profile, g) for g in range(k)) / k
        logprob = sum(gold_option_logprob(profile, g) for g in range(k)) / k
        return margin, zscore, logprob

    peaked, flat = [-1.0, -6.0, -9.0, -12.0], [-4.0, -5.0, -6.0, -7.0]
    (m_peaked, z_peaked, lp_peaked), (m_flat, z_flat, lp_flat) = means(peaked), means(flat)
    for value in (m_peaked, m_flat, z_peaked, z_flat):
        assert value == pytest.approx(0.0, abs=1e-12)
    assert lp_flat > lp_peaked + 1.0  # the log-softmax reads flattening as improvement


def test_mean_and_stderr_hand_computed():
    mean, se = mean_and_stderr([1.0, 2.0, 3.0, 4.0])
    # SD (ddof=1) = sqrt(5/3) = 1.290994; / sqrt(4)
    assert (mean, se) == pytest.approx((2.5, math.sqrt(5 / 3) / 2))
    assert mean_and_stderr([-0.3, -0.3]) == (-0.3, 0.0)
    mean, se = mean_and_stderr([-0.25])
    assert mean == -0.25 and math.isnan(se)  # one item: no spread to estimate
    with pytest.raises(ValueError, match="no items"):
        mean_and_stderr([])


@pytest.mark.parametrize("option_metric", sorted(OPTION_METRICS))
def test_every_category_has_a_defined_continuous_metric(option_metric):
    metrics = continuous_metrics(option_metric)
    assert set(OPTION_FUNCTIONS) == set(OPTION_METRICS)  # every option metric is computed
    assert {t.category for t in TASKS} == set(metrics)
    assert set(UNITS) == set(DEFINITIONS)
    assert set(metrics.values()) <= set(UNITS)
    assert {m: d["unit"] for m, d in DEFINITIONS.items()} == UNITS
    for metric in set(metrics.values()):
        assert sorted(DEFINITIONS[metric]["categories"]) == sorted(
            c for c, m in metrics.items() if m == metric)
    with pytest.raises(ValueError, match=r"evaluate\.option_metric"):
        continuous_metrics("accuracy")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(tiny_model_dir)


def _direct_loglik(model, prompt_ids: list[int], cont_ids: list[int]) -> float:
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids + cont_ids])).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(float(logprobs[len(prompt_ids) + k - 1, c]) for k, c in enumerate(cont_ids))


def test_per_byte_unit_on_a_japanese_target(tiny):
    """The per-byte value divides by UTF-8 bytes: 10 characters of Japanese are 30 bytes."""
    from cptmix.evaluate.scoring import score_continuations

    model, tokenizer = tiny
    task = get_task("EJMMT-Ja")
    record = {"sample_id": "m0", "english": "The patient has a fever.",
              "japanese": "患者は発熱している。"}
    prompt, target = prompt_and_target(task, record)
    assert (len(target), len(target.encode("utf-8"))) == (10, 30)
    prompt_ids, target_ids = answer_token_ids(tokenizer, task, prompt, target)
    [score] = score_continuations(model, tokenizer, [(prompt_ids, target_ids, target)])
    manual = _direct_loglik(model, prompt_ids, target_ids)
    assert (score.n_chars, score.n_bytes, score.n_tokens) == (10, 30, len(target_ids))
    assert score.loglik == pytest.approx(manual, abs=1e-4)
    assert score.loglik_per_byte == pytest.approx(manual / 30, abs=1e-5)
    assert score.loglik_per_byte != pytest.approx(manual / 10, abs=1e-3)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_score_continuations_prefix_equals_naive_and_direct(tiny, batch_size):
    """Prefix and naive paths agree with a direct forward pass, including a prompt longer
    than the tiny model's 512-token context (cut from the left, naive path)."""
    from cptmix.evaluate.scoring import score_continuations

    model, tokenizer = tiny
    texts = [("翻訳（English => 日本語）：Fever. => ", "発熱。"),
             ("以下の段落において、遺伝子は？\n段落: BRCA1を認めた。 => 遺伝子:", " BRCA1"),
             ("Translation (日本語 => English): 患者は頭痛を訴えた。 => ",
              "The patient complained of a headache."),
             ("患者 " * 600 + "=> ", "頭痛")]
    requests = [(tokenizer(p)["input_ids"], tokenizer(t, add_special_tokens=False)["input_ids"],
                 t) for p, t in texts]
    assert len(requests[-1][0]) > 512
    prefix = score_continuations(model, tokenizer, requests, batch_size=batch_size)
    naive = score_continuations(model, tokenizer, requests, batch_size=batch_size,
                                method="naive")
    assert [s.loglik for s in prefix] == pytest.approx([s.loglik for s in naive], abs=1e-4)
    for (p, c, _), s in zip(requests[:-1], prefix[:-1], strict=True):
        assert s.loglik == pytest.approx(_direct_loglik(model, p, c), abs=1e-4)
    p, c, _ = requests[-1]
    keep = p[len(p) + len(c) - 512:]
    assert prefix[-1].loglik == pytest.approx(_direct_loglik(model, keep, c), abs=1e-4)


def test_score_continuations_equals_score_options_on_the_same_tokens(tiny):
    """Where the option rule and SFT's split give the same tokens (a Japanese MCQA gold
    option), the two entry points give the same log-likelihood."""
    from cptmix.evaluate.scoring import _tokenise, score_continuations, score_options

    model, tokenizer = tiny
    prompt, options = "質問：発熱の原因は。\nA. 髄膜炎\nB. 骨折\n答え：", ["髄膜炎", "骨折"]
    item = _tokenise(tokenizer, [(prompt, options)], None)[0]
    via_options = score_options(model, tokenizer, [(prompt, options)])[0]
    via_tokens = score_continuations(model, tokenizer,
                                     [(item.prompt, c, o) for c, o in zip(item.conts, options,
                                                                          strict=True)])
    assert [s.loglik for s in via_tokens] == pytest.approx([s.loglik for s in via_options],
                                                           abs=1e-5)
    assert [s.n_bytes for s in via_tokens] == [9, 6]


def test_score_continuations_rejects_empty_inputs(tiny):
    from cptmix.evaluate.scoring import score_continuations

    model, tokenizer = tiny
    with pytest.raises(ValueError, match=r"EJMMT-Ja, x, record 'm1': continuation '' has no "):
        score_continuations(model, tokenizer, [([5], [6], "a"), ([5], [], "")],
                            names=["EJMMT-Ja, x, record 'm0'", "EJMMT-Ja, x, record 'm1'"])
    with pytest.raises(ValueError, match="item 0: empty prompt"):
        score_continuations(model, tokenizer, [([], [6], "a")])
    with pytest.raises(ValueError, match="1 names for 2 requests"):
        score_continuations(model, tokenizer, [([5], [6], "a")] * 2, names=["a"])
