"""Batches for the megatron backend: which samples a (step, micro-batch, DP rank) reads, SFT
packing with the loss on answer tokens only, and fixed validation probes per source.

Every function is a pure function of its arguments (seed, step), so a resumed job reads
exactly the samples the uninterrupted one would have.
"""

from __future__ import annotations

import numpy as np
import torch

from cptmix.train.data import IGNORE


def sample_ids(step: int, micro: int, *, global_batch: int, micro_batch: int, dp_rank: int,
               dp_size: int, order: np.ndarray | None = None) -> list[int]:
    """Dataset indices of one micro-batch: the global batch of `step` is
    [step·G, (step+1)·G), dealt to DP ranks in contiguous slices of micro_batch × n_micro
    (Megatron-LM's pretraining sampler); `order` permutes an epoch (SFT), and an epoch's last
    global batch, if the samples run out, is filled from the start of the epoch's order."""
    per_rank = global_batch // dp_size
    start = step * global_batch + dp_rank * per_rank + micro * micro_batch
    ids = list(range(start, start + micro_batch))
    if order is None:
        return ids
    n = len(order)
    return [int(order[i % n]) for i in ids]


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def pack_sft(examples: list[tuple[list[int], list[int]]], length: int, pad_id: int,
             ) -> list[dict[str, np.ndarray]]:
    """Greedy first-fit-in-order packing of (input_ids, labels) examples (labels = IGNORE on
    prompt tokens, see `cptmix.train.data.sft_examples`) into sequences of `length` tokens.
    Each packed sample has `tokens`, `labels` (next-token targets), `loss_mask` (1 on answer
    targets only), `position_ids` restarting per example and `segment` ids, from which the
    block-diagonal causal mask is built, so examples never attend to each other."""
    packs: list[list[tuple[list[int], list[int]]]] = []
    cur: list = []
    used = 0
    for ids, lab in examples:
        ids, lab = ids[:length], lab[:length]
        if used + len(ids) > length and cur:
            packs.append(cur)
            cur, used = [], 0
        cur.append((ids, lab))
        used += len(ids)
    if cur:
        packs.append(cur)
    out = []
    for pack in packs:
        tokens = np.full(length, pad_id, dtype=np.int64)
        labels = np.full(length, IGNORE, dtype=np.int64)
        pos = np.zeros(length, dtype=np.int64)
        seg = np.full(length, -1, dtype=np.int64)
        at = 0
        for k, (ids, lab) in enumerate(pack):
            n = len(ids)
            tokens[at:at + n] = ids
            # target of position t is label t+1 within the same example
            labels[at:at + n - 1] = lab[1:]
            pos[at:at + n] = np.arange(n)
            seg[at:at + n] = k
            at += n
        out.append({"tokens": tokens, "labels": np.where(labels == IGNORE, 0, labels),
                    "loss_mask": (labels != IGNORE).astype(np.float32), "position_ids": pos,
                    "segment": seg})
    return out


def block_causal_mask(segment: torch.Tensor) -> torch.Tensor:
    """[b, 1, s, s] boolean mask, True = masked (megatron's convention): causal within an
    example, nothing across examples or onto padding."""
    same = segment[:, :, None] == segment[:, None, :]
    s = segment.shape[1]
    causal = torch.ones(s, s, dtype=torch.bool, device=segment.device).tril()
    allowed = same & causal & (segment[:, :, None] >= 0)
    # padding rows attend to themselves only, so softmax never sees an all-masked row
    allowed |= torch.eye(s, dtype=torch.bool, device=segment.device)
    return ~allowed[:, None]


def probe_sequences(prefix: str, n: int, length: int) -> np.ndarray:
    """The first `n` sequences of `length + 1` tokens of an indexed source (documents
    concatenated in file order): a fixed per-source probe for validation loss."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    ds = IndexedDataset(prefix)
    need = n * (length + 1)
    parts, have = [], 0
    for i in range(len(ds)):
        doc = np.asarray(ds[i], dtype=np.int64)
        parts.append(doc)
        have += len(doc)
        if have >= need:
            break
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    k = len(flat) // (length + 1)
    if k == 0:
        raise ValueError(f"{prefix}: fewer than {length + 1} tokens for a validation probe")
    return flat[: min(k, n) * (length + 1)].reshape(-1, length + 1)
