"""The 27 JMedBench tasks as data, and the prompt templates shared by SFT and evaluation.

Sits at the bottom of the pipeline's import order (next to `cptmix.config`): the demo world
writes evaluation sets and SFT examples with these templates, and `cptmix.evaluate` scores
models with the very same ones, so the instruction format a model is fine-tuned on is the
format it is evaluated in.

Record shapes follow the published JMedBench data (one folder per task, JSONL splits), as its
official evaluator reads them (github.com/nii-nlp/med-eval, `data_loaders/base.py` and the
`tasks/*.py` sample classes; the folder names below are the dataset names its scripts pass):
- MCQA: sample_id, question, options (list[str]), answer_idx (int), n_options, metadata;
        PubMedQA(-Jp) carry their abstract in metadata["context"].
- DC:   med-eval scores CRADE/RRTNM/SMDIS with its MCQA evaluator (`evaluate_mcqa.py`,
        template `dc_with_options_jp`), so the published records are MCQA-shaped with the
        document in metadata["context"]. The demo world writes them NLI-shaped instead
        (sample_id, premise, hypothesis, label, n_label, metadata) with verbalised labels from
        the `Task` entry; both shapes are accepted and prompted alike (`mcqa_view`: the
        document as context, the task's question, its labels as the options).
- STS:  sample_id, premise, hypothesis, label (int 0..5), n_label, metadata
- MT:   english, japanese (one folder `ejmmt` serves both directions); sample_id optional
- NER:  text, labels (list of entity strings), entity_type; med-eval's NERSample has no
        sample_id, so it is optional (the loader names records by line when absent)

A model answers MCQA/DC/STS by the option (verbalised label) with the highest log-likelihood
as a continuation of the prompt; MT and NER by greedy generation stopped at a newline.
Prompts and continuations are med-eval's own (see "Prompt templates" below).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MCQA, MT, NER, DC, STS = "MCQA", "MT", "NER", "DC", "STS"
JA, EN = "Japanese", "English"

# The metric each category reports (paper section 3.3).
METRICS = {MCQA: "accuracy", DC: "accuracy", MT: "bleu", NER: "entity_f1", STS: "pearson"}


@dataclass(frozen=True)
class Task:
    """One JMedBench task: its name as in the paper, where its data lives, how it is scored."""

    name: str  # as in the paper's appendix E, e.g. "MedQA-Jp"
    folder: str  # JMedBench dataset folder, e.g. "medqa_jp"
    language: str  # JA or EN: the language of the answer (paper's grouping)
    category: str  # MCQA / MT / NER / DC / STS
    direction: str = ""  # MT only: "en2ja" or "ja2en"
    labels: tuple[str, ...] = field(default=())  # DC/STS: verbalised labels, index = label id
    # DC: the question asked of a demo (NLI-shaped) record; NER: the entity type asked for
    # when a record carries none (published records name it in `entity_type`).
    instruction: str = ""
    # MCQA/DC: prompt starts with the record's metadata["context"] (PubMedQA's abstract, the DC
    # document), as med-eval's context-based templates do for exactly these tasks.
    uses_context: bool = False

    @property
    def metric(self) -> str:
        return METRICS[self.category]

    @property
    def prompt_language(self) -> str:
        """Language of the prompt text (for MT, the source side)."""
        if self.category == MT:
            return EN if self.direction == "en2ja" else JA
        return self.language


def _mcqa(name: str, folder: str, language: str, uses_context: bool = False) -> Task:
    return Task(name, folder, language, MCQA, uses_context=uses_context)


def _ner(name: str, folder: str, entity_type: str) -> Task:
    return Task(name, folder, JA, NER, instruction=entity_type)


TASKS: tuple[Task, ...] = (
    # --- MCQA, Japanese (7)
    _mcqa("IgakuQA", "igakuqa", JA),
    _mcqa("JMMLU-Medical", "jmmlu_medical", JA),
    _mcqa("MMLU-Medical-Jp", "mmlu_medical_jp", JA),
    _mcqa("MedMCQA-Jp", "medmcqa_jp", JA),
    _mcqa("MedQA-Jp", "medqa_jp", JA),
    _mcqa("PubMedQA-Jp", "pubmedqa_jp", JA, uses_context=True),
    _mcqa("USMLEQA-Jp", "usmleqa_jp", JA),
    # --- MCQA, English (6)
    _mcqa("IgakuQA-En", "igakuqa_en", EN),
    _mcqa("MMLU-Medical", "mmlu_medical", EN),
    _mcqa("MedMCQA", "medmcqa", EN),
    _mcqa("MedQA", "medqa", EN),
    _mcqa("PubMedQA", "pubmedqa", EN, uses_context=True),
    _mcqa("USMLEQA", "usmleqa", EN),
    # --- MT (one per direction; EJMMT-Ja is en->ja and counts as a Japanese task)
    Task("EJMMT-Ja", "ejmmt", JA, MT, direction="en2ja"),
    Task("EJMMT-En", "ejmmt", EN, MT, direction="ja2en"),
    # --- NER, Japanese (8); the instruction names the entity type to extract
    _ner("BC2GM-Jp", "bc2gm_jp", "遺伝子"),
    _ner("BC5Chem-Jp", "bc5chem_jp", "化学物質"),
    _ner("BC5Disease-Jp", "bc5disease_jp", "疾患"),
    _ner("JNLPBA-Jp", "jnlpba_jp", "遺伝子・タンパク質"),
    _ner("MRNER-Disease", "mrner_disease", "症状"),
    _ner("MRNER-Medicine", "mrner_medicine", "薬剤"),
    _ner("NCBI-Disease-Jp", "ncbi_disease_jp", "疾患"),
    _ner("NRNER", "nrner", "症状・薬剤"),
    # --- DC, Japanese (3)
    Task("CRADE", "crade", JA, DC, labels=("なし", "低い", "高い", "確実"),
         instruction="この症例で薬剤による有害事象の可能性はどの程度か。", uses_context=True),
    Task("RRTNM", "rrtnm", JA, DC, labels=("T1", "T2", "T3", "T4"),
         instruction="この読影所見のT分類はどれか。", uses_context=True),
    Task("SMDIS", "smdis", JA, DC, labels=("いいえ", "はい"),
         instruction="投稿者または周囲の人に病気や症状があるか。", uses_context=True),
    # --- STS, Japanese (1); labels are the similarity grades 0..5
    Task("JCSTS", "jcsts", JA, STS, labels=("0", "1", "2", "3", "4", "5")),
)

TASKS_BY_NAME: dict[str, Task] = {t.name: t for t in TASKS}
TASK_NAMES: tuple[str, ...] = tuple(t.name for t in TASKS)


def get_task(name: str) -> Task:
    try:
        return TASKS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(TASK_NAMES)}") from None


# ---------------------------------------------------------------------------------------------
# Prompt templates: med-eval's, character for character.
#
# JMedBench scores are defined by its evaluator's prompts, so these strings are copied from
# github.com/nii-nlp/med-eval (`templates/mcqa.py`, `templates/nli.py`, `templates/mt.py`,
# `templates/ner.py` + `tasks/ner.py`), under med-eval's template names; each `Task` names the
# one `scripts/batch/evaluate_jmedbench.sh` runs for it (Japanese tasks) or the English
# counterpart med-eval provides (`scripts/evaluation/standard_mcqa_evaluation.sh`). Note the
# full-width colons (：) of the Japanese templates and the trailing space of the English ones.
#
# Continuations are appended exactly as med-eval appends them: an MCQA/DC option follows the
# prompt with no separator ("答え：" + "アスピリン"); an STS grade with a space (" 3", med-eval's
# NLI request builder); an NER answer with a space (" 遺伝子A, 遺伝子B", `NERTemplate.
# instantiate_template_full`); a translation with none. `cptmix.evaluate.scoring` then
# tokenises `prompt + continuation` jointly and cuts at the prompt's token count, as med-eval.

MEDEVAL_TEMPLATES: dict[str, str] = {
    # MCQA (templates/mcqa.py)
    "mcqa_with_options_jp": "質問：{question}\n{options}\n答え：",
    "mcqa_with_options": "Question: {question}\n{options}\nAnswer: ",
    "context_based_mcqa_jp": "要旨：{context}\n質問：{question}\n答え：",
    "context_based_mcqa": "Abstract: {context}\nQuestion: {question}\nAnswer: ",
    # DC, scored by med-eval's MCQA evaluator (templates/mcqa.py)
    "dc_with_options_jp": "文脈：{context}\n質問：{question}\n{options}\n答え：",
    # STS (templates/nli.py; labels "0,1,2,3,4,5")
    "sts_as_nli_jp": "テキスト1：{premise}\nテキスト2：{hypothesis}\n類似度 (0-5)：",
    # MT (templates/mt.py)
    "english_japanese": "翻訳（English => 日本語）：{source_text} => ",
    "japanese_english": "Translation (日本語 => English): {source_text} => ",
    # NER "standard": templates/ner.py's line, headed by the question tasks/ner.py prepends
    "ner_standard": "以下の段落において、{entity_type}は？\n段落: {text} => {entity_type}:",
}

# The template each category uses (PubMedQA: the context-based ones; MT: by direction).
_CATEGORY_TEMPLATE = {
    (MCQA, JA): "mcqa_with_options_jp", (MCQA, EN): "mcqa_with_options",
    (DC, JA): "dc_with_options_jp", (STS, JA): "sts_as_nli_jp", (NER, JA): "ner_standard",
}
_CONTEXT_TEMPLATE = {JA: "context_based_mcqa_jp", EN: "context_based_mcqa"}
_MT_TEMPLATE = {"en2ja": "english_japanese", "ja2en": "japanese_english"}

# med-eval's NER template renames MRNER's English entity types (templates/ner.py).
NER_ENTITY_TYPE_JA = {
    "Disease": "患者に実際に認められた病変や症状の存在を示す異常などの所見を表す表現",
    "Medicine Value": "処方量など薬品にかかわる値",
    "Medicine Key": "薬品名",
}
NER_SEPARATOR = ", "  # med-eval joins gold entities with it and splits answers on it
# The answer for "no entity": med-eval reads an empty answer as ["none"], and the BLURB-derived
# JMedBench sets write ["none"] as the gold labels of a sentence without entities.
NER_NONE = "none"
OPTION_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def template_name(task: Task) -> str:
    """The med-eval template `task` is prompted with."""
    if task.category == MT:
        return _MT_TEMPLATE[task.direction]
    if task.category == MCQA and task.uses_context:
        return _CONTEXT_TEMPLATE[task.language]
    return _CATEGORY_TEMPLATE[(task.category, task.language)]


def record_context(record: dict) -> str | None:
    """The passage a JMedBench MCQA/DC record carries in metadata["context"], if any."""
    meta = record.get("metadata")
    context = meta.get("context") if isinstance(meta, dict) else None
    return context if isinstance(context, str) and context.strip() else None


def has_own_options(task: Task, record: dict) -> bool:
    """Whether the record lists its options (MCQA, and DC in the published MCQA shape) rather
    than being scored over the task's verbalised labels (STS, DC as the demo writes it)."""
    return task.category == MCQA or (task.category == DC and "options" in record)


