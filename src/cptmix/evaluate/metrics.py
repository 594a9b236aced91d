"""The four JMedBench metrics (paper section 3.3) as pure functions of predictions and golds.

Part of the evaluate stage (after SFT, before analysis). Nothing here touches a model, so each
metric is tested on hand-written tables. Every score is on a comparable 0–1 scale (Pearson r on
[-1, 1]), which is why BLEU is reported divided by 100.

Each metric is computed as JMedBench's evaluator computes it (github.com/nii-nlp/med-eval):
- accuracy: option with the lowest summed loss (`evaluate_mcqa.py`);
- BLEU (`evaluate_mt.py`): the *mean of sentence-level* sacrebleu BLEU (each sentence scored
  with `corpus_bleu([hyp], [[ref]])`), the hypothesis being the first line of the generation,
  stripped; for Japanese targets hypothesis and reference are NFKC-normalised and tokenised
  with `ja-mecab`, English uses sacrebleu's default `13a`. Corpus BLEU is kept as a variant.
- entity F1 (`evaluate_ner.py`): the first line of the answer, stripped, split on ", " only,
  items stripped and lower-cased, an empty answer read as ["none"]; gold labels stripped and
  lower-cased; set F1 per sample (0 when either set is empty), averaged over samples.
- Pearson r (`evaluate_sts.py`): `scipy.stats.pearsonr` of predicted and gold grades. One
  departure: med-eval returns NaN when a side is constant; we report 0.0 (see `pearson`).

Each score also gets a standard error, the task's noise floor for the analysis: the binomial
SE for accuracy, and a seeded bootstrap over items for BLEU, entity F1 and Pearson r (fixed
seed and resample count, so reruns are byte-identical).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np

from cptmix.tasks import EN, JA, NER_NONE, NER_SEPARATOR

log = logging.getLogger(__name__)

# sacrebleu tokenisers by target language: MeCab for Japanese (as in the paper's appendix B),
# sacrebleu's default for English.
BLEU_TOKENIZERS = {JA: "ja-mecab", EN: "13a"}

# Bootstrap defaults: 200 resamples put the SE's own relative error near 1/sqrt(2 * 200) = 5%.
N_BOOTSTRAP = 200
BOOTSTRAP_SEED = 20240917


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
    reason = _pearson_undefined(x, y)
    if reason:
        log.warning("Pearson r undefined (%s, n=%d); reporting 0.0", reason, len(x))
        return 0.0
    return float(pearsonr(x, y).statistic)


def _pearson_undefined(x: np.ndarray, y: np.ndarray) -> str:
    return ("fewer than 2 items" if len(x) < 2 else "constant predictions" if np.ptp(x) == 0
            else "constant golds" if np.ptp(y) == 0 else "")


def _pearson_quiet(x: np.ndarray, y: np.ndarray) -> float:
    """`pearson` without the warning (bootstrap resamples are often constant on tiny tasks)."""
    if _pearson_undefined(x, y):
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def bleu(hypotheses: Sequence[str], references: Sequence[str], target_language: str) -> float:
    """Corpus BLEU on the 0–1 scale, one reference per hypothesis: the appendix-B MT-source
    score (`mt_quality`) and a variant recorded beside JMedBench's `mean_sentence_bleu`.

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


def mt_hypothesis(generation: str) -> str:
    """The translation med-eval scores: the generation's first line, stripped."""
    return generation.split("\n")[0].strip()


def bleu_normalise(text: str, target_language: str) -> str:
    """NFKC for Japanese targets (med-eval normalises Japanese hypotheses and references
    alike, so full- and half-width forms match); English text is scored as is."""
    return unicodedata.normalize("NFKC", text) if target_language == JA else text


def sentence_bleus(hypotheses: Sequence[str], references: Sequence[str],
                   target_language: str) -> list[float]:
    """Per-sentence BLEU on the 0–1 scale, as med-eval computes each: sacrebleu's corpus BLEU
    of the one sentence (default exponential smoothing), Japanese NFKC-normalised first."""
    _check_lengths(hypotheses, references)
    metric = _bleu_metric(target_language)
    return [float(metric.corpus_score([bleu_normalise(h, target_language)],
                                      [[bleu_normalise(r, target_language)]]).score) / 100.0
            for h, r in zip(hypotheses, references, strict=True)]


def mean_sentence_bleu(hypotheses: Sequence[str], references: Sequence[str],
                       target_language: str) -> float:
    """JMedBench's BLEU: the mean of `sentence_bleus` (0–1 scale)."""
    return float(np.mean(sentence_bleus(hypotheses, references, target_language)))


