"""The model side of evaluation: option log-likelihoods and greedy generation.

Part of the evaluate stage (after SFT, before analysis). MCQA, DC and STS are answered by
scoring each option as a continuation of the prompt; MT and NER by greedy decoding stopped at
the first newline. Both are batched; nothing here knows about tasks or metrics.

Option scoring shares each prompt across its options: the prompt runs once and every option is
scored on top of its key/value cache (`method="prefix"`), instead of re-running prompt + option
per option (`method="naive"`, kept as the reference; the two agree to float rounding).
The same engine scores a single continuation whose tokens the caller fixed
(`score_continuations`): the evaluate stage's teacher-forced pass over MT/NER gold targets.

Token sequences are built exactly as JMedBench's evaluator builds them (med-eval,
`tasks/mcqa.py` `MCQARequestDataset.construct_requests`, and `tasks/nli.py` alike): the prompt
is encoded with the tokenizer's own special tokens (`tokenizer(prompt)`: a BOS for tokenizers
that add one, as Llama's do), `prompt + option` is encoded as one string, and the option's
tokens are whatever follows the prompt's token count in it. The scored sequence is the
prompt's own ids followed by those tokens. Where BPE merges across the boundary the cut
mis-attributes a token exactly as med-eval does; `OptionScore.boundary_merge` flags such
options so their effect can be counted.
The default rule (`scoring="cptmix"`) makes three deliberate departures, all on inputs
med-eval handles badly: a prompt's trailing whitespace is moved to the option before the cut
(`split_text`; only the English templates, which end in "Answer: ", have any), an option that
leaves no tokens after the cut is an error (med-eval falls back to encoding the option alone),
and no token of the prompt is overwritten by BOS (med-eval writes `[bos] + ids[1:]`, which for
a tokenizer that defines a BOS but does not add it replaces the prompt's first token; for one
that adds BOS, the paper's case, the two are identical).

`scoring="medeval"` builds med-eval's token sequences instead, quirks included, for numbers
comparable with published JMedBench results (`_tokenise_medeval`): the prompt keeps its
trailing space, so after "Answer: " the option's first token is cut away where the space
merges into it; an option left with no tokens is encoded alone (else one unknown token);
and the prompt's first token is overwritten by BOS whenever the tokenizer defines one. STS
requests follow med-eval's NLI builder (`tasks/nli.py`), the same rule without the fallback
(its `evaluate_sts.py` asserts instead): `scoring="medeval_nli"`. Both engines (`prefix`,
`naive`) score whichever sequences the rule built. SFT (`cptmix.tasks.answer_token_ids`)
keeps the corrected split under either rule, so under "medeval" an English MCQA gold option
is scored on tokens other than those it was fine-tuned as, as with med-eval itself.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

# How prompts and answers are tokenised lives with the templates, shared with SFT.
from cptmix.tasks import encode_pair, encode_prompt, split_text

encode = encode_prompt  # the name this module's callers know
__all__ = [
    "SCORINGS",
    "SCORING_RULES",
    "OptionScore",
    "encode",
    "encode_pair",
    "generate_greedy",
    "score_continuations",
    "score_options",
    "split_text",
]

log = logging.getLogger(__name__)

# The option-scoring rules a study can choose (`evaluate.scoring`), as provenance names them.
SCORING_RULES = {
    "cptmix": "med-eval's prompts and joint-encode cut at the prompt's token count, with the "
              "prompt's trailing whitespace moved to the option (every option token scored), "
              "the prompt's ids as the tokenizer gives them (no BOS written over them), and a "
              "zero-token option an error",
    "medeval": "med-eval's option scoring bit for bit (tasks/mcqa.py, tasks/nli.py): the "
               "prompt keeps its trailing space and the continuation is whatever follows the "
               "prompt's token count in the joint encoding (the option's first token is lost "
               "where the space merges into it); the BOS id overwrites the prompt's first token "
               "whenever the tokenizer defines one; an MCQA/DC option left with no tokens is "
               "encoded alone (else one unknown token); STS has no such fallback",
}
SCORINGS = tuple(SCORING_RULES)
# Internal: med-eval's two request builders differ only in the empty-option fallback.
_RULES = (*SCORINGS, "medeval_nli")


@dataclass(frozen=True)
class OptionScore:
    """Log-likelihood of one option's continuation given the prompt.

    Length normalisation is reported per unit because the units disagree for Japanese: one
    kanji is one character, three UTF-8 bytes and anywhere from a fraction of a token to
    several tokens, so "per token" depends on the tokenizer while "per character" does not.
    """

    loglik: float  # sum over the continuation's tokens of log p(token | everything before)
    n_tokens: int  # number of continuation tokens
    n_chars: int  # characters of the continuation text as appended (a leading space included)
    n_bytes: int  # UTF-8 bytes of the same text
    boundary_merge: bool = False  # the joint encoding does not start with the prompt's ids

    @property
    def loglik_per_token(self) -> float:
        """Minus the mean per-token loss (JMedBench's "norm" variant: loss / option tokens)."""
        return self.loglik / self.n_tokens

    @property
    def loglik_per_char(self) -> float:
        return self.loglik / self.n_chars

    @property
    def loglik_per_byte(self) -> float:
        return self.loglik / self.n_bytes


def context_limit(model) -> int | None:
    """Longest sequence the model accepts, from its config (None if it does not say)."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(model.config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def pad_id(tokenizer) -> int:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("tokenizer has neither a pad nor an eos token; cannot batch")
    return pad


@dataclass(frozen=True)
class _Item:
    """One request, tokenised: the prompt once, each option's continuation separately."""

    prompt: list[int]
    conts: list[list[int]]
    texts: list[str]
    merged: list[bool]


def _tokenise(tokenizer, requests: Sequence[tuple[str, Sequence[str]]],
              names: Sequence[str] | None, scoring: str = "cptmix") -> list[_Item]:
    if names is not None and len(names) != len(requests):
        raise ValueError(f"{len(names)} names for {len(requests)} requests")
    if scoring not in _RULES:
        raise ValueError(f"unknown option scoring {scoring!r}; use one of {', '.join(SCORINGS)}")
    if scoring != "cptmix":
        return _tokenise_medeval(tokenizer, requests, names, fallback=scoring == "medeval")
    items = []
    for i, (prompt, choices) in enumerate(requests):
        name = names[i] if names is not None else f"item {i}"
        if not choices:
            raise ValueError(f"{name}: no options to score")
        base = split_text(prompt, "")[0]
        prompt_ids = encode(tokenizer, base)
        if not prompt_ids:
            # The first continuation token needs at least one token of context.
            raise ValueError(f"{name}: empty prompt, nothing to condition on")
        conts, merged = [], []
        for j, choice in enumerate(choices):
            _, cont, merge = encode_pair(tokenizer, *split_text(prompt, choice), prompt_ids)
            if not cont:
                # A zero-token option would score log p = 0, i.e. beat every real option.
                raise ValueError(f"{name}: option {j} ({choice!r}) tokenizes to zero "
                                 f"continuation tokens at the prompt boundary")
            conts.append(cont)
            merged.append(merge)
        items.append(_Item(prompt_ids, conts, [split_text(prompt, c)[1] for c in choices],
                           merged))
    return items


def _tokenise_medeval(tokenizer, requests: Sequence[tuple[str, Sequence[str]]],
                      names: Sequence[str] | None, fallback: bool) -> list[_Item]:
    """med-eval's request builder, step for step (`MCQARequestDataset.construct_requests` in
    tasks/mcqa.py; `NLIRequestDataset.construct_requests` in tasks/nli.py, `fallback=False`),
    zero-shot, without truncation (`--truncate` is off in its JMedBench scripts; a prompt
    over the model's context is cut from the left here as under the default rule).

    input_ids = tokenizer(prompt); for each option, the ids of tokenizer(prompt + option)
    after len(input_ids); the scored sequence is [bos] + input_ids[1:] + option ids when the
    tokenizer defines a BOS, else input_ids + option ids, with the option ids as labels.
    """
    bos = tokenizer.bos_token_id
    items = []
    for i, (prompt, choices) in enumerate(requests):
        name = names[i] if names is not None else f"item {i}"
        if not choices:
            raise ValueError(f"{name}: no options to score")
        input_ids = encode(tokenizer, prompt)  # trailing space kept, as med-eval
        if not input_ids:
            raise ValueError(f"{name}: empty prompt, nothing to condition on")
        conts, merged = [], []
        for j, choice in enumerate(choices):
            _, cont, merge = encode_pair(tokenizer, prompt, choice, input_ids)
            if not cont and fallback:
                # med-eval: "Fallback: if output_token_ids is empty, tokenize option directly"
                cont = list(tokenizer(choice, add_special_tokens=False)["input_ids"])
                if not cont:
                    cont = [tokenizer.unk_token_id or 0]
                log.warning("%s: option %d (%r) has no tokens after med-eval's cut; scored as "
                            "med-eval scores it, by the option encoded alone %s", name, j,
                            choice, cont)
            if not cont:
                # med-eval's evaluate_sts.py asserts here; an error naming the record instead.
                raise ValueError(f"{name}: option {j} ({choice!r}) tokenizes to zero "
                                 f"continuation tokens at the prompt boundary")
            conts.append(cont)
            merged.append(merge)
        prompt_ids = [bos, *input_ids[1:]] if bos is not None else input_ids
        items.append(_Item(prompt_ids, conts, list(choices), merged))
    return items


def _option_score(loglik: float, item: _Item, j: int) -> OptionScore:
    text = item.texts[j]
    return OptionScore(loglik, len(item.conts[j]), max(len(text), 1),
                       max(len(text.encode("utf-8")), 1), item.merged[j])


@torch.inference_mode()
def score_options(model, tokenizer, requests: Sequence[tuple[str, Sequence[str]]],
                  batch_size: int = 16, names: Sequence[str] | None = None,
                  method: str = "prefix", scoring: str = "cptmix") -> list[list[OptionScore]]:
    """Score every option of every (prompt, options) request; result[i][j] is item i, option j.

    `method="prefix"` (default) runs each prompt once and scores all its options from the
    prompt's key/value cache (`_score_prefix`); `method="naive"` re-encodes prompt + option for
    every option (`_score_naive`), the textbook way, kept as the reference the fast path is
    tested and benchmarked against. Both give the same log-likelihoods up to float rounding.
    `batch_size` bounds the (item, option) sequences per forward pass in both. `names` label
    the requests in error messages (e.g. "MedQA-Jp, data/medqa_jp/test.jsonl, record q17").
    `scoring` chooses the token sequences scored (see the module docstring): "cptmix" (the
    default) or "medeval" (med-eval's, quirks included; "medeval_nli" for its STS builder).
    """
    return _score_items(model, tokenizer, _tokenise(tokenizer, requests, names, scoring),
                        batch_size, names, method)


@torch.inference_mode()
def score_continuations(model, tokenizer, requests: Sequence[tuple[list[int], list[int], str]],
                        batch_size: int = 16, names: Sequence[str] | None = None,
                        method: str = "prefix") -> list[OptionScore]:
    """Log-likelihood of each already tokenised continuation: request i is (prompt ids,
    continuation ids, continuation text), the text only counting characters and bytes.

    For answers whose token split is fixed elsewhere, e.g. an MT/NER gold target as SFT
    tokenises it (`cptmix.tasks.answer_token_ids`), which `score_options`'s joint-encode-and-
    cut rule would split differently after a prompt that ends in a space. Same engine, same
    batching and context handling as `score_options` with one option per item.
    """
    if names is not None and len(names) != len(requests):
        raise ValueError(f"{len(names)} names for {len(requests)} requests")
    items = []
    for i, (prompt_ids, cont_ids, text) in enumerate(requests):
        name = names[i] if names is not None else f"item {i}"
        if not prompt_ids:
            raise ValueError(f"{name}: empty prompt, nothing to condition on")
        if not cont_ids:
            raise ValueError(f"{name}: continuation {text!r} has no tokens")
        items.append(_Item(list(prompt_ids), [list(cont_ids)], [text], [False]))
    return [s[0] for s in _score_items(model, tokenizer, items, batch_size, names, method)]


def _score_items(model, tokenizer, items: list[_Item], batch_size: int,
                 names: Sequence[str] | None, method: str) -> list[list[OptionScore]]:
    """The engine behind `score_options` and `score_continuations`."""
    if method == "naive":
        return _score_naive(model, tokenizer, items, batch_size, names)
    if method != "prefix":
        raise ValueError(f"unknown scoring method {method!r}; use 'prefix' or 'naive'")
    limit = context_limit(model)
    # An item whose longest option overflows the context needs per-option left truncation
    # (each option cuts the prompt differently), which a shared prefix cannot express: such
    # items take the naive path, so both methods agree on every item.
    fits = [limit is None or len(it.prompt) + max(map(len, it.conts)) <= limit for it in items]
    results: list[list[OptionScore] | None] = [None] * len(items)
    for k, scores in zip([k for k, f in enumerate(fits) if f],
                         _score_prefix(model, tokenizer, [it for it, f in zip(items, fits,
                                                                              strict=True) if f],
                                       batch_size), strict=True):
        results[k] = scores
    rest = [k for k, f in enumerate(fits) if not f]
    if rest:
        sub_names = [names[k] for k in rest] if names is not None else [f"item {k}" for k in rest]
        for k, scores in zip(rest, _score_naive(model, tokenizer, [items[k] for k in rest],
                                                batch_size, sub_names), strict=True):
            results[k] = scores
    return results  # type: ignore[return-value]


def _score_naive(model, tokenizer, items: list[_Item], batch_size: int,
                 names: Sequence[str] | None) -> list[list[OptionScore]]:
    """Per-option scoring: every (item, option) sequence is prompt + option, re-encoded in full.

    Sequences are sorted longest first (less padding) and run `batch_size` per forward pass,
    right-padded with an attention mask. A prompt too long for the model's context is cut
    from the left, keeping the question's end and "Answer:".
    """
    limit = context_limit(model)
    seqs: list[tuple[int, int, list[int], int]] = []  # item, option, ids, continuation start
    for i, item in enumerate(items):
        name = names[i] if names is not None else f"item {i}"
        for j, cont in enumerate(item.conts):
            ids = item.prompt + cont
            if limit is not None and len(ids) > limit:
                if len(cont) >= limit:
                    raise ValueError(f"{name}: option {j} has {len(cont)} tokens; the model's "
                                     f"context of {limit} leaves no room for the prompt")
                ids = ids[len(ids) - limit:]
            seqs.append((i, j, ids, len(ids) - len(cont)))

    results: list[list[OptionScore | None]] = [[None] * len(it.conts) for it in items]
    order = sorted(range(len(seqs)), key=lambda k: (-len(seqs[k][2]), k))
    pad = pad_id(tokenizer)
    # Only positions that predict continuation tokens need logits: asking the model for the
    # last few keeps the (batch × length × vocab) tensor small.
    can_trim = "logits_to_keep" in inspect.signature(model.forward).parameters
    device = model.device
    for b in range(0, len(order), batch_size):
        batch = [seqs[k] for k in order[b:b + batch_size]]
        width = max(len(ids) for _, _, ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for r, (_, _, ids, _) in enumerate(batch):
            input_ids[r, :len(ids)] = torch.tensor(ids)
            attention[r, :len(ids)] = 1
        # Logits at position t predict token t+1: option tokens [start, end) need [start-1, end-1).
        first = min(start for _, _, _, start in batch) - 1
        extra = {"logits_to_keep": width - first} if can_trim else {}
        logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                       use_cache=False, **extra).logits
        offset = width - logits.shape[1]  # sequence position of logits[:, 0]
        logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
        for r, (i, j, ids, start) in enumerate(batch):
            positions = torch.arange(start - 1, len(ids) - 1) - offset
            targets = torch.tensor(ids[start:])
            token_lp = logprobs[r, positions, targets].double()
            results[i][j] = _option_score(float(token_lp.sum()), items[i], j)
    return results  # type: ignore[return-value]


def _score_prefix(model, tokenizer, items: list[_Item],
                  batch_size: int) -> list[list[OptionScore]]:
    """Shared-prefix scoring: each prompt is run once, its key/value cache is copied once per
    option, and only the options' own tokens are run on top of it.

    An MCQA item with a 300-token question and five 5-token options costs 300 + 5 × 4 = 320
    token positions instead of 5 × 305 = 1,525 in `_score_naive`. Items are sorted by prompt
    length (longest first, so batches hold similar lengths and little padding) and grouped so
    that one batch holds at most `batch_size` option rows (at least one item), which keeps
    the expanded cache the size of a naive batch of `batch_size` sequences.

    Prompts are left-padded so that every row's last prompt token sits at the same position:
    its logits give each option's first token, and the options follow in the cache without
    a gap. Position ids are passed explicitly, so a left-padded row sees exactly the
    positions 0..n-1 it would see unpadded.
    """
    pad = pad_id(tokenizer)
    device = model.device
    results: list[list[OptionScore] | None] = [None] * len(items)
    order = sorted(range(len(items)), key=lambda k: (-len(items[k].prompt), k))
    batches, current, rows = [], [], 0
    for k in order:
        n = len(items[k].conts)
        if current and rows + n > batch_size:
            batches.append(current)
            current, rows = [], 0
        current.append(k)
        rows += n
    if current:
        batches.append(current)

    # Only the last prompt position's logits are needed (they predict each first option token).
    trim = ({"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters
            else {})
    for batch in batches:
        width = max(len(items[k].prompt) for k in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for r, k in enumerate(batch):
            n = len(items[k].prompt)
            input_ids[r, width - n:] = torch.tensor(items[k].prompt)
            attention[r, width - n:] = 1
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                    position_ids=positions.to(device), use_cache=True, **trim)
        first_lp = torch.log_softmax(out.logits[:, -1].float(), dim=-1).cpu()  # (items, vocab)

        # One row per (item, option); the cache row of item r is repeated for each option.
        owner = [(r, j) for r, k in enumerate(batch) for j in range(len(items[k].conts))]
        rest_width = max(len(items[batch[r]].conts[j]) for r, j in owner) - 1
        rest_lp = None
        if rest_width > 0:  # single-token options (DC/STS labels) need no second pass
            cache = out.past_key_values
            index = torch.tensor([r for r, _ in owner])
            cache.batch_select_indices(index.to(device))
            # Inputs are the option tokens that predict the next option token: all but the last.
            cont_ids = torch.full((len(owner), rest_width), pad, dtype=torch.long)
            cont_mask = torch.zeros((len(owner), rest_width), dtype=torch.long)
            for row, (r, j) in enumerate(owner):
                cont = items[batch[r]].conts[j][:-1]
                cont_ids[row, :len(cont)] = torch.tensor(cont, dtype=torch.long)
                cont_mask[row, :len(cont)] = 1
            prompt_len = attention.sum(-1)[index]
            cont_pos = prompt_len[:, None] + torch.arange(rest_width)[None, :]
            full_mask = torch.cat([attention[index], cont_mask], dim=1)
            logits = model(input_ids=cont_ids.to(device), attention_mask=full_mask.to(device),
                           position_ids=cont_pos.to(device), past_key_values=cache,
                           use_cache=True).logits
            rest_lp = torch.log_softmax(logits.float(), dim=-1).cpu()
            del cache, logits

        per_item: dict[int, list[OptionScore]] = {}
        for row, (r, j) in enumerate(owner):
            k = batch[r]
            cont = items[k].conts[j]
            total = first_lp[r, cont[0]].double()
            if len(cont) > 1:
                steps = torch.arange(len(cont) - 1)
                total = total + rest_lp[row, steps, torch.tensor(cont[1:])].double().sum()
            per_item.setdefault(k, []).append(_option_score(float(total), items[k], j))
        for k, scores in per_item.items():
            results[k] = scores
    return results  # type: ignore[return-value]


class _StopAtNewline(StoppingCriteria):
    """Marks a row finished once its generated text contains a newline (answers are one line)."""

    def __init__(self, tokenizer, prompt_width: int):
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_width:],
                                            skip_special_tokens=True)
        return torch.tensor(["\n" in t for t in texts], dtype=torch.bool, device=input_ids.device)


