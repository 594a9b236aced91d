"""Continuous metrics beside JMedBench's: how much probability the model puts on the gold answer.

Part of the evaluate stage: `runner` computes one per task next to the JMedBench metric and
writes both to `scores.tsv` (columns continuous_metric, continuous_unit, continuous,
continuous_stderr) and the per-item values to `items.tsv`, which the analysis reads for paired
tests over items and seeds. At small scale accuracy (an argmax over a few options) is mostly
noise: two mixtures that move the gold option's probability from 0.30 to 0.35 tie on it. The
log-probability of the gold answer moves continuously, so mixture comparisons become
decidable. The JMedBench score stays the headline; these are diagnostics beside it.

Definitions (per item; higher is better for all):

- option-scored tasks (MCQA, DC, STS), from the summed option log-likelihoods (the very sums
  JMedBench's argmax compares), one of three (`evaluate.option_metric`, recorded per task):
  - `gold_option_zscore` (unit `sd`; the default, "zscore"): the margin below in units of the
    item's spread of option log-likelihoods, `(loglik[gold] - mean(loglik[j], j != gold)) /
    sd(loglik)` (population SD over all options; 0 when all options tie). Unchanged when a
    model's option log-likelihoods are shifted or scaled (a flatter or more peaked option
    distribution), so it moves only with how far the gold stands out; 0 in expectation for a
    model that cannot tell the gold when every option is gold as often as distractor (as in
    the demo). |z| <= k / sqrt(k - 1) for k options; with two options it is +-2, the sign of
    the accuracy. On the demo (3 seeds, seed x item test) it recovered 11 of 24 planted
    effects with 0 of 3 "none" tasks significant, against 17 of 24 and 1 of 3 for the
    log-softmax and 8 of 24, 0 of 3 for the plain margin (whose differences carry each item's
    option-length spread times the model's change of scale).
  - `gold_option_margin` (unit `nats`, "margin"): the gold option's log-likelihood minus the
    mean log-likelihood of the other options, `loglik[gold] - mean(loglik[j], j != gold)`.
    Unchanged when every option's log-likelihood shifts alike, and 0 in expectation for a
    model that cannot tell the gold, but it scales with the model's sharpness.
  - `gold_option_logprob` (unit `nats`, "logprob"; 0 is its maximum): the gold option's
    log-probability normalised over the item's options, the log-softmax taken at the gold,
    `loglik[gold] - logsumexp(loglik)`. Uniform over k options gives -log k. It also rises
    when an ignorant model's option distribution merely flattens (its mean is below -log k
    whenever the model is confidently wrong), so it moves with calibration, not only with
    knowledge: on the demo, adding English PMC text raised it by 0.21 nats on JCSTS, a
    Japanese task no source informs, whose Pearson r did not move (two-way seed x item
    test, 3 seeds, p = 0.004).
- `gold_loglik_per_byte` (unit `nats/byte`), generated tasks (MT, NER): the teacher-forced
  log-likelihood of the gold target given the prompt, summed over the target's tokens, divided
  by the target's UTF-8 byte count (0 is its maximum). The target is the SFT response
  (`cptmix.tasks.prompt_and_target`) tokenised as SFT tokenises it
  (`cptmix.tasks.answer_token_ids`: the prompt as generation is prompted, the target encoded on
  its own), without the EOS that SFT appends (it has no bytes, and generation is also stopped
  by a newline). Per byte rather than per token, so models with different tokenizers compare,
  and rather than per character, so it reads as a compression rate (minus the value over
  ln 2 is bits per byte).

Task value: the mean over items; its standard error SD/sqrt(n) with ddof=1 (NaN for one item).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cptmix.tasks import DC, MCQA, MT, NER, STS

GOLD_OPTION_ZSCORE, GOLD_OPTION_MARGIN = "gold_option_zscore", "gold_option_margin"
GOLD_OPTION_LOGPROB, GOLD_LOGLIK_PER_BYTE = "gold_option_logprob", "gold_loglik_per_byte"
UNITS = {GOLD_OPTION_ZSCORE: "sd", GOLD_OPTION_MARGIN: "nats", GOLD_OPTION_LOGPROB: "nats",
         GOLD_LOGLIK_PER_BYTE: "nats/byte"}
OPTION_CATEGORIES = (MCQA, DC, STS)
# evaluate.option_metric -> the option-scored tasks' continuous metric.
OPTION_METRICS = {"zscore": GOLD_OPTION_ZSCORE, "margin": GOLD_OPTION_MARGIN,
                  "logprob": GOLD_OPTION_LOGPROB}


def continuous_metrics(option_metric: str) -> dict[str, str]:
    """The continuous metric of each category under `option_metric` (a key of
    OPTION_METRICS: "zscore", "margin" or "logprob"; evaluate.option_metric)."""
    if option_metric not in OPTION_METRICS:
        raise ValueError(f"unknown option metric {option_metric!r} (evaluate.option_metric); "
                         f"use one of {', '.join(OPTION_METRICS)}")
    return {**{c: OPTION_METRICS[option_metric] for c in OPTION_CATEGORIES},
            MT: GOLD_LOGLIK_PER_BYTE, NER: GOLD_LOGLIK_PER_BYTE}


# Recorded in the provenance JSON, so a scores.tsv can be read without this module.
DEFINITIONS = {
    GOLD_OPTION_ZSCORE: {
        "unit": UNITS[GOLD_OPTION_ZSCORE], "categories": list(OPTION_CATEGORIES),
        "definition": "per item: (loglik[gold] - mean(loglik[j] for the other options j)) / "
                      "sd(loglik over all options, ddof=0), 0 when all options tie; loglik = "
                      "summed option log-likelihood (as JMedBench's argmax); task: mean over "
                      "items, stderr SD(ddof=1)/sqrt(n); higher is better; unchanged by a "
                      "shift or scale of the option log-likelihoods"},
    GOLD_OPTION_MARGIN: {
        "unit": UNITS[GOLD_OPTION_MARGIN], "categories": list(OPTION_CATEGORIES),
        "definition": "per item: loglik[gold] - mean(loglik[j] for the other options j), "
                      "loglik = summed option log-likelihood (as JMedBench's argmax); "
                      "task: mean over items, stderr SD(ddof=1)/sqrt(n); higher is better; "
                      "0 for scores that do not depend on which option is right"},
    GOLD_OPTION_LOGPROB: {
        "unit": UNITS[GOLD_OPTION_LOGPROB], "categories": list(OPTION_CATEGORIES),
        "definition": "per item: loglik[gold] - logsumexp(loglik) over the item's options, "
                      "loglik = summed option log-likelihood (as JMedBench's argmax); "
                      "task: mean over items, stderr SD(ddof=1)/sqrt(n); higher is better"},
    GOLD_LOGLIK_PER_BYTE: {
        "unit": UNITS[GOLD_LOGLIK_PER_BYTE], "categories": [MT, NER],
        "definition": "per item: teacher-forced sum of log p over the gold target's tokens "
                      "(prompt_and_target, tokenised by answer_token_ids as SFT; no EOS) "
                      "divided by the target's UTF-8 bytes; task: mean over items, stderr "
                      "SD(ddof=1)/sqrt(n); higher is better"},
}


def gold_option_logprob(logliks: Sequence[float], gold: int) -> float:
    """log softmax(logliks)[gold], computed stably (the max is subtracted before exp)."""
    x = np.asarray(logliks, dtype=np.float64)
    if not 0 <= gold < len(x):
        raise ValueError(f"gold index {gold} outside the {len(x)} options")
    top = float(x.max())
    return float(x[gold] - (top + math.log(float(np.exp(x - top).sum()))))


def gold_option_margin(logliks: Sequence[float], gold: int) -> float:
    """logliks[gold] minus the mean of the other options' logliks (at least two options)."""
    x = np.asarray(logliks, dtype=np.float64)
    if not 0 <= gold < len(x):
        raise ValueError(f"gold index {gold} outside the {len(x)} options")
    if len(x) < 2:
        raise ValueError("a margin needs at least two options")
    return float(x[gold] - (x.sum() - x[gold]) / (len(x) - 1))


def gold_option_zscore(logliks: Sequence[float], gold: int) -> float:
    """`gold_option_margin` over the population SD of all options' logliks (0 if they tie)."""
    margin = gold_option_margin(logliks, gold)
    sd = float(np.asarray(logliks, dtype=np.float64).std())
    return margin / sd if sd > 0 else 0.0


# evaluate.option_metric -> its per-item function (logliks, gold index) -> value.
OPTION_FUNCTIONS = {"zscore": gold_option_zscore, "margin": gold_option_margin,
                    "logprob": gold_option_logprob}


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float]:
    """Mean of per-item values and its standard error SD/sqrt(n) (ddof=1; NaN for n = 1)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        raise ValueError("no items")
    if len(x) == 1:
        return float(x[0]), math.nan
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))
