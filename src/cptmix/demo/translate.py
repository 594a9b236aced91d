"""A deterministic, noisy English -> Japanese translator for the demo's research text.

It stands in for the NICT machine-translation engine the paper used for the PMC subcorpus.
Translation is phrase-based over the world's own templates and lexicon: each English sentence
is matched against the (English, Japanese) sentence pairs of `templates.research_pairs()`, its
slots (entity names, study designs, numbers...) are looked up in the bilingual lexicon, and the
Japanese side of the pair is filled in. Section headings are single-term lines.

Noise: every translated term (slot value or heading) independently goes wrong with probability
`noise`, in one of three ways, as real MT does with rare terminology:
- ``wrong``   another term of the same type is used (the Japanese text states a wrong fact)
- ``english`` the term is left untranslated, in English
- ``drop``    the term is replaced by a generic word ("本剤", "本疾患", ...): the fact is lost
The random stream is seeded by (seed, document id), so a document always gets the same errors
whatever else is generated; noise 0 gives the clean translation used for the parallel abstracts
and the EJMMT references.
"""

from __future__ import annotations

import random
import re

ERROR_KINDS = ("wrong", "english", "drop")
GENERIC_JA = {"drug": "本剤", "disease": "本疾患", "gene": "当該遺伝子", "symptom": "症状",
              "ae": "有害事象", "design": "研究", "country": "海外", "endpoint": "評価項目",
              "sample": "検体"}
NUMERIC = ("n", "months", "age", "pct")  # slots copied as digits
_SLOT = re.compile(r"\{([a-z_]+?)(\d*)\}")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


class _Pattern:
    def __init__(self, en: str, ja: str, term_regex: dict[str, str]) -> None:
        self.ja = ja
        parts, pos, seen = [], 0, set()
        literals = []
        for m in _SLOT.finditer(en):
            literal = en[pos:m.start()]
            literals.append(literal)
            parts.append(re.escape(literal))
            slot = m.group(1) + m.group(2)
            if slot in seen:
                parts.append(f"(?P={slot})")
            else:
                seen.add(slot)
                kind = m.group(1)
                body = r"\d+" if kind in NUMERIC else term_regex[kind]
                parts.append(f"(?P<{slot}>{body})")
            pos = m.end()
        literals.append(en[pos:])
        parts.append(re.escape(en[pos:]))
        self.regex = re.compile("".join(parts))
        # The longest literal piece: a cheap substring pre-filter before the full regex.
        self.anchor = max(literals, key=len)


class NoisyTranslator:
    """Translate research-style English built from `pairs` into Japanese.

    `lexicon` maps an entity type to {English surface: Japanese surface}.
    """

    def __init__(self, pairs: list[tuple[str, str]], lexicon: dict[str, dict[str, str]],
                 noise: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must be in [0, 1], got {noise}")
        self.lexicon = lexicon
        self.noise = noise
        self.seed = seed
        term_regex = {t: "|".join(re.escape(s) for s in sorted(terms, key=lambda s: (-len(s), s)))
                      for t, terms in lexicon.items() if terms}
        self.patterns = [_Pattern(en, ja, term_regex) for en, ja in pairs]
        self.headings = lexicon.get("heading", {})
        self.unmatched = 0  # sentences no pattern matched (translated term by term)
        self.errors = dict.fromkeys(ERROR_KINDS, 0)
        self._all_terms = re.compile("|".join(
            re.escape(s) for s in sorted({s for terms in lexicon.values() for s in terms},
                                         key=lambda s: (-len(s), s))))
        self._term_ja = {s: j for terms in lexicon.values() for s, j in terms.items()}

    def translate(self, text: str, doc_id: str) -> str:
        """Translate a document line by line; errors are seeded by `doc_id`."""
        return "\n".join(self.translate_segments(text.split("\n"), doc_id))

    def translate_segments(self, segments: list[str], doc_id: str) -> list[str]:
        """Translate the segments (lines, or groups of whole sentences of a line) of one
        document in order, with the document's one random stream: joining the segments of a
        line with "" gives exactly `translate`'s line (`cptmix.prepare.translate` relies on it)."""
        rng = random.Random(f"{self.seed}:mt:{doc_id}")
        return [self._line(s, rng) for s in segments]

    def _line(self, line: str, rng: random.Random) -> str:
        if line in self.headings:
            return self._term("heading", line, rng)
        return "".join(self._sentence(s, rng) for s in _SENTENCE_END.split(line) if s)

    def _sentence(self, sentence: str, rng: random.Random) -> str:
        for p in self.patterns:
            if p.anchor not in sentence:
                continue
            m = p.regex.fullmatch(sentence)
            if m is None:
                continue
            values = {}
            for slot, value in m.groupdict().items():
                kind = slot.rstrip("0123456789")
                values[slot] = value if kind in NUMERIC else self._term(kind, value, rng)
            return p.ja.format(**values)
        self.unmatched += 1
        return self._all_terms.sub(lambda m: self._term_ja[m.group(0)], sentence)

    def _term(self, kind: str, en: str, rng: random.Random) -> str:
        """The Japanese of one term, or one of the three translation errors."""
        clean = self.lexicon[kind][en]
        if rng.random() >= self.noise:
            return clean
        error = rng.choice(ERROR_KINDS)
        if error == "drop" and kind == "heading":
            error = "english"  # a dropped heading would leave an empty line
        self.errors[error] += 1
        if error == "english":
            return en
        if error == "drop":
            return GENERIC_JA[kind]
        others = sorted(j for j in self.lexicon[kind].values() if j != clean)
        return rng.choice(others) if others else clean
