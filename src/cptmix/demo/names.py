"""Invented entity names and the fixed bilingual lexicons of the demo world.

Disease and drug names are strings of consonant-vowel syllables spelled in Latin letters
("Velostatin", "Karsen nephritis"); their Japanese names are derived from the spelling by a
syllable-based katakana transliteration (`katakana`), so a model can in principle learn the
correspondence from the glossary in the general corpus. Gene symbols ("TAVE3") stay in Latin
letters in both languages, as in real Japanese biomedical text. Symptoms, adverse events,
regions and so on are real words with fixed translations.

Names are checked to be unique and never substrings of one another (in either language), so
that entity strings can be found in text unambiguously (NER labels, fact audits).
"""

from __future__ import annotations

import itertools
import random

VOWELS = "aiueo"
ONSETS = "bdfgklmnprstvz"
CODAS = "nrls"  # syllable-final consonants used when inventing roots

# Katakana for consonant + vowel (vowel order a, i, u, e, o); "" is a bare vowel.
_CV = {
    "": ("ア", "イ", "ウ", "エ", "オ"),
    "k": ("カ", "キ", "ク", "ケ", "コ"),
    "g": ("ガ", "ギ", "グ", "ゲ", "ゴ"),
    "s": ("サ", "シ", "ス", "セ", "ソ"),
    "z": ("ザ", "ジ", "ズ", "ゼ", "ゾ"),
    "t": ("タ", "チ", "ツ", "テ", "ト"),
    "d": ("ダ", "ディ", "ドゥ", "デ", "ド"),
    "n": ("ナ", "ニ", "ヌ", "ネ", "ノ"),
    "b": ("バ", "ビ", "ブ", "ベ", "ボ"),
    "p": ("パ", "ピ", "プ", "ペ", "ポ"),
    "m": ("マ", "ミ", "ム", "メ", "モ"),
    "r": ("ラ", "リ", "ル", "レ", "ロ"),
    "l": ("ラ", "リ", "ル", "レ", "ロ"),
    "f": ("ファ", "フィ", "フ", "フェ", "フォ"),
    "v": ("ヴァ", "ヴィ", "ヴ", "ヴェ", "ヴォ"),
}
# Katakana for a consonant not followed by a vowel (syllable coda or consonant cluster).
_CODA = {"n": "ン", "r": "ル", "l": "ル", "s": "ス", "k": "ク", "t": "ト", "d": "ド", "b": "ブ",
         "p": "プ", "m": "ム", "g": "グ", "f": "フ", "v": "ヴ", "z": "ズ"}


def katakana(word: str) -> str:
    """Transliterate an invented Latin-letter word into katakana, syllable by syllable.

    A consonant followed by a vowel is an onset (ka -> カ); any other consonant is a coda
    (n -> ン, r -> ル, ...); a vowel after a vowel or at the start stands alone (a -> ア).
    """
    w = word.lower()
    out, i = [], 0
    while i < len(w):
        c = w[i]
        if c in VOWELS:
            out.append(_CV[""][VOWELS.index(c)])
            i += 1
        elif c in _CV and i + 1 < len(w) and w[i + 1] in VOWELS:
            out.append(_CV[c][VOWELS.index(w[i + 1])])
            i += 2
        elif c in _CODA:
            out.append(_CODA[c])
            i += 1
        else:
            raise ValueError(f"cannot transliterate {word!r}: letter {c!r}")
    return "".join(out)


# Drug-class suffixes (spelled with transliterable letters only) and disease-type words.
DRUG_SUFFIXES = ("statin", "mab", "pril", "olol", "tinib", "vir", "sartan", "dipin", "azol",
                 "formin")
DISEASE_TYPES = (("disease", "病"), ("syndrome", "症候群"), ("anemia", "貧血"),
                 ("nephritis", "腎炎"), ("dermatitis", "皮膚炎"), ("encephalitis", "脳炎"),
                 ("myopathy", "ミオパチー"))

