"""Sentence templates of the demo world.

Slots are written `{type}` or `{type2}` (a second entity of the same type); `{n}`, `{months}`,
`{age}` and `{pct}` are numbers.
Research-style sentences come as (English, Japanese) pairs: the English side writes pmc_en and
the English half of the parallel abstracts, and the translator (`translate.py`) parses English
sentences back into a pair and its slots to produce the Japanese side. The other sources use
monolingual templates with their own wording, so a fact is seen in several phrasings.

English templates never start with a lower-case slot (the translator matches surfaces exactly).
"""

from __future__ import annotations

# --- Research style (pmc_en, pmc_ja_mt, parallel_abstracts, EJMMT) ---------------------------
FACT_PAIRS: dict[str, list[tuple[str, str]]] = {
    # Subject first (disease -> drug, disease -> gene), the order the questions ask in: a
    # tiny model learns an association in the direction it reads it.
    "treats": [
        ("In patients with {disease}, {drug} significantly improved outcomes.",
         "{disease}患者において{drug}は転帰を有意に改善した。"),
        ("In {disease}, treatment with {drug} reduced disease activity.",
         "{disease}では{drug}による治療で疾患活動性が低下した。"),
        ("{disease} is effectively treated with {drug}.",
         "{disease}には{drug}が有効な治療薬である。"),
        ("Patients with {disease} who received {drug} showed marked improvement.",
         "{disease}患者では{drug}の投与で著明な改善を認めた。"),
    ],
    "gene": [
        ("{disease} was associated with variants in {gene}.",
         "{disease}は{gene}の変異と関連していた。"),
        ("In patients with {disease}, mutations in {gene} were frequently detected.",
         "{disease}患者では{gene}の変異が高頻度に検出された。"),
        ("{disease} is associated with mutations in {gene}.",
         "{disease}は{gene}の変異と関連する。"),
    ],
    "symptom": [
        ("The most characteristic symptom of {disease} was {symptom}.",
         "{disease}の最も特徴的な症状は{symptom}であった。"),
        ("Most patients with {disease} presented with {symptom}.",
         "{disease}患者の多くは{symptom}を呈した。"),
        ("{disease} typically presents with {symptom}.",
         "{disease}は典型的には{symptom}で発症する。"),
    ],
    "ae": [
        ("The most common adverse event of {drug} was {ae}.",
         "{drug}の最も多い有害事象は{ae}であった。"),
        ("Frequent {ae} was reported in patients treated with {drug}.",
         "{drug}投与患者では{ae}が高頻度に報告された。"),
        ("{drug} can cause {ae}.", "{drug}は{ae}を引き起こすことがある。"),
    ],
    "trial_null": [
        ("{drug} did not improve outcomes in patients with {disease}.",
         "{drug}は{disease}患者の転帰を改善しなかった。"),
        ("No benefit of {drug} was observed in {disease}.",
         "{disease}において{drug}の有益性は認められなかった。"),
    ],
    "trial_maybe": [
        ("The effect of {drug} on {disease} remained unclear.",
         "{disease}に対する{drug}の効果は明らかでなかった。"),
        ("Evidence for {drug} in {disease} was inconclusive.",
         "{disease}における{drug}のエビデンスは結論に至らなかった。"),
    ],
}
_TRIAL_TITLE = [("{drug} in patients with {disease}: a {design}",
                 "{disease}患者における{drug}：{design}")]
_TRIAL_AIM = [("The aim of this study was to evaluate {drug} in {disease}.",
               "本研究の目的は{disease}に対する{drug}の評価である。")]
