"""Checkpoints of the megatron backend: `dist_checkpointing` of the model and the distributed
optimizer every `checkpoint_every` steps into `<out_dir>.partial/iter_NNNNNNN/` plus the step,
the log and the RNG state (`state.json`); `latest.txt` names the latest complete one, from
which a rerun (Slurm retry after a time limit or pre-emption) resumes, and `fingerprint.json`
the identity of the run that wrote them (`cptmix.train.resume`; the loop resumes only its own
run's checkpoint). `load_checkpoint` raises `UnreadableCheckpoint` naming what it could not
read, and works around megatron-core 0.16's handling of torch Adam's `step` (see there).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch

from cptmix.train import resume
from cptmix.train.resume import UnreadableCheckpoint

log = logging.getLogger(__name__)

STATE = "state.json"
LATEST = "latest.txt"


def _sharded(raw_model, optimizer, *, loading: bool):
    meta = {"distrib_optim_sharding_type": "dp_reshardable"}
    msd = raw_model.sharded_state_dict(metadata=meta)
    return {"model": msd,
            "optimizer": optimizer.sharded_state_dict(msd, is_loading=loading, metadata=meta)}, meta


def save_checkpoint(partial: Path, raw_model, optimizer, state: dict, fingerprint: dict) -> None:
    """dist_checkpointing of model + distributed optimizer, then (rank 0) the run's
    fingerprint and the step marker; a job killed mid-save leaves the previous complete
    checkpoint as the latest."""
    import torch.distributed as dist
    from megatron.core import dist_checkpointing

    step_dir = partial / f"iter_{state['step']:07d}"
    if dist.get_rank() == 0:
        shutil.rmtree(step_dir, ignore_errors=True)
        step_dir.mkdir(parents=True)
    dist.barrier()
    sd, meta = _sharded(raw_model, optimizer, loading=False)
    dist_checkpointing.save(sd, str(step_dir), content_metadata=meta)
    dist.barrier()
    if dist.get_rank() == 0:
        (step_dir / STATE).write_text(json.dumps(state))
        resume.write_fingerprint(partial, fingerprint)
        tmp = partial / (LATEST + ".tmp")
        tmp.write_text(step_dir.name)
        tmp.replace(partial / LATEST)
        for old in partial.glob("iter_*"):
            if old != step_dir:
                shutil.rmtree(old, ignore_errors=True)
    dist.barrier()


def load_checkpoint(partial: Path, raw_model, optimizer, total: int | None = None) -> dict | None:
    """The state of the latest checkpoint in `partial` (None: there is none), loaded into the
    model and optimizer. A missing or unreadable piece raises `UnreadableCheckpoint` naming it
    (the model and optimizer may then be partly overwritten: the caller rebuilds them)."""
    from megatron.core import dist_checkpointing
    from torch.distributed.checkpoint.api import CheckpointException

    if not (partial / LATEST).is_file():
        return None
    name = resume.read_part(partial / LATEST, lambda p: p.read_text(encoding="utf-8").strip())
    step_dir = partial / name
    if not name.startswith("iter_") or not (step_dir / "metadata.json").is_file():
        raise UnreadableCheckpoint(partial / LATEST, f"names {name!r}, which is not a complete "
                                                     f"dist checkpoint directory")
    state = resume.read_state(step_dir / STATE, total)
    rng = state.pop("cpu_rng", None)
    if not isinstance(rng, list) or len(rng) != torch.get_rng_state().numel() \
            or not isinstance(state.get("valid"), list):
        raise UnreadableCheckpoint(step_dir / STATE, "no valid cpu_rng or valid entries")
    # With torch's Adam (no Apex/TE FusedAdam installed) megatron-core 0.16 reads the Adam
    # `step` from the optimizer state, which a fresh optimizer does not have yet: allocate it
    # with megatron's own dummy step (its values are overwritten by the load below).
    for opt in getattr(optimizer, "chained_optimizers", [optimizer]):
        inner = getattr(opt, "optimizer", None)
        if inner is not None and isinstance(inner, torch.optim.Adam | torch.optim.AdamW) \
                and not inner.state:
            opt._init_optimizer_states_with_dummy_values()
    sd, _ = _sharded(raw_model, optimizer, loading=True)
    try:
        loaded = dist_checkpointing.load(sd, str(step_dir))
        # no_grad: in fp32 training the distributed optimizer's main params are views of the
        # model's leaf parameters, which an in-place copy may only touch outside autograd
        with torch.no_grad():
            raw_model.load_state_dict(loaded["model"], strict=False)
            optimizer.load_state_dict(loaded["optimizer"])
    # a truncated/corrupt shard file, whatever the reader raises; torch.distributed.checkpoint
    # gathers every rank's failure into a CheckpointException (a BaseException)
    except (Exception, CheckpointException) as err:
        raise UnreadableCheckpoint(step_dir, f"dist checkpoint unreadable ({_why(err)})") from err
    # ... and megatron-core 0.16 then restores that `step` from the template (the dummy step's
    # value, not the checkpoint's), shared by every parameter's state, which torch's Adam
    # increments in place once per parameter. Adam's step count is the number of optimizer
    # steps taken (every step is applied; a skipped one stops training), so set it per
    # parameter from the checkpoint's step.
    for opt in getattr(optimizer, "chained_optimizers", [optimizer]):
        inner = getattr(opt, "optimizer", None)
        for st in (getattr(inner, "state", None) or {}).values():
            if isinstance(st.get("step"), torch.Tensor):
                st["step"] = torch.full_like(st["step"], float(state["step"]))
    torch.set_rng_state(torch.tensor(rng, dtype=torch.uint8))
    log.info("resuming from %s at step %d", step_dir, state["step"])
    return state


def _why(err: BaseException) -> str:
    """One line: each failing rank's own error (a CheckpointException's `failures`)."""
    failures = getattr(err, "failures", None)
    if isinstance(failures, dict) and failures:
        return "; ".join(f"rank {rank}: {resume.describe(exc[0])}"
                         for rank, exc in sorted(failures.items()))
    return resume.describe(err)
