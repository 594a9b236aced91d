"""Continuous metrics beside JMedBench's: how much probability the model puts on the gold answer.

Part of the evaluate stage: `runner` computes one per task next to the JMedBench metric and
writes both to `scores.tsv` (columns continuous_metric, continuous_unit, continuous,
continuous_stderr) and the per-item values to `items.tsv`, which the analysis reads for paired
tests over items and seeds. At small scale accuracy (an argmax over a few options) is mostly
noise: two mixtures that move the gold option's probability from 0.30 to 0.35 tie on it. The
log-probability of the gold answer moves continuously, so mixture comparisons become
decidable. The JMedBench score stays the headline; these are diagnostics beside it.

Definitions (per item; higher is better for both; 0 is the maximum):

- `gold_option_logprob` (unit `nats`), option-scored tasks (MCQA, DC, STS): the gold option's
  log-probability normalised over the item's options, i.e. the log-softmax over the options
  of the summed option log-likelihoods (the very sums JMedBench's argmax compares) taken at
  the gold: `loglik[gold] - logsumexp(loglik)`. Uniform over k options gives -log k.
- `gold_loglik_per_byte` (unit `nats/byte`), generated tasks (MT, NER): the teacher-forced
  log-likelihood of the gold target given the prompt, summed over the target's tokens, divided
  by the target's UTF-8 byte count. The target is the SFT response
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

GOLD_OPTION_LOGPROB, GOLD_LOGLIK_PER_BYTE = "gold_option_logprob", "gold_loglik_per_byte"
UNITS = {GOLD_OPTION_LOGPROB: "nats", GOLD_LOGLIK_PER_BYTE: "nats/byte"}
# The continuous metric of each category.
CONTINUOUS_METRICS = {MCQA: GOLD_OPTION_LOGPROB, DC: GOLD_OPTION_LOGPROB,
                      STS: GOLD_OPTION_LOGPROB, MT: GOLD_LOGLIK_PER_BYTE,
                      NER: GOLD_LOGLIK_PER_BYTE}
# Recorded in the provenance JSON, so a scores.tsv can be read without this module.
DEFINITIONS = {
    GOLD_OPTION_LOGPROB: {
        "unit": UNITS[GOLD_OPTION_LOGPROB], "categories": [MCQA, DC, STS],
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


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float]:
    """Mean of per-item values and its standard error SD/sqrt(n) (ddof=1; NaN for n = 1)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        raise ValueError("no items")
    if len(x) == 1:
        return float(x[0]), math.nan
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))