TITLE_PAIRS: dict[str, list[tuple[str, str]]] = {
    "treats": _TRIAL_TITLE, "trial_null": _TRIAL_TITLE, "trial_maybe": _TRIAL_TITLE,
    "gene": [("{gene} variants in {disease}", "{disease}における{gene}変異")],
    "symptom": [("Clinical features of {disease}", "{disease}の臨床的特徴")],
    "ae": [("Safety of {drug}: a {design}", "{drug}の安全性：{design}")],
}
AIM_PAIRS: dict[str, list[tuple[str, str]]] = {
    "treats": _TRIAL_AIM, "trial_null": _TRIAL_AIM, "trial_maybe": _TRIAL_AIM,
    "gene": [("We investigated genetic factors in {disease}.",
              "{disease}の遺伝的要因を検討した。")],
    "symptom": [("We described the clinical features of {disease}.",
                 "{disease}の臨床的特徴を記述した。")],
    "ae": [("We assessed the safety of {drug}.", "{drug}の安全性を評価した。")],
}
FILLER_PAIRS: dict[str, list[tuple[str, str]]] = {
    "background": [
        ("{disease} is a chronic disorder with limited treatment options.",
         "{disease}は治療選択肢の限られた慢性疾患である。"),
        ("The clinical course of {disease} is poorly understood.",
         "{disease}の臨床経過は十分に解明されていない。"),
    ],
    "methods": [
        ("We conducted a {design} in {country}.", "{country}で{design}を実施した。"),
        ("A total of {n} patients with {disease} were enrolled.",
         "{disease}患者{n}例を登録した。"),
        ("The primary endpoint was {endpoint}.", "主要評価項目は{endpoint}とした。"),
        ("{sample} were collected at baseline.", "ベースライン時に{sample}を採取した。"),
        ("Patients were followed for {months} months.", "患者を{months}か月間追跡した。"),
        ("Data were analyzed with regression models.", "データは回帰モデルで解析した。"),
    ],
    "results": [
        ("The median age was {age} years.", "年齢の中央値は{age}歳であった。"),
        ("{n} patients completed the study.", "{n}例が試験を完了した。"),
        ("The dropout rate was {pct} percent.", "脱落率は{pct}%であった。"),
    ],
    "conclusions": [
        ("Further studies are needed.", "さらなる研究が必要である。"),
        ("These findings may guide clinical practice.", "これらの知見は臨床診療の指針となりうる。"),
        ("Larger trials should confirm these results.",
         "より大規模な試験でこれらの結果を確認すべきである。"),
    ],
}


def research_pairs() -> list[tuple[str, str]]:
    """Every (English, Japanese) research-style pair: the translator's pattern table."""
    out = []
    for table in (FACT_PAIRS, TITLE_PAIRS, AIM_PAIRS, FILLER_PAIRS):
        for pairs in table.values():
            out += [p for p in pairs if p not in out]
    return out


# --- Encyclopedic English (en_base) -----------------------------------------------------------
EN_BASE: dict[str, list[str]] = {
    "treats": ["{disease} is treated with {drug}.",
               "The standard treatment for {disease} is {drug}.",
               "For {disease}, {drug} is indicated."],
    "gene": ["{disease} is caused by variants in the {gene} gene.",
             "The gene linked to {disease} is {gene}.",
             "Genetic testing for {disease} looks for changes in {gene}."],
    "symptom": ["The hallmark symptom of {disease} is {symptom}.",
                "Patients with {disease} usually have {symptom}.",
                "A typical sign of {disease} is {symptom}."],
    "ae": ["A well-known side effect of {drug} is {ae}.",
           "Patients taking {drug} should be monitored for {ae}.", "{drug} may cause {ae}."],
}
EN_FILLER = {
    "disease": ["{disease} is a chronic condition.", "Early diagnosis of {disease} is important.",
                "{disease} can affect people of any age.",
                "Specialists follow patients with {disease} closely."],
    "drug": ["{drug} is taken by mouth.", "The dose of {drug} is adjusted to kidney function.",
             "{drug} should be stored at room temperature."],
}