def _bleu_metric(target_language: str):
    from sacrebleu.metrics import BLEU

    try:
        return BLEU(tokenize=BLEU_TOKENIZERS[target_language])
    except KeyError:
        raise ValueError(f"no BLEU tokeniser for target language {target_language!r}; "
                         f"known: {', '.join(BLEU_TOKENIZERS)}") from None


def bleu_signature(target_language: str) -> str:
    """sacrebleu's signature for the BLEU `bleu` computes, e.g.
    "nrefs:1|case:mixed|eff:no|tok:ja-mecab-0.996-IPA|smooth:exp|version:2.6.0": it names the
    tokenizer (and MeCab dictionary) version, without which BLEU scores are not comparable."""
    metric = _bleu_metric(target_language)
    # sacrebleu fills in nrefs only once it has scored something; one reference, as in `bleu`.
    metric.corpus_score(["x"], [["x"]])
    return str(metric.get_signature())


# --- standard errors ---------------------------------------------------------------------------

def binomial_se(p: float, n: int) -> float:
    """Standard error of an accuracy p over n independent items: sqrt(p (1 - p) / n)."""
    if n < 1:
        raise ValueError("no items to score")
    return float(np.sqrt(p * (1.0 - p) / n))


def bootstrap_se(statistic, n: int, n_resamples: int = N_BOOTSTRAP,
                 seed: int = BOOTSTRAP_SEED) -> float:
    """Standard deviation of `statistic(indices)` over `n_resamples` resamples of range(n) with
    replacement (ddof=1). The generator is seeded, so the same inputs give the same SE."""
    if n < 1:
        raise ValueError("no items to score")
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n, size=n)) for _ in range(n_resamples)]
    return float(np.std(values, ddof=1)) if n_resamples > 1 else 0.0


def mean_bootstrap_se(values: Sequence[float], **kwargs) -> float:
    """Bootstrap SE of a mean of per-item values (NER's mean entity F1)."""
    x = np.asarray(values, dtype=float)
    return bootstrap_se(lambda idx: float(x[idx].mean()), len(x), **kwargs)


def pearson_bootstrap_se(predictions: Sequence[float], golds: Sequence[float],
                         **kwargs) -> float:
    """Bootstrap SE of Pearson r over (prediction, gold) pairs; an undefined resample counts
    as 0.0, as in `pearson`."""
    _check_lengths(predictions, golds)
    x, y = np.asarray(predictions, dtype=float), np.asarray(golds, dtype=float)
    return bootstrap_se(lambda idx: _pearson_quiet(x[idx], y[idx]), len(x), **kwargs)


def bleu_bootstrap_se(hypotheses: Sequence[str], references: Sequence[str],
                      target_language: str, **kwargs) -> float:
    """Bootstrap SE of corpus BLEU (0–1 scale), resampling sentences.

    Corpus BLEU is a function of n-gram counts summed over sentences, so each sentence's
    counts are extracted (and MeCab run) once and a resample just sums rows: 200 resamples
    then cost about one BLEU computation, not 200.
    """
    _check_lengths(hypotheses, references)
    metric = _bleu_metric(target_language)
    # sacrebleu has no public per-sentence-statistics API; these two methods are what
    # `BLEU.corpus_score` itself calls (checked against it in the tests).
    stats = np.asarray(metric._extract_corpus_statistics(list(hypotheses), [list(references)]))

    def corpus(idx: np.ndarray) -> float:
        return metric._compute_score_from_stats(stats[idx].sum(axis=0).tolist()).score / 100.0

    return bootstrap_se(corpus, len(stats), **kwargs)


def parse_entities(text: str) -> list[str]:
    """The entity set med-eval reads from a generated NER answer, in order, without duplicates.

    Only the first line counts (generation stops at a newline); it is stripped and split on
    ", " (`NER_SEPARATOR`) only, each item stripped and lower-cased. An empty answer reads as
    ["none"] (`NER_NONE`), which matches a gold ["none"]; empty items are kept as "", as
    med-eval keeps them (they match no gold entity).
    """
    first_line = text.split("\n")[0].strip()
    if first_line == "":
        return [NER_NONE]
    seen: dict[str, None] = {}
    for item in first_line.split(NER_SEPARATOR):
        seen.setdefault(item.strip().lower(), None)
    return list(seen)


def ner_f1(pred_text: str, gold_labels: Iterable[str]) -> float:
    """Entity-set F1 of one sample, exactly as med-eval's `evaluate_ner.py`.

    Predicted set: `parse_entities`; gold set: the labels stripped and lower-cased. F1 is 0
    when the sets share nothing, including when either is empty: a gold list of [] can never
    be matched, which is why JMedBench writes ["none"] for a sentence without entities and
    an empty or "none" answer matches it.
    """
    pred = set(parse_entities(pred_text))
    gold = {g.strip().lower() for g in gold_labels}
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