# Fixed bilingual lexicons: (English, Japanese).
SYMPTOMS = (
    ("fever", "発熱"), ("cough", "咳嗽"), ("headache", "頭痛"), ("rash", "皮疹"),
    ("fatigue", "倦怠感"), ("dizziness", "めまい"), ("joint pain", "関節痛"),
    ("chest pain", "胸痛"), ("abdominal pain", "腹痛"), ("dyspnea", "呼吸困難"),
    ("edema", "浮腫"), ("jaundice", "黄疸"), ("palpitations", "動悸"), ("numbness", "しびれ"),
    ("itching", "そう痒感"), ("weight loss", "体重減少"), ("night sweats", "寝汗"),
    ("hoarseness", "嗄声"), ("blurred vision", "霧視"), ("muscle weakness", "筋力低下"),
)
ADVERSE_EVENTS = (
    ("hepatotoxicity", "肝障害"), ("kidney injury", "腎障害"), ("hypotension", "低血圧"),
    ("bradycardia", "徐脈"), ("hypoglycemia", "低血糖"), ("neutropenia", "好中球減少症"),
    ("insomnia", "不眠"), ("constipation", "便秘"), ("diarrhea", "下痢"), ("hair loss", "脱毛"),
    ("tinnitus", "耳鳴り"), ("photosensitivity", "光線過敏症"), ("myalgia", "筋肉痛"),
    ("thrombocytopenia", "血小板減少症"), ("pancreatitis", "膵炎"),
)
REGIONS = (
    ("Hokkaido", "北海道"), ("Tohoku", "東北地方"), ("Kanto", "関東地方"), ("Chubu", "中部地方"),
    ("Kinki", "近畿地方"), ("Chugoku", "中国地方"), ("Shikoku", "四国地方"),
    ("Kyushu", "九州地方"), ("Okinawa", "沖縄"),
)
PROGRAMS = (
    ("the intractable disease subsidy", "指定難病医療費助成"),
    ("the pediatric chronic disease subsidy", "小児慢性特定疾病医療費助成"),
    ("long-term care insurance", "介護保険の特定疾病"),
    ("independence support medical care", "自立支援医療"),
)
# Real, common conditions: general health text and NER distractors, never part of a fact.
COMMON_DISEASES = (
    ("diabetes", "糖尿病"), ("hypertension", "高血圧"), ("pneumonia", "肺炎"),
    ("asthma", "喘息"), ("influenza", "インフルエンザ"), ("the common cold", "風邪"),
    ("gastritis", "胃炎"), ("stroke", "脳卒中"), ("heart failure", "心不全"),
    ("osteoporosis", "骨粗鬆症"),
)
# Everyday vocabulary of the planted-"none" tasks (MRNER-Disease, SMDIS, JCSTS): stated by
# the general text and by ja_base's everyday notes only (`sources.SourceWriter.everyday`),
# never in a fact, PMC text or textbooks; ja_base is in every mixture at fraction 1, so every
# CPT run reads it equally often and no added source can move those tasks
# (`balance.none_exposure` checks it).
COMPLAINTS = (
    ("stiff shoulders", "肩こり"), ("a runny nose", "鼻水"), ("sneezing", "くしゃみ"),
    ("lack of sleep", "寝不足"), ("a hangover", "二日酔い"), ("sunburn", "日焼け"),
    ("insect bites", "虫刺され"), ("shoe blisters", "靴ずれ"), ("eye strain", "目の疲れ"),
    ("a sore throat", "喉の痛み"), ("hiccups", "しゃっくり"), ("heartburn", "胸やけ"),
    ("a stuffy nose", "鼻づまり"), ("chapped lips", "唇の荒れ"), ("motion sickness", "乗り物酔い"),
    ("a stiff neck", "寝違え"),
)
REMEDIES = (
    ("cold remedies", "かぜ薬"), ("eye drops", "目薬"), ("a cooling patch", "湿布"),
    ("throat lozenges", "のど飴"), ("antacids", "胃腸薬"), ("vitamin tablets", "ビタミン剤"),
    ("a heat pack", "カイロ"), ("ointment", "塗り薬"),
)
CHEMICALS = (
    ("glucose", "グルコース"), ("ethanol", "エタノール"), ("cholesterol", "コレステロール"),
    ("sodium", "ナトリウム"), ("potassium", "カリウム"), ("calcium", "カルシウム"),
    ("lactate", "乳酸"),
)
# Research-paper vocabulary (PMC-like text).
DESIGNS = (
    ("randomized controlled trial", "ランダム化比較試験"),
    ("prospective cohort study", "前向きコホート研究"),
    ("retrospective cohort study", "後ろ向きコホート研究"),
    ("case-control study", "症例対照研究"), ("multicenter study", "多施設共同研究"),
)
COUNTRIES = (
    ("Germany", "ドイツ"), ("Brazil", "ブラジル"), ("Canada", "カナダ"), ("Korea", "韓国"),
    ("France", "フランス"), ("Italy", "イタリア"), ("Sweden", "スウェーデン"),
    ("India", "インド"), ("Australia", "オーストラリア"), ("Spain", "スペイン"),
)
ENDPOINTS = (
    ("mortality", "死亡率"), ("length of hospital stay", "入院期間"),
    ("quality of life", "生活の質"), ("relapse rate", "再発率"), ("symptom score", "症状スコア"),
)
SAMPLES = (("Blood samples", "血液検体"), ("Biopsy specimens", "生検検体"),
           ("Urine samples", "尿検体"))