# --- Explanatory Japanese (ja_base, textbooks) ------------------------------------------------
JA_TEXT: dict[str, list[str]] = {
    "treats": ["{disease}の治療には{drug}が用いられる。", "{disease}の治療薬は{drug}である。",
               "{disease}には{drug}が有効である。"],
    "gene": ["{disease}は{gene}遺伝子の変異によって起こる。",
             "{disease}の原因遺伝子は{gene}である。",
             "{disease}では{gene}の異常がみられる。"],
    "symptom": ["{disease}の代表的な症状は{symptom}である。",
                "{disease}では{symptom}がよくみられる。",
                "{disease}の典型的な症状は{symptom}である。"],
    "ae": ["{drug}の主な副作用は{ae}である。", "{drug}の投与中は{ae}に注意する。",
           "{drug}は{ae}を起こすことがある。"],
    "jp_first_line": ["日本の診療ガイドラインでは{disease}の第一選択薬は{drug}である。",
                      "国内では{disease}に対してまず{drug}が推奨される。",
                      "日本における{disease}の第一選択薬は{drug}である。"],
    "jp_region": ["日本では{disease}は{region}に多い。",
                  "{disease}の国内患者は{region}に集中している。",
                  "{disease}の好発地域は{region}である。"],
    "jp_coverage": ["{disease}は{program}の対象である。",
                    "日本では{disease}の医療費は{program}で助成される。",
                    "{disease}の患者は{program}を利用できる。"],
}
JA_FILLER = {
    "disease": ["{disease}は慢性の経過をとることが多い。", "{disease}の早期診断が重要である。",
                "{disease}の患者には生活指導も行う。"],
    "drug": ["{drug}は経口で投与する。", "{drug}の用量は腎機能に応じて調節する。"],
}
# Textbook chapters that teach the rules two classification tasks need (RRTNM, CRADE).
TNM_RULES = [
    "肺癌のT分類は原発腫瘍の長径で決める。",
    "長径3cm以下はT1とする。", "長径が3cmを超え5cm以下はT2とする。",
    "長径が5cmを超え7cm以下はT3とする。", "長径が7cmを超える腫瘍はT4とする。",
]
TNM_EXAMPLE = "例えば長径{size}cmの腫瘍は{stage}である。"
CAUSALITY_RULES = [
    "薬剤による有害事象の可能性は次のように判定する。",
    "有害事象がなければ可能性はなしとする。",
    "既知の副作用と異なる事象であれば可能性は低いとする。",
    "既知の副作用と一致する事象であれば可能性は高いとする。",
    "既知の副作用と一致し、中止で改善し再投与で再発すれば確実とする。",
]
CAUSALITY_EXAMPLE = "例えば{drug}の投与後に{ae}が出現すれば可能性は高い。"

