"""The effects the demo world plants by design, one row per JMedBench task (planted_effects.tsv).

Where it sits: written by `generate_world` next to the test sets; the analysis stage tests
each row on the additive design's contrasts (a mixture against the one it extends, e.g.
EnJa-Base -> EnDominant adds pmc_en) and reports whether it came out.

Columns (plain data, nothing to parse):

- ``task``: the JMedBench task name;
- ``expected_sign``: "+" (adding a driver source raises the score), "-" or "0" (no source-
  specific effect: no contrast should be significant);
- ``driver_sources``: comma-separated source names (of `SOURCES`) whose addition to a mixture
  raises the task's score; empty for sign "0";
- ``held_sources``: comma-separated base sources that also state what the task asks or the
  language it is asked in (ja_base for a Japanese task, en_base for an English one, both for
  translation and for English questions about Japan-local facts). Every declared mixture holds
  them whole, so the additive design never varies them and its check ignores them; a designed
  sweep varies their shares, and its check adjusts for them (`analyze.sweep`);
- ``statistic``: the compositional statistic (`STATISTICS`) the drivers move, or empty;
- ``rationale``: why the row is true of the generated world (which sources state what the
  task asks, in which language).

The rows follow from where facts, names and templates are stated (package docstring):
every test set's distractors are its own answers dealt out again, within the answer's fact
tier (`evalsets.py`), so neither an answer prior nor familiarity with the options' names
(which sources mention them) tells the answer, and a
score moves only with what a model knows about the asked fact, never with a prior over
answers.
"""

from __future__ import annotations

from cptmix.tasks import JA, get_task

COLUMNS = ("task", "expected_sign", "driver_sources", "held_sources", "statistic",
           "rationale")
SOURCES = ("ja_base", "en_base", "pmc_en", "pmc_ja_mt", "parallel_abstracts", "textbooks")
STATISTICS = ("total_tokens", "ja_tokens", "en_tokens", "parallel_tokens", "ja_ratio",
              "en_ratio", "parallel_ratio")

_JA_PMC = ("pmc_ja_mt", "textbooks")
_EN_PMC = ("pmc_en",)

# Tasks that need both languages' base text: translation, and English questions on Japan-local
# facts (stated in Japanese, named in English through the glossary).
_BOTH_LANGUAGES = ("IgakuQA-En", "EJMMT-Ja", "EJMMT-En")


def held_sources(task: str) -> tuple[str, ...]:
    """The base sources of the task's language(s), held whole by every declared mixture (see
    `held_sources` above): ja_base for a Japanese task, en_base for an English one."""
    if task in _BOTH_LANGUAGES:
        return ("ja_base", "en_base")
    return ("ja_base",) if get_task(task).language == JA else ("en_base",)


