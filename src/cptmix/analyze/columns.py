"""The analysis tables' vocabulary: statistic and category names, column lists, language keys.

Bottom of the analysis package (`cptmix.analyze`, the stage after evaluation): it imports no
other module of the package, and every other module may import it. It holds the seven
compositional statistics of the mixtures (paper appendix C: four token counts, three ratios),
the JMedBench categories in table order, the columns of the score, composition and
score-difference tables, the reserved model name "base" (base+SFT, the state before continued
pre-training), and `language_key`, which maps a language label to "ja" or "en".
"""

from __future__ import annotations

COUNT_STATISTICS = ("total_tokens", "ja_tokens", "en_tokens", "parallel_tokens")
RATIO_STATISTICS = ("ja_ratio", "en_ratio", "parallel_ratio")
STATISTICS = COUNT_STATISTICS + RATIO_STATISTICS

# JMedBench categories in the order the tables show them (paper section 3.3).
CATEGORIES = ("MCQA", "MT", "NER", "DC", "STS")

LONG_COLUMNS = ("mixture", "task", "category", "language", "base_score", "cpt_score",
                "score_diff")
SCORE_COLUMNS = ("task", "category", "language", "score")
COMPOSITION_COLUMNS = ("mixture",) + STATISTICS
BASE = "base"
DIFF_COLUMNS = ("mixture", "task", "category", "language", "score_diff")


def language_key(value: object) -> str:
    """Map a language label ("Japanese", "ja", "English", "en", ...) to "ja" or "en"."""
    text = str(value).strip().lower()
    if text.startswith(("ja", "jp")) or text == "日本語":
        return "ja"
    if text.startswith("en") or text == "英語":
        return "en"
    raise ValueError(f"unknown language {value!r}: expected Japanese/ja or English/en")