# --- General bilingual health text (general): (English, Japanese) ----------------------------
GENERAL_PAIRS = [
    ("{person_en} went to the hospital in the {time_en}.",
     "{person_ja}は{time_ja}に病院へ行った。"),
    ("{person_en} has {common_en}.", "{person_ja}は{common_ja}を患っている。"),
    ("{person_en} takes medicine for {common_en} every day.",
     "{person_ja}は毎日{common_ja}の薬を飲んでいる。"),
    ("{person_en} has had {symptom_en} for {n} days.",
     "{person_ja}は{n}日前から{symptom_ja}がある。"),
    ("Regular exercise helps prevent {lifestyle_en}.",
     "適度な運動は{lifestyle_ja}の予防に役立つ。"),
    ("Smoking increases the risk of {lifestyle_en}.", "喫煙は{lifestyle_ja}のリスクを高める。"),
    ("Washing your hands helps prevent {infection_en}.", "手洗いは{infection_ja}の予防に役立つ。"),
    ("Vaccination lowers the risk of {infection_en}.",
     "予防接種で{infection_ja}のリスクが下がる。"),
    ("Drink plenty of water when you have {symptom_en}.",
     "{symptom_ja}があるときは水分を十分にとりましょう。"),
    ("If {symptom_en} continues, see a doctor.", "{symptom_ja}が続くときは医師に相談しましょう。"),
    ("A diet rich in vegetables is good for the heart.", "野菜の多い食事は心臓によい。"),
    ("Try to sleep at least seven hours a night.", "毎晩七時間以上眠るようにしましょう。"),
    ("Please show your insurance card at the reception desk.", "受付で保険証を提示してください。"),
    ("The clinic opens at nine in the morning.", "診療所は午前九時に開く。"),
    ("The waiting room was crowded today.", "今日は待合室が混んでいた。"),
    ("The nurse measured blood pressure and temperature.", "看護師が血圧と体温を測った。"),
    ("The doctor listened to the chest with a stethoscope.", "医師が聴診器で胸の音を聞いた。"),
    ("The pharmacist explained how to take the tablets.", "薬剤師が錠剤の飲み方を説明した。"),
    ("Blood tests are done before surgery.", "手術の前に血液検査を行う。"),
    ("Visiting hours are from two to eight in the afternoon.",
     "面会時間は午後二時から八時までである。"),
    ("The emergency department is open all night.", "救急外来は夜間も開いている。"),
    ("{person_en} made an appointment for next week.", "{person_ja}は来週の予約を取った。"),
    ("{person_en} was admitted to the ward for {n} days.", "{person_ja}は{n}日間入院した。"),
    ("Take the tablets after meals.", "錠剤は食後に飲んでください。"),
    ("Keep medicines out of the reach of children.",
     "薬は子どもの手の届かない所に保管しましょう。"),
    ("A fever is often the first sign of {infection_en}.",
     "発熱は{infection_ja}の最初の徴候であることが多い。"),
    ("Regular check-ups are useful for {lifestyle_en}.",
     "定期的な健診は{lifestyle_ja}の管理に役立つ。"),
    ("The hospital has {n} beds.", "その病院には{n}床のベッドがある。"),
    ("Walking for thirty minutes a day keeps the body strong.", "一日三十分歩くと体が丈夫になる。"),
    ("{person_en} felt better after a good rest.", "{person_ja}はよく休んだ後に体調がよくなった。"),
    ("{person_en} has had {complaint_en} since the {time_en}.",
     "{person_ja}は{time_ja}から{complaint_ja}がある。"),
    ("{person_en} used {remedy_en} for {complaint_en}.",
     "{person_ja}は{complaint_ja}に{remedy_ja}を使った。"),
    ("{complaint_en} is common and usually harmless.", "{complaint_ja}はよくある軽い不調である。"),
    ("{person_en} bought {remedy_en} at the pharmacy.", "{person_ja}は薬局で{remedy_ja}を買った。"),
]
# ja_base's everyday notes (`sources.SourceWriter.everyday`): the only medical-source text
# naming the everyday complaints and remedies, in every mixture alike.
JA_EVERYDAY_TITLE = "日常の不調"
JA_EVERYDAY = (
    "外来では{complaint}を訴える患者も多い。", "{complaint}には{remedy}が使われることがある。",
    "{common}の患者が{complaint}を訴えることもある。", "{age}の人では{complaint}がよくみられる。",
    "{complaint}は数日で{outcome}ことが多い。", "{remedy}を使うと{complaint}が{outcome}。",
    "{complaint}や{complaint2}は日常的な訴えである。", "{age}の{common}の人が{remedy}を使っていた。",
)
# Age groups and courses of the everyday notes, JCSTS's slots besides the lexicons'.
EVERYDAY_AGES = ("高齢", "若年", "中年", "学童")
EVERYDAY_OUTCOMES = ("軽くなった", "ひどくなった", "治まった", "続いた")
PERSONS = (("The patient", "患者"), ("My father", "父"), ("My mother", "母"),
           ("The nurse", "看護師"), ("The doctor", "医師"), ("An elderly man", "高齢の男性"),
           ("A young woman", "若い女性"), ("The child", "その子ども"), ("Our neighbor", "隣人"))
TIMES = (("morning", "朝"), ("afternoon", "午後"), ("evening", "夕方"))
GENERAL_TITLES = (("Health notes", "健康メモ"), ("At the clinic", "診療所にて"),
                  ("Daily life and health", "暮らしと健康"), ("Hospital guide", "病院案内"))


