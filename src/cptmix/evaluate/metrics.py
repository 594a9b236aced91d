"""The four JMedBench metrics (paper section 3.3) as pure functions of predictions and golds.

Part of the evaluate stage (after SFT, before analysis). Nothing here touches a model, so each
metric is tested on hand-written tables. Every score is on a comparable 0–1 scale (Pearson r on
[-1, 1]), which is why BLEU is reported divided by 100.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

import numpy as np

from cptmix.tasks import EN, JA, NER_NONE

log = logging.getLogger(__name__)

# sacrebleu tokenisers by target language: MeCab for Japanese (as in the paper's appendix B),
# sacrebleu's default for English.
BLEU_TOKENIZERS = {JA: "ja-mecab", EN: "13a"}

# Entity separators a model may produce: the template's ASCII comma, the Japanese comma and
# the full-width comma.
_ENTITY_SPLIT = re.compile(r"[,、，]")


def accuracy(predictions: Sequence, golds: Sequence) -> float:
    """Fraction of positions where prediction equals gold."""
    _check_lengths(predictions, golds)
    return float(np.mean([p == g for p, g in zip(predictions, golds, strict=True)]))


def pearson(predictions: Sequence[float], golds: Sequence[float]) -> float:
    """Pearson r between predicted and gold similarity grades.

    r is undefined when either side is constant (e.g. a model that always answers "3"); we then
    report 0.0 (no linear association, the chance level of the metric) and log a warning,
    rather than NaN, which would poison every average and correlation downstream.
    """
    from scipy.stats import pearsonr

    _check_lengths(predictions, golds)
    x = np.asarray(predictions, dtype=float)
    y = np.asarray(golds, dtype=float)
    reason = ("fewer than 2 items" if len(x) < 2 else "constant predictions" if np.ptp(x) == 0
              else "constant golds" if np.ptp(y) == 0 else "")
    if reason:
        log.warning("Pearson r undefined (%s, n=%d); reporting 0.0", reason, len(x))
        return 0.0
    return float(pearsonr(x, y).statistic)


def bleu(hypotheses: Sequence[str], references: Sequence[str], target_language: str) -> float:
    """Corpus BLEU on the 0–1 scale, one reference per hypothesis.

    `target_language` is the language of the references (`cptmix.tasks.JA` / `EN`): Japanese
    is tokenised with MeCab (`ja-mecab`), English with sacrebleu's `13a`.
    """
    import sacrebleu

    _check_lengths(hypotheses, references)
    try:
        tokenize = BLEU_TOKENIZERS[target_language]
    except KeyError:
        raise ValueError(f"no BLEU tokeniser for target language {target_language!r}; "
                         f"known: {', '.join(BLEU_TOKENIZERS)}") from None
    result = sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=tokenize)
    return float(result.score) / 100.0


def parse_entities(text: str) -> list[str]:
    """Entities in a generated NER answer, in order of first appearance, without duplicates.

    Only the first line counts (generation stops at a newline). Items are split on ",", "、"
    or "，" and stripped; empty items and the "no entity" answer (`NER_NONE`) are dropped, so
    "なし" or "" parse to [].
    """
    first_line = text.split("\n", 1)[0]
    seen: dict[str, None] = {}
    for item in _ENTITY_SPLIT.split(first_line):
        item = item.strip()
        if item and item != NER_NONE:
            seen.setdefault(item, None)
    return list(seen)


def ner_f1(pred_text: str, gold_labels: Iterable[str]) -> float:
    """Entity-set F1 of one sample, case-insensitive.

    Both sets empty is a correct "no entity" answer (1.0); exactly one empty scores 0.0.
    """
    pred = {e.lower() for e in parse_entities(pred_text)}
    gold = {g.strip().lower() for g in gold_labels if g.strip()}
    if not pred and not gold:
        return 1.0
    tp = len(pred & gold)
    if tp == 0:
        return 0.0
    precision, recall = tp / len(pred), tp / len(gold)
    return 2 * precision * recall / (precision + recall)


def _check_lengths(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"{len(a)} predictions but {len(b)} golds")
    if not a:
        raise ValueError("no items to score")