@torch.inference_mode()
def generate_greedy(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 48,
                    batch_size: int = 16) -> list[str]:
    """Greedy continuation of each prompt, stopped at EOS or once a newline is generated.

    Returns the decoded continuations (special tokens removed) including the text up to and
    possibly slightly past the newline; callers keep the first line. Batches are left-padded
    so all prompts end at the same position; prompts longer than the model's context minus
    `max_new_tokens` are cut from the left.
    """
    limit = context_limit(model)
    encoded = [encode(tokenizer, p) for p in prompts]
    if limit is not None:
        room = limit - max_new_tokens
        if room < 1:
            raise ValueError(f"max_new_tokens={max_new_tokens} fills the model's context ({limit})")
        encoded = [ids[-room:] for ids in encoded]
    if any(not ids for ids in encoded):
        raise ValueError("empty prompt, nothing to condition on")
    pad = pad_id(tokenizer)
    eos = tokenizer.eos_token_id
    if eos is None:
        eos = model.config.eos_token_id
    # An explicit config, so nothing in the model's saved generation_config.json (sampling,
    # temperature, repetition penalty) changes what "greedy" means.
    config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=max_new_tokens,
                              pad_token_id=pad, eos_token_id=eos)
    outputs: list[str | None] = [None] * len(prompts)
    order = sorted(range(len(encoded)), key=lambda k: (-len(encoded[k]), k))
    device = model.device
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        width = max(len(encoded[k]) for k in idx)
        input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
        attention = torch.zeros((len(idx), width), dtype=torch.long)
        for r, k in enumerate(idx):
            n = len(encoded[k])
            input_ids[r, width - n:] = torch.tensor(encoded[k])
            attention[r, width - n:] = 1
        out = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                             generation_config=config,
                             stopping_criteria=StoppingCriteriaList(
                                 [_StopAtNewline(tokenizer, width)]))
        texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
        for k, text in zip(idx, texts, strict=True):
            outputs[k] = text
    return outputs  # type: ignore[return-value]