def gold_index(task: Task, record: dict) -> int:
    """Index of the correct option: `answer_idx` for option-listing records, else `label`."""
    return int(record["answer_idx"] if has_own_options(task, record) else record["label"])


def options_text(options: list[str]) -> str:
    """med-eval's option block: "A. first\nB. second\n..."."""
    return "\n".join(f"{OPTION_LETTERS[i]}. {o}" for i, o in enumerate(options))


def mcqa_view(task: Task, record: dict) -> dict:
    """An option-scored record as med-eval's MCQASample sees it: question, options, context.

    A DC record in the demo's NLI shape (premise, label) becomes the published MCQA shape: the
    document (premise, plus hypothesis if any) is the context, the task's question the
    question, its verbalised labels the options.
    """
    if has_own_options(task, record):
        return {"question": record["question"], "options": list(record["options"]),
                "context": record_context(record) or ""}
    if task.category == DC:
        hyp = record.get("hypothesis")
        context = record["premise"] + (f"\n{hyp}" if hyp else "")
        return {"question": task.instruction, "options": list(task.labels), "context": context}
    raise ValueError(f"{task.name} is a {task.category} task, not multiple choice")


def mcqa_prompt(task: Task, record: dict) -> str:
    view = mcqa_view(task, record)
    return MEDEVAL_TEMPLATES[template_name(task)].format(
        question=view["question"], options=options_text(view["options"]),
        context=view["context"])


