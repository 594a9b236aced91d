"""The model side of evaluation: option log-likelihoods and greedy generation.

Part of the evaluate stage (after SFT, before analysis). MCQA, DC and STS are answered by
scoring each option as a continuation of the prompt; MT and NER by greedy decoding stopped at
the first newline. Both are batched; nothing here knows about tasks or metrics.

Tokenisation at the prompt/answer boundary: the prompt and each continuation are encoded
*separately* and the id lists concatenated. Encoding `prompt + continuation` as one string and
cutting at the prompt's length would be wrong whenever BPE merges tokens across the boundary
(the continuation's first tokens would then be mis-attributed); separate encoding makes the
continuation's tokens exactly `encode(continuation)`, the same for every prompt. Templates start
continuations with a space, so this matches how the joint string would naturally split.
No special tokens are added (no BOS, even where the tokenizer defines one): this is exactly how
`cptmix.train.data.sft_examples` builds SFT inputs, so the model is scored on the sequences it
was fine-tuned on.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList


@dataclass(frozen=True)
class OptionScore:
    """Log-likelihood of one option's continuation given the prompt."""

    loglik: float  # sum over the continuation's tokens of log p(token | everything before)
    n_tokens: int  # number of continuation tokens

    @property
    def loglik_per_token(self) -> float:
        """Length-normalised log-likelihood (minus the mean per-token loss)."""
        return self.loglik / self.n_tokens


def encode(tokenizer, text: str) -> list[int]:
    """Token ids of a prompt or a continuation, without special tokens (as in SFT)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


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


@torch.inference_mode()
def score_options(model, tokenizer, requests: Sequence[tuple[str, Sequence[str]]],
                  batch_size: int = 16) -> list[list[OptionScore]]:
    """Score every option of every (prompt, options) request; result[i][j] is item i, option j.

    All (item, option) sequences are flattened, sorted longest first (less padding) and run
    `batch_size` sequences per forward pass, right-padded with an attention mask. A prompt too
    long for the model's context is cut from the left, keeping the question's end and "Answer:".
    """
    limit = context_limit(model)
    seqs: list[tuple[int, int, list[int], int]] = []  # item, option, ids, continuation start
    for i, (prompt, choices) in enumerate(requests):
        prompt_ids = encode(tokenizer, prompt)
        for j, choice in enumerate(choices):
            cont = encode(tokenizer, choice)
            if not cont:
                raise ValueError(f"option {j} of item {i} ({choice!r}) encodes to no tokens")
            ids = prompt_ids + cont
            if limit is not None and len(ids) > limit:
                if len(cont) >= limit:
                    raise ValueError(f"option {j} of item {i} has {len(cont)} tokens; the model's "
                                     f"context of {limit} leaves no room for the prompt")
                ids = ids[len(ids) - limit:]
            start = len(ids) - len(cont)
            if start < 1:
                # The first continuation token needs at least one token of context.
                raise ValueError(f"item {i}: empty prompt, nothing to condition on")
            seqs.append((i, j, ids, start))

    results: list[list[OptionScore | None]] = [[None] * len(c) for _, c in requests]
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
                       **extra).logits
        offset = width - logits.shape[1]  # sequence position of logits[:, 0]
        logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
        for r, (i, j, ids, start) in enumerate(batch):
            positions = torch.arange(start - 1, len(ids) - 1) - offset
            targets = torch.tensor(ids[start:])
            token_lp = logprobs[r, positions, targets].double()
            results[i][j] = OptionScore(float(token_lp.sum()), len(targets))
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
