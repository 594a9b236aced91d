"""What each score depends on, recorded next to the scores: template, data, tokenizer, settings.

Part of the evaluate stage. Scores that silently change with the prompt version, the data file,
the tokenizer or the batch size are the most common complaint about evaluation harnesses, so
`evaluate_model` writes, beside `scores.tsv`, a JSON file with a hash of each of these and the
settings that produced the numbers (dtype, batch size, scoring method, bootstrap seed,
sacrebleu's signature), and which option-scoring rule built the scored token sequences
(`scoring`: cptmix's corrected rule or med-eval's own). Two score files are comparable when
their provenance files agree.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

from cptmix import tasks as task_module
from cptmix.evaluate.scoring import SCORING_RULES
from cptmix.io import sha256_file
from cptmix.tasks import DC, MCQA, MT, NER, STS, Task

# The template code each category's prompts and answers come from. Hashing the source (plus
# the Task entry, the med-eval template string and the label words) changes the hash whenever
# any prompt text could change, without depending on the data.
_SHARED_CODE = ("template_name", "prompt_and_target", "encode_prompt", "encode_pair", "split_text")
_TEMPLATE_CODE = {
    MCQA: ("mcqa_prompt", "mcqa_view", "options_text", "record_context", "has_own_options",
           "gold_index", "prompt_and_choices"),
    DC: ("mcqa_prompt", "mcqa_view", "options_text", "record_context", "has_own_options",
         "gold_index", "prompt_and_choices"),
    STS: ("sts_prompt", "has_own_options", "gold_index", "prompt_and_choices"),
    MT: ("mt_prompt", "mt_reference"),
    NER: ("ner_prompt", "ner_entity_type", "ner_answer"),
}


def template_hash(task: Task) -> str:
    """sha256 of everything that renders `task`'s prompts: the med-eval template string it
    uses, the category's template functions' source, the `Task` entry (labels, instruction)
    and the constants the answers are written and read with."""
    parts = [repr(task), task_module.template_name(task),
             task_module.MEDEVAL_TEMPLATES[task_module.template_name(task)],
             json.dumps(task_module.NER_ENTITY_TYPE_JA, ensure_ascii=False, sort_keys=True),
             task_module.OPTION_LETTERS, task_module.NER_SEPARATOR, task_module.NER_NONE]
    parts += [inspect.getsource(getattr(task_module, name))
              for name in _SHARED_CODE + _TEMPLATE_CODE[task.category]]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def tokenizer_hash(model_dir: str | Path) -> str:
    """sha256 of the model's tokenizer.json (the whole fast tokenizer: vocabulary, merges,
    normaliser); for a model without one, of its tokenizer*/vocab files together."""
    model_dir = Path(model_dir)
    single = model_dir / "tokenizer.json"
    if single.is_file():
        return sha256_file(single)
    files = sorted(p for p in model_dir.iterdir()
                   if p.is_file() and p.name.startswith(("tokenizer", "vocab", "merges",
                                                         "special_tokens")))
    if not files:
        raise FileNotFoundError(f"no tokenizer files in {model_dir}")
    digest = hashlib.sha256()
    for p in files:
        digest.update(p.name.encode() + b"\0" + sha256_file(p).encode())
    return digest.hexdigest()


def scoring_provenance(scoring: str) -> dict[str, str]:
    """The option-scoring rule a score file was made with, by name and in words
    (`cptmix.evaluate.scoring.SCORING_RULES`); MCQA/DC/STS scores under "cptmix" and
    "medeval" are not comparable with each other."""
    if scoring not in SCORING_RULES:
        raise ValueError(f"unknown option scoring {scoring!r}; use one of "
                         f"{', '.join(SCORING_RULES)}")
    return {"scoring": scoring, "scoring_rule": SCORING_RULES[scoring]}


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("cptmix", "torch", "transformers", "tokenizers", "sacrebleu", "mecab-python3",
                 "numpy", "scipy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