def sts_prompt(task: Task, record: dict) -> str:
    return MEDEVAL_TEMPLATES[template_name(task)].format(premise=record["premise"],
                                                         hypothesis=record["hypothesis"])


def mt_prompt(task: Task, record: dict) -> str:
    source = record["english"] if task.direction == "en2ja" else record["japanese"]
    return MEDEVAL_TEMPLATES[template_name(task)].format(source_text=source)


def mt_reference(task: Task, record: dict) -> str:
    return record["japanese"] if task.direction == "en2ja" else record["english"]


def ner_entity_type(task: Task, record: dict) -> str:
    """The entity type the NER prompt asks for: the record's `entity_type` (as med-eval reads
    it, MRNER's English names translated), else the task's registry entry."""
    etype = record.get("entity_type") or task.instruction
    return NER_ENTITY_TYPE_JA.get(etype, etype)


def ner_prompt(task: Task, record: dict) -> str:
    return MEDEVAL_TEMPLATES[template_name(task)].format(
        entity_type=ner_entity_type(task, record), text=record["text"])


def ner_answer(labels: list[str]) -> str:
    return NER_SEPARATOR.join(labels) if labels else NER_NONE


def prompt_and_choices(task: Task, record: dict) -> tuple[str, list[str]]:
    """Option-scored tasks (MCQA, DC, STS): the prompt and one continuation per option."""
    if task.category in (MCQA, DC):
        return mcqa_prompt(task, record), mcqa_view(task, record)["options"]
    if task.category == STS:
        return sts_prompt(task, record), [" " + lab for lab in task.labels]
    raise ValueError(f"{task.name} is a {task.category} task, not option-scored")