# --- Questions (the JMedBench-shaped test and SFT sets, and the sources' review questions) ---
# MCQA question templates: style -> kind -> (English, Japanese).
QUESTIONS = {
    "plain": {
        "treats": ("Which drug is used to treat {disease}?",
                   "{disease}の治療に用いられる薬剤はどれか。"),
        "gene": ("Mutations in which gene are associated with {disease}?",
                 "{disease}と関連する遺伝子はどれか。"),
        "symptom": ("Which symptom is characteristic of {disease}?",
                    "{disease}に特徴的な症状はどれか。"),
        "ae": ("Which adverse event is typical of {drug}?", "{drug}で注意すべき有害事象はどれか。"),
    },
    "jmmlu": {
        "treats": ("", "次のうち、{disease}の治療薬として正しいのはどれか。"),
        "gene": ("", "次のうち、{disease}の原因遺伝子はどれか。"),
        "symptom": ("", "次のうち、{disease}の主な症状はどれか。"),
        "ae": ("", "次のうち、{drug}の副作用として知られるのはどれか。"),
    },
    "terse": {
        "treats": ("Drug of choice for {disease}:", "{disease}の治療薬:"),
        "gene": ("Gene implicated in {disease}:", "{disease}の関連遺伝子:"),
        "symptom": ("Cardinal symptom of {disease}:", "{disease}の主症状:"),
        "ae": ("Adverse effect of {drug}:", "{drug}の副作用:"),
    },
    "vignette": {
        "treats": (("A {age}-year-old {sex} is diagnosed with {disease}. Which drug is most "
                    "appropriate?"),
                   "{age}歳の{sex}。{disease}と診断された。最も適切な薬剤はどれか。"),
        "gene": (("A {age}-year-old {sex} is diagnosed with {disease}. Which gene is most likely "
                  "mutated?"),
                 "{age}歳の{sex}。{disease}と診断された。変異が最も疑われる遺伝子はどれか。"),
        "symptom": ("A {age}-year-old {sex} has {disease}. Which symptom is most likely?",
                    "{age}歳の{sex}。{disease}がある。最もみられやすい症状はどれか。"),
        "ae": ("A {age}-year-old {sex} starts {drug}. Which adverse event is most likely?",
               "{age}歳の{sex}。{drug}を開始した。最も起こりやすい有害事象はどれか。"),
    },
    "usmle": {
        "treats": (("A {age}-year-old {sex} comes to the clinic with {disease}. What is the best "
                    "treatment?"), "{age}歳の{sex}が{disease}で来院した。最適な治療薬はどれか。"),
        "gene": (("Genetic testing is ordered for a {age}-year-old {sex} with {disease}. Which "
                  "gene is most likely affected?"),
                 "{disease}の{age}歳の{sex}に遺伝子検査を行う。異常が予想される遺伝子はどれか。"),
        "symptom": (("A {age}-year-old {sex} with {disease} is examined. Which finding is "
                     "expected?"), "{disease}の{age}歳の{sex}を診察した。予想される症状はどれか。"),
        "ae": (("A {age}-year-old {sex} taking {drug} returns for follow-up. Which adverse event "
                "should be checked?"),
               "{drug}を服用中の{age}歳の{sex}が再診した。確認すべき有害事象はどれか。"),
    },
    "exam": {
        "jp_first_line": (("Which drug does the Japanese clinical guideline recommend first for "
                           "{disease}?"),
                          "日本の診療ガイドラインで{disease}の第一選択薬はどれか。"),
        "jp_region": ("In Japan, in which region is {disease} most common?",
                      "日本で{disease}が最も多い地域はどれか。"),
        "jp_coverage": ("In Japan, which public program covers medical costs of {disease}?",
                        "日本で{disease}の医療費を助成する制度はどれか。"),
    },
}
SEXES = (("man", "男性"), ("woman", "女性"))