PLANTED_EFFECTS: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = (
    ("IgakuQA", "+", ("textbooks",), "ja_tokens",
     ("Japan-local facts are stated only in Japanese: ja_base (every mixture) states half of "
     "the evaluated ones, textbooks state all of them")),
    ("JMMLU-Medical", "+", _JA_PMC, "ja_tokens",
     ("3/4 base facts that ja_base states in every mixture, 1/4 PMC facts stated in Japanese "
     "only by pmc_ja_mt and textbooks (which also restate 40 % of the base facts)")),
    ("MMLU-Medical-Jp", "+", _JA_PMC, "ja_tokens",
     ("3/4 base facts (half of them in Japanese only in ja_base), 1/4 PMC facts stated in "
     "Japanese only by pmc_ja_mt, textbooks and the parallel abstracts")),
    ("MedMCQA-Jp", "+", _JA_PMC, "ja_tokens",
     ("half of the items are PMC facts asked in Japanese, stated in Japanese only by pmc_ja_mt, "
     "textbooks (a share) and the parallel abstracts")),
    ("MedQA-Jp", "+", _JA_PMC, "ja_tokens",
     ("3/4 of the items are PMC facts asked in Japanese, stated in Japanese only by pmc_ja_mt, "
     "textbooks (a share) and the parallel abstracts")),
    ("PubMedQA-Jp", "+", ("pmc_ja_mt", "parallel_abstracts"), "ja_tokens",
     ("yes/no/maybe trial findings are stated only in PMC-like text; in Japanese only by "
     "pmc_ja_mt and the parallel abstracts")),
    ("USMLEQA-Jp", "+", _JA_PMC, "ja_tokens", "as MedQA-Jp: 3/4 PMC facts asked in Japanese"),
    ("IgakuQA-En", "+", ("textbooks",), "ja_tokens",
     ("Japan-local facts are never stated in English; textbooks state all of them in "
     "Japanese (ja_base half), and the options' English names are tied to the Japanese ones "
     "by the glossary (cross-lingual, weaker than IgakuQA)")),
    ("MMLU-Medical", "+", _EN_PMC, "en_tokens",
     ("3/4 base facts stated by en_base in every mixture; the PMC quarter is stated in "
     "English by pmc_en (weaker than MedQA)")),
    ("MedMCQA", "+", _EN_PMC, "en_tokens",
     ("half of the items are PMC facts, stated in English by pmc_en (and a share of the "
     "parallel abstracts)")),
    ("MedQA", "+", _EN_PMC, "en_tokens",
     ("3/4 of the items are PMC facts, stated in English by pmc_en (and a share of the "
     "parallel abstracts)")),
    ("PubMedQA", "+", _EN_PMC, "en_tokens",
     "trial findings (yes/no/maybe) are stated only in PMC-like text, in English by pmc_en"),
    ("USMLEQA", "+", _EN_PMC, "en_tokens", "as MedQA: 3/4 PMC facts"),
    ("EJMMT-Ja", "+", ("pmc_ja_mt", "parallel_abstracts"), "ja_tokens",
     ("the Japanese references are research sentences whose templates pmc_ja_mt (noisy) and "
     "the parallel abstracts (clean, next to their English) state; no other source has them")),
    ("EJMMT-En", "+", ("pmc_en", "parallel_abstracts"), "en_tokens",
     ("the English references are research sentences whose templates only pmc_en and the "
     "parallel abstracts state")),
    ("BC2GM-Jp", "+", _JA_PMC, "ja_tokens",
     ("the gold genes are test-split names that pmc_ja_mt and textbooks add Japanese context "
     "for; SFT used other names, so what is learnt is copying names the model knows")),
    ("BC5Chem-Jp", "+", _JA_PMC, "ja_tokens", "as BC2GM-Jp, with drug names"),
    ("BC5Disease-Jp", "+", _JA_PMC, "ja_tokens", "as BC2GM-Jp, with disease names"),
    ("JNLPBA-Jp", "+", _JA_PMC, "ja_tokens", "as BC2GM-Jp"),
    ("MRNER-Disease", "0", (), "",
     ("everyday complaints, remedies and common illnesses only (names.COMPLAINTS ...): the "
      "general text and ja_base's everyday notes name them, ja_base is in every mixture "
      "whole, and no added source names them (balance.none_exposure)")),
    ("MRNER-Medicine", "+", _JA_PMC, "ja_tokens", "as BC2GM-Jp, with drug names"),
    ("NCBI-Disease-Jp", "+", _JA_PMC, "ja_tokens", "as BC2GM-Jp, with disease names"),
    ("NRNER", "+", _JA_PMC, "ja_tokens",
     "half of the labels are test-split drug names (as MRNER-Medicine), half everyday symptoms"),
    ("CRADE", "+", _JA_PMC, "ja_tokens",
     ("telling 高い from 低い needs the drug's known adverse event in Japanese (pmc_ja_mt for "
     "the PMC ones, textbooks for a share and the causality rule)")),
    ("RRTNM", "+", ("textbooks",), "ja_tokens",
     "the size thresholds of T1-T4 are stated only in textbooks"),
    ("SMDIS", "0", (), "",
     "everyday Japanese and the everyday vocabulary of MRNER-Disease; no added source names it"),
    ("JCSTS", "0", (), "",
     ("slot overlap of surface strings made of the everyday vocabulary (as MRNER-Disease); "
      "no facts needed, no added source names a slot's words")),
)


def planted_rows() -> list[dict[str, str]]:
    """The planted effects as TSV rows (column -> value)."""
    return [{"task": t, "expected_sign": sign, "driver_sources": ",".join(drivers),
             "held_sources": ",".join(held_sources(t)), "statistic": stat, "rationale": why}
            for t, sign, drivers, stat, why in PLANTED_EFFECTS]


def planted_tsv() -> str:
    lines = ["\t".join(COLUMNS)]
    lines += ["\t".join(row[c] for c in COLUMNS) for row in planted_rows()]
    return "\n".join(lines) + "\n"
