"""The effects the demo world plants by design, one row per JMedBench task.

`expected_driver` names the source (and the paper's compositional statistic it moves) whose
presence in a CPT mixture should change the task's score difference; `expected_sign` is the
direction (+, -, or 0 for "no source-specific effect expected"). The analysis stage compares
these with the partial correlations it finds. The rows follow from where facts are stated
(see the package docstring): which tier a task's items ask, and in which language.
"""

from __future__ import annotations

COLUMNS = ("task", "expected_driver", "expected_sign", "rationale")

_JA_PMC = "pmc_ja_mt, parallel_abstracts or textbooks in mixture (Japanese token count)"
_EN_PMC = "pmc_en in mixture (English token count)"
_JA_NAMES = "Japanese medical text in mixture (Japanese token count)"

PLANTED_EFFECTS: tuple[tuple[str, str, str, str], ...] = (
    ("IgakuQA", "textbooks in mixture (EnJa-Hybrid; Japanese token count)", "+",
     ("Japan-local facts are stated only in Japanese: ja_base (every mixture) and textbooks "
     "(EnJa-Hybrid), which restate all of them")),
    ("JMMLU-Medical", "textbooks in mixture (Japanese token count)", "+",
     ("asks mostly base facts that ja_base already states in Japanese in every mixture; "
     "textbooks add restatements, the PMC sources a quarter of the items")),
    ("MMLU-Medical-Jp", _JA_PMC, "+",
     ("3/4 base facts (half of them stated in Japanese only by ja_base), 1/4 PMC facts that are "
     "stated in Japanese only by pmc_ja_mt, parallel_abstracts and textbooks")),
    ("MedMCQA-Jp", _JA_PMC, "+",
     ("half of the items are PMC facts asked in Japanese, stated in Japanese only by the "
     "translated/parallel/textbook sources")),
    ("MedQA-Jp", _JA_PMC, "+",
     ("3/4 of the items are PMC facts asked in Japanese, stated in Japanese only by pmc_ja_mt "
     "(noisy), parallel_abstracts (a share) and textbooks (a share)")),
    ("PubMedQA-Jp", _JA_PMC, "+",
     ("yes/no/maybe trial findings are stated only in PMC-like text; in Japanese only by "
     "pmc_ja_mt and parallel_abstracts")),
    ("USMLEQA-Jp", _JA_PMC, "+", "as MedQA-Jp: 3/4 PMC facts asked in Japanese"),
    ("IgakuQA-En", "parallel_abstracts in mixture (parallel token count)", "+",
     ("Japan-local facts are never stated in English; answering in English needs cross-lingual "
     "transfer from the Japanese statements, helped by aligned bilingual text (weak)")),
    ("MMLU-Medical", _EN_PMC, "+",
     ("3/4 base facts stated by en_base in every mixture (no contrast); only the PMC quarter "
     "depends on pmc_en (weak)")),
    ("MedMCQA", _EN_PMC, "+", ("half of the items are PMC facts, stated in English only by pmc_en "
     "and parallel_abstracts")),
    ("MedQA", _EN_PMC, "+", ("3/4 of the items are PMC facts, stated in English only by pmc_en and "
     "(a share) parallel_abstracts")),
    ("PubMedQA", _EN_PMC, "+", "trial findings (yes/no/maybe) are stated only in PMC-like text"),
    ("USMLEQA", _EN_PMC, "+", "as MedQA: 3/4 PMC facts"),
    ("EJMMT-Ja", "parallel_abstracts in mixture (parallel token count)", "+",
     ("test sentences use the research templates; only parallel_abstracts pair them with their "
     "clean Japanese (pmc_en + pmc_ja_mt give a noisy comparable corpus)")),
    ("EJMMT-En", "parallel_abstracts in mixture (parallel token count)", "+",
     "as EJMMT-Ja, in the other direction"),
    ("BC2GM-Jp", _JA_NAMES, "+",
     "gene symbols in Japanese research sentences (pmc_ja_mt, textbooks); weak"),
    ("BC5Chem-Jp", _JA_NAMES, "+", "drug names in Japanese context; weak"),
    ("BC5Disease-Jp", _JA_NAMES, "+", "disease names in Japanese context; weak"),
    ("JNLPBA-Jp", _JA_NAMES, "+", "as BC2GM-Jp; weak"),
    ("MRNER-Disease", "none", "0",
     "symptoms are everyday words of the general text; CPT adds little"),
    ("MRNER-Medicine", _JA_NAMES, "+", "drug names in Japanese context; weak"),
    ("NCBI-Disease-Jp", _JA_NAMES, "+", "disease names in Japanese context; weak"),
    ("NRNER", _JA_NAMES, "+", "symptoms are everyday words, drugs are invented names; weak"),
    ("CRADE", "pmc_ja_mt or textbooks in mixture (Japanese token count)", "+",
     ("telling 高い from 低い needs the drug's known adverse event in Japanese (ja_base for half "
     "of the base facts, pmc_ja_mt, textbooks); textbooks also state the causality rule")),
    ("RRTNM", "textbooks in mixture (EnJa-Hybrid)", "+",
     "the size thresholds of T1-T4 are stated only in textbooks"),
    ("SMDIS", "none", "0", "needs only everyday Japanese from the general text"),
    ("JCSTS", "none", "0", "similarity is slot overlap of surface strings; no facts needed"),
)


def planted_tsv() -> str:
    lines = ["\t".join(COLUMNS)]
    lines += ["\t".join(row) for row in PLANTED_EFFECTS]
    return "\n".join(lines) + "\n"
