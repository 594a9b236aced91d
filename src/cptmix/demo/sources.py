"""The seven text sources of the demo world, as lists of {"id", "text", "lang"} documents.

Each fact-bearing source draws its facts from a *schedule* that cycles through its fact set in
reshuffled rounds (facts about the same entity kept together), so every fact it owns is stated
about equally often, each time with a template drawn at random. `Fact.statements` counts the
statements per source for the audit in world.json.
"""

from __future__ import annotations

import random

from cptmix.demo import names, templates
from cptmix.demo.translate import NoisyTranslator
from cptmix.demo.world import EXCLUDE, GLOBAL_KINDS, JP_KINDS, World
from cptmix.tasks import MEDEVAL_TEMPLATES, options_text

Doc = dict

ENTITY_TYPE_JA = {"disease": "疾患", "drug": "薬剤", "gene": "遺伝子", "symptom": "症状",
                  "ae": "有害事象", "region": "地域", "program": "制度", "common": "疾患",
                  "chemical": "化学物質", "design": "研究デザイン", "country": "国",
                  "endpoint": "評価項目"}
_LIFESTYLE = ("diabetes", "hypertension", "stroke", "heart failure", "osteoporosis")
_INFECTION = ("pneumonia", "influenza", "the common cold")
# Secondary findings per pmc_en paper (besides its primary finding, stated three times):
# dense papers, so each PMC fact is stated often at a small corpus size.
PMC_SECONDARY = 6
# Review questions (world.review_questions): the sources that carry them, the facts they ask
# (the SFT split of the facts the source states: never an evaluation fact), their styles and
# med-eval's prompt of their language, answered after it.
REVIEW_SOURCES = ("en_base", "ja_base")
REVIEW_STYLES = {"en": ("plain", "terse", "vignette", "usmle"),
                 "ja": ("plain", "jmmlu", "terse", "vignette", "usmle")}
REVIEW_PROMPT = {"en": MEDEVAL_TEMPLATES["mcqa_with_options"],
                 "ja": MEDEVAL_TEMPLATES["mcqa_with_options_jp"]}
REVIEW_HEADING = {"en": "Review questions", "ja": "復習問題"}
REVIEW_PER_DOC = 3
# One everyday note (`SourceWriter.everyday`) per this many ja_base topic documents.
EVERYDAY_EVERY = 8


def _doc(doc_id: str, text: str, lang: str) -> Doc:
    return {"id": doc_id, "text": text, "lang": lang}


def schedule(items: list, n_slots: int, rng: random.Random, key=None) -> list:
    """`n_slots` items taken from `items` in rounds, each round reshuffled; with `key`, items
    sharing a key stay adjacent within a round (a document then covers one or two topics)."""
    out: list = []
    while items and len(out) < n_slots:
        batch = items[:]
        rng.shuffle(batch)
        if key is not None:
            first: dict = {}
            for it in batch:
                first.setdefault(key(it), len(first))
            batch.sort(key=lambda it: first[key(it)])
        out += batch
    return out[:n_slots]


def _chunks(items: list, size: int) -> list[list]:
    out = []
    for i in range(0, len(items), size):
        chunk = []
        for it in items[i:i + size]:
            if it not in chunk:
                chunk.append(it)
        out.append(chunk)
    return out


