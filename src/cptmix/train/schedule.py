"""Learning-rate schedule of the paper's appendix D: linear warm-up, then cosine decay from
the peak to a minimum learning rate (e.g. 1e-4 -> 1e-5 for CPT, 2e-5 -> 2e-6 for SFT)."""

from __future__ import annotations

import math


def warmup_steps(hp: dict, total_steps: int) -> int:
    """Warm-up length: `warmup_steps` if given, else `warmup_fraction` of the run (CPT: 3 %)."""
    if "warmup_steps" in hp:
        return min(int(hp["warmup_steps"]), total_steps)
    return round(float(hp.get("warmup_fraction", 0.0)) * total_steps)


def lr_at(step: int, total_steps: int, lr: float, min_lr: float, warmup: int) -> float:
    """Learning rate for optimizer step `step` (0-based)."""
    if warmup > 0 and step < warmup:
        return lr * (step + 1) / warmup
    decay_steps = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / decay_steps)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))
