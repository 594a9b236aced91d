"""The entities and facts of the demo world, and which sources state which facts.

Every fact is a typed relation between entities, with a *tier* that decides where it is
stated (see the package docstring for the full design):

- ``base``  global facts stated in en_base (English); half of them also in ja_base (Japanese)
- ``pmc``   global facts stated in pmc_en (and, translated, in pmc_ja_mt); a share also in
            parallel_abstracts
- ``jp``    Japan-local facts stated only in Japanese (ja_base, textbooks)

and a *split*: ``eval`` facts are asked in the JMedBench test sets, ``sft`` facts in the SFT
set, so fine-tuning never rehearses a test question.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field

from cptmix.demo import names

# Shares that shape the world (fractions of a fact group, drawn per group with a seeded RNG).
BASE_SHARE = 0.4  # global facts in the "base" tier; the rest are "pmc" facts
EVAL_SHARE = 0.7  # facts asked in evaluation; the rest feed the SFT set
JA_BASE_SHARE = 0.5  # base facts that ja_base also states in Japanese
TEXTBOOK_SHARE = 0.4  # global facts (base and pmc) restated in Japanese textbooks
JP_JA_BASE_SHARE = 0.5  # evaluation-split Japan-local facts that ja_base states (textbooks: all)
PARALLEL_SHARE = 0.6  # pmc facts stated in the parallel abstracts
SFT_NER_NAMES = 2  # SFT-only NER names per invented entity of the type

GLOBAL_KINDS = ("treats", "gene", "symptom", "ae")
TRIAL_KINDS = ("trial_null", "trial_maybe")
JP_KINDS = ("jp_first_line", "jp_region", "jp_coverage")
# The two entity roles of each kind, (subject, object): a question names the subject and
# asks for the object.
ROLES = {
    "treats": ("disease", "drug"), "gene": ("disease", "gene"),
    "symptom": ("disease", "symptom"), "ae": ("drug", "ae"),
    "trial_null": ("disease", "drug"), "trial_maybe": ("disease", "drug"),
    "jp_first_line": ("disease", "drug"), "jp_region": ("disease", "region"),
    "jp_coverage": ("disease", "program"),
}
# Answers that must not appear among a question's distractors: every object that a fact of
# these kinds links to the question's subject.
EXCLUDE = {"treats": ("treats", "jp_first_line"), "jp_first_line": ("treats", "jp_first_line"),
           "gene": ("gene",), "symptom": ("symptom",), "ae": ("ae",),
           "jp_region": ("jp_region",), "jp_coverage": ("jp_coverage",)}
_PREFIX = {"disease": "DIS", "drug": "DRG", "gene": "GEN"}


@dataclass(frozen=True)
class Entity:
    id: str
    type: str
    en: str
    ja: str

    def name(self, lang: str) -> str:
        return self.ja if lang == "ja" else self.en


@dataclass
class Fact:
    id: str
    kind: str
    tier: str  # base | pmc | jp
    split: str  # eval | sft
    args: dict[str, str]  # role -> entity id
    in_ja_base: bool = False
    in_textbooks: bool = False
    in_parallel: bool = False
    statements: dict[str, int] = field(default_factory=dict)  # source -> times stated

    @property
    def subject(self) -> str:
        return self.args[ROLES[self.kind][0]]

    @property
    def object(self) -> str:
        return self.args[ROLES[self.kind][1]]


class World:
    """Entities by id and facts by id, with the look-ups the generators need."""

    def __init__(self, entities: list[Entity], facts: list[Fact],
                 sft_ner_names: list[Entity] | None = None) -> None:
        self.entities = {e.id: e for e in entities}
        # Invented names that no source mentions, only the SFT split's NER sentences: SFT
        # then teaches NER as copying from the sentence (too many names to memorise), and no
        # evaluation answer is ever an SFT target.
        self.sft_ner_names: dict[str, list[Entity]] = {}
        for e in sft_ner_names or []:
            self.sft_ner_names.setdefault(e.type, []).append(e)
        self.facts = facts
        self.by_type: dict[str, list[Entity]] = {}
        for e in entities:
            self.by_type.setdefault(e.type, []).append(e)

    def name(self, eid: str, lang: str) -> str:
        return self.entities[eid].name(lang)

    def select(self, kinds=None, tiers=None, split=None, **flags) -> list[Fact]:
        out = []
        for f in self.facts:
            if kinds is not None and f.kind not in kinds:
                continue
            if tiers is not None and f.tier not in tiers:
                continue
            if split is not None and f.split != split:
                continue
            if any(getattr(f, k) != v for k, v in flags.items()):
                continue
            out.append(f)
        return out

    def objects_of(self, kinds: tuple[str, ...], subject: str) -> list[str]:
        """All objects that any fact of `kinds` links to `subject` (answers to exclude from
        a question's distractors)."""
        return [f.object for f in self.facts if f.kind in kinds and f.subject == subject]

    def lexicon(self, lang: str) -> dict[str, dict[str, str]]:
        """type -> {English surface: surface in `lang`} (for the translator)."""
        return {t: {e.en: e.name(lang) for e in ents} for t, ents in self.by_type.items()}

    def to_json(self) -> dict:
        return {
            "entities": {t: [asdict(e) for e in ents] for t, ents in self.by_type.items()},
            "facts": [asdict(f) for f in self.facts],
            "sft_ner_names": {t: [asdict(e) for e in ents]
                              for t, ents in self.sft_ner_names.items()},
            "shares": {"base": BASE_SHARE, "eval": EVAL_SHARE, "ja_base": JA_BASE_SHARE,
                       "textbooks": TEXTBOOK_SHARE, "parallel": PARALLEL_SHARE,
                       "jp_ja_base": JP_JA_BASE_SHARE},
        }


def _dealt(pool: list, n: int, rng: random.Random) -> list:
    """`n` items of `pool` dealt in reshuffled rounds: each used n // len(pool) or one more
    times."""
    out: list = []
    while len(out) < n:
        batch = pool[:]
        rng.shuffle(batch)
        out += batch
    return out[:n]


def _flag_share(groups: dict, share: float, rng: random.Random, flag: str) -> None:
    """Set the boolean `flag` on a seeded `share` of every group's facts."""
    for key in sorted(groups):
        group = list(groups[key])
        rng.shuffle(group)
        for f in group[: round(share * len(group))]:
            setattr(f, flag, True)


def build_world(cfg: dict) -> World:
    """Invent the entities and draw the facts for `cfg` (deterministic in cfg["seed"])."""
    rng = random.Random(f"cptmix-world:{cfg['seed']}")
    reg = names.NameRegistry()
    entities: list[Entity] = []
    for etype, lexicon in names.FIXED_LEXICONS.items():
        for i, (en, ja) in enumerate(lexicon, 1):
            reg.register(en, ja)
            entities.append(Entity(f"{etype.upper()}{i:02d}", etype, en, ja))
    invented = {}
    for etype, count, make in (("disease", cfg["n_diseases"], names.make_disease),
                               ("drug", cfg["n_drugs"], names.make_drug),
                               ("gene", cfg["n_genes"], names.make_gene)):
        ents = []
        for i in range(1, count + 1):
            en, ja = reg.invent(rng, make)
            ents.append(Entity(f"{_PREFIX[etype]}{i:02d}", etype, en, ja))
        invented[etype] = ents
        entities += ents
    diseases, drugs, genes = invented["disease"], invented["drug"], invented["gene"]
    by_type = {t: [e for e in entities if e.type == t] for t in ("symptom", "ae", "region",
                                                                  "program")}

    facts: list[Fact] = []

    def add(kind: str, tier: str, **args: str) -> None:
        facts.append(Fact(f"{kind}:{len(facts):04d}", kind, tier, "", dict(args)))

    treat_order = drugs[:]
    rng.shuffle(treat_order)
    jp_order = drugs[:]
    rng.shuffle(jp_order)
    gene_order = genes[:]
    rng.shuffle(gene_order)
    treats, first_line = {}, {}
    for i, d in enumerate(diseases):
        treats[d.id] = treat_order[i % len(drugs)].id
        j = i
        while jp_order[j % len(drugs)].id == treats[d.id]:
            j += 1
        first_line[d.id] = jp_order[j % len(drugs)].id
    # Objects of every relation are dealt out in shuffled rounds, so each symptom, adverse
    # event, region or programme answers about as many questions as any other (no entity is
    # a more likely answer a priori).
    symptoms = _dealt(by_type["symptom"], len(diseases), rng)
    for i, d in enumerate(diseases):
        add("treats", "", drug=treats[d.id], disease=d.id)
        add("gene", "", gene=gene_order[i % len(genes)].id, disease=d.id)
        add("symptom", "", symptom=symptoms[i].id, disease=d.id)
    for r, ae in zip(drugs, _dealt(by_type["ae"], len(drugs), rng), strict=True):
        add("ae", "", drug=r.id, ae=ae.id)
    # Trials without benefit ("no") or with unclear results ("maybe"): drug-disease pairs that
    # no other fact links, so a PubMedQA question has one right answer.
    linked = {(treats[d.id], d.id) for d in diseases} | {(first_line[d.id], d.id)
                                                         for d in diseases}
    candidates = [(r.id, d.id) for d in diseases for r in drugs if (r.id, d.id) not in linked]
    rng.shuffle(candidates)
    n_null, n_maybe = max(2, len(diseases) // 2), max(2, len(diseases) // 3)
    for k, (r, d) in enumerate(candidates[: n_null + n_maybe]):
        add("trial_null" if k < n_null else "trial_maybe", "pmc", drug=r, disease=d)
    regions = _dealt(by_type["region"], len(diseases), rng)
    programs = _dealt(by_type["program"], len(diseases), rng)
    for d, region, program in zip(diseases, regions, programs, strict=True):
        add("jp_first_line", "jp", drug=first_line[d.id], disease=d.id)
        add("jp_region", "jp", disease=d.id, region=region.id)
        add("jp_coverage", "jp", disease=d.id, program=program.id)

    # Tiers of the global facts, per kind.
    for kind in GLOBAL_KINDS:
        group = [f for f in facts if f.kind == kind]
        rng.shuffle(group)
        n_base = round(BASE_SHARE * len(group))
        for k, f in enumerate(group):
            f.tier = "base" if k < n_base else "pmc"
    # Splits, per (kind, tier): at least one fact on each side when the group allows it.
    groups: dict[tuple[str, str], list[Fact]] = {}
    for f in facts:
        groups.setdefault((f.kind, f.tier), []).append(f)
    # Stratified by object: the facts sharing an object sit next to each other, so the eval
    # share cuts through each object's facts and every object answers eval and SFT questions
    # in about the same proportion.
    for key in sorted(groups):
        group = groups[key][:]
        rng.shuffle(group)
        first: dict[str, int] = {}
        for f in group:
            first.setdefault(f.object, len(first))
        group.sort(key=lambda f: first[f.object])
        n_eval = math.ceil(EVAL_SHARE * len(group))
        if len(group) >= 2:
            n_eval = min(n_eval, len(group) - 1)
        picks = {math.floor(k * len(group) / n_eval) for k in range(n_eval)} if n_eval else set()
        for k, f in enumerate(group):
            f.split = "eval" if k in picks else "sft"

    def eval_split(tier: str) -> dict:
        return {k: [f for f in g if f.split == "eval"] for k, g in groups.items() if k[1] == tier}

    # Which secondary sources restate which facts.
    # ja_base states a share of the evaluation-split base facts and every SFT-split one (its
    # review questions practise answering those, in Japanese, for every kind).
    _flag_share(eval_split("base"), JA_BASE_SHARE, rng, "in_ja_base")
    _flag_share({k: g for k, g in groups.items() if k[0] in GLOBAL_KINDS}, TEXTBOOK_SHARE, rng,
                "in_textbooks")
    _flag_share({k: g for k, g in groups.items() if k[1] == "pmc"}, PARALLEL_SHARE, rng,
                "in_parallel")
    # Japan-local facts: textbooks state all of them, ja_base (every mixture) a share of the
    # evaluation split, so adding textbooks teaches the rest; every SFT-split one (reviewed).
    _flag_share(eval_split("jp"), JP_JA_BASE_SHARE, rng, "in_ja_base")
    for f in facts:
        if f.tier == "jp":
            f.in_textbooks = True
        if f.tier in ("base", "jp") and f.split == "sft":
            f.in_ja_base = True
    # Drawn last, from their own stream, so they change nothing above.
    ner_rng = random.Random(f"cptmix-sft-ner-names:{cfg['seed']}")
    sft_ner = []
    for etype, count, make in (("disease", cfg["n_diseases"], names.make_disease),
                               ("drug", cfg["n_drugs"], names.make_drug),
                               ("gene", cfg["n_genes"], names.make_gene)):
        for i in range(1, SFT_NER_NAMES * count + 1):
            en, ja = reg.invent(ner_rng, make)
            sft_ner.append(Entity(f"N{_PREFIX[etype]}{i:03d}", etype, en, ja))
    return World(entities, facts, sft_ner)
