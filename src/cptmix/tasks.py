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
        the `Task` entry; both shapes are accepted.
- STS:  sample_id, premise, hypothesis, label (int 0..5), n_label, metadata
- MT:   english, japanese (one folder `ejmmt` serves both directions); sample_id optional
- NER:  text, labels (list of entity strings), entity_type; med-eval's NERSample has no
        sample_id, so it is optional (the loader names records by line when absent)

A model answers MCQA/DC/STS by the option (verbalised label) with the highest log-likelihood
as a continuation of the prompt; MT and NER by greedy generation stopped at a newline.
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
    instruction: str = ""  # DC/NER: what the model is asked to do
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
# Prompt templates. Each returns the prompt and either the candidate continuations (option
# scoring) or the reference continuation (generation / SFT target). Continuations start with a
# space so that prompt and answer tokenise at a natural boundary.

# "ctx" heads the passage PubMedQA records carry in metadata["context"] (the abstract,
# as med-eval's `context_based_mcqa_jp` "要旨" / `context_based_mcqa` "Abstract"); DC documents
# are headed "文脈" as in med-eval's `dc_with_options_jp`.
_LABELS = {
    JA: {"q": "質問", "opts": "選択肢", "a": "答え", "ctx": "要旨"},
    EN: {"q": "Question", "opts": "Options", "a": "Answer", "ctx": "Abstract"},
}
DC_CONTEXT_LABEL = "文脈"
NER_SEPARATOR = ", "
NER_NONE = "なし"


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


def mcqa_prompt(task: Task, record: dict) -> str:
    lab = _LABELS[task.language]
    letters = "ABCDEFGHIJ"
    opts = "\n".join(f"{letters[i]}. {o}" for i, o in enumerate(record["options"]))
    context = record_context(record) if task.uses_context else None
    head = ""
    if context is not None:
        head = f"{DC_CONTEXT_LABEL if task.category == DC else lab['ctx']}: {context}\n"
    return f"{head}{lab['q']}: {record['question']}\n{lab['opts']}:\n{opts}\n{lab['a']}:"


def classification_prompt(task: Task, record: dict) -> str:
    if task.category == STS:
        return (f"次の二つの文の意味の類似度を0から5で答えてください。\n"
                f"文1: {record['premise']}\n文2: {record['hypothesis']}\n答え:")
    hyp = f"\n{record['hypothesis']}" if record.get("hypothesis") else ""
    return f"{task.instruction}\n文章: {record['premise']}{hyp}\n答え:"


def mt_prompt(task: Task, record: dict) -> str:
    if task.direction == "en2ja":
        return f"次の英文を日本語に翻訳してください。\n英語: {record['english']}\n日本語:"
    return f"Translate the following Japanese into English.\nJapanese: {record['japanese']}\nEnglish:"


def mt_reference(task: Task, record: dict) -> str:
    return record["japanese"] if task.direction == "en2ja" else record["english"]


def ner_prompt(task: Task, record: dict) -> str:
    return (f"次の文から{task.instruction}をすべて抽出し、カンマ区切りで答えてください。"
            f"なければ「{NER_NONE}」と答えてください。\n文: {record['text']}\n答え:")


def ner_answer(labels: list[str]) -> str:
    return NER_SEPARATOR.join(labels) if labels else NER_NONE


def prompt_and_choices(task: Task, record: dict) -> tuple[str, list[str]]:
    """Option-scored tasks (MCQA, DC, STS): the prompt and one continuation per option."""
    if has_own_options(task, record):
        return mcqa_prompt(task, record), [" " + o for o in record["options"]]
    if task.category in (DC, STS):
        return classification_prompt(task, record), [" " + lab for lab in task.labels]
    raise ValueError(f"{task.name} is a {task.category} task, not option-scored")


def prompt_and_target(task: Task, record: dict) -> tuple[str, str]:
    """The prompt and the gold continuation, for any category (SFT examples, generation refs)."""
    if has_own_options(task, record):
        return mcqa_prompt(task, record), " " + record["options"][int(record["answer_idx"])]
    if task.category in (DC, STS):
        return classification_prompt(task, record), " " + task.labels[int(record["label"])]
    if task.category == MT:
        return mt_prompt(task, record), " " + mt_reference(task, record)
    if task.category == NER:
        return ner_prompt(task, record), " " + ner_answer(record["labels"])
    raise ValueError(task.category)
