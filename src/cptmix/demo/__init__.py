"""A synthetic bilingual (Japanese/English) medical world for the CPU demo of the study.

Where it sits: the first stage of the workflow (`results/world/`). It writes the seven text
sources the corpus stage mixes into the paper's six CPT corpora, the 27 JMedBench test sets,
the SFT set, and the table of effects planted by design, so the whole pipeline (pre-train a
tiny base model, CPT x 6, SFT x 7, evaluate, partial correlations) runs in minutes and its
findings can be checked against known ground truth.

Public API::

    from cptmix.demo import DEFAULT_WORLD, generate_world
    generate_world(cfg, out_dir)   # cfg: a dict with every key of DEFAULT_WORLD

The world
---------
Entities: invented diseases ("Karsen nephritis" / カルセン腎炎), drugs ("Velostatin" /
ヴェロスタチン) and gene symbols ("TAVE3", the same in both languages); their Japanese names
are a syllable-based katakana transliteration of the English spelling (`names.katakana`).
Symptoms, adverse events, Japanese regions and public-subsidy programmes are real words.

Facts (`world.py`), each with a tier that decides where it is stated. The objects of each
relation are dealt out evenly (each symptom, adverse event, region, programme is the object of
about as many facts) and the eval/SFT split is stratified by object:

=========  ==============================================  ===================================
tier       kinds                                           stated in
=========  ==============================================  ===================================
base       drug treats disease, gene-disease, symptom-     en_base (all); ja_base (half of the
           disease, drug-adverse event  (40 % of these)    eval split, all of the SFT split, in
                                                           Japanese); textbooks (40 %)
pmc        the same kinds (60 %), plus trial findings       pmc_en (all); pmc_ja_mt (all, noisy
           without benefit ("no") or unclear ("maybe")     MT); parallel_abstracts (60 %);
                                                           textbooks (40 % of the global ones)
jp         Japan-local: first-line drug of the Japanese    textbooks (all) and ja_base (half
           guideline, region of highest prevalence in      of the eval split, all of the SFT
           Japan, public subsidy programme                 split) only, in Japanese; never in
                                                           English
=========  ==============================================  ===================================

Sources (``sources/{name}.jsonl``, one {"id", "text", "lang"} document per line):

- ``general``: everyday health text, half English and half Japanese documents, plus glossary
  documents pairing every entity's English and Japanese names (no facts) and a few phrasebook
  documents of sentence pairs. It pre-trains the base model, which thus knows the names and
  both languages but none of the medical facts that CPT should add.
- ``ja_base`` / ``en_base``: encyclopedic text per topic entity (see the table); ja_base
  also holds everyday notes (one per eight topic documents: `SourceWriter.everyday`) naming
  everyday complaints, remedies and common illnesses, the vocabulary of the planted-"none"
  tasks, which no other CPT source writes.
- ``pmc_en``: PMC-like papers (title, abstract, background, methods, results, conclusions);
  each has a primary finding stated three times and secondary findings. Largest source.
- ``pmc_ja_mt`` (built by the translate rule, `cptmix.prepare.translate`, from pmc_en):
  `translate.NoisyTranslator` applied to pmc_en: phrase-based over the world's
  templates; each term goes wrong with probability ``mt_noise`` (wrong term, left in English,
  or dropped), seeded per document. Ids are the pmc_en ids + ``-ja``.
- ``parallel_abstracts`` (built by build_parallel, `cptmix.prepare.parallel`, from
  ``parallel/abstract_pairs.jsonl``): shorter abstracts and their clean translation,
  paragraph-interleaved with the language order of each paragraph pair drawn at random
  (paper appendix G).
- review questions (``world.review_questions``, appended to en_base and ja_base): exam
  practice in med-eval's MCQA prompt, answered ("Question: ...\nA. ...\nAnswer: X" /
  "質問：...答え：X"), asking only SFT-split facts that the source states, every kind of fact
  equally often, with the review's own answers as distractors. They teach every mixture
  alike to answer a question with a fact read as a statement: without them the tiny CPT
  model completes a fact's statement right 0.6-0.8 of the time and answers the same fact
  asked as MCQA at chance.
- ``textbooks``: Japanese chapters stating all Japan-local facts (half of the evaluated ones
  only here) and a share of the global facts, each closed by a key point; every sixth
  chapter states the lung-cancer T-staging thresholds or the adverse-event causality rules
  (needed by RRTNM and CRADE).

Every fact-bearing source cycles through its facts in reshuffled rounds, so each fact it owns
is stated several times, with templates drawn from 2-4 variants per kind.

Evaluation (``jmedbench/{folder}/test.jsonl``, `evalsets.py`), ``eval_items`` records a task:

- IgakuQA / IgakuQA-En (same items, two languages): Japan-local facts.
- MMLU-Medical(-Jp) lean on base facts (3/4), JMMLU-Medical on base facts that ja_base states
  in Japanese, MedMCQA(-Jp) half/half, MedQA(-Jp) (5 options) and USMLEQA(-Jp) on PMC facts
  (3/4); each family has its own question style (plain, terse, clinical vignette).
  Distractors are the set's own answers dealt out again (per answer type and fact tier, so
  that the same sources name every option: `balance.tier_mixing`; each answer goes to
  n_options - 1 other items, never one whose subject a fact links it to), so every entity is
  a distractor in proportion to how often it is the answer, and gold and distractors are SFT
  targets equally often (`balance.answer_balance` measures it); the answer's position is
  drawn at random. PubMedQA(-Jp): yes/no/maybe on trial findings, a third each.
- EJMMT: research sentences stating facts, English and clean Japanese (both directions).
- NER: short Japanese sentences; labels are the Japanese names of the asked type in order of
  appearance (genes; drugs + chemicals; diseases incl. common ones; everyday complaints,
  excluding negated mentions; drugs; symptoms + drugs), with entities of other types and
  Latin abbreviations (CT, PCR...) as distractors. Test sentences name the eval split's invented
  entities; SFT sentences name invented names that occur nowhere else (`World.sft_ner_names`,
  twice as many as the world's), so SFT can teach copying but no answer to memorise.
- CRADE: なし (no event, or the event predates the drug) / 低い (an event that is not the
  drug's known adverse event) / 高い (the known adverse event) / 確実 (known, resolves on
  withdrawal, recurs on rechallenge). RRTNM: T1-T4 from the stated tumour size (<=3, <=5, <=7,
  >7 cm). SMDIS: does the poster or someone close have a complaint or illness. JCSTS: two
  case sentences with five slots; the gold score is the number of slots they share (0-5).
  MRNER-Disease, SMDIS and JCSTS are planted "none": they use only the everyday vocabulary
  that the general text and ja_base (in every mixture whole) write, so no mixture reads more
  of it than another (`balance.none_exposure` checks this).

Items come from the ``eval`` split of facts (and, for NER/STS/SMDIS, of invented entities);
the SFT source (``sft_sources/{folder}/train.jsonl``: ``sft_items`` train records per task
family, JMedBench-shaped) comes from the disjoint ``sft`` split; the build_sft rule
(`cptmix.prepare.sft`) renders each with `cptmix.tasks.prompt_and_target` for each task of the
family and drops an item repeating an earlier prompt or overlapping an evaluation item
(exact or near duplicate), so a family may yield somewhat fewer than ``sft_items`` examples.

``planted_effects.tsv`` lists what this design implies for each task (`planted.py`);
``world.json`` holds the entities, the facts with their tier, split and how often each source
states them, the source sizes, and the translator's error counts.
"""

from __future__ import annotations

from cptmix.demo.generate import check_world_config, generate_world

# The default world: sized so that generation takes about a second and the whole demo study
# trains on CPU in minutes (about 400k characters of general text, 300k of pmc_en).
DEFAULT_WORLD: dict = {
    "seed": 7,  # world seed: entities, facts, documents, evaluation items
    "n_diseases": 48,  # invented diseases
    "n_drugs": 48,  # invented drugs
    "n_genes": 32,  # invented gene symbols (some genes are linked to two diseases)
    "mt_noise": 0.15,  # per-term error probability of the en->ja translator (pmc_ja_mt)
    "eval_items": 24,  # test records per JMedBench task
    "sft_items": 40,  # train records per task family (SFT), each rendered for its tasks
    "docs": {  # documents per source (pmc_ja_mt: one per pmc_en document)
        "general": 1100,
        "ja_base": 600,
        "en_base": 400,
        "pmc_en": 300,
        "parallel_abstracts": 160,
        "textbooks": 450,
    },
    "review_questions": {"en_base": 2000, "ja_base": 2000},  # exam practice (SFT-split facts)
}

__all__ = ["DEFAULT_WORLD", "check_world_config", "generate_world"]