HEADINGS = (("Abstract", "要旨"), ("Background", "背景"), ("Methods", "方法"),
            ("Results", "結果"), ("Conclusions", "結論"))

FIXED_LEXICONS = {
    "symptom": SYMPTOMS, "ae": ADVERSE_EVENTS, "region": REGIONS, "program": PROGRAMS,
    "common": COMMON_DISEASES, "complaint": COMPLAINTS, "remedy": REMEDIES,
    "chemical": CHEMICALS, "design": DESIGNS, "country": COUNTRIES,
    "endpoint": ENDPOINTS, "sample": SAMPLES, "heading": HEADINGS,
}


def _root(rng: random.Random, n_syllables: int, coda_p: float = 0.25) -> str:
    parts = []
    for i in range(n_syllables):
        parts.append(rng.choice(ONSETS) + rng.choice(VOWELS))
        if i < n_syllables - 1 and rng.random() < coda_p:
            parts.append(rng.choice(CODAS))
    return "".join(parts)


class NameRegistry:
    """Hands out names that collide with nothing registered so far, in either language."""

    def __init__(self) -> None:
        self._en: list[str] = []
        self._ja: list[str] = []
        self._roots: list[str] = []
        self._ja_roots: list[str] = []

    @staticmethod
    def _clash(new: str, existing: list[str]) -> bool:
        return any(new in old or old in new for old in existing)

    def register(self, en: str, ja: str, root: str = "") -> bool:
        en_l, root_l = en.lower(), root.lower()
        if self._clash(en_l, self._en) or self._clash(ja, self._ja):
            return False
        if root_l and (self._clash(root_l, self._roots)
                       or self._clash(katakana(root_l), self._ja_roots)):
            return False
        self._en.append(en_l)
        self._ja.append(ja)
        if root_l:
            self._roots.append(root_l)
            self._ja_roots.append(katakana(root_l))
        return True

    def invent(self, rng: random.Random, make) -> tuple[str, str]:
        """Draw (en, ja, root) from `make(rng)` until one registers."""
        for _ in range(10_000):
            en, ja, root = make(rng)
            if self.register(en, ja, root):
                return en, ja
        raise RuntimeError("could not invent a unique name; lower the entity counts")


def _stutters(kana: str) -> bool:
    """Whether a kana repeats back to back (ルル): such names are hard to read; redrawn."""
    return any(a == b for a, b in itertools.pairwise(kana))


def make_drug(rng: random.Random) -> tuple[str, str, str]:
    while True:
        root = _root(rng, rng.choice((2, 2, 3)))
        word = root + rng.choice(DRUG_SUFFIXES)
        if not _stutters(katakana(word)):
            return word.capitalize(), katakana(word), root


def make_disease(rng: random.Random) -> tuple[str, str, str]:
    while True:
        root = _root(rng, rng.choice((2, 3)), coda_p=0.4)
        if not _stutters(katakana(root)):
            break
    kind_en, kind_ja = rng.choice(DISEASE_TYPES)
    return f"{root.capitalize()} {kind_en}", katakana(root) + kind_ja, root


def make_gene(rng: random.Random) -> tuple[str, str, str]:
    root = _root(rng, 2, coda_p=0.3)
    symbol = f"{root.upper()}{rng.randint(1, 9)}"
    return symbol, symbol, root
