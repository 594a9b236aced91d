"""Training data: documents packed into fixed-length blocks for (continual) pre-training, and
prompt/response pairs with the loss on response tokens only for SFT."""

from __future__ import annotations

from pathlib import Path

import torch

from cptmix.corpus.sources import Source, iter_documents
from cptmix.corpus.tokenizer import encode_batch
from cptmix.io import read_jsonl
from cptmix.tasks import TASKS_BY_NAME, answer_token_ids

IGNORE = -100


def pack_documents(tokenizer, paths: list[str | Path | Source], block_size: int) -> torch.Tensor:
    """All documents of the sources (a path: one JSONL file with a "text" field; a `Source`:
    any configured source, read by the corpus stage's reader), each followed by EOS, cut into
    blocks (n, block_size); the incomplete tail is dropped."""
    ids: list[int] = []
    eos = tokenizer.eos_token_id
    for path in paths:
        docs = iter_documents(path) if isinstance(path, Source) \
            else read_jsonl(path, required=("text",))
        texts = [rec["text"] for rec in docs]
        for doc in encode_batch(tokenizer, texts):
            ids.extend(doc)
            ids.append(eos)
    n_blocks = len(ids) // block_size
    if n_blocks == 0:
        raise ValueError(f"{', '.join(map(str, paths))}: fewer than block_size={block_size} "
                         f"tokens ({len(ids)})")
    return torch.tensor(ids[: n_blocks * block_size], dtype=torch.long).view(n_blocks, block_size)


def sft_examples(tokenizer, path: str | Path, max_length: int) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per SFT record: prompt tokens are masked out of the loss, the
    response is followed by EOS so the model learns to stop; over-long examples are truncated
    from the left of the prompt (the answer is what must be learnt)."""
    recs = list(read_jsonl(path, required=("prompt", "response")))
    prompts = encode_batch(tokenizer, [r["prompt"] for r in recs])
    responses = encode_batch(tokenizer, [r["response"] for r in recs])
    for i, rec in enumerate(recs):
        # JMedBench examples: the token split evaluation scores them with (med-eval's).
        if rec.get("task") in TASKS_BY_NAME:
            prompts[i], responses[i] = answer_token_ids(
                tokenizer, TASKS_BY_NAME[rec["task"]], rec["prompt"], rec["response"])
    out = []
    for p, r in zip(prompts, responses):
        r = (r + [tokenizer.eos_token_id])[:max_length]
        p = p[-(max_length - len(r)):] if max_length > len(r) else []
        out.append((p + r, [IGNORE] * len(p) + r))
    return out


def collate_sft(batch: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(batch):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}