def prompt_and_target(task: Task, record: dict) -> tuple[str, str]:
    """The prompt and the gold continuation, for any category (SFT examples, generation refs)."""
    if task.category in (MCQA, DC, STS):
        prompt, choices = prompt_and_choices(task, record)
        return prompt, choices[gold_index(task, record)]
    if task.category == MT:
        return mt_prompt(task, record), mt_reference(task, record)
    if task.category == NER:
        return ner_prompt(task, record), " " + ner_answer(record["labels"])
    raise ValueError(task.category)


# ---------------------------------------------------------------------------------------------
# Tokenising a prompt and its answer: med-eval's rule, shared by SFT (`cptmix.train.data`) and
# evaluation (`cptmix.evaluate.scoring`), so a model is scored on the token sequences it was
# fine-tuned on. Duck-typed on a Hugging Face tokenizer; nothing here imports one.

def encode_prompt(tokenizer, text: str) -> list[int]:
    """Token ids of a prompt as med-eval encodes it: `tokenizer(text)`, with the tokenizer's
    own special tokens (a BOS where the tokenizer adds one; none for cptmix's byte-level BPE)."""
    return list(tokenizer(text)["input_ids"])


def encode_pair(tokenizer, prompt: str, continuation: str,
                prompt_ids: list[int] | None = None) -> tuple[list[int], list[int], bool]:
    """med-eval's split of `prompt + continuation` into prompt ids and continuation ids.

    Returns (ids(prompt), ids(prompt + continuation)[len(ids(prompt)):], merged),
    where `merged` says the joint encoding does not begin with the prompt's ids (BPE merged
    across the boundary, so the cut continuation is not what the text alone would give).
    The caller moves a prompt's trailing whitespace to the continuation first (`split_text`).
    `prompt_ids`, if given, must be `encode_prompt(tokenizer, prompt)` (saves
    re-encoding it).
    """
    if prompt_ids is None:
        prompt_ids = encode_prompt(tokenizer, prompt)
    joint = encode_prompt(tokenizer, prompt + continuation)
    return prompt_ids, joint[len(prompt_ids):], joint[:len(prompt_ids)] != prompt_ids


def split_text(prompt: str, continuation: str) -> tuple[str, str]:
    """Move the prompt's trailing whitespace to the front of the continuation.

    The text scored is unchanged. med-eval's English templates end in "Answer: " and append
    the option directly; cutting the joint encoding after a prompt that ends in a space token
    drops the option's first token (" Bacterial" is one token, the prompt's " " another), and
    can leave no token at all. Moving the space, as lm-eval does, keeps every option token;
    the Japanese templates end in "：" and are split exactly as med-eval splits them.
    """
    stripped = prompt.rstrip()
    return stripped, prompt[len(stripped):] + continuation


def answer_token_ids(tokenizer, task: Task, prompt: str,
                     answer: str) -> tuple[list[int], list[int]]:
    """Prompt ids and answer ids of an SFT example, tokenised as evaluation will see them.

    Option-scored tasks (MCQA, DC, STS): the scoring rule (`split_text`, then `encode_pair`),
    so the gold option's tokens are those it is scored with. Generated answers (MT, NER): the
    prompt as the model is prompted with it (`encode_prompt`, trailing space included, as
    med-eval prompts) and the answer encoded on its own, which is what greedy decoding after
    that prompt has to produce.
    """
    if task.category in (MCQA, DC, STS):
        prompt_ids, answer_ids, _ = encode_pair(tokenizer, *split_text(prompt, answer))
        return prompt_ids, answer_ids
    return (encode_prompt(tokenizer, prompt),
            list(tokenizer(answer, add_special_tokens=False)["input_ids"]))