class SourceWriter:
    """Renders the sources of one world; `seed` and `noise` come from the world config."""

    def __init__(self, world: World, seed: int, noise: float) -> None:
        self.w = world
        self.seed = seed
        self.noise = noise
        self.translator = NoisyTranslator(templates.research_pairs(), world.lexicon("ja"),
                                          noise=noise, seed=seed)
        self._ja_lexicon = world.lexicon("ja")
        self._stated: list = []  # (fact, clean Japanese) of the research statements of a doc

    def rng(self, source: str) -> random.Random:
        return random.Random(f"cptmix-source:{self.seed}:{source}")

    # --- helpers --------------------------------------------------------------------------
    def names_of(self, fact, lang: str) -> dict[str, str]:
        return {role: self.w.name(eid, lang) for role, eid in fact.args.items()}

    def _pick(self, rng: random.Random, etype: str) -> str:
        return rng.choice(self.w.by_type[etype]).id

    def paper_context(self, rng: random.Random, disease: str | None = None) -> dict:
        """The setting of one paper: study design, country, endpoint, sample type, numbers."""
        ctx: dict = {etype: self._pick(rng, etype)
                     for etype in ("design", "country", "endpoint", "sample")}
        ctx["disease"] = disease or self._pick(rng, "disease")
        ctx.update(n=rng.randint(40, 480), months=rng.randint(6, 60), age=rng.randint(25, 75),
                   pct=rng.randint(2, 30))
        return ctx

    def research_values(self, ctx: dict, fact=None) -> tuple[dict, dict]:
        """English and Japanese slot values of a research sentence in paper `ctx`."""
        ids = {k: v for k, v in ctx.items() if isinstance(v, str)}
        if fact is not None:
            ids.update(fact.args)
        en = {k: self.w.name(v, "en") for k, v in ids.items()}
        ja = {k: self.w.name(v, "ja") for k, v in ids.items()}
        for k, v in ctx.items():
            if isinstance(v, int):
                en[k] = ja[k] = str(v)
        return en, ja

    @staticmethod
    def _render(pair: tuple[str, str], en: dict, ja: dict) -> tuple[str, str]:
        return pair[0].format(**en), pair[1].format(**ja)

    def statement(self, rng, ctx: dict, fact, source: str,
                  avoid: set | None = None) -> tuple[str, str]:
        """One research-style statement of `fact`, as (English, clean Japanese)."""
        pairs = templates.FACT_PAIRS[fact.kind]
        fresh = [p for p in pairs if avoid is None or p not in avoid] or pairs
        pair = rng.choice(fresh)
        if avoid is not None:
            avoid.add(pair)
        fact.statements[source] = fact.statements.get(source, 0) + 1
        out = self._render(pair, *self.research_values(ctx, fact))
        self._stated.append((fact, out[1]))
        return out

    def _fillers(self, rng, ctx: dict, section: str, k: int) -> list[tuple[str, str]]:
        pairs = rng.sample(templates.FILLER_PAIRS[section], k)
        return [self._render(p, *self.research_values(ctx)) for p in pairs]

    # --- research text: pmc_en, pmc_ja_mt, parallel_abstracts ------------------------------
    def _paper(self, rng, primary, secondary, source: str, full: bool) -> list[tuple[str, str]]:
        """Paragraphs of one paper (full text) or abstract, each as (English, clean Japanese)."""
        self._stated = []
        ctx = self.paper_context(rng, primary.args.get("disease"))
        values = self.research_values(ctx, primary)
        title = self._render(rng.choice(templates.TITLE_PAIRS[primary.kind]), *values)
        aim = self._render(rng.choice(templates.AIM_PAIRS[primary.kind]), *values)
        used: set = set()
        paragraphs = [title]

        def para(sentences):
            paragraphs.append((" ".join(s[0] for s in sentences),
                               "".join(s[1] for s in sentences)))

        def heading(en_h: str):
            if full:
                paragraphs.append((en_h, self._ja_lexicon["heading"][en_h]))

        if full:
            heading("Abstract")
            para([aim, self.statement(rng, ctx, primary, source, used),
                  *self._fillers(rng, ctx, "conclusions", 1)])
        heading("Background")
        para([*self._fillers(rng, ctx, "background", 1), aim])
        heading("Methods")
        para(self._fillers(rng, ctx, "methods", 2 if full else 1))
        heading("Results")
        para([*self._fillers(rng, ctx, "results", 1),
              self.statement(rng, ctx, primary, source, used),
              *[self.statement(rng, ctx, f, source) for f in secondary]])
        heading("Conclusions")
        para([self.statement(rng, ctx, primary, source, used),
              *self._fillers(rng, ctx, "conclusions", 1)])
        return paragraphs

    def pmc(self, n_docs: int) -> tuple[list[Doc], list[Doc]]:
        """pmc_en papers and their noisy machine translation pmc_ja_mt (same order)."""
        rng = self.rng("pmc_en")
        facts = self.w.select(tiers=("pmc",))
        primaries = schedule(facts, n_docs, rng)
        secondaries = _chunks(schedule(facts, PMC_SECONDARY * n_docs, rng,
                                        key=lambda f: f.subject), PMC_SECONDARY)
        en_docs, ja_docs = [], []
        for i, primary in enumerate(primaries, 1):
            doc_id = f"pmc-{i:05d}"
            secondary = [f for f in secondaries[i - 1] if f is not primary]
            paragraphs = self._paper(rng, primary, secondary, "pmc_en", full=True)
            en_text = "\n".join(p[0] for p in paragraphs)
            ja_text = self.translator.translate(en_text, doc_id)
            for f, clean_ja in self._stated:
                # A statement survived translation when its clean Japanese is in the output.
                if clean_ja in ja_text:
                    f.statements["pmc_ja_mt"] = f.statements.get("pmc_ja_mt", 0) + 1
            en_docs.append(_doc(doc_id, en_text, "en"))
            ja_docs.append(_doc(f"{doc_id}-ja", ja_text, "ja"))
        return en_docs, ja_docs

    def parallel(self, n_docs: int) -> list[dict]:
        """Abstracts with their clean Japanese translation, {"id", "en", "ja"} with aligned
        newline-separated paragraphs: the input of the `build_parallel` rule, which interleaves
        the two languages of each paragraph in a seeded random order (paper appendix G)."""
        rng = self.rng("parallel_abstracts")
        facts = self.w.select(tiers=("pmc",), in_parallel=True)
        primaries = schedule(facts, n_docs, rng)
        secondaries = schedule(facts, n_docs, rng)
        docs = []
        for i, primary in enumerate(primaries, 1):
            secondary = [secondaries[i - 1]] if secondaries[i - 1] is not primary else []
            paragraphs = self._paper(rng, primary, secondary, "parallel_abstracts", full=False)
            for _ in paragraphs:
                # The language order is build_parallel's now; this draw, which once chose it,
                # keeps the world's texts (and its calibrated effects) as they were.
                rng.random()
            docs.append({"id": f"par-{i:05d}", "en": "\n".join(p[0] for p in paragraphs),
                         "ja": "\n".join(p[1] for p in paragraphs)})
        return docs

    # --- review questions (exam practice inside en_base and ja_base) ------------------------
    def review(self, source: str, n: int) -> list[Doc]:
        """`n` review questions as `source` states them, REVIEW_PER_DOC to a document.

        Real medical text holds exam practice; here it is what teaches a model to *answer* a
        question with a fact it read as a statement (a tiny model does not make that step on
        its own: a CPT model that completes a statement right 0.6-0.8 of the time answers
        the same facts asked as MCQA at chance). The questions ask the SFT split of the
        facts `source` states, in the evaluation sets' question styles and med-eval's prompt
        of the source's language, answer after the prompt; so every mixture (en_base and
        ja_base are in all) learns the same answering skill and no evaluation fact is ever
        asked. The distractors are the review's own answers of the same kind (not the
        linked objects), so an entity is offered as often as a distractor in proportion to
        how often it is the answer, as in the evaluation sets.
        """
        lang = "en" if source == "en_base" else "ja"
        facts = self.stated(source, split="sft")
        rng = self.rng(f"{source}:review")
        # Every kind the source states is practised equally often (not in proportion to its
        # facts): ja_base states few global-kind facts beside many Japan-local ones.
        by_kind: dict[str, list] = {}
        for f in facts:
            by_kind.setdefault(f.kind, []).append(f)
        kinds = sorted(by_kind)
        asked = [f for k, kind in enumerate(kinds)
                 for f in schedule(by_kind[kind], n // len(kinds) + (k < n % len(kinds)), rng)]
        rng.shuffle(asked)
        # Each group's answers with their multiplicity: a distractor is drawn in proportion
        # to how often it is an answer (drugs answer two kinds, EXCLUDE's first).
        answers: dict[str, list[str]] = {}
        for f in asked:
            answers.setdefault(EXCLUDE[f.kind][0], []).append(f.object)
        questions = []
        for f in asked:
            linked = set(self.w.objects_of(EXCLUDE[f.kind], f.subject))
            pool = [e for e in answers[EXCLUDE[f.kind][0]] if e not in linked]
            if not pool:  # a tiny world: no other review answer fits, any unlinked entity
                pool = [e.id for e in self.w.by_type[self.w.entities[f.object].type]
                        if e.id not in linked]
            want = min(len(set(pool)), rng.choice((3, 4)))
            options: list[str] = []
            while len(options) < want:
                e = rng.choice(pool)
                if e not in options:
                    options.append(e)
            options.insert(rng.randrange(len(options) + 1), f.object)
            values = self.names_of(f, lang)
            values.update(age=rng.randint(20, 79),
                          sex=templates.SEXES[rng.randrange(2)][0 if lang == "en" else 1])
            style = "exam" if f.kind in JP_KINDS else rng.choice(REVIEW_STYLES[lang])
            question = templates.QUESTIONS[style][f.kind][0 if lang == "en" else 1]
            prompt = REVIEW_PROMPT[lang].format(
                question=question.format(**values),
                options=options_text([self.w.name(e, lang) for e in options]))
            questions.append(prompt + self.w.name(f.object, lang))
        prefix = "enr" if lang == "en" else "jar"
        return [_doc(f"{prefix}-{i // REVIEW_PER_DOC + 1:05d}",
                     REVIEW_HEADING[lang] + "\n" + "\n\n".join(
                         questions[i:i + REVIEW_PER_DOC]), lang)
                for i in range(0, len(questions), REVIEW_PER_DOC)]

    # --- encyclopedic and explanatory text: en_base, ja_base, textbooks --------------------
    def _topic_docs(self, source: str, facts, n_docs: int, per_doc: int, lang: str,
                    fact_templates: dict, filler: dict, rng: random.Random) -> list[tuple]:
        """Sentences of topic-grouped documents: facts about one or two entities, stated with
        random templates, plus one or two neutral sentences about the topic entity."""
        out = []
        for chunk in _chunks(schedule(facts, n_docs * per_doc, rng, key=lambda f: f.subject),
                             per_doc):
            topic = chunk[0].subject
            sentences = []
            for f in chunk:
                template = rng.choice(fact_templates[f.kind])
                sentences.append(template.format(**self.names_of(f, lang)))
                f.statements[source] = f.statements.get(source, 0) + 1
            ttype = self.w.entities[topic].type
            for t in rng.sample(filler[ttype], rng.randint(1, 2)):
                sentences.insert(rng.randint(0, len(sentences)),
                                 t.format(**{ttype: self.w.name(topic, lang)}))
            out.append((self.w.name(topic, lang), sentences, chunk))
        return out

    def stated(self, source: str, split: str | None = None) -> list:
        """The facts en_base or ja_base states (of `split`, if given)."""
        if source == "en_base":
            return self.w.select(kinds=GLOBAL_KINDS, tiers=("base",), split=split)
        return self.w.select(in_ja_base=True, split=split)

    def en_base(self, n_docs: int) -> list[Doc]:
        rng = self.rng("en_base")
        facts = self.stated("en_base")
        docs = self._topic_docs("en_base", facts, n_docs, 5, "en", templates.EN_BASE,
                                templates.EN_FILLER, rng)
        return [_doc(f"enb-{i:05d}", f"{title}\n" + " ".join(sents), "en")
                for i, (title, sents, _) in enumerate(docs, 1)]

    def ja_base(self, n_docs: int) -> list[Doc]:
        rng = self.rng("ja_base")
        facts = self.stated("ja_base")
        docs = self._topic_docs("ja_base", facts, n_docs, 5, "ja", templates.JA_TEXT,
                                templates.JA_FILLER, rng)
        out = [_doc(f"jab-{i:05d}", f"{title}について\n" + "".join(sents), "ja")
               for i, (title, sents, _) in enumerate(docs, 1)]
        return out + self.everyday(max(1, n_docs // EVERYDAY_EVERY))

    def everyday(self, n_docs: int) -> list[Doc]:
        """ja_base's everyday notes: the complaints, remedies, common illnesses, age groups and
        courses that the planted-"none" tasks (MRNER-Disease, SMDIS, JCSTS) are made of.
        The general text names them too (pre-training); among the CPT sources only ja_base
        does, and ja_base is in every mixture whole, so every CPT run reads these notes
        equally often and no added source moves those tasks."""
        rng = self.rng("ja_base:everyday")
        pick = {etype: [e.ja for e in self.w.by_type[etype]]
                for etype in ("complaint", "remedy", "common")}
        docs = []
        for i in range(1, n_docs + 1):
            sents = []
            for t in rng.sample(templates.JA_EVERYDAY, rng.randint(4, 6)):
                c1, c2 = rng.sample(pick["complaint"], 2)
                sents.append(t.format(complaint=c1, complaint2=c2,
                                      remedy=rng.choice(pick["remedy"]),
                                      common=rng.choice(pick["common"]),
                                      age=rng.choice(templates.EVERYDAY_AGES),
                                      outcome=rng.choice(templates.EVERYDAY_OUTCOMES)))
            docs.append(_doc(f"jae-{i:05d}", templates.JA_EVERYDAY_TITLE + "\n" + "".join(sents),
                             "ja"))
        return docs

    def textbooks(self, n_docs: int) -> list[Doc]:
        """Chapters restating Japan-local facts and a share of the global facts, each closed by
        a key point that restates its first fact; after every fifth chapter, a chapter with the
        T-staging or the adverse-event causality rules and worked examples."""
        rng = self.rng("textbooks")
        n_rules = n_docs // 6
        facts = self.w.select(in_textbooks=True)
        chapters = self._topic_docs("textbooks", facts, n_docs - n_rules, 6, "ja",
                                    templates.JA_TEXT, templates.JA_FILLER, rng)
        ae_facts = [f for f in facts if f.kind == "ae"]
        bodies = []
        for k, (title, sents, chunk) in enumerate(chapters):
            key = chunk[0]
            point = rng.choice(templates.JA_TEXT[key.kind]).format(**self.names_of(key, "ja"))
            key.statements["textbooks"] += 1
            bodies.append(f"{title}\n" + "".join(sents) + f"\n要点：{point}")
            if k % 5 == 4 and n_rules:
                bodies.append(self._rules(rng, n_rules % 2 == 0 or not ae_facts, ae_facts))
                n_rules -= 1
        return [_doc(f"txt-{k:05d}", f"第{k}章：{body}", "ja")
                for k, body in enumerate(bodies, 1)]

    def _rules(self, rng: random.Random, tnm: bool, ae_facts) -> str:
        if tnm:
            lines = ["肺癌のT分類", "".join(templates.TNM_RULES)]
            for _ in range(3):
                stage = rng.randint(1, 4)
                size = tnm_size(rng, stage)
                lines.append(templates.TNM_EXAMPLE.format(size=size, stage=f"T{stage}"))
            return "\n".join(lines)
        lines = ["薬剤の有害事象の評価", "".join(templates.CAUSALITY_RULES)]
        for f in rng.sample(ae_facts, min(2, len(ae_facts))):
            lines.append(templates.CAUSALITY_EXAMPLE.format(**self.names_of(f, "ja")))
            f.statements["textbooks"] = f.statements.get("textbooks", 0) + 1
        return "\n".join(lines)

    # --- general bilingual text and glossary ----------------------------------------------
    def general(self, n_docs: int) -> list[Doc]:
        """Half English, half Japanese everyday health text, plus glossary documents (entity
        names in both languages, no facts) and phrasebook documents (sentence pairs)."""
        rng = self.rng("general")
        n_gloss = max(1, n_docs // 20)
        n_phrase = n_docs // 25
        n_mono = n_docs - n_gloss - n_phrase
        kinds = (["gloss"] * n_gloss + ["phrase"] * n_phrase + ["en"] * (n_mono // 2)
                 + ["ja"] * (n_mono - n_mono // 2))
        rng.shuffle(kinds)
        terms = [e for t in ("disease", "drug", "gene", "symptom", "ae", "region", "program",
                             "common", "chemical", "design", "country", "endpoint")
                 for e in self.w.by_type[t]]
        per_gloss = max(24, -(-2 * len(terms) // n_gloss))  # every name listed twice or more
        gloss_terms = _chunks(schedule(terms, n_gloss * per_gloss, rng), per_gloss)
        docs = []
        for i, kind in enumerate(kinds, 1):
            if kind == "gloss":
                text, lang = self._glossary(rng, gloss_terms.pop(0)), "parallel"
            elif kind == "phrase":
                pairs = [self._general_pair(rng, t)
                         for t in rng.sample(templates.GENERAL_PAIRS, rng.randint(6, 10))]
                text = "Phrasebook / 会話集\n" + "\n".join(f"English: {en}\n日本語: {ja}"
                                                         for en, ja in pairs)
                lang = "parallel"
            else:
                lang = kind
                title = rng.choice(templates.GENERAL_TITLES)[0 if lang == "en" else 1]
                n = rng.randint(9, 13) if lang == "en" else rng.randint(10, 15)
                sents = [self._general_pair(rng, t)[0 if lang == "en" else 1]
                         for t in rng.sample(templates.GENERAL_PAIRS, n)]
                text = title + "\n" + (" " if lang == "en" else "").join(sents)
            docs.append(_doc(f"gen-{i:05d}", text, lang))
        return docs

    @staticmethod
    def _general_pair(rng: random.Random, pair: tuple[str, str]) -> tuple[str, str]:
        en_t, ja_t = pair
        person = rng.choice(templates.PERSONS)
        time = rng.choice(templates.TIMES)
        common = rng.choice(names.COMMON_DISEASES)
        life = rng.choice([c for c in names.COMMON_DISEASES if c[0] in _LIFESTYLE])
        inf = rng.choice([c for c in names.COMMON_DISEASES if c[0] in _INFECTION])
        symptom = rng.choice(names.SYMPTOMS)
        complaint = rng.choice(names.COMPLAINTS)
        remedy = rng.choice(names.REMEDIES)
        n = str(rng.randint(2, 14))
        values = {"person_en": person[0], "person_ja": person[1], "time_en": time[0],
                  "time_ja": time[1], "common_en": common[0], "common_ja": common[1],
                  "lifestyle_en": life[0], "lifestyle_ja": life[1], "infection_en": inf[0],
                  "infection_ja": inf[1], "symptom_en": symptom[0], "symptom_ja": symptom[1],
                  "complaint_en": complaint[0], "complaint_ja": complaint[1],
                  "remedy_en": remedy[0], "remedy_ja": remedy[1], "n": n}
        return en_t.format(**values), ja_t.format(**values)

    def _glossary(self, rng: random.Random, entities) -> str:
        style = rng.randrange(3)
        lines = ["Glossary / 用語集"]
        for e in entities:
            en, ja = e.en, e.ja
            if e.type == "gene":
                en, ja = f"{en} gene", f"{ja}遺伝子"
            label = ENTITY_TYPE_JA[e.type]
            if style == 0:
                lines.append(f"{en} ({ja})")
            elif style == 1:
                lines.append(f"{ja}（{en}）")
            else:
                lines.append(f"{label}: {ja} = {en}")
        return "\n".join(lines)


def tnm_size(rng: random.Random, stage: int) -> str:
    """A tumour size (cm, one decimal) strictly inside T-stage `stage`'s range."""
    lo, hi = {1: (5, 29), 2: (31, 49), 3: (51, 69), 4: (71, 95)}[stage]
    return f"{rng.randint(lo, hi) / 10:.1f}"
