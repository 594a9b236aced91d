"""Benchmark the hf backend's optimizer step: precision (fp32, bf16) x attention (sdpa, eager).

    .venv/bin/python benchmarks/bench_train_step.py                  # the demo's CPT step
    .venv/bin/python benchmarks/bench_train_step.py --batch-size 16  # the demo's SFT/pre-training batch
    .venv/bin/python benchmarks/bench_train_step.py --config config/config.yaml --threads 2

The model is `base_model.architecture` of `--config` (the demo's: hidden 96, 3 layers, 4
heads of 24 dims, ~0.6M parameters with a 3,000-token vocabulary), initialised by
`cptmix.train.hf.init_model` from one seed for every variant; every variant takes the same
`--steps` steps of `cptmix.train.hf.train_step` (forward under `autocast`, backward, clipping,
AdamW from `make_optimizer`) on the same random batches of `--batch-size` x `--block-size`
tokens, in one process with `--threads` torch threads. The variants run in turn, `--repeats`
rounds (a change in the machine's load hits every variant alike); each variant's median
milliseconds per step and its ratio to fp32 + sdpa (what the hf backend ran before
`precision` was honoured: the baseline) are printed, with the mean loss of the last round's
steps (bf16 must train to about the same loss), and the load average before and after.

Measured 2026-12-07 (2 cores, avx512_bf16, load ~1, threads 1, 6 rounds of 20 steps):
batch 4 x 128 (the demo's CPT) fp32 + sdpa 38-42 ms, bf16 + eager 0.70-0.79 of it (0.73 in
the last run as above), bf16 + sdpa 0.90-0.95, fp32 + eager 1.0-1.1; batch 16 (the demo's
SFT, 3 rounds) fp32 + sdpa 149 ms, bf16 + eager 0.61; --threads 2: bf16 + eager 0.84. Eager
attention gains only in bf16 (the CPU flash kernel's backward is slow for 24-dim heads), bf16
matmuls only with eager. The losses of the four variants agree to 0.001.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from cptmix.config import load_config
from cptmix.train.hf import init_model, make_optimizer, train_step

VARIANTS = [("fp32", "sdpa"), ("bf16", "sdpa"), ("fp32", "eager"), ("bf16", "eager")]


class _Vocab:
    """What `init_model` reads of a tokenizer: its size and special-token ids."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.bos_token_id, self.eos_token_id, self.pad_token_id = 0, 1, 2

    def __len__(self) -> int:
        return self.size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/config.yaml",
                    help="its base_model.architecture and tokenizer.train.vocab_size")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--block-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per variant and round")
    ap.add_argument("--repeats", type=int, default=6, help="rounds over the variants")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    cfg = load_config(args.config)
    arch = cfg["base_model"]["architecture"]
    vocab = _Vocab(int(cfg["tokenizer"]["train"]["vocab_size"]))
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(3, len(vocab), (args.batch_size, args.block_size), generator=gen)
               for _ in range(args.steps)]
    runs = {}
    for precision, attention in VARIANTS:
        model = init_model(arch, vocab, seed=0, attention=attention)
        hp = {"lr": 1e-3, "precision": precision, "attention": attention}
        runs[precision, attention] = (model, make_optimizer(model, hp), hp)
    times: dict[tuple[str, str], list[float]] = {v: [] for v in VARIANTS}
    losses: dict[tuple[str, str], float] = {}
    load = os.getloadavg()[0]
    for v in VARIANTS:  # warm-up: one-off allocations and kernel selection
        model, opt, hp = runs[v]
        for x in batches[:3]:
            train_step(model, opt, {"input_ids": x, "labels": x}, hp)
    for _ in range(args.repeats):
        for v in VARIANTS:
            model, opt, hp = runs[v]
            start = time.perf_counter()
            total = sum(train_step(model, opt, {"input_ids": x, "labels": x}, hp)
                        for x in batches)
            times[v].append((time.perf_counter() - start) / args.steps * 1000)
            losses[v] = total / args.steps
    base = statistics.median(times[VARIANTS[0]])
    print(f"{sum(p.numel() for p in runs[VARIANTS[0]][0].parameters()):,} parameters, batch "
          f"{args.batch_size} x {args.block_size}, {args.threads} thread(s), median of "
          f"{args.repeats} rounds x {args.steps} steps; load {load:.1f} -> "
          f"{os.getloadavg()[0]:.1f}")
    for v in VARIANTS:
        med = statistics.median(times[v])
        print(f"{v[0]} + {v[1]:5s}: {med:6.1f} ms/step (min {min(times[v]):.1f}), ratio "
              f"{med / base:.3f}{'  (baseline)' if v == VARIANTS[0] else ''}; "
              f"last round's mean loss {losses[v]:.3f}")


if __name__ == "__main__":
    main()
